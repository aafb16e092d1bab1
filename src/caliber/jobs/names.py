"""Job names: the contract between the code that enqueues and the code that runs."""

SCORE_CAMPAIGN = "process_campaign_scoring"
HEALTH_CHECK = "health_check"
FAIL_STUCK_CAMPAIGNS = "fail_stuck_campaigns"
