"""The REST API (JSON), mounted on the Reflex backend with ``api_transformer``."""
