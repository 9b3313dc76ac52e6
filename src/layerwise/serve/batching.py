"""Micro-batching: requests that arrive together are predicted in one call.

A served single-row prediction is mostly fixed cost (reading the frame, encoding, calling each
model), so eight concurrent one-row requests cost about as much as one eight-row request. The
batcher queues requests whose inputs can be joined (tables with the same columns, observations
of the same size, texts), waits at most ``window_s`` for company, predicts the joined inputs
in a worker thread and hands each request its own rows. When a joined call fails (one request's
bad input), each request is predicted alone, so an error reaches only the request that caused it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd


def batch_key(inputs: Any) -> Any:
    """What inputs must share to be joined, or None when they cannot be (images, uploads...)."""
    if isinstance(inputs, pd.DataFrame):
        return ("frame", tuple(map(str, inputs.columns)))
    if isinstance(inputs, np.ndarray) and inputs.ndim == 2:
        return ("array", inputs.shape[1], str(inputs.dtype))
    if isinstance(inputs, list) and inputs and all(isinstance(t, str) for t in inputs):
        return ("texts",)
    return None


def _join(items: list[Any]) -> Any:
    first = items[0]
    if isinstance(first, pd.DataFrame):
        return pd.concat(items, ignore_index=True)
    if isinstance(first, np.ndarray):
        return np.concatenate(items)
    return [t for item in items for t in item]


def _rows(item: Any) -> int:
    return len(item)


class MicroBatcher:
    """Joins concurrent requests of one kind into one ``predict`` call (see the module doc)."""

    def __init__(self, predict: Callable[[Any], pd.DataFrame], run_in_thread: Callable,
                 max_rows: int = 256, window_s: float = 0.002):  # fmt: skip
        self.predict, self.run_in_thread = predict, run_in_thread
        self.max_rows, self.window_s = max_rows, window_s
        self.queues: dict[Any, list[tuple[Any, asyncio.Future]]] = {}
        self.workers: dict[Any, asyncio.Task] = {}

    async def submit(self, inputs: Any) -> pd.DataFrame:
        key = batch_key(inputs)
        if key is None:
            return await self.run_in_thread(lambda: self.predict(inputs))
        future = asyncio.get_running_loop().create_future()
        self.queues.setdefault(key, []).append((inputs, future))
        if key not in self.workers or self.workers[key].done():
            self.workers[key] = asyncio.create_task(self._drain(key))
        return await future

    async def _drain(self, key: Any) -> None:
        queue = self.queues[key]
        while queue:
            if len(queue) == 1:
                await asyncio.sleep(self.window_s)  # a moment for others to join
            batch, rows = [], 0
            while queue and (not batch or rows + _rows(queue[0][0]) <= self.max_rows):
                item = queue.pop(0)
                batch.append(item)
                rows += _rows(item[0])
            await self._run(batch)

    async def _run(self, batch: list[tuple[Any, asyncio.Future]]) -> None:
        if len(batch) == 1:
            inputs, future = batch[0]
            await self._one(inputs, future)
            return
        try:
            joined = _join([inputs for inputs, _ in batch])
            out = await self.run_in_thread(lambda: self.predict(joined))
            if len(out) != sum(_rows(inputs) for inputs, _ in batch):
                raise ValueError("the prediction rows do not match the input rows")
        except Exception:  # one bad request spoils a joined call: predict each alone
            for inputs, future in batch:
                await self._one(inputs, future)
            return
        start = 0
        notes = list(out.attrs.get("notes", []))
        for inputs, future in batch:
            part = out.iloc[start : start + _rows(inputs)].reset_index(drop=True)
            part.attrs["notes"] = notes
            start += _rows(inputs)
            if not future.done():
                future.set_result(part)

    async def _one(self, inputs: Any, future: asyncio.Future) -> None:
        try:
            result = await self.run_in_thread(lambda: self.predict(inputs))
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(result)
