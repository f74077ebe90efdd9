"""Access control as users meet it on a live all-in-one (``gridtwin up``), through the CLI and REST: a
viewer reads but may not run a job (403), a user of site north never sees site south's feeders, a wrong
password fails with a clear message and writes nothing, the credentials file is 0600 and refused when
others may read it, API keys for CI carry their own role and sites and stop at once when revoked, logout
ends a session at once, users are managed by the admin only, and the audit log has it all."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_support import IEEE13_DIR
from live_support import ADMIN, Live, running_gridtwin

NORTH, SOUTH = "north13", "south13"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with running_gridtwin(tmp_path_factory.mktemp("access-live")) as live:
        for feeder, site in ((NORTH, "north"), (SOUTH, "south")):
            done = live.cli("import", "opendss", str(IEEE13_DIR), "--feeder", feeder, "--site", site)
            assert done.returncode == 0, done.stdout + done.stderr
        yield live


def _json(done: Any) -> Any:
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def _feeder_ids(done: Any) -> list[str]:
    return sorted(f["id"] for f in _json(done)["feeders"])


def test_a_viewer_reads_but_may_not_run_a_job(live: Live) -> None:
    viewer = live.as_user("vera", "viewer", ["north"])
    assert _feeder_ids(viewer.cli("feeders", "list", "--json")) == [NORTH]
    run = viewer.cli("qsts", "run", "--feeders", NORTH, "--hours", "24")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "not allowed (403" in run.stderr and "as vera" in run.stderr, run.stderr
    assert viewer.api("POST", "/jobs", json={"feeders": [NORTH], "hours": 24}).status_code == 403
    assert live.api("GET", "/jobs").json()["total"] == 0  # nothing was started


def test_a_user_of_one_site_does_not_see_another_sites_feeders(live: Live) -> None:
    ana = live.as_user("ana", "analyst", ["north"])
    assert _feeder_ids(ana.cli("feeders", "list", "--json")) == [NORTH]
    assert _json(ana.cli("feeders", "list", "--site", "south", "--json"))["feeders"] == []
    twin = ana.cli("twin", "get", f"{SOUTH}.loads.671")
    assert twin.returncode == 1 and "not found" in twin.stderr.lower(), twin.stderr
    snap = ana.cli("powerflow", "snapshot", "--feeder", SOUTH)
    assert snap.returncode == 1 and "not found" in snap.stderr.lower(), snap.stderr
    own = _json(ana.cli("powerflow", "snapshot", "--feeder", NORTH, "--json"))
    assert own["converged"]
    query = ana.cli("twin", "query", "--feeder", SOUTH, "--json")
    assert (query.returncode == 0 and json.loads(query.stdout) == []) or "not found" in query.stderr.lower()
    assert _feeder_ids(live.cli("feeders", "list", "--json")) == [NORTH, SOUTH]  # the admin sees both
    assert ana.cli("users", "list").returncode == 1  # not an admin
    audit = ana.cli("audit")
    assert audit.returncode == 1 and "not allowed (403" in audit.stderr
    # Her own password: asked for the current one; her sessions end, and the CLI logs in again with it.
    new = f"new-{ana.password}"
    changed = ana.cli("users", "password", "--password-stdin", input=f"{ana.password}\n{new}\n")
    assert changed.returncode == 0 and "logged in again" in changed.stdout, changed.stdout + changed.stderr
    assert _feeder_ids(ana.cli("feeders", "list", "--json")) == [NORTH]
    assert ana.api("GET", "/auth/me").status_code == 401  # the session from the old password ended


def test_login_with_a_wrong_password_fails_clearly_and_keeps_nothing(live: Live) -> None:
    stranger = live.client(ADMIN, "not the password")
    wrong = stranger.cli("login", "--username", ADMIN, "--password-stdin", input="not the password\n")
    assert wrong.returncode == 1
    assert "login failed: wrong username or password" in wrong.stderr, wrong.stderr
    assert "not the password" not in wrong.stdout + wrong.stderr
    assert not (stranger.config_dir / "gridtwin" / "credentials.json").exists()
    nobody = stranger.cli("login", "--username", "nobody-here", "--password-stdin", input="whatever it is\n")
    assert nobody.returncode == 1 and "wrong username or password" in nobody.stderr  # the same answer
    logins = _json(live.cli("audit", "--action", "POST /api/v1/auth/token", "--outcome", "failed", "--json"))
    assert {e["actor"] for e in logins["entries"]} >= {ADMIN, "nobody-here"}
    assert "not the password" not in json.dumps(logins)  # no password in the audit log


def test_the_credentials_file_is_private_and_refused_when_it_is_not(live: Live) -> None:
    admin = live.admin
    path = admin.config_dir / "gridtwin" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert live.admin_password not in path.read_text()
    other = live.client(ADMIN, live.admin_password).login()
    mine = other.config_dir / "gridtwin" / "credentials.json"
    os.chmod(mine, 0o644)
    refused = other.cli("feeders", "list")
    assert refused.returncode == 1 and "may be read by other users (mode 0644)" in refused.stderr
    assert "chmod 600" in refused.stderr
    os.chmod(mine, 0o600)
    assert other.cli("feeders", "list").returncode == 0


def test_api_keys_for_ci_and_logout(live: Live, tmp_path: Path) -> None:
    made = _json(live.cli("keys", "create", "ci", "--role", "viewer", "--site", "north", "--json"))
    secret = made["secret"]
    assert secret.startswith("gtk_")
    as_key = {"GRIDTWIN_TOKEN": secret, "XDG_CONFIG_HOME": str(tmp_path / "ci")}  # no login at all
    assert _feeder_ids(live.admin.cli("feeders", "list", "--json", env=as_key)) == [NORTH]
    run = live.admin.cli("qsts", "run", "--feeders", NORTH, "--hours", "24", env=as_key)
    assert run.returncode == 1 and "403" in run.stderr
    listed = live.cli("keys", "list")
    assert listed.returncode == 0 and "ci" in listed.stdout and secret not in listed.stdout
    key_id = made["id"]
    assert live.cli("keys", "revoke", key_id).returncode == 0
    revoked = live.admin.cli("feeders", "list", env=as_key)
    assert revoked.returncode == 1 and "refused the token in GRIDTWIN_TOKEN" in revoked.stderr
    assert secret not in revoked.stderr

    session = live.client(ADMIN, live.admin_password).login()
    old = session.headers  # the REST session's token stays valid; the CLI's own session ends
    assert session.cli("logout").returncode == 0
    after = session.cli("whoami")
    assert after.returncode == 1 and "not logged in" in after.stderr
    assert session.api("GET", "/auth/me", headers=old).status_code == 200  # another session: untouched
    ended = session.api("POST", "/auth/logout", json={"refresh_token": session.refresh_token}, headers=old)
    assert ended.status_code == 204, ended.text
    assert session.api("GET", "/auth/me", headers=old).status_code == 401  # its access token: at once


def test_users_are_managed_by_the_admin_and_a_removed_user_is_out_at_once(live: Live) -> None:
    olga = live.as_user("olga", "operator", ["south"])
    assert _feeder_ids(olga.cli("feeders", "list", "--json")) == [SOUTH]
    users = {u["username"]: u for u in _json(live.cli("users", "list", "--json"))["users"]}
    assert users["olga"]["role"] == "operator" and users["olga"]["sites"] == ["south"]
    changed = live.cli("users", "update", "olga", "--role", "viewer", "--site", "north")
    assert changed.returncode == 0, changed.stderr
    assert _feeder_ids(olga.cli("feeders", "list", "--json")) == [NORTH]  # the new sites, at once
    assert live.cli("users", "delete", "olga", "--yes").returncode == 0
    gone = olga.cli("feeders", "list")
    assert gone.returncode == 1 and "gridtwin login" in gone.stderr, gone.stderr
    deletes = _json(live.cli("audit", "--action", "DELETE /api/v1/users", "--json"))
    assert deletes["total"] >= 1 and deletes["entries"][0]["actor"] == ADMIN
