"""Rendering many synthetic samples in parallel processes, the same whatever their number.

The samples are cut into chunks; chunk k is rendered with a generator seeded ``[seed, k]``, so the
result depends on `seed` and the chunk size only, never on how many processes render it.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

#: render(rng, first, count): the chunk of `count` samples whose first one is number `first`
ChunkRenderer = Callable[[np.random.Generator, int, int], T]


def render_in_chunks(
    render: ChunkRenderer[T], n: int, seed: int, chunk_size: int, workers: int = 0
) -> list[T]:
    """`render` applied to each chunk of `n` samples, in order. With `workers` > 1 the chunks are
    rendered by that many spawned processes (`render` must then be picklable: a module-level function
    or a `functools.partial` of one)."""
    jobs = [
        (render, seed, k, first, min(chunk_size, n - first))
        for k, first in enumerate(range(0, n, chunk_size))
    ]
    if workers > 1 and len(jobs) > 1:
        with multiprocessing.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
            return pool.map(_render_job, jobs)
    return [_render_job(job) for job in jobs]


def _render_job(job: tuple[ChunkRenderer[Any], int, int, int, int]) -> Any:
    render, seed, chunk, first, count = job
    return render(np.random.default_rng([seed, chunk]), first, count)
