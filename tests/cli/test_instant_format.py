"""Every instant the CLI prints — ``--json`` answers, its text tables, reports (JSON and CSV),
exports — has the one format: ISO 8601 UTC with ``Z``, microseconds only when non-zero
(issue 17.4; ``tests/instant_format.py``). The HTTP side: tests/service/test_response_schemas.py."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.cli.conftest import Run, make_api, make_app
from tests.instant_format import LOOKS_LIKE_AN_INSTANT, ONE_FORMAT, check_instants

# In text: a date-time, with whatever follows it that belongs to an instant's spelling.
_IN_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]+(Z|[+-][0-9]{2}:?[0-9]{2})?")


def _text_instants(text: str, where: str) -> int:
    found = [m.group(0) for m in _IN_TEXT.finditer(text)]
    for s in found:
        assert ONE_FORMAT.fullmatch(s), f"{where}: {s!r} in the text output is not ISO 8601 UTC with Z"
    return len(found)


def test_every_cli_answer_gives_instants_in_one_format(run: Run, tmp_path: Path) -> None:
    seen: Counter[str] = Counter()
    in_text = 0

    def j(*args: object, code: int = 0, write: bool = False) -> dict:
        nonlocal in_text
        r = run("--json", *args)
        assert r.code == code, (args, r.err)
        data = json.loads(r.out)
        seen.update(check_instants(data, f"{' '.join(map(str, args[:2]))} "))
        if not write:  # a question: the same answer as text
            t = run(*args)
            assert t.code == code, (args, t.err)
            in_text += _text_instants(t.out, " ".join(map(str, args[:2])))
        return data

    soon = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=250000)
    api_id = make_api(run)
    app = make_app(run)
    app_id, key = app["app_id"], app["app_key"]
    j("grant", "--actor", "provider", "--app", app_id, "--api", api_id, "--stage", "RELEASE",
      "--until", soon.isoformat(), "--idempotency-key", "g1", write=True)
    again = j("grant", "--actor", "provider", "--app", app_id, "--api", api_id, "--stage", "RELEASE",
              "--until", soon.isoformat(), "--idempotency-key", "g1", write=True)
    assert again["until"] == soon.strftime("%Y-%m-%dT%H:%M:%S.250000Z")
    j("grant", "--actor", "provider", "--app", app_id, "--api", api_id, "--stage", "TEST", "--for", "2w", write=True)
    added = j("key", "add", app_id, "--actor", "consumer", write=True)
    j("key", "reset", added["app_key"], "--actor", "consumer", write=True)
    j("key", "list", app_id, "--actor", "consumer")
    j("app", "show", app_id, "--actor", "consumer")
    j("app", "show", app_id, "--actor", "provider")
    j("app", "list")
    j("api", "show", api_id)
    j("api", "list")
    token = j("token", "create", "--account", "consumer", "--label", "ci", write=True)
    j("token", "revoke", token["token_id"], "--actor", "consumer", write=True)
    tokens = j("token", "list", "--account", "consumer")
    assert tokens["tokens"][0]["revoked_at"]
    j("check", "--app-key", key, "--api", api_id, "--stage", "RELEASE")
    j("check", "--app-key", key, "--api", api_id, "--stage", "RELEASE", "--at", "2020-01-01T00:00:00+02:00", code=4)
    j("check", "--app-key", key, "--api", api_id, "--stage", "RELEASE", "--at", str(int(soon.timestamp()) - 5))
    request = tmp_path / "req.txt"
    request.write_text("GET /items HTTP/1.1\r\nHost: a\r\n\r\n")
    j("verify-request", "--api", api_id, str(request))
    window = ("--from", "2020-01-01T00:00:00Z", "--to", (soon + timedelta(days=400)).isoformat())
    calls = j("who-could-call", "--api", api_id)
    assert calls["could_call"] and all(c["grant_until"] for c in calls["could_call"])
    j("who-could-call", "--api", api_id, *window)
    j("access", "--app", app_id)
    j("access", "--app-key", key, *window)
    j("history", "--app", app_id)
    j("history", "--api", api_id)
    j("replay", "--until", window[3])
    j("digest")
    j("verify-log")
    j("revoke", "--actor", "provider", "--app", app_id, "--api", api_id, "--stage", "TEST", write=True)
    j("app", "disable", app_id, "--actor", "consumer", write=True)
    j("app", "enable", app_id, "--actor", "consumer", write=True)

    for name, opts in (("access-review", ()), ("credential-hygiene", ()),
                       ("access-changes", window), ("separation-of-duties", window)):
        seen.update(check_instants(j("report", name, *opts), f"report {name} "))
        r = run("report", name, *opts, "--format", "csv")
        assert r.code == 0, r.err
        for row in csv.reader(io.StringIO(r.out)):
            for cell in row:
                if LOOKS_LIKE_AN_INSTANT.match(cell):
                    assert ONE_FORMAT.fullmatch(cell), f"report {name} csv: {cell!r}"
                    seen["csv"] += 1
        in_text += _text_instants(run("report", name, *opts).out, f"report {name} md")

    out = tmp_path / "export.jsonl"
    assert run("export", "--out", out).code == 0
    for n, line in enumerate(out.read_text().splitlines()):
        seen.update(check_instants(json.loads(line), f"export line {n} "))
    # ... and an export answers as the database does.
    from_export = run("--json", "who-could-call", "--api", api_id, "--at", window[1], "--from-export", out)
    assert from_export.code == 0 and check_instants(from_export.json) is not None

    for k in ("timestamp", "until", "grant_until", "at", "start", "end", "from", "to", "issued_at",
              "revoked_at", "added_at", "secret_set_at", "created_at", "modified_at", "granted_at",
              "registered_at", "csv"):
        assert seen[k], f"no {k!r} instant was seen"
    assert in_text > 50
