"""Underground cables (CNData concentric-neutral and TSData tape-shield, in line geometries and by
spacing) round-trip exactly, like overhead wire geometries do on EPRI ckt5."""

from __future__ import annotations

from pathlib import Path

from gridtwin.ingest.opendss.roundtrip import roundtrip, through_registry
from gridtwin.store.db import make_engine, migrate

CABLES = """clear
new circuit.cables basekv=12.47 pu=1.02 bus1=src r1=0.05 x1=0.4 r0=0.1 x0=1.2
new wiredata.acsr336 gmr=0.0255 gmrunits=ft diam=0.721 radunits=in rac=0.306 runits=mi normamps=530
new wiredata.cu1_0 gmr=0.00446 gmrunits=ft diam=0.368 radunits=in rac=0.607 runits=mi normamps=310
new cndata.cn250 k=13 diastrand=0.064 gmrstrand=0.02496 rstrand=0.00206 runits=ft epsr=2.3 ins=0.22
~ diains=1.06 diacable=1.16 rac=0.07 gmrac=0.175 diam=0.567 gmrunits=in radunits=in normamps=260
new tsdata.ts1_0 diashield=0.88 tapelayer=0.005 tapelap=20 epsr=2.3 ins=0.22 diains=0.82 diacable=1.06
~ rac=0.607 gmrac=0.13 diam=0.368 runits=mi gmrunits=in radunits=in normamps=165
new linegeometry.oh3 nconds=4 nphases=3 units=ft reduce=yes
~ cond=1 wire=acsr336 x=-4 h=28
~ cond=2 wire=acsr336 x=-1.5 h=28
~ cond=3 wire=acsr336 x=3 h=28
~ cond=4 wire=acsr336 x=0 h=24
new linegeometry.ug3 nconds=3 nphases=3 units=in
~ cond=1 cncable=cn250 x=-6 h=-48
~ cond=2 cncable=cn250 x=0 h=-48
~ cond=3 cncable=cn250 x=6 h=-48
new linegeometry.ug1 nconds=2 nphases=1 units=in
~ cond=1 tscable=ts1_0 x=0 h=-48
~ cond=2 wire=cu1_0 x=1 h=-48
new linespacing.sp3 nconds=3 nphases=3 units=in x=[-6 0 6] h=[-40 -40 -40]
new line.oh bus1=src bus2=b1 geometry=oh3 length=1.2 units=km
new line.ug bus1=b1 bus2=b2 geometry=ug3 length=800 units=m
new line.ugsp bus1=b2 bus2=b4 spacing=sp3 cncables=[cn250 cn250 cn250] length=300 units=m
new line.ts bus1=b2.2 bus2=b3.2 geometry=ug1 length=0.3 units=km
new load.three bus1=b4 kv=12.47 kw=900 pf=0.92
new load.one bus1=b3.2 phases=1 kv=7.2 kw=150 pf=0.95
set voltagebases=[12.47]
calcv
"""


def test_cable_geometries_round_trip_through_the_registry(tmp_path: Path) -> None:
    master = tmp_path / "cables.dss"
    master.write_text(CABLES)
    engine = make_engine(f"sqlite:///{tmp_path / 'twins.db'}")
    migrate(engine)
    r = roundtrip(master, "cables", through=through_registry(engine))
    assert r.nodes >= 10
    assert r.ok(), (r.max_dv_pu, r.max_dangle_deg, r.loss_rel, r.missing_nodes)
