"""Swagger UI (``/docs``) and ReDoc (``/redoc``) over ``/openapi.json``, working with no network.

Their scripts and styles come from ``/static``: the files the ``fastapi-offline`` package ships (Swagger UI 5,
ReDoc 2, under their MIT/Apache-2.0 licences), never from a CDN. A Content-Security-Policy admits only this
server, so the browser itself refuses any other host (ReDoc's attribution logo included): offline is a
property of the pages, not of which URLs their templates happen to hold today.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

STATIC = "/static"  # a public mount (serving.app.PUBLIC_MOUNTS): scripts and styles, no data behind them
ASSETS = ("fastapi_offline", "static")  # swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js, favicon.png
POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; worker-src 'self' blob:; "
          "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; script-src 'self'")
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def install_docs(app: FastAPI) -> None:
    """The docs pages and their assets (build the app with ``docs_url=None, redoc_url=None``)."""
    app.mount(STATIC, StaticFiles(packages=[ASSETS]), name="static")

    async def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return self_only(get_swagger_ui_html(
            openapi_url=root + app.openapi_url, title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{STATIC}/swagger-ui-bundle.js", swagger_css_url=f"{root}{STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC}/favicon.png", oauth2_redirect_url=root + "/docs/oauth2-redirect",
            swagger_ui_parameters=app.swagger_ui_parameters))

    async def redirect(_request: Request) -> HTMLResponse:
        return self_only(get_swagger_ui_oauth2_redirect_html())

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return self_only(get_redoc_html(
            openapi_url=root + app.openapi_url, title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{STATIC}/redoc.standalone.js", redoc_favicon_url=f"{root}{STATIC}/favicon.png",
            with_google_fonts=False))

    app.add_route("/docs", swagger, include_in_schema=False)
    app.add_route("/docs/oauth2-redirect", redirect, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)


def self_only(page: HTMLResponse) -> HTMLResponse:
    """``POLICY``, admitting the page's own inline scripts by their SHA-256 (no 'unsafe-inline' script)."""
    hashes = [base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
              for script in INLINE_SCRIPT.findall(bytes(page.body).decode())]
    page.headers["Content-Security-Policy"] = POLICY + "".join(f" 'sha256-{h}'" for h in hashes)
    page.headers["X-Content-Type-Options"] = "nosniff"
    return page
