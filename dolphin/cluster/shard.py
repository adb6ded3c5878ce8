"""One cluster shard: a complete single-node Dolphin server over the shard's data dir, inside a Ray actor.

The actor is what Ray places and restarts (`max_restarts=-1`). A restarted actor reruns its constructor, which
recovers the shard from its own snapshot and log (as `dolphin serve` does after kill -9) and serves on the port
it used before, so the front's channels reconnect. Calls to the actor are not retried (`max_task_retries=0`);
exactly-once ingest is the shard's own, by source offset. The front talks to the shard's server over gRPC,
which measured 1.4-2.3x faster than Ray actor calls (bench/README.md, "the hop from a front to its shards").
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import threading

import ray

from dolphin.config import load_settings
from dolphin.server.app import serve_until, tune_server_process

SERVER_FILE = "shard-server.json"  # the port a shard served on, reused when Ray restarts it
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
START_TIMEOUT = 600.0  # recovery of a large shard (snapshot plus log) may take minutes


class Shard:
    """A single-node server over one shard's data dir, run on a thread of this process (`ray::Shard` in ps)."""

    def __init__(self, data_dir: str, host: str, settings: dict[str, object]) -> None:
        self.data_dir = pathlib.Path(data_dir)
        self.host = host
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        tune_server_process()
        flags = {**settings, "data_dir": str(self.data_dir), "host": host}
        previous = self._previous_port()
        failure = self._start({**flags, "port": previous})
        if failure is not None and previous:  # the old port is taken: serve on a new one (address() tells)
            failure = self._start({**flags, "port": 0})
        if failure is not None:
            raise RuntimeError(f"shard {self.data_dir} did not start: {failure}")
        (self.data_dir / SERVER_FILE).write_text(json.dumps({"host": host, "port": self.port}))

    def _start(self, flags: dict[str, object]) -> BaseException | str | None:
        """Start the server thread; return None once it serves, else why it did not."""
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(flags,), name="dolphin-shard", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            return "timed out"
        return self._failure

    def _previous_port(self) -> int:
        try:
            return int(json.loads((self.data_dir / SERVER_FILE).read_text())["port"])
        except (OSError, ValueError, KeyError):
            return 0

    def _run(self, flags: dict[str, object]) -> None:
        try:
            asyncio.run(self._serve(flags))
        except BaseException as exc:  # noqa: BLE001 - reported to the constructor, then the actor dies
            self._failure = exc
            self._ready.set()

    async def _serve(self, flags: dict[str, object]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()

        def serving(port: int) -> None:
            self.port = port
            self._ready.set()

        await serve_until(load_settings(flags, env={}), self._stop, on_serving=serving)

    def address(self) -> str:
        """Return host:port of this shard's gRPC server, as the front reaches it (this node's IP for 0.0.0.0)."""
        if self.host in WILDCARD_HOSTS:
            import ray

            return f"{ray.util.get_node_ip_address()}:{self.port}"  # type: ignore[no-untyped-call]
        return f"{self.host}:{self.port}"

    def pid(self) -> int:
        """Return this process's ID (what a fault test kills)."""
        return os.getpid()

    def stop(self) -> None:
        """Drain, checkpoint and stop the server (the actor can then be killed without replay at next start)."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join()


ShardActor = ray.remote(max_restarts=-1, max_task_retries=0)(Shard)
