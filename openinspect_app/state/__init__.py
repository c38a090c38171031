"""Reflex state: thin handlers that call services; one module per page."""
