"""Secrets: environment variables for sandboxes, global or per repository, encrypted at rest.

``names`` (what a secret may be called and hold), ``dotenv`` (pasting many), ``store`` (at rest,
audit, and the values a session's sandbox gets), ``rotate`` (a new encryption key). docs/secrets.md
describes the whole.
"""

from openinspect_core.secrets.store import GLOBAL, Scope, secrets_for_session

__all__ = ["GLOBAL", "Scope", "secrets_for_session"]
