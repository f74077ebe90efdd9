"""AccountStore contract suite on SQLite and MySQL (``gridtwin_test_accounts``, marker mysql): users and
lockout, API keys, rotating refresh-token families (reuse revokes the family), the append-only audit log
(the database itself refuses UPDATE and DELETE)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from gridtwin.access import Role
from gridtwin.errors import ConflictError, InputError, NotAuthenticatedError, NotFoundError
from gridtwin.store.accounts import AccountStore, AuditEntry
from store_support import migrated_engine

MYSQL_DB = "gridtwin_test_accounts"
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    with migrated_engine(request.param, MYSQL_DB, tmp_path_factory.mktemp("accounts")) as eng:
        yield eng


@pytest.fixture
def store(engine: sa.Engine) -> AccountStore:
    with engine.begin() as conn:
        for table in ("users", "api_keys", "refresh_tokens"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
    return AccountStore(engine)


def test_users_roles_sites_and_lockout(store: AccountStore) -> None:
    user = store.create_user("ana", "hash-1", "analyst", ["north", "south"])
    assert (user.role, user.sites, user.disabled) == (Role.ANALYST, frozenset({"north", "south"}), False)
    assert "hash-1" not in repr(user)  # never printed
    with pytest.raises(ConflictError):
        store.create_user("ana", "hash-2", "viewer", [])
    with pytest.raises(InputError):
        store.create_user("bad name!", "h", "viewer", [])
    with pytest.raises(InputError):
        store.create_user("eve", "h", "service", [])  # not a user's role
    with pytest.raises(InputError):
        store.create_user("eve", "h", "viewer", ["no spaces allowed"])
    for _ in range(2):
        assert store.login_failed("ana", max_failures=3, lock_for=HOUR) is not None
    locked = store.login_failed("ana", max_failures=3, lock_for=HOUR)
    assert locked is not None and locked.locked_until is not None and locked.locked_until > datetime.now(UTC)
    store.login_succeeded("ana")
    assert store.user("ana").locked_until is None
    changed = store.update_user("ana", role="operator", sites=["*"])
    assert changed.role == Role.OPERATOR and changed.principal().all_sites
    assert store.login_failed("nobody", max_failures=3, lock_for=HOUR) is None
    store.delete_user("ana")
    with pytest.raises(NotFoundError):
        store.user("ana")


def test_api_keys_shown_once_then_verified_by_hash(store: AccountStore) -> None:
    store.create_user("ci", "h", "operator", ["north"])
    record, secret = store.create_api_key("ci", "nightly", "viewer", ["north"])
    assert secret.startswith(f"gtk_{record.id}_")
    assert store.verify_api_key(secret).principal().role == Role.VIEWER
    assert store.api_key(record.id).last_used_at is not None
    for forged in (secret[:-2] + "xx", "gtk_nope_x", "not-a-key", ""):
        with pytest.raises(NotAuthenticatedError):
            store.verify_api_key(forged)
    store.revoke_api_key(record.id)
    with pytest.raises(NotAuthenticatedError):
        store.verify_api_key(secret)
    _, old = store.create_api_key("ci", "expired", "viewer", [], expires_at=datetime.now(UTC) - HOUR)
    with pytest.raises(NotAuthenticatedError):
        store.verify_api_key(old)
    store.delete_user("ci")  # the owner's keys die with them
    assert all(k.revoked_at is not None for k in store.api_keys("ci"))


def test_refresh_rotation_and_reuse_revokes_the_family(store: AccountStore) -> None:
    first, family = store.issue_refresh("ana", "password", HOUR)
    second, fam2, user, via = store.rotate_refresh(first, HOUR)
    assert (fam2, user, via) == (family, "ana", "password") and second != first
    with pytest.raises(NotAuthenticatedError) as info:
        store.rotate_refresh(first, HOUR)  # the spent one again: stolen
    assert info.value.details[0].code == "reused"
    assert store.family_revoked(family)
    with pytest.raises(NotAuthenticatedError):
        store.rotate_refresh(second, HOUR)  # the owner's current one died with the family
    other, other_family = store.issue_refresh("ana", "password", HOUR)
    assert store.revoke_family_of(other) == "ana" and store.family_revoked(other_family)
    stale, _ = store.issue_refresh("ana", "password", -HOUR)
    with pytest.raises(NotAuthenticatedError):
        store.rotate_refresh(stale, HOUR)


def test_audit_is_append_only_and_queryable(store: AccountStore, engine: sa.Engine) -> None:
    for i in range(3):
        store.audit(AuditEntry(actor="ana", action="login", outcome="ok" if i else "failed", ip="10.0.0.1"))
    rows, total = store.audit_entries(actor="ana", action="login", limit=2)
    assert total >= 3 and len(rows) == 2 and rows[0]["id"] > rows[1]["id"]
    failed, _ = store.audit_entries(actor="ana", outcome="failed")
    assert failed and all(r["outcome"] == "failed" for r in failed)
    for statement in ("UPDATE audit_log SET outcome = 'ok'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text(statement))
    assert store.audit_entries(actor="ana")[1] == total
