"""The write-side interface the servicers call: `StreamApi`. `Ingestor` implements it for one data dir; a
cluster front implements it again by routing each mutation to its shard's ingestor."""

from __future__ import annotations

import concurrent.futures
from typing import Protocol

from dolphin.stream.batches import MutationBatch
from dolphin.stream.results import Ack, CheckpointResult, StreamStatus


class StreamApi(Protocol):
    """Exactly-once batches by source offset, their offsets, checkpoints and status."""

    def submit(self, batch: MutationBatch) -> concurrent.futures.Future[Ack]:
        """Queue a batch; the future resolves with its Ack once durable and visible, or with its error."""
        ...

    def offsets(self) -> dict[str, int]:
        """Return source -> highest applied offset."""
        ...

    def checkpoint(self) -> CheckpointResult:
        """Write the served state as a version and drop the log it makes unnecessary."""
        ...

    def status(self) -> StreamStatus:
        """The write side's state now."""
        ...

    @property
    def accepting(self) -> bool:
        """True while batches can be taken: the log is writable and nothing fatal happened."""
        ...
