"""The QSTS result tables' columns, declared once (STYLE.md: result tables keyed by element, units in
names): what the QSTS loop (``gridtwin.powerflow.qsts``) produces, what the result store writes to
Parquet and SQL, and what the job runner and REST serve. Kept at the store's level because the store
needs them and the store sits below the engine.

Counts of time are in hours (a 15-minute step counts 0.25 h); ``*_step`` columns are 0-based step
indices from the start of the run (``time_utc = start_utc + step * step_minutes``).
"""

from __future__ import annotations

__all__ = ["BUS_COLUMNS", "ELEMENT_COLUMNS", "ENERGY_KEYS", "FEEDER_SUMMARY_COLUMNS", "HOURLY_COLUMNS"]

# Per step, one row (Parquet: results/qsts/job=<id>/feeder=<f>/hourly.parquet).
HOURLY_COLUMNS: tuple[str, ...] = (
    "step",  # int64
    "time_utc",  # timestamp[us, UTC]
    "converged",  # bool
    "source_kw",  # float64, power into the feeder at the source (positive = delivered)
    "source_kvar",
    "losses_kw",  # total losses (all PD elements)
    "line_losses_kw",
    "xfmr_load_losses_kw",
    "xfmr_noload_losses_kw",
    "vmin_pu",  # lowest node voltage in per unit (NaN when unconverged)
    "vmin_bus",  # string
    "vmax_pu",
    "vmax_bus",
    "buses_outside_a",  # int64: buses with any node outside ANSI Range A
    "buses_outside_b",
)

# Per bus (buses.parquet). Buses without a voltage base (base_kv 0) are left out.
BUS_COLUMNS: tuple[str, ...] = (
    "bus",
    "base_kv",  # line-to-neutral kV base
    "hours_outside_a",  # float64 hours with any node outside Range A
    "hours_outside_b",
    "vmin_pu",
    "vmin_step",  # int64
    "vmax_pu",
    "vmax_step",
)

# Per power-delivery element (elements.parquet and SQL): lines and transformers (and reactors).
ELEMENT_COLUMNS: tuple[str, ...] = (
    "element",  # "line.x" / "transformer.t", lower case, OpenDSS Class.name
    "kind",  # line | transformer | reactor
    "hours_over_normal",  # hours above 100 % (limits.thermal_normal_pct) of the normal rating
    "hours_over_emergency",  # hours above the emergency rating
    "max_loading_pct",  # of the normal rating
    "max_loading_step",  # int64
    "equivalent_aging_factor",  # IEEE C57.91 F_EQA over the run (NaN for non-transformers)
    "loss_of_life_h",  # F_EQA * run hours (NaN for non-transformers)
)

ENERGY_KEYS: tuple[str, ...] = (
    "delivered_kwh",  # energy into the feeder at the source
    "source_kvarh",
    "losses_kwh",
    "line_losses_kwh",
    "xfmr_load_losses_kwh",
    "xfmr_noload_losses_kwh",
    "loss_pct",  # losses_kwh / delivered_kwh * 100
)

# One flat row per feeder and job (SQL ``qsts_feeder_results``), from ``QstsResult.summary()``.
FEEDER_SUMMARY_COLUMNS: tuple[str, ...] = (
    "feeder",
    "version",
    "steps",
    "step_minutes",
    "unconverged_steps",
    *ENERGY_KEYS,
    "peak_kw",
    "peak_step",
    "vmin_pu",
    "vmin_bus",
    "vmin_step",
    "vmax_pu",
    "vmax_bus",
    "vmax_step",
    "buses",
    "buses_outside_a",  # buses with at least one hour outside Range A
    "buses_outside_b",
    "bus_hours_outside_a",  # sum over buses of hours outside Range A
    "bus_hours_outside_b",
    "elements",
    "elements_over_normal",  # elements with at least one hour above the normal rating
    "elements_over_emergency",
    "max_loading_pct",
    "max_loading_element",
    "max_aging_factor",
    "max_aging_element",
    "solve_s",  # wall time of the time loop
    "total_s",  # wall time including compile and extraction
    "min_source_kw",  # lowest power at the feeder head (negative = reverse flow)
    "reverse_flow_hours",  # hours with power flowing back into the source
)
