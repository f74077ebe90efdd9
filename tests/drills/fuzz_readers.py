"""Fuzz every reader for a few minutes each and print examples/s and findings (issue 15's long run of
the bounded fuzzers in ``libs/gridtwin/tests/fuzz``).

    uv run --frozen --with atheris python tests/drills/fuzz_readers.py --minutes 2
    uv run --frozen --with atheris python tests/drills/fuzz_readers.py --readers opendss,cyme --minutes 10
    uv run --frozen python tests/drills/fuzz_readers.py --engine hypothesis --minutes 1

``--engine atheris`` (the default when atheris imports; it is not in the lock: ``--with atheris`` brings
its wheel): coverage-guided libFuzzer mutations driving the same structure-aware generators the CI tests
use (``fuzz_inputs``, through hypothesis's ``fuzz_one_input``), one child process per reader with the
reader's code instrumented; libFuzzer's ``-timeout`` turns a hang into a finding, and a crash of native
code (the OpenDSS engine, GDAL, Arrow) ends that child, is reported with the case that caused it, and
the reader's run goes on in a new child. ``--engine hypothesis``: random generation through the same
generators, cases run in the CI tests' worker process (hard time limit per case).

Findings (anything but "returned" or "refused with a located GridTwinError", see ``fuzz_targets``)
are grouped by kind and place; the smallest input of each is saved under ``--out/<reader>/<id>/`` to
become a regression test. Exit code 1 when there was a finding.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import os
import pickle
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
FUZZ = REPO / "libs" / "gridtwin" / "tests" / "fuzz"
sys.path.insert(0, str(FUZZ))

READERS = ("opendss", "cyme", "gis", "ami", "oms", "scenario", "dtdl", "archive")
# Per reader: (the module to import, the module prefixes atheris instruments for coverage).
MODULES: dict[str, tuple[str, list[str]]] = {
    "opendss": ("gridtwin.ingest.opendss", ["gridtwin.ingest.opendss", "gridtwin.powerflow.script_guard"]),
    "cyme": ("gridtwin.ingest.cyme", ["gridtwin.ingest.cyme"]),
    "gis": ("gridtwin.ingest.gis", ["gridtwin.ingest.gis"]),
    "ami": ("gridtwin.ingest.ami.read", ["gridtwin.ingest.ami"]),
    "oms": ("gridtwin.ingest.oms", ["gridtwin.ingest.oms", "openpyxl"]),
    "scenario": ("gridtwin.scenarios.loader", ["gridtwin.scenarios", "yaml"]),
    "dtdl": ("gridtwin.twin.dtdl", ["gridtwin.twin.dtdl"]),
    "archive": ("gridtwin.ingest.archive", ["gridtwin.ingest.archive", "zipfile"]),
}


# -- findings --------------------------------------------------------------------------------------


def signature(kind: str, text: str) -> str:
    """What makes two findings the same bug: the kind, the exception and the innermost frame of ours."""
    if kind in ("escaped", "crash"):
        frames = re.findall(r'File "([^"]+)", line (\d+)', text)
        ours = [f"{Path(f).name}:{n}" for f, n in frames if "gridtwin" in f] or [
            f"{Path(f).name}:{n}" for f, n in frames[-1:]
        ]
        last = text.strip().splitlines()[-1] if text.strip() else ""
        return f"{kind}: {last.split(':')[0]} at {ours[-1] if ours else '?'}"
    first = re.sub(r"\d+", "N", text.splitlines()[0] if text else "")[:120]
    return f"{kind}: {first}"


class Findings:
    def __init__(self, reader: str, out: Path) -> None:
        self.reader = reader
        self.out = out / reader
        self.counts: dict[str, int] = {}
        self.found: dict[str, dict[str, Any]] = {}
        self.examples = 0

    def add(self, kind: str, text: str, files: dict[str, bytes]) -> None:
        self.examples += 1
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if kind in ("ok", "refused"):
            return
        sig = signature(kind, text)
        size = sum(len(v) for v in files.values())
        old = self.found.get(sig)
        if old is None or size < old["size"]:
            key = hashlib.sha1(sig.encode()).hexdigest()[:10]
            folder = self.out / key
            folder.mkdir(parents=True, exist_ok=True)
            for f in folder.iterdir():
                f.unlink()
            for name, data in files.items():
                (folder / (name.replace("/", "_") or "_")).write_bytes(data)
            (folder / "finding.txt").write_text(f"{sig}\n\n{text}\n", encoding="utf-8")
            self.found[sig] = {"size": size, "folder": str(folder), "text": text[-1500:], "hits": 0}
        self.found[sig]["hits"] = self.found[sig].get("hits", 0) + 1

    def state(self) -> dict[str, Any]:
        return {"examples": self.examples, "counts": self.counts, "found": self.found}

    def merge(self, state: dict[str, Any]) -> None:
        self.examples += state["examples"]
        for k, v in state["counts"].items():
            self.counts[k] = self.counts.get(k, 0) + v
        for sig, f in state["found"].items():
            if sig not in self.found or f["size"] < self.found[sig]["size"]:
                self.found[sig] = f


def _strategy(reader: str) -> Any:
    from fuzz_inputs import STRATEGIES
    from hypothesis import strategies as st

    return st.one_of(*STRATEGIES[reader])


def _given(reader: str, run: Any) -> Any:
    """A hypothesis test over the reader's inputs calling ``run(files)``; never fails (findings are kept)."""
    from hypothesis import HealthCheck, given, settings

    @settings(database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(_strategy(reader))
    def one(files: dict[str, bytes]) -> None:
        run(files)

    return one


# -- atheris: one child per reader -------------------------------------------------------------------


def child(reader: str, seconds: float, timeout_s: float, out: Path, state_file: Path) -> None:
    """Runs inside the child: libFuzzer drives ``fuzz_one_input`` until ``seconds`` have passed."""
    import atheris
    from fuzz_targets import make_sandbox

    sandbox = make_sandbox(Path(tempfile.mkdtemp(prefix="gridtwin-fuzz-drill-")))
    import gridtwin._dsslib  # noqa: F401  (pins the C environ before OpenDSS loads)

    module, instrumented = MODULES[reader]
    with atheris.instrument_imports(include=instrumented):
        importlib.import_module(module)
    from fuzz_targets import TARGETS, run_case

    os.chdir(sandbox / "cwd")
    findings = Findings(reader, out)
    last = state_file.with_suffix(".case")
    saved = [time.monotonic()]

    def run(files: dict[str, bytes]) -> None:
        last.write_bytes(pickle.dumps(files))  # the case a crash or timeout leaves behind
        outcome = run_case(TARGETS[reader], files, sandbox)
        findings.add(outcome.kind, outcome.text, files)
        if time.monotonic() - saved[0] > 0.5:  # libFuzzer ends the process without Python's atexit
            state_file.write_text(json.dumps(findings.state()))
            saved[0] = time.monotonic()

    fuzz = _given(reader, run).hypothesis.fuzz_one_input

    def test_one_input(data: bytes) -> None:
        try:
            fuzz(data)
        except Exception as exc:  # hypothesis's own complaints about a buffer: not a reader finding
            findings.add("generator", f"{type(exc).__name__}: {exc}", {})

    corpus = out / "corpus" / reader
    corpus.mkdir(parents=True, exist_ok=True)
    if not any(corpus.iterdir()):  # long random seeds: hypothesis needs bytes to build a whole input
        for i in range(8):
            (corpus / f"seed{i}").write_bytes(random.Random(i).randbytes(512 << (i % 4)))
    argv = [
        sys.argv[0],
        f"-max_total_time={max(1, int(seconds))}",
        f"-timeout={int(timeout_s)}",
        "-rss_limit_mb=6144",
        "-max_len=8192",
        "-len_control=0",
        f"-artifact_prefix={out}/{reader}-",
        "-print_final_stats=0",
        str(corpus),
    ]
    state_file.write_text(json.dumps(findings.state()))
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


def run_atheris(reader: str, seconds: float, timeout_s: float, out: Path) -> Findings:
    findings = Findings(reader, out)
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 3:
        state_file = Path(tempfile.mkstemp(prefix=f"fuzz-{reader}-", suffix=".json")[1])
        cmd = [sys.executable, __file__, "--child", reader, "--seconds", f"{left:.0f}",
               "--timeout", f"{timeout_s:g}", "--out", str(out), "--state", str(state_file)]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=left + timeout_s + 120)
        with contextlib.suppress(json.JSONDecodeError, KeyError):
            findings.merge(json.loads(state_file.read_text() or "{}"))
        tail = "\n".join(proc.stderr.strip().splitlines()[-25:])
        case = state_file.with_suffix(".case")
        crashed = "ERROR: libFuzzer" in proc.stderr or "==ERROR" in proc.stderr or proc.returncode < 0
        if crashed or "ALARM" in proc.stderr:
            kind = "timeout" if "timeout" in proc.stderr.lower() and "ALARM" in proc.stderr else "crash"
            files = pickle.loads(case.read_bytes()) if case.exists() and case.stat().st_size else {}
            findings.add(kind, f"exit code {proc.returncode}\n{tail}", files)
        elif proc.returncode not in (0,) and time.monotonic() < end - 3:
            findings.add("crash", f"child exit code {proc.returncode}\n{tail}", {})
        state_file.unlink(missing_ok=True)
        case.unlink(missing_ok=True)
    return findings


# -- hypothesis fallback -------------------------------------------------------------------------------


def run_hypothesis(reader: str, seconds: float, timeout_s: float, out: Path) -> Findings:
    from fuzz_support import Worker

    findings = Findings(reader, out)
    worker = Worker(timeout_s)
    rng = random.Random(f"gridtwin-{reader}")

    def run(files: dict[str, bytes]) -> None:
        outcome = worker.run(reader, files)
        findings.add(outcome.kind, outcome.text, files)

    fuzz = _given(reader, run).hypothesis.fuzz_one_input
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            buffer = rng.randbytes(rng.choice((64, 512, 4096)))
            try:
                fuzz(buffer)
            except Exception as exc:
                findings.add("generator", f"{type(exc).__name__}: {exc}", {})
    finally:
        worker.close()
    return findings


# -- main ----------------------------------------------------------------------------------------------


def report(findings: Findings, seconds: float, engine: str) -> None:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(findings.counts.items()))
    rate = findings.examples / seconds if seconds else 0.0
    print(f"{findings.reader:9s} {engine:10s} {seconds:6.0f} s {findings.examples:8d} examples "
          f"{rate:8.1f}/s  {counts}  findings: {len(findings.found)}")  # fmt: skip
    for sig, f in sorted(findings.found.items()):
        print(f"    {sig}  ({f.get('hits', 1)} hits; smallest input {f['size']} bytes: {f['folder']})")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=2.0, help="per reader")
    parser.add_argument("--readers", default=",".join(READERS))
    parser.add_argument("--engine", choices=("atheris", "hypothesis", "auto"), default="auto")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds one case may take (a hang)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "gridtwin-fuzz-findings")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.seconds, args.timeout, args.out, args.state)
        return 0
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "hypothesis"
            print("atheris is not installed (run with `uv run --with atheris`): hypothesis alone", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    readers = [r.strip() for r in args.readers.split(",") if r.strip()]
    unknown = sorted(set(readers) - set(READERS))
    if unknown:
        parser.error(f"unknown readers {unknown}; choose from {', '.join(READERS)}")
    seconds = args.minutes * 60
    any_found = False
    for reader in readers:
        start = time.monotonic()
        run = run_atheris if engine == "atheris" else run_hypothesis
        findings = run(reader, seconds, args.timeout, args.out)
        report(findings, time.monotonic() - start, engine)
        any_found |= bool(findings.found)
        sys.stdout.flush()
    print(f"findings saved under {args.out}" if any_found else "no findings")
    return 1 if any_found else 0


if __name__ == "__main__":
    sys.exit(main())
