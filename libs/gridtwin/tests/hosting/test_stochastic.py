"""Stochastic hosting capacity: sampling (pure), aggregation (pure) and runs on real OpenDSS."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from gridtwin.errors import InputError
from gridtwin.grid.dss_writer import write_dss
from gridtwin.grid.synth import synth_feeder
from gridtwin.grid.synth.utility import synth_utility_profiles
from gridtwin.hosting import stochastic
from gridtwin.hosting.placement import SizeDistribution, draw_deployment
from gridtwin.hosting.stochastic import (
    CAPACITY_COLUMNS,
    STEP_COLUMNS,
    ChunkResult,
    StochasticSpec,
    chunk_ranges,
    run_chunk,
    summarize,
)
from gridtwin.powerflow import Engine
from stochastic_support import IEEE13, VOLTAGE_ONLY, candidates, inject_bad_bus

# -- sampling ------------------------------------------------------------------------------


def test_same_seed_same_deployment_and_other_seed_another() -> None:
    cands = candidates(list(np.linspace(100.0, 5000.0, 60)), ["res"] * 50 + ["com"] * 8 + ["ind"] * 2)
    a = draw_deployment(cands, seed=7, sample=3, placement="random")
    b = draw_deployment(cands, seed=7, sample=3, placement="random")
    assert np.array_equal(a.order, b.order) and np.array_equal(a.size_kw, b.size_kw)
    assert not np.array_equal(a.order, draw_deployment(cands, seed=8, sample=3, placement="random").order)
    assert not np.array_equal(a.order, draw_deployment(cands, seed=7, sample=4, placement="random").order)
    assert sorted(a.order.tolist()) == list(range(60))  # a permutation: each customer at most once


def test_sizes_follow_class_and_are_shared_by_placements() -> None:
    classes = ["res"] * 40 + ["com"] * 15 + ["ind"] * 5
    cands = candidates(list(np.linspace(100.0, 5000.0, 60)), classes)
    sizes = {}
    for placement in ("random", "close", "far"):
        dep = draw_deployment(cands, seed=1, sample=0, placement=placement)
        full = np.empty(60)
        full[dep.order] = dep.size_kw
        sizes[placement] = full
    assert np.array_equal(sizes["random"], sizes["close"]) and np.array_equal(sizes["close"], sizes["far"])
    full = sizes["random"]
    assert np.all((full[:40] >= 4) & (full[:40] <= 10))
    assert np.all((full[40:55] >= 25) & (full[40:55] <= 100))
    assert np.all((full[55:] >= 100) & (full[55:] <= 500))
    logn = draw_deployment(
        cands,
        seed=1,
        sample=0,
        placement="random",
        sizes={k: SizeDistribution(4, 10, "lognormal") for k in ("res", "com", "ind")},
    )
    assert np.all((logn.size_kw >= 4) & (logn.size_kw <= 10))


def test_close_and_far_orderings_favour_distance() -> None:
    cands = candidates(list(np.linspace(0.0, 4000.0, 200)))
    first = {
        p: np.mean(
            [
                cands.distance_m[draw_deployment(cands, seed=2, sample=s, placement=p).order[:40]].mean()
                for s in range(5)
            ]
        )
        for p in ("close", "random", "far")
    }
    assert first["close"] < first["random"] - 500 < first["far"] - 1000


def test_steps_are_nested_and_hold_their_target() -> None:
    dep = draw_deployment(candidates([100.0] * 30), seed=3, sample=0, placement="random")
    total = float(dep.size_kw.sum())
    previous = np.zeros(30)
    for target in (10.0, 25.0, 60.0, 100.0, total + 50.0):
        kw = dep.kw_at(target)
        assert kw.sum() == pytest.approx(min(target, total))
        assert np.all(kw >= previous - 1e-12) and np.all(kw <= dep.size_kw + 1e-12)  # nested, partial last
        assert np.count_nonzero(kw < dep.size_kw) <= 30 - np.count_nonzero(kw == dep.size_kw)
        previous = kw


def test_bad_spec_is_an_input_error_naming_fields() -> None:
    spec = StochasticSpec(
        samples=0,
        placement="middle",
        steps_pct=(10.0, 5.0),
        inverter="magic",
        sizes={"res": SizeDistribution(5, 1)},
    )
    with pytest.raises(InputError) as info:
        spec.check()
    wheres = {d.where for d in info.value.details}
    assert {"samples", "placement", "steps_pct", "inverter", "sizes.res"} <= wheres
    assert chunk_ranges(10, 4) == [range(0, 4), range(4, 8), range(8, 10)]


# -- aggregation ---------------------------------------------------------------------------


def _chunk(caps: list[tuple[int, float, int | None]], steps: int = 4) -> ChunkResult:
    """Samples as (sample, capacity_kw, first violated step or None); early-stop rows."""
    rows, cap_rows = [], []
    for sample, cap, first in caps:
        last = steps - 1 if first is None else first
        for k in range(last + 1):
            bad = first is not None and k == first
            rows.append(
                (
                    sample,
                    k,
                    10.0 * (k + 1),
                    100.0 * (k + 1),
                    k + 1,
                    bad,
                    "overvoltage" if bad else "",
                    "",
                    "",
                    np.nan,
                    np.nan,
                )
            )
        cap_rows.append(
            (
                sample,
                cap,
                cap / 10.0,
                first is None,
                "overvoltage" if first is not None else "",
                "",
                "",
                last + 1,
            )
        )
    return ChunkResult(
        "f",
        "random",
        1000.0,
        pd.DataFrame(rows, columns=list(STEP_COLUMNS)),
        pd.DataFrame(cap_rows, columns=list(CAPACITY_COLUMNS)),
    )


def test_summary_percentiles_probability_and_retried_chunks() -> None:
    a = _chunk([(0, 100.0, 1), (1, 0.0, 0)])
    b = _chunk([(1, 0.0, 0), (2, 300.0, 3), (3, 400.0, None)])  # sample 1 again: a retried chunk
    s = summarize([a, b], steps_pct=[10.0, 20.0, 30.0, 40.0])
    caps = np.array([100.0, 0.0, 300.0, 400.0])
    assert s.samples_ok == 4 and s.samples_failed == 0 and s.censored == 1
    assert s.capacity_kw_p5 == pytest.approx(np.percentile(caps, 5))
    assert s.capacity_kw_mean == pytest.approx(caps.mean())
    assert s.capacity_kw_p95 == pytest.approx(np.percentile(caps, 95))
    assert s.violation["p_violated"].tolist() == [0.25, 0.5, 0.5, 0.75]
    assert s.violation["p_first_by"].tolist() == [0.25, 0.5, 0.5, 0.75]
    counts = dict(zip(s.limiting["criterion"], s.limiting["samples"], strict=True))
    assert counts == {"overvoltage": 3, "none": 1}
    assert s.to_dict()["capacity_kw_mean"] == pytest.approx(200.0)


# -- on OpenDSS ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synth_script() -> str:
    """The synthetic feeder 0 of seed 42 as one inline script (profiles written in)."""
    return write_dss(synth_feeder(0, 42).model, profiles=synth_utility_profiles(42))


@pytest.fixture
def engine() -> Iterator[Engine]:
    eng = Engine()
    yield eng
    eng.close()


def _capacities(result: ChunkResult) -> list[float]:
    return result.capacities["capacity_kw"].tolist()


def test_same_seed_same_summary_whatever_the_chunking(engine: Engine, synth_script: str) -> None:
    spec = StochasticSpec(samples=4, seed=5, criteria=VOLTAGE_ONLY)
    whole = run_chunk(engine, synth_script, spec, range(4))
    again = run_chunk(engine, synth_script, spec, range(4))
    split = [run_chunk(engine, synth_script, spec, r) for r in chunk_ranges(4, 2)]
    pd.testing.assert_frame_equal(whole.steps, again.steps)
    assert summarize(whole).to_dict() == summarize(again).to_dict() == summarize(split).to_dict()
    json.dumps(summarize(split).to_dict(), allow_nan=False)  # JSON-ready as it is
    other = run_chunk(
        engine, synth_script, StochasticSpec(samples=4, seed=6, criteria=VOLTAGE_ONLY), range(4)
    )
    assert _capacities(other) != _capacities(whole)


def test_capacity_distribution_is_sane_on_the_synthetic_feeder(engine: Engine, synth_script: str) -> None:
    spec = StochasticSpec(samples=6, seed=1, criteria=VOLTAGE_ONLY)
    result = run_chunk(engine, synth_script, spec, range(6))
    s = summarize(result, spec.steps_pct)
    assert not result.failed and s.samples_ok == 6
    assert result.peak_load_kw == pytest.approx(synth_feeder(0, 42).model.table("loads")["p_kw"].sum())
    assert 0 < s.capacity_kw_p5 <= s.capacity_kw_mean <= s.capacity_kw_p95 <= 2.0 * result.peak_load_kw
    assert s.capacity_pct_mean == pytest.approx(100.0 * s.capacity_kw_mean / result.peak_load_kw)
    steps = result.steps
    for cap in result.capacities.itertuples():
        rows = steps[steps["sample"] == cap.sample]
        first_bad = rows[rows["violated"]]
        # Capacity = PV kW of the last clean step before the first violation, which is named.
        assert len(first_bad) == 1 and int(first_bad["step"].iloc[0]) == len(rows) - 1
        assert cap.capacity_kw == pytest.approx(rows["pv_kw"].iloc[-2] if len(rows) > 1 else 0.0)
        assert cap.limiting_criterion in VOLTAGE_ONLY.enabled() and cap.limiting_element
    # Default criteria (DRIVE): reverse power through the substation binds at the minimum-load level.
    drive = summarize(run_chunk(engine, synth_script, StochasticSpec(samples=2, seed=1), range(2)))
    assert drive.capacity_pct_mean == pytest.approx(30.0) and drive.limiting["criterion"].tolist() == [
        "reverse_power"
    ]


def test_a_model_shipped_as_ipc_gives_what_its_script_gives(engine: Engine, synth_script: str) -> None:
    # What a Dask task receives: the model's Arrow IPC (profile-backed shapes are not needed by
    # snapshot solves, so the script without them judges the same).
    spec = StochasticSpec(samples=2, seed=4, criteria=VOLTAGE_ONLY)
    from_ipc = run_chunk(engine, synth_feeder(0, 42).model.to_ipc(), spec, range(2))
    assert from_ipc.feeder == "synth-s42-f0000"
    assert _capacities(from_ipc) == _capacities(run_chunk(engine, synth_script, spec, range(2)))


def test_full_curve_violation_probability_rises_with_penetration(engine: Engine, synth_script: str) -> None:
    steps_pct = tuple(float(p) for p in range(10, 130, 10))
    spec = StochasticSpec(samples=6, seed=2, criteria=VOLTAGE_ONLY, steps_pct=steps_pct, full_curve=True)
    result = run_chunk(engine, synth_script, spec, range(6))
    assert len(result.steps) == 6 * len(steps_pct)  # every step judged
    s = summarize(result, steps_pct)
    p = s.violation["p_violated"].to_numpy()
    assert np.all(np.diff(p) >= 0) and p[0] < p[-1]
    early = run_chunk(
        engine,
        synth_script,
        StochasticSpec(samples=6, seed=2, criteria=VOLTAGE_ONLY, steps_pct=steps_pct),
        range(6),
    )
    assert _capacities(early) == _capacities(result)  # early stop gives the same capacities
    assert summarize(early, steps_pct).violation["p_first_by"].tolist() == s.violation["p_first_by"].tolist()


def test_close_to_substation_hosts_more_than_far_where_voltage_binds(engine: Engine) -> None:
    # IEEE 13's customers sit on the primary, so the feeder's voltage rise (not a service
    # transformer's) binds; sizes scaled to its large spot loads.
    sizes = {"res": SizeDistribution(100.0, 400.0)}
    means = {}
    for placement in ("close", "far"):
        spec = StochasticSpec(samples=20, seed=1, placement=placement, criteria=VOLTAGE_ONLY, sizes=sizes)
        means[placement] = summarize(run_chunk(engine, IEEE13, spec, range(20))).capacity_kw_mean
    assert means["close"] > 1.3 * means["far"]


def test_a_failing_sample_is_recorded_and_the_others_finish(
    engine: Engine, synth_script: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = StochasticSpec(samples=4, seed=3, criteria=VOLTAGE_ONLY)
    clean = run_chunk(engine, synth_script, spec, range(4))
    monkeypatch.setattr(stochastic, "draw_deployment", inject_bad_bus(engine, bad_sample=2))
    result = run_chunk(engine, synth_script, spec, range(4))
    assert [f.sample for f in result.failed] == [2]
    assert any("no_such_command" in d["message"] for d in result.failed[0].details)
    assert result.capacities["sample"].tolist() == [0, 1, 3]
    # The circuit was rebuilt after the failure: sample 3 is exactly what a clean run gives.
    assert _capacities(result) == [c for s, c in zip(range(4), _capacities(clean), strict=True) if s != 2]
    s = summarize(result)
    assert s.samples_failed == 1 and s.samples_ok == 3 and s.failed[0].sample == 2


def test_volt_var_inverters_raise_the_capacity_where_voltage_binds(engine: Engine, synth_script: str) -> None:
    steps_pct = tuple(float(p) for p in range(20, 220, 20))
    caps = {}
    for inverter in ("none", "volt_var"):
        spec = StochasticSpec(
            samples=2, seed=1, criteria=VOLTAGE_ONLY, steps_pct=steps_pct, inverter=inverter
        )
        caps[inverter] = summarize(run_chunk(engine, synth_script, spec, range(2))).capacity_kw_mean
    assert caps["volt_var"] > 1.3 * caps["none"]
