"""Micro-batching: requests that arrive together are predicted in one call.

A served single-row prediction is mostly fixed cost (building the frame, encoding, calling each
model), so eight concurrent one-row requests cost about as much as one eight-row request. The
batcher queues requests whose inputs can be joined (table rows with the same columns, images of
the same shape, observations of the same size, texts), waits at most ``window_s`` for company
(as many requests as the last batch had, or a second one while others are in flight), predicts
the joined inputs and hands each request its own rows. When a joined call fails
(one request's bad input), each request is predicted alone, so an error reaches only the request
that caused it.

``predict`` returns ``(rows, notes)``: one output per input row (the JSON-ready records) and
notes about them; a joined call that has notes is redone per request, so that no request gets
notes about another's rows. Everything per batch, frames included, happens in one call; the event
loop only joins lists and slices them.

Where the call runs is measured, not fixed: a batch expected to take under ``inline_s`` (from
the time of earlier batches of about its size) runs on the event loop's own thread, a longer one in a
worker thread. A short prediction in a worker thread loses more than it gains: every time torch
or LightGBM releases the GIL, a busy event loop takes it for up to the interpreter's 5 ms switch
interval, so under a flood of requests a 5 ms prediction can take half a second. Long ones
(big requests, slow models) go to a thread, so the server keeps answering meanwhile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from layerwise.serve.inputs import Joinable

Output = tuple[list, list]  # (one record per input row, notes)


def batch_key(inputs: Any) -> Any:
    """What inputs must share to be joined, or None when they cannot be (images, uploads...)."""
    if isinstance(inputs, Joinable):
        return inputs.key()
    if isinstance(inputs, np.ndarray) and inputs.ndim == 2:
        return ("array", inputs.shape[1], str(inputs.dtype))
    if isinstance(inputs, list) and inputs and all(isinstance(t, str) for t in inputs):
        return ("texts",)
    return None


def _join(items: list[Any]) -> Any:
    first = items[0]
    if isinstance(first, Joinable):
        return type(first).join(items)
    if isinstance(first, np.ndarray):
        return np.concatenate(items)
    return [t for item in items for t in item]


class MicroBatcher:
    """Joins concurrent requests of one kind into one ``predict`` call (see the module doc)."""

    def __init__(self, predict: Callable[[Any], Output], run_in_thread: Callable,
                 max_rows: int = 256, window_s: float = 0.002,
                 in_flight: Callable[[], int] | None = None, inline_s: float = 0.02):  # fmt: skip
        self.predict, self.run_in_thread = predict, run_in_thread
        self.in_flight = in_flight or (lambda: 2)
        self.inline_s = inline_s
        # seconds per call by (batch key, size class: rows' bit length); unknown -> a thread
        self.seconds: dict[tuple[Any, int], float] = {}
        self.max_rows, self.window_s = max_rows, window_s
        self.queues: dict[Any, list[tuple[Any, asyncio.Future]]] = {}
        self.last_batch: dict[Any, int] = {}  # requests in the last batch, by key
        self.arrivals: dict[Any, asyncio.Event] = {}  # set when a request joins the queue
        self.workers: dict[Any, asyncio.Task] = {}

    async def submit(self, inputs: Any) -> Output:
        key = batch_key(inputs)
        if key is None:
            return await self.run_in_thread(lambda: self.predict(inputs))
        future = asyncio.get_running_loop().create_future()
        self.queues.setdefault(key, []).append((inputs, future))
        if key in self.arrivals:
            self.arrivals[key].set()
        if key not in self.workers or self.workers[key].done():
            self.workers[key] = asyncio.create_task(self._drain(key))
        return await future

    async def _drain(self, key: Any) -> None:
        queue = self.queues[key]
        while queue:
            await self._gather(key, queue)
            batch, rows = [], 0
            while queue and (not batch or rows + len(queue[0][0]) <= self.max_rows):
                item = queue.pop(0)
                batch.append(item)
                rows += len(item[0])
            self.last_batch[key] = len(batch)
            await self._run(key, batch)
        del self.queues[key]

    async def _gather(self, key: Any, queue: list) -> None:
        """Wait up to the window for company: as many requests as the last batch had (clients
        answered together come back together, though not all at once), or a second one while
        others are in flight. A lone client's request goes at once."""
        target = max(self.last_batch.get(key, 1), 2 if self.in_flight() > 1 else 1)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.window_s
        while len(queue) < target and (left := deadline - loop.time()) > 0:
            arrived = self.arrivals[key] = asyncio.Event()
            try:
                await asyncio.wait_for(arrived.wait(), left)
            except TimeoutError:
                break

    async def _call(self, key: Any, inputs: Any) -> Output:
        """``predict(inputs)`` inline when calls of its size have been quick (see the module
        doc), else in a thread; its time updates the estimate for its size."""
        size = (key, len(inputs).bit_length())
        expected = self.seconds.get(size)

        def timed() -> tuple[Output, float]:
            # CPU time of the calling thread: what it would hold the event loop for, without
            # the waits for the GIL that inflate a worker thread's wall-clock time under load
            started = time.thread_time()
            return self.predict(inputs), time.thread_time() - started

        if expected is not None and expected < self.inline_s:
            out, took = timed()
        else:
            out, took = await self.run_in_thread(timed)
        self.seconds[size] = took if expected is None else 0.8 * expected + 0.2 * took
        return out

    async def _run(self, key: Any, batch: list[tuple[Any, asyncio.Future]]) -> None:
        if len(batch) == 1:
            inputs, future = batch[0]
            await self._one(key, inputs, future)
            return
        try:
            joined = _join([inputs for inputs, _ in batch])
            out, notes = await self._call(key, joined)
            if len(out) != len(joined):
                raise ValueError("the prediction rows do not match the input rows")
        except Exception:  # one bad request spoils a joined call: predict each alone
            notes = None
        if notes is None or notes:
            # A joined call's notes speak of all its rows (row numbers, values one client sent):
            # rare, so each request is then predicted alone and gets its own notes only.
            for inputs, future in batch:
                await self._one(key, inputs, future)
            return
        start = 0
        for inputs, future in batch:
            if not future.done():
                future.set_result((out[start : start + len(inputs)], notes))
            start += len(inputs)

    async def _one(self, key: Any, inputs: Any, future: asyncio.Future) -> None:
        try:
            result = await self._call(key, inputs)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(result)
