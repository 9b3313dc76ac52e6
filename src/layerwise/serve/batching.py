"""Micro-batching: requests that arrive together are predicted in one call.

A served single-row prediction is mostly fixed cost (building the frame, encoding, calling each
model), so eight concurrent one-row requests cost about as much as one eight-row request. The
batcher queues requests whose inputs can be joined (table rows with the same columns,
observations of the same size, texts), waits at most ``window_s`` for company when other
requests are in flight (``in_flight()``, e.g. still sending their bodies), predicts the
joined inputs in a worker thread and hands each request its own rows. When a joined call fails
(one request's bad input), each request is predicted alone, so an error reaches only the request
that caused it.

``predict`` returns ``(rows, notes)``: one output per input row (the JSON-ready records) and
notes shared by the batch. Everything per batch, frames included, happens in the worker thread;
the event loop only joins lists and slices them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np

from layerwise.serve.inputs import Rows

Output = tuple[list, list]  # (one record per input row, notes)


def batch_key(inputs: Any) -> Any:
    """What inputs must share to be joined, or None when they cannot be (images, uploads...)."""
    if isinstance(inputs, Rows):
        return ("rows", inputs.names())
    if isinstance(inputs, np.ndarray) and inputs.ndim == 2:
        return ("array", inputs.shape[1], str(inputs.dtype))
    if isinstance(inputs, list) and inputs and all(isinstance(t, str) for t in inputs):
        return ("texts",)
    return None


def _join(items: list[Any]) -> Any:
    first = items[0]
    if isinstance(first, Rows):
        return Rows.join(items)
    if isinstance(first, np.ndarray):
        return np.concatenate(items)
    return [t for item in items for t in item]


class MicroBatcher:
    """Joins concurrent requests of one kind into one ``predict`` call (see the module doc)."""

    def __init__(self, predict: Callable[[Any], Output], run_in_thread: Callable,
                 max_rows: int = 256, window_s: float = 0.002,
                 in_flight: Callable[[], int] | None = None):  # fmt: skip
        self.predict, self.run_in_thread = predict, run_in_thread
        self.in_flight = in_flight or (lambda: 2)
        self.max_rows, self.window_s = max_rows, window_s
        self.queues: dict[Any, list[tuple[Any, asyncio.Future]]] = {}
        self.workers: dict[Any, asyncio.Task] = {}

    async def submit(self, inputs: Any) -> Output:
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
            if len(queue) == 1 and self.in_flight() > 1:  # others are on their way: a moment
                await asyncio.sleep(self.window_s)  # for them to join (a lone request goes now)
            batch, rows = [], 0
            while queue and (not batch or rows + len(queue[0][0]) <= self.max_rows):
                item = queue.pop(0)
                batch.append(item)
                rows += len(item[0])
            await self._run(batch)
        del self.queues[key]

    async def _run(self, batch: list[tuple[Any, asyncio.Future]]) -> None:
        if len(batch) == 1:
            inputs, future = batch[0]
            await self._one(inputs, future)
            return
        try:
            joined = _join([inputs for inputs, _ in batch])
            out, notes = await self.run_in_thread(lambda: self.predict(joined))
            if len(out) != len(joined):
                raise ValueError("the prediction rows do not match the input rows")
        except Exception:  # one bad request spoils a joined call: predict each alone
            for inputs, future in batch:
                await self._one(inputs, future)
            return
        start = 0
        for inputs, future in batch:
            if not future.done():
                future.set_result((out[start : start + len(inputs)], notes))
            start += len(inputs)

    async def _one(self, inputs: Any, future: asyncio.Future) -> None:
        try:
            result = await self.run_in_thread(lambda: self.predict(inputs))
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(result)
