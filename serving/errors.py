"""Error responses that never echo what the caller sent.

FastAPI's default 422 body includes each invalid ``input``; for a clinical API that is patient data in
responses and, through proxies, in logs. These handlers keep only where the problem is and which rule
it broke.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

log = logging.getLogger("pmed.serving")


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """Installed for ``RequestValidationError`` only (Starlette types every handler for ``Exception``)."""
    if not isinstance(exc, RequestValidationError):
        raise exc
    detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "invalid"), "type": e.get("type", "invalid")}
              for e in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    route = request.scope.get("route")
    log.error("unhandled %s on %s", type(exc).__name__, route.path if route else "unknown route")
    return JSONResponse({"detail": "internal error"}, status_code=status.HTTP_500_INTERNAL_SERVER_ERROR)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected_error)
