"""Through real nginx and real Caddy: no encoding of a path reaches a protected backend path,
and a client's X-Ca-Api-Id never chooses the API.

nginx or Caddy (the shipped configs, examples/) → `authledger serve` → a backend that serves both the granted
``/v1/weather/{city}`` and a protected ``/v1/admin/{op}`` (registered, granted to nobody).
Every request is signed by an app granted the weather API, over the raw path and over its
decoded form; the backend records every path it receives, and none may mean /v1/admin.
"""

from __future__ import annotations

import json
import os
import time
import uuid
import posixpath
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authledger.gateway import signing
from tests.gateway.test_paths import REFUSED
from tests.service import harness

KEY, SECRET = "weather-key-0001", "WeatherSecret-0123456789abcdef"
GATEWAY_SECRET = "gw-proof-0123456789abcdef-xyz"

PROXIES = ("nginx", "caddy")  # both installed by scripts/test


class Backend:
    """Serves /v1/weather/* and the protected /v1/admin/*; records every path it receives."""

    def __init__(self) -> None:
        self.port = harness.free_port()
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                backend.paths.append(self.path)
                backend.headers.append({k.lower(): v for k, v in self.headers.items()})
                data = json.dumps({"path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Site:
    port: int
    backend: Backend
    proxy: str
    ids: dict[str, str] = field(default_factory=dict)


def _admin(port: int, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", path, body=json.dumps(body), headers={"Authorization": f"Bearer {token}",
                                                              "Content-Type": "application/json"})
    r = conn.getresponse()
    out: dict[str, Any] = json.loads(r.read() or b"{}")
    assert r.status < 300, out
    return out


def _signed(path: str, query: str = "") -> list[tuple[str, str]]:
    """Headers of a request signed by the weather app over ``path`` (whatever it holds)."""
    headers = [("Accept", "application/json"), ("X-Ca-Key", KEY), ("X-Ca-Nonce", str(uuid.uuid4())),
               ("X-Ca-Timestamp", str(int(time.time() * 1000))),
               ("X-Ca-Signature-Headers", "X-Ca-Key,X-Ca-Nonce,X-Ca-Timestamp")]
    sts = signing.string_to_sign("GET", path, query, headers, None)
    return [*headers, ("X-Ca-Signature", signing.sign(SECRET, sts))]


def _send(port: int, target: str, headers: list[tuple[str, str]]) -> tuple[int, dict[str, str]]:
    """GET ``target`` exactly as given (no client-side encoding or checks), over a raw socket."""
    head = f"GET {target} HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n"
    head += "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode("utf-8", "surrogateescape"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    return status, {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}


def _means_admin(path: str) -> bool:
    """Could the most forgiving backend read ``path`` as /v1/admin...?"""
    for _ in range(3):
        path = unquote(path, errors="replace")
    path = path.replace("\\", "/").replace("\x00", "")
    path = "/".join(segment.split(";")[0] for segment in path.split("/"))
    return posixpath.normpath(path).lower().startswith("/v1/admin")


def _proxy(name: str, prefix: Path, admin_port: int, backend_port: int, **kw: Any) -> Any:
    return (harness.nginx if name == "nginx" else harness.caddy)(prefix, admin_port, backend_port, **kw)


@pytest.fixture(scope="module", params=PROXIES)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    proxy: str = request.param
    tmp: Path = tmp_path_factory.mktemp(f"paths-{proxy}")
    db = str(tmp / "ledger.db")
    token = harness.cli(db, "token", "create", "--account", "acme")["token"]
    backend = Backend()
    try:
        with mock.patch.dict(os.environ, {"AUTHLEDGER_GATEWAY_SECRET": GATEWAY_SECRET}), \
                harness.serve(db) as admin_port, \
                _proxy(proxy, tmp / proxy, admin_port, backend.port) as port:
            ids = {
                "weather": _admin(admin_port, token, "/v1/apis",
                                  {"name": "weather", "method": "GET", "path": "/v1/weather/{city}"})["api_id"],
                "admin": _admin(admin_port, token, "/v1/apis",
                                {"name": "admin", "method": "GET", "path": "/v1/admin/{op}"})["api_id"],
                "app": _admin(admin_port, token, "/v1/apps",
                              {"name": "weatherApp", "app_key": KEY, "app_secret": SECRET})["app_id"],
            }
            _admin(admin_port, token, "/v1/grants", {"app_id": ids["app"], "api_id": ids["weather"], "stage": "RELEASE"})
            s = Site(port, backend, proxy, ids)
            s.ids["admin_port"] = str(admin_port)
            yield s
    finally:
        backend.close()


def _attempt(site: Site, path: str) -> None:
    """Send ``path`` signed over the raw and the decoded form; the backend never gets /v1/admin."""
    before = len(site.backend.paths)
    for signed_path in {path, unquote(path, errors="replace")}:
        status, headers = _send(site.port, path, _signed(signed_path))
        if status == 200:
            assert not _means_admin(site.backend.paths[-1]), (path, site.backend.paths[-1])
        else:
            assert len(site.backend.paths) == before, path
    assert not any(_means_admin(p) for p in site.backend.paths[before:]), path


def test_control_the_granted_path_reaches_the_backend_and_the_protected_one_is_refused(site: Site) -> None:
    assert _send(site.port, "/v1/weather/paris", _signed("/v1/weather/paris"))[0] == 200
    assert site.backend.paths[-1] == "/v1/weather/paris"
    status, headers = _send(site.port, "/v1/admin/drop", _signed("/v1/admin/drop"))
    assert (status, headers["x-ca-error-message"]) == (403, "Unauthorized")


def test_a_client_cannot_forge_what_the_backend_learns_about_the_caller(site: Site) -> None:
    """Attack: a client sends its own X-Ca-App-Id and CaAppExtInfo (the weather app has no
    extension, so the check sends none): the backend must only see what the check set."""
    forged = [*_signed("/v1/weather/rome"), ("X-Ca-App-Id", "someone-else"), ("CaAppExtInfo", '{"admin":true}')]
    assert _send(site.port, "/v1/weather/rome", forged)[0] == 200
    seen = site.backend.headers[-1]
    assert seen["x-ca-app-id"] == site.ids["app"] and seen["x-ca-key"] == KEY and seen["x-ca-stage"] == "RELEASE"
    assert "caappextinfo" not in seen or seen["caappextinfo"] == ""


def test_an_encoded_path_is_signed_and_routed_in_its_decoded_form(site: Site) -> None:
    assert _send(site.port, "/v1/weather/s%C3%A3o", _signed("/v1/weather/s\u00e3o"))[0] == 200
    assert site.backend.paths[-1] == "/v1/weather/s%C3%A3o"  # forwarded as sent, decoding once gives the same


def test_encoded_slash_traversal_to_admin_is_refused_invalid_url(site: Site) -> None:
    path = "/v1/weather/..%2F..%2Fv1%2Fadmin%2Fdrop"
    status, headers = _send(site.port, path, _signed(path))
    assert (status, headers["x-ca-error-message"]) == (400, "Invalid Url")
    _attempt(site, path)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_known_path_trick_never_reaches_the_protected_backend_path(site: Site, name: str) -> None:
    trick = REFUSED[name]
    if not trick.startswith("/"):
        return  # not a request target nginx accepts at all
    # The trick as it is, and aimed at the admin API from the granted prefix.
    _attempt(site, trick)
    _attempt(site, trick.replace("/admin", "/v1/admin") if "admin" in trick else trick + "/../../admin/drop")


_DOT = st.sampled_from([".", "%2e", "%2E", "%252e", "%c0%ae"])
_SEP = st.sampled_from(["/", "%2f", "%2F", "\\", "%5c", "%5C", "%252f", "//", "/./", ";x/", "%3b/"])


@st.composite
def _traversals(draw: st.DrawFn) -> str:
    """/v1/weather/ then two "go up" steps spelled in any mix of encodings, then v1/admin/drop."""
    up = draw(_SEP).join(draw(_DOT) + draw(_DOT) for _ in range(2))
    rest = draw(_SEP).join(["v1", "admin", "drop"])
    head = draw(st.sampled_from(["/v1/weather/", "/v1/weather/x", "/v1/weather/x/"]))
    return head + draw(_SEP) + up + draw(_SEP) + rest


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=_traversals())
def test_no_generated_encoding_reaches_the_protected_backend_path(site: Site, path: str) -> None:
    _attempt(site, path)


def test_client_x_ca_api_id_does_not_choose_the_api(site: Site) -> None:
    # The client names the weather API (granted) for an admin path, even with the proof
    # header: nginx drops both, authledger resolves /v1/admin/drop → not granted.
    before = len(site.backend.paths)
    headers = [*_signed("/v1/admin/drop"), ("X-Ca-Api-Id", site.ids["weather"]),
               ("X-Authz-Gateway-Secret", GATEWAY_SECRET)]
    status, out = _send(site.port, "/v1/admin/drop", headers)
    assert (status, out["x-ca-error-message"]) == (403, "Unauthorized")
    assert len(site.backend.paths) == before


def test_client_x_ca_api_id_sent_straight_to_authz_does_not_choose_the_api(site: Site) -> None:
    # Without nginx: the header alone, or with a wrong proof, is ignored.
    port = int(site.ids["admin_port"])
    for extra in ([], [("X-Authz-Gateway-Secret", "wrong-" + GATEWAY_SECRET)]):
        headers = [*_signed("/v1/admin/drop"), ("X-Original-Method", "GET"), ("X-Original-URI", "/v1/admin/drop"),
                   ("X-Ca-Api-Id", site.ids["weather"]), *extra]
        status, out = _send(port, "/authz", headers)
        assert (status, out["x-ca-error-message"]) == (403, "Unauthorized")
    # With the gateway's proof the gateway's choice counts.
    headers = [*_signed("/v1/admin/drop"), ("X-Original-Method", "GET"), ("X-Original-URI", "/v1/admin/drop"),
               ("X-Ca-Api-Id", site.ids["weather"]), ("X-Authz-Gateway-Secret", GATEWAY_SECRET)]
    assert _send(port, "/authz", headers)[0] == 200


def test_a_location_pinned_by_the_gateway_with_the_proof_names_the_api(site: Site, tmp_path: Path) -> None:
    api = site.ids["weather"]
    if site.proxy == "nginx":
        shipped = harness.NGINX_CONF.read_text()
        pinned = (shipped.replace('set $authledger_api_id "";', f'set $authledger_api_id "{api}";')
                  .replace('proxy_set_header X-Authz-Gateway-Secret "";',
                           f'proxy_set_header X-Authz-Gateway-Secret "{GATEWAY_SECRET}";'))
        conf = tmp_path / "pinned.conf"
    else:
        shipped = harness.CADDY_CONF.read_text()
        pinned = shipped.replace("header_up X-Authz-Mode forward_auth\n", "header_up X-Authz-Mode forward_auth\n"
                                 f"\t\t\theader_up X-Ca-Api-Id {api}\n"
                                 f"\t\t\theader_up X-Authz-Gateway-Secret {GATEWAY_SECRET}\n")
        conf = tmp_path / "Caddyfile.pinned"
    assert pinned.count(api) == 1 and GATEWAY_SECRET in pinned
    conf.write_text(pinned)
    with _proxy(site.proxy, tmp_path / site.proxy, int(site.ids["admin_port"]), site.backend.port, conf=conf) as port:
        assert _send(port, "/legacy/forecast", _signed("/legacy/forecast"))[0] == 200
        assert site.backend.paths[-1] == "/legacy/forecast"
