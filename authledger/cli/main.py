"""Entry point: global options, output, and the one place errors become exit codes.

Exit codes: 0 ok; 2 invalid input; 3 not found; 4 not permitted; 5 conflict;
6 log mismatch (audit); 7 store unavailable (retriable: PostgreSQL away, SQLite locked past
the bound); 1 internal failure only. A user mistake prints one line on stderr, never a traceback.
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
    "authledger.cli.apis",
    "authledger.cli.groups",
    "authledger.cli.apps",
    "authledger.cli.credentials",
    "authledger.cli.grants",
    "authledger.cli.gateway",
    "authledger.cli.audit",
    "authledger.cli.tokens",
    "authledger.cli.serve",
    "authledger.cli.reports",
    "authledger.cli.distribution",  # publish, gateway (Redis imported inside the commands)
    "authledger.cli.migrate",
]


@dataclass
class Settings:
    db: str | None = None
    json: bool = False
    # PostgreSQL (issue 8): --database-url / $AUTHLEDGER_DATABASE_URL, exclusive with --db.
    database_url: str | None = None
    secret_key_file: str | None = None
    _ledger: Any = field(default=None, repr=False)

    def target(self) -> str:
        """The store to use: a SQLite path or a postgresql:// URL (see ledger/store.py)."""
        from ledger.store import resolve

        target = resolve(self.db, self.database_url)
        _opened[:] = [target]  # for the error handler's full-disk message
        return target

    def ledger(self, role: str = "cli", *, create: bool = False, read: bool = False) -> Any:
        """The ledger, opened on first use (``role`` sizes a PostgreSQL connection pool).

        Only commands that start a ledger (``create=True``: api register, app create, token
        create, serve) make a new SQLite file; any other command on a path where there is no
        file says so (exit 2) instead of leaving an empty ledger and key file behind.
        ``read=True`` (commands that only read: app list/show, api list/show): no key file is
        ever made, a missing key is no error, and a read-only copy is opened read-only."""
        if self._ledger is None:
            from ledger.bootstrap import open_ledger
            from ledger.store import is_url

            target = self.target()
            local = not is_url(target) and target != ":memory:"
            if not create and local and not os.path.exists(target):
                from ledger.errors import InvalidInput

                raise InvalidInput(f"no ledger database at {target}", field="db")
            fresh = local and not os.path.exists(target)
            if fresh:
                _fresh.append(_Fresh(self, target, self.secret_key_file))
            self._ledger = open_ledger(target, key_file=self.secret_key_file, role=role, read_only=read)
            if local or self.secret_key_file:
                from ledger.crypto import exposed_key_file

                warning = exposed_key_file(target if local else None, self.secret_key_file)
                if warning:
                    click.echo(f"authledger: warning: {warning}", err=True)
        return self._ledger


@dataclass
class _Fresh:
    """A ledger this command created: announced when the command succeeds, removed again
    (with the key file it made) when the command fails before writing anything."""

    settings: Settings
    target: str
    key_file: str | None
    announced: bool = False

    def __post_init__(self) -> None:
        from ledger.crypto import KEY_ENV, key_path

        self.key_path = None if os.environ.get(KEY_ENV) else key_path(self.target, self.key_file)
        self.made_key = self.key_path is not None and not os.path.exists(self.key_path)

    def announce(self) -> None:
        """Say where the new ledger is (stderr: --json output stays one object on stdout).

        A command run in another folder than the server's makes a ledger of its own; the
        server then knows none of its tokens. Saying so at once saves that hour."""
        if self.announced:
            return
        self.announced = True
        where = os.path.abspath(self.target)
        key = (f"secret key in {os.path.abspath(self.key_path)}: back it up" if self.key_path
               else "secret key from $AUTHLEDGER_SECRET_KEY")
        click.echo(f"authledger: created a new ledger at {where} ({key})", err=True)

    def discard_if_empty(self) -> None:
        ledger = self.settings._ledger
        if ledger is None or self.announced:
            return
        try:
            if ledger.recorder.max_notification_id():
                return
        except Exception:  # noqa: BLE001 - cannot tell: keep the file
            return
        ledger.close()
        self.settings._ledger = None
        for path in (self.target, self.target + "-wal", self.target + "-shm",
                     *([self.key_path] if self.made_key and self.key_path else [])):
            try:
                os.remove(path)
            except OSError:
                pass


_fresh: list[_Fresh] = []


def announce_created() -> None:
    """For long-running commands (serve): say now where the new ledger is."""
    for f in _fresh:
        f.announce()


def settings() -> Settings:
    ctx = click.get_current_context()
    obj = ctx.find_object(Settings)
    assert obj is not None
    return obj


def _set_db(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(Settings).db = value


def _set_database_url(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(Settings).database_url = value


def _set_secret_key_file(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(Settings).secret_key_file = value


_URL_HELP = "PostgreSQL ledger, postgresql://user:pass@host:port/db (default $AUTHLEDGER_DATABASE_URL)."
_KEY_FILE_HELP = "Secret key file (base64 of 32 bytes), instead of $AUTHLEDGER_SECRET_KEY."


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(Settings).json = True


def global_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Accept ``--db`` and ``--json`` after the command too."""
    f = click.option("--db", "db", metavar="PATH", expose_value=False, callback=_set_db, help="Ledger database (default $AUTHLEDGER_DB or ./authledger.db).")(f)
    f = click.option("--json", "as_json", is_flag=True, expose_value=False, callback=_set_json, help="One JSON object on stdout.")(f)
    f = click.option("--database-url", "database_url", metavar="URL", expose_value=False, callback=_set_database_url, help=_URL_HELP)(f)
    f = click.option("--secret-key-file", "secret_key_file", metavar="FILE", expose_value=False, callback=_set_secret_key_file, help=_KEY_FILE_HELP)(f)
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
@click.option("--database-url", "database_url", metavar="URL", help=_URL_HELP)
@click.option("--secret-key-file", "secret_key_file", metavar="FILE", help=_KEY_FILE_HELP)
@click.version_option(package_name="authledger")
@click.pass_context
def cli(ctx: click.Context, db: str | None, as_json: bool, database_url: str | None,
        secret_key_file: str | None) -> None:
    """authledger: an event-sourced authorization ledger for API gateways."""
    s = ctx.ensure_object(Settings)
    s.db = db
    s.json = as_json
    s.database_url = database_url
    s.secret_key_file = secret_key_file


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
    _opened.clear()
    _fresh.clear()
    try:
        try:
            cli.main(args=argv, prog_name="authledger", standalone_mode=False)
        except BaseException as e:
            if not (isinstance(e, SystemExit) and e.code in (0, None)):
                for f in _fresh:
                    f.discard_if_empty()
            raise
        announce_created()
    except LedgerError as e:
        _fail(e.message, e.exit_code, e.to_dict())
    except click.exceptions.Abort:
        _fail("aborted", 1)
    except click.ClickException as e:
        # Usage errors: bad option, missing argument, bad choice.
        from ledger.errors import error_body

        _fail(e.format_message().replace("\n", " "), 2, error_body("invalid_input", e.format_message()))
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except SystemExit as e:
        return int(e.code or 0) if isinstance(e.code, int) or e.code is None else 1
    except Exception as e:  # noqa: BLE001 - the last line of defence: never a traceback
        if os.environ.get("AUTHLEDGER_DEBUG"):
            raise
        from ledger.store import store_failure

        u = store_failure(e, _db_target())  # a read met an unreachable, locked or full store
        if u is not None:  # (writes retry first and raise their own)
            _fail(u.message, u.exit_code, u.to_dict())
        _fail(f"internal error: {type(e).__name__} (set AUTHLEDGER_DEBUG=1 for details)", 1)
    return 0


_argv: list[str] = []


_opened: list[str] = []  # the store the running command opened


def _db_target() -> str | None:
    """The store this command opened, if it got that far (for the full-disk message)."""
    return _opened[-1] if _opened else None


def _fail(message: str, code: int, payload: dict[str, Any] | None = None) -> None:
    wants_json = "--json" in _argv
    if wants_json and payload is not None:
        click.echo(json.dumps(payload, sort_keys=True), err=True)
    else:
        click.echo(f"authledger: error: {message}", err=True)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    # Run the importable module, not this __main__ copy: command modules import
    # authledger.cli.main, and two copies would mean two Settings classes.
    from authledger.cli.main import main as _main

    sys.exit(_main())
