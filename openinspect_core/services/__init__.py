"""Business rules shared by every front end (REST, web UI, Slack) and the background jobs.

Each function takes an open database session and leaves committing to its
caller, so one request or one ingested event is one transaction.
"""
