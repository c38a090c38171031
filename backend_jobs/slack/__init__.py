"""The Slack bot (slack-bolt): its own process (``python -m backend_jobs.slack``) or inside the web process."""
