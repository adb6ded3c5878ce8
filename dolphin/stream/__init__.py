"""The write side: stream batches through a write-ahead log into the engine, checkpoints and recovery.

Modules, each one idea: `batches` (a batch, its validation and its log-record codec), `admission` (which
batches of a group enter the log), `apply` (copy-on-write apply), `replay` (which logged mutations a version
lacks), `recovery` (start-up and batch-version adoption), `group_commit` (the writer thread), `writer_thread`
(the narrow interface recovery and checkpoints get), `checkpoint` (writing a state as a version),
`checkpointer` (when, and what to drop after), `ingestor` (the parts together), `settings`, `results` (plain
values), `api` (StreamApi, what the servicers call).

May import dolphin.engine, dolphin.storage, dolphin.query and dolphin.errors; never grpc or the server. The
engine never imports this package: it takes new states through Engine.publish and batch versions through the
VersionAdopter it is built with.
"""

from __future__ import annotations

from dolphin.stream.ingestor import Ingestor, open_stream
from dolphin.stream.results import Ack, CheckpointResult, RecoveryReport, StreamStatus
from dolphin.stream.settings import FsyncPolicy, IngestSettings

__all__ = ["Ack", "CheckpointResult", "FsyncPolicy", "IngestSettings", "Ingestor", "RecoveryReport", "open_stream",
           "StreamStatus"]
