"""QSTS as a job kind: the per-feeder task that runs on a Dask worker process, its params, its kind.

A worker keeps one warm OpenDSS engine (``get_engine()``, one per process, its own private temp data
path, so models that write files beside themselves never collide between workers) and an LRU cache
of resolved profiles (feeders of one utility share most of their load shapes and the weather year).
The task writes the Parquet files itself (pure filesystem, the data directory is shared) and returns
the small part — the summary row and the element table — for the runner to checkpoint in SQL.

Errors: a ``GridTwinError`` (bad profile, missing ref, a model that does not compile) is a property
of the input, so retrying cannot help: it comes back as a failed ``TaskOutcome`` carrying its details
(they pickle fine, but an outcome keeps the retry decision here). Anything else (an unexpected
Python error) is raised, and Dask retries it; a worker that dies is rescheduled by the scheduler.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gridtwin.compute.kinds import JobKind, TaskFactory
from gridtwin.compute.specs import qsts_params, spec_from_json
from gridtwin.compute.tasks import TaskOutcome, failed_outcome, peak_rss_mb, worker_name
from gridtwin.errors import ErrorDetail, GridTwinError, InputError
from gridtwin.powerflow.qsts_results import QstsSpec

__all__ = [
    "QSTS_KIND",
    "FeederTask",
    "ProfileCache",
    "TaskOutcome",
    "feeder_profile_refs",
    "qsts_job_params",
    "qsts_kind",
    "run_feeder_qsts",
]

QSTS_KIND = "qsts"
PROFILE_CACHE_BYTES = 256 * 1024 * 1024  # about 3,600 hourly year profiles (float64) per worker


@dataclass(frozen=True)
class FeederTask:
    """Everything one feeder's run needs; small enough to ship (a model IPC is a few MB at most)."""

    job_id: str
    feeder: str
    model_ipc: bytes
    spec: QstsSpec
    profile_root: str
    results_root: str
    scenario_json: str = ""  # a validated gridtwin.scenarios Scenario as JSON ("" = the base case)
    scenario_tag: str = ""  # names the scenario's profile refs (scenario/<tag>/...) and overlay twins


class ProfileCache:
    """Resolved profiles by (root, ref), least recently used evicted past a byte budget.

    Hand-written (an OrderedDict) because misses are resolved in one batch per feeder through
    ``ProfileStore.resolve`` (one Parquet read per partition), which ``functools.lru_cache`` cannot
    express. Entries are keyed also by the partition file's mtime and size, so a partition replaced
    by ``ProfileStore.write`` is read again.
    """

    def __init__(self, max_bytes: int = PROFILE_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, str, tuple[int, int]], np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _stamp(root: Path, ref: str) -> tuple[int, int]:
        parts = ref.split("/")
        if len(parts) != 3:
            return (0, 0)  # the store names the bad ref when resolving it
        kind, partition, _ = parts
        try:
            st = (root / f"kind={kind}" / f"partition={partition}" / "profiles.parquet").stat()
        except OSError:
            return (0, 0)
        return (st.st_mtime_ns, st.st_size)

    def resolve(self, root: Path, refs: Iterable[str]) -> dict[str, np.ndarray]:
        from gridtwin.store.profiles import ProfileStore

        wanted = sorted(set(refs))
        out: dict[str, np.ndarray] = {}
        missing: list[str] = []
        keys = {ref: (str(root), ref, self._stamp(root, ref)) for ref in wanted}
        with self._lock:
            for ref in wanted:
                hit = self._items.get(keys[ref])
                if hit is None:
                    missing.append(ref)
                else:
                    self._items.move_to_end(keys[ref])
                    out[ref] = hit
            self.hits += len(out)
            self.misses += len(missing)
        if missing:
            resolved = ProfileStore(root).resolve(missing)
            with self._lock:
                for ref, values in resolved.items():
                    arr = np.asarray(values, dtype=np.float64)
                    arr.setflags(write=False)  # shared between feeders: nobody may change it
                    out[ref] = arr
                    key = keys.get(ref, (str(root), ref, (0, 0)))
                    if key not in self._items:
                        self._items[key] = arr
                        self._bytes += arr.nbytes
                while self._bytes > self.max_bytes and self._items:
                    _, old = self._items.popitem(last=False)
                    self._bytes -= old.nbytes
        return out

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


_CACHE = ProfileCache()  # one per worker process


def feeder_profile_refs(model: Any) -> tuple[list[str], str]:
    """The profile refs a model's load shapes use, and its ambient-temperature ref ("" if none)."""
    shapes = model.table("loadshapes")
    refs: list[str] = []
    if "profile" in shapes:
        refs = sorted({str(r) for r in shapes["profile"].dropna() if str(r)})
    ambient = str(model.circuit.get("ambient_profile") or "")
    return refs, ambient


def _ambient_for_run(values: np.ndarray, spec: QstsSpec, ref: str) -> np.ndarray:
    """The run's hours of an hourly ambient profile (wrapping around the end of the year)."""
    if values.ndim != 1 or not len(values):
        raise InputError(
            "ambient profile is empty",
            [ErrorDetail(where=f"circuit.ambient_profile={ref}", message="no values")],
        )
    if not np.all(np.isfinite(values)):
        raise InputError(
            "ambient profile has NaN/inf",
            [ErrorDetail(where=f"circuit.ambient_profile={ref}", message="non-finite values")],
        )
    hours = np.arange(spec.start_hour, spec.start_hour + spec.hours)
    return np.take(values, hours, mode="wrap")


@functools.lru_cache(maxsize=8)
def _files_store(results_root: str) -> Any:
    """A result store used for its files only: workers never touch SQL, so its engine is an
    in-memory SQLite that is never connected (SQLAlchemy connects lazily)."""
    import sqlalchemy as sa

    from gridtwin.store.results import QstsResultStore

    return QstsResultStore(sa.create_engine("sqlite://"), Path(results_root))


def _weather_refs(model: Any) -> list[str]:
    """The feeder's weather profile refs (temperature and, beside it, irradiance) when it has them."""
    ref = str(model.circuit.get("ambient_profile") or "")
    return [ref, ref.rsplit("/", 1)[0] + "/ghi_w_per_m2"] if ref else []


def _apply_scenario(
    task: FeederTask, model: Any, profile_root: Path, spec: QstsSpec, resolved: dict[str, np.ndarray]
) -> tuple[Any, dict[str, np.ndarray], QstsSpec, dict[str, Any]]:
    """Compose the task's scenario on the feeder: the model, profiles and ambient QSTS runs on, and
    the composition's ledger and overlay written beside the feeder's results."""
    from gridtwin.scenarios.overlay import compose_feeder
    from gridtwin.scenarios.schema import Scenario

    scenario = Scenario.model_validate_json(task.scenario_json)
    # The base shapes are resolved already; only the irradiance beside the temperature is new.
    weather = [
        r for r in _weather_refs(model) if r not in resolved and (profile_root / _partition_file(r)).is_file()
    ]
    profiles = {**resolved, **(_CACHE.resolve(profile_root, weather) if weather else {})}
    composed = compose_feeder(model, scenario, profiles, profile_tag=task.scenario_tag or "run")
    # The composed feeder shares the base version but not its content: a variant of its own.
    composed.model.version = model.version
    spec = dataclasses.replace(spec, ambient_c=_ambient_for_run(composed.ambient_c, spec, "scenario weather"))
    out = _files_store(task.results_root).feeder_dir(task.job_id, task.feeder)
    out.mkdir(parents=True, exist_ok=True)
    composed.ledger.to_parquet(out / "scenario_ledger.parquet", index=False)
    composed.overlay_twins.to_parquet(out / "scenario_overlay.parquet", index=False)
    info = {
        "scenario": {
            "counts": composed.counts,
            "ledger": composed.ledger.to_dict(orient="records"),
            "notes": [n.to_dict() for n in composed.notes],
        }
    }
    return composed.model, composed.profiles, spec, info


def _partition_file(ref: str) -> str:
    parts = ref.split("/")
    if len(parts) != 3:
        return "-"
    return f"kind={parts[0]}/partition={parts[1]}/profiles.parquet"


def run_feeder_qsts(task: FeederTask) -> TaskOutcome:
    """Run one feeder's QSTS on this worker's engine and write its Parquet files."""
    from gridtwin.grid.model import FeederModel
    from gridtwin.powerflow.engine import get_engine
    from gridtwin.powerflow.qsts import run_qsts

    start = time.perf_counter()
    timings: dict[str, float] = {}
    version = ""
    try:
        model = FeederModel.from_ipc(task.model_ipc)
        version = model.version
        timings["load_model"] = time.perf_counter() - start
        t = time.perf_counter()
        refs, ambient_ref = feeder_profile_refs(model)
        profile_root = Path(task.profile_root)
        profiles = _CACHE.resolve(profile_root, [*refs, *([ambient_ref] if ambient_ref else [])])
        spec = task.spec
        if ambient_ref:
            spec = dataclasses.replace(
                spec, ambient_c=_ambient_for_run(profiles[ambient_ref], spec, ambient_ref)
            )
        timings["profiles"] = time.perf_counter() - t
        run_profiles = {r: profiles[r] for r in refs}
        info: dict[str, Any] = {}
        if task.scenario_json:
            t = time.perf_counter()
            model, run_profiles, spec, info = _apply_scenario(task, model, profile_root, spec, profiles)
            timings["scenario"] = time.perf_counter() - t
        t = time.perf_counter()
        variant = hashlib.sha256(task.scenario_json.encode()).hexdigest()[:16] if task.scenario_json else ""
        result = run_qsts(get_engine(), model, spec, profiles=run_profiles, variant=variant)
        timings["qsts"] = time.perf_counter() - t
        t = time.perf_counter()
        # Files only: the store's SQL side runs in the runner, in the checkpoint transaction.
        _files_store(task.results_root).write_feeder_files(task.job_id, result)
        timings["write_files"] = time.perf_counter() - t
        summary = result.summary()
        elements = result.elements
    except GridTwinError as exc:
        timings["total"] = time.perf_counter() - start
        return failed_outcome(task.feeder, version, exc, timings)
    timings["total"] = time.perf_counter() - start
    return TaskOutcome(
        feeder=task.feeder,
        version=version,
        summary=summary,
        elements=elements,
        timings=timings,
        worker=worker_name(),
        peak_rss_mb=peak_rss_mb(),
        info=info,
    )


def qsts_job_params(
    feeders: Iterable[str],
    spec: QstsSpec,
    *,
    extra: Mapping[str, Any] | None = None,
    scenario: Mapping[str, Any] | None = None,
    scenario_id: str = "",
) -> dict[str, Any]:
    """A QSTS job's stored params: the spec, and the scenario (a validated one, as a JSON-ready dict)
    composed on every feeder before its run, with anything ``extra`` (seeds, the selection)."""
    more = dict(extra or {})
    if scenario is not None:
        more.update(scenario=dict(scenario), scenario_id=scenario_id)
    return qsts_params(list(feeders), spec, more)


def qsts_kind(
    results: Any, profile_root: Path, task_fn: Callable[[FeederTask], TaskOutcome] | None = None
) -> JobKind:
    """The QSTS ``JobKind``: results (a ``QstsResultStore``) get each done feeder's summary and element
    rows in its checkpoint, and its run manifest; shapes are read under ``profile_root``. ``task_fn``
    replaces ``run_feeder_qsts`` (tests wrap it, e.g. to kill a worker once)."""

    def prepare(job_id: str, params: Mapping[str, Any]) -> TaskFactory:
        spec = spec_from_json(dict(params.get("spec") or {}))
        body = params.get("scenario")
        scenario_json = json.dumps(body, sort_keys=True) if body else ""

        def make_task(feeder: str, ipc: bytes) -> FeederTask:
            return FeederTask(
                job_id=job_id,
                feeder=feeder,
                model_ipc=ipc,
                spec=spec,
                profile_root=str(profile_root),
                results_root=str(results.root),
                scenario_json=scenario_json,
                scenario_tag=job_id,
            )

        return make_task

    def rows_writer(job_id: str, outcome: TaskOutcome) -> Callable[[Any], None]:
        writer: Callable[[Any], None] = results.rows_writer(job_id, outcome.summary, outcome.elements)
        return writer

    return JobKind(QSTS_KIND, prepare, task_fn or run_feeder_qsts, rows_writer, results)
