"""The `dolphin` command: serve, load, query, audience, status, reload, health, demo.

The composition root: the only module that wires the engine, the server, the client and the loaders.
Exit status: 0 ok, 1 a data or request error (one `error:` line), 2 bad usage.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import pathlib
import sys
import tempfile
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from dolphin import __version__
from dolphin.config import Settings, env_name, flag_name, load_settings, settings_table, settings_toml
from dolphin.errors import DolphinError, InvalidArgumentError

if TYPE_CHECKING:
    from loaders.cluster import ShardRunner

QUERY_COMMANDS = ("count", "batch", "profile", "export", "aggregate", "overlap", "explain", "lookalike", "funnel",
                  "lift", "retention", "trend")


def _add_setting_flags(parser: argparse.ArgumentParser, names: Sequence[str] | None = None) -> None:
    for f in settings_table():
        if names is None or f.name in names:
            text = f"{f.metadata['help']} (default {f.default}; env {env_name(f.name)})"
            if isinstance(f.default, bool):
                parser.add_argument(flag_name(f.name), dest=f.name, default=None, action="store_const", const=True,
                                    help=text)
            else:
                parser.add_argument(flag_name(f.name), dest=f.name, default=None, help=text)


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings({f.name: getattr(args, f.name, None) for f in settings_table()},
                         config=getattr(args, "config", None))


def _progress_printer() -> Callable[[int, int, str], None]:
    tty = sys.stderr.isatty()

    def show(done: int, total: int, message: str) -> None:
        if tty:
            filled = int(30 * done / max(total, 1))
            end = "\n" if done >= total else ""
            print(f"\r[{'#' * filled}{' ' * (30 - filled)}] {done}/{total} {message:<40}", end=end, file=sys.stderr)
        else:
            print(f"load: {done}/{total} {message}", file=sys.stderr, flush=True)

    return show


# -- commands -------------------------------------------------------------------
class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the call fields when present."""

    FIELDS = ("rpc", "code", "duration_ms", "expression", "error")

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        entry.update({k: getattr(record, k) for k in self.FIELDS if hasattr(record, k)})
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings.log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonLogFormatter())
    if args.print_config:
        print(settings_toml(settings))
        return 0
    from dolphin.server import serve

    return serve(settings)


def _reload_after(target: str | None) -> None:
    """After a load, ask the server at target (if given) to switch to the new version."""
    if target:
        from dolphin.client import Client

        with Client.from_env(target) as client:
            print(f"server {target} now serves version {client.reload().snapshot_version}")


def _cut_time(text: str) -> float:
    """Parse --cut-time: epoch seconds or ISO 8601 (UTC when no zone is given)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither epoch seconds nor an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def cmd_load_tags(args: argparse.Namespace) -> int:
    from loaders.tags import load_tags

    settings = _settings(args)
    if args.data_root is not None:
        return _load_tags_into_cluster(args, settings)
    if _cluster_flags_without_root(args):
        return 2
    report = load_tags(args.files, settings.data_dir, layout=args.layout, id_column=args.id_column,
                       shard_bits=settings.shard_bits, keep=settings.keep, progress=_progress_printer(),
                       cut_time=args.cut_time, numeric=_numeric_flags(args), auto_numeric=not args.no_auto_numeric)
    print(f"loaded version {report.version}: {report.rows} rows, {report.users} users ({report.new_users} new), "
          f"{len(report.dimensions) - len(report.numeric)} dimensions, {report.tags} tags, "
          f"{report.memberships} memberships, {len(report.numeric)} numeric fields in {report.seconds:.2f} s")
    _print_numeric(report)
    _reload_after(args.reload)
    return 0


def _numeric_flags(args: argparse.Namespace) -> dict[str, int | None]:
    """Return the columns of --numeric COL[:SCALE] flags with their scales."""
    from loaders.numeric import parse_numeric_flag

    out: dict[str, int | None] = {}
    for flag in args.numeric or []:
        try:
            column, scale = parse_numeric_flag(flag)
        except ValueError as exc:
            raise InvalidArgumentError(str(exc)) from None
        out[column] = scale
    return out


def _print_numeric(report: Any) -> None:
    for name, decided in report.numeric.items():
        print(f"  numeric field {name}: {decided}")
    for note in report.notes:
        print(f"  note: {note}")


def _cluster_flags_without_root(args: argparse.Namespace) -> bool:
    """Say so and return True when a single-node load was given flags that only a cluster root takes."""
    given = [flag for flag, value in (("--shards", getattr(args, "shards", None)), ("--ray-address", args.ray_address))
             if value is not None]
    if given:
        print(f"error: {' and '.join(given)} {'is' if len(given) == 1 else 'are'} for a cluster data root: "
              "give --data-root DIR too", file=sys.stderr)
    return bool(given)


RAY_LOAD_HELP = "with --data-root: load every shard at once as Ray tasks on this Ray cluster (e.g. head:6379)"


def _shard_runner(args: argparse.Namespace) -> ShardRunner:
    from loaders.cluster import ShardRunner

    if args.ray_address is None:
        return ShardRunner(progress=_progress_printer())
    try:
        from dolphin.cluster.loads import on_ray
    except ImportError:
        raise DolphinError(f"--ray-address loads on Ray, which is not installed; run: {CLUSTER_EXTRA}") from None
    return ShardRunner(run_all=on_ray(args.ray_address), progress=_progress_printer())


def _load_tags_into_cluster(args: argparse.Namespace, settings: Settings) -> int:
    from loaders.cluster import load_tags_into_cluster

    reports = load_tags_into_cluster(args.files, args.data_root, shards=args.shards, layout=args.layout,
                                     id_column=args.id_column, shard_bits=settings.shard_bits, keep=settings.keep,
                                     runner=_shard_runner(args), cut_time=args.cut_time,
                                     numeric=_numeric_flags(args), auto_numeric=not args.no_auto_numeric)
    for shard, report in enumerate(reports):
        print(f"shard {shard}: version {report.version}, {report.rows} rows, {report.users} users "
              f"({report.new_users} new), {report.tags} tags, {report.memberships} memberships "
              f"in {report.seconds:.2f} s")
    print(f"loaded {sum(r.rows for r in reports)} rows into {len(reports)} shards of {args.data_root}")
    if reports:
        _print_numeric(reports[0])
    return 0


def cmd_load_events(args: argparse.Namespace) -> int:
    from loaders.events import load_events

    settings = _settings(args)
    if args.data_root is not None:
        from loaders.cluster import load_events_into_cluster

        reports = load_events_into_cluster(args.files, args.data_root, id_column=args.id_column,
                                           keep_days=args.keep_days, shard_bits=settings.shard_bits,
                                           keep=settings.keep, runner=_shard_runner(args))
        for shard, part in enumerate(reports):
            print(f"shard {shard}: version {part.version}, {part.rows} events, {part.bitmaps} daily reach bitmaps, "
                  f"{part.dropped_days} old days dropped")
        print(f"loaded {sum(r.rows for r in reports)} events into {len(reports)} shards of {args.data_root}")
        return 0
    if _cluster_flags_without_root(args):
        return 2
    report = load_events(args.files, settings.data_dir, id_column=args.id_column, keep_days=args.keep_days,
                         shard_bits=settings.shard_bits, keep=settings.keep, progress=_progress_printer())
    print(f"loaded version {report.version}: {report.rows} events into {report.bitmaps} daily reach bitmaps "
          f"({report.first_day} to {report.last_day}, {report.dropped_days} old days dropped, "
          f"{report.new_users} new users) in {report.seconds:.2f} s")
    _reload_after(args.reload)
    return 0


def cmd_load_embeddings(args: argparse.Namespace) -> int:
    from loaders.embeddings import load_embeddings

    settings = _settings(args)
    if args.data_root is not None:
        from loaders.cluster import load_embeddings_into_cluster

        reports = load_embeddings_into_cluster(
            args.files, args.data_root, id_column=args.id_column, vector_column=args.vector_column,
            metric=args.metric, index=args.index, nlist=args.nlist, shard_bits=settings.shard_bits,
            keep=settings.keep, runner=_shard_runner(args))
        for shard, part in enumerate(reports):
            print(f"shard {shard}: version {part.version}, {part.vectors} vectors, {part.index} index"
                  + (f" with {part.nlist} lists" if part.nlist else ""))
        print(f"loaded {sum(r.vectors for r in reports)} vectors into {len(reports)} shards of {args.data_root}")
        return 0
    if _cluster_flags_without_root(args):
        return 2
    report = load_embeddings(args.files, settings.data_dir, id_column=args.id_column, vector_column=args.vector_column,
                             metric=args.metric, index=args.index, nlist=args.nlist, shard_bits=settings.shard_bits,
                             keep=settings.keep, progress=_progress_printer())
    print(f"loaded version {report.version}: {report.vectors} vectors of {report.dim} dimensions "
          f"({report.new_users} new users), {report.index} index"
          + (f" with {report.nlist} lists" if report.nlist else "") + f" in {report.seconds:.2f} s")
    _reload_after(args.reload)
    return 0


def _print(obj: Any, as_json: bool) -> None:
    if as_json:
        from google.protobuf.json_format import MessageToDict

        print(json.dumps(MessageToDict(obj) if hasattr(obj, "DESCRIPTOR") else obj, ensure_ascii=False, indent=1))
    else:
        print(obj)


def _print_profile(response: Any) -> None:
    print(f"audience {response.audience_count} of {response.population_count} users")
    for dim in response.dimensions:
        print(f"\n{dim.dimension} ({dim.value_count} values)")
        print(f"  {'value':<24} {'count':>10} {'share':>8} {'pop.share':>9} {'tgi':>7}")
        for v in dim.values:
            print(f"  {v.value:<24} {v.count:>10} {v.share:>8.2%} {v.population_share:>9.2%} {v.tgi:>7.1f}")


def cmd_stream(args: argparse.Namespace) -> int:
    from dolphin.client import Client
    from dolphin.sink import Sink
    from loaders.stream import stream_files

    target = args.target or _settings(args).target
    with Client.from_env(target) as client, Sink(client, batch_size=args.batch_size) as sink:
        report = stream_files(args.files, sink, _progress_printer())
        stats = sink.stats
    print(f"streamed {report.sent} of {report.rows} mutations from {report.sources} sources "
          f"({report.skipped_rows} already applied) in {report.seconds:.2f} s: {stats.acked_batches} batches acked, "
          f"{stats.skipped_batches} skipped, {stats.reconnects} reconnects"
          + (f", {stats.dropped_events} events older than the server's --keep-days window dropped"
             if stats.dropped_events else ""))
    return 0


def cmd_checkpoint(args: argparse.Namespace) -> int:
    from dolphin.client import Client

    with Client.from_env(args.target or _settings(args).target) as client:
        _print(client.checkpoint(), True)
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    from dolphin.client import Client

    if not args.expressions and args.what not in ("funnel", "lift", "retention", "trend"):
        raise InvalidArgumentError(f"dolphin query {args.what} needs an expression")

    with Client.from_env(args.target or _settings(args).target, timeout=args.timeout) as client:
        if args.what == "count":
            _print(client.count(args.expressions[0]), args.json)
        elif args.what == "batch":
            _print(client.batch_count(args.expressions), args.json)
        elif args.what == "profile":
            response = client.profile(args.expressions[0], dimensions=args.dimension, top_k=args.top_k,
                                      numeric_cuts=_field_cuts(args.field_cuts))
            _print(response, True) if args.json else _print_profile(response)
        elif args.what == "export" and args.output:
            from loaders.audience_files import export_file

            done = export_file(client, args.expressions[0], args.output, bitmap_format=args.bitmap_format,
                               columns=_comma_list(args.with_columns), bitmap_64=args.bitmap_64,
                               progress=_progress_printer())
            print(f"wrote {done.users} users to {done.path} ({done.bytes} bytes) in {done.seconds:.2f} s")
        elif args.what == "export":
            if args.bitmap_format or args.with_columns:
                raise InvalidArgumentError("--format and --with need --output FILE")
            _print_export(client, args)
        elif args.what == "aggregate":
            response = client.aggregate(args.expressions[0], args.field or [], percentiles=args.percentile,
                                        cut_points=_comma_list(args.cuts), statistics=_comma_list(args.statistics))
            _print(response, True) if args.json else _print_aggregate(response)
        elif args.what == "overlap":
            response = client.overlap(args.expressions)
            _print(response, True) if args.json else _print_overlap(args.expressions, response)
        elif args.what in ("funnel", "lift", "retention", "trend"):
            _print(_ad_effect(client, args), True)
        elif args.what == "lookalike":
            response = client.lookalike(args.expressions[0], candidate_expression=args.candidates or "", k=args.k,
                                        method=args.method, exclude_seed=not args.include_seed,
                                        save_as=args.save_as or "")
            _print(response, True) if args.json else _print_lookalike(response)
        else:
            _print(client.explain(args.expressions[0]), True)
    return 0


def _comma_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _field_cuts(flags: list[str] | None) -> dict[str, list[str]]:
    """Return field -> cut points of --cuts-for FIELD=C1,C2,... flags."""
    out = {}
    for flag in flags or []:
        name, sep, points = flag.partition("=")
        if not sep:
            raise InvalidArgumentError(f"--cuts-for {flag}: write FIELD=C1,C2,...")
        out[name] = _comma_list(points)
    return out


def _print_export(client: Any, args: argparse.Namespace) -> None:
    if not args.order_by:
        for user_id in client.export(args.expressions[0], page_size=args.page_size):
            print(user_id)
        return
    for page in client.export_pages(args.expressions[0], page_size=args.page_size, order_by=args.order_by,
                                    descending=args.descending):
        for user_id, value in zip(page.user_ids, page.order_values, strict=True):
            print(f"{user_id}\t{value}")


def _print_aggregate(response: Any) -> None:
    print(f"audience {response.audience_count} users")
    for f in response.fields:
        print(f"\n{f.field} ({f.kind}): {f.count} users with a value")
        for label, number in (("sum", f.sum), ("mean", f.mean), ("min", f.min), ("max", f.max)):
            if number.exact:
                print(f"  {label:<8} {number.exact}")
        if f.stddev:
            print(f"  {'stddev':<8} {f.stddev:.6g}")
        for p in f.percentiles:
            print(f"  p{p.percentile:<7g} {p.value.exact}")
        for b in f.histogram:
            print(f"  [{b.lower or '-inf'}, {b.upper or '+inf'})  {b.count}")


def _ad_effect(client: Any, args: argparse.Namespace) -> Any:
    audience = args.expressions[0] if args.expressions else ""
    events = [e for e in (args.events or "").split(",") if e]
    if args.what == "funnel":
        return client.funnel(args.campaign, events, args.start, args.end, audience_expression=audience,
                             breakdown_dimension=args.breakdown or "", top_k=args.top_k, value_fields=args.field)
    if args.what == "lift":
        exposure, outcome = (events + ["", ""])[:2]
        return client.lift(args.campaign, exposure, outcome, args.start, args.end, audience_expression=audience,
                           value_fields=args.field)
    if args.what == "retention":
        cohort, back = (events + ["", ""])[:2]
        return client.retention(args.campaign, cohort, back, args.start, end_date=args.end, days=args.days)
    return client.trend(events, args.start, args.end, campaign=args.campaign or "", audience_expression=audience)


def _print_lookalike(response: Any) -> None:
    print(f"# seed {response.seed_count} users ({response.seed_with_vectors} with vectors), "
          f"{response.candidates_count} candidates, {response.elapsed_ms:.1f} ms")
    for user in response.users:
        print(f"{user.user_id}\t{user.score:.4f}")


def _print_overlap(expressions: list[str], response: Any) -> None:
    for expression, count in zip(expressions, response.counts, strict=True):
        print(f"{count:>12}  {expression}")
    for pair in response.intersections:
        print(f"{pair.count:>12}  #{pair.first + 1} AND #{pair.second + 1}")


def cmd_audience(args: argparse.Namespace) -> int:
    from dolphin.client import Client

    with Client.from_env(args.target or _settings(args).target) as client:
        if args.action == "save":
            _print(client.save_audience(args.name, args.expression, overwrite=args.overwrite), True)
        elif args.action == "import":
            from loaders.audience_files import read_bitmap_file

            if not args.name or not args.expression:
                raise InvalidArgumentError("dolphin audience import NAME FILE [--format roaring|clickhouse|doris]")
            data = read_bitmap_file(pathlib.Path(args.expression), base64_text=args.base64)
            _print(client.save_audience(args.name, overwrite=args.overwrite, bitmap=data,
                                        bitmap_format=args.bitmap_format), True)
        elif args.action == "get":
            _print(client.get_audience(args.name), True)
        elif args.action == "delete":
            client.delete_audience(args.name)
            print(f"deleted @{args.name}")
        else:
            for audience in client.list_audiences():
                print(f"@{audience.name}\t{audience.count}\t{audience.expression}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from dolphin.client import Client

    with Client.from_env(args.target or _settings(args).target) as client:
        _print(client.reload() if args.command == "reload" else client.status(), True)
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    target = args.target or _settings(args).target
    ca = os.environ.get("DOLPHIN_TLS_CA")
    channel = (grpc.secure_channel(target, grpc.ssl_channel_credentials(pathlib.Path(ca).read_bytes())) if ca
               else grpc.insecure_channel(target))
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout)
        except grpc.RpcError as exc:
            print(f"error: health check failed: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
    print(status)
    return 0 if response.status == health_pb2.HealthCheckResponse.SERVING else 1


DEMO_HTTP_PORT = 8080


def cmd_demo(args: argparse.Namespace) -> int:
    from dolphin.demo import demo_world
    from dolphin.server import serve
    from loaders.embeddings import load_embeddings
    from loaders.events import load_events
    from loaders.tags import load_tags

    settings = _settings(args)
    data_dir = pathlib.Path(settings.data_dir if args.data_dir else "./demo-data")
    print(f"generating {args.users} demo users (personas: tags, campaign events, embeddings) ...", file=sys.stderr)
    world = demo_world(args.users, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        files = {name: pathlib.Path(tmp) / f"demo-{name}.parquet" for name in ("users", "events", "vectors")}
        world.tags.write_parquet(files["users"])
        world.events.write_parquet(files["events"])
        world.vectors.write_parquet(files["vectors"])
        report = load_tags([str(files["users"])], data_dir, shard_bits=settings.shard_bits, keep=settings.keep)
        load_events([str(files["events"])], data_dir, shard_bits=settings.shard_bits, keep=settings.keep)
        # Exact search: at demo sizes it is milliseconds, and an IVF index would take longer to train than to use.
        embedded = load_embeddings([str(files["vectors"])], data_dir, index="flat", shard_bits=settings.shard_bits,
                                   keep=settings.keep)
    print(f"loaded version {embedded.version} into {data_dir}: {report.users} users, {report.tags} tags, "
          f"{world.events.height} events, {embedded.vectors} vectors", file=sys.stderr)
    flags = _flags(args)
    if flags.get("http_port") is None and not os.environ.get(env_name("http_port")):
        flags["http_port"] = DEMO_HTTP_PORT  # the demo is for looking at: the console is on unless turned off
    target = f"{settings.host}:{settings.port}"
    print(f"try:  dolphin query count 'gender=F AND city IN (Hangzhou, Shanghai) AND interest=tennis "
          f"AND NOT vip=true' --target {target}", file=sys.stderr)
    print(f"      grpcurl -plaintext {target} list", file=sys.stderr)
    if args.no_serve:
        return 0
    served = load_settings({**flags, "data_dir": str(data_dir)})
    if served.http_port:
        print(f"open the console: http://{served.host}:{served.http_port}/", file=sys.stderr)
    return serve(served)


CLUSTER_EXTRA = "pip install 'dolphin-audience[cluster]'"


def cmd_cluster_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        import ray  # noqa: F401 - only to say which install line is missing
    except ImportError:
        print(f"error: `dolphin cluster serve` runs on Ray, which is not installed; run: {CLUSTER_EXTRA}",
              file=sys.stderr)
        return 2
    from dolphin.cluster.front import cluster_serve

    return cluster_serve(settings, args.data_root, shards=args.shards, ray_address=args.ray_address,
                         cpus_per_shard=args.cpus_per_shard)


def _flags(args: argparse.Namespace) -> dict[str, object]:
    return {f.name: getattr(args, f.name, None) for f in settings_table()}


# -- parser -----------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the `dolphin` command."""
    parser = argparse.ArgumentParser(prog="dolphin", description="Dolphin audience analytics engine")
    parser.add_argument("--version", action="version", version=f"dolphin {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the gRPC server over a data directory")
    serve.add_argument("--config", help="TOML file of settings (env DOLPHIN_CONFIG); flags and env win over it")
    serve.add_argument("--print-config", action="store_true", help="print the effective settings as TOML and exit")
    _add_setting_flags(serve)
    serve.set_defaults(func=cmd_serve)

    load = sub.add_parser("load", help="load data into a new snapshot version")
    load_sub = load.add_subparsers(dest="kind", required=True, metavar="KIND")
    tags = load_sub.add_parser("tags", help="load user tags from Parquet or CSV files (paths or globs)")
    tags.add_argument("files", nargs="+", metavar="FILE")
    tags.add_argument("--layout", choices=["wide", "long"], default="wide",
                      help="wide: one row per user, a column per dimension; long: user_id, dimension, value")
    tags.add_argument("--id-column", default="user_id", help="column holding the external user ID")
    tags.add_argument("--reload", metavar="TARGET", help="after loading, ask the server at TARGET to reload")
    tags.add_argument("--cut-time", type=_cut_time, metavar="TIME",
                      help="when the input was exported (ISO 8601 or epoch seconds; default: the newest input "
                           "file's mtime); stream mutations logged after it are re-applied on top")
    tags.add_argument("--data-root", type=pathlib.Path, metavar="DIR",
                      help="load into a cluster data root instead of --data-dir: the input is split by shard")
    tags.add_argument("--ray-address", metavar="ADDR", help=RAY_LOAD_HELP)
    tags.add_argument("--shards", type=int, metavar="N",
                      help="with --data-root, for its first load: the number of shards (fixed from then on)")
    tags.add_argument("--numeric", action="append", metavar="COL[:SCALE]",
                      help="load a column (wide) or dimension (long) as a numeric field, with SCALE decimal places "
                           "(repeatable); floats are rounded to the scale")
    tags.add_argument("--no-auto-numeric", action="store_true",
                      help="make only --numeric columns numeric (by default float, decimal, date and datetime "
                           "columns, and integer columns with more than 100 distinct values, are too)")
    _add_setting_flags(tags, ["data_dir", "shard_bits", "keep"])
    tags.set_defaults(func=cmd_load_tags)

    embeddings = load_sub.add_parser("embeddings", help="load user embeddings (Parquet) and build the vector index")
    embeddings.add_argument("files", nargs="+", metavar="FILE")
    embeddings.add_argument("--id-column", default="user_id", help="column holding the external user ID")
    embeddings.add_argument("--vector-column", default="embedding", help="list or array column of floats")
    embeddings.add_argument("--metric", choices=["cosine", "ip"], default="cosine",
                            help="cosine normalises vectors; ip keeps them as they are")
    embeddings.add_argument("--index", choices=["auto", "flat", "ivf"], default="auto",
                            help="auto: exact below 100,000 vectors, IVF above")
    embeddings.add_argument("--nlist", type=int, default=0, help="IVF lists; 0 means about 4*sqrt(n)")
    embeddings.add_argument("--data-root", type=pathlib.Path, metavar="DIR",
                            help="load into an existing cluster data root instead of --data-dir (split by shard)")
    embeddings.add_argument("--ray-address", metavar="ADDR", help=RAY_LOAD_HELP)
    embeddings.add_argument("--reload", metavar="TARGET", help="after loading, ask the server at TARGET to reload")
    _add_setting_flags(embeddings, ["data_dir", "shard_bits", "keep"])
    embeddings.set_defaults(func=cmd_load_embeddings)

    events = load_sub.add_parser("events", help="load campaign events (user_id, campaign, event, date)")
    events.add_argument("files", nargs="+", metavar="FILE")
    events.add_argument("--id-column", default="user_id", help="column holding the external user ID")
    events.add_argument("--keep-days", type=int, default=0,
                        help="drop days older than the newest minus N-1; 0 keeps all")
    events.add_argument("--data-root", type=pathlib.Path, metavar="DIR",
                        help="load into an existing cluster data root instead of --data-dir (split by shard)")
    events.add_argument("--ray-address", metavar="ADDR", help=RAY_LOAD_HELP)
    events.add_argument("--reload", metavar="TARGET", help="after loading, ask the server at TARGET to reload")
    _add_setting_flags(events, ["data_dir", "shard_bits", "keep"])
    events.set_defaults(func=cmd_load_events)

    query = sub.add_parser("query", help="ask a running server: " + ", ".join(QUERY_COMMANDS))
    query.add_argument("what", choices=QUERY_COMMANDS)
    query.add_argument("expressions", nargs="*", metavar="EXPR",
                       help="audience expression(s); optional for funnel, lift and trend")
    query.add_argument("--dimension", action="append", help="profile: a dimension to profile (repeatable)")
    query.add_argument("--top-k", type=int, default=0, help="profile: values per dimension (default 20)")
    query.add_argument("--page-size", type=int, default=0, help="export: IDs per page (default 1000)")
    query.add_argument("--timeout", type=float, default=30.0, help="deadline of the call, seconds")
    query.add_argument("--json", action="store_true", help="print JSON")
    query.add_argument("--candidates", help="lookalike: expression of the users that may be returned")
    query.add_argument("--k", type=int, default=1000, help="lookalike: users to return")
    query.add_argument("--method", choices=["centroid", "multi_centroid", "knn_vote"], default="centroid")
    query.add_argument("--include-seed", action="store_true", help="lookalike: allow seed users in the result")
    query.add_argument("--save-as", help="lookalike: save the result as this audience")
    query.add_argument("--campaign", help="funnel/lift/retention/trend: campaign name")
    query.add_argument("--events", help="funnel: stages; lift: exposure,outcome; retention: cohort,return; "
                                        "trend: events (comma-separated)")
    query.add_argument("--from", dest="start", help="first day, ISO (2026-11-01)")
    query.add_argument("--to", dest="end", default="", help="last day, ISO; default the first day")
    query.add_argument("--breakdown", help="funnel: dimension to break down by")
    query.add_argument("--days", type=int, default=7, help="retention: days after each cohort day")
    query.add_argument("--field", action="append",
                       help="aggregate: a numeric field (repeatable); funnel/lift: a value field to sum")
    query.add_argument("--percentile", action="append", type=float, help="aggregate: e.g. 50, 90, 99 (repeatable)")
    query.add_argument("--cuts", help="aggregate: histogram cut points, comma-separated (e.g. 0,100,500)")
    query.add_argument("--statistics", help="aggregate: count,sum,mean,min,max,stddev,histogram (default all)")
    query.add_argument("--cuts-for", dest="field_cuts", action="append", metavar="FIELD=C1,C2",
                       help="profile: buckets of a numeric field (default: its deciles)")
    query.add_argument("--order-by", help="export: order by this numeric field (prints user_id<TAB>value)")
    query.add_argument("--descending", action="store_true", help="export --order-by: largest first")
    query.add_argument("--output", type=pathlib.Path, metavar="FILE",
                       help="export: write the audience to FILE atomically (.parquet or .csv; any name with --format)")
    query.add_argument("--format", dest="bitmap_format", choices=["roaring", "clickhouse", "doris"],
                       help="export --output: a bitmap file of the external IDs (portable Roaring, a ClickHouse "
                       "groupBitmap state, a Doris/StarRocks BITMAP) instead of a table")
    query.add_argument("--bitmap-64", action="store_true",
                       help="export --format: the 64-bit form even when every ID fits 32 bits (groupBitmap(UInt64))")
    query.add_argument("--with", dest="with_columns", metavar="NAME,...",
                       help="export --output: add a column per dimension or numeric field (comma-separated)")
    _add_setting_flags(query, ["target"])
    query.set_defaults(func=cmd_query)

    stream = sub.add_parser("stream", help="replay a change log (JSON lines or Parquet) into a running server")
    stream.add_argument("files", nargs="+", help="files or globs; columns user_id, op, dimension, value "
                        "[, campaign, event, date for add_event] [, source, offset]; or user_id, campaign, event, "
                        "date rows of campaign events")
    stream.add_argument("--batch-size", type=int, default=5000, help="mutations per batch")
    _add_setting_flags(stream, ["target"])
    stream.set_defaults(func=cmd_stream)

    checkpoint = sub.add_parser("checkpoint", help="make the server write the stream's changes as a new version")
    _add_setting_flags(checkpoint, ["target"])
    checkpoint.set_defaults(func=cmd_checkpoint)

    audience = sub.add_parser("audience", help="save, get, list or delete saved audiences")
    audience.add_argument("action", choices=["save", "get", "list", "delete", "import"])
    audience.add_argument("name", nargs="?", default="")
    audience.add_argument("expression", nargs="?", default="", metavar="EXPR|FILE",
                          help="save: the expression; import: the bitmap file")
    audience.add_argument("--overwrite", action="store_true")
    audience.add_argument("--format", dest="bitmap_format", choices=["roaring", "clickhouse", "doris"],
                          default="roaring", help="import: the bitmap file's format (default roaring)")
    audience.add_argument("--base64", action="store_true",
                          help="import: the file holds base64 text (Doris/StarRocks bitmap_to_base64)")
    _add_setting_flags(audience, ["target"])
    audience.set_defaults(func=cmd_audience)

    for name, text in (("status", "show the server's status"), ("reload", "make the server load the newest snapshot")):
        cmd = sub.add_parser(name, help=text)
        _add_setting_flags(cmd, ["target"])
        cmd.set_defaults(func=cmd_status)

    health = sub.add_parser("health", help="gRPC health check; exit 0 when SERVING (for probes)")
    health.add_argument("--service", default="", help="service name; empty checks the whole server")
    health.add_argument("--timeout", type=float, default=3.0)
    _add_setting_flags(health, ["target"])
    health.set_defaults(func=cmd_health)

    cluster = sub.add_parser("cluster", help="run Dolphin over the shards of a cluster data root, on Ray")
    cluster_sub = cluster.add_subparsers(dest="action", required=True, metavar="ACTION")
    cluster_serve = cluster_sub.add_parser("serve", help="start the shards as Ray actors and serve the front")
    cluster_serve.add_argument("--data-root", type=pathlib.Path, required=True, metavar="DIR",
                               help="cluster data root (made by `dolphin load tags --data-root DIR --shards N`)")
    cluster_serve.add_argument("--shards", type=int, metavar="N", help="shard count; must match the data root's")
    cluster_serve.add_argument("--ray-address", metavar="ADDR",
                               help="join this Ray cluster (e.g. head:6379); default: start a local Ray")
    cluster_serve.add_argument("--cpus-per-shard", type=float, default=1.0,
                               help="CPUs Ray reserves for each shard actor (default 1)")
    cluster_serve.add_argument("--config", help="TOML file of settings (env DOLPHIN_CONFIG)")
    _add_setting_flags(cluster_serve, [f.name for f in settings_table() if f.name not in ("data_dir", "workers")])
    cluster_serve.set_defaults(func=cmd_cluster_serve)

    demo = sub.add_parser("demo", help="generate a sample dataset, load it and serve it")
    demo.add_argument("--users", type=int, default=200_000, help="number of demo users")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--no-serve", action="store_true", help="only generate and load")
    _add_setting_flags(demo)
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.debug else logging.INFO
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except DolphinError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `dolphin query export ... | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
