"""The console's procedures in a real browser against a real ``authledger serve``.

Headless Chromium (selenium, chromium-driver) drives each procedure of issue 15 point 1 as
a provider (acme), a consumer of another account (globex) and an auditor; every check
reads what the page shows, and the ledger's events are read back over ``/v1`` afterwards.
Keyboard-only log-in, labels, one h1 per page, and no request to any other host.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from ledger.bootstrap import open_ledger
from ledger.tokens import issue_token
from tests.conftest import TEST_KEY
from tests.console.browser import chromium
from tests.service import harness


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A ledger with acme's API, tokens for acme, globex and an auditor, served for real."""
    db = str(tmp_path_factory.mktemp("console") / "ledger.db")
    ledger = open_ledger(db, key=TEST_KEY)
    tokens = {who: issue_token(ledger, who, "console", role=role).to_dict()["token"]
              for who, role in (("acme", "owner"), ("globex", "owner"), ("audit-team", "auditor"))}
    api = ledger.register_api("acme", "weather", http_method="GET", path_pattern="/v1/weather/{city}").ids["api_id"]
    ledger.close()
    with harness.serve(db, "--no-access-log") as port:
        yield {"db": db, "port": port, "base": f"http://127.0.0.1:{port}", "tokens": tokens, "api": api}


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


def v1(world: dict[str, Any], who: str, path: str) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", world["port"], timeout=10)
    conn.request("GET", path, headers={"Authorization": f"Bearer {world['tokens'][who]}"})
    resp = conn.getresponse()
    body = json.loads(resp.read())
    conn.close()
    assert resp.status == 200, body
    return body


def events(world: dict[str, Any], who: str, app_id: str) -> list[tuple[str, str, str]]:
    return [(e["type"], e["actor"], e["source"]) for e in v1(world, who, f"/v1/audit/history?app_id={app_id}")["events"]]


def log_in(d: WebDriver, world: dict[str, Any], who: str) -> None:
    """Keyboard only: the token field has focus on arrival; Enter submits."""
    d.delete_all_cookies()
    d.get(world["base"] + "/console/login")
    focused = d.switch_to.active_element
    assert focused.get_attribute("id") == "token"
    old = d.find_element(By.TAG_NAME, "html")
    focused.send_keys(world["tokens"][who] + Keys.ENTER)
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(d, 15).until(_gone(old))
    assert d.current_url.endswith("/console/apps"), d.find_element(By.TAG_NAME, "main").text
    assert d.find_element(By.CSS_SELECTOR, ".who").text.startswith(who)


def text(d: WebDriver) -> str:
    return d.find_element(By.TAG_NAME, "main").text


def fill(d: WebDriver, fields: dict[str, str]) -> None:
    for name, value in fields.items():
        el = d.find_element(By.ID, name)
        el.clear()
        el.send_keys(value)


def _gone(old: Any) -> Any:
    """True once ``old`` (the previous page's root) is no longer in the document. Chrome may
    answer a look at a node of a page being replaced with an inspector error instead of a
    stale reference: both mean the page changed."""
    from selenium.common.exceptions import WebDriverException

    def check(_driver: Any) -> bool:
        try:
            old.is_enabled()
            return False
        except WebDriverException:  # StaleElementReferenceException included
            return True

    return check


def go(d: WebDriver, element: Any) -> None:
    """Click something that loads a page, and wait until the new page is there."""
    from selenium.webdriver.support.ui import WebDriverWait

    old = d.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(d, 15).until(_gone(old))
    WebDriverWait(d, 15).until(lambda drv: drv.execute_script("return document.readyState") == "complete")


def submit(d: WebDriver, label: str) -> None:
    go(d, d.find_element(By.XPATH, f"//main//button[normalize-space()='{label}']"))


def link(d: WebDriver, label: str) -> None:
    go(d, d.find_element(By.LINK_TEXT, label))


def assert_accessible_and_local(d: WebDriver, base: str) -> None:
    """One h1; every visible field has a label; every resource came from the console's origin."""
    assert len(d.find_elements(By.TAG_NAME, "h1")) == 1, d.current_url
    unlabelled = d.execute_script(
        "return [...document.querySelectorAll('input,select,textarea')]"
        ".filter(e => e.type !== 'hidden' && e.labels.length === 0).map(e => e.name)")
    assert unlabelled == [], (d.current_url, unlabelled)
    resources = d.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(r.startswith(base + "/console/static/") for r in resources), resources
    # A CSP violation, a script error or a failed sub-resource would show here (a page that
    # answered 4xx on purpose, a refused form, is logged as a network error of the page itself).
    errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"
              and not (e["source"] == "network" and "/console/static/" not in e["message"]
                       and e["message"].startswith(base + "/console/"))]
    assert errors == [], errors


def test_provider_creates_manages_and_authorizes_an_app(browser: WebDriver, world: dict[str, Any]) -> None:
    d, base = browser, world["base"]
    # The consumer (another account) makes its app first and gives its App ID to the provider.
    log_in(d, world, "globex")
    link(d, "Create App")
    fill(d, {"name": "globexClient"})
    submit(d, "Create")
    assert "you will not see them again" in text(d), text(d)
    other_id = d.find_element(By.ID, "value-1").text

    log_in(d, world, "acme")
    assert_accessible_and_local(d, base)
    # Create App: name, description, tags, custom AppKey; the secret is shown once.
    link(d, "Create App")
    assert_accessible_and_local(d, base)
    fill(d, {"name": "x"})
    submit(d, "Create")
    assert "name must be" in d.find_element(By.ID, "name-error").text  # next to its field
    fill(d, {"name": "weatherApp", "description": "The weather client", "tags": "env=prod\nteam=sky",
             "app_key": "weather-key-0001"})
    submit(d, "Create")
    assert "you will not see them again" in text(d)
    app_id = d.find_element(By.ID, "value-1").text
    secret = d.find_element(By.XPATH, "//dt[.='AppSecret']/following-sibling::dd[1]/code").text
    assert len(secret) >= 32
    d.find_element(By.XPATH, "//dt[.='AppSecret']/following-sibling::dd[1]/button").click()  # copy
    assert d.find_element(By.XPATH, "//dt[.='AppSecret']/following-sibling::dd[1]/button").text in (
        "Copied", "Selected: press Ctrl+C")
    link(d, "Done")
    assert secret not in d.page_source and "weather-key-0001" in d.page_source

    # Search by name, tag and App ID.
    d.get(base + "/console/apps")
    fill(d, {"q": "weather"})
    submit(d, "Search")
    assert "weatherApp" in text(d) and "1 app" in text(d)
    fill(d, {"q": "", "tag": "team=sky"})
    submit(d, "Search")
    assert "weatherApp" in text(d)
    fill(d, {"q": app_id, "tag": ""})
    submit(d, "Search")
    link(d, "weatherApp")

    # Application Details: add a key pair, reset the default one, delete the added one.
    assert_accessible_and_local(d, base)
    assert "Delete" not in d.find_element(By.XPATH, "//tr[td/code='weather-key-0001']").text  # the default pair
    submit(d, "Add key pair")
    added = d.find_element(By.XPATH, "//dt[.='AppKey']/following-sibling::dd[1]/code").text
    link(d, "Done")
    go(d, d.find_element(By.XPATH, "//button[@aria-label='Reset the secret of weather-key-0001']"))
    new_secret = d.find_element(By.XPATH, "//dt[.='AppSecret']/following-sibling::dd[1]/code").text
    assert new_secret != secret
    link(d, "Done")
    go(d, d.find_element(By.XPATH, f"//button[@aria-label='Delete key pair {added}']"))
    assert added not in text(d)
    # AppCodes: add one (shown once).
    submit(d, "Add AppCode")
    assert "AppCode" in text(d) and "you will not see them again" in text(d)
    link(d, "Done")
    # Disable / Enable App Authentication.
    submit(d, "Disable App Authentication")
    assert d.find_element(By.ID, "app-status").text == "disabled"
    submit(d, "Enable App Authentication")
    assert d.find_element(By.ID, "app-status").text == "enabled"
    # Modify.
    fill(d, {"m_description": "Weather, modified"})
    submit(d, "Save")
    assert "Weather, modified" in text(d)

    # Authorize dialog: stage, no end, My Apps by search and another account's App ID.
    d.get(f"{base}/console/apis/{world['api']}")
    assert_accessible_and_local(d, base)
    fill(d, {"q": "weather"})
    submit(d, "Search")
    d.find_element(By.XPATH, f"//input[@name='app_id' and @value='{app_id}']").click()
    fill(d, {"other_app_ids": other_id})
    d.find_element(By.XPATH, "//select[@id='stage']/option[.='TEST']").click()
    d.find_element(By.ID, "no_end").click()
    submit(d, "Authorize")
    table = d.find_element(By.XPATH, "//section[h2='Authorized apps']//table").text
    assert "weatherApp" in table and "globexClient" in table and "no end" in table and "TEST" in table
    # Change an end time, then revoke.
    row = d.find_element(By.XPATH, "//tr[td[contains(., 'globexClient')]]")
    end = row.find_element(By.XPATH, ".//input[@type='datetime-local']")
    d.execute_script("arguments[0].value = '2031-06-30T12:00'", end)
    go(d, row.find_element(By.XPATH, ".//button[.='Change end time']"))
    assert "2031-06-30T12:00:00Z" in d.find_element(By.XPATH, "//tr[td[contains(., 'globexClient')]]").text
    go(d, d.find_element(By.XPATH, "//button[@aria-label='Revoke weatherApp in TEST']"))
    table = d.find_element(By.XPATH, "//section[h2='Authorized apps']//table").text
    assert "weatherApp" not in table and "globexClient" in table  # revoked: no longer authorized

    # The ledger's events, read back over /v1: each procedure, by acme, from the console.
    seen = events(world, "acme", app_id)
    for kind in ("AppCreated", "KeyPairAdded", "KeyPairReset", "KeyPairDeleted", "AppCodeAdded", "AppDisabled",
                 "AppEnabled", "AppModified", "GrantGiven", "GrantRevoked"):
        assert (kind, "acme", "console") in seen, (kind, seen)
    grants = v1(world, "globex", f"/v1/grants?app_id={other_id}")["data"]
    assert [(g["stage"], g["until"]) for g in grants] == [("TEST", "2031-06-30T12:00:00Z")]

    # The consumer sees the API it may now call on its own app's page.
    log_in(d, world, "globex")
    d.get(f"{base}/console/apps/{other_id}")
    authorized = d.find_element(By.XPATH, "//section[h2='Authorized APIs']").text
    assert "weather" in authorized and "TEST" in authorized and "acme" in authorized
    # ... and not the provider's app.
    d.get(f"{base}/console/apps/{app_id}")
    assert "public view" in text(d) and "weather-key-0001" not in d.page_source


def test_auditor_reads_the_timeline_history_digest_and_reports(browser: WebDriver, world: dict[str, Any],
                                                                tmp_path: Path) -> None:
    d, base = browser, world["base"]
    log_in(d, world, "acme")  # something to audit
    link(d, "Create App")
    fill(d, {"name": "auditedApp"})
    submit(d, "Create")
    app_id = d.find_element(By.ID, "value-1").text
    d.get(f"{base}/console/apis/{world['api']}")
    d.find_element(By.XPATH, f"//input[@name='app_id' and @value='{app_id}']").click()
    d.find_element(By.ID, "no_end").click()
    submit(d, "Authorize")

    log_in(d, world, "audit-team")
    assert "Create App" not in text(d)  # an auditor writes nothing
    link(d, "Audit")
    assert_accessible_and_local(d, base)
    assert d.find_element(By.ID, "verify-status").text.split(":")[0] in ("verified", "not recorded")
    assert re.fullmatch(r"[0-9a-f]{64}@\d+", d.find_element(By.ID, "digest").text)
    fill(d, {"who_from": "2020-01-01T00:00:00Z", "who_to": "2040-01-01T00:00:00Z"})
    go(d, d.find_element(By.XPATH, "//section[h2='Who could call an API']//button"))
    assert_accessible_and_local(d, base)
    assert d.find_elements(By.CSS_SELECTOR, "svg.timeline")
    assert "auditedApp" in text(d) and "GrantGiven by acme" in text(d)
    d.get(f"{base}/console/audit/history?app_id={app_id}")
    assert "AppCreated" in text(d) and "console" in text(d)
    # Every report in every format, as the download links give them.
    d.get(f"{base}/console/audit")
    links = [a.get_attribute("href") for a in d.find_elements(By.CSS_SELECTOR, "section a[download]")]
    assert len(links) == 16
    cookie = d.get_cookie("authledger_console")["value"]
    for href in links:
        conn = http.client.HTTPConnection("127.0.0.1", world["port"], timeout=30)
        conn.request("GET", href[len(base):], headers={"Cookie": f"authledger_console={cookie}"})
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        assert resp.status == 200 and resp.getheader("content-disposition", "").startswith("attachment"), href
        assert body
