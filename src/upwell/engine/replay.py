"""Exact features for event-anchored rows of entities whose log is out of time order.

An anchor's window must count only the events logged up to and including it. When an
entity's events were logged out of time order, a later-logged event can fall inside an
earlier anchor's window, so the sorted columns alone do not say what the anchor saw.
For those entities the rows are computed by replaying the entity's events and anchors
in log order through the per-event state, which is exactly what the online path did.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from upwell.engine.plan import ViewPlan
from upwell.engine.view_state import ViewState


def replay_entity(
    plan: ViewPlan,
    events: Mapping[str, np.ndarray],
    ts: np.ndarray,
    seq: np.ndarray,
    anchor_ts: np.ndarray,
    anchor_seq: np.ndarray,
) -> list[dict[str, Any]]:
    """Every feature of one entity as of each anchor, replaying in log order.

    Args:
        plan: The compiled view.
        events: The entity's event columns.
        ts: Their times, ms.
        seq: Their log positions.
        anchor_ts: The anchors' read times, ms.
        anchor_seq: The anchors' log positions (an anchor sees events logged up to it).

    Returns:
        One dict of feature values per anchor, in anchor order.
    """
    view = ViewState(plan)
    names = list(events)
    columns = {name: np.asarray(events[name]).tolist() for name in names}
    times, positions = ts.tolist(), seq.tolist()
    steps = sorted(
        [(s, 0, j) for j, s in enumerate(positions)]
        + [(s, 1, k) for k, s in enumerate(anchor_seq.tolist())]
    )
    results: list[dict[str, Any]] = [{} for _ in range(anchor_seq.size)]
    key: tuple[Any, ...] | None = None
    for position, kind, j in steps:
        if kind == 0:
            row = {name: columns[name][j] for name in names}
            view.apply(row, times[j], position)
            key = view.key_of(row)
        elif key is not None:
            results[j] = view.read(key, int(anchor_ts[j]))
        else:
            results[j] = view.read((), int(anchor_ts[j]))
    return results
