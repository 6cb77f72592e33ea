"""The clinician page in a real browser: Debian's headless Chromium against the app under real uvicorn.

A clinician signs in with their key, enters a patient, and the page must show the numbers the JSON API
gives for the same patient. The screenshot is saved in the test's tmp folder (and into docs/img when
PMED_UPDATE_SCREENSHOTS=1). The sign-in, role and CSRF rules are checked over plain HTTP beside it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import sync_playwright

from pmed.settings import Settings
from serving.app import create_app
from serving.page_session import COOKIE
from tests.conftest import REPO, require_tool
from tests.serving.conftest import auth

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]  # containers often have a tiny /dev/shm


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def base_url(trained_home: Settings, api_keys: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(trained_home), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/ready").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the app never became ready"
        time.sleep(0.2)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


def _patient(base_url: str, key: str, **changes: float | None) -> dict[str, float | None]:
    meta = httpx.get(f"{base_url}/v1/models/cad_risk", headers=auth(key)).json()
    values: dict[str, float | None] = {f["name"]: round(f["example"]) if f["unit"] != "%" else f["example"]
                                       for f in meta["features"]}  # typed as a clinician would
    values.update(changes)
    return values


def _api(base_url: str, key: str, values: dict[str, float | None]) -> dict:
    body = {"patients": [{"patient_id": "page-test", "features": values}]}
    response = httpx.post(f"{base_url}/v1/models/cad_risk/predict", json=body, headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()["predictions"][0]


def _fill(page, values: dict[str, float | None]) -> None:  # noqa: ANN001 (playwright Page)
    page.fill("#patient_ref", "MRN-PAGE-TEST-1")
    for name, value in values.items():
        selector = f"#f_{name}"
        text = "" if value is None else f"{value:g}"
        if page.eval_on_selector(selector, "e => e.tagName") == "SELECT":
            page.select_option(selector, text)
        else:
            page.fill(selector, text)


def test_page_shows_the_apis_numbers_in_real_chromium(base_url: str, api_keys: dict[str, str],
                                                      trained_home: Settings, tmp_path: Path) -> None:
    chromium = require_tool("chromium")
    key = api_keys["clinician"]
    values = _patient(base_url, key, age_years=58, ldl_mg_dl=235, current_smoker=1, sbp_mm_hg=165, pack_years=None)
    expected = _api(base_url, key, values)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1180, "height": 900})
            response = page.goto(f"{base_url}/clinician/cad_risk")
            assert response.status == 401 and page.is_visible("#api_key")  # signed out: the sign-in form
            page.fill("#api_key", key)
            page.click("button[type=submit]")
            page.wait_for_selector("#submit")
            cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE)
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/clinician"
            _fill(page, values)
            page.click("#submit")
            page.wait_for_selector("#risk-value")
            shot = tmp_path / "clinician-page.png"
            page.screenshot(path=str(shot), full_page=True)
            shown_risk = page.inner_text("#risk-value")
            shown_drivers = page.locator("#drivers .sentence").all_inner_texts()
            shown_flags = page.locator("#flags li").all_inner_texts()
            category = page.inner_text("#risk-category")
            bars = page.locator("#waterfall rect").count()
            card = page.get_attribute("#card-link", "href")
        finally:
            browser.close()
    assert shot.stat().st_size > 20_000
    if os.environ.get("PMED_UPDATE_SCREENSHOTS") == "1":
        shutil.copy(shot, REPO / "docs" / "img" / "clinician-page.png")
    assert shown_risk == f"{100 * expected['risk']:.1f}%"
    api_drivers = [c["sentence"] for c in expected["concepts"] if round(abs(c["risk_points"]), 1) > 0][:5]
    assert shown_drivers == api_drivers and len(shown_drivers) == 5
    for sentence, concept in zip(shown_drivers, expected["concepts"]):  # the points themselves, to 0.1
        assert re.search(rf"by {abs(concept['risk_points']):.1f} points$", sentence)
    assert "LDL cholesterol 235 mg/dL raises the 10-year risk by" in " ".join(shown_drivers)
    assert category == {"low": "Low risk", "intermediate": "Intermediate risk", "high": "High risk"}[
        expected["risk_category"]]
    assert any("Smoking history was not provided" in f for f in shown_flags)
    assert bars == 2 + min(len(expected["concepts"]), 9)  # baseline, up to 8 concepts + the rest, patient
    assert card.endswith("/clinician/cad_risk/card")
    audit = [json.loads(line) for line in (trained_home.audit_dir / "predictions.jsonl").read_text().splitlines()]
    page_records = [r for r in audit if r.get("channel") == "clinician_page"]
    assert page_records and page_records[-1]["outcome"] == "predicted" and page_records[-1]["role"] == "clinician"
    assert "MRN-PAGE-TEST-1" not in (trained_home.audit_dir / "predictions.jsonl").read_text()


def test_page_abstains_like_the_api(base_url: str, api_keys: dict[str, str], trained_home: Settings) -> None:
    key = api_keys["clinician"]
    optional = [f["name"] for f in httpx.get(f"{base_url}/v1/models/cad_risk", headers=auth(key)).json()["features"]
                if not f["required"]]
    values = _patient(base_url, key, **{name: None for name in optional})
    api = _api(base_url, key, values)
    assert api["abstained"] and api["risk"] is None and "too much is missing" in api["abstain_reason"]
    last = json.loads((trained_home.audit_dir / "predictions.jsonl").read_text().splitlines()[-1])
    assert last["outcome"] == "abstained" and "channel" not in last  # the API's own record
    form = {"patient_ref": "MRN-ABSTAIN", **{f"f_{n}": "" if v is None else f"{v:g}" for n, v in values.items()}}
    response = httpx.post(f"{base_url}/clinician/cad_risk", data=form, headers=auth(key))
    assert response.status_code == 200
    assert 'id="abstained"' in response.text and 'id="risk-value"' not in response.text
    last = json.loads((trained_home.audit_dir / "predictions.jsonl").read_text().splitlines()[-1])
    assert (last["channel"], last["outcome"]) == ("clinician_page", "abstained")


def test_only_clinicians_sign_in_and_posts_need_the_pages_token(base_url: str, api_keys: dict[str, str]) -> None:
    page = f"{base_url}/clinician/cad_risk"
    assert httpx.get(page).status_code == 401
    assert httpx.post(f"{page}/login", data={"api_key": "not-a-key"}).status_code == 401
    assert httpx.post(f"{page}/login", data={"api_key": api_keys["application"]}).status_code == 403
    assert httpx.get(page, headers=auth(api_keys["data_scientist"])).status_code == 403
    assert httpx.post(f"{page}/login", data={"api_key": api_keys["clinician"]},
                      headers={"Origin": "https://evil.example"}).status_code == 403
    signed_in = httpx.post(f"{page}/login", data={"api_key": api_keys["clinician"]})
    assert signed_in.status_code == 303
    cookies = {COOKIE: signed_in.cookies[COOKIE]}
    form = httpx.get(page, cookies=cookies)
    assert form.status_code == 200 and "default-src 'none'" in form.headers["content-security-policy"]
    assert form.headers["cache-control"] == "no-store"
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', form.text).group(1)
    body = {"patient_ref": "x", "f_age_years": "60", "f_sex_male": "1"}
    assert httpx.post(page, data=body, cookies=cookies).status_code == 403  # no token: a forged post
    assert httpx.post(page, data={**body, "csrf_token": token}, cookies=cookies,
                      headers={"Origin": "https://evil.example"}).status_code == 403
    assert httpx.post(page, data={**body, "csrf_token": token}, cookies=cookies).status_code == 200
    invalid = httpx.post(page, data={**body, "f_ldl_mg_dl": "9000", "csrf_token": token}, cookies=cookies)
    assert invalid.status_code == 422 and "less than or equal to 400" in invalid.text
    assert httpx.get(f"{page}/card", cookies=cookies).text.startswith("<!doctype html>")
    out = httpx.post(f"{page}/logout", data={"csrf_token": token}, cookies=cookies)
    assert out.status_code == 303 and 'Max-Age=0' in out.headers["set-cookie"]
