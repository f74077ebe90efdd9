"""Generated gRPC stubs for package gridtwin.v1 (ci/gen-protos). Do not edit."""
