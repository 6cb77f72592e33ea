"""Limits that keep one caller from exhausting the server: body size (413) and predictions in flight (503).

The batch-size limit (422) lives with the predict route, where the number of patients is known.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.metrics import ServingMetrics


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413: by Content-Length up front, and by counting streamed bytes.

    A chunked upload declares no length, so the body is read here (and replayed to the app) with a
    running count; the app never sees a body over the limit and nothing over it is held in memory.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, metrics: ServingMetrics | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(send)
            return
        body: list[bytes] = []
        total, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # client went away: let the app see the disconnect
                await self.app(scope, _replay([message], receive), send)
                return
            total += len(message.get("body", b""))
            if total > self.max_bytes:
                await self._too_large(send)
                return
            body.append(message.get("body", b""))
            more = message.get("more_body", False)
        replayed: Message = {"type": "http.request", "body": b"".join(body), "more_body": False}
        await self.app(scope, _replay([replayed], receive), send)

    async def _too_large(self, send: Send) -> None:
        if self.metrics:
            self.metrics.rejected.labels("body_too_large").inc()
        payload = json.dumps({"detail": f"request body larger than {self.max_bytes} bytes"}).encode()
        await send({"type": "http.response.start", "status": status.HTTP_413_CONTENT_TOO_LARGE,
                    "headers": [(b"content-type", b"application/json"), (b"connection", b"close"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


class ConcurrencyLimit:
    """A counter of predictions in flight. Only the event loop touches it (async dependency): no lock."""

    def __init__(self, limit: int, retry_after_seconds: int) -> None:
        self.limit = limit
        self.retry_after_seconds = retry_after_seconds
        self.in_flight = 0

    def try_acquire(self) -> bool:
        if self.in_flight >= self.limit:
            return False
        self.in_flight += 1
        return True

    def release(self) -> None:
        self.in_flight -= 1


async def prediction_slot(request: Request) -> AsyncIterator[None]:
    """Hold one of the app's prediction slots for the request, or answer 503 with Retry-After."""
    slots: ConcurrencyLimit = request.app.state.prediction_slots
    if not slots.try_acquire():
        request.app.state.metrics.rejected.labels("busy").inc()
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"server busy: {slots.limit} predictions already in progress; "
                            f"retry after {slots.retry_after_seconds} s",
                            headers={"Retry-After": str(slots.retry_after_seconds)})
    try:
        yield
    finally:
        slots.release()


PredictionSlot = Annotated[None, Depends(prediction_slot)]
