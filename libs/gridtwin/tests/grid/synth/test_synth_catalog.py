"""The stored synthetic line-code matrices are exactly what OpenDSS computes from the catalog.

``gridtwin.grid.synth`` may not drive OpenDSS (it sits below the engine adapter), so the per-metre
matrices of its line geometries live in ``grid/synth/data/linecode_matrices.json``. This test
recomputes them in a scratch circuit of the adapter and fails on any difference (byte for byte, so
every float is exact). After editing the catalog (or when a new OpenDSS computes other values),
regenerate the file, knowing that it changes every synthetic feeder:

    uv run --frozen python libs/gridtwin/tests/grid/synth/test_synth_catalog.py
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from gridtwin.grid.synth.catalog import FREQUENCY_HZ, LINECODES, MATRICES_FILE, geometry_script, linecode_rows
from gridtwin.powerflow.scratch import ScratchCircuit


def stored_path() -> Path:
    return Path(str(resources.files("gridtwin.grid.synth").joinpath(MATRICES_FILE)))


def computed_text() -> str:
    """The matrices file as OpenDSS computes it now (one matrix per line, floats as ``repr``)."""
    with ScratchCircuit() as scratch:
        for number, command in enumerate(geometry_script(), 1):
            scratch.run(command, f"geometry_script:{number}")
        codes = {name: scratch.geometry_matrices_per_m(name, FREQUENCY_HZ) for name in LINECODES}
    out = ["{", f'  "frequency_hz": {json.dumps(FREQUENCY_HZ)},', '  "linecodes": {']
    for k, (name, m) in enumerate(codes.items()):
        out.append(f"    {json.dumps(name)}: {{")
        out.append(f'      "r_ohm_per_m": {json.dumps(m.r)},')
        out.append(f'      "x_ohm_per_m": {json.dumps(m.x)},')
        out.append(f'      "c_nf_per_m": {json.dumps(m.c)}')
        out.append("    }" + ("," if k < len(codes) - 1 else ""))
    out += ["  }", "}", ""]
    return "\n".join(out)


def test_stored_matrices_are_what_opendss_computes() -> None:
    assert stored_path().read_text("utf-8") == computed_text(), (
        "grid/synth/data/linecode_matrices.json is stale: regenerate it (see this module's docstring)"
    )


def test_every_line_code_has_its_matrices() -> None:
    rows = {row["name"]: row for row in linecode_rows()}
    assert list(rows) == list(LINECODES)
    for name, spec in LINECODES.items():
        n = spec.phases
        for key in ("r_matrix_ohm_per_m", "x_matrix_ohm_per_m", "c_matrix_nf_per_m"):
            assert len(rows[name][key]) == n * n, (name, key)


if __name__ == "__main__":
    stored_path().write_text(computed_text(), encoding="utf-8")
    print(f"wrote {stored_path()}")
