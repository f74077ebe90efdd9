"""Result tables on the wire: a DataFrame as one Arrow IPC stream in a ``gridtwin.v1.ResultTable``,
shared by every service that pages through results (QSTS levels, diffs, sweeps, hosting per bus)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

from gridtwin.rpc.v1 import powerflow_pb2

__all__ = ["table_to_proto"]


def table_to_proto(frame: pd.DataFrame, total: int, level: str) -> Any:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return powerflow_pb2.ResultTable(arrow_ipc=sink.getvalue().to_pybytes(), total=total, level=level)
