"""The peers of the benchmark: the same audience queries in ClickHouse (chdb, groupBitmap states in a Memory
table) and in DuckDB (a wide users table), compiled from Dolphin's expression AST."""

from __future__ import annotations

import time

import numpy as np

from dolphin.query import All, And, Between, Compare, Expr, In, Not, NotIn, Or, Tag, parse

NUMERIC = ("age", "spend_30d", "score")  # the benchmark's numeric fields (dolphin.demo.numeric_columns)


def _sql_str(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _duck_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckDBPeer:
    """A wide users table (one row per user, list columns for multi-valued dimensions): DuckDB's fastest form."""

    def __init__(self, parquet: str, kinds: dict[str, str], bools: set[str], numbers: str = "") -> None:
        import duckdb

        self.kinds = kinds
        self.bools = bools
        self.con = duckdb.connect()
        started = time.perf_counter()
        self.con.execute(f"CREATE TABLE raw AS SELECT file_row_number AS rid, * EXCLUDE (file_row_number) "
                         f"FROM read_parquet('{parquet}', file_row_number = true)")
        numeric = ""
        if numbers:  # the numeric fields of the same users, row for row
            self.con.execute(f"CREATE TABLE nums AS SELECT file_row_number AS rid, {', '.join(NUMERIC)} "
                             f"FROM read_parquet('{numbers}', file_row_number = true)")
            numeric = ", " + ", ".join(f"nums.{n}" for n in NUMERIC)
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
        joined = " JOIN nums USING (rid)" if numbers else ""
        self.con.execute(f"CREATE TABLE users AS SELECT rid, user_id, {', '.join(columns)}{numeric} FROM raw"
                         f"{joined} ORDER BY rid")
        self.con.execute("DROP TABLE raw")
        if numbers:
            self.con.execute("DROP TABLE nums")
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
            case Compare(dimension=d, op=op, value=v):
                return f"coalesce({d} {op} {v}, false)"
            case Between(dimension=d, low=lo, high=hi):
                return f"coalesce({d} BETWEEN {lo} AND {hi}, false)"
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

    # -- numeric fields (n1-n5) -------------------------------------------------------------------------------
    def sum_mean(self, expression: str, field: str) -> tuple[str, float]:
        sql = f"SELECT sum({field}), avg({field}) FROM users WHERE {self.predicate(parse(expression))}"
        total, mean = self.con.execute(sql).fetchone()
        return str(total), float(mean)

    def percentiles(self, expression: str, field: str, levels: list[float]) -> list[str]:
        sql = (f"SELECT quantile_disc({field}, {[p / 100 for p in levels]}) FROM users "
               f"WHERE {self.predicate(parse(expression))}")
        return [str(v) for v in self.con.execute(sql).fetchone()[0]]

    def top(self, expression: str, field: str, k: int) -> list[str]:
        sql = (f"SELECT user_id FROM users WHERE {self.predicate(parse(expression))} "
               f"ORDER BY {field} DESC NULLS LAST, rid LIMIT {k}")
        return [str(r[0]) for r in self.con.execute(sql).fetchall()]

    def buckets(self, expression: str, field: str, width: int, last: int) -> dict[int, int]:
        sql = (f"SELECT least({field} // {width}, {last}) AS b, count(*) FROM users "
               f"WHERE {self.predicate(parse(expression))} AND {field} IS NOT NULL GROUP BY b")
        return {int(b): int(c) for b, c in self.con.execute(sql).fetchall()}


class ChdbPeer:
    """ClickHouse in-process: one groupBitmap state per tag in a Memory table (its fastest form here)."""

    def __init__(self, parquet: str, kinds: dict[str, str], numbers: str = "", bools: set[str] | None = None) -> None:
        from chdb import session

        self.kinds = kinds
        self.bools = bools or set()
        self.s = session.Session()
        started = time.perf_counter()
        self.s.query("CREATE TABLE users ENGINE = Memory AS SELECT toUInt32(rowNumberInAllBlocks()) AS rid, * "
                     f"FROM file('{parquet}', Parquet) SETTINGS max_threads=1, input_format_parquet_preserve_order=1")
        if numbers:  # the numeric fields of the same users, row for row, as columns of the users table
            self.s.query("CREATE TABLE nums ENGINE = Memory AS SELECT toUInt32(rowNumberInAllBlocks()) AS rid, "
                         f"{', '.join(NUMERIC)} FROM file('{numbers}', Parquet) SETTINGS max_threads=1, "
                         "input_format_parquet_preserve_order=1")
            self.s.query("CREATE TABLE wide ENGINE = Memory AS SELECT * FROM users u JOIN nums n USING (rid) "
                         "ORDER BY rid")
            self.s.query("DROP TABLE nums")
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

    # -- numeric fields (n1-n5): column predicates on the wide table, ClickHouse's fastest form with numbers ----
    def predicate(self, expr: Expr) -> str:
        match expr:
            case Tag(dimension=d, value=v):
                value = v if d in self.bools else _sql_str(v)
                return f"has({d}, {value})" if self.kinds[d] == "multi" else f"coalesce({d} = {value}, false)"
            case In(dimension=d, values=vs):
                return "(" + " OR ".join(self.predicate(Tag(d, v)) for v in vs) + ")"
            case Compare(dimension=d, op=op, value=v):
                return f"coalesce({d} {op} {v}, false)"
            case Between(dimension=d, low=lo, high=hi):
                return f"coalesce({d} BETWEEN {lo} AND {hi}, false)"
            case All():
                return "true"
            case Not(child=c):
                return f"NOT ({self.predicate(c)})"
            case And(children=cs):
                return "(" + " AND ".join(self.predicate(c) for c in cs) + ")"
            case Or(children=cs):
                return "(" + " OR ".join(self.predicate(c) for c in cs) + ")"
        raise TypeError(expr)

    def _one(self, sql: str) -> str:
        return str(self.s.query(sql, "TSV")).strip()

    def numeric_count(self, expression: str) -> int:
        return int(self._one(f"SELECT count() FROM wide WHERE {self.predicate(parse(expression))}"))

    def sum_mean(self, expression: str, field: str) -> tuple[str, float]:
        total, mean = self._one(f"SELECT sum({field}), avg({field}) FROM wide "
                                f"WHERE {self.predicate(parse(expression))}").split("\t")
        return total, float(mean)

    def percentiles(self, expression: str, field: str, levels: list[float]) -> list[str]:
        # the nearest rank, ceil(p * n), as Dolphin and DuckDB's quantile_disc pick it (quantileExact differs)
        picks = ", ".join(f"s[toUInt64(greatest(1, ceil({p / 100} * length(s))))]" for p in levels)
        row = self._one(f"SELECT {picks} FROM (SELECT arraySort(groupArray({field})) AS s FROM wide "
                        f"WHERE {self.predicate(parse(expression))})")
        return row.split("\t")

    def top(self, expression: str, field: str, k: int) -> list[str]:
        return self._one(f"SELECT user_id FROM wide WHERE {self.predicate(parse(expression))} "
                         f"ORDER BY {field} DESC NULLS LAST, rid LIMIT {k}").split()

    def buckets(self, expression: str, field: str, width: int, last: int) -> dict[int, int]:
        rows = self._one(f"SELECT least(intDiv({field}, {width}), {last}) AS b, count() FROM wide "
                         f"WHERE {self.predicate(parse(expression))} AND {field} IS NOT NULL GROUP BY b").splitlines()
        return {int(r.split("\t")[0]): int(r.split("\t")[1]) for r in rows}
