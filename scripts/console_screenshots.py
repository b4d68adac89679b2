"""Screenshots of the console's main pages for docs/console.md.

Builds a small demo ledger (acme's weather API, two apps, a grant to another account's
app), runs ``authledger serve`` on it, logs in with headless Chromium and saves PNGs in
docs/img/console-*.png.

    .venv/bin/python scripts/console_screenshots.py [--out docs/img]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    from selenium.webdriver.common.by import By

    from ledger.bootstrap import open_ledger
    from ledger.tokens import issue_token
    from tests.conftest import TEST_KEY
    from tests.console.browser import chromium
    from tests.service import harness

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "img"))
    out = Path(parser.parse_args(argv).out)
    out.mkdir(parents=True, exist_ok=True)
    db = str(Path(tempfile.mkdtemp(prefix="authledger-shots-")) / "ledger.db")
    ledger = open_ledger(db, key=TEST_KEY)
    token = issue_token(ledger, "acme", "screenshots").to_dict()["token"]
    api = ledger.register_api("acme", "weather", http_method="GET", path_pattern="/v1/weather/{city}").ids["api_id"]
    mine = ledger.create_app("acme", "weatherApp", description="The weather client", tags={"env": "prod"},
                             app_key="weather-key-0001").ids["app_id"]
    ledger.create_app("acme", "batchJobs", tags={"env": "test"})
    other = ledger.create_app("globex", "globexClient").ids["app_id"]
    ledger.grant("acme", mine, api, "RELEASE")
    ledger.grant("acme", other, api, "TEST", until="2031-06-30T12:00:00Z")
    ledger.close()
    with harness.serve(db, "--no-access-log") as port, chromium(1280, 860) as d:
        base = f"http://127.0.0.1:{port}"
        d.get(base + "/console/login")
        d.save_screenshot(str(out / "console-login.png"))
        d.find_element(By.ID, "token").send_keys(token + "\n")
        pages = {"apps": "/console/apps", "create-app": "/console/apps/new", "app": f"/console/apps/{mine}",
                 "authorize": f"/console/apis/{api}", "audit": "/console/audit",
                 "who-could-call": f"/console/audit/who?api_id={api}&from=2026-01-01T00:00:00Z&to=2032-01-01T00:00:00Z"}
        for name, path in pages.items():
            d.get(base + path)
            height = d.execute_script("return document.body.scrollHeight")
            d.set_window_size(1280, min(max(860, height + 40), 2400))
            d.save_screenshot(str(out / f"console-{name}.png"))
        d.get(base + "/console/apps/new")
        d.find_element(By.ID, "name").send_keys("newApp\n")
        shown = d.page_source
        d.save_screenshot(str(out / "console-secret-once.png"))
        assert re.search(r"you will not see them again", shown)
    for png in sorted(out.glob("console-*.png")):
        print(png.relative_to(REPO) if png.is_relative_to(REPO) else png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
