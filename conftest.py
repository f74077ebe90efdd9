"""Root pytest configuration, loaded before any test module.

The OpenDSS library must be loaded through ``gridtwin._dsslib`` (it pins the C environ first; see that
module), so load it here before any test imports ``opendssdirect`` directly.
"""

import gridtwin._dsslib  # noqa: F401
