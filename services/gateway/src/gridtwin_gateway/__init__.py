"""GridTwin web gateway: FastAPI REST (``/api/v1``) over the gRPC services."""

from gridtwin_gateway.app import create_app

__all__ = ["create_app"]
