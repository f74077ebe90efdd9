"""Commands for QSTS jobs and the synthetic utility, through the gateway's REST API.

``gridtwin synth --feeders N --seed S`` makes a synthetic utility (progress streamed by the gateway);
``gridtwin qsts run ... [--wait]`` submits a job and follows it with a progress bar;
``gridtwin jobs list|show|results|worst|cancel|compare`` read and steer jobs.

Off a terminal (a log file) progress is printed as plain lines every few percent, and tables as plain
aligned text, with every id whole (``gridtwin.cli.output``).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gridtwin.cli import session
from gridtwin.cli.client_cmds import API, JsonOption, UrlOption, base_url, call, fail
from gridtwin.cli.output import CliConsole, Col, PlainProgress, err, out, print_table
from gridtwin.cli.solver_opts import (
    MaxControlIterationsOption,
    MaxIterationsOption,
    ToleranceOption,
    solver_fields,
)

__all__ = ["follow_job", "print_worst", "register", "synth_remote"]

qsts_app = typer.Typer(
    help="Quasi-static time-series power flow (8760 h) over many feeders.", no_args_is_help=True
)
jobs_app = typer.Typer(
    help="Jobs: status, results, worst feeders and assets, comparison.", no_args_is_help=True
)

TERMINAL = ("succeeded", "partial", "failed", "cancelled")
POLL_S = 1.0
SYNTH_TIMEOUT = httpx.Timeout(30.0, read=None)
RESULTS_PAGE = 10_000  # the gateway's largest page
KEY_COLUMNS = frozenset({"feeder", "element", "bus", "job", "job_id", "id", "name", "kind"})

FEEDER_COLUMNS = (
    ("feeder", "feeder", "{}"),
    ("bus_hours_outside_a", "bus-h out A", "{:.0f}"),
    ("buses_outside_a", "buses out A", "{}"),
    ("vmin_pu", "vmin pu", "{:.4f}"),
    ("vmax_pu", "vmax pu", "{:.4f}"),
    ("max_loading_pct", "max load %", "{:.1f}"),
    ("elements_over_normal", "elem > 100%", "{}"),
    ("delivered_kwh", "MWh", "{:.0f}"),
    ("loss_pct", "loss %", "{:.2f}"),
    ("unconverged_steps", "unconv", "{}"),
)
ELEMENT_COLUMNS = (
    ("feeder", "feeder", "{}"),
    ("element", "element", "{}"),
    ("max_loading_pct", "max load %", "{:.1f}"),
    ("hours_over_normal", "h > normal", "{:.0f}"),
    ("hours_over_emergency", "h > emerg", "{:.0f}"),
    ("equivalent_aging_factor", "F_EQA", "{:.3g}"),
)


def _fmt(value: Any, pattern: str) -> str:
    if value is None:
        return "-"
    try:
        return pattern.format(value)
    except (ValueError, TypeError):
        return str(value)


def _print_rows(rows: list[dict[str, Any]], columns: tuple[tuple[str, str, str], ...], title: str) -> None:
    cells = []
    for row in rows:
        line = []
        for key, _, pattern in columns:
            value = row.get(key)
            if key == "delivered_kwh" and isinstance(value, (int, float)):
                value = value / 1000.0
            line.append(_fmt(value, pattern))
        cells.append(line)
    cols = [Col(label, key=key in KEY_COLUMNS, numeric=key not in KEY_COLUMNS) for key, label, _ in columns]
    print_table(cols, cells, title)


def print_worst(worst: dict[str, Any]) -> None:
    _print_rows(worst["feeders"], FEEDER_COLUMNS, "worst feeders (bus-hours outside ANSI Range A)")
    _print_rows(worst["elements"], ELEMENT_COLUMNS, "most loaded elements")
    if worst.get("aging"):
        _print_rows(worst["aging"], ELEMENT_COLUMNS, "transformer aging (IEEE C57.91 F_EQA)")


def follow_job(
    url: str | None,
    job: dict[str, Any],
    *,
    poll_s: float = POLL_S,
    sleep: Callable[[float], None] = time.sleep,
    console: CliConsole = err,
) -> dict[str, Any]:
    """Poll a job until it ends; the final job. On a terminal a progress bar (feeders done, elapsed,
    ETA); elsewhere a plain line every 5 % or 30 s with done, failed, total and the ETA. Progress goes
    to stderr by default, so what a command prints on stdout (its JSON, its table) stays clean."""
    if not console.is_terminal:
        return _follow_plain(url, job, poll_s, sleep, console)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[extra]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(f"{job['kind']} {job['id']}", total=job["total_tasks"] or None, extra="")
        while True:
            done = job["done_tasks"] + job["failed_tasks"]
            eta = job.get("eta_s")
            extra = f"failed {job['failed_tasks']}  " if job["failed_tasks"] else ""
            extra += f"ETA {eta:.0f}s" if eta is not None else job["status"]
            bar.update(task, completed=done, total=job["total_tasks"] or None, extra=extra)
            if job["status"] in TERMINAL:
                return job
            sleep(poll_s)
            job = call("GET", url, f"{API}/jobs/{job['id']}")


def _follow_plain(
    url: str | None, job: dict[str, Any], poll_s: float, sleep: Callable[[float], None], console: CliConsole
) -> dict[str, Any]:
    progress = PlainProgress(f"{job['kind']} job {job['id']}", unit="feeders", console=console)
    while True:
        eta = job.get("eta_s")
        args = (job["done_tasks"], job["failed_tasks"], job["total_tasks"], eta, job["status"])
        if job["status"] in TERMINAL:
            progress.update(*args)  # the status changed: always printed
            return job
        progress.update(*args)
        sleep(poll_s)
        job = call("GET", url, f"{API}/jobs/{job['id']}")


def _params_lines(params: dict[str, Any]) -> Iterator[str]:
    """A job's params, readable and never cut: the period, the feeders (all ids whole, or the count
    and the first and last when there are many) and the other params as JSON."""
    rest = dict(params)
    spec = rest.pop("spec", None)
    feeders = rest.pop("feeders", None)
    if isinstance(spec, dict):
        period = ", ".join(f"{k} {spec[k]}" for k in ("hours", "start_hour", "step_minutes") if k in spec)
        yield f"  period: {period}"
        others = {k: v for k, v in spec.items() if k not in ("hours", "start_hour", "step_minutes")}
        if others:
            yield f"  spec: {json.dumps(others, sort_keys=True)}"
    if isinstance(feeders, list):
        if len(feeders) <= 10:
            yield f"  feeders ({len(feeders)}): {', '.join(map(str, feeders))}"
        else:
            yield f"  feeders ({len(feeders)}): {feeders[0]} .. {feeders[-1]} (all with --json)"
    if rest:
        yield f"  params: {json.dumps(rest, sort_keys=True)}"


def _print_job(job: dict[str, Any]) -> None:
    out.print(
        f"job [bold]{job['id']}[/] ({job['kind']}): [bold]{job['status']}[/], "
        f"{job['done_tasks']}/{job['total_tasks']} done, {job['failed_tasks']} failed"
        + (f" — {job['message']}" if job.get("message") else "")
    )
    for line in _params_lines(job.get("params") or {}):
        out.print(line, markup=False, highlight=False)
    for t in job.get("tasks") or []:
        line = f"  {t['feeder']}: {t['status']} ({t['attempts']} attempts, {t['duration_s']:.1f}s)"
        out.print(line, markup=False, highlight=False)
        for d in t.get("error") or []:
            out.print(f"      {d.get('where', '')}: {d.get('message', '')}", markup=False, highlight=False)


@qsts_app.command("run")
def qsts_run(
    feeders: Annotated[
        list[str] | None,
        typer.Option("--feeders", "--feeder", help="feeder id (repeatable, or comma-separated)"),
    ] = None,
    site: Annotated[str, typer.Option("--site", help="every feeder of this site")] = "",
    glob: Annotated[
        str, typer.Option("--glob", help="feeder ids matching this pattern, e.g. 'synth-s42-*'")
    ] = "",
    hours: Annotated[int, typer.Option("--hours", min=1, max=8784)] = 8760,
    start_hour: Annotated[int, typer.Option("--start-hour", min=0, max=8783)] = 0,
    step_minutes: Annotated[int, typer.Option("--step-minutes", help="60 or 15")] = 60,
    ambient_c: Annotated[
        float | None, typer.Option("--ambient-c", help="ambient when no weather profile")
    ] = None,
    job_id: Annotated[str, typer.Option("--job-id", help="resume this job (finished feeders skipped)")] = "",
    wait: Annotated[
        bool, typer.Option("--wait", help="follow the job with a progress bar until it ends")
    ] = False,
    max_iterations: MaxIterationsOption = None,
    max_control_iterations: MaxControlIterationsOption = None,
    tolerance: ToleranceOption = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Submit an 8760-hour QSTS job over feeders (ids, a site or a pattern); the solver options apply
    to every step and are kept with the job."""
    ids = [f.strip() for item in feeders or [] for f in item.split(",") if f.strip()]
    body: dict[str, Any] = {
        "feeders": ids,
        "site": site,
        "feeder_glob": glob,
        "hours": hours,
        "start_hour": start_hour,
        "step_minutes": step_minutes,
        "job_id": job_id,
        **solver_fields(max_iterations, max_control_iterations, tolerance),
    }
    if ambient_c is not None:
        body["ambient_c"] = ambient_c
    job = call("POST", url, f"{API}/jobs", json=body)
    if wait:
        job = follow_job(url, job)
    if as_json:
        out.print_json(data=job)
        return
    _print_job(job)
    if wait and job["done_tasks"]:
        print_worst(call("GET", url, f"{API}/jobs/{job['id']}/worst", params={"n": 10}))
    if job["status"] in ("failed",):
        raise typer.Exit(code=1)


@jobs_app.command("list")
def jobs_list(
    status: Annotated[str, typer.Option("--status")] = "",
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """List jobs, newest first."""
    result = call("GET", url, f"{API}/jobs", params={"status": status, "limit": limit})
    if as_json:
        out.print_json(data=result)
        return
    print_table(
        [Col("job", key=True), "kind", "status", Col("done", numeric=True), Col("failed", numeric=True),
         Col("total", numeric=True), Col("created", key=True)],
        [
            (j["id"], j["kind"], j["status"], j["done_tasks"], j["failed_tasks"], j["total_tasks"],
             j["created_at"][:19])
            for j in result["jobs"]
        ],
        f"{result['total']} jobs",
    )  # fmt: skip


@jobs_app.command("show")
def jobs_show(
    job_id: Annotated[str, typer.Argument(help="job id")],
    tasks: Annotated[bool, typer.Option("--tasks", help="list every task")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="follow until the job ends")] = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """A job's status, progress and failures."""
    job = call("GET", url, f"{API}/jobs/{job_id}", params={"tasks": str(tasks).lower()})
    if wait:
        job = follow_job(url, job)
    if as_json:
        out.print_json(data=job)
        return
    _print_job(job)


@jobs_app.command("results")
def jobs_results(
    job_id: Annotated[str, typer.Argument(help="job id")],
    level: Annotated[str, typer.Option("--level", help="feeders | elements | buses | hourly")] = "feeders",
    feeder: Annotated[str, typer.Option("--feeder")] = "",
    kind: Annotated[str, typer.Option("--kind", help="elements: line | transformer")] = "",
    order_by: Annotated[str, typer.Option("--order-by")] = "",
    ascending: Annotated[bool, typer.Option("--ascending")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000)] = 20,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    csv_path: Annotated[
        Path | None,
        typer.Option("--csv", help="write every row of the level (all pages, every column) to this CSV file"),
    ] = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Result rows of a job, worst first; --csv writes all of them."""
    params: dict[str, Any] = {"level": level, "ascending": str(ascending).lower()}
    params.update({k: v for k, v in (("feeder", feeder), ("kind", kind), ("order_by", order_by)) if v})
    if csv_path is not None:
        total = _write_results_csv(url, job_id, params, csv_path)
        out.print(f"wrote {csv_path} ({total} {level} rows)", markup=False, highlight=False)
        return
    params.update({"limit": limit, "offset": offset})
    page = call("GET", url, f"{API}/jobs/{job_id}/results", params=params)
    if as_json:
        out.print_json(data=page)
        return
    rows = page["rows"]
    if not rows:
        out.print(f"no rows ({page['total']} in all)")
        return
    keys = list(rows[0])[:12]
    print_table(
        [Col(k, key=k in KEY_COLUMNS, numeric=k not in KEY_COLUMNS) for k in keys],
        [[f"{row[k]:.4g}" if isinstance(row[k], float) else row[k] for k in keys] for row in rows],
        f"{level}: rows {offset + 1}-{offset + len(rows)} of {page['total']}",
    )


def _write_results_csv(url: str | None, job_id: str, params: dict[str, Any], path: Path) -> int:
    """Every row of the query, page after page, as CSV (the columns of the first page, in its order;
    exact values, nulls empty). Written to a temp file renamed at the end: no half file on failure."""
    tmp = path.with_name(f".{path.name}.part")
    rows_written, offset, total = 0, 0, None
    try:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer: csv.DictWriter[str] | None = None
            while total is None or offset < total:
                page = call(
                    "GET", url, f"{API}/jobs/{job_id}/results",
                    params={**params, "limit": RESULTS_PAGE, "offset": offset},
                )  # fmt: skip
                total = int(page["total"])
                rows = page["rows"]
                if not rows:
                    break
                if writer is None:
                    writer = csv.DictWriter(fh, fieldnames=list(rows[0]), extrasaction="ignore")
                    writer.writeheader()
                writer.writerows(rows)
                rows_written += len(rows)
                offset += len(rows)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return rows_written


@jobs_app.command("worst")
def jobs_worst(
    job_id: Annotated[str, typer.Argument(help="job id")],
    n: Annotated[int, typer.Option("-n", min=1, max=1000)] = 10,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """The worst feeders and assets of a job."""
    worst = call("GET", url, f"{API}/jobs/{job_id}/worst", params={"n": n})
    if as_json:
        out.print_json(data=worst)
        return
    print_worst(worst)


@jobs_app.command("cancel")
def jobs_cancel(job_id: Annotated[str, typer.Argument(help="job id")], url: UrlOption = None) -> None:
    """Cancel a job (finished feeders keep their results)."""
    _print_job(call("POST", url, f"{API}/jobs/{job_id}/cancel"))


@jobs_app.command("compare")
def jobs_compare(
    job_id: Annotated[str, typer.Argument(help="job id")],
    base_job_id: Annotated[str, typer.Argument(help="the job to compare against")],
    level: Annotated[str, typer.Option("--level", help="feeders | elements")] = "feeders",
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000)] = 20,
    url: UrlOption = None,
) -> None:
    """Per feeder (or element): this job's value, the base job's, and the delta."""
    page = call(
        "GET", url, f"{API}/jobs/{job_id}/compare/{base_job_id}", params={"level": level, "limit": limit}
    )
    out.print_json(data=page)


def synth_remote(url: str | None, feeders: int, seed: int, site: str) -> list[str]:
    """Ask the gateway to make a synthetic utility; a progress bar from its streamed progress lines."""
    base = base_url(url)
    made: list[str] = []
    body = {"feeders": feeders, "seed": seed, "site": site}
    plain = None if out.is_terminal else PlainProgress("synthetic utility", unit="feeders")
    creds = session.credentials(base)
    try:
        for attempt in (1, 2):
            with (
                httpx.stream(
                    "POST",
                    f"{base}{API}/feeders/synthetic",
                    json=body,
                    headers=creds.headers,
                    timeout=SYNTH_TIMEOUT,
                ) as resp,
                Progress(
                    TextColumn("[bold]synthetic utility"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=out,
                    disable=plain is not None,
                ) as bar,
            ):
                if not resp.is_success:
                    resp.read()
                    if resp.status_code == 401 and attempt == 1 and creds.kind == "login":
                        creds = session.credentials(base, refused=creds)  # refreshed once, then again
                        if creds.kind == "login":
                            continue
                    raise session.http_failure(resp, base, creds)
                task = bar.add_task("feeders", total=feeders)
                for line in resp.iter_lines():
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if "error" in event:
                        raise fail(
                            event["error"].get("message", "failed"), event["error"].get("details") or []
                        )
                    made.append(event["feeder"])
                    bar.update(task, completed=event["done"])
                    if plain is not None:
                        status = "done" if event["done"] >= feeders else "running"
                        plain.update(int(event["done"]), 0, feeders, None, status)
                break
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach the gateway at {base}: {exc}") from None
    return made


def synth(
    feeders: Annotated[int, typer.Option("--feeders", min=1, max=5000, help="how many feeders")] = 20,
    seed: Annotated[int, typer.Option("--seed", help="same seed -> same utility, byte for byte")] = 42,
    site: Annotated[str, typer.Option("--site")] = "synth",
    local: Annotated[
        bool, typer.Option("--local", help="write straight into the local database, no services")
    ] = False,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="with --local: the data folder")] = None,
    ami_out: Annotated[
        Path | None,
        typer.Option("--ami-out", help="also write a year of AMI reads for the meters here (+ meters.csv)"),
    ] = None,
    ami_format: Annotated[str, typer.Option("--ami-format", help="parquet | csv")] = "parquet",
    ami_interval_min: Annotated[int, typer.Option("--ami-interval-min", help="15 or 60")] = 15,
    ami_months: Annotated[
        list[int] | None, typer.Option("--ami-month", help="only these months (1-12); default the whole year")
    ] = None,
    ami_faults: Annotated[
        bool, typer.Option("--ami-faults/--no-ami-faults", help="plant gaps, spikes, ... to find")
    ] = True,
    url: UrlOption = None,
) -> None:
    """Make the project's synthetic utility: feeders as twins, load and weather profiles."""
    if ami_format not in ("parquet", "csv") or ami_interval_min not in (15, 60):
        raise fail(
            "bad AMI options", [{"where": "--ami-format/--ami-interval-min", "message": "parquet|csv, 15|60"}]
        )
    if local:
        from gridtwin.cli import synth as local_synth  # the local path needs no gateway

        local_synth.synth(feeders=feeders, seed=seed, site=site, local=True, data_dir=data_dir)
    else:
        made = synth_remote(url, feeders, seed, site)
        out.print(f"wrote {len(made)} feeders: {made[0]} .. {made[-1]}" if made else "no feeders written")
    if ami_out is not None:
        from gridtwin.grid.synth.ami import write_synthetic_ami

        started = time.perf_counter()
        written = write_synthetic_ami(
            ami_out,
            feeders,
            seed,
            interval_min=ami_interval_min,
            fmt="csv" if ami_format == "csv" else "parquet",
            faults=ami_faults,
            months=ami_months or None,
        )
        out.print(
            f"wrote AMI reads for the meters of {feeders} feeders to {ami_out} ({len(written.files)} files, "
            f"meter list {written.meters_csv.name}) in {time.perf_counter() - started:.1f} s"
        )


def register(app: typer.Typer) -> None:
    app.add_typer(qsts_app, name="qsts")
    app.add_typer(jobs_app, name="jobs")
    app.command("synth", help="Make a synthetic utility (feeders, twins, profiles).")(synth)
