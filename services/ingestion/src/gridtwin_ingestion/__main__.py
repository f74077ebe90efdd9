"""``python -m gridtwin_ingestion``: run the Ingestion service alone (config from ``GRIDTWIN_*``)."""

from gridtwin.config import Settings
from gridtwin.rpc.server import serve

from gridtwin_ingestion.server import SERVICE

if __name__ == "__main__":
    serve(SERVICE, Settings())  # the edge: settings read here, from GRIDTWIN_*
