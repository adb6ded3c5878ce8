"""The hop from a cluster front to its shards: one gRPC channel per shard server, calls fanned out at once.

A call goes to every shard as a grpc future (the waiting happens in gRPC's C core, not in Python threads), and
its answer is all the shards' answers or an error: a shard's Dolphin error comes back as the same class, and a
shard that does not answer is ShardUnavailableError naming it. A partial sum is never returned.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import grpc

from dolphin import errors
from dolphin.client import ERROR_METADATA_KEY, to_dolphin_error
from dolphin.v1 import adeffect_service_pb2_grpc as ad_grpc
from dolphin.v1 import admin_service_pb2_grpc as admin_grpc
from dolphin.v1 import audience_service_pb2_grpc as aud_grpc
from dolphin.v1 import catalog_service_pb2_grpc as cat_grpc
from dolphin.v1 import ingest_service_pb2_grpc as ing_grpc
from dolphin.v1 import shard_service_pb2_grpc as shard_grpc

MAX_MESSAGE_BYTES = 256 * 1024 * 1024  # shard answers (value counts of every tag) may be large; the front is trusted
DEFAULT_TIMEOUT = 30.0
Resolver = Callable[[int], str]  # shard number -> its server's current host:port (asks Ray)


CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.enable_retries", 0),
    # reconnect fast after Ray restarts a shard (the default backoff grows to 120 s)
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


class ShardStubs:
    """The stubs of one shard server's services, over one channel."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
        self.audiences = aud_grpc.AudienceServiceStub(self.channel)
        self.catalog = cat_grpc.CatalogServiceStub(self.channel)
        self.admin = admin_grpc.AdminServiceStub(self.channel)
        self.adeffect = ad_grpc.AdEffectServiceStub(self.channel)
        self.ingest = ing_grpc.IngestServiceStub(self.channel)
        self.shard = shard_grpc.ShardServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()


class AioShardStubs:
    """The same stubs as ShardStubs over one grpc.aio channel of the front's event loop."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.channel = grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)
        self.audiences = aud_grpc.AudienceServiceStub(self.channel)
        self.catalog = cat_grpc.CatalogServiceStub(self.channel)
        self.admin = admin_grpc.AdminServiceStub(self.channel)
        self.adeffect = ad_grpc.AdEffectServiceStub(self.channel)
        self.shard = shard_grpc.ShardServiceStub(self.channel)


def _on(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _sorted_outcomes(shards: list[int], outcomes: list[Any], timeout: float
                     ) -> tuple[list[Any], errors.DolphinError | None, list[int]]:
    """Split the outcomes of calls to shards into (answers, the first shard's error, shards that did not answer).

    An outcome is an answer or the grpc.RpcError of its call; any other exception is raised as it is.
    """
    answers: list[Any] = []
    failure: errors.DolphinError | None = None
    unavailable: list[int] = []
    for shard, outcome in zip(shards, outcomes, strict=True):
        if isinstance(outcome, grpc.RpcError):
            error = shard_error(shard, outcome, timeout)
            if isinstance(error, errors.ShardUnavailableError):
                unavailable.append(shard)
            failure = failure or error
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            answers.append(outcome)
    return answers, failure, unavailable


def shard_error(shard: int, exc: grpc.RpcError, timeout: float) -> errors.DolphinError:
    """Return the Dolphin error of a failed shard call: the shard's own error, or ShardUnavailableError."""
    code = exc.code() if hasattr(exc, "code") else None
    trailing = dict(exc.trailing_metadata() or ()) if hasattr(exc, "trailing_metadata") else {}
    named = trailing.get(ERROR_METADATA_KEY)
    if code is grpc.StatusCode.DEADLINE_EXCEEDED and not named:
        return errors.DeadlineError("the call", timeout, f"shard {shard}")
    if named == errors.NotReadyError.__name__:  # a shard restarting (Ray brings it back) is recovering its data
        return errors.ShardUnavailableError(shard, "it is starting and has no snapshot loaded yet")
    if named:
        return to_dolphin_error(exc)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN,
                grpc.StatusCode.INTERNAL):
        return errors.ShardUnavailableError(shard, (exc.details() if hasattr(exc, "details") else "") or str(code))
    return to_dolphin_error(exc)


class ShardChannels:
    """Channels to every shard of a cluster; fan_out calls one method on all (or some) of them at once."""

    def __init__(self, targets: Sequence[str], resolver: Resolver | None = None) -> None:
        self._stubs = [ShardStubs(t) for t in targets]
        self._resolver = resolver
        self._lock = threading.Lock()
        self._aio: list[AioShardStubs | None] = [None] * len(self._stubs)
        self._aio_loop: asyncio.AbstractEventLoop | None = None

    @property
    def count(self) -> int:
        """Number of shards."""
        return len(self._stubs)

    def stubs(self, shard: int) -> ShardStubs:
        """Return one shard's stubs."""
        return self._stubs[shard]

    def targets(self) -> list[str]:
        """Return every shard's host:port."""
        return [s.target for s in self._stubs]

    def _after_unavailable(self, shard: int) -> None:
        """A restarted shard may serve on a new port (its old one taken): ask Ray where it is now."""
        if self._resolver is None:
            return
        try:
            target = self._resolver(shard)
        except Exception:  # noqa: BLE001 - still restarting: the next call asks again
            return
        with self._lock:
            if target != self._stubs[shard].target:
                old, self._stubs[shard] = self._stubs[shard], ShardStubs(target)
                old.close()

    def fan_out(self, call: Callable[[ShardStubs], Any], requests: Sequence[Any] | Any,
                deadline: float | None = None, shards: Sequence[int] | None = None) -> list[Any]:
        """Send one request (or one per shard) with `call(stubs).future`; return every answer in shard order.

        deadline is absolute time.monotonic(); raises the first shard's error once all have finished.
        """
        loop = self._aio_loop
        if shards is None and loop is not None and loop.is_running() and not _on(loop):
            # a worker thread: let the event loop's grpc.aio channels do the calls (measured faster than sync
            # futures, whose polling threads compete with the loop for the GIL) and wait for all the answers
            waiting = asyncio.run_coroutine_threadsafe(self.fan_out_async(call, requests, deadline), loop)
            budget = DEFAULT_TIMEOUT if deadline is None else max(0.0, deadline - time.monotonic())
            try:  # the loop may stop (shutdown) with the calls in flight: never wait past the call's budget
                return waiting.result(budget + 5.0)
            except concurrent.futures.TimeoutError:
                waiting.cancel()
                raise errors.DeadlineError("the call", budget, "fan-out to shards") from None
        picked = list(range(len(self._stubs))) if shards is None else list(shards)
        per_shard = isinstance(requests, list | tuple)
        timeout = DEFAULT_TIMEOUT if deadline is None else max(0.0, deadline - time.monotonic())
        if timeout <= 0:
            raise errors.DeadlineError("the call", 0.0, "fan-out to shards")
        futures = [call(self._stubs[k]).future(requests[i] if per_shard else requests, timeout=timeout)
                   for i, k in enumerate(picked)]
        return self.answers(picked, futures, timeout)

    def answers(self, shards: list[int], futures: list[Any], timeout: float) -> list[Any]:
        """Return the answers of calls to these shards, in order, or raise the first error once all finished."""
        outcomes: list[Any] = []
        for future in futures:
            try:
                outcomes.append(future.result())
            except grpc.RpcError as exc:
                outcomes.append(exc)
        answers, failure, unavailable = _sorted_outcomes(shards, outcomes, timeout)
        for shard in unavailable:
            self._after_unavailable(shard)
        if failure is not None:
            raise failure
        return answers

    def _aio_stubs(self, shard: int) -> AioShardStubs:
        """Return a shard's grpc.aio stubs on the running loop, following the shard to its current address."""
        loop = asyncio.get_running_loop()
        if self._aio_loop is not loop:  # channels belong to the loop that made them
            self._aio, self._aio_loop = [None] * len(self._stubs), loop
        current, target = self._aio[shard], self._stubs[shard].target
        if current is None or current.target != target:
            if current is not None:
                loop.create_task(current.channel.close())
            current = self._aio[shard] = AioShardStubs(target)
        return current

    async def fan_out_async(self, call: Callable[[Any], Any], requests: Sequence[Any] | Any,
                            deadline: float | None = None) -> list[Any]:
        """fan_out from the event loop: every shard at once with grpc.aio, all answers or the first error."""
        timeout = DEFAULT_TIMEOUT if deadline is None else max(0.0, deadline - time.monotonic())
        if timeout <= 0:
            raise errors.DeadlineError("the call", 0.0, "fan-out to shards")
        shards = range(len(self._stubs))
        per_shard = isinstance(requests, list | tuple)
        results = await asyncio.gather(*(call(self._aio_stubs(k))(requests[k] if per_shard else requests,
                                                                  timeout=timeout) for k in shards),
                                       return_exceptions=True)
        answers, failure, unavailable = _sorted_outcomes(list(shards), results, timeout)
        for shard in unavailable:
            await asyncio.to_thread(self._after_unavailable, shard)  # asks Ray: not on the loop
        if failure is not None:
            raise failure
        return answers

    def close(self) -> None:
        """Close every channel."""
        for stubs in self._stubs:
            stubs.close()
