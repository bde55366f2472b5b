"""Feedback on the gateway's answers, Ray-free: every answer gets an id, the answers are kept (in
batches) in the store's `responses` table, and feedback on an id becomes an evaluation of the model
that answered, on the routed text as a query (see `PoolService.feedback`).

`ResponseLog` is one gateway replica's side: `record` costs a dict insert on the request path;
`flush` writes what was recorded since the last flush in one commit (the gateway calls it every
`feedback.flush_s`); `find` answers from the replica's recent answers, then from the store, so
feedback reaches any replica."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from locus.store import Store


def new_response_id(now: datetime | None = None) -> str:
    """locus-<yyyymmdd>-<32 hex>: unique, and its day says which partition of `responses` holds it."""
    return f"locus-{(now or datetime.now(UTC)):%Y%m%d}-{uuid.uuid4().hex}"


@dataclass(frozen=True)
class Answered:
    response_id: str
    model_id: str
    text: str
    created_at: datetime


class ResponseLog:
    """Answers recorded on this replica: the ones not yet written, and the `recent` last ones."""

    def __init__(self, store: Store, *, recent: int = 10_000) -> None:
        self.store, self.recent_size = store, recent
        self._pending: list[Answered] = []
        self._recent: OrderedDict[str, Answered] = OrderedDict()
        self._lock = threading.Lock()  # record runs on the event loop, flush on a worker thread

    def record(self, model_id: str, text: str) -> str:
        """A new response id, kept with the model that answered and the routed text."""
        answered = Answered(new_response_id(), model_id, text, datetime.now(UTC))
        with self._lock:
            self._pending.append(answered)
            self._recent[answered.response_id] = answered
            while len(self._recent) > self.recent_size:
                self._recent.popitem(last=False)
        return answered.response_id

    def flush(self) -> int:
        """Write the answers recorded since the last flush in one commit; on failure they stay
        pending for the next one. Returns how many were written."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        try:
            self.store.log_responses(pa.table({
                "response_id": [a.response_id for a in batch], "model_id": [a.model_id for a in batch],
                "text": [a.text for a in batch],
                "created_at": pa.array([a.created_at for a in batch], pa.timestamp("us", tz="UTC"))}))
        except Exception:
            with self._lock:
                self._pending = batch + self._pending
            raise
        return len(batch)

    def find(self, response_id: str) -> Answered | None:
        """The answer `response_id` from this replica's recent ones or the store; None if unknown."""
        with self._lock:
            found = self._recent.get(response_id)
        if found is not None:
            return found
        row = self.store.find_response(response_id)
        return None if row is None else Answered(**row)
