"""The simulation as one time-ordered stream of account events and consent changes."""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

import pandas as pd

from upwell.examples.next_best_action.features import card_transactions, savings_deposits
from upwell.examples.next_best_action.simulator import Simulation


class EventKind(enum.Enum):
    """What a stream event is; at equal times, consent changes go first."""

    CONSENT = "consent"
    CARD = "card_transactions"
    DEPOSIT = "savings_deposits"


_COLUMNS = {
    EventKind.CARD: list(card_transactions.schema),
    EventKind.DEPOSIT: list(savings_deposits.schema),
    EventKind.CONSENT: ["event_id", "customer_id", "ts", "action"],
}


class StreamEvent(NamedTuple):
    """One event of the stream.

    Args:
        ts_ms: Event time (epoch ms).
        kind: Card transaction, deposit or consent change.
        customer_id: The customer.
        event_id: Unique per event; a redelivery repeats its original's id.
        row: The event's fields (for a push, the source's schema).
        redelivered: True for a second delivery of an event already streamed.
    """

    ts_ms: int
    kind: EventKind
    customer_id: int
    event_id: str
    row: dict[str, Any]
    redelivered: bool = False


def account_events(simulation: Simulation, *, redeliver_every: int = 0) -> list[StreamEvent]:
    """Merge card transactions, deposits and consent changes in time order.

    Args:
        simulation: The simulated events.
        redeliver_every: Deliver every n-th account event a second time, right after the
            first (as an at-least-once broker may); 0 for never.

    Returns:
        The events, by time (consent changes first at equal times, then by table order).
    """
    tables = {
        EventKind.CONSENT: simulation.consent,
        EventKind.CARD: simulation.card,
        EventKind.DEPOSIT: simulation.deposits,
    }
    keyed: list[tuple[int, int, int, StreamEvent]] = []
    for rank, (kind, table) in enumerate(tables.items()):
        rows = table[_COLUMNS[kind]].to_dict("records")
        for position, (record, ts_ms) in enumerate(zip(rows, table["ts_ms"].tolist(), strict=True)):
            row = {str(name): value for name, value in record.items()}
            event = StreamEvent(int(ts_ms), kind, int(row["customer_id"]), row["event_id"], row)
            keyed.append((event.ts_ms, rank, position, event))
    keyed.sort(key=lambda item: item[:3])
    events: list[StreamEvent] = []
    account = 0
    for *_, event in keyed:
        events.append(event)
        if event.kind is not EventKind.CONSENT:
            account += 1
            if redeliver_every and account % redeliver_every == 0:
                events.append(event._replace(redelivered=True))
    return events


def utc(ts_ms: int) -> pd.Timestamp:
    """An epoch-ms time as a UTC pandas Timestamp.

    Args:
        ts_ms: Epoch milliseconds.

    Returns:
        The timestamp.
    """
    return pd.Timestamp(ts_ms, unit="ms", tz="UTC")
