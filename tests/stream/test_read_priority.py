"""The writer steps aside for reads in flight, within its share, and what it writes does not change."""

from __future__ import annotations

import pathlib
import random
import threading
import time

import pytest

from dolphin.stream.batches import MutationBatch
from dolphin.stream.read_priority import ReadPriority, WriterTurn
from tests.stream.test_ingestor import fresh, load_base, model_of


def _hold(priority: ReadPriority, seconds: float) -> threading.Thread:
    """Start a thread that is a read in flight for seconds."""
    entered = threading.Event()

    def read() -> None:
        with priority.reading():
            entered.set()
            time.sleep(seconds)

    thread = threading.Thread(target=read)
    thread.start()
    entered.wait()
    return thread


def test_reads_nest_and_leave() -> None:
    priority = ReadPriority()
    assert not priority.busy
    with priority.reading():
        with priority.reading():
            assert priority.busy
        assert priority.busy
    assert not priority.busy
    with pytest.raises(RuntimeError), priority.reading():
        raise RuntimeError("a failed read leaves too")
    assert not priority.busy


def test_no_read_no_wait() -> None:
    priority = ReadPriority()
    turn = WriterTurn(priority, time.monotonic() - 10)
    turn.pause()
    assert turn.paused == 0 and priority.paused_seconds == 0


def test_the_writer_waits_for_a_read_to_finish() -> None:
    priority = ReadPriority(max_wait=5.0)
    turn = WriterTurn(priority, time.monotonic() - 10)  # it has worked 10 s: its share allows the wait
    reader = _hold(priority, 0.2)
    started = time.monotonic()
    turn.pause()
    waited = time.monotonic() - started
    reader.join()
    assert 0.1 < waited < 2.0 and turn.paused == pytest.approx(waited, abs=0.05)
    assert not priority.busy


def test_the_writer_waits_no_more_than_its_share_and_max_wait() -> None:
    priority = ReadPriority(share=0.5, max_wait=0.05)
    reader = _hold(priority, 3.0)  # a read that outlasts everything below
    try:
        just_started = WriterTurn(priority, time.monotonic())
        just_started.pause()
        assert just_started.paused < 0.01  # it has not worked yet: nothing to give
        turn = WriterTurn(priority, time.monotonic() - 0.3)  # worked 0.3 s: may pause 0.3 s in all
        started = time.monotonic()
        for _ in range(20):
            turn.pause()
        elapsed = time.monotonic() - started
        assert 0.25 < turn.paused < 0.5 and elapsed < 1.0  # its share, in waits of at most 0.05 s
        one = WriterTurn(priority, time.monotonic() - 10)
        one.pause()
        assert 0.04 < one.paused < 0.5  # max_wait bounds one wait
    finally:
        reader.join()


def test_share_must_be_a_fraction() -> None:
    for share in (1.0, -0.1):
        with pytest.raises(ValueError, match="share"):
            ReadPriority(share=share)


def test_ingest_under_a_read_that_never_ends_is_slowed_not_stopped(tmp_path: pathlib.Path) -> None:
    """A batch is applied and acked while a read stays in flight the whole time, and the state is the one the
    mutations make (the same model as without reads)."""
    ingestor, model, batches = fresh(load_base(tmp_path), 31, 6, 40)
    try:
        reader = _hold(ingestor.reads, 2.0)
        try:
            for offset, mutations in enumerate(batches):
                ack = ingestor.submit(MutationBatch.of("reads", offset, mutations)).result(timeout=30)
                assert ack.applied == len(mutations)
                for m in mutations:
                    model.apply(m)
            assert ingestor.reads.busy
        finally:
            reader.join()
        assert ingestor.reads.paused_seconds > 0  # it did step aside
        assert model_of(ingestor.engine) == model
    finally:
        ingestor.close(checkpoint=False)


def test_random_reads_change_nothing_the_writer_writes(tmp_path: pathlib.Path) -> None:
    ingestor, model, batches = fresh(load_base(tmp_path), 32, 30, 25)
    stop = threading.Event()
    rng = random.Random(3)

    def reads() -> None:
        while not stop.is_set():
            with ingestor.reads.reading():
                time.sleep(rng.random() * 0.004)
            time.sleep(rng.random() * 0.002)

    readers = [threading.Thread(target=reads) for _ in range(2)]
    for r in readers:
        r.start()
    try:
        futures = [ingestor.submit(MutationBatch.of("reads", i, ms)) for i, ms in enumerate(batches)]
        for f in futures:
            f.result(timeout=60)
        for mutations in batches:
            for m in mutations:
                model.apply(m)
        assert model_of(ingestor.engine) == model
    finally:
        stop.set()
        for r in readers:
            r.join()
        ingestor.close(checkpoint=False)
