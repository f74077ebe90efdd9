"""``gridtwin up``: every service in this one process, on localhost, with embedded defaults.

Services are found through the ``gridtwin.services`` entry points. Each gRPC service gets its own
server and port (the addresses in ``GRIDTWIN_*_ADDR``, default ports otherwise); the gateway (an
HTTP ``ServiceSpec``) runs uvicorn in a thread. One process means the in-process Redis stand-in and the
SQLite file are shared by all. SIGTERM or Ctrl-C drains everything within the grace period.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from gridtwin.config import Settings, get_settings
from gridtwin.errors import GridTwinError
from gridtwin.rpc.logging import setup_json_logging
from gridtwin.rpc.runner import RunningService, discover_services, start_grpc_services, stop_grpc_services
from gridtwin.rpc.server import GRACE_S, ServiceSpec
from gridtwin.rpc.telemetry import setup_telemetry, shutdown_telemetry

__all__ = ["embedded_settings", "up"]

log = logging.getLogger(__name__)


def embedded_settings(data_dir: Path, host: str, port: int) -> Settings:
    """Settings for the all-in-one mode, also exported to ``os.environ`` so every ``get_settings()``
    in the process agrees: SQLite under ``data_dir``, in-process Redis (unless ``GRIDTWIN_REDIS_URL``
    is set), services on ``host`` at their default ports (unless their address is set)."""
    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["GRIDTWIN_DATA_DIR"] = str(data_dir)
    os.environ["GRIDTWIN_HOST"] = host
    os.environ["GRIDTWIN_GATEWAY_PORT"] = str(port)
    # All-in-one runs as the user on their own machine: imports may read any of their folders.
    os.environ.setdefault("GRIDTWIN_IMPORT_ROOTS", '["/"]')
    for name, default_port in (
        ("TWIN_REGISTRY", 50051),
        ("INGESTION", 50052),
        ("POWERFLOW", 50053),
        ("HOSTING", 50054),
    ):
        os.environ.setdefault(f"GRIDTWIN_{name}_ADDR", f"{host}:{default_port}")
    get_settings.cache_clear()
    return get_settings()


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

        assert spec.asgi_app is not None
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
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def run_demo(url: str, feeders: int, seed: int, stop: threading.Event) -> None:
    """The main job's demo: a synthetic utility, an 8760-hour QSTS over all of it, the worst results."""
    from gridtwin.cli import jobs_cmds  # the demo talks to the gateway like any client
    from gridtwin.cli.client_cmds import API, _call

    try:
        typer.echo(f"making a synthetic utility of {feeders} feeders (seed {seed}) ...")
        made = jobs_cmds.synth_remote(url, feeders, seed, "synth")
        if stop.is_set():
            return
        typer.echo(f"running an 8760-hour QSTS over {len(made)} feeders on Dask ...")
        job = _call("POST", url, f"{API}/jobs", json={"feeders": made, "hours": 8760})
        job = jobs_cmds.follow_job(url, job)
        typer.echo(
            f"job {job['id']}: {job['status']}, {job['done_tasks']} feeders done, {job['failed_tasks']} failed"
        )
        if job["done_tasks"]:
            jobs_cmds.print_worst(_call("GET", url, f"{API}/jobs/{job['id']}/worst", params={"n": 10}))
        typer.echo(
            "\nLook at:\n"
            f"  {url}/docs                                   the REST API\n"
            f"  {url}/api/v1/jobs/{job['id']}                 the job\n"
            f"  {url}/api/v1/jobs/{job['id']}/worst           worst feeders and assets\n"
            f"  {url}/api/v1/jobs/{job['id']}/results?level=elements   every element, worst first\n"
            f"  {url}/api/v1/feeders                          the feeders\n"
            "Ctrl-C to stop."
        )
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
    setup_json_logging("gridtwin", settings.log_level)
    setup_telemetry("gridtwin", settings.otel_exporter)
    found = discover_services()
    for name, why in found.failed.items():
        typer.echo(f"warning: service {name!r} not started: {why}", err=True)

    stop = threading.Event()
    got: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        got.append(signum)
        stop.set()

    try:
        running = start_grpc_services(found.specs, settings)
    except GridTwinError as exc:
        raise SystemExit(f"cannot start the services: {exc}") from exc
    except RuntimeError as exc:  # grpc's "Failed to bind to address"
        raise SystemExit(f"cannot start the services: {exc} (a port in use? see GRIDTWIN_*_ADDR)") from exc
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
                    raise SystemExit(f"{spec.name} did not start (is port {port} free?)")
            http_threads.append((spec.name, thread))
            url = f"http://{host}:{port}"
            lines.insert(0, f"  {spec.name:<15} {url}  (API docs: {url}/docs)")
        typer.echo(
            "GridTwin is up:\n" + "\n".join(lines) + f"\n  data in {settings.data_dir}\nCtrl-C to stop."
        )
        if demo_feeders and http_threads:
            demo = threading.Thread(
                target=run_demo,
                args=(f"http://{_client_host(host)}:{port}", demo_feeders, seed, stop),
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
    reason = signal.Signals(got[0]).name if got else "gateway exit"
    typer.echo(f"GridTwin stopped ({reason}).")


def _shutdown(running: list[RunningService], http_threads: list[tuple[str, threading.Thread]]) -> None:
    # The gateway drains first (it calls the gRPC services), then the gRPC servers, each in the grace.
    for _, thread in http_threads:
        thread.join(GRACE_S + 5)
    stop_grpc_services(running)
    shutdown_telemetry()
