"""Who is using the clinician page, and proof that a form post came from the page itself.

A browser cannot attach a bearer header to a form post, so the clinician types their API key once, into
the login form. The key is checked and then forgotten: the cookie holds a session signed by the server,
HMAC-SHA256 over (key id, role, issued-at, expiry, a random session id), never the key. The cookie is
HttpOnly, SameSite=Strict, limited to /clinician, Secure under HTTPS, and lives
``PMED_PAGE_SESSION_MINUTES``. Every request verifies the signature and expiry, then that the key id is
still live in the key store with the clinician role, so revoking the key ends the session at once.
Nothing about sessions is kept on the server (replicas need only the shared secrets folder).

Posts carry two CSRF defences: the Origin header must be this server's, and, where the session cookie is
the credential, a hidden token equal to HMAC(secret, cookie) must come back with the form. An
``Authorization: Bearer`` header is accepted as well (scripts and tests), and needs neither.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status

from serving.audit import load_or_create_secret
from serving.auth import Caller, KeyStore
from serving.deps import ROLES_ATTR

COOKIE = "pmed_clinician"
COOKIE_PATH = "/clinician"
PAGE_ROLES = frozenset({"clinician"})
VERSION = "v1"
SECRET_FILE = "clinician-page-session.key"  # in the settings' secrets folder, beside the audit's pseudonym key
CLOCK_SKEW_SECONDS = 60  # replicas' clocks may differ a little; a session "issued" later than that is forged


class PageAuthError(HTTPException):
    """401 (show the login form) or 403 (wrong role, or a post that did not come from the page)."""


class SessionError(ValueError):
    """Why a session cookie was refused (for logs and tests; the user is only asked to sign in again)."""


@dataclass(frozen=True)
class Session:
    key_id: str
    role: str
    issued_at: int
    expires_at: int


def sign_session(secret: bytes, caller: Caller, now: float, lifetime_seconds: int) -> str:
    """The cookie value: ``v1.<claims, base64url JSON>.<HMAC-SHA256, base64url>``."""
    issued = int(now)
    claims = {"kid": caller.key_id, "role": caller.role, "iat": issued, "exp": issued + lifetime_seconds,
              "sid": secrets.token_urlsafe(12)}  # two logins in one second still get distinct sessions
    body = f"{VERSION}.{_b64(json.dumps(claims, separators=(',', ':'), sort_keys=True).encode())}"
    return f"{body}.{_b64(_mac(secret, b'session', body))}"


def read_session(secret: bytes, value: str, now: float, lifetime_seconds: int) -> Session:
    """Verify signature, then claims; ``lifetime_seconds`` caps old sessions when the setting is lowered."""
    version, _, rest = value.partition(".")
    claims_part, _, signature = rest.partition(".")
    if version != VERSION or not claims_part or not signature:
        raise SessionError("not a pmed session")
    if not hmac.compare_digest(_b64(_mac(secret, b"session", f"{version}.{claims_part}")), signature):
        raise SessionError("bad signature")
    claims = _claims(claims_part)
    if claims["iat"] > now + CLOCK_SKEW_SECONDS:
        raise SessionError("issued in the future")
    if now >= min(claims["exp"], claims["iat"] + lifetime_seconds):
        raise SessionError("expired")
    return Session(key_id=claims["kid"], role=claims["role"], issued_at=claims["iat"], expires_at=claims["exp"])


def _claims(part: str) -> dict[str, Any]:
    try:
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise SessionError("unreadable claims") from exc
    types = {"kid": str, "role": str, "iat": int, "exp": int}
    if not isinstance(claims, dict) or any(type(claims.get(k)) is not t for k, t in types.items()):
        raise SessionError("claims of the wrong shape")
    return claims


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _mac(secret: bytes, purpose: bytes, message: str) -> bytes:
    """One secret, a separate key per purpose: a CSRF token can never pass as a session signature."""
    key = hmac.new(secret, purpose, hashlib.sha256).digest()
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


@lru_cache(maxsize=8)
def _secret(secrets_dir: Path) -> bytes:
    return load_or_create_secret(secrets_dir / SECRET_FILE)


def page_secret(request: Request) -> bytes:
    return _secret(request.app.state.settings.secrets_dir)


def session_seconds(request: Request) -> int:
    return 60 * request.app.state.settings.page_session_minutes


def new_session(request: Request, caller: Caller) -> str:
    return sign_session(page_secret(request), caller, time.time(), session_seconds(request))


def csrf_token(request: Request, session: str) -> str:
    return _mac(page_secret(request), b"csrf", session).hex()


def session_caller(request: Request, value: str) -> Caller | None:
    """The caller a session cookie stands for, or None: forged, expired, or its key revoked or gone."""
    try:
        session = read_session(page_secret(request), value, time.time(), session_seconds(request))
    except SessionError:
        return None
    keys: KeyStore = request.app.state.keys
    key = next((k for k in keys.list() if k.key_id == session.key_id), None)
    if key is None or key.revoked or key.role != session.role:
        return None
    return Caller(key_id=key.key_id, role=key.role)


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None  # no Origin (older clients): SameSite=Strict and the token still guard
    return origin == f"{request.url.scheme}://{request.headers.get('host', '')}"


def authenticate(request: Request, login_key: str | None = None) -> tuple[Caller, str | None]:
    """The caller and, when the credential is the session cookie, that cookie (for the CSRF check)."""
    key = _bearer(request) or login_key
    cookie = None if key else request.cookies.get(COOKIE)
    caller = (request.app.state.keys.authenticate(key) if key
              else session_caller(request, cookie) if cookie else None)
    if caller is None:
        raise PageAuthError(status.HTTP_401_UNAUTHORIZED, "sign in with a clinician API key")
    if caller.role not in PAGE_ROLES:
        raise PageAuthError(status.HTTP_403_FORBIDDEN, f"role {caller.role!r} may not use the clinician page")
    return caller, cookie


async def page_caller(request: Request) -> Caller:
    """A clinician, by bearer header or session cookie; posts must also pass the CSRF checks."""
    caller, cookie = authenticate(request)
    if request.method == "POST":
        await _check_post(request, cookie)
    return caller


async def _check_post(request: Request, cookie: str | None) -> None:
    if not _same_origin(request):
        raise PageAuthError(status.HTTP_403_FORBIDDEN, "this form must be posted from the pmed page itself")
    if cookie is None:
        return  # a bearer header is never sent by a browser on its own
    sent = str((await request.form()).get("csrf_token", ""))
    if not hmac.compare_digest(sent, csrf_token(request, cookie)):
        raise PageAuthError(status.HTTP_403_FORBIDDEN, "the form has expired; reload the page and try again")


async def login_caller(request: Request) -> Caller:
    """The login post: the credential is the key typed into the form (used once, never stored)."""
    if not _same_origin(request):
        raise PageAuthError(status.HTTP_403_FORBIDDEN, "this form must be posted from the pmed page itself")
    key = str((await request.form()).get("api_key", "")).strip() or _bearer(request)
    if not key:  # a session cookie alone must not renew itself: signing in needs the key
        raise PageAuthError(status.HTTP_401_UNAUTHORIZED, "sign in with a clinician API key")
    caller, _ = authenticate(request, login_key=key)
    return caller


setattr(page_caller, ROLES_ATTR, PAGE_ROLES)  # the app's deny-by-default check sees the role declared
setattr(login_caller, ROLES_ATTR, PAGE_ROLES)
PageCallerDep = Annotated[Caller, Depends(page_caller)]
LoginCallerDep = Annotated[Caller, Depends(login_caller)]
