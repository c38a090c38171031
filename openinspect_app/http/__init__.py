"""The HTTP boundary of the web process: plain ASGI middlewares and the helpers they share.

Outermost first: the trusted-host check (``hosts``: a wrong ``Host`` is a 400, so DNS
rebinding fails; a WebSocket from a foreign ``Origin`` is refused too), CORS for the app's
own origin only (``cors``), request bodies bounded as they arrive (``bodies``), and who is
asking (``authn``: an API token or the signed sign-in cookie, with the CSRF check for
cookie-authenticated changes). They read the running policy (``policy``) per request, as
the REST API is built at import and the settings arrive when the server starts.
"""
