"""/docs (Swagger UI) and /redoc load everything from this server: no CDN, so they render with no network.

The browser test drives Debian's Chromium and aborts every request that leaves the server, so a page that
still reached for a CDN would be blank and fail here, wherever the suite runs."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Route, sync_playwright

from kernel.settings import Settings
from serving.app import create_app
from tests.conftest import REPO, require_tool
from tests.serving.helpers import serve_in_thread, wait_for

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
UPDATE_SCREENSHOT = os.environ.get("PMED_UPDATE_SCREENSHOTS") == "1"
ASSET = re.compile(r"""(?:src|href|url)\s*[=:(]\s*['"]([^'"]+)['"]""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_only_this_server(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    assets = ASSET.findall(response.text)
    assert "/openapi.json" in response.text and assets
    assert "default-src 'self'" in response.headers["content-security-policy"]  # the browser enforces it too
    for asset in assets:
        assert not urlparse(asset).netloc and asset.startswith("/"), asset  # no other host, not even https://
        if asset != "/openapi.json":
            fetched = client.get(asset)
            assert fetched.status_code == 200 and len(fetched.content) > 1000, asset


def test_oauth2_redirect_page_is_served(client: TestClient) -> None:
    assert client.get("/docs/oauth2-redirect").status_code == 200


@pytest.fixture(scope="module")
def server(trained_home: Settings) -> Iterator[str]:
    with serve_in_thread(create_app(trained_home)) as url:
        wait_for(lambda: httpx.get(f"{url}/ready").status_code == 200, what="models ready")
        yield url


def _offline(url: str, left: list[str]) -> object:
    """A route handler: requests to this server go through, any other is aborted and recorded."""
    here = urlparse(url).netloc

    def handle(route: Route) -> None:
        if urlparse(route.request.url).netloc == here:
            route.continue_()
        else:
            left.append(route.request.url)
            route.abort("internetdisconnected")

    return handle


def test_swagger_ui_and_redoc_render_the_typed_api_in_chromium_offline(server: str, tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    left: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1500})
            page.route("**/*", _offline(server, left))
            page.goto(f"{server}/docs")
            page.wait_for_selector("#operations-cad_risk-predict_cad_risk", timeout=30_000)
            operation = "#operations-cad_risk-predict_cad_risk"
            page.click(f"{operation} .opblock-summary")
            body = page.locator(f"{operation} .opblock-section-request-body")
            body.locator("button.tablinks[data-name=model]").click()  # the Schema tab of the request body
            body.get_by_role("button", name="Expand all").first.click()
            page.wait_for_selector("text=LDL cholesterol (mg/dL)", timeout=10_000)
            page.eval_on_selector(operation, "e => e.scrollIntoView()")  # the picture: the operation, then its body
            swagger = page.inner_text("#swagger-ui")
            shot = tmp_path / "api-docs.png"
            page.screenshot(path=str(shot), full_page=False)
            authorize = page.locator(".auth-wrapper .authorize").count()
            page.goto(f"{server}/redoc")
            page.wait_for_selector("text=cad_risk", timeout=30_000)
            redoc = page.inner_text("body")
        finally:
            browser.close()
    if UPDATE_SCREENSHOT:
        shutil.copy(shot, REPO / "docs" / "img" / "api-docs.png")
    assert left == []  # nothing was asked of another host: no CDN, no web fonts
    assert "/v1/models/cad_risk/predict" in swagger and "CadRiskPredictionRequest" in swagger
    assert "LDL cholesterol (mg/dL)" in swagger
    assert authorize == 1  # the API key (bearer) can be entered, so "Try it out" sends it
    assert "/v1/models/cad_risk/predict" in redoc and "Array of objects (CadRiskPatient)" in redoc
