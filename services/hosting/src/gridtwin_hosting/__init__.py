"""GridTwin HostingCapacity service."""
