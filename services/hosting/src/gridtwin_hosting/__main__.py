"""``python -m gridtwin_hosting``: run the HostingCapacity service alone (config from ``GRIDTWIN_*``)."""

from gridtwin.rpc.server import serve

from gridtwin_hosting.server import SERVICE

if __name__ == "__main__":
    serve(SERVICE)
