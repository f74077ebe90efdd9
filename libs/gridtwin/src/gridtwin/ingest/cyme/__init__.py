"""CYME in: CYMDIST ASCII exports (network, equipment, load files) -> ``FeederModel``.

``read_sections``/``parse_text`` tokenise files into ``SectionRecord``s; ``read_cyme_sections`` maps
records from any source (a future XML or ``.mdb`` reader yields the same records) into a model.
"""

from gridtwin.ingest.cyme.compare import compare_with_opendss
from gridtwin.ingest.cyme.reader import read_cyme, read_cyme_sections
from gridtwin.ingest.cyme.sections import SectionRecord, Sections, parse_text, read_sections

__all__ = [
    "SectionRecord",
    "Sections",
    "compare_with_opendss",
    "parse_text",
    "read_cyme",
    "read_cyme_sections",
    "read_sections",
]
