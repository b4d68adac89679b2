"""Entry point: global options, output, and the one place errors become exit codes.

Exit codes: 0 ok; 2 invalid input; 3 not found; 4 not permitted; 5 conflict;
1 internal failure only. A user mistake prints one line on stderr, never a traceback.
The global options ``--db`` and ``--json`` are accepted before or after the command.
Command groups live in sibling modules and register themselves in ``COMMAND_MODULES``;
heavy imports happen inside commands so that one CLI call starts fast.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

import click

from ledger.errors import LedgerError

COMMAND_MODULES = [
    "ledger.cli.apis",
    "ledger.cli.apps",
    "ledger.cli.credentials",
    "ledger.cli.grants",
    "ledger.cli.gateway",
    "ledger.cli.audit",
    "ledger.cli.tokens",
    "ledger.cli.serve",
    "ledger.cli.reports",
    "ledger.cli.distribution",  # publish, gateway (Redis imported inside the commands)
]


@dataclass
class Settings:
    db: str | None = None
    json: bool = False
    _ledger: Any = field(default=None, repr=False)

    def ledger(self) -> Any:
        """The ledger, opened on first use."""
        if self._ledger is None:
            from ledger.bootstrap import open_ledger

            self._ledger = open_ledger(self.db)
        return self._ledger


def settings() -> Settings:
    ctx = click.get_current_context()
    obj = ctx.find_object(Settings)
    assert obj is not None
    return obj


def _set_db(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(Settings).db = value


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(Settings).json = True


def global_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Accept ``--db`` and ``--json`` after the command too."""
    f = click.option("--db", "db", metavar="PATH", expose_value=False, callback=_set_db, help="Ledger database (default $AUTHLEDGER_DB or ./authledger.db).")(f)
    f = click.option("--json", "as_json", is_flag=True, expose_value=False, callback=_set_json, help="One JSON object on stdout.")(f)
    return f


def emit(data: dict[str, Any], human: str | Callable[[dict[str, Any]], str] | None = None) -> None:
    """Print the result: JSON with --json, else the human form."""
    if settings().json:
        click.echo(json.dumps(data, sort_keys=True, default=str))
        return
    if human is None:
        click.echo(render_fields(data))
    elif callable(human):
        click.echo(human(data))
    else:
        click.echo(human)


def render_fields(data: dict[str, Any], indent: str = "") -> str:
    """A plain ``key: value`` rendering of a result, nested one level per indent."""
    lines = []
    for k, v in data.items():
        if isinstance(v, dict):
            lines.append(f"{indent}{k}:")
            lines.append(render_fields(v, indent + "  "))
        elif isinstance(v, list):
            lines.append(f"{indent}{k}: ({len(v)})")
            for item in v:
                if isinstance(item, dict):
                    lines.append(indent + "  - " + ", ".join(f"{ik}={iv}" for ik, iv in item.items()))
                else:
                    lines.append(f"{indent}  - {item}")
        else:
            lines.append(f"{indent}{k}: {'' if v is None else v}")
    return "\n".join(line for line in lines if line != "")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--db", "db", metavar="PATH", help="Ledger database (default $AUTHLEDGER_DB or ./authledger.db).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.version_option(package_name="authledger")
@click.pass_context
def cli(ctx: click.Context, db: str | None, as_json: bool) -> None:
    """authledger: an event-sourced authorization ledger for API gateways."""
    s = ctx.ensure_object(Settings)
    s.db = db
    s.json = as_json


def _register() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue  # not written yet
            raise
        module.register(cli)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; map errors to exit codes."""
    _register()
    global _argv
    _argv = list(sys.argv[1:] if argv is None else argv)
    try:
        cli.main(args=argv, prog_name="authledger", standalone_mode=False)
    except LedgerError as e:
        _fail(e.message, e.exit_code, e.to_dict())
    except click.exceptions.Abort:
        _fail("aborted", 1)
    except click.ClickException as e:
        # Usage errors: bad option, missing argument, bad choice.
        _fail(e.format_message().replace("\n", " "), 2, {"error": "invalid_input", "message": e.format_message()})
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except SystemExit as e:
        return int(e.code or 0) if isinstance(e.code, int) or e.code is None else 1
    except Exception as e:  # noqa: BLE001 - the last line of defence: never a traceback
        if os.environ.get("AUTHLEDGER_DEBUG"):
            raise
        _fail(f"internal error: {type(e).__name__} (set AUTHLEDGER_DEBUG=1 for details)", 1)
    return 0


_argv: list[str] = []


def _fail(message: str, code: int, payload: dict[str, Any] | None = None) -> None:
    wants_json = "--json" in _argv
    if wants_json and payload is not None:
        click.echo(json.dumps(payload, sort_keys=True), err=True)
    else:
        click.echo(f"authledger: error: {message}", err=True)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    # Run the importable module, not this __main__ copy: command modules import
    # ledger.cli.main, and two copies would mean two Settings classes.
    from ledger.cli.main import main as _main

    sys.exit(_main())
