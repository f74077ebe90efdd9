"""``python -m gridtwin_powerflow``: run the PowerFlow service alone (config from ``GRIDTWIN_*``)."""

from gridtwin.config import Settings
from gridtwin.rpc.server import serve

from gridtwin_powerflow.server import SERVICE

if __name__ == "__main__":
    serve(SERVICE, Settings())  # the edge: settings read here, from GRIDTWIN_*
