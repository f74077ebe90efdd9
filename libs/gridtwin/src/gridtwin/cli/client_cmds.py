"""Commands that talk to a running gateway over REST: import, feeders, twin, powerflow.

The gateway is at ``--url`` (global or per command), else ``GRIDTWIN_URL``, else
http://127.0.0.1:8000. Every request carries the caller's credentials (``GRIDTWIN_TOKEN``, else the
session of ``gridtwin login``, refreshed when it expires: ``gridtwin.cli.session``). A failed call prints
the gateway's error message and its located details and exits with status 1; a 401 says how to log in,
a 403 what was not allowed, a 429 when to retry.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import click
import httpx
import typer

from gridtwin.cli import session
from gridtwin.cli.output import Col, fail, out, print_table
from gridtwin.cli.session import DEFAULT_URL
from gridtwin.cli.solver_opts import (
    MaxControlIterationsOption,
    MaxIterationsOption,
    ToleranceOption,
    solver_fields,
)
from gridtwin.rpc.logging import quiet_library_loggers

__all__ = ["API", "DEFAULT_URL", "JsonOption", "UrlOption", "base_url", "call", "fail", "register", "send"]

API = "/api/v1"
# Imports and power flows of large feeders take a while; plain reads should answer fast.
SLOW_TIMEOUT = httpx.Timeout(30.0, read=None)
FAST_TIMEOUT = httpx.Timeout(30.0)
SNAPSHOT_KEYS = (
    "feeder",
    "converged",
    "iterations",
    "losses_kw",
    "losses_kvar",
    "line_losses_kw",
    "transformer_losses_kw",
    "source_kw",
    "source_kvar",
    "voltages",
    "elements",
    "violations",
    "message",
    "solver",
)
# ``powerflow snapshot`` exit codes: 0 converged, 1 an error (bad input, gateway unreachable), 4 the
# power flow did not converge (the result, or its JSON, is printed all the same). ``hosting check``
# uses 3 for "does not fit".
NOT_CONVERGED_EXIT = 4

import_app = typer.Typer(help="Import feeder models through the gateway.", no_args_is_help=True)
feeders_app = typer.Typer(help="Feeders in the twin registry.", no_args_is_help=True)
twin_app = typer.Typer(help="Read twins.", no_args_is_help=True)
powerflow_app = typer.Typer(help="Run power flows.", no_args_is_help=True)

UrlOption = Annotated[
    str | None, typer.Option("--url", help="gateway base URL (default: global --url, $GRIDTWIN_URL)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print the gateway's JSON")]


def base_url(url: str | None) -> str:
    if url:
        return url.rstrip("/")
    ctx = click_context()
    if ctx is not None and isinstance(ctx.obj, dict) and ctx.obj.get("url"):
        return str(ctx.obj["url"]).rstrip("/")
    return os.environ.get("GRIDTWIN_URL", DEFAULT_URL).rstrip("/")


def click_context() -> click.Context | None:
    ctx = click.get_current_context(silent=True)
    return ctx.find_root() if ctx is not None else None


def _replayable(kwargs: dict[str, Any]) -> bool:
    """Whether the request body can be sent a second time (a streamed upload cannot)."""
    content = kwargs.get("content")
    return content is None or isinstance(content, bytes | str)


def send(
    method: str, url: str | None, path: str, *, timeout: httpx.Timeout = FAST_TIMEOUT, **kwargs: Any
) -> tuple[httpx.Response, session.Credentials]:
    """One request with the caller's credentials, and the credentials it went with. After a 401 the
    session is refreshed once and the request sent again (unless its body was a stream). Exit 1 when
    the gateway cannot be reached."""
    base = base_url(url)
    extra = dict(kwargs.pop("headers", None) or {})
    creds = session.credentials(base)
    try:
        resp = httpx.request(
            method, base + path, timeout=timeout, headers={**extra, **creds.headers}, **kwargs
        )
        if resp.status_code == 401 and creds.kind == "login" and _replayable(kwargs):
            creds = session.credentials(base, refused=creds)
            if creds.kind == "login":
                resp = httpx.request(
                    method, base + path, timeout=timeout, headers={**extra, **creds.headers}, **kwargs
                )
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach the gateway at {base}: {exc}") from None
    return resp, creds


def call(
    method: str,
    url: str | None,
    path: str,
    *,
    timeout: httpx.Timeout = FAST_TIMEOUT,
    raw: bool = False,
    **kwargs: Any,
) -> Any:
    """One request; the decoded JSON body (the bytes with ``raw``) on success, exit 1 with the
    gateway's error otherwise."""
    resp, creds = send(method, url, path, timeout=timeout, **kwargs)
    if resp.is_success:
        if raw:
            return resp.content
        return resp.json() if resp.content else None
    raise session.http_failure(resp, base_url(url), creds)


# References from one OpenDSS file to another: Redirect/Compile commands and file= (shapes, CSVs).
_REFERENCE = re.compile(r"""(?:\b(?:redirect|compile)\s+|\bfile\s*=\s*)("[^"]+"|'[^']+'|[^\s)\]]+)""", re.I)


def _referenced_files(files: list[Path]) -> list[Path]:
    """Every existing file that the .dss files among ``files`` reference, followed transitively.

    Model folders often reach outside themselves (IEEE 13's line codes live one level up), so an
    upload of the folder alone would not compile on the server.
    """
    seen = {f.resolve() for f in files}
    todo = [f for f in seen if f.suffix.lower() == ".dss"]
    found: list[Path] = []
    while todo:
        file = todo.pop()
        try:
            text = file.read_text(errors="replace")
        except OSError:
            continue
        for match in _REFERENCE.finditer(text):
            target = (file.parent / match.group(1).strip("\"'").replace("\\", "/")).resolve()
            if target.is_file() and target not in seen:
                seen.add(target)
                found.append(target)
                if target.suffix.lower() == ".dss":
                    todo.append(target)
    return found


_NEW_CIRCUIT = re.compile(r"^\s*new\s+(?:object\s*=\s*)?circuit\.", re.I | re.M)


def guess_master(folder: Path) -> str:
    """The master .dss of a folder: the one named "master", else the one defining the circuit
    ("" when that is not a single file; the server then lists the candidates)."""
    dss = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() == ".dss")
    named = [f for f in dss if "master" in f.name.lower()]
    if len(named) == 1:
        return named[0].name
    circuits = [f for f in named or dss if _NEW_CIRCUIT.search(f.read_text(errors="replace"))]
    return circuits[0].name if len(circuits) == 1 else ""


def zip_model(path: Path, master: str = "") -> tuple[bytes, str]:
    """An in-memory zip of an OpenDSS model and the master's path inside it ("" = let the server find it).

    A folder is zipped whole; a .dss file brings its folder along (redirects are relative to it), and
    files referenced from outside the folder come too, laid out relative to their common parent.
    """
    path = path.resolve()
    if path.is_file():
        folder, master = path.parent, master or path.name
    elif path.is_dir():
        folder, master = path, master or guess_master(path)
    else:
        raise fail(f"{path} is neither a folder nor a .dss file")
    files = [
        f
        for f in sorted(folder.rglob("*"))
        if f.is_file() and not any(part.startswith(".") for part in f.relative_to(folder).parts)
    ]
    files += _referenced_files(files)
    root = Path(os.path.commonpath([folder, *(f.parent for f in files)]))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for file in files:
            zf.write(file, file.relative_to(root).as_posix())
    master_in_zip = (folder / master).relative_to(root).as_posix() if master else ""
    return buf.getvalue(), master_in_zip


@import_app.command("opendss")
def import_opendss(
    path: Annotated[Path, typer.Argument(help="a folder with one master .dss, or the master .dss file")],
    feeder: Annotated[str, typer.Option("--feeder", help="feeder id, [A-Za-z0-9_-]{1,64}")],
    site: Annotated[str, typer.Option("--site", help="site (access control group)")] = "",
    master: Annotated[str, typer.Option("--master", help="master file name inside the folder")] = "",
    replace: Annotated[bool, typer.Option("--replace", help="replace an existing feeder of that id")] = False,
    server_path: Annotated[
        bool, typer.Option("--server-path", help="send PATH for the server to read instead of uploading")
    ] = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Import an OpenDSS model: zipped and uploaded, or read by the server from --server-path."""
    if server_path:
        # absolute: the server does not share our working folder
        body = {"path": str(path.absolute()), "feeder": feeder, "site": site, "master": master,
                "replace": replace}  # fmt: skip
        result = call("POST", url, f"{API}/feeders/import-path", json=body, timeout=SLOW_TIMEOUT)
    else:
        data, found_master = zip_model(path)
        form = {
            "feeder": feeder,
            "site": site,
            "master": master or found_master,
            "replace": str(replace).lower(),
        }
        files = {"file": (f"{feeder}.zip", data, "application/zip")}
        result = call("POST", url, f"{API}/feeders/import", data=form, files=files, timeout=SLOW_TIMEOUT)
    _print_import(result, as_json)


def _print_import(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out.print_json(data=result)
        return
    report = result["report"]
    out.print(
        f"imported feeder [bold]{result['feeder']}[/]: {result['twins']} twins, "
        f"{result['relationships']} relationships (the feeder's own twins, as `feeders list` counts "
        "them; the site twin it shares with the site's other feeders is not one of them)"
    )
    counts = dict(report["counts"])
    checked = counts.pop("check_warnings", None)  # the import's model checks, not a table
    print_table(
        [Col("table", key=True), Col("count", numeric=True)],
        [(name, count) for name, count in sorted(counts.items())],
        "mapped",
    )
    if checked is not None:
        found = f"{checked} finding(s), the first warnings below" if checked else "nothing found"
        out.print(f"model checks (floating phases, base case, ratings, impedances): {found}", markup=False)
    for label in ("warnings", "unmapped"):
        items = report.get(label) or []
        if items:
            out.print(f"{len(items)} {label}:")
            for d in items[:20]:
                out.print(f"  {d['where']}: {d['message']}", markup=False, highlight=False)
            if len(items) > 20:
                out.print(f"  ... {len(items) - 20} more (use --json)")


class RegulatorMode(StrEnum):
    controlled = "controlled"
    fixed = "fixed"


@import_app.command("cyme")
def import_cyme(
    paths: Annotated[
        list[Path], typer.Argument(help="the export's folder, or its files (network, equipment, load)")
    ],
    feeder: Annotated[str, typer.Option("--feeder", help="feeder id, [A-Za-z0-9_-]{1,64}")],
    site: Annotated[str, typer.Option("--site", help="site (access control group)")] = "",
    replace: Annotated[bool, typer.Option("--replace", help="replace an existing feeder of that id")] = False,
    server_path: Annotated[
        bool,
        typer.Option("--server-path", help="send the folder for the server to read instead of uploading"),
    ] = False,
    regulators: Annotated[
        RegulatorMode,
        typer.Option(
            "--regulators",
            help="controlled: regulators regulate (RegControls on); fixed: taps stay at the export's positions",
        ),
    ] = RegulatorMode.controlled,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Import a CYMDIST ASCII export: its files zipped and uploaded, or read by the server (--server-path)."""
    if server_path:
        if len(paths) != 1:
            raise fail("--server-path takes one folder or file")
        body = {"path": str(paths[0].absolute()), "feeder": feeder, "site": site, "replace": replace,
                "regulators": regulators.value}  # fmt: skip
        result = call("POST", url, f"{API}/feeders/import-cyme-path", json=body, timeout=SLOW_TIMEOUT)
    else:
        files: list[Path] = []
        for path in paths:
            if path.is_dir():
                files += sorted(f for f in path.iterdir() if f.is_file() and not f.name.startswith("."))
            elif path.is_file():
                files.append(path)
            else:
                raise fail(f"{path} is neither a folder nor a file")
        if not files:
            raise fail("no files to upload")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for file in files:
                zf.write(file, file.name)
        form = {
            "feeder": feeder,
            "site": site,
            "replace": str(replace).lower(),
            "regulators": regulators.value,
        }
        upload = {"file": (f"{feeder}.zip", buf.getvalue(), "application/zip")}
        result = call(
            "POST", url, f"{API}/feeders/import-cyme", data=form, files=upload, timeout=SLOW_TIMEOUT
        )
    _print_import(result, as_json)


GIS_SINGLE_FILES = (".geojson", ".json", ".csv", ".gpkg")


@import_app.command("gis")
def import_gis_cmd(
    paths: Annotated[
        list[Path],
        typer.Argument(help="GIS files (.shp with its sidecars, .geojson, .csv, .gpkg) or .gdb folders"),
    ],
    feeder: Annotated[
        str,
        typer.Option("--feeder", help="the feeder the layers belong to (default: every feeder they name)"),
    ] = "",
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="YAML mapping of layers/columns to assets")
    ] = None,
    overrides: Annotated[
        Path | None, typer.Option("--overrides", help="CSV gis_id,twin_id or YAML override table")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="match and report, write nothing")] = False,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Attach GIS layers to a feeder's twins: matched by id, then by place, type and phase."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in paths:
            if path.is_dir():  # a file geodatabase is a folder
                for file in sorted(path.rglob("*")):
                    if file.is_file():
                        zf.write(file, (Path(path.name) / file.relative_to(path)).as_posix())
            elif path.is_file():
                siblings = [path]
                if path.suffix.lower() == ".shp":  # a shapefile is several files
                    siblings = sorted(p for p in path.parent.glob(path.stem + ".*") if p.is_file())
                for file in siblings:
                    zf.write(file, file.name)
            else:
                raise fail(f"{path} is neither a file nor a folder")
    form = {
        "mapping": mapping.read_text(encoding="utf-8") if mapping else "",
        "overrides": overrides.read_text(encoding="utf-8") if overrides else "",
        "dry_run": str(dry_run).lower(),
    }
    upload = {"file": ("gis.zip", buf.getvalue(), "application/zip")}
    endpoint = f"{API}/feeders/{feeder}/gis" if feeder else f"{API}/gis"
    result = call("POST", url, endpoint, data=form, files=upload, timeout=SLOW_TIMEOUT)
    if as_json:
        out.print_json(data=result)
        return
    state = "applied" if result["applied"] else "dry run, nothing written"
    out.print(
        f"feeders [bold]{', '.join(result['feeders'])}[/]: {result['matched']} matched, "
        f"{result['unmatched']} unmatched, {result['conflicts']} conflicts ({state})"
    )
    report = result["report"]
    reports = report["feeders"] if "feeders" in report else {result["feeder"]: report}
    for name in report.get("skipped") or []:
        out.print(f"  skipped {name}: named by the layers but not in the registry", markup=False)
    for label in ("conflicts", "warnings", "unmapped"):
        items = [d for r in reports.values() for d in r.get(label) or []]
        if items:
            out.print(f"{len(items)} {label}:")
            for d in items[:20]:
                out.print(f"  {d['where']}: {d['message']}", markup=False, highlight=False)


def validate_against(
    results: Annotated[
        Path,
        typer.Argument(help="the other tool's results: CSV of bus, phase, voltage pu; element, loading %"),
    ],
    feeder: Annotated[str, typer.Option("--feeder", help="feeder id")],
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Compare our snapshot of a feeder with another tool's results: RMSE, max deviation, worst buses."""
    if not results.is_file():
        raise fail(f"{results} is not a file")
    upload = {"file": (results.name, results.read_bytes(), "text/csv")}
    report = call("POST", url, f"{API}/feeders/{feeder}/validate", files=upload, timeout=SLOW_TIMEOUT)
    if as_json:
        out.print_json(data=report)
        return

    def num(value: Any, unit: str) -> str:
        return "-" if value is None else f"{value:.4g} {unit}"

    out.print(f"feeder [bold]{feeder}[/] against {report['source']}")
    print_table(
        ["quantity", Col("rows", numeric=True), "RMSE", "max deviation"],
        [
            (
                "voltage",
                report["voltage_rows"],
                num(report["voltage_rmse_pu"], "pu"),
                num(report["voltage_max_dev_pu"], "pu"),
            ),
            (
                "loading",
                report["loading_rows"],
                num(report["loading_rmse_pct"], "%"),
                num(report["loading_max_dev_pct"], "%"),
            ),
        ],
    )
    worst = report.get("worst_buses") or []
    if worst:
        keys = list(worst[0])
        print_table(
            [Col(k, key=k in ("bus", "element", "name")) for k in keys],
            [[f"{row[k]:.5g}" if isinstance(row[k], float) else row[k] for k in keys] for row in worst[:10]],
            "worst buses",
        )


@feeders_app.command("list")
def feeders_list(
    site: Annotated[str, typer.Option("--site", help="only this site")] = "",
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """List the feeders in the registry."""
    result = call("GET", url, f"{API}/feeders", params={"site": site} if site else None)
    if as_json:
        out.print_json(data=result)
        return
    print_table(
        [Col("feeder", key=True), Col("site", key=True), Col("twins", numeric=True), "version"],
        [(f["id"], f["site"], f["twin_count"], f["version"]) for f in result["feeders"]],
    )


@twin_app.command("get")
def twin_get(twin_id: Annotated[str, typer.Argument(help="twin id")], url: UrlOption = None) -> None:
    """Print one twin document as JSON."""
    out.print_json(data=call("GET", url, f"{API}/twins/{twin_id}"))


@twin_app.command("query")
def twin_query(
    model: Annotated[str, typer.Option("--model", help="DTMI, subtypes included")] = "",
    feeder: Annotated[str, typer.Option("--feeder")] = "",
    site: Annotated[str, typer.Option("--site")] = "",
    filters: Annotated[
        list[str] | None, typer.Option("--filter", help="prop:op:value (op: eq ne lt le gt ge), repeatable")
    ] = None,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=10000)] = 1000,
    limit: Annotated[int, typer.Option("--limit", help="stop after this many twins (0 = all)")] = 0,
    as_json: JsonOption = False,
    url: UrlOption = None,
) -> None:
    """Query twins; follows the pages until done (or --limit)."""
    params: list[tuple[str, str | int]] = [("page_size", page_size)]
    params += [(k, v) for k, v in (("model", model), ("feeder", feeder), ("site", site)) if v]
    params += [("filter", f) for f in filters or []]
    twins: list[dict[str, Any]] = []
    next_page = ""
    while True:
        query = [*params, ("page_token", next_page)] if next_page else params
        page = call("GET", url, f"{API}/twins", params=query)
        twins.extend(page["twins"])
        next_page = page.get("next_page_token") or ""
        if not next_page or (limit and len(twins) >= limit):
            break
    if limit:
        twins = twins[:limit]
    if as_json:
        out.print_json(data=twins)
        return
    print_table(
        [Col("id", key=True), Col("model", key=True), Col("feeder", key=True)],
        [(t.get("$dtId", ""), t.get("$metadata", {}).get("$model", ""), t.get("feeder", "")) for t in twins],
        f"{len(twins)} twins",
    )


@powerflow_app.command("snapshot")
def powerflow_snapshot(
    feeder: Annotated[str, typer.Option("--feeder", help="feeder id")],
    as_json: Annotated[bool, typer.Option("--json", help="print the full result as JSON")] = False,
    max_iterations: MaxIterationsOption = None,
    max_control_iterations: MaxControlIterationsOption = None,
    tolerance: ToleranceOption = None,
    url: UrlOption = None,
) -> None:
    """Solve a snapshot power flow of a feeder and show voltages, loading, losses and violations.

    Exit status: 0 converged, 1 error, 4 not converged (the result is printed all the same, with
    --json too).
    """
    params = solver_fields(max_iterations, max_control_iterations, tolerance)
    result = call("POST", url, f"{API}/feeders/{feeder}/snapshot", params=params, timeout=SLOW_TIMEOUT)
    if as_json:
        typer.echo(json.dumps({k: result[k] for k in SNAPSHOT_KEYS if k in result}, indent=2))
    else:
        _print_snapshot(result)
    if not result["converged"]:
        raise typer.Exit(code=NOT_CONVERGED_EXIT)


def _print_snapshot(r: dict[str, Any]) -> None:
    state = "[green]converged[/]" if r["converged"] else "[bold red]NOT converged[/]"
    out.print(f"feeder [bold]{r['feeder']}[/]: {state} in {r['iterations']} iterations")
    if not r["converged"] and r.get("message"):
        out.print(r["message"], markup=False, highlight=False)
    summary: list[tuple[str, str]] = [
        ("source", f"{r['source_kw']:.1f} kW, {r['source_kvar']:.1f} kvar"),
        ("losses", f"{r['losses_kw']:.1f} kW, {r['losses_kvar']:.1f} kvar"),
        ("line / transformer losses", f"{r['line_losses_kw']:.1f} / {r['transformer_losses_kw']:.1f} kW"),
    ]
    voltages = [v for v in r["voltages"] if v["pu"] > 0]
    if voltages:
        low = min(voltages, key=lambda v: v["pu"])
        high = max(voltages, key=lambda v: v["pu"])
        summary.append(("min voltage", f"{low['pu']:.4f} pu at {low['bus']}.{low['node']}"))
        summary.append(("max voltage", f"{high['pu']:.4f} pu at {high['bus']}.{high['node']}"))
    if r["elements"]:
        top = max(r["elements"], key=lambda e: e["loading_pct"])
        summary.append(("max loading", f"{top['loading_pct']:.1f} % ({top['name']})"))
    summary.append(("violations", str(len(r["violations"]))))
    print_table(["quantity", "value"], summary)
    if r["violations"]:
        worst = sorted(r["violations"], key=lambda v: abs(v["value"] - v["limit"]), reverse=True)
        print_table(
            ["kind", Col("element", key=True), Col("value", numeric=True), Col("limit", numeric=True)],
            [(v["kind"], v["element"], f"{v['value']:.4g}", f"{v['limit']:.4g}") for v in worst[:20]],
            "violations (worst 20)",
        )


def _global_url(
    ctx: typer.Context,
    url: Annotated[
        str, typer.Option("--url", envvar="GRIDTWIN_URL", help="gateway base URL for the client commands")
    ] = DEFAULT_URL,
) -> None:
    """GridTwin: digital twin and OpenDSS planning for distribution feeders."""
    quiet_library_loggers()  # httpx's line per request is not the command's output
    ctx.ensure_object(dict)
    ctx.obj["url"] = url


def register(app: typer.Typer) -> None:
    """Add the client command groups (and the global ``--url``) to the top-level app."""
    app.add_typer(import_app, name="import")
    app.add_typer(feeders_app, name="feeders")
    app.add_typer(twin_app, name="twin")
    app.add_typer(powerflow_app, name="powerflow")
    app.command("validate-against", help="Compare a snapshot with another tool's results.")(validate_against)
    if app.registered_callback is None:
        app.callback()(_global_url)
