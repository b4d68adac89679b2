"""Who may call what (issue 14.2): the one permission gate of the admin API.

Every operation in authledger.service.admin.OPERATIONS declares an ``Access`` (authledger.service.operations):
read or write, the roles that may call it, what an owner of another account gets, where
the request names its app or API (for scoped tokens), and whether an admin may do it on
any account (break-glass). ``authorize`` and ``in_scope`` enforce the role, read-only and
app/API scopes here, before the handler runs; ownership itself is decided by the command
and query layer (ledger.commands, service.*_handlers), which the role matrix test checks
against ``Access.others``. ``markdown_table`` renders the table docs/roles.md shows.

``/authz`` never comes here: it takes no token.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from ledger.errors import AppCodeNotFound, KeyPairNotFound, LedgerError, NotPermitted
from ledger.tokens import ADMIN, AUDITOR, OWNER, ROLES, Principal
from authledger.service.operations import Access, Call, Operation

READ, WRITE = "read", "write"
ALL = ROLES
WRITERS = (OWNER, ADMIN)


def read(others: str, *target: str) -> Access:
    """A read: every role may call it (an owner sees its own account, or the public view)."""
    return Access(READ, ALL, others, target)


def write(others: str, *target: str, break_glass: bool = False, roles: tuple[str, ...] = WRITERS) -> Access:
    """A write: owners (their own account) and admins; never an auditor or a read-only token."""
    return Access(WRITE, roles, others, target, break_glass)


def authorize(op: Operation, principal: Principal) -> None:
    """Role and read-only, before the request is even parsed."""
    a = op.access
    if a is None:  # fail closed: an operation that does not say who may call it, nobody may
        raise NotPermitted(f"{op.op_id} declares no access rule; nobody may call it", field="authorization")
    if principal.role not in a.roles:
        raise NotPermitted(f"a token with role {principal.role} may not call {op.op_id} "
                           f"(roles: {', '.join(a.roles)})", field="authorization")
    if a.kind == WRITE and principal.read_only:
        raise NotPermitted(f"this token is read-only; {op.op_id} writes", field="authorization")


def in_scope(op: Operation, principal: Principal, call: Call) -> None:
    """An app- or API-scoped token may call only operations that name its app or API, and
    only about it. A request about a credential out of scope answers as an unknown one."""
    if not principal.resource_scoped:
        return
    a = op.access
    assert a is not None
    kind, scope_id = ("app", principal.app_id) if principal.app_id else ("api", principal.api_id)
    for target in a.target:
        ids = _named(target, kind, call)
        if ids and all(i == scope_id for i in ids):
            return
    if a.others == "hidden":
        for target in a.target:
            if target.startswith("key:"):
                raise KeyPairNotFound(str(_value(target[4:], call)))
            if target.startswith("code:"):
                raise AppCodeNotFound()
    raise NotPermitted(f"this token is scoped to {kind} {scope_id}: it may call only operations about it"
                       + ("" if a.target else f" ({op.op_id} is account-wide)"), field="authorization")


@contextmanager
def acting(op: Operation, principal: Principal) -> Iterator[None]:
    """Around the handler: an admin's break-glass operation may act on any account's app."""
    from ledger.core import break_glass

    a = op.access
    with break_glass() if a is not None and a.break_glass and principal.role == ADMIN else nullcontext():
        yield


# -- what a request names ----------------------------------------------------------------------


def _value(where: str, call: Call) -> Any:
    place, _, name = where.partition(".")
    if place == "path":
        return call.path.get(name)
    if place == "body":
        return call.body.get(name)
    values = call.query.get(name)
    return values[0] if values else None


def _ids(value: Any, what: str) -> list[str]:
    from ledger.application import parse_id

    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    return [str(parse_id(v, what)) for v in values]


def _named(target: str, kind: str, call: Call) -> list[str]:
    """The ids of ``kind`` (app or api) the request names at ``target`` (none: it names none)."""
    from ledger import rules

    ledger = call.ledger
    try:
        if target.startswith("key:"):
            if kind != "app":
                return []
            key = _value(target[4:], call)
            return [] if key is None else [str(ledger.app_id_for_key(rules.app_key(key)))]
        if target.startswith("code:"):
            if kind != "app":
                return []
            code = _value(target[5:], call)
            return [] if code is None else [str(ledger.app_id_for_code(rules.app_code(code)))]
        if target == "credential":
            return [] if kind != "app" else _credential_app(ledger, call.body.get("app_key"), call.body.get("app_code"))
        if target == "request":
            if kind != "app":
                return []
            cred = request_credential(call.body.get("request"))
            return [] if cred is None else _credential_app(ledger, *cred)
    except (KeyPairNotFound, AppCodeNotFound):
        return []
    name = target.partition(".")[2]
    if not name.startswith(kind + "_"):
        return []
    return _ids(_value(target, call), kind)


def _credential_app(ledger: Any, app_key: str | None, app_code: str | None) -> list[str]:
    try:
        if isinstance(app_key, str):
            return [str(ledger.app_id_for_key(app_key))]
        if isinstance(app_code, str):
            return [str(ledger.app_id_for_code(app_code))]
    except LedgerError:
        pass
    return []


def credential_owner(ledger: Any, app_key: str | None, app_code: str | None) -> str | None:
    """The account whose app holds this AppKey or AppCode (ever), else None."""
    found = _credential_app(ledger, app_key, app_code)
    if not found:
        return None
    try:
        return str(ledger.get_app(found[0]).owner)
    except LedgerError:  # pragma: no cover - a claim names an existing app
        return None


def request_credential(raw: Any) -> tuple[str | None, str | None] | None:
    """(AppKey, AppCode) a raw request authenticates with, as the verifier reads them; None
    if it names neither (or does not parse)."""
    from authledger.gateway.verifier import _query_app_code
    from authledger.gateway.raw_request import parse_http_request

    if not isinstance(raw, str):
        return None
    try:
        _method, _path, query, headers, _body = parse_http_request(raw.encode("utf-8", "surrogatepass"))
    except LedgerError:
        return None
    hmap = {n.lower(): v for n, v in headers}
    auth = hmap.get("authorization", "")
    if auth[:8].upper() == "APPCODE ":
        return None, auth[8:]
    if "x-ca-key" in hmap:
        return hmap["x-ca-key"], None
    code = _query_app_code(query) if query else None
    return (None, code) if code is not None else None


# -- the table, for people ---------------------------------------------------------------------

_OTHERS = {
    "own": "— (acts on its own account)",
    "public": "answered (public view)",
    "forbidden": "403",
    "hidden": "404, as for an unknown id",
}


def roles_text(a: Access | None) -> str:
    """One line for the OpenAPI description: who may call it."""
    if a is None:
        return "Nobody (no access rule declared)."
    roles = ", ".join(a.roles)
    text = f"Roles: {roles} ({a.kind})."
    if a.kind == READ and AUDITOR in a.roles:
        text += " Auditors and admins read every account."
    if a.break_glass:
        text += " Break-glass: an admin may do it on any account (attributed to the admin)."
    text += f" Another account's caller: {_OTHERS[a.others]}."
    text += (" Scoped tokens: only about their app or API." if a.target
             else " Not for app- or API-scoped tokens.")
    return text


def markdown_table(operations: list[Operation]) -> str:
    """The 'who may do what' table of docs/roles.md, generated from the operation table."""
    rows = ["| Operation | Method and path | Kind | owner | auditor | admin | An owner asking about another account's | App- or API-scoped token |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for op in operations:
        a = op.access
        if a is None:
            rows.append(f"| `{op.op_id}` | `{op.method} {op.path}` | — | no | no | no | — | no |")
            continue

        def cell(role: str, a: Access = a) -> str:
            if role not in a.roles:
                return "no"
            if role != OWNER and (a.kind == READ or role == AUDITOR):
                return "every account"
            if role == ADMIN and a.break_glass:
                return "any account (break-glass)"
            if a.others == "own":
                return "own account"
            if a.others == "public":
                return "yes (public)" if not a.target else "own; others' public view"
            return "own only"

        scoped = "about its app/API" if a.target else "no"
        rows.append(f"| `{op.op_id}` | `{op.method} {op.path}` | {a.kind} | {cell(OWNER)} | {cell(AUDITOR)} | "
                    f"{cell(ADMIN)} | {_OTHERS[a.others]} | {scoped} |")
    return "\n".join(rows) + "\n"


def _regenerate_docs(path: str = "docs/roles.md") -> None:
    """Rewrite the table between the markers of docs/roles.md (``python -m authledger.service.permissions``)."""
    from pathlib import Path

    from authledger.service.admin import OPERATIONS

    doc = Path(path)
    text = doc.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    doc.write_text(head + BEGIN + "\n" + markdown_table(OPERATIONS) + END + tail)


BEGIN, END = "<!-- who-may-do-what: generated by `python -m authledger.service.permissions` -->", "<!-- end -->"

if __name__ == "__main__":  # pragma: no cover
    _regenerate_docs()
