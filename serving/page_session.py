"""Who is using the clinician page, and proof that a form post came from the page itself.

A browser cannot attach a bearer header to a form post, so the page takes the clinician's API key once,
in a login form, and keeps it in a cookie that scripts cannot read (HttpOnly), that no other site's page
can send (SameSite=Strict), that only travels under /clinician, and that is Secure whenever the page is
served over HTTPS. Every request re-checks the key against the key store, so revoking the key ends the
session at once and nothing about sessions is kept on the server (replicas need no shared state).

Posts carry two CSRF defences: the Origin header must be this server's, and, where a cookie is the
credential, a hidden token equal to HMAC(secret, cookie) must come back with the form. An
``Authorization: Bearer`` header is accepted as well (scripts and tests), and needs neither.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from serving.audit import load_or_create_secret
from serving.auth import Caller
from serving.deps import ROLES_ATTR

COOKIE = "pmed_clinician"
COOKIE_PATH = "/clinician"
COOKIE_MAX_AGE = 8 * 3600  # one clinical shift
PAGE_ROLES = frozenset({"clinician"})


class PageAuthError(HTTPException):
    """401 (show the login form) or 403 (wrong role, or a post that did not come from the page)."""


@lru_cache(maxsize=8)
def _secret(secrets_dir: Path) -> bytes:
    return load_or_create_secret(secrets_dir / "clinician-page-csrf.key")


def csrf_token(request: Request, credential: str) -> str:
    secret = _secret(request.app.state.settings.secrets_dir)
    return hmac.new(secret, credential.encode("utf-8"), hashlib.sha256).hexdigest()


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
    keys = request.app.state.keys
    bearer = _bearer(request)
    cookie = request.cookies.get(COOKIE)
    presented, from_cookie = (bearer, False) if bearer else (login_key, False) if login_key else (cookie, True)
    caller = keys.authenticate(presented) if presented else None
    if caller is None:
        raise PageAuthError(status.HTTP_401_UNAUTHORIZED, "sign in with a clinician API key")
    if caller.role not in PAGE_ROLES:
        raise PageAuthError(status.HTTP_403_FORBIDDEN, f"role {caller.role!r} may not use the clinician page")
    return caller, presented if from_cookie else None


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
    """The login post: the credential is the key typed into the form."""
    if not _same_origin(request):
        raise PageAuthError(status.HTTP_403_FORBIDDEN, "this form must be posted from the pmed page itself")
    key = str((await request.form()).get("api_key", "")).strip()
    caller, _ = authenticate(request, login_key=key or None)
    return caller


setattr(page_caller, ROLES_ATTR, PAGE_ROLES)  # the app's deny-by-default check sees the role declared
setattr(login_caller, ROLES_ATTR, PAGE_ROLES)
PageCallerDep = Annotated[Caller, Depends(page_caller)]
LoginCallerDep = Annotated[Caller, Depends(login_caller)]
