"""App authentication: the RS256 JSON Web Token an App signs with its private key.

Owns the checks GitHub makes on ``Authorization: Bearer <JWT>`` and the messages
it answers when one fails (HTTP 401): the signature with the App's public key
(RS256 only), ``iss`` = the App's id (integer or string) or its client id, ``exp``
in the future but at most ten minutes ahead, ``iat`` not in the future (a minute of
clock drift allowed, as GitHub recommends backdating ``iat`` by 60 s). Also mints
such tokens for tests (:func:`make_app_jwt`), integer ``iss`` included, which
PyJWT's ``jwt.encode`` refuses.
"""

from __future__ import annotations

import json
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from jwt.api_jws import PyJWS
from jwt.exceptions import InvalidTokenError

from .world import App, World

MAX_LIFETIME_SECONDS = 600
DRIFT_SECONDS = 60

NOT_DECODED = "A JSON web token could not be decoded"
EXP_PAST = ("'Expiration time' claim ('exp') must be a numeric value representing the future time at which "
            "the assertion expires")
EXP_TOO_FAR = "'Expiration time' claim ('exp') is too far in the future"
IAT_BAD = "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
ISS_BAD = "'Issuer' claim ('iss') must be an Integer"
NOT_FOUND = "Integration not found"


class JwtError(Exception):
    """Why GitHub refuses the token; the message is GitHub's own."""


def generate_key_pair() -> tuple[str, str]:
    """A new 2048-bit RSA key: (private key PEM, PKCS#1 like GitHub's downloads; public key PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption()).decode()
    public = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def looks_like_jwt(value: str) -> bool:
    return value.count(".") == 2 and value.startswith("eyJ")


def make_app_jwt(private_key_pem: str, iss: int | str, *, iat: int, exp: int, algorithm: str = "RS256") -> str:
    """A signed App JWT with exactly these claims (for tests; clients mint their own)."""
    payload = json.dumps({"iat": iat, "exp": exp, "iss": iss}).encode()
    return PyJWS().encode(payload, private_key_pem, algorithm=algorithm, headers={"typ": "JWT"})


def _find_app(world: World, iss: object) -> App | None:
    if isinstance(iss, int) or (isinstance(iss, str) and iss.isdigit()):
        return world.apps.get(int(iss))
    if isinstance(iss, str):
        return world.app_by_client_id(iss)
    return None


def verify_app_jwt(world: World, token: str, now: datetime) -> App:
    """The App that signed ``token``; raises :class:`JwtError` with GitHub's message otherwise."""
    jws = PyJWS()
    try:
        header = jws.get_unverified_header(token)
        claims = json.loads(jws.decode_complete(token, options={"verify_signature": False})["payload"])
    except (InvalidTokenError, ValueError) as exc:
        raise JwtError(NOT_DECODED) from exc
    if header.get("alg") != "RS256" or not isinstance(claims, dict):
        raise JwtError(NOT_DECODED)
    if "iss" not in claims or isinstance(claims["iss"], bool):
        raise JwtError(ISS_BAD)
    app = _find_app(world, claims["iss"])
    if app is None:
        raise JwtError(NOT_FOUND)
    try:
        jws.decode_complete(token, app.public_key_pem, algorithms=["RS256"])
    except InvalidTokenError as exc:
        raise JwtError(NOT_DECODED) from exc
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or isinstance(iat, bool) or iat > now.timestamp() + DRIFT_SECONDS:
        raise JwtError(IAT_BAD)
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= now.timestamp():
        raise JwtError(EXP_PAST)
    if exp > now.timestamp() + MAX_LIFETIME_SECONDS:
        raise JwtError(EXP_TOO_FAR)
    return app
