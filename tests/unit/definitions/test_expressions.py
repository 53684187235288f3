"""Expressions give the same values on one event and on whole columns."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upwell.definitions.expressions import Expr, col

EXPRESSIONS = [
    pytest.param(col("x") + col("y"), id="add"),
    pytest.param(col("x") - 2, id="subtract_constant"),
    pytest.param(col("x") * col("y"), id="multiply"),
    pytest.param(col("x") / 4, id="divide"),
    pytest.param(col("x") == col("y"), id="equal"),
    pytest.param(col("x") != 0, id="not_equal"),
    pytest.param(col("x") < col("y"), id="less"),
    pytest.param(col("x") <= 1.5, id="less_or_equal"),
    pytest.param(col("x") > col("y"), id="greater"),
    pytest.param(col("x") >= 0, id="greater_or_equal"),
    pytest.param((col("x") > 0) & col("flag"), id="and"),
    pytest.param((col("x") > 0) | col("flag"), id="or"),
    pytest.param(((col("x") * 2) + col("y")) > 10, id="nested"),
]

rows_st = st.lists(
    st.fixed_dictionaries(
        {
            "x": st.floats(-100, 100, allow_nan=False),
            "y": st.integers(-5, 5).map(float),
            "flag": st.booleans(),
        }
    ),
    min_size=1,
    max_size=20,
)


@pytest.mark.parametrize("expr", EXPRESSIONS)
@settings(max_examples=25, deadline=None)
@given(rows=rows_st)
def test_row_and_column_evaluation_agree(expr: Expr, rows: list[dict[str, object]]) -> None:
    columns = {name: np.asarray([r[name] for r in rows]) for name in ("x", "y", "flag")}

    by_column = expr.evaluate_columns(columns).tolist()

    assert by_column == [expr.evaluate(r) for r in rows]


@pytest.mark.parametrize(
    ("expr", "names", "text"),
    [
        pytest.param(col("amount"), {"amount"}, "col('amount')", id="column"),
        pytest.param(
            col("a") * 2 > col("b"), {"a", "b"}, "((col('a') * 2) > col('b'))", id="binary"
        ),
        pytest.param(
            (col("a") > 0) & (col("a") < 9),
            {"a"},
            "((col('a') > 0) & (col('a') < 9))",
            id="same_column_twice",
        ),
    ],
)
def test_columns_and_repr(expr: Expr, names: set[str], text: str) -> None:
    assert expr.columns() == frozenset(names)
    assert repr(expr) == text
    assert hash(expr) == hash(eval(text, {"col": col}))  # noqa: S307 (repr round trip)


def test_a_constant_broadcasts_to_the_column_length() -> None:
    expr = col("x") * 0 + 3

    assert expr.evaluate_columns({"x": np.arange(4.0)}).tolist() == [3.0] * 4
