"""gRPC plumbing shared by every service: generated stubs (``gridtwin.rpc.v1``), server and channel
helpers (health, reflection, tracing interceptors, TLS), error mapping and JSON logging.

Import the sub-modules directly (``gridtwin.rpc.server``, ``gridtwin.rpc.client``, ...).
"""
