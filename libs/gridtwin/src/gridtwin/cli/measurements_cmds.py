"""Utility measurements through the gateway: ``gridtwin import ami|meters|oms|weather``, ``gridtwin
imports list|show``, ``gridtwin ami summary|allocate`` and ``gridtwin reliability``.

Files are streamed to the gateway (``POST /api/v1/uploads``, 1 MiB at a time, never whole in memory)
unless ``--server-path`` asks the server to read them where they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import yaml

from gridtwin.cli.client_cmds import API, JsonOption, UrlOption, call, fail, import_app
from gridtwin.cli.output import Col, out, print_table

__all__ = ["register", "upload_file"]

IMPORT_TIMEOUT = httpx.Timeout(30.0, read=None)
READABLE = (".csv", ".txt", ".parquet", ".pq", ".xlsx", ".gz")
SiteOption = Annotated[str, typer.Option("--site", help="site the meters / feeders belong to")]
ServerPathOption = Annotated[
    bool, typer.Option("--server-path", help="send the path for the server to read instead of uploading")
]

imports_app = typer.Typer(help="Import records: status, progress and reports.", no_args_is_help=True)
ami_app = typer.Typer(help="Measured load from AMI: summaries and load allocation.", no_args_is_help=True)


def _chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while data := fh.read(size):
            yield data


def upload_file(url: str | None, path: Path) -> str:
    """Stream one file to the gateway; its upload id."""
    if not path.is_file():
        raise fail(f"no such file: {path}")
    reply = call(
        "POST", url, f"{API}/uploads", params={"filename": path.name}, content=_chunks(path),
        headers={"content-type": "application/octet-stream"}, timeout=IMPORT_TIMEOUT,
    )  # fmt: skip
    return str(reply["upload_id"])


def _files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in READABLE))
        else:
            found.append(p)
    if not found:
        raise fail(
            "no files to import", [{"where": ", ".join(map(str, paths)), "message": "nothing readable"}]
        )
    return found


def _issues(report: dict[str, Any], key: str = "issues", shown: int = 20) -> None:
    items = report.get(key) or []
    total = int(report.get(f"{key}_total") or len(items))
    if items:
        out.print(f"{total} {key}:")
        for d in items[:shown]:
            out.print(f"  {d.get('where', '')}: {d.get('message', '')}", markup=False, highlight=False)
        if total > shown:
            out.print(f"  ... {total - shown} more (use --json, or gridtwin imports show ID --json)")


def _print_counts(title: str, counts: dict[str, Any]) -> None:
    print_table(
        [Col("what", key=True), Col("count", numeric=True)],
        [(k, f"{v:,}" if isinstance(v, int) else v) for k, v in counts.items()],
        title,
    )


def _fmt(v: Any, pattern: str = "{:,.1f}") -> str:
    return "-" if v is None else pattern.format(v) if isinstance(v, (int, float)) else str(v)


def _print_ami(result: dict[str, Any]) -> None:
    rep = result["report"]
    out.print(f"AMI import [bold]{result['import_id']}[/]: {result['status']}")
    _print_counts("reads", rep.get("counts") or {})
    quality = rep.get("quality_summary") or {}
    if quality:
        _print_counts("quality", quality)
    _issues(rep)
    for note in rep.get("notes") or []:
        out.print(f"note: {note}", markup=False, highlight=False)
    agg = (rep.get("aggregation") or {}).get("feeders") or {}
    if agg:
        heads = ("meters", "xfmrs", "MWh", "peak kW")
        print_table(
            [Col("feeder", key=True), *(Col(h, numeric=True) for h in heads), "peak UTC",
             *(Col(h, numeric=True) for h in ("LF", "CF", "coverage", "head ratio"))],
            [
                (
                    f, _fmt(s.get("meters"), "{}"), _fmt(s.get("transformers"), "{}"),
                    _fmt((s.get("energy_kwh") or 0) / 1000.0), _fmt(s.get("peak_kw")), s.get("peak_utc") or "-",
                    _fmt(s.get("load_factor"), "{:.3f}"), _fmt(s.get("coincidence_factor"), "{:.3f}"),
                    _fmt(s.get("coverage"), "{:.1%}"), _fmt(s.get("head_ratio"), "{:.3f}"),
                )
                for f, s in sorted(agg.items())
            ],
            f"measured load {rep['aggregation'].get('year')}",
        )  # fmt: skip
    for f, a in sorted((rep.get("allocation") or {}).items()):
        out.print(f"allocated {f}: {a}", markup=False, highlight=False)


@import_app.command("ami")
def import_ami_cmd(
    paths: Annotated[list[Path], typer.Argument(help="CSV / Parquet files, or folders of them")],
    site: SiteOption = "default",
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="IANA zone of naive timestamps (default UTC)")
    ] = None,
    timestamp_at: Annotated[str | None, typer.Option("--timestamp-at", help="end (default) | start")] = None,
    interval_min: Annotated[
        int | None, typer.Option("--interval-min", help="15, 60, ...; default: detect")
    ] = None,
    column: Annotated[
        list[str] | None, typer.Option("--column", help="FIELD=SOURCE_COLUMN, e.g. meter_id=MeterNo")
    ] = None,
    options_file: Annotated[
        Path | None, typer.Option("--options", help="YAML/JSON of AmiOptions (columns, thresholds)")
    ] = None,
    import_id: Annotated[str, typer.Option("--import-id", help="resume this import")] = "",
    allocate: Annotated[
        bool, typer.Option("--allocate", help="then put the measured load on the loads")
    ] = False,
    year: Annotated[int, typer.Option("--year", help="aggregation year (default: the reads' year)")] = 0,
    server_path: ServerPathOption = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Import AMI reads: streamed into the store by feeder and month, quality checked, gap filled and
    aggregated to service transformer and feeder. Transactional; --import-id resumes."""
    options: dict[str, Any] = {}
    if options_file is not None:
        try:
            loaded = yaml.safe_load(options_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise fail(f"cannot read {options_file}: {exc}") from None
        if not isinstance(loaded, dict):
            raise fail(f"{options_file}: expected a mapping of AmiOptions fields")
        options.update(loaded)
    for key, value in (
        ("timezone", timezone),
        ("timestamp_at", timestamp_at),
        ("interval_min", interval_min),
    ):
        if value is not None:
            options[key] = value
    if column:
        cols = dict(options.get("columns") or {})
        for item in column:
            field, sep, source = item.partition("=")
            if not sep or not field or not source:
                raise fail("bad --column", [{"where": "--column", "message": f"{item!r}: want FIELD=SOURCE"}])
            cols[field.strip()] = source.strip()
        options["columns"] = cols
    body: dict[str, Any] = {"site": site, "options": options, "import_id": import_id, "allocate": allocate,
                            "year": year}  # fmt: skip
    if server_path:
        body["paths"] = [str(p.resolve()) for p in paths]
    else:
        files = _files(paths)
        body["upload_ids"] = [upload_file(url, f) for f in files]
    result = call("POST", url, f"{API}/imports/ami", json=body, timeout=IMPORT_TIMEOUT)
    if as_json:
        out.print_json(data=result)
        return
    _print_ami(result)


@import_app.command("meters")
def import_meters_cmd(
    path: Annotated[
        Path | None, typer.Argument(help="meter list CSV (meter_id, feeder, lat, lon, ...)")
    ] = None,
    site: SiteOption = "default",
    from_twins: Annotated[
        bool, typer.Option("--from-twins", help="no list: the twin graph's loads are the meters")
    ] = False,
    overrides: Annotated[
        Path | None,
        typer.Option("--overrides", help="CSV meter_id,transformer[,feeder,note]: kept for later runs"),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="map and report, store nothing")] = False,
    server_path: ServerPathOption = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Build the meter directory: each meter's feeder and service transformer, with a confidence."""
    body: dict[str, Any] = {"site": site, "from_twins": from_twins, "dry_run": dry_run}
    if overrides is not None:
        body["overrides_csv"] = overrides.read_text(encoding="utf-8")
    if not from_twins:
        if path is None:
            raise fail("give a meter list, or --from-twins")
        body.update({"path": str(path.resolve())} if server_path else {"upload_id": upload_file(url, path)})
    result = call("POST", url, f"{API}/imports/meters", json=body, timeout=IMPORT_TIMEOUT)
    if as_json:
        out.print_json(data=result)
        return
    rep = result["report"]
    out.print(f"meter directory ({result['status']}{', dry run' if rep.get('dry_run') else ''}): "
              f"{rep.get('meters', 0):,} meters on {len(rep.get('feeders') or [])} feeders")  # fmt: skip
    _print_counts("method", rep.get("methods") or {})
    _print_counts("confidence", rep.get("confidence") or {})
    _issues(rep)


@import_app.command("oms")
def import_oms_cmd(
    path: Annotated[Path, typer.Argument(help="outage records: CSV or Excel (.xlsx)")],
    site: SiteOption = "default",
    mapping: Annotated[Path | None, typer.Option("--mapping", help="column mapping YAML")] = None,
    timezone: Annotated[str, typer.Option("--timezone", help="zone of naive timestamps")] = "UTC",
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="import the good rows, report the bad (default: refuse)")
    ] = False,
    server_path: ServerPathOption = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Import OMS outage records, linked to the twins of the devices that operated."""
    body: dict[str, Any] = {"site": site, "timezone": timezone, "skip_invalid": skip_invalid,
                            "mapping_yaml": mapping.read_text(encoding="utf-8") if mapping else ""}  # fmt: skip
    body.update({"path": str(path.resolve())} if server_path else {"upload_id": upload_file(url, path)})
    result = call("POST", url, f"{API}/imports/oms", json=body, timeout=IMPORT_TIMEOUT)
    if as_json:
        out.print_json(data=result)
        return
    rep = result["report"]
    out.print(
        f"OMS import {result['import_id']}: {result['status']}, {rep.get('outages', 0):,} outages on "
        f"{len(rep.get('feeders') or [])} feeders, {rep.get('linked_devices', 0):,} linked to a device twin"
    )
    _issues(rep)


@import_app.command("weather")
def import_weather_cmd(
    site: SiteOption = "default",
    feeder: Annotated[list[str] | None, typer.Option("--feeder", help="feeders to attach it to")] = None,
    lat: Annotated[
        float | None, typer.Option("--lat", help="latitude (default: the feeders' centroid)")
    ] = None,
    lon: Annotated[float | None, typer.Option("--lon")] = None,
    year: Annotated[int, typer.Option("--year", help="historical year (Open-Meteo archive)")] = 0,
    forecast: Annotated[bool, typer.Option("--forecast", help="the forecast instead of a year")] = False,
    days: Annotated[int, typer.Option("--days", min=1, max=16, help="forecast days")] = 7,
    attach: Annotated[
        bool, typer.Option("--attach/--no-attach", help="point the feeders' ambient profile at it")
    ] = True,
    offline: Annotated[bool, typer.Option("--offline", help="serve only from the cache")] = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Hourly weather (temperature, humidity, wind, GHI/DNI/DHI) from Open-Meteo for the feeders' area."""
    if not forecast and not year:
        raise fail("give --year (a historical year) or --forecast")
    body = {"site": site, "feeders": feeder or [], "lat": lat, "lon": lon, "year": year, "forecast": forecast,
            "forecast_days": days, "attach": attach, "offline": offline}  # fmt: skip
    result = call("POST", url, f"{API}/imports/weather", json=body, timeout=IMPORT_TIMEOUT)
    if as_json:
        out.print_json(data=result)
        return
    rep = result["report"]
    out.print(
        f"weather {result['status']}: {rep.get('hours', 0)} hours at {rep.get('lat')}, {rep.get('lon')} "
        f"({rep.get('source')}), mean {_fmt(rep.get('mean_temp_c'))} degC"
    )
    for ref in rep.get("profiles") or []:
        out.print(f"  profile {ref}", markup=False, highlight=False)
    if rep.get("attached_feeders"):
        out.print(f"attached to {len(rep['attached_feeders'])} feeders")
    for note in rep.get("notes") or []:
        out.print(f"note: {note}", markup=False, highlight=False)


@imports_app.command("list")
def imports_list(
    kind: Annotated[str, typer.Option("--kind", help="ami | meters | oms | weather")] = "",
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    rows = call("GET", url, f"{API}/imports", params={"kind": kind, "limit": limit})
    if as_json:
        out.print_json(data=rows)
        return
    print_table(
        [Col("import", key=True), "kind", "status", Col("site", key=True), "source", "created", "finished"],
        [(r["import_id"], r["kind"], r["status"], r["site"], r["source"], r["created_at"][:19],
          r["finished_at"][:19]) for r in rows],
        "imports",
    )  # fmt: skip


@imports_app.command("show")
def imports_show(import_id: str, as_json: JsonOption = False, url: UrlOption = None) -> None:
    r = call("GET", url, f"{API}/imports/{import_id}")
    if as_json or r["kind"] != "ami":
        out.print_json(data=r)
        return
    _print_ami(r)


@ami_app.command("summary")
def ami_summary(
    feeder: Annotated[str, typer.Option("--feeder", help="feeder id")],
    year: Annotated[int, typer.Option("--year")] = 0,
    transformers: Annotated[bool, typer.Option("--transformers", help="per service transformer too")] = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Measured load: energy, peak, load factor, coincidence factor, coverage, feeder-head check."""
    params: dict[str, Any] = {"year": year, "transformers": str(transformers).lower()}
    r = call("GET", url, f"{API}/feeders/{feeder}/load-summary", params=params)
    if as_json:
        out.print_json(data=r)
        return
    for s in r["years"]:
        out.print(
            f"{feeder} {s['year']}: {s.get('meters')} meters, {_fmt((s.get('energy_kwh') or 0) / 1000)} MWh, "
            f"peak {_fmt(s.get('peak_kw'))} kW at {s.get('peak_utc')}, LF {_fmt(s.get('load_factor'), '{:.3f}')}, "
            f"CF {_fmt(s.get('coincidence_factor'), '{:.3f}')}, coverage {_fmt(s.get('coverage'), '{:.1%}')}, "
            f"head ratio {_fmt(s.get('head_ratio'), '{:.3f}')}"
        )
    rows = sorted(r.get("transformers") or [], key=lambda t: -(t.get("peak_kw") or 0))
    if rows:
        print_table(
            [Col("transformer", key=True), *(Col(h, numeric=True) for h in ("meters", "peak kW", "LF", "CF"))],
            [(t.get("transformer"), _fmt(t.get("meters"), "{}"), _fmt(t.get("peak_kw")),
              _fmt(t.get("load_factor"), "{:.3f}"), _fmt(t.get("coincidence_factor"), "{:.3f}")) for t in rows[:20]],
            "service transformers (top 20 by peak)",
        )  # fmt: skip


@ami_app.command("allocate")
def ami_allocate(
    year: Annotated[int, typer.Option("--year", help="the measured year")],
    site: SiteOption = "default",
    feeder: Annotated[
        list[str] | None, typer.Option("--feeder", help="default: every feeder with reads")
    ] = None,
    min_coverage: Annotated[float, typer.Option("--min-coverage", min=0.0, max=1.0)] = 0.0,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Put measured 8760 shapes and peaks on the feeders' loads (a new feeder version for QSTS)."""
    body = {"site": site, "feeders": feeder or [], "year": year, "min_coverage": min_coverage}
    r = call("POST", url, f"{API}/ami/allocate", json=body, timeout=IMPORT_TIMEOUT)
    if as_json:
        out.print_json(data=r)
        return
    for f, rep in sorted(r["report"].items()):
        out.print(f"{f}: {rep}", markup=False, highlight=False)


def reliability_cmd(
    site: SiteOption = "default",
    feeder: Annotated[list[str] | None, typer.Option("--feeder")] = None,
    year: Annotated[list[int] | None, typer.Option("--year")] = None,
    beta: Annotated[float, typer.Option("--beta", help="major event day multiplier (IEEE 1366: 2.5)")] = 2.5,
    timezone: Annotated[str, typer.Option("--timezone", help="the utility's day for major event days")] = "",
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """IEEE 1366 SAIFI, SAIDI, CAIDI and MAIFI per feeder and system, major event days reported apart."""
    params: dict[str, Any] = {"site": site, "feeder": feeder or [], "year": year or [], "beta": beta}
    if timezone:
        params["timezone"] = timezone
    r = call("GET", url, f"{API}/reliability", params=params)
    if as_json:
        out.print_json(data=r)
        return
    rows = r.get("rows") or []
    keys = (
        "scope",
        "feeder",
        "year",
        "events",
        "customers_served",
        "saifi",
        "saidi_min",
        "caidi_min",
        "maifi",
    )
    print_table(
        [Col(k, key=k == "feeder") for k in keys],
        [[_fmt(row.get(k), "{:.3f}") if isinstance(row.get(k), float) else row.get(k) for k in keys]
         for row in rows],
        "IEEE 1366 reliability (events: all, or excluding major event days)",
    )  # fmt: skip
    for sys_year in r.get("system") or []:
        t_med = (sys_year.get("t_med") or {}).get("t_med_min")
        days = ", ".join(f"{d['date']} ({_fmt(d['saidi_min'])} min)" for d in sys_year.get("med_days") or [])
        out.print(
            f"{sys_year['year']}: T_MED {_fmt(t_med, '{:.3f}')} min; major event days: {days or 'none'}"
        )
    for note in r.get("notes") or []:
        out.print(f"note: {note}", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(imports_app, name="imports")
    app.add_typer(ami_app, name="ami")
    app.command("reliability", help="IEEE 1366 reliability indices from the imported outage records.")(
        reliability_cmd
    )
