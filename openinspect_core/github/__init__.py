"""GitHub: the App (installation tokens, repositories), people's user tokens, pull requests, webhooks.

Every call to GitHub goes through githubkit (its typed models refuse answers that
do not have GitHub's shape). ``client.py`` owns the App's credentials and the
installation-token cache; the other modules are services on top of it.
"""
