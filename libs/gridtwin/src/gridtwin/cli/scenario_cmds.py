"""``gridtwin scenario``: validate, store, run, sweep and diff planning scenarios.

Files are read here, next to the scenario file (custom EV profiles, weather years), and the
resolved scenario is sent as JSON, so the server never reads a path from a document.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from gridtwin.cli.client_cmds import API, JsonOption, UrlOption, call, fail
from gridtwin.cli.jobs_cmds import KEY_COLUMNS, TERMINAL, follow_job, print_worst
from gridtwin.cli.output import Col, ColumnSpec, out, print_table
from gridtwin.cli.solver_opts import (
    MaxControlIterationsOption,
    MaxIterationsOption,
    ToleranceOption,
    solver_fields,
)
from gridtwin.errors import GridTwinError

__all__ = ["register"]

scenario_app = typer.Typer(
    help="Stacked planning scenarios (EV, solar, weather, TOU, mandates): validate, run, sweep, diff.",
    no_args_is_help=True,
)
POLL_S = 2.0
FeedersOption = Annotated[
    list[str] | None, typer.Option("--feeders", "--feeder", help="override the targets (repeatable, or a,b)")
]
SiteOption = Annotated[str, typer.Option("--site", help="override the targets: every feeder of this site")]
GlobOption = Annotated[str, typer.Option("--glob", help="override the targets: feeder ids matching this")]
HoursOption = Annotated[int, typer.Option("--hours", min=1, max=8784)]
StartOption = Annotated[
    int, typer.Option("--start-hour", min=0, max=8783, help="hour of the year to start at")
]


def _load(path: Path) -> Any:
    from gridtwin.scenarios.loader import load_scenario

    try:
        scenario, _ = load_scenario(path)
    except GridTwinError as exc:
        raise fail(f"{path}: {exc.message}", [d.to_dict() for d in exc.details]) from exc
    return scenario


def _scenario_id(target: str, url: str | None) -> str:
    """A stored scenario's id, storing the file first when ``target`` is a file."""
    path = Path(target)
    if not path.is_file():
        return target
    scenario = _load(path)
    doc = call(
        "POST",
        url,
        f"{API}/scenarios",
        content=scenario.model_dump_json().encode(),
        headers={"content-type": "application/json"},
    )
    out.print(f"stored scenario [bold]{doc['id']}[/] ({doc['name']})")
    return str(doc["id"])


def _selection(feeders: list[str] | None, site: str, glob: str, hours: int, start: int) -> dict[str, Any]:
    ids = [f.strip() for item in feeders or [] for f in item.split(",") if f.strip()]
    return {"feeders": ids, "site": site, "feeder_glob": glob, "hours": hours, "start_hour": start}


@scenario_app.command("validate")
def validate(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="scenario YAML or JSON")],
    as_json: JsonOption = False,
) -> None:
    """Check a scenario file (and the files it names) without running it."""
    from gridtwin.scenarios.sweep import sweep_points

    scenario = _load(path)
    points = 0
    if scenario.sweep is not None:
        try:
            points = len(sweep_points(scenario.sweep))
        except GridTwinError as exc:
            raise fail(f"{path}: {exc.message}", [d.to_dict() for d in exc.details]) from exc
    if as_json:
        out.print_json(
            data={"ok": True, "name": scenario.name, "layers": len(scenario.layers), "sweep_points": points}
        )
        return
    out.print(f"[green]ok[/] {path}: scenario [bold]{scenario.name}[/], seed {scenario.seed}")
    for i, layer in enumerate(scenario.layers):
        out.print(f"  layer {i}: {layer.type} ({layer.id})", markup=False, highlight=False)
    if points:
        out.print(f"  sweep: {scenario.sweep.method if scenario.sweep else ''}, {points} points")


@scenario_app.command("create")
def create(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    scenario_id: Annotated[str, typer.Option("--id", help="choose the id")] = "",
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Store a scenario (validated by the server too)."""
    scenario = _load(path)
    doc = call(
        "POST",
        url,
        f"{API}/scenarios",
        params={"id": scenario_id} if scenario_id else None,
        content=scenario.model_dump_json().encode(),
        headers={"content-type": "application/json"},
    )
    if as_json:
        out.print_json(data=doc)
        return
    out.print(f"stored scenario [bold]{doc['id']}[/] (revision {doc['revision']})")


@scenario_app.command("list")
def list_(as_json: JsonOption = False, url: UrlOption = None) -> None:
    """Stored scenarios, newest first."""
    result = call("GET", url, f"{API}/scenarios")
    if as_json:
        out.print_json(data=result)
        return
    rows = []
    for s in result["scenarios"]:
        layers = ", ".join(f"{x['type']}:{x['id']}" for x in s["summary"].get("layers", []))
        rows.append((s["id"], s["name"], s["revision"], layers, (s["updated_at"] or "")[:19]))
    print_table(
        [Col("id", key=True), Col("name", key=True), Col("rev", numeric=True), "layers", "updated"],
        rows,
        f"{result['total']} scenarios",
    )


@scenario_app.command("delete")
def delete(scenario_id: str, url: UrlOption = None) -> None:
    """Delete a stored scenario (its jobs and results stay)."""
    call("DELETE", url, f"{API}/scenarios/{scenario_id}")
    out.print(f"deleted {scenario_id}")


@scenario_app.command("run")
def run(
    target: Annotated[str, typer.Argument(help="a scenario file, or a stored scenario's id")],
    feeders: FeedersOption = None,
    site: SiteOption = "",
    glob: GlobOption = "",
    hours: HoursOption = 8760,
    start_hour: StartOption = 0,
    wait: Annotated[bool, typer.Option("--wait", help="follow the job until it ends")] = False,
    max_iterations: MaxIterationsOption = None,
    max_control_iterations: MaxControlIterationsOption = None,
    tolerance: ToleranceOption = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Run a scenario as a QSTS job over its target feeders."""
    sid = _scenario_id(target, url)
    body = {
        **_selection(feeders, site, glob, hours, start_hour),
        **solver_fields(max_iterations, max_control_iterations, tolerance),
    }
    job = call("POST", url, f"{API}/scenarios/{sid}/run", json=body)
    if wait:
        job = follow_job(url, job)
    if as_json:
        out.print_json(data=job)
        return
    out.print(f"job [bold]{job['id']}[/]: {job['status']}, {job['done_tasks']}/{job['total_tasks']} feeders")
    if wait and job["done_tasks"]:
        print_worst(call("GET", url, f"{API}/jobs/{job['id']}/worst", params={"n": 10}))
    if job["status"] == "failed":
        raise typer.Exit(code=1)


SWEEP_COLUMNS = (
    ("bus_hours_outside_a", "bus-h out A", "{:.0f}"),
    ("elements_over_normal", "elem > 100%", "{:.0f}"),
    ("max_loading_pct", "max load %", "{:.1f}"),
    ("peak_kw", "peak kW", "{:.0f}"),
    ("reverse_flow_hours", "reverse h", "{:.0f}"),
    ("losses_kwh", "losses MWh", "{:.1f}"),
)


def _print_sweep(info: dict[str, Any]) -> None:
    params = sorted({k for s in info["samples"] for k in s["values"]})
    columns: list[ColumnSpec] = [
        Col("sample", numeric=True),
        *(Col(p, numeric=True) for p in params),
        Col("job", key=True),
        "status",
        *(Col(label, numeric=True) for _, label, _ in SWEEP_COLUMNS),
    ]
    rows = []
    for row in info["table"]:
        cells = [
            str(row["sample"]),
            *(f"{row.get(p, float('nan')):g}" for p in params),
            row["job_id"],
            row.get("status", ""),
        ]
        for key, _, pattern in SWEEP_COLUMNS:
            value = row.get(key)
            if key == "losses_kwh" and isinstance(value, (int, float)):
                value = value / 1000.0
            cells.append("-" if value is None else pattern.format(value))
        rows.append(cells)
    print_table(columns, rows, f"sweep {info['id']}")


@scenario_app.command("sweep")
def sweep(
    target: Annotated[str, typer.Argument(help="a scenario file with a sweep section, or a stored id")],
    feeders: FeedersOption = None,
    site: SiteOption = "",
    glob: GlobOption = "",
    hours: HoursOption = 8760,
    start_hour: StartOption = 0,
    wait: Annotated[bool, typer.Option("--wait", help="wait for every job, then print the table")] = False,
    max_iterations: MaxIterationsOption = None,
    max_control_iterations: MaxControlIterationsOption = None,
    tolerance: ToleranceOption = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """One QSTS job per sweep point (grid or Latin Hypercube); a table of parameters -> results."""
    sid = _scenario_id(target, url)
    body = {
        **_selection(feeders, site, glob, hours, start_hour),
        **solver_fields(max_iterations, max_control_iterations, tolerance),
    }
    info = call("POST", url, f"{API}/scenarios/{sid}/sweep", json=body)
    out.print(f"sweep [bold]{info['id']}[/]: {len(info['samples'])} jobs")
    shown = -1
    while wait and any(s["status"] not in TERMINAL for s in info["samples"]):
        time.sleep(POLL_S)
        info = call("GET", url, f"{API}/sweeps/{info['id']}")
        done = sum(s["status"] in TERMINAL for s in info["samples"])
        if done != shown:  # a line when a job finishes, not every poll
            out.print(f"  {done}/{len(info['samples'])} jobs finished", highlight=False)
            shown = done
    if as_json:
        out.print_json(data=info)
        return
    _print_sweep(info)


@scenario_app.command("diff")
def diff(
    base: Annotated[str, typer.Argument(help="the base job")],
    jobs: Annotated[list[str], typer.Argument(help="one or more scenario jobs")],
    level: Annotated[str, typer.Option("--level", help="feeders | elements | buses")] = "feeders",
    new_only: Annotated[bool, typer.Option("--new-only", help="elements/buses: only new violations")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000)] = 20,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Base vs scenario jobs: new violations, delta hours, delta peak."""
    result = call(
        "GET",
        url,
        f"{API}/diff",
        params={"base": base, "jobs": jobs, "level": level, "new_only": new_only, "limit": limit},
    )
    if as_json:
        out.print_json(data=result)
        return
    heads = ("feeders", "new elem viol", "new bus viol", "d elem-h >100%", "d bus-h out A", "d peak kW",
             "d reverse h", "d losses kWh")  # fmt: skip
    print_table(
        [Col("job", key=True), *(Col(h, numeric=True) for h in heads)],
        [
            (
                t["job"], t["feeders"], t["new_element_violations"], t["new_bus_violations"],
                f"{t['delta_element_hours_over_normal']:+.0f}", f"{t['delta_bus_hours_outside_a']:+.0f}",
                f"{t['delta_peak_kw']:+.0f}", f"{t['delta_reverse_flow_hours']:+.0f}",
                f"{t['delta_losses_kwh']:+.0f}",
            )
            for t in result["totals"]
        ],
        f"against {base}",
    )  # fmt: skip
    rows = result["rows"]
    if rows:
        keys = [k for k in rows[0] if not k.endswith("_base")][:10]
        print_table(
            [Col(k, key=k in KEY_COLUMNS) for k in keys],
            [[f"{r[k]:.4g}" if isinstance(r[k], float) else r[k] for k in keys] for r in rows],
            f"{level} ({result['total']} rows)",
        )


def register(app: typer.Typer) -> None:
    app.add_typer(scenario_app, name="scenario")
