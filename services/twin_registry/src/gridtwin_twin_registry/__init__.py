"""GridTwin TwinRegistry gRPC service: the DTDL twin graph over SQL."""
