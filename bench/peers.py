"""The peers of the benchmark: the same audience queries in ClickHouse (chdb, groupBitmap states in a Memory
table) and in DuckDB (a wide users table), compiled from Dolphin's expression AST."""

from __future__ import annotations

import time

import numpy as np

from dolphin.query import All, And, Expr, In, Not, NotIn, Or, Tag, parse


def _sql_str(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _duck_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckDBPeer:
    """A wide users table (one row per user, list columns for multi-valued dimensions): DuckDB's fastest form."""

    def __init__(self, parquet: str, kinds: dict[str, str], bools: set[str]) -> None:
        import duckdb

        self.kinds = kinds
        self.bools = bools
        self.con = duckdb.connect()
        started = time.perf_counter()
        self.con.execute(f"CREATE TABLE raw AS SELECT file_row_number AS rid, * EXCLUDE (file_row_number) "
                         f"FROM read_parquet('{parquet}', file_row_number = true)")
        # ENUM columns (and ENUM lists) are DuckDB's fastest form for tags: about 3x faster than VARCHAR here.
        columns = []
        for dim, kind in kinds.items():
            if dim in bools:
                columns.append(dim)
                continue
            values = f"unnest({dim})" if kind == "multi" else dim
            self.con.execute(f"CREATE TYPE {dim}_t AS ENUM (SELECT DISTINCT v FROM (SELECT {values} AS v FROM raw) "
                             "WHERE v IS NOT NULL)")
            columns.append(f"{dim}::{dim}_t{'[]' if kind == 'multi' else ''} AS {dim}")
        self.con.execute(f"CREATE TABLE users AS SELECT rid, user_id, {', '.join(columns)} FROM raw ORDER BY rid")
        self.con.execute("DROP TABLE raw")
        self.load_seconds = time.perf_counter() - started

    def _value(self, dim: str, value: str) -> str:
        return value if dim in self.bools else _duck_str(value)

    def predicate(self, expr: Expr) -> str:
        match expr:
            case Tag(dimension=d, value=v):
                if self.kinds[d] == "multi":
                    return f"list_contains({d}, {self._value(d, v)})"
                return f"coalesce({d} = {self._value(d, v)}, false)"
            case In(dimension=d, values=vs):
                items = ", ".join(self._value(d, v) for v in vs)
                if self.kinds[d] == "multi":
                    return f"list_has_any({d}, [{items}])"
                return f"coalesce({d} IN ({items}), false)"
            case NotIn(dimension=d, values=vs):
                items = ", ".join(self._value(d, v) for v in vs)
                if self.kinds[d] == "multi":
                    return f"(len({d}) > 0 AND NOT list_has_any({d}, [{items}]))"
                return f"coalesce({d} NOT IN ({items}), false)"
            case All():
                return "true"
            case Not(child=c):
                return f"NOT ({self.predicate(c)})"
            case And(children=cs):
                return "(" + " AND ".join(self.predicate(c) for c in cs) + ")"
            case Or(children=cs):
                return "(" + " OR ".join(self.predicate(c) for c in cs) + ")"
        raise TypeError(expr)

    def count(self, expression: str) -> int:
        sql = f"SELECT count(*) FROM users WHERE {self.predicate(parse(expression))}"
        return int(self.con.execute(sql).fetchone()[0])

    def export_integers(self, expression: str, limit: int | None = None) -> np.ndarray:
        """Return the audience's integer user IDs in row order (the first `limit`), as one NumPy array."""
        cut = f" LIMIT {limit}" if limit else ""
        sql = f"SELECT user_id FROM users WHERE {self.predicate(parse(expression))} ORDER BY rid{cut}"
        ids: np.ndarray = self.con.execute(sql).fetchnumpy()["user_id"]
        return ids

    def profile(self, expression: str, dimension: str) -> dict[str, int]:
        sql = (f"SELECT CAST({dimension} AS VARCHAR), count(*) FROM users WHERE {self.predicate(parse(expression))} "
               f"AND {dimension} IS NOT NULL GROUP BY 1")
        return dict(self.con.execute(sql).fetchall())

    def export(self, expression: str, limit: int) -> list[str]:
        sql = f"SELECT user_id FROM users WHERE {self.predicate(parse(expression))} ORDER BY rid LIMIT {limit}"
        return [str(r[0]) for r in self.con.execute(sql).fetchall()]


class ChdbPeer:
    """ClickHouse in-process: one groupBitmap state per tag in a Memory table (its fastest form here)."""

    def __init__(self, parquet: str, kinds: dict[str, str]) -> None:
        from chdb import session

        self.kinds = kinds
        self.s = session.Session()
        started = time.perf_counter()
        self.s.query("CREATE TABLE users ENGINE = Memory AS SELECT toUInt32(rowNumberInAllBlocks()) AS rid, * "
                     f"FROM file('{parquet}', Parquet) SETTINGS max_threads=1, input_format_parquet_preserve_order=1")
        self.s.query("CREATE TABLE tags (k String, bm AggregateFunction(groupBitmap, UInt32)) ENGINE = Memory")
        for dim, kind in kinds.items():
            column = f"toString({dim})"
            if kind == "multi":
                self.s.query(f"INSERT INTO tags SELECT concat('{dim}=', toString(v)), groupBitmapState(rid) "
                             f"FROM users ARRAY JOIN {dim} AS v GROUP BY v")
            else:
                self.s.query(f"INSERT INTO tags SELECT concat('{dim}=', {column}), groupBitmapState(rid) FROM users "
                             f"WHERE {dim} IS NOT NULL GROUP BY {column}")
            self.s.query(f"INSERT INTO tags SELECT '{dim}', groupBitmapMergeState(bm) FROM tags "
                         f"WHERE startsWith(k, '{dim}=')")
        self.s.query("INSERT INTO tags SELECT '*', groupBitmapState(rid) FROM users")
        self.load_seconds = time.perf_counter() - started

    def bitmap(self, expr: Expr) -> str:
        match expr:
            case Tag(dimension=d, value=v):
                return f"(SELECT bm FROM tags WHERE k = {_sql_str(f'{d}={v}')})"
            case In(dimension=d, values=vs):
                return self._fold("bitmapOr", [self.bitmap(Tag(d, v)) for v in vs])
            case NotIn(dimension=d, values=vs):
                return f"bitmapAndnot((SELECT bm FROM tags WHERE k = {_sql_str(d)}), {self.bitmap(In(d, vs))})"
            case All():
                return "(SELECT bm FROM tags WHERE k = '*')"
            case Not(child=c):
                return f"bitmapAndnot({self.bitmap(All())}, {self.bitmap(c)})"
            case And(children=cs):
                return self._fold("bitmapAnd", [self.bitmap(c) for c in cs])
            case Or(children=cs):
                return self._fold("bitmapOr", [self.bitmap(c) for c in cs])
        raise TypeError(expr)

    @staticmethod
    def _fold(fn: str, parts: list[str]) -> str:
        out = parts[0]
        for part in parts[1:]:
            out = f"{fn}({out}, {part})"
        return out

    def count(self, expression: str) -> int:
        return int(str(self.s.query(f"SELECT bitmapCardinality({self.bitmap(parse(expression))})", "CSV")).strip())

    def profile(self, expression: str, dimension: str) -> dict[str, int]:
        sql = (f"WITH {self.bitmap(parse(expression))} AS a SELECT substring(k, {len(dimension) + 2}), "
               f"bitmapAndCardinality(bm, a) AS c FROM tags WHERE startsWith(k, '{dimension}=') AND c > 0")
        rows = str(self.s.query(sql, "TSV")).strip().splitlines()
        return {line.split("\t")[0]: int(line.split("\t")[1]) for line in rows}

    def export_integers(self, expression: str, limit: int | None = None) -> np.ndarray:
        """Return the audience's integer user IDs in row order (the first `limit`), through Arrow."""
        rows = f"bitmapToArray({self.bitmap(parse(expression))})"
        if limit:
            rows = f"arraySlice({rows}, 1, {limit})"
        sql = f"SELECT user_id FROM users WHERE rid IN (SELECT arrayJoin({rows})) ORDER BY rid"
        ids: np.ndarray = self.s.query(sql, "ArrowTable").column("user_id").to_numpy()
        return ids

    def export(self, expression: str, limit: int) -> list[str]:
        ids = f"arraySlice(bitmapToArray({self.bitmap(parse(expression))}), 1, {limit})"
        sql = f"SELECT user_id FROM users WHERE rid IN (SELECT arrayJoin({ids})) ORDER BY rid"
        return str(self.s.query(sql, "TSV")).split()
