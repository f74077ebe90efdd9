"""``gridtwin hosting``: per-bus hosting capacity, connection checks and stochastic runs (via the gateway)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from gridtwin.cli.client_cmds import API, JsonOption, UrlOption, call
from gridtwin.cli.jobs_cmds import TERMINAL, follow_job
from gridtwin.cli.output import Col, out, print_table
from gridtwin.cli.solver_opts import (
    MaxControlIterationsOption,
    MaxIterationsOption,
    ToleranceOption,
    solver_fields,
)

__all__ = ["register"]

hosting_app = typer.Typer(
    help="Hosting capacity: every bus's limit with the binding criterion, connection checks, Monte Carlo.",
    no_args_is_help=True,
)
STUDY_TIMEOUT = httpx.Timeout(30.0, read=1800.0)
CSV_TIMEOUT = httpx.Timeout(30.0, read=600.0)
FeederOption = Annotated[str, typer.Option("--feeder", help="feeder id")]
InverterOption = Annotated[str, typer.Option("--inverter", help="none | pf | volt_var")]


def _fmt(v: Any, pattern: str = "{:.1f}") -> str:
    return "-" if v is None else pattern.format(v) if isinstance(v, (int, float)) else str(v)


def _print_buses(rows: list[dict[str, Any]], title: str) -> None:
    print_table(
        [Col("bus", key=True), "phases", Col("kV LL", numeric=True), Col("capacity kW", numeric=True),
         "limiting", Col("element", key=True), "snapshot"],
        [
            (
                r["bus"], _fmt(r.get("phases"), "{}"), _fmt(r.get("kv_base"), "{:.3g}"),
                _fmt(r.get("capacity_kw")), r.get("limiting_criterion") or "-",
                r.get("limiting_element") or "-", r.get("limiting_snapshot") or "-",
            )
            for r in rows
        ],
        title,
    )  # fmt: skip


@hosting_app.command("perbus")
def perbus(
    feeder: FeederOption,
    method: Annotated[
        str, typer.Option("--method", help="fast (sensitivities, verified) | exact (bisection)")
    ] = "fast",
    der: Annotated[str, typer.Option("--der", help="pv | load (EV or storage charging)")] = "pv",
    inverter: InverterOption = "none",
    buses: Annotated[list[str] | None, typer.Option("--bus", help="only these buses (repeatable)")] = None,
    show: Annotated[int, typer.Option("--show", help="most constrained buses to print")] = 10,
    tol_kw: Annotated[
        float | None,
        typer.Option(
            "--tol-kw", help="exact method: stop when the bracket is no wider than this (default 0.1)"
        ),
    ] = None,
    rel_tol_pct: Annotated[
        float | None,
        typer.Option(
            "--rel-tol-pct", help="exact method: ... or this % of its upper end, if wider (default 0.1)"
        ),
    ] = None,
    max_iterations: MaxIterationsOption = None,
    max_control_iterations: MaxControlIterationsOption = None,
    tolerance: ToleranceOption = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Every bus's hosting capacity on the feeder's current version (stored for the map and checks)."""
    body: dict[str, Any] = {"method": method, "der": der, "inverter": inverter, "buses": buses or [],
                            **solver_fields(max_iterations, max_control_iterations, tolerance)}  # fmt: skip
    if tol_kw is not None:
        body["tol_kw"] = tol_kw
    if rel_tol_pct is not None:
        body["rel_tol_pct"] = rel_tol_pct
    result = call("POST", url, f"{API}/feeders/{feeder}/hosting-capacity", json=body, timeout=STUDY_TIMEOUT)
    if as_json:
        out.print_json(data=result)
        return
    s = result["summary"]
    out.print(
        f"{feeder} ({s['method']}, {der}, inverter {inverter}): {s['buses']} buses in {s['seconds']:.1f} s; "
        f"capacity min {_fmt(s['min_kw'])} / median {_fmt(s['median_kw'])} / max {_fmt(s['max_kw'])} kW; "
        f"limits {s['limiting']}"
    )
    if s.get("gain"):
        g = s["gain"]
        out.print(
            f"{inverter} against no smart inverter: median gain {_fmt(g['median_kw'])} kW; "
            f"{g['buses_gaining']} buses gain, {g['buses_losing']} lose"
        )
    rows = sorted(result["rows"], key=lambda r: (r["capacity_kw"] is None, r["capacity_kw"] or 0.0))[:show]
    _print_buses(rows, "most constrained buses")


@hosting_app.command("results")
def results(
    feeder: FeederOption,
    der: Annotated[str, typer.Option("--der")] = "pv",
    inverter: InverterOption = "none",
    csv: Annotated[Path | None, typer.Option("--csv", help="write every bus to this CSV file")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000)] = 20,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Stored per-bus results, most constrained first (the REST order), or all of them as CSV."""
    params: dict[str, Any] = {"der": der, "inverter": inverter}
    if csv is not None:
        # Every bus in the gateway's own order (GET .../hosting-capacity: most constrained first).
        content: bytes = call(
            "GET", url, f"{API}/feeders/{feeder}/hosting-capacity", params={**params, "format": "csv"},
            timeout=CSV_TIMEOUT, raw=True,
        )  # fmt: skip
        csv.write_bytes(content)
        lines = content.count(b"\n")
        out.print(f"wrote {csv} ({max(lines - 1, 0)} buses)", markup=False, highlight=False)
        return
    page = call("GET", url, f"{API}/feeders/{feeder}/hosting-capacity", params={**params, "limit": limit})
    if as_json:
        out.print_json(data=page)
        return
    _print_buses(page["rows"], f"{feeder}: {page['total']} buses")


@hosting_app.command("check")
def check(
    feeder: FeederOption,
    bus: Annotated[str, typer.Option("--bus", help="a bus, or a meter/load name")],
    kw: Annotated[float, typer.Option("--kw", help="size to connect")],
    kind: Annotated[str, typer.Option("--kind", help="pv | storage | ev_load")] = "pv",
    inverter: InverterOption = "none",
    max_iterations: MaxIterationsOption = None,
    max_control_iterations: MaxControlIterationsOption = None,
    tolerance: ToleranceOption = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Can KW be connected at BUS? Exit 0 yes, 3 no."""
    body = {"bus": bus, "kw": kw, "kind": kind, "inverter": inverter,
            **solver_fields(max_iterations, max_control_iterations, tolerance)}  # fmt: skip
    r = call("POST", url, f"{API}/feeders/{feeder}/hosting-capacity/check", json=body, timeout=STUDY_TIMEOUT)
    if as_json:
        out.print_json(data=r)
    else:
        verdict = "[green]yes[/]" if r["ok"] else "[red]no[/]"
        out.print(
            f"{verdict}: {kw:g} kW {kind} at {r['bus']} — capacity {r['capacity_kw']:.1f} kW, margin "
            f"{r['margin_kw']:+.1f} kW, limited by {r['limiting_criterion'] or '-'} at {r['limiting_element'] or '-'}"
            + (" (recomputed: the feeder changed)" if r["recomputed"] else "")
        )
    if not r["ok"]:
        raise typer.Exit(code=3)


@hosting_app.command("stochastic")
def stochastic(
    feeders: Annotated[list[str] | None, typer.Option("--feeders", "--feeder", help="feeder ids")] = None,
    glob: Annotated[str, typer.Option("--glob", help="feeder ids matching this")] = "",
    site: Annotated[str, typer.Option("--site")] = "",
    samples: Annotated[int, typer.Option("--samples", min=1, max=10000)] = 10,
    placement: Annotated[str, typer.Option("--placement", help="random | close | far")] = "random",
    seed: Annotated[int, typer.Option("--seed", min=0)] = 0,
    full_curve: Annotated[
        bool, typer.Option("--full-curve", help="violation probability at every step")
    ] = False,
    inverter: InverterOption = "none",
    wait: Annotated[bool, typer.Option("--wait")] = False,
    max_iterations: MaxIterationsOption = None,
    max_control_iterations: MaxControlIterationsOption = None,
    tolerance: ToleranceOption = None,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Monte Carlo hosting capacity (PV placed at random customers in growing penetration steps)."""
    ids = [f.strip() for item in feeders or [] for f in item.split(",") if f.strip()]
    body = {"feeders": ids, "feeder_glob": glob, "site": site, "samples": samples, "placement": placement,
            "seed": seed, "full_curve": full_curve, "inverter": inverter,
            **solver_fields(max_iterations, max_control_iterations, tolerance)}  # fmt: skip
    job = call("POST", url, f"{API}/hosting/stochastic", json=body)
    if wait:
        job = follow_job(url, job)
        while job["status"] not in TERMINAL:  # follow_job returns at a terminal state; belt and braces
            time.sleep(1.0)
            job = call("GET", url, f"{API}/jobs/{job['id']}")
    if not wait:
        out.print(f"job [bold]{job['id']}[/]: {job['status']}")
        return
    result = call("GET", url, f"{API}/hosting/stochastic/{job['id']}")
    if as_json:
        out.print_json(data=result)
        return
    rows = []
    for f in result["feeders"]:
        limits = ", ".join(f"{x.get('criterion')}:{x.get('samples')}" for x in f.get("limiting", []))
        rows.append((
            f["feeder"], _fmt(f.get("peak_load_kw"), "{:.0f}"), _fmt(f.get("samples_ok"), "{}"),
            _fmt(f.get("capacity_kw_p5"), "{:.0f}"), _fmt(f.get("capacity_kw_mean"), "{:.0f}"),
            _fmt(f.get("capacity_kw_p95"), "{:.0f}"), _fmt(f.get("capacity_pct_mean")), limits,
        ))  # fmt: skip
    num = [
        Col(h, numeric=True) for h in ("peak kW", "samples", "P5 kW", "mean kW", "P95 kW", "mean % of peak")
    ]
    print_table([Col("feeder", key=True), *num, "limits"], rows,
                f"stochastic hosting capacity, job {job['id']}")  # fmt: skip
    if job["status"] == "failed":
        raise typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    app.add_typer(hosting_app, name="hosting")
