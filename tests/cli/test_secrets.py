"""No AppSecret or AppCode printed by a create/add/reset ever reaches the database file
or any later output."""

from __future__ import annotations

from tests.conftest import raw_store_bytes


from tests.cli.conftest import Run, make_api


def test_secrets_shown_once_are_nowhere_in_the_db_files_or_later_output(run: Run, db_path: str) -> None:
    secrets: set[str] = set()
    api_id = make_api(run)

    def keep(data: dict[str, object]) -> dict[str, object]:
        for name in ("app_secret", "app_code"):
            if name in data:
                secrets.add(str(data[name]))
        return data

    generated = keep(run("--json", "app", "create", "--owner", "c", "--name", "gen_app").json)
    custom = keep(run("--json", "app", "create", "--owner", "c", "--name", "custom_app", "--app-key", "CUSTKEY001",
                      "--app-secret", "Custom-Secret-Value-0001", "--app-code", "CustomAppCode00000001").json)
    app_ids = [str(generated["app_id"]), str(custom["app_id"])]
    for app_id in app_ids:
        keep(run("--json", "key", "add", app_id, "--actor", "c").json)
        keep(run("--json", "code", "add", app_id, "--actor", "c").json)
        run("grant", "--actor", "provider", "--app", app_id, "--api", api_id, "--stage", "RELEASE")
    keep(run("--json", "key", "add", app_ids[1], "--actor", "c", "--app-key", "CUSTKEY002",
             "--app-secret", "Custom-Secret-Value-0002").json)
    keep(run("--json", "key", "reset", "CUSTKEY001", "--actor", "c", "--new-app-secret", "Custom-Secret-Value-0003").json)
    keep(run("--json", "key", "reset", "CUSTKEY002", "--actor", "c", "--new-app-key", "CUSTKEY003").json)
    keep(run("--json", "key", "reset", str(generated["app_key"]), "--actor", "c").json)
    keep(run("--json", "code", "reset", "CustomAppCode00000001", "--actor", "c", "--new-code", "CustomAppCode00000002").json)
    keep(run("--json", "code", "reset", str(generated["app_code"]), "--actor", "c").json)
    human = run("code", "add", app_ids[0], "--actor", "c").out  # human output reveals it too, once
    secrets.add(human.split("app_code:")[1].split()[0])
    assert len(secrets) == 15 and all(len(s) >= 16 for s in secrets)

    # Check the raw bytes of the database (and its WAL/SHM files) hold none of them.
    raw = raw_store_bytes(db_path)  # the SQLite files, or PostgreSQL's stored rows
    for secret in secrets:
        assert secret.encode() not in raw, f"a secret is in plaintext in {db_path}"

    # Check every later view masks them.
    outputs = []
    for fmt in ((), ("--json",)):
        outputs.append(run(*fmt, "api", "show", api_id).out)
        outputs.append(run(*fmt, "app", "list").out)
        for app_id in app_ids:
            outputs.append(run(*fmt, "app", "show", app_id, "--actor", "c").out)
            outputs.append(run(*fmt, "app", "show", app_id).out)
            outputs.append(run(*fmt, "key", "list", app_id, "--actor", "c").out)
    assert all(outputs)
    for out in outputs:
        for secret in secrets:
            assert secret not in out
    assert "********" in outputs[4] and "CUSTKEY003" in run("key", "list", app_ids[1], "--actor", "c").out
