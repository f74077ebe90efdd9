"""GridTwin domain core: DTDL twin graph, columnar feeder model, OpenDSS power flow.

No server code lives here; services in ``services/`` are thin adapters over this package.
"""

from gridtwin.errors import GridTwinError

__version__ = "0.1.0"
__all__ = ["GridTwinError", "__version__"]
