"""GridTwin Ingestion gRPC service: OpenDSS models (server path or uploaded zip) into the twin registry."""
