"""The model proxy: sandboxes reach the model provider only through the control plane.

A sandbox holds no provider key. It gets the proxy's URL and a token of its
own (random, stored hashed in ``Sandbox.proxy_token_hash``, good only while that
sandbox lives); the proxy checks the token, adds the real key, streams the
answer back and meters it — the one place tokens and cost are counted
(``ModelUsage``). Its parts: :mod:`~backend_jobs.model_proxy.server` (the HTTP
server and the order of checks), :mod:`~backend_jobs.model_proxy.forwarding`
(the provider side: endpoints, headers, the real key),
:mod:`~backend_jobs.model_proxy.metering` (usage read from answers; pure) and
:mod:`~backend_jobs.model_proxy.ledger` (token -> sandbox, usage rows).
"""

from backend_jobs.model_proxy.server import ModelProxy

__all__ = ["ModelProxy"]
