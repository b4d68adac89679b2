"""The console's pages and forms.

Each GET renders a page from admin-API reads; each POST checks the session and its CSRF
token, runs one admin-API operation (``_run``) and either redirects to the page it changed
(Post/Redirect/Get) or, for an operation that reveals a secret, renders the one page that
shows it (``Cache-Control: no-store``; the form's idempotency key makes a re-sent form a
replay that reveals nothing). A failed operation re-renders the form with the ledger's
message next to the field it names, and changes nothing.

Headers on every page: a Content-Security-Policy with no inline script and nothing from
another origin, ``frame-ancestors 'none'``, ``same-origin`` referrers (no URL leaves for another site; with
``no-referrer`` a browser's form posts say ``Origin: null``), ``nosniff``, ``no-store``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from authledger.console.sessions import COOKIE, Session, Sessions, csrf_ok
from authledger.service.admin import BY_ID, _await_index, perform
from ledger.errors import InvalidInput, LedgerError, NotPermitted
from ledger.tokens import ADMIN, AUDITOR

HERE = Path(__file__).parent
PAGE_SIZE = 20
MAX_FIELD = 4096  # any one form field; the body as a whole is bounded by the server's limit
MAX_FIELDS = 250
STAGES = ("RELEASE", "PRE", "TEST")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
           "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}

_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)


class _Login(Exception):
    """No live session: go to the log-in page."""


class Context:
    """One console request: the service, the session and who it acts as."""

    def __init__(self, service: Any, sessions: Sessions, request: Request, session: Session, principal: Any) -> None:
        self.service, self.sessions, self.request = service, sessions, request
        self.session, self.principal = session, principal

    @property
    def account(self) -> str:
        return str(self.principal.account)

    @property
    def sees_all(self) -> bool:
        return self.principal.role in (AUDITOR, ADMIN)

    @property
    def writes(self) -> bool:
        return self.principal.role != AUDITOR and not self.principal.read_only

    async def op(self, op_id: str, path: dict[str, str] | None = None, body: dict[str, Any] | None = None,
                 query: dict[str, list[str]] | None = None, idempotency: str | None = None) -> dict[str, Any]:
        """Run an admin-API operation as this session's token (raises the ledger's error)."""
        op = BY_ID[op_id]

        def run() -> dict[str, Any]:
            result = perform(self.service, self.principal, op, path or {}, body or {}, query or {},
                             idempotency, source="console")
            position = result.get("position")
            if op.method != "GET" and isinstance(position, int):
                _await_index(self.service, position)  # the next page shows the change
            return result

        return await run_in_threadpool(run)

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        return render(template, status, ctx=self, csrf=self.session.csrf, **values)


def render(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = _env.get_template(template).render(stages=STAGES, **values)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _status(e: LedgerError) -> int:
    return e.http_status if 400 <= e.http_status < 500 or e.http_status == 503 else 500


def _error(e: LedgerError) -> dict[str, str]:
    """The ledger's error for the form: its message, under the field it names (or ``form``)."""
    return {(e.field or "form"): e.message}


def _field(form: FormData, name: str) -> str | None:
    """A text field, bounded; None when absent or blank."""
    value = form.get(name)
    if value is None or not isinstance(value, str):
        return None
    if len(value) > MAX_FIELD:
        raise InvalidInput(f"{name} is longer than {MAX_FIELD} characters", field=name)
    value = value.strip()
    return value or None


def _tags(text: str | None) -> dict[str, str]:
    """``KEY=VALUE`` lines (or comma-separated) into a dict; the ledger validates them."""
    tags: dict[str, str] = {}
    for part in (text or "").replace(",", "\n").splitlines():
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"a tag is KEY=VALUE, got {part[:40]!r}", field="tags")
        tags[key.strip()] = value.strip()
    return tags


def _until(form: FormData) -> dict[str, str]:
    """A validity period from the form: "no end", or an end time in UTC (the form's
    ``datetime-local`` value, or an ISO 8601 instant with its own timezone)."""
    if form.get("no_end"):
        return {}
    text = _field(form, "until")
    if text is None:
        raise InvalidInput("give an end time, or tick \u201cno end\u201d", field="until")
    if len(text) in (16, 19) and text[10:11] == "T" and text[-1].isdigit():  # datetime-local: UTC
        text += "Z"
    return {"until": text}


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # a fixed pattern, not input
MAX_LISTED = 5000  # what a page that lists "all" (menus, names) reads at most


async def _all(ctx: Context, op_id: str, query: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """Every item of a /v1 listing, page by page (bounded by ``MAX_LISTED``)."""
    out: list[dict[str, Any]] = []
    cursor = None
    while len(out) < MAX_LISTED:
        q = {**(query or {}), "limit": ["1000"], **({"cursor": [cursor]} if cursor else {})}
        page = await ctx.op(op_id, query=q)
        out += page["data"]
        cursor = page.get("next")
        if not cursor:
            break
    return out


class Console:
    """The console over one service; ``routes()`` mounts it at /console."""

    def __init__(self, service: Any) -> None:
        self.service = service
        self.sessions = Sessions()

    # -- plumbing ---------------------------------------------------------------------

    def _context(self, request: Request) -> Context:
        from ledger.tokens import principal_for_token

        session = self.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            raise _Login()
        principal = principal_for_token(self.service.ledger, session.token)
        if principal is None:  # revoked or expired since log-in: the session ends with it
            self.sessions.close(request.cookies.get(COOKIE))
            raise _Login()
        return Context(self.service, self.sessions, request, session, principal)

    def page(self, handler: Callable[[Context], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                ctx = self._context(request)
            except _Login:
                return _to_login(request)
            try:
                return await handler(ctx)
            except LedgerError as e:
                return ctx.render("error.html", _status(e), error=e.message)

        return endpoint

    def form(self, handler: Callable[[Context, FormData], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                ctx = self._context(request)
            except _Login:
                return _to_login(request)
            if not _same_origin(request):
                return ctx.render("error.html", 403, error="this form was sent from another site")
            try:
                form = await request.form(max_files=0, max_fields=MAX_FIELDS)
            except Exception:  # noqa: BLE001 - multipart's own errors: a malformed form
                return ctx.render("error.html", 400, error="the form could not be read")
            if not csrf_ok(ctx.session, form.get("csrf")):
                return ctx.render("error.html", 403, error="the form has expired or did not come from this "
                                  "console: reload the page and try again")
            try:
                return await handler(ctx, form)
            except LedgerError as e:
                return ctx.render("error.html", _status(e), error=e.message)

        return endpoint

    def routes(self) -> list[BaseRoute]:
        p, f = self.page, self.form
        return [
            Route("/console", _home, methods=["GET"]),
            Route("/console/login", self.login_page, methods=["GET"]),
            Route("/console/login", self.login, methods=["POST"]),
            Route("/console/logout", self.logout, methods=["POST"]),
            Route("/console/apps", p(self.apps), methods=["GET"]),
            Route("/console/apps/new", p(self.new_app), methods=["GET"]),
            Route("/console/apps/new", f(self.create_app), methods=["POST"]),
            Route("/console/apps/{app_id}", p(self.app), methods=["GET"]),
            Route("/console/apps/{app_id}/modify", f(self.modify_app), methods=["POST"]),
            Route("/console/apps/{app_id}/delete", f(self.delete_app), methods=["POST"]),
            Route("/console/apps/{app_id}/disable", f(self.disable_app), methods=["POST"]),
            Route("/console/apps/{app_id}/enable", f(self.enable_app), methods=["POST"]),
            Route("/console/apps/{app_id}/keys/add", f(self.add_key), methods=["POST"]),
            Route("/console/apps/{app_id}/keys/delete", f(self.delete_key), methods=["POST"]),
            Route("/console/apps/{app_id}/keys/reset", f(self.reset_key), methods=["POST"]),
            Route("/console/apps/{app_id}/codes/add", f(self.add_code), methods=["POST"]),
            Route("/console/apps/{app_id}/codes/delete", f(self.delete_code), methods=["POST"]),
            Route("/console/apps/{app_id}/codes/reset", f(self.reset_code), methods=["POST"]),
            Route("/console/apis", p(self.apis), methods=["GET"]),
            Route("/console/apis/{api_id}", p(self.api), methods=["GET"]),
            Route("/console/apis/{api_id}/authorize", f(self.authorize), methods=["POST"]),
            Route("/console/apis/{api_id}/revoke", f(self.revoke), methods=["POST"]),
            Route("/console/apis/{api_id}/end", f(self.change_end), methods=["POST"]),
            Route("/console/audit", p(self.audit), methods=["GET"]),
            Route("/console/audit/who", p(self.who_could_call), methods=["GET"]),
            Route("/console/audit/history", p(self.history), methods=["GET"]),
            Route("/console/audit/report", p(self.report), methods=["GET"]),
            Mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static"),
        ]

    # -- log-in -----------------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        return render("login.html", errors={}, next=_safe_next(request.query_params.get("next")))

    async def login(self, request: Request) -> Response:
        from ledger.tokens import principal_for_token

        if not _same_origin(request):
            return render("login.html", 403, errors={"form": "this form was sent from another site"}, next="")
        try:
            form = await request.form(max_files=0, max_fields=10)
        except Exception:  # noqa: BLE001
            return render("login.html", 400, errors={"form": "the form could not be read"}, next="")
        token = form.get("token")
        nxt = _safe_next(form.get("next") if isinstance(form.get("next"), str) else None)
        if not isinstance(token, str) or not token.strip() or len(token) > 512:
            return render("login.html", 400, errors={"token": "paste a token (authledger token create)"}, next=nxt)
        principal = await run_in_threadpool(principal_for_token, self.service.ledger, token.strip())
        if principal is None:
            return render("login.html", 401, errors={"token": "invalid, expired or revoked token"}, next=nxt)
        self.sessions.close(request.cookies.get(COOKIE))  # a new id at log-in: no session fixation
        sid, _session = self.sessions.open(token.strip())
        response = RedirectResponse(nxt or "/console/apps", status_code=303, headers=HEADERS)
        response.set_cookie(COOKIE, sid, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                            path="/console")
        return response

    async def logout(self, request: Request) -> Response:
        try:
            ctx = self._context(request)
        except _Login:
            return _to_login(request)
        form = await request.form(max_files=0, max_fields=10)
        if _same_origin(request) and csrf_ok(ctx.session, form.get("csrf")):
            self.sessions.close(request.cookies.get(COOKIE))
        response = RedirectResponse("/console/login", status_code=303, headers=HEADERS)
        response.delete_cookie(COOKIE, path="/console")
        return response

    # -- apps -------------------------------------------------------------------------

    async def apps(self, ctx: Context) -> Response:
        """A page of the apps through ``/v1/apps``' own paging and filters (the catalog index):
        a full App ID searches by id, other text by name; tags as KEY=VALUE, comma-separated."""
        qp = ctx.request.query_params
        q, tag = (qp.get("q") or "").strip()[:64], (qp.get("tag") or "").strip()[:256]
        cursor = (qp.get("cursor") or "")[:128]
        query: dict[str, list[str]] = {"limit": [str(PAGE_SIZE)]}
        if q:
            query["app_id" if _UUID.fullmatch(q.lower()) else "name"] = [q]
        if tag:
            query["tag"] = [t.strip() for t in tag.split(",") if t.strip()]
        if cursor:
            query["cursor"] = [cursor]
        errors: dict[str, str] = {}
        try:
            listing = await ctx.op("listApps", query=query)
            shown, nxt = listing["data"], listing.get("next")
        except LedgerError as e:
            errors, shown, nxt = _error(e), [], None

        def link(c: str | None) -> str:
            return "/console/apps?" + urlencode({k: v for k, v in (("q", q), ("tag", tag), ("cursor", c)) if v})

        return ctx.render("apps.html", apps=shown, q=q, tag=tag, total=len(shown),
                          first=link(None) if cursor else None, next=link(nxt) if nxt else None, errors=errors)

    async def new_app(self, ctx: Context) -> Response:
        return ctx.render("app_new.html", values={}, errors={}, idem=secrets.token_urlsafe(16))

    async def create_app(self, ctx: Context, form: FormData) -> Response:
        values = {k: _field(form, k) for k in ("name", "description", "tags", "extension", "app_key")}
        idem = _field(form, "idempotency") or secrets.token_urlsafe(16)
        try:
            body: dict[str, Any] = {k: values[k] for k in ("name", "description", "extension", "app_key") if values[k]}
            body["tags"] = _tags(values["tags"])
            for secret in ("app_secret", "app_code"):  # custom secrets: never echoed back into the form
                if (v := _field(form, secret)) is not None:
                    body[secret] = v
            result = await ctx.op("createApp", body=body, idempotency=idem)
        except LedgerError as e:
            return ctx.render("app_new.html", _status(e), values=values, errors=_error(e), idem=idem)
        return _revealed(ctx, result, f"/console/apps/{quote(result['app_id'])}", "App created", [
            ("App ID", result["app_id"], False), ("AppKey", result.get("app_key"), False),
            ("AppSecret", result.get("app_secret"), True), ("AppCode", result.get("app_code"), True)])

    async def app(self, ctx: Context) -> Response:
        app_id = ctx.request.path_params["app_id"]
        app = await ctx.op("showApp", path={"app_id": app_id})
        own = "key_pairs" in app  # the owner's view (others get the public view)
        grants = await _all(ctx, "listGrants", {"app_id": [app_id]}) if own else []
        return ctx.render("app.html", app=app, own=own, grants=grants, errors={},
                          idem=secrets.token_urlsafe(16))

    async def _app_action(self, ctx: Context, op_id: str, body: dict[str, Any] | None = None,
                          then: str | None = None) -> Response:
        app_id = ctx.request.path_params["app_id"]
        try:
            await ctx.op(op_id, path={"app_id": app_id}, body=body)
        except LedgerError as e:
            return await self._app_with_error(ctx, e)
        return _redirect(then or f"/console/apps/{quote(app_id)}")

    async def _app_with_error(self, ctx: Context, e: LedgerError) -> Response:
        app_id = ctx.request.path_params["app_id"]
        try:
            app = await ctx.op("showApp", path={"app_id": app_id})
        except LedgerError:
            return ctx.render("error.html", _status(e), error=e.message)
        own = "key_pairs" in app
        grants = await _all(ctx, "listGrants", {"app_id": [app_id]}) if own else []
        return ctx.render("app.html", _status(e), app=app, own=own, grants=grants, errors=_error(e),
                          idem=secrets.token_urlsafe(16))

    async def modify_app(self, ctx: Context, form: FormData) -> Response:
        try:
            body: dict[str, Any] = {"name": _field(form, "name") or "", "description": _field(form, "description") or "",
                                    "extension": _field(form, "extension") or "", "tags": _tags(_field(form, "tags"))}
        except LedgerError as e:
            return await self._app_with_error(ctx, e)
        if not body["name"]:
            body.pop("name")
        return await self._app_action(ctx, "modifyApp", body)

    async def delete_app(self, ctx: Context, _form: FormData) -> Response:
        return await self._app_action(ctx, "deleteApp", then="/console/apps")

    async def disable_app(self, ctx: Context, _form: FormData) -> Response:
        return await self._app_action(ctx, "disableApp")

    async def enable_app(self, ctx: Context, _form: FormData) -> Response:
        return await self._app_action(ctx, "enableApp")

    async def add_key(self, ctx: Context, form: FormData) -> Response:
        app_id = ctx.request.path_params["app_id"]
        body = {k: v for k in ("app_key", "app_secret") if (v := _field(form, k)) is not None}
        try:
            result = await ctx.op("addKey", path={"app_id": app_id}, body=body,
                                  idempotency=_field(form, "idempotency"))
        except LedgerError as e:
            return await self._app_with_error(ctx, e)
        return _revealed(ctx, result, f"/console/apps/{quote(app_id)}", "Key pair added", [
            ("AppKey", result.get("app_key"), False), ("AppSecret", result.get("app_secret"), True)])

    async def delete_key(self, ctx: Context, form: FormData) -> Response:
        app_id = ctx.request.path_params["app_id"]
        key = _field(form, "app_key") or ""
        try:
            await ctx.op("deleteKey", path={"app_id": app_id, "app_key": key})
        except LedgerError as e:
            return await self._app_with_error(ctx, e)
        return _redirect(f"/console/apps/{quote(app_id)}")

    async def reset_key(self, ctx: Context, form: FormData) -> Response:
        app_id = ctx.request.path_params["app_id"]
        key = _field(form, "app_key") or ""
        try:
            await self._owned_key(ctx, app_id, key)
            result = await ctx.op("resetKey", path={"app_key": key}, body={},
                                  idempotency=_field(form, "idempotency"))
        except LedgerError as e:
            return await self._app_with_error(ctx, e)
        return _revealed(ctx, result, f"/console/apps/{quote(app_id)}", "AppSecret reset", [
            ("AppKey", result.get("app_key"), False), ("AppSecret", result.get("app_secret"), True)])

    async def _owned_key(self, ctx: Context, app_id: str, key: str) -> None:
        """The key pair belongs to the app the page is about (else the same 404 as the API)."""
        await ctx.op("showKey", path={"app_id": app_id, "app_key": key})

    async def add_code(self, ctx: Context, form: FormData) -> Response:
        app_id = ctx.request.path_params["app_id"]
        body = {"code": v} if (v := _field(form, "code")) is not None else {}
        try:
            result = await ctx.op("addCode", path={"app_id": app_id}, body=body,
                                  idempotency=_field(form, "idempotency"))
        except LedgerError as e:
            return await self._app_with_error(ctx, e)
        return _revealed(ctx, result, f"/console/apps/{quote(app_id)}", "AppCode added",
                         [("AppCode", result.get("app_code"), True)])

    async def delete_code(self, ctx: Context, form: FormData) -> Response:
        return await self._app_action(ctx, "deleteCode", {"code": _field(form, "code") or ""})

    async def reset_code(self, ctx: Context, form: FormData) -> Response:
        app_id = ctx.request.path_params["app_id"]
        code = _field(form, "code") or ""
        try:
            result = await ctx.op("resetCode", body={"code": code}, idempotency=_field(form, "idempotency"))
        except LedgerError as e:
            return await self._app_with_error(ctx, e)
        return _revealed(ctx, result, f"/console/apps/{quote(app_id)}", "AppCode reset",
                         [("AppCode", result.get("app_code"), True)])

    # -- APIs and grants --------------------------------------------------------------

    async def apis(self, ctx: Context) -> Response:
        query = {} if ctx.sees_all else {"owner": [ctx.account]}
        apis = await _all(ctx, "listApis", query)
        return ctx.render("apis.html", apis=apis)

    async def api(self, ctx: Context, errors: dict[str, str] | None = None, status: int = 200,
                  values: dict[str, Any] | None = None) -> Response:
        api_id = ctx.request.path_params["api_id"]
        api = await ctx.op("showApi", path={"api_id": api_id})
        own = api["owner"] == ctx.account
        grants = await _all(ctx, "listGrants", {"api_id": [api_id]}) if own or ctx.sees_all else []
        q = (ctx.request.query_params.get("q") or "").strip()[:128]
        mine: list[dict[str, Any]] = []
        if own and ctx.writes:
            found = await ctx.op("listApps", query={"limit": ["100"], **({"name": [q]} if q else {})})
            mine = [a for a in found["data"] if a["status"] != "deleted"]
        return ctx.render("api.html", status, api=api, own=own, grants=grants, my_apps=mine[:100], q=q,
                          errors=errors or {}, values=values or {}, idem=secrets.token_urlsafe(16))

    async def authorize(self, ctx: Context, form: FormData) -> Response:
        api_id = ctx.request.path_params["api_id"]
        others = (_field(form, "other_app_ids") or "").replace(",", "\n").split()
        app_ids = list(dict.fromkeys([v for v in form.getlist("app_id") if isinstance(v, str)] + others))
        values = {"stage": _field(form, "stage"), "other_app_ids": _field(form, "other_app_ids") or "",
                  "until": _field(form, "until") or "", "no_end": bool(form.get("no_end"))}
        try:
            if not app_ids:
                raise InvalidInput("choose at least one app, or give an App ID", field="app_id")
            if len(app_ids) > 100:
                raise InvalidInput("at most 100 apps at once", field="app_id")
            body = {"app_id": app_ids, "api_id": api_id, "stage": values["stage"] or "", **_until(form)}
            await ctx.op("grant", body=body, idempotency=_field(form, "idempotency"))
        except LedgerError as e:
            return await self.api(ctx, _error(e), _status(e), values)
        return _redirect(f"/console/apis/{quote(api_id)}")

    async def revoke(self, ctx: Context, form: FormData) -> Response:
        api_id = ctx.request.path_params["api_id"]
        try:
            await ctx.op("revoke", body={"app_id": _field(form, "app_id") or "", "api_id": api_id,
                                         "stage": _field(form, "stage") or ""})
        except LedgerError as e:
            return await self.api(ctx, _error(e), _status(e))
        return _redirect(f"/console/apis/{quote(api_id)}")

    async def change_end(self, ctx: Context, form: FormData) -> Response:
        api_id = ctx.request.path_params["api_id"]
        try:
            body = {"app_id": _field(form, "app_id") or "", "api_id": api_id, "stage": _field(form, "stage") or "",
                    **_until(form)}
            await ctx.op("grant", body=body)
        except LedgerError as e:
            return await self.api(ctx, _error(e), _status(e))
        return _redirect(f"/console/apis/{quote(api_id)}")

    # -- audit ------------------------------------------------------------------------

    async def audit(self, ctx: Context) -> Response:
        digest = await ctx.op("auditDigest")
        query = {} if ctx.sees_all else {"owner": [ctx.account]}
        apis = await _all(ctx, "listApis", query)
        apps = await _all(ctx, "listApps")
        from authledger.reports.run import REPORTS
        from authledger.reports.render import FORMATS

        return ctx.render("audit.html", digest=digest, apis=apis, apps=apps, reports=sorted(REPORTS),
                          formats=FORMATS, errors={})

    async def who_could_call(self, ctx: Context) -> Response:
        qp = ctx.request.query_params
        query = {k: [v] for k in ("api_id", "stage", "at", "from", "to") if (v := (qp.get(k) or "").strip()[:64])}
        answer = await ctx.op("whoCouldCall", query=query)
        names = {a["app_id"]: a["name"] for a in await _all(ctx, "listApps")}
        svg = None
        if "intervals" in answer:
            from authledger.reports.timeline import svg as timeline
            from projections.temporal import to_micros

            svg = timeline(f"Who could call {answer['api_id']}", answer["intervals"], names,
                           to_micros(datetime.fromisoformat(answer["from"])),
                           to_micros(datetime.fromisoformat(answer["to"])))
        return ctx.render("who.html", answer=answer, names=names, svg=svg)

    async def history(self, ctx: Context) -> Response:
        qp = ctx.request.query_params
        query = {k: [v] for k in ("app_id", "api_id", "app_key") if (v := (qp.get(k) or "").strip()[:128])}
        answer = await ctx.op("history", query=query)
        return ctx.render("history.html", answer=answer, subject=query)

    async def report(self, ctx: Context) -> Response:
        """A compliance report, downloaded: auditors and admins (reports cover every account)."""
        from authledger.reports.run import REPORTS, generate
        from authledger.reports.render import FORMATS

        if not ctx.sees_all:
            raise NotPermitted("reports cover every account: auditors and admins only", field="report")
        qp = ctx.request.query_params
        name, fmt = qp.get("name") or "", qp.get("format") or "html"
        if name not in REPORTS:
            raise InvalidInput(f"unknown report (one of {', '.join(sorted(REPORTS))})", field="name")
        if fmt not in FORMATS:
            raise InvalidInput(f"unknown format (one of {', '.join(FORMATS)})", field="format")
        if self.service.db_path is None:
            raise InvalidInput("reports need a ledger file or database", field="db")
        text = await run_in_threadpool(generate, name, fmt, db=self.service.db_path)
        media = {"md": "text/markdown", "csv": "text/csv", "json": "application/json", "html": "text/html"}[fmt]
        headers = {**HEADERS, "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
                   "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox"}
        return Response(text, media_type=f"{media}; charset=utf-8", headers=headers)


def _revealed(ctx: Context, result: dict[str, Any], back: str, title: str,
              items: list[tuple[str, Any, bool]]) -> Response:
    """The one page that shows new secrets; a replayed form (same idempotency key) shows none."""
    replayed = result.get("replayed") is True
    shown = [(label, value, secret) for label, value, secret in items if value is not None]
    return ctx.render("revealed.html", title=title, items=shown, back=back, replayed=replayed)


def _redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303, headers=HEADERS)


def _to_login(request: Request) -> Response:
    nxt = request.url.path if request.method == "GET" else ""
    target = "/console/login" + (("?" + urlencode({"next": nxt})) if nxt and nxt != "/console/login" else "")
    response = RedirectResponse(target, status_code=303, headers=HEADERS)
    response.delete_cookie(COOKIE, path="/console")
    return response


def _safe_next(value: str | None) -> str:
    """A post-log-in target: a console path only (no open redirect, no scheme, no //host)."""
    if not value or len(value) > 256 or not value.startswith("/console/") or value.startswith("//") \
            or "\\" in value or any(ord(c) < 0x21 for c in value):
        return ""
    return value


def _same_origin(request: Request) -> bool:
    """A form post from this console: no Origin (old browsers, curl) or the request's own."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


async def _home(_request: Request) -> Response:
    return RedirectResponse("/console/apps", status_code=303, headers=HEADERS)


def routes(service: Any) -> list[BaseRoute]:
    """The console's routes over ``service`` (mounted by ``authledger serve``)."""
    return Console(service).routes()
