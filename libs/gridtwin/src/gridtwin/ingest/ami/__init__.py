"""AMI interval reads in: streaming import, data-quality checks and gap filling (docs/CONTRACTS.md).

The meter directory (``mapping``), aggregation (``aggregate``) and load allocation (``allocate``) live in
sibling modules of this package.
"""

from __future__ import annotations

from gridtwin.ingest.ami.importer import import_ami
from gridtwin.ingest.ami.options import AmiOptions, ColumnMap
from gridtwin.ingest.ami.report import QUALITY_COLUMNS, AmiReport

__all__ = ["QUALITY_COLUMNS", "AmiOptions", "AmiReport", "ColumnMap", "import_ami"]
