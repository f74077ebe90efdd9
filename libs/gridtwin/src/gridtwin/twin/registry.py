"""The twin graph API: models, twins, relationships, queries, traversal and feeder export, on SQL.

Every write runs in one transaction that also bumps the version counter of each feeder it touches
(the twin's feeder, and for relationships the feeders of both ends), so ``feeder_version`` changes
whenever anything of the feeder changes. Bulk loads use Core ``INSERT ... ON CONFLICT DO UPDATE``
(SQLite) / ``ON DUPLICATE KEY UPDATE`` (MySQL) executemany in batches; no ORM objects per row.

Sites: every method takes the caller's ``principal`` (None: a trusted caller in the process, nothing
filtered). Another site's twins, relationships and feeders do not exist for the caller (the same
``NotFoundError`` as a missing one); queries, traversals and feeder lists hold only the caller's sites
and shared (site-less) twins; a write into a site the caller does not hold, or of a shared twin by a
caller without every site, is ``SitesDenied`` (403) and writes nothing (``gridtwin.store.sites``).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from typing import Any, Protocol, cast

import jsonpatch
import jsonpointer
import pyarrow as pa
from sqlalchemy import Connection, Engine, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from gridtwin.access.principal import Principal
from gridtwin.errors import (
    ConflictError,
    DtdlError,
    ErrorDetail,
    GridTwinError,
    InputError,
    NotFoundError,
    TwinValidationError,
)
from gridtwin.store.bulk import ChunkWriter, Prepared, Upsert, select_in
from gridtwin.store.db import writer
from gridtwin.store.feeders import IN_CHUNK, Head, chunks, feeders_across, now, touch_feeders, twin_heads
from gridtwin.store.sites import check_writable, site_clause, site_filter
from gridtwin.store.tables import MODEL_MAX, feeders, models, relationships, twins
from gridtwin.twin.query import (
    PropertyFilter,
    decode_page_token,
    encode_page_token,
    filter_clause,
    reachable_ids,
    to_filters,
)
from gridtwin.twin.records import (
    FeederInfo,
    ModelInfo,
    RelationshipRecord,
    TwinRecord,
    arrow_table,
    assemble_relationship,
    assemble_twin,
    display_name,
    dump_json,
    model_extends,
    split_relationship,
    split_twin,
)

__all__ = ["Catalog", "PropertyFilter", "TwinRecord", "TwinRegistry"]

# Rows per bulk write (one LOAD DATA / executemany): big enough to amortise round trips and the
# server's per-statement cost, small enough that the writer thread starts early (10k measured best).
WRITE_BATCH = 10_000
MAX_PAGE_SIZE = 1000
MAX_HOPS = 64
DIRECTIONS = ("out", "in", "both")

# Column order of the rows bulk writes build (primary key first).
TWIN_WRITE = ("id", "model", "site", "feeder", "etag", "properties", "updated_at")
REL_WRITE = ("source_id", "id", "name", "target_id", "etag", "properties", "updated_at")
HEADS_SQL = "SELECT id, model, feeder, site FROM twins WHERE id IN ({in})"

TWIN_COLUMNS = (twins.c.id, twins.c.model, twins.c.site, twins.c.feeder, twins.c.etag, twins.c.properties)
REL_COLUMNS = (
    relationships.c.id,
    relationships.c.source_id,
    relationships.c.name,
    relationships.c.target_id,
    relationships.c.etag,
    relationships.c.properties,
)


class Catalog(Protocol):
    """What the registry needs from a DTDL model set (``gridtwin.twin.dtdl.ModelSet`` is the real one)."""

    def subtypes(self, dtmi: str) -> set[str]: ...

    def validate_twin(self, doc: dict[str, Any]) -> list[ErrorDetail]: ...

    def validate_relationship(
        self, source_model: str, name: str, target_model: str, count_for_source: int | None = None
    ) -> list[ErrorDetail]: ...


def _stamp(conn: Connection) -> Any:
    """``updated_at`` for rows written through the driver: SQLAlchemy's own DateTime storage form."""
    value = now()
    process = twins.c.updated_at.type.bind_processor(conn.dialect)
    # MySQL: text, which mysqlclient escapes in C (its datetime literal is Python code, per row).
    return process(value) if process else value.isoformat(" ")


class _Etags:
    """Fresh etags for one write: one random prefix plus a counter (cheaper than a uuid per row)."""

    def __init__(self) -> None:
        self._prefix = uuid.uuid4().hex
        self._n = 0

    def __call__(self) -> str:
        self._n += 1
        return f'W/"{self._prefix}-{self._n:x}"'


def _merge(where: str, details: list[ErrorDetail]) -> ErrorDetail:
    """One detail per bad twin/relationship, naming it, with every problem found in it."""
    parts = [d.message if d.where == where else f"{d.where}: {d.message}" for d in details]
    return ErrorDetail(where, "; ".join(parts), details[0].code)


def _missing_twin(twin_id: object) -> NotFoundError:
    return NotFoundError("twin not found", [ErrorDetail(str(twin_id)[:300], "no such twin", "not_found")])


def _missing_feeder(feeder: object) -> NotFoundError:
    return NotFoundError(
        "feeder not found", [ErrorDetail(str(feeder)[:100], "no twins in this feeder", "not_found")]
    )


def _sees(principal: Principal | None, site: str | None) -> bool:
    return principal is None or principal.sees(site)


def _check_if_match(where: str, current: str, if_match: str | None) -> None:
    """None, "" (protobuf's unset string) and "*" match any etag."""
    if if_match and if_match not in ("*", current):
        raise ConflictError(
            "etag mismatch",
            [ErrorDetail(where, f"if_match {if_match!r} does not match the current etag", "etag_mismatch")],
        )


class TwinRegistry:
    """The twin graph on an SQL engine migrated to head (``gridtwin.store.db.migrate``).

    ``catalog`` validates twins and relationships; without one, the registry builds it from the
    models uploaded to it with ``gridtwin.twin.dtdl.parse_model_set``.
    """

    def __init__(self, engine: Engine, catalog: Catalog | None = None) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self._given_catalog = catalog
        self._built_catalog: Catalog | None = None
        self._built_count = -1
        self._sqlite = engine.dialect.name == "sqlite"

    # ----------------------------------------------------------------- models

    @property
    def catalog(self) -> Catalog:
        """The given catalog, or one parsed from the stored models, rebuilt when another process has
        added models (models are only ever added, so their count is their version)."""
        if self._given_catalog is not None:
            return self._given_catalog
        with self._engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(models)).scalar_one()
            if self._built_catalog is None or count != self._built_count:
                rows = conn.execute(select(models.c.dtmi, models.c.json).order_by(models.c.dtmi)).all()
                self._built_catalog = self._parse_models([(f"models/{d}", json.loads(j)) for d, j in rows])
                self._built_count = len(rows)
        return self._built_catalog

    @staticmethod
    def _parse_models(docs: list[tuple[str, object]]) -> Catalog:
        from gridtwin.twin.dtdl import parse_model_set  # lazy: the DTDL package imports heavier things

        return cast(Catalog, parse_model_set(docs))

    def upload_models(self, docs: Iterable[object]) -> list[str]:
        """Store DTDL interfaces (each doc an Interface object, an array of them, or their JSON text).

        The whole set (stored + new) is parsed first; a DTMI already stored with a different body is a
        ``ConflictError``, an identical one is accepted again (uploads are idempotent).
        """
        new: dict[str, dict[str, Any]] = {}
        errors: list[ErrorDetail] = []
        for i, doc in enumerate(docs):
            if isinstance(doc, str | bytes):
                try:
                    doc = json.loads(doc)
                except ValueError as exc:
                    errors.append(ErrorDetail(f"models[{i}]", f"not JSON: {exc}", "invalid_json"))
                    continue
            for j, item in enumerate(doc if isinstance(doc, list) else [doc]):
                dtmi = item.get("@id") if isinstance(item, dict) else None
                if not isinstance(dtmi, str) or not dtmi.startswith("dtmi:") or len(dtmi) > MODEL_MAX:
                    errors.append(ErrorDetail(f"models[{i}][{j}]", "expected an Interface with a dtmi @id"))
                    continue
                new[dtmi] = cast(dict[str, Any], item)
        if errors:
            raise DtdlError("bad model upload", errors)
        with self._writer.begin() as conn:
            stored = {d: json.loads(j) for d, j in conn.execute(select(models.c.dtmi, models.c.json))}
            clashes = [d for d, body in new.items() if d in stored and stored[d] != body]
            if clashes:
                raise ConflictError(
                    "models already exist",
                    [ErrorDetail(d, "a different model with this id exists", "exists") for d in clashes],
                )
            merged = {**stored, **new}
            parsed: Catalog | None = None
            try:
                parsed = self._parse_models([(f"models/{d}", body) for d, body in merged.items()])
            except ImportError:
                if self._given_catalog is None:
                    raise
            fresh = [d for d in new if d not in stored]
            if fresh:
                stamp = now()
                conn.execute(
                    models.insert(),
                    [
                        {
                            "dtmi": d,
                            "json": dump_json(new[d]),
                            "extends": dump_json(model_extends(new[d])),
                            "uploaded_at": stamp,
                        }
                        for d in fresh
                    ],
                )
        if parsed is not None:
            self._built_catalog, self._built_count = parsed, len(merged)
        return list(new)

    def list_models(self) -> list[ModelInfo]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(models.c.dtmi, models.c.json, models.c.extends).order_by(models.c.dtmi)
            )
            out = []
            for dtmi, body, ext in rows:
                doc = json.loads(body)
                out.append(ModelInfo(dtmi, json.loads(ext), display_name(doc), doc))
        return out

    # ----------------------------------------------------------------- twins

    def get(self, twin_id: str, *, principal: Principal | None = None) -> TwinRecord:
        with self._engine.connect() as conn:
            return self._load_twin(conn, twin_id, principal=principal)

    def _load_twin(
        self,
        conn: Connection,
        twin_id: str,
        for_update: bool = False,
        *,
        principal: Principal | None = None,
    ) -> TwinRecord:
        """The twin, or ``NotFoundError`` when it is missing or of a site ``principal`` does not see."""
        stmt = select(*TWIN_COLUMNS).where(twins.c.id == twin_id)
        if for_update and not self._sqlite:
            stmt = stmt.with_for_update()
        row = conn.execute(stmt).first() if isinstance(twin_id, str) else None
        if row is None or not _sees(principal, row.site):
            raise _missing_twin(twin_id)
        return assemble_twin(*row)

    def _validated_twin(self, doc: Any, where: str) -> dict[str, Any]:
        row, errors = split_twin(doc, where)
        if row is not None:
            errors = self.catalog.validate_twin(doc)
        if errors:
            raise TwinValidationError("invalid twin", [_merge(row["id"] if row else where, errors)])
        assert row is not None
        return row

    def create(self, doc: dict[str, Any], *, principal: Principal | None = None) -> TwinRecord:
        row = self._validated_twin(doc, "twin")
        check_writable(principal, [row["site"]], f"{row['id']}.site")
        row.update(etag=_Etags()(), updated_at=now())
        try:
            with self._writer.begin() as conn:
                if conn.execute(select(twins.c.id).where(twins.c.id == row["id"])).first() is not None:
                    raise ConflictError(
                        "twin exists", [ErrorDetail(row["id"], "a twin with this id exists", "exists")]
                    )
                conn.execute(twins.insert(), [row])
                touch_feeders(conn, {row["feeder"]: row["site"]})
        except IntegrityError as exc:  # a concurrent create won the race
            raise ConflictError(
                "twin exists", [ErrorDetail(row["id"], "a twin with this id exists", "exists")]
            ) from exc
        return assemble_twin(
            row["id"], row["model"], row["site"], row["feeder"], row["etag"], row["properties"]
        )

    def replace(
        self,
        twin_id: str,
        doc: dict[str, Any],
        if_match: str | None = None,
        *,
        principal: Principal | None = None,
    ) -> TwinRecord:
        if isinstance(doc, dict) and doc.get("$dtId", twin_id) != twin_id:
            raise InputError(
                "id mismatch", [ErrorDetail(twin_id, "$dtId differs from the twin id", "invalid")]
            )
        doc = {**doc, "$dtId": twin_id} if isinstance(doc, dict) else doc
        with self._writer.begin() as conn:
            current = self._load_twin(conn, twin_id, for_update=True, principal=principal)
            check_writable(principal, [current.site], f"{twin_id}.site")
            _check_if_match(twin_id, current.etag, if_match)
            return self._rewrite(conn, current, doc, principal)

    def patch(
        self,
        twin_id: str,
        ops: Sequence[Mapping[str, Any]],
        if_match: str | None = None,
        *,
        principal: Principal | None = None,
    ) -> TwinRecord:
        """Apply an RFC 6902 JSON Patch to the twin document, then validate and store it."""
        with self._writer.begin() as conn:
            current = self._load_twin(conn, twin_id, for_update=True, principal=principal)
            check_writable(principal, [current.site], f"{twin_id}.site")
            _check_if_match(twin_id, current.etag, if_match)
            base = {k: v for k, v in current.doc.items() if k != "$etag"}
            try:
                doc = jsonpatch.JsonPatch(list(ops)).apply(base)
            except (
                jsonpatch.JsonPatchException,
                jsonpointer.JsonPointerException,
                TypeError,
                KeyError,
                AttributeError,
            ) as exc:
                raise InputError(
                    "bad JSON patch", [ErrorDetail(twin_id, f"patch does not apply: {exc}")]
                ) from exc
            if not isinstance(doc, dict) or doc.get("$dtId") != twin_id:
                raise InputError("bad JSON patch", [ErrorDetail(twin_id, "a patch may not change $dtId")])
            return self._rewrite(conn, current, doc, principal)

    def _rewrite(
        self, conn: Connection, current: TwinRecord, doc: Any, principal: Principal | None
    ) -> TwinRecord:
        row = self._validated_twin(doc, current.id)
        if row["site"] != current.site:  # moving a twin: the new site must be the caller's too
            check_writable(principal, [row["site"]], f"{current.id}.site")
        row.update(etag=_Etags()(), updated_at=now())
        conn.execute(update(twins).where(twins.c.id == current.id).values(**row))
        touch_feeders(conn, {current.feeder: current.site, row["feeder"]: row["site"]})  # new site wins
        return assemble_twin(
            row["id"], row["model"], row["site"], row["feeder"], row["etag"], row["properties"]
        )

    def delete(
        self, twin_id: str, if_match: str | None = None, *, principal: Principal | None = None
    ) -> None:
        """Delete a twin and every relationship from or to it."""
        with self._writer.begin() as conn:
            current = self._load_twin(conn, twin_id, for_update=True, principal=principal)
            check_writable(principal, [current.site], f"{twin_id}.site")
            _check_if_match(twin_id, current.etag, if_match)
            touched = feeders_across(conn, [twin_id])
            touched[current.feeder] = current.site
            rels = relationships.c
            conn.execute(
                delete(relationships).where(or_(rels.source_id == twin_id, rels.target_id == twin_id))
            )
            conn.execute(delete(twins).where(twins.c.id == twin_id))
            touch_feeders(conn, touched)

    # ----------------------------------------------------------------- bulk

    def bulk_upsert(
        self,
        twin_docs: Sequence[Any],
        relationship_docs: Sequence[Any] = (),
        replace_feeder: str | None = None,
        *,
        principal: Principal | None = None,
    ) -> tuple[int, int]:
        """Create or replace many twins and relationships in one transaction, all or nothing.

        Every twin and relationship is validated; any problem raises one ``TwinValidationError`` with
        one detail per bad twin (or relationship) and the transaction is rolled back, so nothing is
        written. Valid chunks are sent while later ones are still being checked (see store.bulk).

        ``replace_feeder``: in the same transaction, first drop that feeder's twins that the batch does
        not hold (with their relationships) and every relationship from the feeder's twins, so the
        feeder ends up exactly as the batch describes it (relationships into it from elsewhere stay).

        ``principal``: every twin of the batch, every stored twin it overwrites and the replaced feeder
        must be of the caller's sites (``SitesDenied`` otherwise, nothing written); a relationship may
        point only at twins the caller sees.
        """
        if principal is not None and not principal.all_sites:
            sites = {d.get("site") if isinstance(d, dict) else None for d in twin_docs}
            check_writable(principal, [s if isinstance(s, str) else None for s in sites], "twins.site")
        catalog = self.catalog
        errors: list[ErrorDetail] = []
        batch: dict[str, Head] = {}  # the batch's twins: id -> (model, feeder, site)
        previous: dict[str, Head] = {}  # the same twins as stored before this write
        etag = _Etags()
        with ExitStack() as stack:
            conn = stack.enter_context(self._writer.connect())
            stack.enter_context(conn.begin())
            touched: dict[str | None, str | None] = {}
            if replace_feeder:
                keep = {d.get("$dtId") for d in twin_docs if isinstance(d, dict)}
                touched = self._clear_feeder(conn, replace_feeder, keep, principal)
            # Stored state of the batch's twins (their old feeders). SQLite: read before each chunk is
            # written. MySQL: on a second connection, in parallel; it still sees the committed (old)
            # rows after this transaction's writes, and is asked only when a chunk updated rows.
            lookup = conn if self._sqlite else stack.enter_context(self._engine.connect())
            stamp = _stamp(conn)
            upsert = Upsert(conn, twins, TWIN_WRITE, TWIN_WRITE[1:])

            def look(c: Connection, ids: list[str]) -> None:
                for tid, model, feeder, site in select_in(c, HEADS_SQL, ids):
                    previous[tid] = (model, feeder, site)

            def write(c: Connection, batch: Prepared) -> None:
                ids = [r[0] for r in batch.rows]
                if self._sqlite:  # same connection: read the old state before overwriting it
                    look(c, ids)
                    upsert.run(c, batch)
                elif upsert.run(c, batch) != len(ids):
                    # Some twins existed: the lookup connection still sees their committed (old)
                    # state. A load of new twins (the common case) reads nothing at all.
                    reader.put(ids)

            reader, writer = ChunkWriter(lookup, look), ChunkWriter(conn, write)
            try:
                pending: list[tuple[Any, ...]] = []
                for i, doc in enumerate(twin_docs):
                    row, problems = split_twin(doc, f"twins[{i}]")
                    if row is not None:
                        if row["id"] in batch:
                            problems = [
                                ErrorDetail(row["id"], "twin appears twice in the batch", "duplicate")
                            ]
                        else:
                            problems = catalog.validate_twin(doc)
                            batch[row["id"]] = (row["model"], row["feeder"], row["site"])
                    if problems:
                        errors.append(_merge(row["id"] if row else problems[0].where, problems))
                    elif row is not None and not errors:
                        pending.append(
                            (
                                row["id"],
                                row["model"],
                                row["site"],
                                row["feeder"],
                                etag(),
                                row["properties"],
                                stamp,
                            )
                        )
                        if len(pending) >= WRITE_BATCH:
                            writer.put(upsert.prepare(pending))
                            pending = []
                if pending and not errors:
                    writer.put(upsert.prepare(pending))
            finally:
                try:
                    writer.close()  # first: the writer hands chunks to the reader
                finally:
                    reader.close()
            if principal is not None and not principal.all_sites:
                # Twins the batch overwrote (their stored state): another site's are not the caller's
                # to change; raising here rolls back what was sent.
                check_writable(principal, {h[2] for h in previous.values()}, "twins")
            rel_rows, rel_touched = self._relationship_rows(
                conn, relationship_docs, batch, errors, etag, stamp, principal
            )
            if errors:  # raising inside the transaction rolls back what was sent
                raise TwinValidationError(
                    f"{len(errors)} invalid twins or relationships; nothing written", errors
                )
            rel_upsert = Upsert(conn, relationships, REL_WRITE, REL_WRITE[2:])
            for chunk in chunks(rel_rows, WRITE_BATCH):
                rel_upsert.run(conn, list(chunk))
            touched.update(rel_touched)
            for _, feeder, site in (*batch.values(), *previous.values()):
                touched.setdefault(feeder, site)
            touch_feeders(conn, touched)
        return len(batch), len(rel_rows)

    def _clear_feeder(
        self, conn: Connection, feeder: str, keep: set[Any], principal: Principal | None = None
    ) -> dict[str | None, str | None]:
        """Delete the feeder's twins not in ``keep`` and all relationships from its twins (and into the
        deleted ones); returns the feeders touched."""
        tc, rc = twins.c, relationships.c
        members = list(conn.execute(select(tc.id, tc.site).where(tc.feeder == feeder)))
        if principal is not None and not principal.all_sites:
            check_writable(principal, {m[1] for m in members}, "replace_feeder")
        ids = [m[0] for m in members]
        stale = [i for i in ids if i not in keep]
        touched = feeders_across(conn, ids)
        if members:
            touched[feeder] = members[0][1]
        for chunk in chunks(ids):
            conn.execute(delete(relationships).where(rc.source_id.in_(chunk)))
        for chunk in chunks(stale):
            conn.execute(delete(relationships).where(rc.target_id.in_(chunk)))
            conn.execute(delete(twins).where(tc.id.in_(chunk)))
        return touched

    def _relationship_rows(
        self,
        conn: Connection,
        docs: Sequence[Any],
        batch: dict[str, Head],
        errors: list[ErrorDetail],
        etag: _Etags,
        stamp: Any,
        principal: Principal | None = None,
    ) -> tuple[list[tuple[Any, ...]], dict[str | None, str | None]]:
        """Check the batch's relationships (appending to ``errors``); rows to write, feeders touched.
        Ends of a site ``principal`` does not see count as missing; a relationship is written under
        its source, which must be of the caller's sites."""
        parsed: list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()
        for i, doc in enumerate(docs):
            row, bad = split_relationship(doc, f"relationships[{i}]")
            if row is None:
                errors.append(_merge(bad[0].where, bad))
            elif (row["source_id"], row["id"]) in seen:
                errors.append(
                    ErrorDetail(f"{row['source_id']}/relationships/{row['id']}", "relationship appears twice")
                )
            else:
                seen.add((row["source_id"], row["id"]))
                parsed.append(row)
        if not parsed:
            return [], {}
        ends = {r[k] for r in parsed for k in ("source_id", "target_id")}
        heads = {**twin_heads(conn, ends - batch.keys()), **{e: batch[e] for e in ends & batch.keys()}}
        if principal is not None and not principal.all_sites:
            heads = {k: h for k, h in heads.items() if principal.sees(h[2])}
            check_writable(principal, {heads[r["source_id"]][2] for r in parsed if r["source_id"] in heads})
        counts = self._relationship_counts(conn, parsed, heads, seen)
        catalog = self.catalog
        cache: dict[tuple[str, str, str, int], list[ErrorDetail]] = {}
        rows: list[tuple[Any, ...]] = []
        touched: dict[str | None, str | None] = {}
        for r in parsed:
            where = f"{r['source_id']}/relationships/{r['id']}"
            src, dst = heads.get(r["source_id"]), heads.get(r["target_id"])
            problems: list[ErrorDetail] = []
            if src is None:
                problems.append(
                    ErrorDetail(where, f"source twin {r['source_id']!r} does not exist", "not_found")
                )
            if dst is None:
                problems.append(
                    ErrorDetail(where, f"target twin {r['target_id']!r} does not exist", "not_found")
                )
            if src is not None and dst is not None:
                key = (src[0], r["name"], dst[0], counts.get((r["source_id"], r["name"]), 0))
                if key not in cache:
                    cache[key] = catalog.validate_relationship(*key)
                problems = cache[key]
            if problems:
                errors.append(_merge(where, problems))
                continue
            assert src is not None and dst is not None
            touched.setdefault(src[1], src[2])
            touched.setdefault(dst[1], dst[2])
            rows.append((r["source_id"], r["id"], r["name"], r["target_id"], etag(), r["properties"], stamp))
        return rows, touched

    def _relationship_counts(
        self,
        conn: Connection,
        parsed: list[dict[str, Any]],
        heads: dict[str, Head],
        keys: set[tuple[str, str]],
    ) -> dict[tuple[str, str], int]:
        """Relationships per (source, name) after the write, for names that have a maxMultiplicity.

        The catalog is probed with a huge count to learn which (source model, name) pairs are limited,
        so stored relationships are read only for those sources (a 100k-row load of unlimited
        ``connectsTo`` reads none).
        """
        catalog = self.catalog
        limited: dict[tuple[str, str, str], bool] = {}
        counts: Counter[tuple[str, str]] = Counter()
        for r in parsed:
            src, dst = heads.get(r["source_id"]), heads.get(r["target_id"])
            if src is None or dst is None:
                continue
            triple = (src[0], r["name"], dst[0])
            if triple not in limited:
                plain = catalog.validate_relationship(*triple)
                limited[triple] = len(catalog.validate_relationship(*triple, 2**31)) > len(plain)
            if limited[triple]:
                counts[(r["source_id"], r["name"])] += 1
        sources = sorted({s for s, _ in counts})
        rc = relationships.c
        for chunk in chunks(sources):
            stmt = select(rc.source_id, rc.id, rc.name).where(rc.source_id.in_(chunk))
            for source, rel_id, name in conn.execute(stmt):
                if (source, name) in counts and (source, rel_id) not in keys:
                    counts[(source, name)] += 1
        return dict(counts)

    # ----------------------------------------------------------------- relationships

    def create_relationship(
        self, doc: dict[str, Any], *, principal: Principal | None = None
    ) -> RelationshipRecord:
        row, errors = split_relationship(doc, "relationship")
        if row is None:
            raise TwinValidationError("invalid relationship", [_merge(errors[0].where, errors)])
        where = f"{row['source_id']}/relationships/{row['id']}"
        with self._writer.begin() as conn:
            source = self._load_twin(conn, row["source_id"], for_update=True, principal=principal)
            check_writable(principal, [source.site], f"{source.id}.site")
            heads = twin_heads(conn, {row["target_id"]})
            if row["target_id"] not in heads or not _sees(principal, heads[row["target_id"]][2]):
                raise TwinValidationError(
                    "invalid relationship",
                    [ErrorDetail(where, f"target twin {row['target_id']!r} does not exist", "not_found")],
                )
            rc = relationships.c
            if conn.execute(
                select(rc.id).where(rc.source_id == row["source_id"], rc.id == row["id"])
            ).first():
                raise ConflictError(
                    "relationship exists",
                    [ErrorDetail(where, "a relationship with this id exists", "exists")],
                )
            count = conn.execute(
                select(func.count()).where(rc.source_id == row["source_id"], rc.name == row["name"])
            ).scalar_one()
            target_model, target_feeder, target_site = heads[row["target_id"]]
            problems = self.catalog.validate_relationship(source.model, row["name"], target_model, count + 1)
            if problems:
                raise TwinValidationError("invalid relationship", [_merge(where, problems)])
            row.update(etag=_Etags()(), updated_at=now())
            conn.execute(relationships.insert(), [row])
            touch_feeders(conn, {source.feeder: source.site, target_feeder: target_site})
        return assemble_relationship(
            row["id"], row["source_id"], row["name"], row["target_id"], row["etag"], row["properties"]
        )

    def get_relationship(
        self, source_id: str, rel_id: str, *, principal: Principal | None = None
    ) -> RelationshipRecord:
        with self._engine.connect() as conn:
            return self._load_relationship(conn, source_id, rel_id, principal)

    def _load_relationship(
        self, conn: Connection, source_id: str, rel_id: str, principal: Principal | None = None
    ) -> RelationshipRecord:
        """The relationship, or ``NotFoundError`` when it is missing or either end is of a site
        ``principal`` does not see."""
        rc = relationships.c
        row = conn.execute(select(*REL_COLUMNS).where(rc.source_id == source_id, rc.id == rel_id)).first()
        if row is not None and principal is not None and not principal.all_sites:
            heads = twin_heads(conn, {row.source_id, row.target_id})
            if not all(h in heads and principal.sees(heads[h][2]) for h in (row.source_id, row.target_id)):
                row = None
        if row is None:
            raise NotFoundError(
                "relationship not found",
                [
                    ErrorDetail(
                        f"{source_id}/relationships/{rel_id}"[:600], "no such relationship", "not_found"
                    )
                ],
            )
        return assemble_relationship(*row)

    def delete_relationship(
        self,
        source_id: str,
        rel_id: str,
        if_match: str | None = None,
        *,
        principal: Principal | None = None,
    ) -> None:
        with self._writer.begin() as conn:
            current = self._load_relationship(conn, source_id, rel_id, principal)
            _check_if_match(f"{source_id}/relationships/{rel_id}", current.etag, if_match)
            heads = twin_heads(conn, {current.source_id, current.target_id})
            source_site = heads[current.source_id][2] if current.source_id in heads else None
            check_writable(principal, [source_site], f"{source_id}.site")
            rc = relationships.c
            conn.execute(delete(relationships).where(rc.source_id == source_id, rc.id == rel_id))
            touch_feeders(conn, {h[1]: h[2] for h in heads.values()})

    def list_relationships(
        self,
        source_id: str,
        name: str | None = None,
        incoming: bool = False,
        *,
        principal: Principal | None = None,
    ) -> list[RelationshipRecord]:
        """Relationships from ``source_id`` (or, with ``incoming``, to it), optionally of one name;
        those whose other end is of a site ``principal`` does not see are left out."""
        rc = relationships.c
        with self._engine.connect() as conn:
            self._load_twin(conn, source_id, principal=principal)
            stmt = select(*REL_COLUMNS).where((rc.target_id if incoming else rc.source_id) == source_id)
            visible = site_clause(twins.c.site, site_filter(principal))
            if visible is not None:
                other = rc.source_id if incoming else rc.target_id
                stmt = stmt.join_from(relationships, twins, twins.c.id == other).where(visible)
            if name is not None:
                stmt = stmt.where(rc.name == name)
            rows = conn.execute(stmt.order_by(rc.source_id, rc.id)).all()
        return [assemble_relationship(*r) for r in rows]

    # ----------------------------------------------------------------- queries

    def query(
        self,
        model: str | None = None,
        site: str | None = None,
        feeder: str | None = None,
        filters: Iterable[PropertyFilter | tuple[str, str, Any] | Mapping[str, Any]] = (),
        exact_model: bool = False,
        page_size: int = 100,
        page_token: str | None = None,
        *,
        principal: Principal | None = None,
    ) -> tuple[list[TwinRecord], str | None]:
        """One page of twins ordered by id, and the token of the next page (None on the last); only
        twins of the sites ``principal`` sees (and shared ones)."""
        if not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InputError("bad page size", [ErrorDetail("page_size", f"must be 1..{MAX_PAGE_SIZE}")])
        stmt = select(*TWIN_COLUMNS)
        if model:
            stmt = stmt.where(twins.c.model.in_(sorted(self._model_family(model, exact_model))))
        if site:
            stmt = stmt.where(twins.c.site == site)
        visible = site_clause(twins.c.site, site_filter(principal))
        if visible is not None:
            stmt = stmt.where(visible)
        if feeder:
            stmt = stmt.where(twins.c.feeder == feeder)
        dialect = "sqlite" if self._sqlite else "mysql"
        for i, flt in enumerate(to_filters(filters)):
            stmt = stmt.where(filter_clause(twins.c.properties, flt, dialect, f"filters[{i}]"))
        if page_token:
            stmt = stmt.where(twins.c.id > decode_page_token(page_token))
        stmt = stmt.order_by(twins.c.id).limit(page_size + 1)
        with self._engine.connect() as conn:
            rows = conn.execute(stmt).all()
        records = [assemble_twin(*r) for r in rows[:page_size]]
        token = encode_page_token(records[-1].id) if len(rows) > page_size else None
        return records, token

    def _model_family(self, model: str, exact: bool) -> set[str]:
        if exact:
            return {model}
        try:
            family = set(self.catalog.subtypes(model))
        except (KeyError, GridTwinError):
            family = set()
        return family | {model}

    def traverse(
        self,
        start_id: str,
        names: Iterable[str] = (),
        max_hops: int = 1,
        direction: str = "out",
        *,
        principal: Principal | None = None,
    ) -> list[TwinRecord]:
        """Twins reachable from ``start_id`` within ``max_hops`` relationships (nearest first, then by id).

        One SQL query per hop over the whole frontier; ``names`` limits the relationship names followed.
        Twins of sites ``principal`` does not see are left out of the answer.
        """
        if direction not in DIRECTIONS:
            raise InputError(
                "bad direction", [ErrorDetail("direction", f"must be one of {', '.join(DIRECTIONS)}")]
            )
        if not isinstance(max_hops, int) or not 1 <= max_hops <= MAX_HOPS:
            raise InputError("bad max_hops", [ErrorDetail("max_hops", f"must be 1..{MAX_HOPS}")])
        with self._engine.connect() as conn:
            self._load_twin(conn, start_id, principal=principal)
            order = reachable_ids(conn, relationships, start_id, names, max_hops, direction)
            rank = {tid: i for i, tid in enumerate(order)}
            records: list[TwinRecord] = []
            for chunk in chunks(order, IN_CHUNK):
                records += [
                    assemble_twin(*r)
                    for r in conn.execute(select(*TWIN_COLUMNS).where(twins.c.id.in_(chunk)))
                ]
        records = [r for r in records if _sees(principal, r.site)]
        records.sort(key=lambda r: rank[r.id])
        return records

    # ----------------------------------------------------------------- feeders

    def list_feeders(
        self, site: str | None = None, *, principal: Principal | None = None
    ) -> list[FeederInfo]:
        fc = feeders.c
        stmt = select(fc.id, fc.site, fc.twin_count, fc.version).where(fc.twin_count > 0)
        if site:
            stmt = stmt.where(fc.site == site)
        visible = site_clause(fc.site, site_filter(principal))
        if visible is not None:
            stmt = stmt.where(visible)
        with self._engine.connect() as conn:
            rows = conn.execute(stmt.order_by(fc.id)).all()
        return [FeederInfo(fid, fsite, int(n), str(v)) for fid, fsite, n, v in rows]

    def _feeder_row(
        self, conn: Connection, feeder: str, principal: Principal | None = None
    ) -> tuple[str | None, int, int]:
        """(site, twin count, version) of a feeder that has twins and whose site ``principal`` sees."""
        fc = feeders.c
        row = conn.execute(select(fc.site, fc.twin_count, fc.version).where(fc.id == feeder)).first()
        if row is None or row[1] == 0 or not _sees(principal, row[0]):
            raise _missing_feeder(feeder)
        return row[0], int(row[1]), int(row[2])

    def feeder_version(self, feeder: str, *, principal: Principal | None = None) -> str:
        with self._engine.connect() as conn:
            return str(self._feeder_row(conn, feeder, principal)[2])

    def feeder_site(self, feeder: str, *, principal: Principal | None = None) -> str | None:
        """The feeder's site (``NotFoundError`` as for a missing feeder when ``principal`` does not see
        it)."""
        with self._engine.connect() as conn:
            return self._feeder_row(conn, feeder, principal)[0]

    def delete_feeder(self, feeder: str, *, principal: Principal | None = None) -> int:
        """Delete every twin of ``feeder`` and their relationships; returns the number of twins deleted."""
        tc, rc = twins.c, relationships.c
        with self._writer.begin() as conn:
            site, _, _ = self._feeder_row(conn, feeder, principal)
            if principal is not None and not principal.all_sites:
                stored = set(conn.execute(select(tc.site).where(tc.feeder == feeder).distinct()).scalars())
                check_writable(principal, stored | {site}, "feeder")
            ids = list(conn.execute(select(tc.id).where(tc.feeder == feeder)).scalars())
            touched = feeders_across(conn, ids)
            touched[feeder] = site
            members = select(tc.id).where(tc.feeder == feeder)
            if self._sqlite:
                conn.execute(
                    delete(relationships).where(or_(rc.source_id.in_(members), rc.target_id.in_(members)))
                )
            else:  # MySQL cannot read a derived table of twins while deleting; use the id list
                for chunk in chunks(ids, IN_CHUNK):
                    conn.execute(
                        delete(relationships).where(or_(rc.source_id.in_(chunk), rc.target_id.in_(chunk)))
                    )
            deleted = conn.execute(delete(twins).where(tc.feeder == feeder)).rowcount
            touch_feeders(conn, touched)
        return int(deleted)

    def export_feeder(
        self, feeder: str, with_relationships: bool = True, *, principal: Principal | None = None
    ) -> tuple[pa.Table, pa.Table]:
        """All twins and relationships (from twins) of ``feeder`` as Arrow tables, one query each.

        ``with_relationships=False`` returns an empty relationships table: the feeder model is rebuilt from
        the twins' properties alone, so the power-flow path skips reading ~3 relationships per twin.

        Both tables carry the feeder version they were read at in their schema metadata
        (``feeder_version``), read in the same consistent snapshot.
        """
        tc, rc = twins.c, relationships.c
        conn_opts: dict[str, Any] = {} if self._sqlite else {"isolation_level": "REPEATABLE READ"}
        with self._engine.connect().execution_options(**conn_opts) as conn, conn.begin():
            _, _, version = self._feeder_row(conn, feeder, principal)
            # A twin of another site filed under this feeder stays out of the caller's export.
            visible = site_clause(tc.site, site_filter(principal))
            scope = [tc.feeder == feeder, *([visible] if visible is not None else [])]
            twin_rows = conn.execute(
                select(tc.id, tc.model, tc.site, tc.feeder, tc.etag, tc.properties)
                .where(*scope)
                .order_by(tc.id)
            ).all()
            rel_rows = (
                conn.execute(
                    select(rc.id, rc.source_id, rc.name, rc.target_id, rc.properties)
                    .join_from(relationships, twins, tc.id == rc.source_id)
                    .where(*scope)
                    .order_by(rc.source_id, rc.id)
                ).all()
                if with_relationships
                else []
            )
        meta: dict[bytes | str, bytes | str] = {
            b"feeder": feeder.encode(),
            b"feeder_version": str(version).encode(),
        }
        twin_names = ("id", "model", "site", "feeder", "etag", "properties_json")
        rel_names = ("id", "source_id", "name", "target_id", "properties_json")
        return arrow_table(twin_rows, twin_names, meta), arrow_table(rel_rows, rel_names, meta)
