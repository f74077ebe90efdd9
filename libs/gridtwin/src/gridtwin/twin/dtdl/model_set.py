"""A checked set of DTDL Interfaces: loading, subtyping, and twin / relationship validation."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from gridtwin.errors import DtdlError, ErrorDetail
from gridtwin.twin.dtdl.model import Interface
from gridtwin.twin.dtdl.parser import DocumentParser, ParseResult
from gridtwin.twin.dtdl.rules import check_model_set
from gridtwin.twin.dtdl.twin_validator import DocCheck, compile_interface

MAX_FILE_BYTES = 32 * 1024 * 1024  # a model file bigger than this is refused unread


class ModelSet:
    """Interfaces by DTMI, all rules checked. Build with :func:`parse_model_set` / :func:`load_model_set`."""

    def __init__(self, interfaces: dict[str, Interface], docs: list[tuple[str, object]]) -> None:
        self.interfaces = interfaces
        self._docs = list(docs)
        self._subtypes: dict[str, set[str]] = {dtmi: {dtmi} for dtmi in interfaces}
        for dtmi in interfaces:
            for ancestor in self._ancestors(dtmi):
                self._subtypes.setdefault(ancestor, {ancestor}).add(dtmi)
        self._checks: dict[str, DocCheck] = {}
        for iface in interfaces.values():  # precompile: no schema walking per twin
            compile_interface(iface, interfaces, self._checks)

    def __len__(self) -> int:
        return len(self.interfaces)

    def _ancestors(self, dtmi: str) -> set[str]:
        found: set[str] = set()
        stack = list(self.interfaces[dtmi].extends)
        while stack:
            base = stack.pop()
            if base not in found and base in self.interfaces:
                found.add(base)
                stack.extend(self.interfaces[base].extends)
        return found

    @property
    def docs(self) -> list[tuple[str, object]]:
        """The source documents, as given (source name, parsed JSON)."""
        return list(self._docs)

    def extend(self, docs: list[tuple[str, object]]) -> ModelSet:
        """A new set holding these models and ``docs`` (checked together); raises DtdlError."""
        return parse_model_set(self._docs + list(docs))

    def subtypes(self, dtmi: str) -> set[str]:
        """Every Interface that is ``dtmi`` or extends it (transitively); empty if unknown."""
        return set(self._subtypes.get(dtmi, set()))

    def is_subtype(self, a: str, b: str) -> bool:
        """Whether Interface ``a`` is ``b`` or extends it."""
        return a in self._subtypes.get(b, ())

    def validate_twin(self, doc: dict[str, object]) -> list[ErrorDetail]:
        """Problems with a twin document (empty when it is valid); ``where`` is ``<twin id>/<json path>``."""
        if type(doc) is not dict:
            return [ErrorDetail("(twin)", "a twin must be a JSON object")]
        twin_id = doc.get("$dtId")
        if type(twin_id) is not str or not twin_id:
            return [ErrorDetail("(twin)/$dtId", "a twin needs a non-empty string $dtId")]
        meta = doc.get("$metadata")
        model = meta.get("$model") if type(meta) is dict else None
        if type(model) is not str:
            return [
                ErrorDetail(
                    f"{twin_id}/$metadata/$model", "a twin needs $metadata.$model (its Interface DTMI)"
                )
            ]
        check = self._checks.get(model)
        if check is None:
            return [
                ErrorDetail(
                    f"{twin_id}/$metadata/$model", f"model {model} is not in the model set", "unknown_model"
                )
            ]
        errors: list[ErrorDetail] = []
        check(doc, twin_id, errors)
        return errors

    def validate_relationship(
        self, source_model: str, name: str, target_model: str, count_for_source: int | None = None
    ) -> list[ErrorDetail]:
        """Problems with a relationship ``name`` from a twin of ``source_model`` to one of ``target_model``.

        ``count_for_source`` is how many relationships of this name the source twin would have (this
        one included); it is checked against ``maxMultiplicity``.
        """
        where = f"{source_model}/{name}"
        source = self.interfaces.get(source_model)
        if source is None:
            return [ErrorDetail(where, f"model {source_model} is not in the model set", "unknown_model")]
        rel = source.all_contents.get(name)
        if rel is None or rel.kind != "Relationship":
            return [ErrorDetail(where, f"{source_model} has no relationship named {name!r}", "unknown")]
        errors: list[ErrorDetail] = []
        if target_model not in self.interfaces:
            errors.append(
                ErrorDetail(where, f"target model {target_model} is not in the model set", "unknown_model")
            )
        elif rel.target is not None and not self.is_subtype(target_model, rel.target):
            errors.append(
                ErrorDetail(
                    where,
                    f"relationship {name!r} must target {rel.target} (or a subtype), not {target_model}",
                )
            )
        high = rel.max_multiplicity
        if count_for_source is not None and high is not None and count_for_source > high:
            errors.append(
                ErrorDetail(
                    where,
                    f"{count_for_source} relationships named {name!r}; maxMultiplicity is {high}",
                    "multiplicity",
                )
            )
        return errors


def parse_model_set(docs: list[tuple[str, object]]) -> ModelSet:
    """Check the documents as one model set. Raises ``DtdlError`` listing every problem."""
    result = ParseResult()
    for source, doc in docs:
        DocumentParser(source, result).parse_document(doc)
    interfaces = check_model_set(result)
    if result.errors:
        raise DtdlError(f"the DTDL model set has {len(result.errors)} error(s)", _unique(result.errors))
    return ModelSet(interfaces, docs)


def load_model_set(paths: Iterable[Path]) -> ModelSet:
    """Every ``.json`` file under ``paths`` (files or folders) is one model set. Raises ``DtdlError``."""
    docs, errors = read_documents(paths)
    if errors:
        raise DtdlError(f"cannot read the DTDL model set: {len(errors)} error(s)", errors)
    return parse_model_set(docs)


def json_files(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*.json") if p.is_file()))
        else:
            found.append(path)
    return found


def read_documents(paths: Iterable[Path]) -> tuple[list[tuple[str, object]], list[ErrorDetail]]:
    """Parsed JSON of every ``.json`` under ``paths``, and the files that could not be read."""
    paths = list(paths)  # may be a one-shot iterator
    docs: list[tuple[str, object]] = []
    errors: list[ErrorDetail] = []
    files = json_files(paths)
    if not files:
        errors.append(ErrorDetail(", ".join(str(p) for p in paths) or "(no paths)", "no .json files found"))
    for file in files:
        try:
            size = file.stat().st_size
            if size > MAX_FILE_BYTES:
                errors.append(ErrorDetail(str(file), f"file is {size} bytes; the limit is {MAX_FILE_BYTES}"))
                continue
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(ErrorDetail(str(file), f"cannot read: {exc}"))
            continue
        try:
            docs.append((str(file), json.loads(text)))
        except json.JSONDecodeError as exc:
            errors.append(ErrorDetail(f"{file}:{exc.lineno}:{exc.colno}", f"invalid JSON: {exc.msg}"))
        except RecursionError:
            errors.append(ErrorDetail(str(file), "invalid JSON: nested too deeply"))
        except ValueError as exc:  # e.g. an integer of more digits than Python converts (4300)
            errors.append(ErrorDetail(str(file), f"invalid JSON: {exc}"))
    return docs, errors


def _unique(errors: list[ErrorDetail]) -> list[ErrorDetail]:
    return list(dict.fromkeys(errors))
