"""Job names: the contract between the code that enqueues and the code that runs."""

SCORE_CAMPAIGN = "process_campaign_scoring"
