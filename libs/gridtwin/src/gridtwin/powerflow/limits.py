"""Planning limits a snapshot is judged against (DOMAIN.md: ANSI C84.1 voltage, thermal loading)."""

from __future__ import annotations

from dataclasses import dataclass

from gridtwin.config.settings import Settings

__all__ = ["ViolationLimits"]


@dataclass(frozen=True)
class ViolationLimits:
    """Per-unit voltage ranges and thermal limits (percent of the normal / emergency rating)."""

    range_a_min_pu: float = 0.95
    range_a_max_pu: float = 1.05
    range_b_min_pu: float = 0.9167
    range_b_max_pu: float = 1.0583
    thermal_normal_pct: float = 100.0
    thermal_emergency_pct: float = 100.0

    @classmethod
    def from_settings(cls, s: Settings) -> ViolationLimits:
        """The limits configured through ``GRIDTWIN_*`` (defaults: DOMAIN.md); the edge reads ``s``."""
        return cls(
            range_a_min_pu=s.range_a_min_pu,
            range_a_max_pu=s.range_a_max_pu,
            range_b_min_pu=s.range_b_min_pu,
            range_b_max_pu=s.range_b_max_pu,
            thermal_normal_pct=s.thermal_limit_pct,
        )
