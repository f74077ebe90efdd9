"""``gridtwin synth``: generate the synthetic utility (feeders as twins, load shape pools, weather).

``--local`` writes straight into the registry database and profile store of this machine's
settings (``GRIDTWIN_DATABASE_URL`` / ``GRIDTWIN_DATA_DIR``). The lead wires the command into
``cli/main.py`` with the remote (ingestion service) path.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from gridtwin.config import get_settings
from gridtwin.grid.ontology import build_interfaces
from gridtwin.grid.synth import write_synthetic_utility
from gridtwin.store.db import make_engine, migrate
from gridtwin.store.profiles import ProfileStore
from gridtwin.twin.registry import TwinRegistry

__all__ = ["synth"]


def synth(
    feeders: Annotated[int, typer.Option("--feeders", min=1, help="How many feeders to generate.")] = 10,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Same seed -> same utility.")] = 42,
    site: Annotated[str, typer.Option("--site", help="Site the feeders belong to.")] = "synth",
    local: Annotated[
        bool, typer.Option("--local", help="Write into this machine's registry DB and profile store.")
    ] = False,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Overrides GRIDTWIN_DATA_DIR for --local.")
    ] = None,
) -> None:
    """Generate the synthetic utility: radial feeders with their twins, load shapes and weather."""
    console = Console()
    if not local:
        console.print("[red]only --local is available here[/red] (the service path is wired by the CLI)")
        raise typer.Exit(2)
    settings = get_settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url(), mysql_local_infile=settings.mysql_local_infile)
    try:
        migrate(engine)
        registry = TwinRegistry(engine)
        registry.upload_models(list(build_interfaces().values()))  # idempotent
        store = ProfileStore(settings.data_dir / "profiles")
        start = time.perf_counter()
        with Progress(
            TextColumn("[bold]synth[/bold] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("profiles", total=feeders)

            def progress(done: int, total: int, feeder: str) -> None:
                bar.update(task, completed=done, total=total, description=feeder)

            ids = write_synthetic_utility(registry, store, feeders, seed, site=site, progress=progress)
        elapsed = time.perf_counter() - start
        twins = _twin_count(registry, ids)
        console.print(
            f"{len(ids)} feeders ({ids[0]} .. {ids[-1]}), {twins} twins written in {elapsed:.1f} s"
            f" ({elapsed / len(ids):.2f} s per feeder); profiles in {store.root}"
        )
    finally:
        engine.dispose()


def _twin_count(registry: TwinRegistry, ids: list[str]) -> int:
    wanted = set(ids)
    return sum(f.twin_count for f in registry.list_feeders() if f.id in wanted)
