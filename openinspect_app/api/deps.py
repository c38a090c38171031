"""What routes depend on: the running context, and the caller the boundary resolved."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyCookie, HTTPBearer

from openinspect_app.api.errors import ApiRefusal
from openinspect_app.http.authn import CALLER_KEY, Caller
from openinspect_app.http.cookies import COOKIE_NAME
from openinspect_app.http.policy import Attached

# Declared for the OpenAPI description (either one will do); the Authenticate middleware checks them.
bearer_scheme = HTTPBearer(auto_error=False, scheme_name="apiToken",
                           description="A personal API token: `Authorization: Bearer oi_...` (POST /api/tokens).")
cookie_scheme = APIKeyCookie(name=COOKIE_NAME, auto_error=False, scheme_name="signInCookie",
                             description="The sign-in cookie browsers get from POST /api/auth/local.")


def attached(request: Request) -> Attached:
    found: Attached | None = request.app.state.attached
    if found is None:
        raise ApiRefusal(503, "unavailable", "the system is starting; try again shortly")
    return found


def caller(request: Request, _bearer: object = Security(bearer_scheme),
           _cookie: object = Security(cookie_scheme)) -> Caller:
    found: Caller | None = request.scope.get(CALLER_KEY)
    if found is None:  # the middleware refuses first; this guards a route mounted outside it
        raise ApiRefusal(401, "unauthenticated", "sign in, or send an API token as 'Authorization: Bearer <token>'")
    return found


System = Annotated[Attached, Depends(attached)]
Me = Annotated[Caller, Depends(caller)]
