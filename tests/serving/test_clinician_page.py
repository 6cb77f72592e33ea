"""The clinician page in a real browser: Debian's headless Chromium against the app under real uvicorn.

A clinician signs in with their key, enters a patient, and the page must show the numbers the JSON API
gives for the same patient; the browser's cookie jar must hold a signed session, never the key. The
screenshot is saved in the test's tmp folder. With PMED_UPDATE_SCREENSHOTS=1 the model is trained on the
simulator's cohort instead of the serving tests' uniform table (whose "typical" patient has an HbA1c of
10% and a BMI of 43), the patient is one a clinician would recognise, and the screenshot is copied to
docs/img. The sign-in, session, role, CSRF, busy and audit rules are checked over plain HTTP beside it.
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
import yaml
from fastapi import FastAPI
from playwright.sync_api import sync_playwright

from features.simulate import simulate_cohort
from features.table import build_feature_table
from kernel.settings import Settings
from serving.app import create_app
from serving.audit import AuditLog
from serving.auth import Caller, digest, issue_key, read_keys, revoke_key
from serving.page_session import COOKIE, SECRET_FILE, sign_session
from tests.conftest import REPO, require_tool, write_feature_table
from tests.serving.conftest import auth
from training.pipeline import train_from_spec

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]  # containers often have a tiny /dev/shm


UPDATE_SCREENSHOT = os.environ.get("PMED_UPDATE_SCREENSHOTS") == "1"
# For the docs: a 61-year-old male smoker (pack-years not recorded) with treated hypertension, raised LDL,
# a good HDL, active, normal weight and glucose. On the simulator-trained model every driver points the
# way a clinician expects (checked when the screenshot was made; see docs/explanations.md).
SCREENSHOT_PATIENT = {"age_years": 61, "sex_male": 1, "ldl_mg_dl": 165, "hdl_mg_dl": 58, "sbp_mm_hg": 146,
                      "bmi_kg_m2": 25.5, "hba1c_pct": 5.5, "hypertension_dx": 1, "t2d_dx": 0, "statin_rx": 0,
                      "antihypertensive_rx": 1, "current_smoker": 1, "pack_years": None,
                      "physical_activity_min_wk": 240, "alcohol_units_wk": 6, "diet_quality_score": 7,
                      "sleep_hours": 7, "cad_prs_sum": 3.2}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def trained_home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The serving tests' model (uniform synthetic table), or for the docs' screenshot the simulator's."""
    root = tmp_path_factory.mktemp("page")
    settings = Settings(home=root / ".pmed", served_models=["cad_risk"], _env_file=None)
    if not UPDATE_SCREENSHOT:
        train_from_spec(REPO / "tests" / "specs" / "cad_risk_binary.yaml",
                        write_feature_table(root / "features", n=3000, seed=11),
                        settings)
        return settings
    simulate_cohort(root / "raw", 4000, 5)
    build_feature_table(root / "raw", root / "features", root / "links.csv", root / "quarantine.csv")
    spec = yaml.safe_load((REPO / "tests" / "specs" / "cad_risk_binary.yaml").read_text())
    spec["gates"].update({"min_auroc": 0.6, "calibration_slope": [0.5, 2.0], "min_subgroup_auroc": 0.0})
    (root / "cad_risk.yaml").write_text(yaml.safe_dump(spec))  # 4,000 patients: noisy gate estimates
    train_from_spec(root / "cad_risk.yaml", root / "features", settings)
    return settings


@pytest.fixture(scope="module")
def app(trained_home: Settings) -> FastAPI:
    return create_app(trained_home)


@pytest.fixture(scope="module")
def base_url(app: FastAPI, api_keys: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
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
    values = (dict(SCREENSHOT_PATIENT) if UPDATE_SCREENSHOT else
              _patient(base_url, key, age_years=58, ldl_mg_dl=235, current_smoker=1, sbp_mm_hg=165, pack_years=None))
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
            assert cookie["value"].startswith("v1.") and key not in cookie["value"]  # a signed session, not the key
            assert digest(key) not in cookie["value"] and key.removeprefix("pmed_")[:16] not in cookie["value"]
            assert 29 * 60 < cookie["expires"] - time.time() <= 30 * 60  # PMED_PAGE_SESSION_MINUTES
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
    for sentence, concept in zip(shown_drivers, expected["concepts"], strict=False):  # the points themselves, to 0.1
        assert re.search(rf"by {abs(concept['risk_points']):.1f} points$", sentence)
    assert f"LDL cholesterol {values['ldl_mg_dl']:g} mg/dL raises the 10-year risk by" in " ".join(shown_drivers)
    assert category == {"low": "Low risk", "intermediate": "Intermediate risk", "high": "High risk"}[
        expected["risk_category"]]
    assert shown_flags == [f["message"] for f in expected["flags"]]
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
    values = _patient(base_url, key, **dict.fromkeys(optional))
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
    assert httpx.post(f"{page}/login", data={"api_key": ""}, cookies=cookies).status_code == 401  # no self-renewal
    out = httpx.post(f"{page}/logout", data={"csrf_token": token}, cookies=cookies)
    assert out.status_code == 303 and 'Max-Age=0' in out.headers["set-cookie"]


def _sign_in(page: str, key: str) -> tuple[dict[str, str], str]:
    """(the session cookie, the form's CSRF token) after signing in with ``key``."""
    signed_in = httpx.post(f"{page}/login", data={"api_key": key})
    assert signed_in.status_code == 303
    cookies = {COOKIE: signed_in.cookies[COOKIE]}
    form = httpx.get(page, cookies=cookies)
    assert form.status_code == 200
    return cookies, re.search(r'name="csrf_token" value="([0-9a-f]+)"', form.text).group(1)


def _key_id(trained_home: Settings, name: str) -> str:
    return next(k.key_id for k in read_keys(trained_home.keys_file) if k.name == name)


def test_forged_expired_or_tampered_sessions_are_refused(base_url: str, api_keys: dict[str, str],
                                                         trained_home: Settings) -> None:
    page = f"{base_url}/clinician/cad_risk"
    secret = (trained_home.secrets_dir / SECRET_FILE).read_bytes()
    now, lifetime = time.time(), 30 * 60
    me = Caller(key_id=_key_id(trained_home, "test-clinician"), role="clinician")
    application = _key_id(trained_home, "test-application")

    def get_with(value: str) -> httpx.Response:
        return httpx.get(page, cookies={COOKIE: value})

    assert get_with(sign_session(secret, me, now, lifetime)).status_code == 200  # the server's own signing
    forged = sign_session(b"f" * 32, me, now, lifetime)
    expired = sign_session(secret, me, now - lifetime - 1, lifetime)
    too_long = sign_session(secret, me, now - lifetime - 1, 10 * lifetime)  # claims outlive the setting
    real, _ = _sign_in(page, api_keys["clinician"])
    version, _, signature = real[COOKIE].split(".")
    swapped = sign_session(secret, Caller(key_id=application, role="clinician"), now, lifetime).split(".")[1]
    tampered = f"{version}.{swapped}.{signature}"  # another key's claims under this session's signature
    for value in (forged, expired, too_long, tampered, api_keys["clinician"], "", "v1.e30.x"):
        refused = get_with(value)
        assert refused.status_code == 401 and 'id="api_key"' in refused.text, value
        if value:
            assert "session has ended" in refused.text and f'{COOKIE}=""' in refused.headers["set-cookie"]
    # well signed for an application key: the key store's role decides (403); a role claim that does not
    # match the key store is refused outright (401)
    assert get_with(sign_session(secret, Caller(key_id=application, role="application"), now,
                                 lifetime)).status_code == 403
    claimed = Caller(key_id=application, role="clinician")
    assert get_with(sign_session(secret, claimed, now, lifetime)).status_code == 401


def test_revoking_the_key_ends_the_session_at_once(base_url: str, trained_home: Settings) -> None:
    page = f"{base_url}/clinician/cad_risk"
    key_id, key = issue_key(trained_home.keys_file, "dr-soon-revoked", "clinician")
    cookies, token = _sign_in(page, key)
    body = {"patient_ref": "x", "f_age_years": "60", "f_sex_male": "1", "csrf_token": token}
    assert httpx.post(page, data=body, cookies=cookies).status_code == 200
    revoke_key(trained_home.keys_file, key_id)  # as `pmed keys revoke` does, from another process
    assert httpx.get(page, cookies=cookies).status_code == 401
    after = httpx.post(page, data=body, cookies=cookies)
    assert after.status_code == 401 and 'id="risk-value"' not in after.text


def _form(base_url: str, key: str, ref: str) -> dict[str, str]:
    values = _patient(base_url, key)
    return {"patient_ref": ref, **{f"f_{n}": "" if v is None else f"{v:g}" for n, v in values.items()}}


def _audit_lines(trained_home: Settings) -> int:
    return len((trained_home.audit_dir / "predictions.jsonl").read_text().splitlines())


def test_page_predictions_share_the_apis_concurrency_cap(base_url: str, app: FastAPI, api_keys: dict[str, str],
                                                         trained_home: Settings) -> None:
    key = api_keys["clinician"]
    form = _form(base_url, key, "MRN-BUSY")
    page = f"{base_url}/clinician/cad_risk"
    assert httpx.post(page, data=form, headers=auth(key)).status_code == 200
    slots = app.state.prediction_slots
    held = 0
    while slots.try_acquire():  # every slot taken, as by API predictions in flight
        held += 1
    try:
        audited = _audit_lines(trained_home)
        busy = httpx.post(page, data=form, headers=auth(key))
        api = httpx.post(f"{base_url}/v1/models/cad_risk/predict", headers=auth(key),
                         json={"patients": [{"patient_id": "b", "features": _patient(base_url, key)}]})
    finally:
        for _ in range(held):
            slots.release()
    assert held == trained_home.max_concurrent_predictions and api.status_code == 503
    assert busy.status_code == 503 and busy.headers["retry-after"] == str(trained_home.retry_after_seconds)
    assert f"The server is busy ({held} predictions already in progress)" in busy.text
    assert 'id="risk-value"' not in busy.text and 'value="MRN-BUSY"' in busy.text  # the typed values are kept
    assert _audit_lines(trained_home) == audited  # nothing computed, nothing recorded
    assert httpx.post(page, data=form, headers=auth(key)).status_code == 200 and slots.in_flight == 0


def test_no_prediction_is_shown_when_the_audit_log_cannot_be_written(base_url: str, app: FastAPI,
                                                                     api_keys: dict[str, str],
                                                                     tmp_path: Path) -> None:
    key = api_keys["clinician"]
    form = _form(base_url, key, "MRN-NO-AUDIT")
    failures = app.state.metrics.registry.get_sample_value("pmed_audit_failures_total") or 0
    working = app.state.audit
    app.state.audit = AuditLog(tmp_path, b"k" * 32)  # a directory: every append fails, even as root
    try:
        withheld = httpx.post(f"{base_url}/clinician/cad_risk", data=form, headers=auth(key))
    finally:
        app.state.audit = working
    assert withheld.status_code == 503 and "Prediction withheld: the audit log cannot be written" in withheld.text
    for shown in ('id="risk-value"', 'id="drivers"', 'id="waterfall"', 'id="abstained"', "risk points"):
        assert shown not in withheld.text
    assert app.state.prediction_slots.in_flight == 0  # the slot is handed back on failure too
    assert app.state.metrics.registry.get_sample_value("pmed_audit_failures_total") == failures + 1
