"""Reflex state: thin handlers that call services, one module per page; who is asking
(``viewer.py``) and the identity gate every event passes first (``gate.py``)."""
