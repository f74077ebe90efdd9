"""``python -m gridtwin_twin_registry``: run the TwinRegistry service alone (config from ``GRIDTWIN_*``)."""

from gridtwin.config import Settings
from gridtwin.rpc.server import serve

from gridtwin_twin_registry.server import SERVICE

if __name__ == "__main__":
    serve(SERVICE, Settings())  # the edge: settings read here, from GRIDTWIN_*
