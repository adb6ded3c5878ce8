"""Settings: one table; each setting is a flag (--data-dir), an env var (DOLPHIN_DATA_DIR), a key of a TOML
config file (`data_dir = "..."`, file from --config or DOLPHIN_CONFIG) or its default.

Precedence: flag, then environment, then config file, then default. A value that does not cast, and a config
key that is not a setting, are errors that name the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dolphin.errors import InvalidArgumentError


def _setting(default: Any, help: str, minimum: float | None = None, choices: tuple[str, ...] = ()) -> Any:
    return field(default=default, metadata={"help": help, "minimum": minimum, "choices": choices})


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting of the server, the loader and the engine, with its default."""

    data_dir: str = _setting("./data", "data directory holding snapshot versions and saved audiences")
    host: str = _setting("127.0.0.1", "address the gRPC server listens on")
    port: int = _setting(50051, "gRPC listen port (0 picks a free port)", 0)
    target: str = _setting("localhost:50051", "server address used by `dolphin query` and the client")
    shard_bits: int = _setting(20, "snapshot files hold dense-ID ranges of 2^shard_bits users", 1)
    keep: int = _setting(3, "snapshot versions kept on disk after a load (older ones are pruned)", 1)
    watch_seconds: float = _setting(
        5.0, "how often the server looks for a newer snapshot on disk; 0 turns it off", 0
    )
    max_expression_length: int = _setting(8192, "longest expression accepted, characters", 1)
    max_terms: int = _setting(500, "most tag terms in one expression", 1)
    max_depth: int = _setting(32, "deepest nesting of parentheses and NOT in one expression", 1)
    max_batch_expressions: int = _setting(256, "most expressions in one BatchCount", 1)
    max_overlap_expressions: int = _setting(32, "most expressions in one Overlap", 2)
    max_page_size: int = _setting(10000, "largest Export page, IDs", 1)
    read_cache_mb: float = _setting(
        -1.0, "memory for the served snapshot's read caches (per-user value codes, a dimension's users, numeric "
        "unions), MB per server process (each cluster shard has its own); past it the least recently used go "
        "first, and profiles of a dimension whose value codes do not fit intersect instead; 0 keeps none; -1 sizes "
        "it with the data, 2.5 bytes per user (25 MB at 10M users)", -1)
    max_profile_dimensions: int = _setting(50, "most dimensions in one Profile", 1)
    max_top_k: int = _setting(1000, "largest Profile top_k", 1)
    max_lookalike_k: int = _setting(100_000, "largest Lookalike k", 1)
    lookalike_exact_pool: int = _setting(
        50_000, "Lookalike pools of at most this many users are scored exactly, larger ones through the IVF index", 0)
    max_event_days: int = _setting(366, "longest date range of an ad-effect query or event() term, days", 1)
    max_message_bytes: int = _setting(4 * 1024 * 1024, "largest request message, bytes (RESOURCE_EXHAUSTED above)",
                                      1024)
    max_call_seconds: float = _setting(30.0, "server-side budget of one call, seconds", 0.001)
    default_call_seconds: float = _setting(10.0, "budget of a call whose client sent no deadline, seconds", 0.001)
    max_expensive_calls: int = _setting(
        4, "concurrent Profile/Export/Overlap/BatchCount calls; more get RESOURCE_EXHAUSTED", 1
    )
    shutdown_grace: float = _setting(20.0, "seconds in-flight calls get to finish on SIGTERM", 0)
    metrics_port: int = _setting(0, "Prometheus /metrics port on the listen host; 0 turns metrics off", 0)
    http_port: int = _setting(
        0, "HTTP/JSON API port on the listen host (POST /v1/<service>/<Method>, GET /v1/openapi.json); same TLS, "
        "tokens and limits as gRPC; 0 turns it off", 0)
    log_format: str = _setting("text", "log lines: text (readable) or json (one object per line)",
                               choices=("text", "json"))
    slow_call_ms: float = _setting(100.0, "calls slower than this are logged (failed calls always are), ms", 0)
    tls_cert: str = _setting("", "PEM certificate chain of the server; with --tls-key turns TLS on")
    tls_key: str = _setting("", "PEM private key of the server")
    tls_client_ca: str = _setting("", "PEM CA bundle; when set, clients must present a certificate it signed (mTLS)")
    insecure: bool = _setting(False, "allow plaintext on a non-loopback address (logged as a warning)")
    cluster_shard: bool = _setting(
        False, "serve as a shard of `dolphin cluster serve` (set by the cluster): unknown dimensions, campaigns "
        "and events are empty rather than errors, since other shards may know them; the front checks names")
    health_port: int = _setting(0, "plaintext port serving only grpc.health.v1 (probes when TLS is on); 0 is off", 0)
    min_reportable_count: int = _setting(
        0, "privacy floor: counts of 1..K-1 users are reported as suppressed, smaller exports refused; 0 is off", 0
    )
    auth_tokens: str = _setting("", "file of `token role` lines (reader, writer, admin); reloaded on SIGHUP")
    workers: int = _setting(
        1, "server processes sharing the port (SO_REUSEPORT); each holds its own copy of the snapshot; "
        "stream ingest needs 1", 1
    )
    fsync: str = _setting(
        "always", "when the stream's write-ahead log is fsynced: always (= batch: once per group of batches), "
        "interval=<n>ms, or none (tests only); see README Durability"
    )
    checkpoint_seconds: float = _setting(
        300.0, "how often stream changes are written as a new snapshot version (and the log truncated); "
        "0: only on AdminService.Checkpoint and at shutdown", 0
    )
    wal_retention_seconds: float = _setting(
        21600.0, "log kept at least this long, so a batch load cut up to this long ago gets later stream "
        "mutations re-applied", 0
    )
    wal_recovery: str = _setting(
        "refuse", "on a corrupt record in the middle of the log: refuse to start, or truncate-at-corruption "
        "(drops it and everything after it)", choices=("refuse", "truncate-at-corruption")
    )
    max_batch_mutations: int = _setting(100_000, "most mutations in one stream batch (RESOURCE_EXHAUSTED above)", 1)
    keep_days: int = _setting(
        0, "window of streamed campaign events: an add_event older than the newest event day minus N-1 is dropped "
        "and counted in its ack, and days that leave the window are removed; 0 keeps every day (use the N of "
        "`dolphin load events --keep-days`)", 0)
    max_pending_bytes: int = _setting(
        64 * 1024 * 1024, "bytes of received, unacknowledged stream batches; above it the server stops reading "
        "streams (gRPC flow control)", 1024
    )


def settings_table() -> list[dataclasses.Field[Any]]:
    """Return the settings' fields, in declaration order."""
    return list(dataclasses.fields(Settings))


def env_name(name: str) -> str:
    """Return the environment variable of a setting."""
    return "DOLPHIN_" + name.upper()


def flag_name(name: str) -> str:
    """Return the command-line flag of a setting."""
    return "--" + name.replace("_", "-")


def _cast(f: dataclasses.Field[Any], raw: object, source: str) -> Any:
    kind: Any = type(f.default)
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text not in ("1", "0", "true", "false", "yes", "no"):
            raise InvalidArgumentError(f"{source}: cannot read {raw!r} as true/false for setting {f.name}")
        return text in ("1", "true", "yes")
    if isinstance(raw, bool) and kind is not bool:
        raise InvalidArgumentError(f"{source}: {raw!r} is not a {kind.__name__} (setting {f.name})")
    try:
        value = kind(raw)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"{source}: cannot read {raw!r} as {kind.__name__} for setting {f.name}"
        ) from None
    if f.metadata["choices"] and value not in f.metadata["choices"]:
        raise InvalidArgumentError(f"{source}: setting {f.name} must be one of {', '.join(f.metadata['choices'])}, "
                                   f"got {value!r}")
    minimum = f.metadata["minimum"]
    if minimum is not None and value < minimum:
        raise InvalidArgumentError(f"{source}: setting {f.name} must be at least {minimum}, got {value}")
    if f.name.endswith("port") and value > 65535:
        raise InvalidArgumentError(f"{source}: setting {f.name} must be at most 65535, got {value}")
    return value


def read_config_file(path: str) -> dict[str, Any]:
    """Return the settings of a TOML file; unknown keys and unreadable files raise InvalidArgumentError."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise InvalidArgumentError(f"{path}: cannot read the config file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgumentError(f"{path}: not valid TOML: {exc}") from None
    known = {f.name for f in settings_table()}
    for key, value in data.items():
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f'; did you mean "{close[0]}"?' if close else ""
            raise InvalidArgumentError(f'{path}: unknown setting "{key}"{hint}')
        if isinstance(value, dict | list):
            raise InvalidArgumentError(f'{path}: setting "{key}" must be a single value')
    return data


def load_settings(
    flags: Mapping[str, object] | None = None, env: Mapping[str, str] | None = None, config: str | None = None
) -> Settings:
    """Build Settings from flags (None means not given), DOLPHIN_* environment, a TOML file, then defaults."""
    flags = flags or {}
    env = os.environ if env is None else env
    path = config or env.get("DOLPHIN_CONFIG")
    from_file = read_config_file(path) if path else {}
    values: dict[str, Any] = {}
    for f in settings_table():
        if flags.get(f.name) is not None:
            values[f.name] = _cast(f, flags[f.name], flag_name(f.name))
        elif env_name(f.name) in env:
            values[f.name] = _cast(f, env[env_name(f.name)], env_name(f.name))
        elif f.name in from_file:
            values[f.name] = _cast(f, from_file[f.name], f"{path}: {f.name}")
    return Settings(**values)


def settings_toml(settings: Settings) -> str:
    """Return the effective settings as TOML (what `dolphin serve --print-config` prints)."""
    lines = []
    for f in settings_table():
        value = getattr(settings, f.name)
        text = f'"{value}"' if isinstance(value, str) else repr(value)
        lines.append(f"{f.name} = {text}  # {f.metadata['help']}")
    return "\n".join(lines)


def settings_markdown() -> str:
    """Return the README's settings table (tests/test_docs.py checks README holds exactly this)."""
    rows = ["| flag | environment | default | meaning |", "|---|---|---|---|"]
    rows += [f"| `{flag_name(f.name)}` | `{env_name(f.name)}` | `{f.default}` | {f.metadata['help']} |"
             for f in settings_table()]
    return "\n".join(rows)
