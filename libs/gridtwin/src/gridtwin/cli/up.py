"""``gridtwin up``: every service in this one process, on localhost, with embedded defaults.

Services are found through the ``gridtwin.services`` entry points. Each gRPC service gets its own
server on a free loopback port (or the address in ``GRIDTWIN_<NAME>_ADDR`` when one is set); the
gateway (an HTTP ``ServiceSpec``) runs uvicorn in a thread on ``--port``. One process means the
in-process Redis stand-in and the SQLite file are shared by all. SIGTERM or Ctrl-C drains everything
within the grace period.

Two installations never meet: the data folder is locked for the life of the process (a second
``gridtwin up`` on it stops at once, naming the first), the internal services take ports nobody else
holds, and a taken gateway port stops start-up before anything has started. Settings are read here,
once, and handed to every service; nothing writes the process environment.

Access control is on, always. The signing secrets (``internal_secret`` for the gateway's calls to the
services, ``jwt_secret`` for users' access tokens) are made on the first start and kept in
``{data_dir}/secrets.json`` (0600), unless the environment sets them. On a fresh install the
administrator ``admin`` is created before anything serves, with ``GRIDTWIN_ADMIN_PASSWORD`` or a
generated password printed once (only its hash is kept). The demo logs in as that admin through the
REST API with the password it knows; when it knows none (a later start without
``GRIDTWIN_ADMIN_PASSWORD``) it runs with a short-lived admin API key made here and revoked after it.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import logging
import os
import signal
import socket
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import IO, Annotated

import httpx
import typer
from pydantic import SecretStr

from gridtwin.access.passwords import hash_password
from gridtwin.access.roles import Role
from gridtwin.access.tokens import MIN_SECRET_BYTES, new_secret
from gridtwin.cli import session
from gridtwin.config import Settings
from gridtwin.errors import GridTwinError
from gridtwin.rpc.logging import setup_json_logging
from gridtwin.rpc.runner import RunningService, discover_services, start_grpc_services, stop_grpc_services
from gridtwin.rpc.server import GRACE_S, ServiceSpec
from gridtwin.rpc.telemetry import setup_telemetry, shutdown_telemetry

__all__ = [
    "SECRETS_FILE",
    "Bootstrap",
    "bootstrap_admin",
    "embedded_settings",
    "load_secrets",
    "run_demo",
    "up",
    "with_secrets",
]

log = logging.getLogger(__name__)


def embedded_settings(data_dir: Path, host: str, port: int) -> Settings:
    """Settings for the all-in-one mode: ``GRIDTWIN_*`` from the environment, then SQLite under
    ``data_dir`` (unless a database URL is set), in-process Redis (unless ``GRIDTWIN_REDIS_URL`` is
    set), the gateway on ``host:port``; imports may read the user's own folders (unless restricted)."""
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings()
    update: dict[str, object] = {"data_dir": data_dir, "host": host, "gateway_port": port}
    if "import_roots" not in settings.model_fields_set:
        # All-in-one runs as the user on their own machine: imports may read any of their folders.
        update["import_roots"] = [Path("/")]
    return settings.model_copy(update=update)


SECRETS_FILE = "secrets.json"
SECRET_NAMES = ("internal_secret", "jwt_secret")


def _private(path: Path) -> None:
    """Stop when ``path`` may be read by others or belongs to another user: it holds secrets."""
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != os.getuid() or mode & 0o077:
        raise SystemExit(
            f"cannot start: {path} holds the installation's signing secrets but may be read by others "
            f"(mode {mode:04o}, owner uid {info.st_uid}); make it private with `chmod 600 {path}` "
            "(as its owner), or delete it to make new ones (every session and token then ends)"
        )


def load_secrets(data_dir: Path) -> dict[str, str]:
    """The installation's signing secrets from ``{data_dir}/secrets.json``, made on the first start
    (0600, written once; a later start reuses them, so sessions survive a restart)."""
    path = data_dir / SECRETS_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secrets(path)
    made = {name: new_secret() for name in SECRET_NAMES}
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(made, fh, indent=1)
        fh.write("\n")
    return made


def _read_secrets(path: Path) -> dict[str, str]:
    _private(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        found = {name: str(doc[name]) for name in SECRET_NAMES}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SystemExit(
            f"cannot start: {path} is not readable as the installation's secrets ({exc})"
        ) from None
    short = [n for n, v in found.items() if len(v.encode()) < MIN_SECRET_BYTES]
    if short:
        raise SystemExit(f"cannot start: {path}: {', '.join(short)} shorter than {MIN_SECRET_BYTES} bytes")
    return found


def with_secrets(settings: Settings) -> Settings:
    """``settings`` with both signing secrets: the environment's when set, else the data folder's."""
    missing = [name for name in SECRET_NAMES if getattr(settings, name) is None]
    if not missing:
        return settings
    stored = load_secrets(settings.data_dir)
    return settings.model_copy(update={name: SecretStr(stored[name]) for name in missing})


@dataclass(frozen=True)
class Bootstrap:
    """What start-up did about the first admin: ``created`` on a fresh install, with ``password`` when
    it was generated (None when it came from GRIDTWIN_ADMIN_PASSWORD)."""

    created: bool
    password: str | None = field(default=None, repr=False)  # printed once, by ``up``, never logged


def bootstrap_admin(settings: Settings) -> Bootstrap:
    """On a fresh install (no user yet), the admin ``admin`` with every site; before anything serves,
    so the gateway finds it there. Brings the schema up to date first."""
    from gridtwin.store.accounts import AccountStore, ensure_admin
    from gridtwin.store.db import make_engine, migrate

    given = settings.admin_password.get_secret_value() if settings.admin_password is not None else None
    engine = make_engine(settings.resolved_database_url(), mysql_local_infile=settings.mysql_local_infile)
    try:
        migrate(engine)
        accounts = AccountStore(engine)
        if accounts.count_users():
            return Bootstrap(created=False)
        try:
            generated = ensure_admin(accounts, hash_password, given)
        except GridTwinError as exc:
            raise SystemExit(f"cannot start: GRIDTWIN_ADMIN_PASSWORD: {exc}") from None
        return Bootstrap(created=accounts.count_users() > 0, password=generated)
    finally:
        engine.dispose()


def _admin_lines(boot: Bootstrap, login_url: str) -> list[str]:
    """What start-up says about logging in (the generated password this once, never again)."""
    hint = session.login_hint(login_url, "admin").strip("`")
    if boot.created and boot.password:
        rule = "=" * 72
        return [
            rule,
            "First start: the administrator account was created.",
            "  user:      admin",
            f"  password:  {boot.password}",
            "It is shown only this once (only its hash is kept): note it now. Log in with",
            f"  {hint}",
            "and change it with `gridtwin users password`. (GRIDTWIN_ADMIN_PASSWORD set before the",
            "first start chooses it instead.)",
            rule,
        ]
    if boot.created:
        return [f"First start: created the administrator admin with GRIDTWIN_ADMIN_PASSWORD; log in: {hint}"]
    return [f"Log in with: {hint}"]


LOCK_FILE = "gridtwin.lock"


def lock_data_dir(data_dir: Path, url: str) -> IO[str]:
    """Hold ``data_dir`` for this process (released when it exits, even killed): a second all-in-one
    on the same folder would share its SQLite file and data. Stops with who holds it."""
    path = data_dir / LOCK_FILE
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise SystemExit(
            f"cannot start: another GridTwin is running on the data folder {data_dir} ({holder}); "
            "stop it, or give this one its own --data-dir (and --port)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}, {url}\n")
    handle.flush()
    return handle


def check_port_free(host: str, port: int) -> None:
    """Stop before anything starts when the gateway's port is taken (uvicorn would find out only
    after every service had started). Same socket options as uvicorn's own bind."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise SystemExit(
                f"cannot start: port {port} on {host} is in use ({exc.strerror}); "
                "another GridTwin or program holds it: choose another with --port"
            ) from None


def _http_runner(
    spec: ServiceSpec, module: str
) -> Callable[[Settings, threading.Event, threading.Event], None]:
    """How to serve an HTTP spec: its module's ``run_gateway`` when it has one, else plain uvicorn."""
    run = getattr(importlib.import_module(module), "run_gateway", None)
    if callable(run):

        def runner(settings: Settings, ready: threading.Event, stop: threading.Event) -> None:
            run(settings, ready_event=ready, stop_event=stop)

        return runner

    def uvicorn_runner(settings: Settings, ready: threading.Event, stop: threading.Event) -> None:
        import asyncio

        import uvicorn

        if spec.asgi_app is None:
            raise ValueError(f"{spec.name} serves no HTTP app")
        config = uvicorn.Config(
            spec.asgi_app(settings), host=settings.host, port=settings.gateway_port, log_config=None
        )
        server = uvicorn.Server(config)

        async def main() -> None:
            task = asyncio.create_task(server.serve())
            while not task.done():
                if server.started:
                    ready.set()
                if stop.is_set():
                    server.should_exit = True
                await asyncio.sleep(0.05)
            await task

        asyncio.run(main())

    return uvicorn_runner


def _client_host(host: str) -> str:
    # Compares, binds nothing: a service listening on every interface is reached on loopback.
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # nosec B104  # compared, not bound


DEMO_KEY_TTL = timedelta(hours=12)


@contextlib.contextmanager
def demo_session(url: str, settings: Settings, admin_password: str | None) -> Iterator[None]:
    """The demo's credentials for the block: a login as ``admin`` with the password it knows (kept in
    memory only, logged out after), else an admin API key made in the local database for the demo and
    revoked after it (written to the audit log like any other)."""
    login = None
    if admin_password:
        try:
            login = session.password_login(url, "admin", admin_password)
        except typer.Exit:  # said above: GRIDTWIN_ADMIN_PASSWORD is not (or no longer) admin's password
            typer.echo("the demo goes on with a temporary API key instead", err=True)
    if login is not None:
        kept = session.MemoryStore(login)
        try:
            with session.using(kept):
                yield
        finally:
            with contextlib.suppress(typer.Exit, httpx.HTTPError):  # the demo's session: best effort
                current = kept.current(url)
                if current.login is not None:
                    httpx.post(
                        f"{url}/api/v1/auth/logout",
                        json={"refresh_token": current.login.refresh_token},
                        headers=current.headers,
                        timeout=10,
                    )
        return

    from gridtwin.store.accounts import AccountStore, AuditEntry
    from gridtwin.store.db import make_engine

    engine = make_engine(settings.resolved_database_url(), mysql_local_infile=settings.mysql_local_infile)
    accounts = AccountStore(engine)
    try:
        admins = [u for u in accounts.users() if u.role == Role.ADMIN and not u.disabled]
        owner = next((u for u in admins if u.username == "admin"), admins[0] if admins else None)
        if owner is None:
            typer.echo(
                "the demo cannot run: no enabled admin here (make one: gridtwin admin create)", err=True
            )
            raise typer.Exit(code=1)
        typer.echo(
            f"the demo runs as {owner.username} with a temporary API key (set GRIDTWIN_ADMIN_PASSWORD to "
            "have it log in with the password instead)"
        )
        record, secret = accounts.create_api_key(
            owner.username,
            "demo of gridtwin up",
            Role.ADMIN,
            owner.sites,
            expires_at=datetime.now(UTC) + DEMO_KEY_TTL,
        )
        accounts.audit(
            AuditEntry(actor=owner.username, via="local", action="keys.create", resource=record.id, outcome="ok",
                       detail={"name": record.name, "for": "demo"})
        )  # fmt: skip
        try:
            with session.using(session.TokenStore(secret, f"the demo's API key {record.id}")):
                yield
        finally:
            accounts.revoke_api_key(record.id)
            accounts.audit(
                AuditEntry(
                    actor=owner.username, via="local", action="keys.revoke", resource=record.id, outcome="ok"
                )
            )
    finally:
        engine.dispose()


def run_demo(
    url: str,
    feeders: int,
    seed: int,
    stop: threading.Event,
    settings: Settings,
    admin_password: str | None = None,
) -> None:
    """The main job's demo: a synthetic utility, an 8760-hour QSTS over all of it, the worst results;
    through the REST API as the admin (``demo_session``)."""
    from gridtwin.cli import jobs_cmds  # the demo talks to the gateway like any client
    from gridtwin.cli.client_cmds import API, call
    from gridtwin.cli.output import out

    try:
        with demo_session(url, settings, admin_password):
            typer.echo(f"making a synthetic utility of {feeders} feeders (seed {seed}) ...")
            made = jobs_cmds.synth_remote(url, feeders, seed, "synth")
            if stop.is_set():
                return
            typer.echo(f"running an 8760-hour QSTS over {len(made)} feeders on Dask ...")
            job = call("POST", url, f"{API}/jobs", json={"feeders": made, "hours": 8760})
            job = jobs_cmds.follow_job(url, job, console=out)  # the demo's progress is its output
            typer.echo(
                f"job {job['id']}: {job['status']}, {job['done_tasks']} feeders done, "
                f"{job['failed_tasks']} failed"
            )
            if job["done_tasks"]:
                jobs_cmds.print_worst(call("GET", url, f"{API}/jobs/{job['id']}/worst", params={"n": 10}))
        job_url = f"{url}/api/v1/jobs/{job['id']}"
        places = [
            (f"{url}/docs", "the REST API (Authorize there with your user)"),
            (job_url, "the job"),
            (f"{job_url}/worst", "worst feeders and assets"),
            (f"{job_url}/results?level=elements", "every element, worst first"),
            (f"{url}/api/v1/feeders", "the feeders"),
        ]
        width = max(len(place) for place, _ in places)
        lines = "\n".join(f"  {place:<{width}}  {what}" for place, what in places)
        hint = session.login_hint(url, "admin")
        typer.echo(f"\nLook at:\n{lines}\nas a logged-in user (the CLI: {hint}).\nCtrl-C to stop.")
    except (typer.Exit, SystemExit):
        typer.echo("the demo stopped on the error above; the services keep running", err=True)
    except Exception as exc:  # the demo must never take the services down
        log.exception("demo failed")
        typer.echo(f"the demo failed: {exc}; the services keep running", err=True)


def up(
    port: Annotated[int, typer.Option("--port", help="gateway HTTP port")] = 8000,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="where the SQLite file and data live")] = Path(
        ".gridtwin"
    ),
    host: Annotated[str, typer.Option("--host", help="interface every service listens on")] = "127.0.0.1",
    demo_feeders: Annotated[
        int,
        typer.Option(
            "--demo-feeders",
            min=0,
            max=5000,
            help="make a synthetic utility of N feeders and run a QSTS on it",
        ),
    ] = 0,
    seed: Annotated[int, typer.Option("--seed", help="seed of the demo's synthetic utility")] = 42,
) -> None:
    """Run every service on localhost until SIGTERM or Ctrl-C."""
    settings = embedded_settings(data_dir, host, port)
    url = f"http://{host}:{port}"
    lock = lock_data_dir(settings.data_dir, url)
    check_port_free(host, port)
    setup_json_logging("gridtwin", settings.log_level)
    setup_telemetry("gridtwin", settings.otel_exporter)
    settings = with_secrets(settings)  # every service and the gateway get them in their settings
    boot = bootstrap_admin(settings)  # before anything serves: the gateway finds the admin there
    login_url = f"http://{_client_host(host)}:{port}"
    found = discover_services()
    for name, why in found.failed.items():
        typer.echo(f"warning: service {name!r} not started: {why}", err=True)

    stop = threading.Event()
    got: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        got.append(signum)
        stop.set()

    try:
        running = start_grpc_services(found.specs, settings, free_ports=True)
    except GridTwinError as exc:
        raise SystemExit(f"cannot start the services: {exc}") from exc
    if running:
        settings = running[0].settings  # with the internal services' addresses as bound
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    http_threads: list[tuple[str, threading.Thread]] = []
    lines = [f"  {svc.spec.name:<15} grpc://{svc.address}" for svc in running]
    try:
        for spec in (s for s in found.specs if s.asgi_app is not None):
            ready = threading.Event()
            runner = _http_runner(spec, found.modules[spec.name])
            thread = threading.Thread(
                target=runner, args=(settings, ready, stop), name=spec.name, daemon=True
            )
            thread.start()
            while not ready.wait(0.1):
                if not thread.is_alive():
                    raise SystemExit(f"{spec.name} did not start (is port {port} on {host} free?)")
            http_threads.append((spec.name, thread))
            lines.insert(0, f"  {spec.name:<15} {url}  (API docs: {url}/docs)")
        said = "\n".join(_admin_lines(boot, login_url) if http_threads else [])
        typer.echo(
            "GridTwin is up:\n" + "\n".join(lines) + f"\n  data in {settings.data_dir}\n"
            + (said + "\n" if said else "") + "Ctrl-C to stop."
        )  # fmt: skip
        if demo_feeders and http_threads:
            known = boot.password or (
                settings.admin_password.get_secret_value() if settings.admin_password is not None else None
            )
            demo = threading.Thread(
                target=run_demo,
                args=(login_url, demo_feeders, seed, stop, settings, known),
                name="demo",
                daemon=True,
            )
            demo.start()
        # Wait for a signal, or for the gateway thread to die (then there is nothing left to serve).
        while not stop.wait(0.5):
            if http_threads and not all(t.is_alive() for _, t in http_threads):
                typer.echo("the gateway stopped; shutting down", err=True)
                break
    finally:
        stop.set()
        _shutdown(running, http_threads)
        for s, h in previous.items():
            signal.signal(s, h)
        with contextlib.suppress(OSError):
            lock.close()
    reason = signal.Signals(got[0]).name if got else "gateway exit"
    typer.echo(f"GridTwin stopped ({reason}).")


def _shutdown(running: list[RunningService], http_threads: list[tuple[str, threading.Thread]]) -> None:
    # The gateway drains first (it calls the gRPC services), then the gRPC servers, each in the grace.
    for _, thread in http_threads:
        thread.join(GRACE_S + 5)
    stop_grpc_services(running)
    shutdown_telemetry()
