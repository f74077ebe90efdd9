"""OpenDSS in: compile a model in a throwaway engine circuit and read it into a ``FeederModel``."""

from gridtwin.ingest.opendss.reader import UNITS_TO_M, read_opendss

__all__ = ["UNITS_TO_M", "read_opendss"]
