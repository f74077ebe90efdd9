"""The acceptance test: every shared OpenDSS model solves identically after import -> twins -> registry
(bulk upsert, validated against the ontology) -> export -> write -> compile.

Every bus-node voltage within 1e-6 pu and 1e-4 degrees, total losses within 1e-6 relative, and the
same regulator taps after both sides solve again in snapshot mode.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from gridtwin.grid.model import FeederModel
from gridtwin.ingest.opendss.roundtrip import roundtrip, through_registry
from gridtwin.store.db import make_engine, migrate


def _shared() -> Path:
    env = os.environ.get("GRIDTWIN_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[4].parent / "shared" / "data"


OPENDSS = _shared() / "opendss"
IEEE = "IEEETestCases"
EPRI = "EPRITestCircuits"

FAST = {
    "4bus-dy-bal": f"{IEEE}/4Bus-DY-Bal/4Bus-DY-Bal.DSS",
    "4bus-grdyd-bal": f"{IEEE}/4Bus-GrdYD-Bal/4Bus-GrdYD-Bal.DSS",
    "4bus-oyod-bal": f"{IEEE}/4Bus-OYOD-Bal/4Bus-OYOD-Bal.DSS",
    "4bus-oyod-unbal": f"{IEEE}/4Bus-OYOD-UnBal/4bus-OYOD-UnBal.dss",
    "4bus-yd-bal": f"{IEEE}/4Bus-YD-Bal/4Bus-YD-Bal.DSS",
    "4bus-yy-bal": f"{IEEE}/4Bus-YY-Bal/4Bus-YY-Bal.DSS",
    "ieee13": f"{IEEE}/13Bus/IEEE13Nodeckt.dss",
    "ieee34mod1": f"{IEEE}/34Bus/ieee34Mod1.dss",
    "ieee34mod2": f"{IEEE}/34Bus/ieee34Mod2.dss",
    "ieee37": f"{IEEE}/37Bus/ieee37.dss",
    "ieee123": f"{IEEE}/123Bus/IEEE123Master.dss",
}
SLOW = {
    "lvtest": f"{IEEE}/LVTestCaseNorthAmerican/Master.dss",
    "ckt5": f"{EPRI}/ckt5/Master_ckt5.dss",
    "j1-pv": f"{EPRI}/epri_dpv/J1/Master_withPV.dss",
    "j1-nopv": f"{EPRI}/epri_dpv/J1/Master_noPV.dss",
}
CASES = [pytest.param(k, v, id=k) for k, v in FAST.items()] + [
    pytest.param(k, v, id=k, marks=pytest.mark.slow) for k, v in SLOW.items()
]


@pytest.fixture(scope="module")
def registry_path(tmp_path_factory: pytest.TempPathFactory) -> Callable[[FeederModel], FeederModel]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('registry') / 'twins.db'}")
    migrate(engine)
    return through_registry(engine)


@pytest.mark.parametrize(("feeder", "master"), CASES)
def test_round_trip_is_exact(
    feeder: str, master: str, registry_path: Callable[[FeederModel], FeederModel]
) -> None:
    r = roundtrip(OPENDSS / master, feeder, through=registry_path)
    assert r.missing_nodes == 0
    assert r.max_dv_pu <= 1e-6, r.max_dv_pu
    assert r.max_dangle_deg <= 1e-4, r.max_dangle_deg
    assert r.loss_rel <= 1e-6, r.loss_rel
    assert r.taps_equal


# Classes and states the shared feeders do not exercise: 3-winding split-phase transformer, generator,
# storage, PV, shunt reactor, fuse, multi-step capacitor, fixed load, options and an opened line end.
SYNTHETIC = """clear
new circuit.der basekv=12.47 pu=1.01 bus1=src r1=0.1 x1=0.5 r0=0.2 x0=1.0
new linecode.lc1 nphases=3 r1=0.3 x1=0.6 r0=0.5 x0=1.5 c1=3 c0=1 units=km
new line.l1 bus1=src bus2=b2 linecode=lc1 length=1.5 units=km
new line.l2 bus1=b2 bus2=b3 linecode=lc1 length=0.5 units=km
new line.sw bus1=b3 bus2=b4 switch=yes
new line.l4 bus1=b4 bus2=b5 linecode=lc1 length=0.5 units=km
new line.l5 bus1=b4 bus2=b6 linecode=lc1 length=0.2 units=km
new transformer.t3 phases=1 windings=3 buses=[b3.1 s1.1.0 s1.0.2] conns=[wye wye wye] kvs=[7.2 0.12 0.12]
~ kvas=[50 50 50] %rs=[0.6 1.2 1.2] xhl=2.04 xht=2.04 xlt=1.36 %noloadloss=0.2 %imag=0.5
new load.split bus1=s1.1.2 phases=1 kv=0.24 kw=20 kvar=5 model=2
new generator.g1 bus1=b2 kv=12.47 kw=500 pf=0.95 model=1
new storage.st1 bus1=b3 kv=12.47 kwrated=200 kwhrated=800 %stored=50 state=discharging %discharge=50
new reactor.r1 bus1=b2 phases=3 kvar=300 kv=12.47
new pvsystem.pv1 bus1=b3 kv=12.47 kva=300 pmpp=250 irradiance=0.8 pf=0.98 %cutin=0.1 %cutout=0.1
new fuse.f1 monitoredobj=line.l2 ratedcurrent=200
new load.ld1 bus1=b5 kv=12.47 kw=300 pf=0.9 status=fixed
new load.ld2 bus1=b6.1.2 phases=1 kv=12.47 kw=100 pf=0.95 model=8 zipv=[0.2 0.3 0.5 0.1 0.2 0.7 0.8]
new capacitor.c1 bus1=b5 kv=12.47 kvar=[100 100] numsteps=2 states=[1 0]
set loadmult=0.8 tolerance=1e-7
set voltagebases=[12.47 0.24]
calcv
open line.l4 2
"""


def test_round_trip_of_the_other_classes(tmp_path: Path) -> None:
    master = tmp_path / "der.dss"
    master.write_text(SYNTHETIC)
    r = roundtrip(master, "der")
    assert "open line.l4 2 1" in r.script and "new fuse.f1 monitoredobj=line.l2 RatedCurrent=200" in r.script
    assert r.ok(), (r.max_dv_pu, r.max_dangle_deg, r.loss_rel, r.taps_equal)


@pytest.mark.slow
def test_round_trip_with_network_protector_relays(tmp_path: Path) -> None:
    lv = OPENDSS / SLOW["lvtest"]
    master = tmp_path / "with_relays.dss"
    master.write_text(f'redirect "{lv}"\nredirect "{lv.parent / "network_protectors.dss"}"\n')
    r = roundtrip(master, "lv-relays")
    assert r.script.count("new relay.") == 68
    assert r.ok(), (r.max_dv_pu, r.max_dangle_deg, r.loss_rel, r.taps_equal)
