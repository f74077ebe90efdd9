"""QSTS on models: profile-backed shapes, bad inputs, unconverged hours and the 15-minute option."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gridtwin._dsslib import OpenDSSDirect, opendssdirect
from gridtwin.errors import EngineError, InputError, NotFoundError
from gridtwin.grid.model import FeederModel
from gridtwin.ingest.opendss import read_opendss
from gridtwin.powerflow import Engine
from gridtwin.powerflow.qsts import run_qsts
from gridtwin.powerflow.qsts_results import QstsSpec


def _opendss() -> Path:
    env = os.environ.get("GRIDTWIN_SHARED_DATA")
    base = Path(env) if env else Path(__file__).resolve().parents[4].parent / "shared" / "data"
    return base / "opendss"


IEEE123 = _opendss() / "IEEETestCases" / "123Bus" / "IEEE123Master.dss"
LOADSHAPE1 = _opendss() / "Examples" / "Loadshapes" / "LoadShape1.DSS"
REF = "loadshape/test/ls1"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> FeederModel:
    master = tmp_path_factory.mktemp("ieee123") / "master.dss"
    master.write_text(
        f'redirect "{IEEE123}"\nredirect "{LOADSHAPE1}"\nbatchedit load..* yearly=loadshape1\n',
        encoding="utf-8",
    )
    model, _ = read_opendss(master, "ieee123")
    return model


@pytest.fixture(scope="module")
def year(model: FeederModel) -> np.ndarray:
    return np.asarray(model.table("loadshapes")["mult"][0], dtype=np.float64)


def profile_backed(model: FeederModel, version: str = "p1") -> FeederModel:
    """The same feeder with its shape's values moved to the profile store."""
    shapes = model.table("loadshapes").copy()
    shapes["profile"] = [REF]
    shapes["mult"] = [np.array([], dtype=np.float64)]
    return dataclasses.replace(model, tables={**model.tables, "loadshapes": shapes}, version=version)


def test_profile_backed_shape_equals_inline(engine: Engine, model: FeederModel, year: np.ndarray) -> None:
    spec = QstsSpec(hours=72, start_hour=1000)
    inline = run_qsts(engine, model, spec)
    backed = run_qsts(engine, profile_backed(model), spec, profiles={REF: year})
    assert backed.energy == pytest.approx(inline.energy, rel=1e-12)
    pd.testing.assert_frame_equal(backed.buses, inline.buses)
    assert backed.version == "p1" and inline.version  # content hash when the model has none
    assert backed.hourly["time_utc"].iloc[0] == pd.Timestamp("2025-02-11T16:00:00Z")


def test_missing_profile_names_the_shape(engine: Engine, model: FeederModel) -> None:
    with pytest.raises(NotFoundError) as err:
        run_qsts(engine, profile_backed(model), QstsSpec(hours=24), profiles={})
    assert "loadshape.loadshape1" in err.value.details[0].where
    assert REF in err.value.details[0].message


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        (lambda v: v[:-1], "shape_too_short"),
        (lambda v: np.where(np.arange(len(v)) == 5, np.nan, v), "not_finite"),
        (lambda v: np.where(np.arange(len(v)) == 7, -0.5, v), "negative"),
    ],
    ids=["8759-points", "nan", "negative"],
)
def test_bad_profile_raises_input_error(
    engine: Engine, model: FeederModel, year: np.ndarray, edit: object, code: str
) -> None:
    values = edit(year.copy())  # type: ignore[operator]
    with pytest.raises(InputError) as err:
        run_qsts(engine, profile_backed(model, version=code), QstsSpec(hours=8760), profiles={REF: values})
    detail = err.value.details[0]
    assert "loadshape.loadshape1" in detail.where and REF in detail.where
    assert detail.code == code


def test_short_run_accepts_short_shape(engine: Engine, model: FeederModel, year: np.ndarray) -> None:
    # 8759 points cover a run that ends before the last hour.
    result = run_qsts(engine, profile_backed(model), QstsSpec(hours=24), profiles={REF: year[:-1]})
    assert result.unconverged_steps == 0


def test_model_that_does_not_compile_raises_engine_error(engine: Engine, model: FeederModel) -> None:
    lines = model.table("lines").copy()
    lines.loc[lines.index[3], "linecode"] = "no_such_code"
    broken = dataclasses.replace(model, tables={**model.tables, "lines": lines}, version="broken")
    with pytest.raises(EngineError):
        run_qsts(engine, broken, QstsSpec(hours=24))


def test_unconverged_hours_are_counted_and_the_run_completes(
    engine: Engine, model: FeederModel, year: np.ndarray
) -> None:
    spiked = year.copy()
    spiked[[10, 11, 30]] = 50.0
    result = run_qsts(engine, profile_backed(model, "spike"), QstsSpec(hours=48), profiles={REF: spiked})
    assert result.unconverged_steps >= 3
    assert {10, 11, 30} <= set(result.unconverged_step_list)
    assert result.unconverged_steps < 48 and result.hourly["converged"].sum() == 48 - result.unconverged_steps
    bad = result.hourly[~result.hourly["converged"]]
    assert bad["source_kw"].isna().all() and bad["vmin_bus"].isna().all()
    ok = result.hourly[result.hourly["converged"]]
    assert result.energy["delivered_kwh"] == pytest.approx(ok["source_kw"].sum())
    assert result.summary()["unconverged_steps"] == result.unconverged_steps


def test_fifteen_minute_steps_follow_opendss(engine: Engine, model: FeederModel) -> None:
    spec = QstsSpec(hours=48, step_minutes=15)
    result = run_qsts(engine, model, spec)
    assert result.steps == len(result.hourly) == 192
    assert result.hourly["time_utc"].iloc[1] - result.hourly["time_utc"].iloc[0] == pd.Timedelta(minutes=15)
    hours = result.buses["hours_outside_a"].to_numpy()
    np.testing.assert_array_equal(hours * 4, np.round(hours * 4))
    # OpenDSS's own 15-minute stepping (native Solve per step) delivers the same energy.
    dss = OpenDSSDirect(opendssdirect.dss.NewContext()._api_util, prefer_lists=False)
    dss.Basic.AllowChangeDir(False)
    dss.Text.Command(f'compile "{IEEE123}"')
    dss.Text.Command(f'redirect "{LOADSHAPE1}"')
    dss.Text.Command("batchedit load..* yearly=loadshape1")
    dss.Text.Command("set mode=yearly number=1 stepsize=15m controlmode=time")
    source_kw = []
    for _ in range(192):
        dss.Solution.Solve()
        source_kw.append(-dss.Circuit.TotalPower()[0])
    np.testing.assert_allclose(result.hourly["source_kw"], source_kw, rtol=1e-6)
    assert result.energy["delivered_kwh"] == pytest.approx(sum(source_kw) / 4, rel=1e-6)


def test_ambient_profile_drives_aging(engine: Engine, model: FeederModel) -> None:
    cool = run_qsts(engine, model, QstsSpec(hours=24, ambient_c=np.full(24, 0.0)))
    hot = run_qsts(engine, model, QstsSpec(hours=24, ambient_c=40.0))
    xf = cool.elements["kind"] == "transformer"
    assert (
        hot.elements.loc[xf, "equivalent_aging_factor"] > cool.elements.loc[xf, "equivalent_aging_factor"]
    ).all()
    with pytest.raises(InputError):
        run_qsts(engine, model, QstsSpec(hours=24, ambient_c=np.zeros(10)))


def test_bad_period_is_rejected(engine: Engine, model: FeederModel) -> None:
    with pytest.raises(InputError):
        run_qsts(engine, model, QstsSpec(hours=24, step_minutes=7))
