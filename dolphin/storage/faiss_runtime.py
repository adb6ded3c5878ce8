"""FAISS, imported lazily and with OpenMP's idle threads sleeping.

libgomp's idle threads spin for a while after each parallel region by default. On the 2-core bench machine
that spin took a core from the event loop and the client: a top-1,000 lookalike at 10M x 32 with nprobe 16 took
15.0 ms inside a server started plainly and 7.6 ms with OMP_WAIT_POLICY=PASSIVE. The variable must be set
before libgomp starts, so every FAISS import goes through here; a value the operator set is kept.
"""

from __future__ import annotations

import os
from typing import Any


def faiss_module() -> Any:
    """Return the faiss module, imported with OMP_WAIT_POLICY=PASSIVE unless the environment says otherwise."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import faiss

    return faiss
