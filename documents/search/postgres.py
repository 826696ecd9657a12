"""The PostgreSQL search backend: pgvector HNSW for the dense side, full-text search for the keywords.

One table beside documents_chunk holds what search needs of each current chunk:

    ragsite_search_chunk(chunk_id → documents_chunk ON DELETE CASCADE, document_id,
                         embedding vector(N) [HNSW, inner product], tsv tsvector [GIN])

- A chunk is written into it by index_chunks, called in the transaction that swaps a document's
  generation in (documents.ingest); the old generation's chunks are deleted in that same
  transaction and their rows go with them (the foreign key cascades), as do a deleted
  document's. So what a query sees changes exactly when the swap or the delete commits: no
  rebuild, no files, nothing held by the web processes.
- The table is not in a Django migration: the extension may be missing from the server (Debian's
  PostgreSQL has no pgvector package), and the migrations must run everywhere. `manage.py
  search_fill` creates it (CREATE EXTENSION / TABLE / INDEX IF NOT EXISTS) and fills it; a query
  or an ingest without it fails with an error that says to run that command.
- The keyword side indexes the tokens of documents.text.tokenize (the one tokeniser, as the
  embedded BM25 index does), written as a tsvector with positions. PostgreSQL has no BM25 of its
  own: a passage's keyword score is the sum over the query's tokens of ts_rank (term frequency,
  length-normalised) times the token's IDF, read from the statistics ANALYZE keeps of the column.
  Score fusion standardises both scores over the candidates, so the scale does not matter.
  The tokens are word stems (tokenize(stems=True)) in a table created or filled since stemming
  came in; its comment says so (STEMMED). A table written before holds whole words: queries and
  new rows follow it until `manage.py search_fill` rewrites its keyword side with stems.
"""

import logging
import math
import re
import time

import numpy as np
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import F
from django.db.utils import DatabaseError

from documents.models import SKIPPED_LISTED, Chunk, Document
from documents.search.backends import Candidates, SearchBackend
from documents.search.errors import SearchError
from documents.text.tokenize import tokenize

logger = logging.getLogger(__name__)

TABLE = "ragsite_search_chunk"
# A row's vector (1.5 KB at 384 dimensions) and tokens (about as much again) stay in its page up to
# this many bytes. Above 2 KB PostgreSQL moves the vector to the TOAST table by default, and the
# tokens with it when large: each candidate's distance, and each of its ts_rank calls, then read
# them from there again.
_ROW_BYTES = 8160
_MAX_POSITION = 16383  # PostgreSQL keeps tsvector positions up to this
_MAX_LEXEME_BYTES = 2046
STEMMED = "ragsite keyword tokens: stems"  # the table's comment when its tsv holds word stems
_STEMS = "obj_description(%s::regclass, 'pg_class') = %s"  # whether it does; parameters TABLE, STEMMED


def _quoted(token: str) -> str:
    """A token as a quoted lexeme of tsvector / tsquery input syntax."""
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def _usable(token: str) -> bool:
    return 0 < len(token.encode()) <= _MAX_LEXEME_BYTES


def tsvector_text(tokens: list[str]) -> str:
    """The tokens of a passage as tsvector input, each with its positions (term frequency counts
    in ts_rank). Pure."""
    positions: dict[str, list[int]] = {}
    for place, token in enumerate(tokens, start=1):
        if _usable(token):
            positions.setdefault(token, []).append(min(place, _MAX_POSITION))
    return " ".join(f"{_quoted(token)}:{','.join(map(str, places[:256]))}" for token, places in positions.items())


def vector_text(vector: np.ndarray) -> str:
    return str(np.asarray(vector, dtype=np.float32).tolist())


class PostgresSearcher:
    """One query's view: PostgreSQL's own snapshot keeps it consistent, so there is no version."""

    version = None
    empty = False

    def __init__(self, backend: "PostgresBackend", embedding_model: str, stems: bool):
        self.backend = backend
        self.embedding_model = embedding_model
        self.stems = stems

    @property
    def chunk_count(self) -> int:
        with _errors(), connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {TABLE}")
            return cursor.fetchone()[0]

    def candidates(self, vector, tokens, *, k, document_ids, lap) -> Candidates:
        vector = vector_text(_normalised(vector))
        with _errors(), connection.cursor() as cursor:
            dense_ids = self.backend.dense_top(cursor, vector, k=k, document_ids=document_ids)
            lap("dense")
            match, terms = self.backend.keyword_plan(cursor, tokens)
            in_documents = "AND s.document_id = ANY(%(documents)s)" if document_ids is not None else ""
            # BM25-like: each query token's ts_rank weighted by its IDF (from the column's
            # statistics); rows are matched on the tokens that are not too common (an OR over words
            # in half the corpus would rank half the corpus), scored on all that weigh (keyword_plan).
            score = " + ".join(
                f"ts_rank(s.tsv, %(term{i})s::tsquery, %(norm)s) * %(idf{i})s" for i in range(len(terms))
            ) or "0"
            params = {f"term{i}": term for i, (term, _) in enumerate(terms)}
            params.update({f"idf{i}": idf for i, (_, idf) in enumerate(terms)})
            # The keyword top k, then both scores of every candidate of either list.
            cursor.execute(
                f"""
                WITH query AS (SELECT %(vector)s::vector AS v, %(match)s::tsquery AS q),
                keyword AS (
                    SELECT s.chunk_id, {score} AS score FROM {TABLE} s, query
                    WHERE s.tsv @@ query.q {in_documents}
                    ORDER BY score DESC, s.chunk_id LIMIT %(k)s
                )
                SELECT s.chunk_id, -(s.embedding <#> query.v), {score},
                       s.chunk_id IN (SELECT chunk_id FROM keyword)
                FROM {TABLE} s, query
                WHERE s.chunk_id = ANY(%(dense)s::bigint[] || ARRAY(SELECT chunk_id FROM keyword))
                """,
                {"vector": vector, "match": match, "norm": self.backend.rank_normalization, "k": k,
                 "documents": list(document_ids or []), "dense": dense_ids, **params},
            )
            rows = cursor.fetchall()
            lap("bm25")
        scores = {pk: (float(dense), float(keyword)) for pk, dense, keyword, _ in rows}
        keyword_ranked = sorted((pk for pk, _, _, top in rows if top), key=lambda pk: (-scores[pk][1], pk))
        dense_ranked = [pk for pk in dense_ids if pk in scores]
        keys = list(dict.fromkeys([*dense_ranked, *keyword_ranked]))
        return Candidates(
            keys=keys,
            dense=[scores[pk][0] for pk in keys],
            keyword=[scores[pk][1] for pk in keys],
            dense_ranked=dense_ranked,
            keyword_ranked=keyword_ranked,
        )


def _normalised(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def matched_tokens(tokens: list[str], share: dict[str, float], passages: float, budget: int) -> list[str]:
    """The tokens rows are matched on, rarest first, while the rows they are expected to match
    (share x passages, summed) stay within budget; the rarest is always kept. Full-text ranking
    reads every matched row: with a million passages, 5% of them is 50,000 rows a token, and
    ranking them took seconds. In the order given."""
    kept, expected = set(), 0.0
    for token in sorted(tokens, key=lambda token: share[token]):
        expected += share[token] * passages
        if kept and expected > budget:
            break
        kept.add(token)
    return [token for token in tokens if token in kept]


class _errors:
    """A database error of this backend as a SearchError that says what to do."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is not None and isinstance(exc, DatabaseError) and TABLE in str(exc):
            raise SearchError(
                f"the PostgreSQL search table is missing or broken ({exc}): run `python manage.py search_fill` "
                "(settings.RAGSITE_SEARCH_BACKEND names documents.search.postgres.PostgresBackend)"
            ) from exc
        return False


class PostgresBackend(SearchBackend):
    """pgvector HNSW + PostgreSQL full-text search, kept in step with the chunks transactionally.

    m, ef_construction: the HNSW graph's build parameters; ef_search: the candidate list a query
    walks (at least the k asked for); build_memory: PostgreSQL's maintenance_work_mem while a first
    fill builds the graph (one that fits is several times faster than one that spills to disk:
    about 2 KB a chunk at m 16). document_ids filters are exact (no index) when they leave
    at most exact_filter_rows chunks; above that the HNSW scan is filtered, with ef_search raised
    in proportion to the share filtered out (pgvector 0.6 filters after the index scan).
    Keyword search matches rows on the query tokens at most match_share of the passages hold, the
    rarest first while they are expected to match at most match_rows rows (matched_tokens)."""

    name = "postgres"

    def __init__(self, *, dimensions: int = 384, m: int = 16, ef_construction: int = 64, ef_search: int = 200,
                 exact_filter_rows: int = 20000, rank_normalization: int = 1, match_share: float = 0.05,
                 match_rows: int = 10000, stats_seconds: float = 300.0, build_memory: str = "1GB", **tuning):
        super().__init__(**tuning)
        if not re.fullmatch(r"[0-9]+(kB|MB|GB)", build_memory):
            raise ImproperlyConfigured(
                f"settings.RAGSITE_SEARCH_BACKEND build_memory option {build_memory!r} is not a size like 1GB or 512MB"
            )
        self.build_memory, self.dimensions = build_memory, dimensions
        self.m, self.ef_construction, self.ef_search = m, ef_construction, ef_search  # the HNSW graph's
        self.exact_filter_rows, self.rank_normalization = exact_filter_rows, rank_normalization
        self.match_share = match_share
        self.match_rows = match_rows
        self.stats_seconds = stats_seconds
        # (read at, share by token, floor, passages in the table)
        self._stats: tuple[float, dict[str, float], float, float] | None = None

    def token_shares(self, cursor) -> tuple[dict[str, float], float, float]:
        """The share of passages holding each common token, from the statistics ANALYZE keeps of
        the tsvector column (its most common lexemes), the share below which tokens are not
        listed, and how many passages the table holds (as ANALYZE last counted them); read again
        every stats_seconds."""
        now = time.monotonic()
        if self._stats is None or now - self._stats[0] > self.stats_seconds:
            cursor.execute(
                "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
                "WHERE schemaname = current_schema() AND tablename = %s AND attname = 'tsv'", [TABLE]
            )
            row = cursor.fetchone()
            shares, floor = {}, 0.0
            if row and row[0]:
                shares = dict(zip(row[0], row[1]))
                floor = row[1][len(row[0])] / 2  # half the least common listed
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
            row = cursor.fetchone()
            self._stats = (now, shares, floor, max(0.0, float(row[0])) if row and row[0] is not None else 0.0)
        return self._stats[1], self._stats[2], self._stats[3]

    def keyword_plan(self, cursor, tokens: list[str]) -> tuple[str | None, list[tuple[str, float]]]:
        """(the tsquery rows must match, [(tsquery of one token, its IDF)]) for a query's tokens."""
        tokens = list(dict.fromkeys(token for token in tokens if _usable(token)))
        if not tokens:
            return None, []
        shares, floor, passages = self.token_shares(cursor)
        share = {token: shares.get(token, floor) for token in tokens}
        idf = {token: math.log(1 + (1 - share[token] + 1e-6) / (share[token] + 1e-6)) for token in tokens}
        # A token in nearly every passage adds next to nothing to any score but costs a ts_rank
        # call on every matched row: scored only when its IDF is a twentieth of the best one's.
        terms = [(_quoted(token), idf[token]) for token in tokens if idf[token] >= max(idf.values()) / 20]
        selective = matched_tokens([t for t in tokens if share[t] <= self.match_share], share, passages, self.match_rows)
        match = " | ".join(map(_quoted, selective)) if selective else " & ".join(map(_quoted, tokens))
        return match, terms

    # --- reads
    def searcher(self):
        with _errors(), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT c.embedding_model, {_STEMS} "
                f"FROM {TABLE} s JOIN {Chunk._meta.db_table} c ON c.id = s.chunk_id LIMIT 1",
                [TABLE, STEMMED],
            )
            row = cursor.fetchone()
        return None if row is None else PostgresSearcher(self, row[0], bool(row[1]))

    @staticmethod
    def table_stems(cursor) -> bool:
        """Whether the table's keyword side holds word stems (its comment)."""
        cursor.execute(f"SELECT {_STEMS}", [TABLE, STEMMED])
        return bool(cursor.fetchone()[0])

    def dense_top(self, cursor, vector: str, *, k: int, document_ids: list[int] | None) -> list[int]:
        """The k chunk ids nearest to vector (normalised, as text), best first."""
        if document_ids is None:
            cursor.execute(f"SET hnsw.ef_search = {int(max(self.ef_search, k))}")
            cursor.execute(
                f"SELECT chunk_id FROM {TABLE} ORDER BY embedding <#> %s::vector LIMIT %s", [vector, k]
            )
            return [pk for (pk,) in cursor.fetchall()]
        cursor.execute(f"SELECT count(*) FROM {TABLE} WHERE document_id = ANY(%s)", [document_ids])
        allowed = cursor.fetchone()[0]
        if allowed <= self.exact_filter_rows:
            # "+ 0" hides the operator from the planner: the allowed rows are read by document and
            # sorted, exactly, rather than walked through the graph and filtered.
            order = "(embedding <#> %s::vector) + 0"
            ef_search = self.ef_search
        else:
            cursor.execute(f"SELECT count(*) FROM {TABLE}")
            share = allowed / max(1, cursor.fetchone()[0])
            order = "embedding <#> %s::vector"
            ef_search = min(1000, int(max(self.ef_search, k) / max(share, 1e-3)))
        cursor.execute(f"SET hnsw.ef_search = {int(ef_search)}")
        query = f"SELECT chunk_id FROM {TABLE} WHERE document_id = ANY(%s) ORDER BY {{}} LIMIT %s"
        cursor.execute(query.format(order), [document_ids, vector, k])
        found = [pk for (pk,) in cursor.fetchall()]
        if len(found) < min(k, allowed):
            # The graph walk ran out of candidates before finding k admitted rows (pgvector filters
            # after the index scan): read the admitted rows exactly instead, so the top k is full.
            cursor.execute(query.format("(embedding <#> %s::vector) + 0"), [document_ids, vector, k])
            found = [pk for (pk,) in cursor.fetchall()]
        return found

    def status(self) -> dict:
        try:
            with _errors(), connection.cursor() as cursor:
                cursor.execute(f"SELECT count(*), count(DISTINCT document_id) FROM {TABLE}")
                chunks, documents = cursor.fetchone()
        except SearchError as exc:
            return {"index_error": str(exc), "chunk_count": 0, "index_version": None, "loaded_version": None}
        return {"chunk_count": chunks, "indexed_documents": documents, "index_version": None, "loaded_version": None,
                "hnsw": {"m": self.m, "ef_construction": self.ef_construction, "ef_search": self.ef_search}}

    # --- writes
    def setup(self, *, vector_index: bool = True) -> None:
        """Create the extension, the table and its indexes where missing."""
        chunk_table = Chunk._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")
            cursor.execute("SELECT to_regclass(%s) IS NULL", [TABLE])
            new = cursor.fetchone()[0]
            cursor.execute(
                f"""CREATE TABLE IF NOT EXISTS {TABLE} (
                    chunk_id bigint PRIMARY KEY REFERENCES {chunk_table}(id) ON DELETE CASCADE,
                    document_id bigint NOT NULL,
                    embedding vector({int(self.dimensions)}) NOT NULL,
                    tsv tsvector NOT NULL)"""
            )
            # Also on a table created before: its new rows stay whole; VACUUM FULL rewrites the old.
            cursor.execute(f"ALTER TABLE {TABLE} SET (toast_tuple_target = {_ROW_BYTES})")
            if new:
                cursor.execute(f"COMMENT ON TABLE {TABLE} IS '{STEMMED}'")
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_document ON {TABLE} (document_id)")
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_tsv ON {TABLE} USING gin (tsv)")
            # ANALYZE then lists the 10,000 most common tokens with their shares: the IDF of search.
            cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN tsv SET STATISTICS 1000")
            if vector_index:
                self.create_vector_index(cursor)

    def create_vector_index(self, cursor) -> None:
        cursor.execute(
            f"CREATE INDEX IF NOT EXISTS {TABLE}_embedding ON {TABLE} USING hnsw (embedding vector_ip_ops) "
            f"WITH (m = {int(self.m)}, ef_construction = {int(self.ef_construction)})"
        )

    def index_chunks(self, *, chunk_ids, document_id=None, generation=0) -> None:
        if document_id is not None:  # the document is searchable on this generation when the swap commits
            Document.objects.filter(pk=document_id).update(indexed_generation=generation, unindexed_chunks=[])
        ids = list(chunk_ids)
        skipped: dict[int, list[dict]] = {}
        with _errors():
            for start in range(0, len(ids), 500):
                rows = Chunk.objects.filter(pk__in=ids[start : start + 500]).values_list(
                    "pk", "document_id", "page", "embedding", "text"
                )
                self._write(rows, skipped)
        for document_id, entries in skipped.items():
            Document.objects.filter(pk=document_id).update(unindexed_chunks=entries[:SKIPPED_LISTED])

    def _write(self, rows, skipped: dict[int, list[dict]]) -> int:
        chunk_ids, document_ids, vectors, texts = [], [], [], []
        with connection.cursor() as cursor:
            # The lock every write takes anyway, taken first: a restemming (stem_keywords) in
            # progress is waited for, and its comment is read after it.
            cursor.execute(f"LOCK TABLE {TABLE} IN ROW EXCLUSIVE MODE")
            stems = self.table_stems(cursor)
        for pk, document_id, page, blob, text in rows:
            blob = bytes(blob)
            vector = np.frombuffer(blob, dtype="<f4")
            reason = ""
            if len(vector) != self.dimensions:
                reason = f"its stored vector has {len(vector)} dimensions, the search table {self.dimensions}"
            elif not np.isfinite(vector).all():
                reason = "its stored vector is not finite"
            if reason:
                skipped.setdefault(document_id, []).append({"page": page, "reason": reason})
                continue
            try:
                tsv = tsvector_text(tokenize(text, stems=stems))
            except Exception as exc:  # dense search still finds it
                logger.exception("search table: chunk %s could not be tokenised", pk)
                skipped.setdefault(document_id, []).append(
                    {"page": page, "reason": f"left out of keyword search: its text could not be tokenised ({exc})"}
                )
                tsv = ""
            chunk_ids.append(pk)
            document_ids.append(document_id)
            vectors.append(vector_text(_normalised(vector)))
            texts.append(tsv)
        if not chunk_ids:
            return 0
        with connection.cursor() as cursor:
            cursor.execute(
                f"""INSERT INTO {TABLE} (chunk_id, document_id, embedding, tsv)
                SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::vector[], %s::tsvector[])
                ON CONFLICT (chunk_id) DO UPDATE SET embedding = EXCLUDED.embedding, tsv = EXCLUDED.tsv""",
                [chunk_ids, document_ids, vectors, texts],
            )
        return len(chunk_ids)

    def stem_keywords(self, *, progress=lambda line: None, batch: int = 2000) -> None:
        """Rewrite the keyword side of a table written before stemming with word stems, in one
        transaction with the comment that says so: a query sees whole words or stems, never a
        mix. Writes wait meanwhile; queries go on."""
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {TABLE} IN SHARE ROW EXCLUSIVE MODE")
            if self.table_stems(cursor):
                return
            cursor.execute(f"SELECT chunk_id FROM {TABLE} ORDER BY chunk_id")
            ids = [pk for (pk,) in cursor.fetchall()]
            progress(f"rewriting the keyword tokens of {len(ids)} rows as word stems")
            for start in range(0, len(ids), batch):
                cursor.execute(
                    f"SELECT id, text FROM {Chunk._meta.db_table} WHERE id = ANY(%s)", [ids[start : start + batch]]
                )
                written, tsvs = [], []
                for pk, text in cursor.fetchall():
                    try:
                        tsvs.append(tsvector_text(tokenize(text, stems=True)))
                    except Exception:  # as _write: the passage stays findable by meaning
                        logger.exception("search table: chunk %s could not be tokenised", pk)
                        tsvs.append("")
                    written.append(pk)
                cursor.execute(
                    f"UPDATE {TABLE} s SET tsv = v.tsv FROM unnest(%s::bigint[], %s::tsvector[]) AS v(id, tsv) "
                    "WHERE s.chunk_id = v.id",
                    [written, tsvs],
                )
            cursor.execute(f"COMMENT ON TABLE {TABLE} IS '{STEMMED}'")

    def fill(self, *, progress=lambda line: None, batch: int = 2000) -> int:
        """Create what is missing, drop rows of chunks no longer current, stem the keyword side of
        a table written before stemming, add the current chunks not yet in the table. Safe to run
        again; ingests may go on meanwhile. The HNSW index of a first fill is built after the rows
        are in (several times faster than row by row)."""
        from documents.selectors import current_chunks

        self.setup(vector_index=False)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {TABLE})")
            first = cursor.fetchone()[0]
            if not first:
                self.create_vector_index(cursor)
            cursor.execute(
                f"""DELETE FROM {TABLE} s USING {Chunk._meta.db_table} c, {Document._meta.db_table} d
                WHERE c.id = s.chunk_id AND d.id = c.document_id AND c.generation <> d.generation"""
            )
            if cursor.rowcount:
                progress(f"removed {cursor.rowcount} rows of chunks no longer current")
        self.stem_keywords(progress=progress, batch=batch)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT chunk_id FROM {TABLE}")
            present = {pk for (pk,) in cursor.fetchall()}
        missing = [pk for pk in current_chunks().order_by("pk").values_list("pk", flat=True) if pk not in present]
        progress(f"{len(missing)} chunks to add, {len(present)} already there")
        written = 0
        skipped: dict[int, list[dict]] = {}
        for start in range(0, len(missing), batch):
            with transaction.atomic():
                rows = current_chunks().filter(pk__in=missing[start : start + batch]).values_list(
                    "pk", "document_id", "page", "embedding", "text"
                )
                written += self._write(rows, skipped)
            progress(f"  {min(start + batch, len(missing))}/{len(missing)}")
        with connection.cursor() as cursor:
            if first:
                progress(f"building the HNSW index (m={self.m}, ef_construction={self.ef_construction})")
                # A graph built in memory is several times faster than one that spills to disk.
                cursor.execute(f"SET maintenance_work_mem = '{self.build_memory}'")
                self.create_vector_index(cursor)
                cursor.execute("RESET maintenance_work_mem")
            cursor.execute(f"ANALYZE {TABLE}")
        with transaction.atomic():
            for document_id, entries in skipped.items():
                Document.objects.filter(pk=document_id).update(unindexed_chunks=entries[:SKIPPED_LISTED])
            Document.objects.filter(generation__gt=0).exclude(indexed_generation=F("generation")).update(
                indexed_generation=F("generation")
            )
        return len(present) + written

