"""How the stream is made durable: the fsync policy and the ingest settings."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FsyncPolicy:
    """When the log is fsynced: after every group of batches, at most every `interval` seconds, or never."""

    mode: str  # "always" | "interval" | "none"
    interval: float = 0.0

    @staticmethod
    def parse(text: str) -> FsyncPolicy:
        """Parse always, batch (= always), none, or interval=<n>ms|s."""
        if text in ("always", "batch"):
            return FsyncPolicy("always")
        if text == "none":
            return FsyncPolicy("none")
        match = re.fullmatch(r"interval=(\d+(?:\.\d+)?)(ms|s)", text)
        if match and float(match[1]) > 0:
            return FsyncPolicy("interval", float(match[1]) / (1000 if match[2] == "ms" else 1))
        raise ValueError(f'fsync policy "{text}" is not always, batch, none or interval=<n>ms')

    def __str__(self) -> str:
        return f"interval={self.interval * 1000:g}ms" if self.mode == "interval" else self.mode


@dataclass(frozen=True, slots=True)
class IngestSettings:
    """How the stream is made durable; see dolphin.config for the matching settings."""

    fsync: FsyncPolicy = FsyncPolicy("always")
    max_batch_mutations: int = 100_000
    max_record_bytes: int = 64 * 1024 * 1024
    checkpoint_seconds: float = 300.0  # 0: only on request and at shutdown
    wal_retention_seconds: float = 6 * 3600.0  # keep log this long for batch loads cut before it
    truncate_at_corruption: bool = False
    overlay_ratio: float = 0.25  # write a full version when changed tags exceed this share of the base
    keep_versions: int = 3
    keep_days: int = 0  # streamed events older than the newest event day minus keep_days - 1 are dropped; 0: none
