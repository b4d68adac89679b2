"""``authledger check`` and ``authledger verify-request``: the gateway's answers, on demand.

Both build the auth index from the ledger's current state. The decision or verdict is
the output, so both exit 0 whether the call is allowed or not; malformed input exits 2
and a ledger the index cannot replay (ProjectionError) exits 1, each with one line.
``check`` never decrypts a secret; ``verify-request`` does, in memory, and prints none.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from typing import IO, Any

import click

from authledger.gateway.raw_request import verify_raw_request
from ledger import rules
from authledger.cli.main import emit, global_options, settings
from authledger.cli.secret_input import secret_option
from authledger.cli.text import block
from ledger.errors import InvalidInput
from ledger.isotime import iso

STAGES = ("RELEASE", "PRE", "TEST")
MAX_REQUEST_BYTES = 16 * 1024 * 1024


def parse_at(value: str | None) -> float | None:
    """``--at``: an ISO 8601 instant with a timezone, or epoch seconds."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return rules.epoch_instant(seconds, "--at")
    if len(text) > 64 or not text:
        raise InvalidInput(f"--at must be an ISO 8601 instant or epoch seconds, got {text[:40]!r}", field="at")
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"--at must be an ISO 8601 instant or epoch seconds, got {text[:40]!r}", field="at") from None
    if at.tzinfo is None:
        raise InvalidInput("--at needs a timezone (e.g. 2026-01-31T12:00:00Z)", field="at")
    return rules.aware_instant(at, "--at").timestamp()


DENIED = 4  # check's exit code when the credential may not call (= NotPermitted's)


def _instant(at: float) -> str:
    return iso(datetime.fromtimestamp(at, UTC))


@click.command("check")
@click.option("--app-key", default=None, metavar="K", help="The AppKey to check.")
@secret_option("app-code", "The AppCode to check (looked up by its hash).")
@click.option("--api", "api_id", required=True, metavar="API_ID")
@click.option("--stage", required=True, type=click.Choice(STAGES))
@click.option("--at", default=None, metavar="T", help="Instant to decide at (ISO 8601 or epoch seconds; default now).")
@global_options
def check(app_key: str | None, app_code: str | None, api_id: str, stage: str, at: str | None) -> None:
    """May this credential call the API in the stage (now, or at --at)?

    Exit 0 when allowed, 4 when denied (the reason is printed either way)."""
    from projections.auth_index import AuthIndex

    if (app_key is None) == (app_code is None):
        raise InvalidInput("give exactly one of --app-key or --app-code[-from]", field="app_key")
    instant = parse_at(at)
    ledger = settings().ledger()
    if instant is None:
        instant = time.time()
        index = AuthIndex(None)  # check needs no secrets: none are decrypted
        from projections.events import apply_from
        from projections.log import log_for

        apply_from(log_for(ledger), index)
    else:
        # The ledger as it stood at the instant: an app created, a key added or a grant made
        # later did not exist then (the audit's `access --at` says the same).
        index = AuthIndex.build(ledger, until_time=datetime.fromtimestamp(instant, UTC))
    if app_key is not None:
        decision = index.check(app_key, api_id, stage, instant)
    else:
        decision = index.check(ledger.box.code_hash(app_code), api_id, stage, instant, kind="app_code_hash")
    data: dict[str, Any] = decision.to_dict()
    data.update(api_id=api_id, stage=stage, at=_instant(instant), position=index.position)
    emit(data, lambda d: block([("allowed", d["allowed"]), ("reason", d["reason"]), ("app_id", d["app_id"]),
                                ("extension", d["extension"]), ("api_id", d["api_id"]), ("stage", d["stage"]),
                                ("at", d["at"]), ("ledger position", d["position"])]))
    if not decision.allowed:
        # Scripts branch on the exit code (`if authledger check …; then`): a denial is 4,
        # "not permitted", with the decision and its reason printed all the same.
        raise SystemExit(DENIED)


@click.command("verify-request")
@click.option("--api", "api_id", required=True, metavar="API_ID")
@click.argument("file", required=False, type=click.File("rb"))
@click.option("--at", default=None, metavar="T", help="The gateway's clock (ISO 8601 or epoch seconds; default now).")
@click.option("--window", default=900.0, show_default=True, type=click.FloatRange(min=0), help="Timestamp window, seconds.")
@global_options
def verify_request(api_id: str, file: IO[bytes] | None, at: str | None, window: float) -> None:
    """Verify a raw HTTP/1.1 request (from FILE or stdin) as the gateway would."""
    from authledger.gateway.verifier import Verifier
    from projections.auth_index import AuthIndex

    instant = parse_at(at)
    stream = file if file is not None else sys.stdin.buffer
    raw = stream.read(MAX_REQUEST_BYTES + 1)
    if len(raw) > MAX_REQUEST_BYTES:
        raise InvalidInput("request larger than 16 MiB", field="request")
    ledger = settings().ledger()
    if instant is None:
        index = AuthIndex.build(ledger)
    else:  # the gateway's clock at T sees the ledger as it stood at T
        index = AuthIndex.build(ledger, until_time=datetime.fromtimestamp(instant, UTC))
    clock = (lambda: instant) if instant is not None else time.time
    data = verify_raw_request(Verifier(index, window_seconds=window, clock=clock), raw, api_id)
    emit(data, _human_verdict)


def _human_verdict(d: dict[str, Any]) -> str:
    rows = [("accepted", d["accepted"]), ("status", d["status"]), ("error message", d["error_message"]),
            ("reason", d["reason"]), ("app_id", d["app_id"]), ("app_key", d["app_key"]), ("stage", d["stage"])]
    rows += [(f"forwards {name}", value) for name, value in d["system_parameters"].items()
             if name not in ("CaAppId", "CaAppKey", "CaStage")]
    text = block(rows)
    if d["string_to_sign"] is not None:
        sts = "\n".join("    " + line for line in d["string_to_sign"].split("\n"))
        text += "\nserver StringToSign:\n" + sts
    return text


def register(cli: click.Group) -> None:
    cli.add_command(check)
    cli.add_command(verify_request)
