"""SAQ jobs: thin functions that call components, plus the cron schedule."""
