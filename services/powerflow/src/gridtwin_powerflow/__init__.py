"""GridTwin PowerFlow gRPC service: snapshot power flow on feeders exported from the twin registry."""
