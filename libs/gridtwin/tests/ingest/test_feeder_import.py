"""A feeder model into the twin graph over a local registry (no gRPC): ids and existing feeders are
refused before anything is read, the twins land all or nothing, a CYME catalog is kept only once its
import has landed, and files of an upload are named by their path in the archive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gridtwin.errors import ConflictError, GridTwinError, InputError, Report, TwinValidationError
from gridtwin.grid.model import FeederModel
from gridtwin.grid.source import RegistryFeeders
from gridtwin.grid.synth import synth_feeder
from gridtwin.ingest.cyme.site_catalog import CATALOG_FILE
from gridtwin.ingest.feeder_import import feeder_exists, import_feeder, read_feeder_files
from gridtwin.ingest.opendss import read_opendss
from gridtwin.ingest.synthetic import write_synthetic
from gridtwin.store.profiles import ProfileStore
from gridtwin.twin.registry import TwinRegistry

TINY_DSS = """Clear
New Circuit.tiny basekv=12.47 pu=1.0 bus1=src phases=3
New Line.l1 bus1=src bus2=b1 phases=3 r1=0.1 x1=0.2 r0=0.3 x0=0.6 length=1 units=km
New Load.ld1 bus1=b1 phases=3 kv=12.47 kw=100 kvar=30
Set VoltageBases=[12.47]
CalcVoltageBases
"""


def _model(feeder: str = "synth-s5-f0000") -> FeederModel:
    model = synth_feeder(0, 5, site="s1").model
    assert model.feeder_id == feeder
    return model


def _reader(model: FeederModel, calls: list[str], catalog: str | None = None) -> Any:
    def read() -> tuple[Any, ...]:
        calls.append(model.feeder_id)
        report = Report(source="test")
        return (model, report) if catalog is None else (model, report, catalog)

    return read


def test_import_writes_the_feeder_and_refuses_to_overwrite_it(
    feeders: RegistryFeeders, twin_registry: TwinRegistry
) -> None:
    model, calls = _model(), []
    fid = model.feeder_id
    assert not feeder_exists(feeders, fid)
    done = import_feeder(feeders, twin_registry, fid, _reader(model, calls))
    assert calls == [fid] and done.feeder == fid and done.relationships > 0
    # The feeder's own twins, as the registry counts them; the shared site twin is written too.
    assert done.twins == next(f.twin_count for f in feeders.list_feeders("s1") if f.id == fid)
    assert done.written == done.twins + 1
    back = feeders.feeder_model(fid)
    assert {k: len(v) for k, v in back.tables.items()} == {k: len(v) for k, v in model.tables.items()}
    version = feeders.feeder_version(fid)

    with pytest.raises(ConflictError) as err:
        import_feeder(feeders, twin_registry, fid, _reader(model, calls))
    assert err.value.details[0].code == "exists" and calls == [fid]  # refused before reading

    again = import_feeder(feeders, twin_registry, fid, _reader(model, calls), replace=True)
    assert again.twins == done.twins and feeders.feeder_version(fid) != version


def test_a_bad_feeder_id_is_refused_before_reading(
    feeders: RegistryFeeders, twin_registry: TwinRegistry
) -> None:
    calls: list[str] = []
    for bad in ("", "a.b", "x" * 65):
        with pytest.raises(InputError) as err:
            import_feeder(feeders, twin_registry, bad, _reader(_model(), calls))
        assert err.value.details[0].where == "feeder"
    assert calls == []


class _FailingSink:
    def bulk_upsert(self, twin_docs: Any, relationship_docs: Any = (), replace_feeder: Any = None) -> Any:
        raise TwinValidationError("invalid twin", [])


def test_a_cyme_catalog_is_kept_only_once_the_import_landed(
    feeders: RegistryFeeders, twin_registry: TwinRegistry, tmp_path: Path
) -> None:
    model, catalog_dir = _model(), tmp_path / "catalogs" / "s1" / "cyme"
    read = _reader(model, [], catalog="[CONDUCTOR]\nFORMAT_CONDUCTOR=ID\n")
    with pytest.raises(TwinValidationError):
        import_feeder(feeders, _FailingSink(), model.feeder_id, read, catalog_dir=catalog_dir)
    assert not (catalog_dir / CATALOG_FILE).exists()
    import_feeder(feeders, twin_registry, model.feeder_id, read, catalog_dir=catalog_dir)
    assert (catalog_dir / CATALOG_FILE).read_text() == "[CONDUCTOR]\nFORMAT_CONDUCTOR=ID\n"
    assert not list(catalog_dir.glob(".*"))  # no temp file left behind


def test_an_upload_is_read_in_a_child_and_named_by_its_path_in_the_archive(tmp_path: Path) -> None:
    root = tmp_path / "unpacked"
    (root / "models").mkdir(parents=True)
    (root / "models" / "Master.dss").write_text(TINY_DSS)
    model, report = read_feeder_files(read_opendss, root, "tiny", "s1", timeout_s=120, upload=True)
    assert model.feeder_id == "tiny" and len(model.table("loads")) == 1
    assert report.source == "upload:models/Master.dss"

    (root / "models" / "Master.dss").write_text(TINY_DSS + "New Bogus.thing bus1=b1\n")
    with pytest.raises(GridTwinError) as err:
        read_feeder_files(read_opendss, root, "tiny", "s1", timeout_s=120, upload=True)
    text = " ".join(f"{d.where} {d.message}" for d in err.value.details)
    assert str(root) not in text and "Master.dss" in text


def test_a_bad_synthetic_request_names_every_field_and_writes_nothing(
    feeders: RegistryFeeders, twin_registry: TwinRegistry, tmp_path: Path
) -> None:
    with pytest.raises(InputError) as err:
        write_synthetic(twin_registry, ProfileStore(tmp_path), 0, -1, site="a/b")
    assert [d.where for d in err.value.details] == ["feeders", "seed", "site"]
    assert feeders.list_feeders() == []
