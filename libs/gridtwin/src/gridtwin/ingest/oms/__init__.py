"""Outage records (OMS exports) in: read (``read``), linked to the twin graph (``link``), and IEEE 1366
reliability indices with major event days (``reliability``). Stored by ``gridtwin.store.outages``."""

from __future__ import annotations

from gridtwin.ingest.oms.link import link_outages
from gridtwin.ingest.oms.mapping import OmsMapping, parse_oms_mapping
from gridtwin.ingest.oms.read import MOMENTARY_MAX_MIN, OUTAGE_COLUMNS, empty_outages, read_oms
from gridtwin.ingest.oms.reliability import Indices, MedDay, MedThreshold, ReliabilityReport, reliability

__all__ = [
    "MOMENTARY_MAX_MIN",
    "OUTAGE_COLUMNS",
    "Indices",
    "MedDay",
    "MedThreshold",
    "OmsMapping",
    "ReliabilityReport",
    "empty_outages",
    "link_outages",
    "parse_oms_mapping",
    "read_oms",
    "reliability",
]
