"""Job names: the contract between the code that enqueues and the code that runs."""

SCORE_CAMPAIGN = "process_campaign_scoring"
HEALTH_CHECK = "health_check"
FAIL_STUCK_CAMPAIGNS = "fail_stuck_campaigns"
VALIDATE_FILE = "validate_file_task"
GENERATE_OPTIMIZATION_LISTS = "generate_optimization_lists_task"
CLEANUP_OLD_FILES = "cleanup_old_files_task"
SEND_COMPLETION_NOTIFICATION = "send_completion_notification"
