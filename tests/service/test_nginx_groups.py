"""Through real nginx (and Caddy) with the shipped configs: two tenants' API groups on two hosts.

Both groups hold an API with the same path; each tenant's app is granted only its own. A
request to each host reaches the backend only with that host's tenant's credentials, and a
client's own X-Original-Host cannot move a request into another tenant's group.
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aliyun_api_gateway import ApiGatewayClient, ApiGatewayRequest

from tests.service import harness

SECRET = "GroupsSecret-0123456789abcdef"


def _admin(port: int, token: str, method: str, path: str, body: Any = None) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, body=None if body is None else json.dumps(body),
                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    r = conn.getresponse()
    out = json.loads(r.read() or b"{}")
    conn.close()
    assert r.status < 300, out
    return out


def _send(port: int, host: str, key: str, path: str, extra: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    s = ApiGatewayClient(f"http://{host}", key, SECRET).sign(ApiGatewayRequest(method="GET", path=path))
    u = urlsplit(s.url)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", u.path, headers={**s.headers, "Host": host, **(extra or {})})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, (json.loads(data) if r.status == 200 else {"message": r.getheader("X-Ca-Error-Message")})


@contextmanager
def _world(tmp: Path, proxy: str) -> Iterator[tuple[int, dict[str, str], harness.EchoBackend]]:
    db = str(tmp / "ledger.db")
    tokens = {a: harness.cli(db, "token", "create", "--account", a)["token"] for a in ("acme", "globex")}
    with harness.EchoBackend() as backend, harness.serve(db) as admin:
        ids = {}
        for account, host in (("acme", "api.acme.test"), ("globex", "api.globex.test")):
            t = tokens[account]
            gid = _admin(admin, t, "POST", "/v1/groups", {"name": account})["group_id"]
            _admin(admin, t, "POST", f"/v1/groups/{gid}/hosts", {"host": host})
            api = _admin(admin, t, "POST", "/v1/apis", {"name": "weather", "method": "GET",
                                                       "path": "/v1/weather/{city}", "group_id": gid})["api_id"]
            app = _admin(admin, t, "POST", "/v1/apps", {"name": f"{account}App", "app_key": f"{account}-key-01",
                                                       "app_secret": SECRET})["app_id"]
            _admin(admin, t, "POST", "/v1/grants", {"app_id": app, "api_id": api, "stage": "RELEASE"})
            ids[account] = app
        proxy_cm = harness.nginx(tmp / "nginx", admin, backend.port) if proxy == "nginx" else \
            harness.caddy(tmp / "caddy", admin, backend.port)
        with proxy_cm as port:
            yield port, ids, backend


@pytest.mark.parametrize("proxy", ["nginx", "caddy"])
def test_two_groups_on_two_hosts_with_the_same_path_each_reach_their_own_api(
        tmp_path: Path, proxy: str) -> None:
    if not os.path.exists(harness.NGINX if proxy == "nginx" else harness.CADDY):
        pytest.fail(f"{proxy} is installed by scripts/test")
    with _world(tmp_path, proxy) as (port, ids, backend):
        for account, host in (("acme", "api.acme.test"), ("globex", "API.Globex.test")):
            status, body = _send(port, host, f"{account}-key-01", "/v1/weather/paris")
            assert status == 200, (proxy, account, body)
            echoed = {k.lower(): v for k, v in body["headers"]}
            assert echoed["x-ca-app-id"] == ids[account]
        hits = backend.hits
        # each tenant's credentials on the other's host: that group's API, not granted
        assert _send(port, "api.globex.test", "acme-key-01", "/v1/weather/paris") == (403, {"message": "Unauthorized"})
        assert _send(port, "api.acme.test", "globex-key-01", "/v1/weather/rome") == (403, {"message": "Unauthorized"})
        # a client's own X-Original-Host does not move it into the other group
        forged = {"X-Original-Host": "api.acme.test"}
        assert _send(port, "api.globex.test", "acme-key-01", "/v1/weather/x", forged)[0] == 403
        # a host bound to no group: neither API
        assert _send(port, "elsewhere.test", "acme-key-01", "/v1/weather/x") == (404, {"message": "Invalid Url"})
        assert backend.hits == hits, "a refused request reached the backend"
