"""BLAS threads of the ``eie`` command, set in one place at start-up.

numpy's BLAS (OpenBLAS here) starts a thread per core and spins them while it waits for
work. The matrices of this toolkit are small (a mini-batch of 64 through a 784-300-100-10
MLP, a mat-vec of a benchmark layer), so the threads buy nothing and, on a shared 2-core
machine, cost a lot: ``eie compress --retrain`` of the README study took 74.5 s with the
default two threads and 14.4 s with one. Sweeps already run one worker process per core.

The default is therefore one thread; ``eie --threads N`` or the environment variable
``EIE_THREADS=N`` raise it (say for a large retraining on a many-core machine).
Retraining's results do not depend on it: :mod:`compressor.train` runs its reductions on
one thread whatever this says, so the same seed gives the same ``.eie`` bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from compressor.errors import EieInputError

#: The environment variable that sets the default.
ENV = "EIE_THREADS"
#: BLAS threads when neither ``--threads`` nor ``EIE_THREADS`` says otherwise.
DEFAULT_THREADS = 1
#: Variables BLAS libraries read when they load: set too, so that a worker process started
#: afresh (spawn, a Dask worker on this machine) starts with the same count.
BLAS_ENV = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS", "BLIS_NUM_THREADS")

_limiter: object | None = None  # the threadpoolctl limiter in force, kept alive for the process


def parse_threads(text: str | int, where: str = "--threads") -> int:
    """A thread count of at least 1, from a flag or the environment."""
    try:
        n = int(text)
    except (TypeError, ValueError):
        raise EieInputError(f"{where} {text!r}: not a whole number of threads") from None
    if n < 1:
        raise EieInputError(f"{where} {n}: must be at least 1")
    return n


def requested_threads(flag: int | None = None) -> int:
    """The count in force: ``--threads``, else ``EIE_THREADS``, else :data:`DEFAULT_THREADS`."""
    if flag is not None:
        return parse_threads(flag)
    text = os.environ.get(ENV, "").strip()
    return parse_threads(text, ENV) if text else DEFAULT_THREADS


@contextmanager
def blas_threads(n: int) -> Iterator[int]:
    """BLAS limited to ``n`` threads in this process and in the processes it starts, for the
    duration of the block (the ``eie`` command's run); the previous state is restored after.

    The environment carries the count to children; threadpoolctl changes the libraries already
    loaded (numpy is imported here first so that its BLAS is among them).
    """
    saved = {var: os.environ.get(var) for var in (ENV, *BLAS_ENV)}
    os.environ.update({var: str(n) for var in saved})
    import numpy  # noqa: F401 -- loads the BLAS that threadpoolctl then finds
    from threadpoolctl import threadpool_limits

    try:
        with threadpool_limits(limits=n, user_api="blas"):
            yield n
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value


def limit_from_env() -> None:
    """In a worker process: the parent's count (``EIE_THREADS``) for the worker's life, when the
    parent set one."""
    global _limiter
    if os.environ.get(ENV, "").strip():
        from threadpoolctl import threadpool_limits

        _limiter = threadpool_limits(limits=requested_threads(), user_api="blas")
