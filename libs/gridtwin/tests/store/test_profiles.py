"""ProfileStore: Parquet round trip, atomic replace, errors naming the ref, identical bytes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from gridtwin.errors import InputError, NotFoundError
from gridtwin.store.profiles import PROFILE_SCHEMA, ProfileStore, parse_ref


@pytest.fixture
def store(tmp_path: Path) -> ProfileStore:
    return ProfileStore(tmp_path / "profiles")


def _values(n: int, npts: int = 24, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.1, 1.0, (n, npts))


def test_write_read_resolve_round_trip(store: ProfileStore) -> None:
    values = _values(3)
    refs = store.write("loadshape", "p1", ["a", "b-2", "c.3"], values)
    assert refs == ["loadshape/p1/a", "loadshape/p1/b-2", "loadshape/p1/c.3"]
    back = store.read("loadshape", "p1")
    assert list(back) == ["a", "b-2", "c.3"]
    for i, name in enumerate(back):
        assert back[name].dtype == np.float64
        np.testing.assert_array_equal(back[name], values[i].astype(np.float32))
    assert list(store.read("loadshape", "p1", ["c.3"])) == ["c.3"]
    store.write("weather", "p1", ["temp_c"], values[:1] * 30)
    got = store.resolve(["weather/p1/temp_c", "loadshape/p1/b-2"])
    np.testing.assert_array_equal(got["loadshape/p1/b-2"], back["b-2"])
    assert store.partitions("loadshape") == ["p1"] and store.partitions("nothing") == []


def test_file_layout_and_schema(store: ProfileStore) -> None:
    start = datetime(2024, 6, 1, 6, tzinfo=UTC)
    store.write("loadshape", "p1", ["a"], _values(1), interval_h=0.25, start_utc=start)
    path = store.root / "kind=loadshape" / "partition=p1" / "profiles.parquet"
    table = pq.read_table(path)
    assert table.schema.remove_metadata().equals(PROFILE_SCHEMA)
    assert table.column("interval_h").to_pylist() == [0.25]
    assert table.column("start_utc").to_pylist() == [start]


def test_write_replaces_the_partition_atomically(store: ProfileStore) -> None:
    store.write("loadshape", "p1", ["a", "b"], _values(2))
    store.write("loadshape", "p1", ["c"], _values(1, seed=2))
    assert list(store.read("loadshape", "p1")) == ["c"]
    folder = store.root / "kind=loadshape" / "partition=p1"
    assert sorted(p.name for p in folder.iterdir()) == ["profiles.parquet"]  # no temp files left


def test_failed_write_keeps_the_old_partition(store: ProfileStore) -> None:
    store.write("loadshape", "p1", ["a"], _values(1))
    with pytest.raises(InputError):
        store.write("loadshape", "p1", ["a"], np.full((1, 24), np.nan))
    assert list(store.read("loadshape", "p1")) == ["a"]


def test_same_input_same_bytes(tmp_path: Path) -> None:
    paths = []
    for k in range(2):
        s = ProfileStore(tmp_path / f"s{k}")
        s.write("loadshape", "p1", ["a", "b"], _values(2))
        paths.append(s.root / "kind=loadshape" / "partition=p1" / "profiles.parquet")
    assert paths[0].read_bytes() == paths[1].read_bytes()


def test_delete(store: ProfileStore) -> None:
    store.write("loadshape", "p1", ["a"], _values(1))
    store.delete("loadshape", "p1")
    store.delete("loadshape", "p1")  # again: no error
    assert store.partitions("loadshape") == []


def test_missing_refs_are_not_found_naming_the_ref(store: ProfileStore) -> None:
    store.write("loadshape", "p1", ["a"], _values(1))
    with pytest.raises(NotFoundError) as exc:
        store.resolve(["loadshape/p1/a", "loadshape/p1/zz", "loadshape/p9/a"])
    assert sorted(d.where for d in exc.value.details) == ["loadshape/p1/zz", "loadshape/p9/a"]
    with pytest.raises(NotFoundError) as exc2:
        store.read("loadshape", "p1", ["nope"])
    assert exc2.value.details[0].where == "loadshape/p1/nope"


@pytest.mark.parametrize("ref", ["loadshape/p1", "a/b/c/d", "load shape/p1/a", "loadshape/p1/", "x/../a"])
def test_malformed_refs_are_input_errors(store: ProfileStore, ref: str) -> None:
    with pytest.raises(InputError) as exc:
        store.resolve([ref])
    assert ref in exc.value.details[0].where


def test_bad_values_are_input_errors(store: ProfileStore) -> None:
    with pytest.raises(InputError, match="2-D"):
        store.write("loadshape", "p1", ["a"], np.ones(24))
    with pytest.raises(InputError, match="2-D"):
        store.write("loadshape", "p1", ["a", "b"], np.ones((1, 24)))
    bad = np.ones((2, 24))
    bad[1, 5] = np.nan
    with pytest.raises(InputError) as exc:
        store.write("loadshape", "p1", ["a", "b"], bad)
    assert [d.where for d in exc.value.details] == ["loadshape/p1/b"]
    with pytest.raises(InputError):
        store.write("loadshape", "p/1", ["a"], np.ones((1, 24)))
    with pytest.raises(InputError):
        store.write("loadshape", "p1", ["a", "a"], np.ones((2, 24)))
    with pytest.raises(InputError):
        store.write("loadshape", "p1", ["a"], np.ones((1, 24)), start_utc=datetime(2025, 1, 1))


def test_parse_ref() -> None:
    assert parse_ref("weather/synth-s42/temp_c") == ("weather", "synth-s42", "temp_c")
