"""The whole synthetic utility: profiles once, then every feeder's twins into the registry."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

from gridtwin.grid.source import TwinSink
from gridtwin.grid.synth.feeder import partition, synth_feeder
from gridtwin.grid.synth.shapes import CLASSES, class_pool, pool_names
from gridtwin.grid.synth.weather import weather_year
from gridtwin.grid.twins import feeder_to_twins
from gridtwin.store.profiles import ProfileStore

__all__ = ["Progress", "synth_utility_profiles", "write_synthetic_utility"]


Progress = Callable[[int, int, str], None]


@lru_cache(maxsize=4)
def _profiles(seed: int) -> tuple[tuple[str, str, tuple[str, ...], np.ndarray], ...]:
    """(kind, partition, names, values) per stored partition; values already float32-exact."""
    part = partition(seed)
    names: list[str] = []
    rows: list[np.ndarray] = []
    for cls in CLASSES:
        names.extend(pool_names(cls))
        rows.append(class_pool(cls, seed))
    w = weather_year(seed)
    weather = np.vstack([w.temp_c, w.ghi_w_per_m2]).astype(np.float32).astype(np.float64)
    loads = np.vstack(rows)
    loads.setflags(write=False)
    weather.setflags(write=False)
    return (
        ("loadshape", part, tuple(names), loads),
        ("weather", part, ("temp_c", "ghi_w_per_m2"), weather),
    )


def synth_utility_profiles(seed: int) -> dict[str, np.ndarray]:
    """Ref -> values (float64, float32-exact, as the store gives them back) of the utility-wide
    profiles: the per-class load shape pools and the weather year."""
    out: dict[str, np.ndarray] = {}
    for kind, part, names, values in _profiles(seed):
        for i, name in enumerate(names):
            out[f"{kind}/{part}/{name}"] = values[i].copy()
    return out


def write_synthetic_utility(
    registry: TwinSink,
    store: ProfileStore,
    feeders: int,
    seed: int,
    *,
    site: str = "synth",
    progress: Progress | None = None,
) -> list[str]:
    """Write the profiles, then feeders 0..feeders-1 (one ``bulk_upsert(..., replace_feeder=id)``
    each, so a rerun replaces them); returns the feeder ids."""
    for kind, part, names, values in _profiles(seed):
        store.write(kind, part, list(names), values)
    ids: list[str] = []
    for i in range(feeders):
        feeder = synth_feeder(i, seed, site=site)
        fid = feeder.model.feeder_id
        if feeder.profiles:  # feeder-specific shapes (none today) under the feeder's own partition
            store.write("loadshape", fid, list(feeder.profiles), np.vstack(list(feeder.profiles.values())))
        twins, rels = feeder_to_twins(feeder.model)
        registry.bulk_upsert(twins, rels, replace_feeder=fid)
        ids.append(fid)
        if progress is not None:
            progress(i + 1, feeders, fid)
    return ids
