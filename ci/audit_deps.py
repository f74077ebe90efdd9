"""Audit every version pinned in uv.lock for known vulnerabilities; ci/lint runs it.

    uv run --frozen python ci/audit_deps.py [--ignore-vuln ID ...]

1. ``uv export`` lists the locked set: every workspace member, every dependency group and extra, with
   the environment markers dropped (the lock serves Python 3.11 and 3.12 and every platform, so a pin
   for another interpreter or for Windows is audited too). A name pinned at two versions (one per
   Python) goes to a second requirements file, since pip-audit takes one pin per name.
2. pip-audit checks each pin against PyPI's per-release vulnerability data (PyPI's copy of OSV).
3. Where the index does not answer for a release (a mirror or proxy that serves a project's JSON but not
   a release's: pip-audit then reports the pin as "not found" and passes), the pin is checked against
   the vulnerabilities the index lists for the project's latest release. That is exact when the pin is
   the latest release; for an older pin only what is still open at the latest release can be seen, so
   those pins are named as checked in part.

Exit 0: no known vulnerability (an ignored one is printed, not counted). Exit 1: a vulnerability that
is not ignored. Exit 2: the vulnerability data could not be had (after retries): the audit did not run,
so it fails rather than pass on nothing. Ignoring: ``--ignore-vuln ID`` (an id or an alias), each one
with a comment in ci/lint saying why it does not apply or why it cannot be fixed yet.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
PYPI_JSON = "https://pypi.org/pypi"  # what pip-audit's "pypi" service asks too
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)\s*(?:;.*)?$")
TRIES = 3
TIMEOUT_S = 30.0


class Unavailable(Exception):
    """The vulnerability data could not be fetched: the audit cannot say anything."""


@dataclass
class Finding:
    name: str
    version: str
    vuln_id: str
    aliases: list[str]
    fixed_in: list[str]
    source: str

    def ids(self) -> set[str]:
        return {self.vuln_id, *self.aliases}

    def line(self) -> str:
        fix = ", ".join(self.fixed_in) if self.fixed_in else "no fixed release"
        also = f" ({', '.join(self.aliases)})" if self.aliases else ""
        return f"{self.name} {self.version}: {self.vuln_id}{also}; fixed in: {fix} [{self.source}]"


@dataclass
class Report:
    pins: list[tuple[str, str]] = field(default_factory=list)
    per_release: int = 0
    latest_exact: int = 0
    partial: list[tuple[str, str, str]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def locked_pins() -> list[tuple[str, str]]:
    """(name, version) for every registry package in the lock, all members, groups and extras."""
    cmd = [
        "uv", "export", "--frozen", "--all-packages", "--all-groups", "--all-extras",
        "--no-emit-workspace", "--no-hashes", "--no-header", "--no-annotate",
        "--format", "requirements.txt", "-q",
    ]  # fmt: skip
    text = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    pins: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = PIN.match(line)
        if not m:
            raise SystemExit(f"audit: cannot audit the exported requirement {line!r} (not name==version)")
        pin = (str(canonicalize_name(m.group(1))), m.group(2))
        if pin not in pins:
            pins.append(pin)
    if not pins:
        raise SystemExit("audit: uv export listed no package")
    return pins


def split_one_per_name(pins: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    groups: list[list[tuple[str, str]]] = []
    for name, version in pins:
        for group in groups:
            if all(n != name for n, _ in group):
                group.append((name, version))
                break
        else:
            groups.append([(name, version)])
    return groups


def run_pip_audit(group: list[tuple[str, str]], work: Path, k: int) -> dict[str, Any]:
    """pip-audit's JSON report on ``group``; ignoring is done here (so an ignored one is still shown)."""
    req = work / f"pins-{k}.txt"
    req.write_text("".join(f"{n}=={v}\n" for n, v in group))
    out = work / f"audit-{k}.json"
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gridtwin" / "pip-audit"
    cmd = [
        sys.executable, "-m", "pip_audit", "--disable-pip", "--no-deps", "-r", str(req),
        "--vulnerability-service", "pypi", "--format", "json", "--output", str(out),
        "--aliases", "on", "--desc", "off", "--progress-spinner", "off",
        "--timeout", str(int(TIMEOUT_S)), "--cache-dir", str(cache),
    ]  # fmt: skip
    err = ""
    for attempt in range(TRIES):
        out.unlink(missing_ok=True)
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if out.exists() and proc.returncode in (0, 1):  # 1: vulnerabilities found, the report is written
            data: dict[str, Any] = json.loads(out.read_text())
            return data
        err = (proc.stderr or proc.stdout).strip()
        time.sleep(2**attempt)
    tail = "\n".join(err.splitlines()[-3:])
    raise Unavailable(f"pip-audit could not query the vulnerability service ({TRIES} tries):\n{tail}")


def fetch_project(name: str) -> dict[str, Any]:
    url = f"{PYPI_JSON}/{name}/json"
    last = ""
    for attempt in range(TRIES):
        try:
            req = urllib.request.Request(url, headers={"Accept": "application/json"})
            with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
                data: dict[str, Any] = json.load(resp)
                return data
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise Unavailable(f"{name} is not on the index ({url}: 404): it cannot be audited") from exc
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, TimeoutError, OSError, json.JSONDecodeError) as exc:
            last = str(getattr(exc, "reason", exc))
        time.sleep(2**attempt)
    raise Unavailable(f"cannot fetch {url} ({TRIES} tries): {last}")


def check_latest(name: str, version: str, project: dict[str, Any], report: Report) -> None:
    latest = str(project.get("info", {}).get("version", ""))
    try:
        exact = Version(latest) == Version(version)
    except InvalidVersion:
        exact = latest == version
    if exact:
        report.latest_exact += 1
    else:
        report.partial.append((name, version, latest))
    seen: set[str] = set()
    for vuln in project.get("vulnerabilities") or []:
        ids = {str(vuln["id"]), *(vuln.get("aliases") or [])}
        if vuln.get("withdrawn") or ids & seen:  # one advisory under two ids (PYSEC-, GHSA-) counts once
            continue
        seen |= ids
        source = "latest release" if exact else f"open at the latest release {latest}"
        report.findings.append(
            Finding(name, version, str(vuln["id"]), list(vuln.get("aliases") or []),
                    list(vuln.get("fixed_in") or []), source)
        )  # fmt: skip


def audit() -> Report:
    report = Report(pins=locked_pins())
    unanswered: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, group in enumerate(split_one_per_name(report.pins)):
            version_of = dict(group)
            data = run_pip_audit(group, Path(tmp), k)
            for dep in data.get("dependencies", []):
                name = str(canonicalize_name(dep["name"]))
                if "skip_reason" in dep:
                    unanswered.append((name, version_of[name]))
                    continue
                report.per_release += 1
                for vuln in dep.get("vulns", []):
                    report.findings.append(
                        Finding(name, dep["version"], vuln["id"], list(vuln.get("aliases") or []),
                                list(vuln.get("fix_versions") or []), "per release")
                    )  # fmt: skip
    if unanswered:
        names = sorted({n for n, _ in unanswered})
        with ThreadPoolExecutor(max_workers=8) as pool:
            projects = dict(zip(names, pool.map(fetch_project, names), strict=True))
        for name, version in unanswered:
            check_latest(name, version, projects[name], report)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ignore-vuln", action="append", default=[], metavar="ID")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # keep stdout and stderr in order
    ignore: list[str] = args.ignore_vuln
    start = time.monotonic()
    try:
        report = audit()
    except Unavailable as exc:
        print(f"audit: FAILED, no vulnerability data, nothing was audited: {exc}", file=sys.stderr)
        print("audit: pypi.org must be reachable for ci/lint to pass.", file=sys.stderr)
        return 2
    n = len(report.pins)
    fallback = report.latest_exact + len(report.partial)
    print(
        f"audit: {n} pinned versions in uv.lock (all members, groups and extras; every Python and platform)"
    )
    print(f"audit: {report.per_release} checked on per-release data by pip-audit", end="")
    if fallback:
        print(
            f"; the index has no per-release data for {fallback}, checked on its latest-release data instead:"
            f" {report.latest_exact} exactly (the pin is the latest), {len(report.partial)} in part (older pins)"
        )
        print("audit: checked in part (fixed vulnerabilities between the pin and the latest are not seen):")
        print("  " + ", ".join(f"{n} {v} (latest {latest})" for n, v, latest in report.partial))
    else:
        print()
    ignored = [f for f in report.findings if f.ids() & set(ignore)]
    open_ = [f for f in report.findings if not f.ids() & set(ignore)]
    for f in ignored:
        print(f"audit: ignored (see ci/lint): {f.line()}")
    unused = sorted(set(ignore) - {i for f in ignored for i in f.ids()})
    if unused and not fallback:
        print(f"audit: note: --ignore-vuln {', '.join(unused)} matched nothing; drop it from ci/lint")
    took = time.monotonic() - start
    if open_:
        print(f"audit: FAILED, known vulnerabilities: {len(open_)} ({took:.1f} s):", file=sys.stderr)
        for f in open_:
            print(f"  {f.line()}", file=sys.stderr)
        print(
            "audit: upgrade the package (uv lock --upgrade-package NAME) where a fixed release fits, else add"
            " --ignore-vuln ID to ci/lint with a comment saying why.",
            file=sys.stderr,
        )
        return 1
    print(f"audit: no known vulnerability ({took:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
