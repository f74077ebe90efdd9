"""The core's levels hold (ARCHITECTURE.md): every import between ``gridtwin`` packages points down the
list, never up and never in a circle; rooms on one level use each other one way only; no module
imports another module's private names; only the engine adapter loads OpenDSS; core code does not
read settings or the environment itself. Imports inside functions count too: a lazy import is still
a dependency."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import networkx as nx

SRC = Path(__file__).resolve().parents[1] / "src" / "gridtwin"

LEVELS = {
    "errors": -1,  # cross-cutting, importable from any level
    "config": 0,
    "access": 1,  # beside the store (ARCHITECTURE.md): principals, roles, passwords, tokens
    "store": 1,
    "twin": 2,
    "grid": 3,
    "powerflow": 4,
    "ingest": 5,
    "hosting": 5,
    "scenarios": 5,
    "ml": 6,
    "federated": 7,
    "compute": 8,
    "rpc": 9,
    "cli": 10,
}
# Where OpenDSS itself may be loaded: the adapter, and the module that loads it safely.
ENGINE_PACKAGES = {"powerflow", "_dsslib"}
ENGINE_MODULES = ("opendssdirect", "dss", "gridtwin._dsslib")
# The edges, which read settings: the CLI, and the rpc helpers services start from.
SETTINGS_READERS = {"cli"}


def _package(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def _modules() -> list[tuple[Path, str, ast.Module]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        if "rpc/v1" in path.as_posix():  # generated stubs
            continue
        out.append((path, _package(path), ast.parse(path.read_text(encoding="utf-8"), str(path))))
    return out


def _imports(tree: ast.Module) -> list[tuple[int, str, list[str]]]:
    """(line, module, names) of every absolute import, wherever it stands."""
    found: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, a.name, []) for a in node.names)
    return found


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(SRC.parent)}:{line}"


def test_imports_point_down_the_levels() -> None:
    problems = []
    graph: nx.DiGraph = nx.DiGraph()
    for path, pkg, tree in _modules():
        for line, module, _ in _imports(tree):
            if not module.startswith("gridtwin."):
                continue
            target = module.split(".")[1]
            if target == pkg or target not in LEVELS or pkg not in LEVELS:
                continue
            graph.add_edge(pkg, target)
            if LEVELS[target] > LEVELS[pkg]:
                problems.append(
                    f"{_where(path, line)}: {pkg} (level {LEVELS[pkg]}) imports {module} (level {LEVELS[target]})"
                )
    assert not problems, "upward imports:\n" + "\n".join(problems)
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, f"packages import each other in a circle: {cycles}"


def test_no_private_names_across_modules() -> None:
    problems = []
    for path, _, tree in _modules():
        for line, module, names in _imports(tree):
            if not module.startswith("gridtwin."):
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private:
                problems.append(f"{_where(path, line)}: imports {', '.join(private)} from {module}")
    assert not problems, "private names used across modules:\n" + "\n".join(problems)


def test_only_the_engine_adapter_loads_opendss() -> None:
    problems = []
    for path, pkg, tree in _modules():
        if pkg in ENGINE_PACKAGES:
            continue
        for line, module, _ in _imports(tree):
            if module.startswith(ENGINE_MODULES):
                problems.append(f"{_where(path, line)}: imports {module}")
    assert not problems, "OpenDSS outside the engine adapter:\n" + "\n".join(problems)


def test_core_reads_no_settings_or_environment() -> None:
    """Settings are read at the edges (service start-up, the CLI) and passed down."""
    problems = []
    for path, pkg, tree in _modules():
        if pkg in SETTINGS_READERS or pkg in ("config", "_dsslib"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                fn = node.func
                name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
                if name in ("get_settings", "Settings"):
                    problems.append(f"{_where(path, node.lineno)}: calls {name}()")
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("environ", "getenv")
                and (isinstance(node.value, ast.Name) and node.value.id == "os")
            ):
                problems.append(f"{_where(path, node.lineno)}: reads os.{node.attr}")
    assert not problems, "settings or environment read inside the core:\n" + "\n".join(problems)


def test_levels_cover_every_package() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"}
    unknown = sorted((packages | modules) - set(LEVELS) - {"_dsslib"})
    assert not unknown, f"packages without a level in ARCHITECTURE.md's table: {unknown}"
    by_level = defaultdict(list)
    for name, level in LEVELS.items():
        by_level[level].append(name)
    assert by_level[5] == ["ingest", "hosting", "scenarios"]
