"""Encoding of the engine's state as plain JSON-able values (no pickles).

Floats survive exactly (orjson writes the shortest round-trip repr), so a restored
state gives bit-identical feature values. Sketches are stored in their own binary
serialisation, base64-encoded.
"""

from __future__ import annotations

import base64
from typing import Any

from datasketches import hll_sketch, kll_doubles_sketch

from upwell.engine.entity_state import EntityState
from upwell.engine.feature_engine import FeatureEngine

_STATE_FIELDS = ("ts", "seq", "values", "count", "total", "shift", "shifted", "shifted_sq")


def encode(engine: FeatureEngine) -> dict[str, Any]:
    """Encode an engine's state.

    Args:
        engine: The engine.

    Returns:
        A JSON-able dict.
    """
    return {
        "last_seq": engine.last_seq,
        "admission": {
            name: {"watermark": a.watermark, "seen": list(a.seen.items())}
            for name, a in engine.admission.items()
        },
        "views": {
            name: [[list(key), _encode_state(state)] for key, state in view.entities.items()]
            for name, view in engine.views.items()
        },
        "batches": {
            name: [
                [list(key), times, [list(r) for r in rows]] for key, (times, rows) in b.rows.items()
            ]
            for name, b in engine.batches.items()
        },
    }


def _encode_state(state: EntityState) -> dict[str, Any]:
    out: dict[str, Any] = {f: getattr(state, f) for f in _STATE_FIELDS}
    out["evicted"] = state.evicted
    out["evicted_until"] = state.evicted_until
    out["base"] = [[i, _encode_base(v)] for i, v in state.base.items()]
    return out


def _encode_base(value: Any) -> Any:
    if isinstance(value, hll_sketch):
        return {"hll": base64.b64encode(value.serialize_compact()).decode()}
    if isinstance(value, kll_doubles_sketch):
        return {"kll": base64.b64encode(value.serialize()).decode()}
    if isinstance(value, set):
        return {"set": list(value)}
    return {"value": value}


def _decode_base(value: dict[str, Any]) -> Any:
    if "hll" in value:
        return hll_sketch.deserialize(base64.b64decode(value["hll"]))
    if "kll" in value:
        return kll_doubles_sketch.deserialize(base64.b64decode(value["kll"]))
    if "set" in value:
        return set(value["set"])
    return value["value"]


def decode_into(engine: FeatureEngine, data: dict[str, Any]) -> None:
    """Restore an engine's state from :func:`encode`'s output.

    Args:
        engine: A fresh engine over the same definitions.
        data: The encoded state.
    """
    engine.last_seq = data["last_seq"]
    for name, admission in data["admission"].items():
        if name in engine.admission:
            engine.admission[name].watermark = admission["watermark"]
            engine.admission[name].seen = {_key(k): ts for k, ts in admission["seen"]}
    for name, entities in data["views"].items():
        view = engine.views.get(name)
        if view is None:
            continue
        for key, encoded in entities:
            state = EntityState(
                len(view.plan.channels), tuple(c.squares for c in view.plan.channels)
            )
            for field in _STATE_FIELDS:
                setattr(state, field, encoded[field])
            state.evicted = encoded["evicted"]
            state.evicted_until = encoded["evicted_until"]
            state.base = {i: _decode_base(v) for i, v in encoded["base"]}
            view.entities[tuple(key)] = state
    for name, rows in data["batches"].items():
        if name in engine.batches:
            engine.batches[name].rows = {
                tuple(key): (times, [tuple(r) for r in values]) for key, times, values in rows
            }


def _key(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
