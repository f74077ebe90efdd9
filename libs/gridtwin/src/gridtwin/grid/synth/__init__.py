"""The project's own synthetic utility: realistic radial feeders, load shape pools and weather.

``synth_feeder(i, seed)`` builds feeder ``i`` alone (same seed -> same feeder, byte for byte);
``synth_utility_profiles(seed)`` gives the utility-wide shapes; ``write_synthetic_utility`` stores
both in the twin registry and the profile store.
"""

from gridtwin.grid.synth.feeder import SynthFeeder, feeder_id, synth_feeder
from gridtwin.grid.synth.utility import synth_utility_profiles, write_synthetic_utility

__all__ = ["SynthFeeder", "feeder_id", "synth_feeder", "synth_utility_profiles", "write_synthetic_utility"]
