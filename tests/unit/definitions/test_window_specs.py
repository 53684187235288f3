"""Window specs and feature windows: normalisation, spans, labels and bad input."""

from __future__ import annotations

import pytest

import upwell as uw
from upwell.definitions.errors import DefinitionError
from upwell.definitions.windows import Window, to_window

H = 3_600_000
D = 24 * H


@pytest.mark.parametrize(
    ("given", "window", "span_ms", "label"),
    [
        pytest.param(None, uw.Lifetime(), None, "lifetime", id="none_is_lifetime"),
        pytest.param("7d", uw.Sliding(7 * D), 7 * D, "7d", id="duration_is_sliding"),
        pytest.param(90 * 60_000, uw.Sliding("90m"), 90 * 60_000, "90m", id="int_ms"),
        pytest.param(uw.Tumbling("1d"), uw.Tumbling(D), 2 * D, "1d_tumbling", id="tumbling"),
        pytest.param(
            uw.Hopping("1h", "15m"),
            uw.Hopping(H, 15 * 60_000),
            H + 15 * 60_000,
            "1h_every_15m",
            id="hopping",
        ),
    ],
)
def test_to_window(given: object, window: Window, span_ms: int | None, label: str) -> None:
    normalised = to_window(given, definition="Feature 'x'")  # type: ignore[arg-type]

    assert normalised == window
    assert normalised.span_ms == span_ms
    assert normalised.label == label


def test_tumbling_is_a_hopping_window_whose_hop_is_its_size() -> None:
    tumbling = uw.Tumbling("1d")

    assert isinstance(tumbling, uw.Hopping)
    assert (tumbling.size_ms, tumbling.hop_ms) == (D, D)


@pytest.mark.parametrize(
    ("build", "where"),
    [
        pytest.param(lambda: uw.Sliding(0), "Sliding.size", id="zero_sliding"),
        pytest.param(lambda: uw.Sliding("-1h"), "Sliding.size", id="negative_sliding"),
        pytest.param(lambda: uw.Hopping("1h", 0), "Hopping.hop", id="zero_hop"),
        pytest.param(lambda: uw.Tumbling("0s"), "Tumbling.size", id="zero_tumbling"),
        pytest.param(
            lambda: to_window(0, definition="Feature 'x'"), "Feature 'x'.window", id="zero_window"
        ),
        pytest.param(
            lambda: to_window("soon", definition="Feature 'x'"),
            "Feature 'x'.window",
            id="not_a_duration",
        ),
    ],
)
def test_bad_windows_are_refused_with_where_and_fix(build: object, where: str) -> None:
    with pytest.raises(DefinitionError) as error:
        build()  # type: ignore[operator]

    assert error.value.where == where
    assert error.value.fix


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"offset": "1d"}, "offset", id="offset_without_window"),
        pytest.param({"window": "1d", "offset": 0}, "offset", id="zero_offset"),
        pytest.param({"window": "1d", "offset": "-1h"}, "offset", id="negative_offset"),
        pytest.param({"window": "1d", "where": "amount > 5"}, "where", id="where_not_expression"),
    ],
)
def test_feature_window_options_are_checked(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(DefinitionError) as error:
        uw.Feature(name="x", aggregation=uw.Count(), **kwargs)  # type: ignore[arg-type]

    assert error.value.field == field


def test_feature_normalises_its_window_and_offset() -> None:
    feature = uw.Feature(name="x", aggregation=uw.Count(), window=uw.Lifetime(), offset="7d")

    assert feature.window_spec == uw.Lifetime()
    assert feature.offset_ms == 7 * D
    assert uw.Feature(name="y", aggregation=uw.Count(), window="1h").offset_ms == 0
