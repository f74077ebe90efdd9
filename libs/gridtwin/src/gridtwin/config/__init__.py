"""Settings from the environment (``GRIDTWIN_*``), with embedded defaults for the all-in-one mode."""

from gridtwin.config.settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
