"""``gridtwin admin create`` on the local database, and what ``gridtwin up`` does before serving: its
signing secrets kept 0600 in the data folder (the environment's win), and the first admin."""

from __future__ import annotations

import json
import os
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cli_support import invoke
from gridtwin.access.passwords import verify_password
from gridtwin.cli.up import SECRETS_FILE, bootstrap_admin, load_secrets, with_secrets
from gridtwin.config import Settings
from gridtwin.store.accounts import AccountStore
from gridtwin.store.db import make_engine
from pydantic import SecretStr


@pytest.fixture(autouse=True)
def no_gridtwin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GRIDTWIN_"):
            monkeypatch.delenv(name)


def _accounts(data_dir: Path) -> AccountStore:
    return AccountStore(make_engine(f"sqlite:///{data_dir / 'gridtwin.db'}"))


def test_admin_create_then_reset_a_lost_password(tmp_path: Path) -> None:
    made = invoke("admin", "create", "--username", "root", "--password-stdin", "--data-dir", str(tmp_path),
                  input="first long password\n")  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "created root: role admin, every site" in made.output and "first long password" not in made.output
    accounts = _accounts(tmp_path)
    user = accounts.user("root")
    assert user.role.value == "admin" and user.sites == frozenset({"*"})
    assert verify_password(user.password_hash, "first long password")

    accounts.login_failed("root", max_failures=1, lock_for=timedelta(hours=1))
    accounts.update_user("root", disabled=True)
    reset = invoke("admin", "create", "-u", "root", "--generate-password", "--data-dir", str(tmp_path))
    assert reset.exit_code == 0, reset.output
    assert "reset the password of (unlocked, enabled; its sessions ended) root" in reset.output
    generated = reset.output.split("kept):")[1].split()[0]
    user = accounts.user("root")
    assert verify_password(user.password_hash, generated) and not user.disabled and user.locked_until is None
    entries, total = accounts.audit_entries(actor=None, action="users")
    assert total == 2 and {e["action"] for e in entries} == {"users.create", "users.password"}
    assert all(e["via"] == "local" for e in entries)

    viewer = invoke("admin", "create", "-u", "v", "--role", "viewer", "--password-stdin", "--data-dir",
                    str(tmp_path), input="viewer long password\n")  # fmt: skip
    assert viewer.exit_code == 1 and "needs its sites" in viewer.output
    short = invoke(
        "admin", "create", "-u", "x", "--password-stdin", "--data-dir", str(tmp_path), input="short\n"
    )
    assert short.exit_code == 1 and "password does not fit the policy" in short.output
    bad_name = invoke("admin", "create", "-u", "no spaces", "--password-stdin", "--data-dir", str(tmp_path),
                      input="a long enough one\n")  # fmt: skip
    assert bad_name.exit_code == 1 and "bad username" in bad_name.output


def test_secrets_are_made_once_private_and_the_environment_wins(tmp_path: Path) -> None:
    first = load_secrets(tmp_path)
    path = tmp_path / SECRETS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(first) == {"internal_secret", "jwt_secret"} and first["internal_secret"] != first["jwt_secret"]
    assert load_secrets(tmp_path) == first  # reused: sessions survive a restart
    settings = with_secrets(Settings(data_dir=tmp_path))
    assert settings.internal_secret is not None and settings.jwt_secret is not None
    assert settings.internal_secret.get_secret_value() == first["internal_secret"]
    given = Settings(data_dir=tmp_path, internal_secret=SecretStr("i" * 40), jwt_secret=SecretStr("j" * 40))
    chosen = with_secrets(given)
    assert chosen.internal_secret is not None and chosen.internal_secret.get_secret_value() == "i" * 40
    assert "i" * 40 not in repr(chosen)  # SecretStr: never printed
    os.chmod(path, 0o644)
    with pytest.raises(SystemExit, match="may be read by others"):
        load_secrets(tmp_path)
    os.chmod(path, 0o600)
    path.write_text(json.dumps({"internal_secret": "short"}))
    with pytest.raises(SystemExit, match="not readable"):
        load_secrets(tmp_path)


def test_the_first_admin_is_made_once(tmp_path: Path) -> None:
    boot = bootstrap_admin(Settings(data_dir=tmp_path))
    assert boot.created and boot.password and len(boot.password) >= 20
    assert verify_password(_accounts(tmp_path).user("admin").password_hash, boot.password)
    again = bootstrap_admin(Settings(data_dir=tmp_path))
    assert not again.created and again.password is None  # never shown again

    other = tmp_path / "other"
    other.mkdir()
    given = bootstrap_admin(Settings(data_dir=other, admin_password=SecretStr("from the environment")))
    assert given.created and given.password is None
    assert verify_password(_accounts(other).user("admin").password_hash, "from the environment")
    (tmp_path / "third").mkdir()
    with pytest.raises(SystemExit, match="GRIDTWIN_ADMIN_PASSWORD"):
        bootstrap_admin(Settings(data_dir=tmp_path / "third", admin_password=SecretStr("short")))
