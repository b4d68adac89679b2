"""The console's guards, in process: each test names the attack it stops.

Same rules as the admin API (every action is an admin operation, authledger.console.pages),
plus what a browser needs: a session cookie only the server can read, CSRF tokens on every
form, a Content-Security-Policy without inline script, no open redirect, and secrets
shown once and nowhere else. A refused action writes no event.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from authledger.console.pages import CSP, HERE
from authledger.console.sessions import Sessions
from ledger.application import Ledger
from ledger.tokens import revoke_token
from tests.console.conftest import Browser

PAGES = ["/console/apps", "/console/apps/new", "/console/apis", "/console/audit"]


def position(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


def create(b: Browser, name: str = "shopApp", **fields: str) -> tuple[str, str]:
    """Create an app through the console; its id and the page that revealed its secret."""
    r = b.post("/console/apps/new", {"idempotency": b.idempotency("/console/apps/new"), "name": name, **fields})
    assert r.status_code == 200, r.text
    app_id = re.search(r"App ID</dt>\s*<dd><code[^>]*>([0-9a-f-]{36})<", r.text).group(1)  # type: ignore[union-attr]
    return app_id, r.text


def secret_of(page: str, label: str) -> str:
    return re.search(rf">{label}</dt>\s*<dd><code[^>]*>([^<]+)<", page).group(1)  # type: ignore[union-attr]


def test_every_page_needs_a_session(console_app: Any) -> None:
    # Attack: reading the console without logging in.
    from starlette.testclient import TestClient

    anon = TestClient(console_app)
    for page in PAGES:
        r = anon.get(page, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    r = anon.post("/console/apps/new", data={"name": "sneakyApp"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"


def test_a_bad_token_does_not_log_in(console_app: Any, ledger: Ledger) -> None:
    # Attack: guessing tokens at the log-in form: one message for unknown, revoked, expired.
    from starlette.testclient import TestClient

    c = TestClient(console_app)
    for token in ("alt_nope", "x" * 600, ""):
        r = c.post("/console/login", data={"token": token}, follow_redirects=False)
        assert r.status_code in (400, 401) and "set-cookie" not in r.headers


def test_the_session_cookie_is_httponly_strict_and_secure_over_tls(console_app: Any, ledger: Ledger) -> None:
    # Attack: a script or another site reading or sending the session cookie.
    from starlette.testclient import TestClient

    from ledger.tokens import issue_token

    token = issue_token(ledger, "acme", "t").to_dict()["token"]
    for base, secure in (("http://testserver", False), ("https://testserver", True)):
        r = TestClient(console_app, base_url=base).post("/console/login", data={"token": token},
                                                         follow_redirects=False)
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
        assert ("Secure" in cookie) == secure
        assert token not in cookie  # the token stays on the server


def test_forms_without_the_sessions_csrf_token_change_nothing(acme: Browser, ledger: Ledger) -> None:
    # Attack: cross-site request forgery, with a missing, wrong or another session's token.
    app_id, _ = create(acme)
    before = position(ledger)
    for csrf in ("", "forged", "x" * 43):
        r = acme.client.post(f"/console/apps/{app_id}/disable", data={"csrf": csrf}, follow_redirects=False)
        assert r.status_code == 403
    r = acme.client.post(f"/console/apps/{app_id}/disable", follow_redirects=False)
    assert r.status_code == 403
    assert position(ledger) == before


def test_a_form_posted_from_another_origin_is_refused(acme: Browser, ledger: Ledger) -> None:
    # Attack: a page on another site posting a form (even one that stole a CSRF token).
    app_id, _ = create(acme)
    before = position(ledger)
    r = acme.post(f"/console/apps/{app_id}/disable", headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and position(ledger) == before


def test_a_session_ends_when_its_token_is_revoked_or_expires(make_browser: Any, ledger: Ledger) -> None:
    # Attack: a stolen or forgotten session outliving the token it was opened with.
    b = make_browser("acme")
    assert b.get("/console/apps").status_code == 200
    before = position(ledger)
    revoke_token(ledger, b.token_id, "acme")
    before += 1
    r = b.get("/console/apps", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    assert b.post("/console/apps/new", {"name": "lateApp"}).status_code == 303
    assert position(ledger) == before

    soon = make_browser("acme", expires_at=(datetime.now(UTC) + timedelta(seconds=1)).isoformat())
    assert soon.get("/console/apps").status_code == 200
    import time

    time.sleep(1.2)
    assert soon.get("/console/apps", follow_redirects=False).status_code == 303


def test_log_out_ends_the_session(acme: Browser) -> None:
    cookie = acme.client.cookies.get("authledger_console")
    acme.post("/console/logout")
    acme.client.cookies.set("authledger_console", cookie, path="/console")  # replay the old cookie
    assert acme.get("/console/apps", follow_redirects=False).status_code == 303


def test_sessions_expire_when_idle_and_are_bounded() -> None:
    # Attack: a session left open on a shared machine; filling the server with sessions.
    s = Sessions(idle=0.05, lifetime=10, limit=3)
    sid, _ = s.open("alt_a")
    assert s.get(sid) is not None
    import time

    time.sleep(0.08)
    assert s.get(sid) is None
    ids = [s.open(f"alt_{i}")[0] for i in range(5)]
    assert sum(s.get(i) is not None for i in ids) == 3
    assert s.get("short") is None and s.get(None) is None


def test_every_page_sends_a_csp_without_inline_script(acme: Browser) -> None:
    # Attack: script injection; framing the console (click-jacking); leaking URLs by Referer.
    app_id, _ = create(acme)
    for page in [*PAGES, f"/console/apps/{app_id}", "/console/login"]:
        r = acme.get(page)
        assert r.headers["content-security-policy"] == CSP and "'unsafe-inline'" not in CSP
        assert r.headers["x-frame-options"] == "DENY" and r.headers["referrer-policy"] == "same-origin"
        assert r.headers["cache-control"] == "no-store"
        assert not re.search(r"<script(?![^>]*\bsrc=)", r.text), page
        assert not re.search(r"\son[a-z]+\s*=", r.text), page  # no inline event handlers
    for template in (HERE / "templates").glob("*.html"):
        text = template.read_text()
        assert "| safe" not in text or template.name == "who.html", template  # the SVG only, built escaped


def test_tenant_input_is_escaped_never_markup(acme: Browser, ledger: Ledger) -> None:
    # Attack: stored XSS through an app's description, tags or extension.
    app_id, _ = create(acme, description='<script>alert(1)</script>', tags='x=<img src=x>',
                       extension='"><svg onload=alert(1)>')
    page = acme.get(f"/console/apps/{app_id}").text
    assert "<script>alert(1)" not in page and "<img src=x>" not in page and "<svg onload" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_no_open_redirect_after_log_in(console_app: Any, ledger: Ledger) -> None:
    # Attack: a log-in link that sends the user on to another site.
    from starlette.testclient import TestClient

    from ledger.tokens import issue_token

    token = issue_token(ledger, "acme", "t").to_dict()["token"]
    for nxt in ("//evil.example/", "https://evil.example/", "/console/\\evil", "/v1/apps", "/console/apps\r\nX: y"):
        r = TestClient(console_app).post("/console/login", data={"token": token, "next": nxt}, follow_redirects=False)
        assert r.headers["location"] == "/console/apps", nxt
    r = TestClient(console_app).post("/console/login", data={"token": token, "next": "/console/apis"},
                                     follow_redirects=False)
    assert r.headers["location"] == "/console/apis"


def test_a_secret_is_shown_once_and_never_again(acme: Browser, caplog: pytest.LogCaptureFixture) -> None:
    # Attack: finding a secret later in a page, a URL, the access log, or by re-sending the form.
    idem = acme.idempotency("/console/apps/new")
    with caplog.at_level(logging.DEBUG):
        r = acme.post("/console/apps/new", {"idempotency": idem, "name": "onceApp"})
        secret, code = secret_of(r.text, "AppSecret"), secret_of(r.text, "AppCode")
        assert "you will not see them again" in r.text and r.headers["cache-control"] == "no-store"
        app_id = re.search(r"([0-9a-f-]{36})", r.text).group(1)  # type: ignore[union-attr]
        again = acme.post("/console/apps/new", {"idempotency": idem, "name": "onceApp"})
        assert again.status_code == 200 and "already sent" in again.text
        assert secret not in again.text and code not in again.text
        later = [acme.get(p).text for p in (*PAGES, f"/console/apps/{app_id}",
                                            f"/console/audit/history?app_id={app_id}")]
    for text in later:
        assert secret not in text and code not in text
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert secret not in logged and code not in logged
    assert acme.get("/console/apps").text.count("onceApp") == 1  # the re-sent form made no second app


def test_a_failed_action_says_why_next_to_the_field_and_writes_nothing(acme: Browser, ledger: Ledger) -> None:
    before = position(ledger)
    r = acme.post("/console/apps/new", {"idempotency": "k-1", "name": "x", "description": "kept"})
    assert r.status_code == 400
    assert re.search(r'id="name-error"[^>]*>name must be', r.text) and 'aria-invalid="true"' in r.text
    assert "kept" in r.text  # the form keeps what was typed
    r = acme.post("/console/apps/new", {"idempotency": "k-2", "name": "goodName", "tags": "novalue"})
    assert r.status_code == 400 and 'id="tags-error"' in r.text
    r = acme.post("/console/apps/new", {"idempotency": "k-3", "name": "goodName", "description": "d" * 5000})
    assert r.status_code == 400
    assert position(ledger) == before


def test_another_accounts_app_is_public_view_only(acme: Browser, globex: Browser, ledger: Ledger) -> None:
    # Attack: an ordinary account reading or changing another tenant's app by its id.
    app_id, page = create(acme)
    key = secret_of(page, "AppKey")
    view = globex.get(f"/console/apps/{app_id}")
    assert view.status_code == 200 and "public view" in view.text and key not in view.text
    before = position(ledger)
    for action, data in (("disable", {}), ("delete", {}), ("modify", {"name": "stolenApp"}),
                         ("keys/add", {}), ("keys/reset", {"app_key": key}), ("keys/delete", {"app_key": key}),
                         ("codes/add", {})):
        r = globex.post(f"/console/apps/{app_id}/{action}", data)
        assert r.status_code in (403, 404), (action, r.status_code)
    assert position(ledger) == before
    assert "shopApp" not in globex.get("/console/apps").text


def test_another_accounts_api_cannot_be_authorized_or_revoked(acme: Browser, globex: Browser,
                                                              ledger: Ledger) -> None:
    api = ledger.register_api("acme", "items", http_method="GET", path_pattern="/v1/items/{id}").ids["api_id"]
    mine, _ = create(globex, "globexApp")
    before = position(ledger)
    r = globex.post(f"/console/apis/{api}/authorize", {"stage": "RELEASE", "app_id": mine, "no_end": "1"})
    assert r.status_code == 403 and position(ledger) == before
    assert "Authorize" not in globex.get(f"/console/apis/{api}").text.split("<main")[1].split("Authorized apps")[0]


def test_an_auditor_reads_everything_and_writes_nothing(acme: Browser, auditor: Browser, ledger: Ledger) -> None:
    # Attack: an auditor's token used to change what it audits.
    app_id, _ = create(acme)
    api = ledger.register_api("acme", "items", http_method="GET", path_pattern="/v1/items/{id}").ids["api_id"]
    assert "shopApp" in auditor.get("/console/apps").text
    assert "Create App" not in auditor.get("/console/apps").text
    before = position(ledger)
    assert auditor.post(f"/console/apps/{app_id}/disable").status_code == 403
    assert auditor.post(f"/console/apis/{api}/authorize", {"stage": "TEST", "app_id": app_id,
                                                           "no_end": "1"}).status_code == 403
    assert position(ledger) == before
    for fmt in ("md", "csv", "json", "html"):
        r = auditor.get(f"/console/audit/report?name=access-review&format={fmt}")
        assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    assert acme.get("/console/audit/report?name=access-review&format=json").status_code == 403
    assert auditor.get("/console/audit/report?name=../../etc/passwd&format=json").status_code == 400
    assert auditor.get("/console/audit/report?name=access-review&format=exe").status_code == 400


def test_console_actions_are_the_admin_apis_and_recorded_as_console(acme: Browser, ledger: Ledger) -> None:
    app_id, _ = create(acme)
    assert acme.post(f"/console/apps/{app_id}/disable").status_code == 303
    r = acme.get(f"/console/audit/history?app_id={app_id}")
    rows = re.findall(r"<td>(App\w+|KeyPair\w+)</td><td>acme</td><td>(\w+)</td>", r.text)
    assert ("AppCreated", "console") in rows and ("AppDisabled", "console") in rows


def test_hostile_paths_and_query_values_are_bounded(acme: Browser) -> None:
    # Attack: oversized or odd ids and search terms: a clear error, never a traceback.
    for page in ("/console/apps/" + "a" * 5000, "/console/apps/..%2F..%2Fv1", "/console/apis/%00",
                 "/console/apps?q=" + "x" * 10000 + "&page=-5", "/console/apps?tag=%00%01",
                 "/console/audit/who?api_id=" + "z" * 300, "/console/audit/history"):
        r = acme.get(page)
        assert r.status_code < 500 and "Traceback" not in r.text, page


def test_templates_and_static_files_ship_in_the_package() -> None:
    import tomllib

    data = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    assert data["tool"]["setuptools"]["package-data"]["authledger.console"] == ["templates/*.html", "static/*"]
