"""IEEE 1366 indices: a hand-computed example, and the 2.5-beta major-event-day method."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from gridtwin.errors import InputError
from gridtwin.ingest.oms import OmsMapping, read_oms, reliability
from gridtwin.ingest.oms.read import empty_outages
from oms_support import write_csv

SERVED = {"f1": 1000, "f2": 500}


def _outages(tmp_path: Path) -> pd.DataFrame:
    frame, issues = read_oms(write_csv(tmp_path / "outages.csv"), OmsMapping())
    assert issues == []
    return frame


def test_hand_computed_indices(tmp_path: Path) -> None:
    """Feeders f1 (1,000 customers) and f2 (500); system N = 1,500. The outages (oms_support.ROWS):

    ====  ==  =========================  ========  ====  =========================  ==========
    id    fd  start -> end (UTC)         minutes   CI    CMI                        kind
    ====  ==  =========================  ========  ====  =========================  ==========
    O1    f1  03-01 10:00 -> 11:30       90        200   200 x 90 = 18,000          sustained
    O2    f1  12-31 23:00 -> 01-01 01:00 120       100   100 x 120 = 12,000         sustained *
    O3    f1  07-04 12:00 -> 12:03       3         1000  -                          momentary
    O4    f2  03-01 10:30 -> 10:50       20        500   10,000 (given)             sustained
    O5    f2  09-15 08:00 -> 12:00       240       50    9,000 (given, < 50 x 240)  sustained
    O6    f2  09-15 08:00 -> 08:05       5         250   -                          momentary (<= 5)
    ====  ==  =========================  ========  ====  =========================  ==========

    * crosses midnight and the new year: counted on the day it began, 2023-12-31 (2024 has nothing).

    f1: SAIFI = (200 + 100) / 1000 = 0.3; SAIDI = (18,000 + 12,000) / 1000 = 30 min; CAIDI = 30 / 0.3 =
        100 min; MAIFI = 1000 / 1000 = 1.0.
    f2: SAIFI = (500 + 50) / 500 = 1.1; SAIDI = (10,000 + 9,000) / 500 = 38 min; CAIDI = 38 / 1.1 =
        34.545... min; MAIFI = 250 / 500 = 0.5.
    system: SAIFI = 850 / 1500 = 0.56667; SAIDI = 49,000 / 1500 = 32.6667 min; CAIDI = 49,000 / 850 =
        57.647 min; MAIFI = 1250 / 1500 = 0.83333.

    MED (own year only, so noted): daily SAIDI 03-01 = (18,000 + 10,000) / 1500 = 18.6667, 09-15 = 9,000 /
    1500 = 6.0, 12-31 = 12,000 / 1500 = 8.0 (momentary days do not count). ln: 2.92674, 1.79176, 2.07944;
    alpha = 2.26598, beta (ddof=1) = 0.59004; T_MED = exp(alpha + 2.5 beta) = 42.143 min: no MED day.
    With beta multiplier 0.5, T_MED = exp(2.26598 + 0.29502) = 12.950: 03-01 (18.667) is an MED day, and
    without its events (O1, O4): f1 SAIFI 0.1, SAIDI 12, CAIDI 120; f2 SAIFI 0.1, SAIDI 18, CAIDI 180;
    system SAIFI 150 / 1500 = 0.1, SAIDI 21,000 / 1500 = 14, CAIDI 140. MAIFI unchanged.
    """
    outages = _outages(tmp_path)
    rep = reliability(outages, SERVED)
    assert rep.years == [2023]
    f1, f2, sys_ = rep.feeders[("f1", 2023)]["all"], rep.feeders[("f2", 2023)]["all"], rep.system[2023]["all"]
    assert (f1.saifi, f1.saidi_min, f1.caidi_min, f1.maifi) == pytest.approx((0.3, 30.0, 100.0, 1.0))
    assert (f2.saifi, f2.saidi_min, f2.caidi_min, f2.maifi) == pytest.approx((1.1, 38.0, 34.545454545, 0.5))
    assert (sys_.saifi, sys_.saidi_min, sys_.caidi_min, sys_.maifi) == pytest.approx(
        (0.5666666667, 32.666666667, 57.647058824, 0.8333333333)
    )
    assert (sys_.sustained_interruptions, sys_.momentary_interruptions) == (4, 2)
    t = rep.thresholds[2023]
    assert (t.alpha, t.beta, t.t_med_min) == pytest.approx((2.265980, 0.590036, 42.143053), rel=1e-6)
    assert t.basis_years == (2023,) and t.days_used == 3
    assert rep.med_days[2023] == []
    assert rep.system[2023]["excluding_med"] == rep.system[2023]["all"]
    assert any("own days" in n for n in rep.notes)

    low = reliability(outages, SERVED, beta=0.5)
    assert low.thresholds[2023].t_med_min == pytest.approx(12.950, rel=1e-4)
    assert [(d.day, d.saidi_min) for d in low.med_days[2023]] == [
        (date(2023, 3, 1), pytest.approx(18.666667))
    ]
    ex1, ex2 = low.feeders[("f1", 2023)]["excluding_med"], low.feeders[("f2", 2023)]["excluding_med"]
    exs = low.system[2023]["excluding_med"]
    assert (ex1.saifi, ex1.saidi_min, ex1.caidi_min, ex1.maifi) == pytest.approx((0.1, 12.0, 120.0, 1.0))
    assert (ex2.saifi, ex2.saidi_min, ex2.caidi_min, ex2.maifi) == pytest.approx((0.1, 18.0, 180.0, 0.5))
    assert (exs.saifi, exs.saidi_min, exs.caidi_min) == pytest.approx((0.1, 14.0, 140.0))

    # Asking for 2024 as well: the midnight outage stays in 2023, 2024 is all zeros (CAIDI undefined).
    both = reliability(outages, SERVED, years=[2023, 2024])
    y24 = both.system[2024]["all"]
    assert (y24.saifi, y24.saidi_min, y24.maifi) == (0.0, 0.0, 0.0) and math.isnan(y24.caidi_min)
    d = both.to_dict()
    assert d["system"][1]["all"]["caidi_min"] is None  # JSON-safe
    assert d["system"][0]["all"]["saidi_min"] == pytest.approx(32.666667)
    assert [row["feeder"] for row in d["feeders"]] == ["f1", "f1", "f2", "f2"]
    import json

    json.dumps(d, allow_nan=False)
    table = both.frame()
    assert len(table) == 2 * (1 + 2) * 2  # (system + 2 feeders) x 2 years x 2 event sets
    row = table[
        (table.scope == "feeder") & (table.feeder == "f2") & (table.year == 2023) & (table.events == "all")
    ]
    assert row["caidi_min"].iloc[0] == pytest.approx(34.545454545)


def test_unknown_feeders_left_out_and_noted(tmp_path: Path) -> None:
    rep = reliability(_outages(tmp_path), {"f1": 1000})
    assert rep.system[2023]["all"].saifi == pytest.approx(0.3)  # only f1's outages, N = 1000
    assert any("f2 (3)" in n for n in rep.notes)


def test_bad_customers_served(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        reliability(_outages(tmp_path), {"f1": -1, "f2": 500})
    assert err.value.details[0].where == "customers_served.f1"
    with pytest.raises(InputError):
        reliability(_outages(tmp_path), {"f1": 0})


def test_empty_outages() -> None:
    rep = reliability(empty_outages(), SERVED)
    assert rep.years == [] and rep.frame().empty
    rep = reliability(empty_outages(), SERVED, years=[2023])
    assert rep.system[2023]["all"].saifi == 0.0 and rep.thresholds[2023].t_med_min is None


def test_local_day_for_med() -> None:
    """Two outages 22:00 and 23:30 New York time on 2023-08-15 are one local day but two UTC days."""
    starts = [datetime(2023, 8, 16, 2, 0, tzinfo=UTC), datetime(2023, 8, 16, 3, 30, tzinfo=UTC)]
    starts.append(datetime(2023, 8, 20, 12, 0, tzinfo=UTC))
    frame = _frame(starts, [100.0, 200.0, 50.0], n=100)
    utc = reliability(frame, {"f1": 100})
    local = reliability(frame, {"f1": 100}, timezone="America/New_York")
    assert utc.thresholds[2023].days_used == 2  # 08-16 (both) and 08-20
    assert local.thresholds[2023].days_used == 2  # 08-15 (both) and 08-20
    late = reliability(frame.iloc[[1, 2]], {"f1": 100}, timezone="America/New_York")
    assert late.thresholds[2023].days_used == 2
    new_year = _frame([datetime(2024, 1, 1, 3, 0, tzinfo=UTC)], [10.0], n=100)
    assert reliability(new_year, {"f1": 100}, timezone="America/New_York").years == [2023]
    assert reliability(new_year, {"f1": 100}).years == [2024]


def _frame(starts: list[datetime], saidi_min: list[float], n: int) -> pd.DataFrame:
    """One 60-minute sustained outage per start on f1, with customer minutes = SAIDI x N."""
    return pd.DataFrame(
        {
            "feeder": ["f1"] * len(starts),
            "start_utc": pd.Series(starts, dtype="datetime64[us, UTC]"),
            "duration_min": [60.0] * len(starts),
            "customers_interrupted": [1] * len(starts),
            "customer_minutes": [s * n for s in saidi_min],
        }
    )


def test_major_event_days_2_5_beta() -> None:
    """Six years (2018-2023) of daily SAIDI drawn lognormal (seed 7, ln SAIDI ~ N(-1, 0.8)), about one
    day in ten without sustained interruptions, plus a storm on 2023-08-15 (SAIDI 60 min). T_MED for 2023
    must come from 2018-2022 (the five previous years), 2019 from 2018 alone (noted), 2018 from itself
    (noted). Checked against a plain numpy re-computation, and against literal figures."""
    rng = np.random.default_rng(7)
    n = 1000
    days: list[date] = []
    saidi: list[float] = []
    day = date(2018, 1, 1)
    while day <= date(2023, 12, 31):
        value = float(np.exp(rng.normal(-1.0, 0.8)))
        if rng.random() >= 0.1 or day == date(2023, 8, 15):
            days.append(day)
            saidi.append(60.0 if day == date(2023, 8, 15) else value)
        day += timedelta(days=1)
    starts = [datetime(d.year, d.month, d.day, 14, 0, tzinfo=UTC) for d in days]
    rep = reliability(_frame(starts, saidi, n), {"f1": n})
    assert rep.years == [2018, 2019, 2020, 2021, 2022, 2023]

    by_day = pd.Series(saidi, index=days)
    years = np.array([d.year for d in days])

    def t_med(basis: list[int]) -> tuple[float, float, float]:
        logs = np.log(by_day[np.isin(years, basis)].to_numpy())
        alpha, beta = logs.mean(), logs.std(ddof=1)
        return float(alpha), float(beta), float(np.exp(alpha + 2.5 * beta))

    for year, basis in ((2023, [2018, 2019, 2020, 2021, 2022]), (2019, [2018]), (2018, [2018])):
        alpha, beta, threshold = t_med(basis)
        got = rep.thresholds[year]
        assert got.basis_years == tuple(basis)
        assert (got.alpha, got.beta, got.t_med_min) == pytest.approx((alpha, beta, threshold), rel=1e-12)
        in_year = by_day[(years == year) & (by_day.to_numpy() > threshold)]
        assert [(d.day, d.saidi_min) for d in rep.med_days[year]] == list(in_year.items())
    assert any("T_MED for 2019 from 1 earlier year(s) (2018)" in n for n in rep.notes)
    assert any("T_MED for 2018 from 2018's own days" in n for n in rep.notes)
    assert not any("T_MED for 2023" in n for n in rep.notes)

    # Literal figures for this seed (numpy's PCG64 stream is stable).
    got = rep.thresholds[2023]
    assert got.days_used == 1646
    assert (got.alpha, got.beta, got.t_med_min) == pytest.approx((-1.05008, 0.80237, 2.60086), abs=1e-5)
    assert [(d.day, round(d.saidi_min, 4)) for d in rep.med_days[2023]] == [
        (date(2023, 5, 26), 2.8723),
        (date(2023, 8, 15), 60.0),
        (date(2023, 9, 1), 2.8722),
    ]
    # Without the MED days' outages SAIDI drops by exactly their SAIDI.
    all_, ex = rep.system[2023]["all"], rep.system[2023]["excluding_med"]
    med_saidi = sum(d.saidi_min for d in rep.med_days[2023])
    assert all_.saidi_min - ex.saidi_min == pytest.approx(med_saidi)
    assert all_.sustained_interruptions - ex.sustained_interruptions == 3
    assert rep.to_dict()["system"][5]["med_days"][1] == {"date": "2023-08-15", "saidi_min": 60.0}
