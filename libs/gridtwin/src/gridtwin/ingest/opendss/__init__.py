"""OpenDSS in: compile a model in an isolated engine and read it into a ``FeederModel``."""

from gridtwin.ingest.opendss.reader import UNITS_TO_M, new_engine, read_opendss, run_script

__all__ = ["UNITS_TO_M", "new_engine", "read_opendss", "run_script"]
