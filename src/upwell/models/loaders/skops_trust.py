"""Which types a skops archive may contain.

A skops archive is data, not code: skops rebuilds only the types it is told to trust.
It trusts plain scikit-learn estimators, numpy arrays and builtins itself, and reports
every other type it finds. upwell trusts on top of that exactly the types listed in
``DEFAULT_TRUSTED_TYPES`` (full names, no wildcards or namespaces) and those a
registration trusts explicitly (``Trust.types``); any other reported type refuses the
file.
"""

from __future__ import annotations

from collections.abc import Iterable

from upwell.models.errors import ModelError
from upwell.models.protocol import Trust

DEFAULT_TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "numpy.dtype",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.feature_selection._univariate_selection.chi2",
        "sklearn.feature_selection._univariate_selection.f_classif",
        "sklearn.feature_selection._univariate_selection.f_regression",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        "sklearn.metrics._dist_metrics.MinkowskiDistance64",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        "sklearn.tree._tree.Tree",
        "sklearn.utils._bunch.Bunch",
    }
)
"""Types skops reports as untrusted that upwell trusts in every skops file: fitted
trees, neighbour indexes, optimiser state, calibrators, score functions and numpy
dtypes of scikit-learn's own estimators. Each is data rebuilt by skops; none runs
code from the file."""


def check_types(reported: Iterable[str], trust: Trust, where: str) -> None:
    """Raise unless every type skops reports is trusted by default or by ``trust``.

    Args:
        reported: The types ``skops.io.get_untrusted_types`` reports for the file.
        trust: The types the registration trusts explicitly.
        where: The file, named in errors.

    Raises:
        ModelError: Naming every untrusted type and how to trust it.

    >>> check_types(["sklearn.tree._tree.Tree"], Trust(), "model.skops")
    >>> check_types(["mylib.Scaler"], Trust(types=("mylib.Scaler",)), "model.skops")
    """
    untrusted = sorted(set(reported) - DEFAULT_TRUSTED_TYPES - set(trust.types))
    if untrusted:
        names = ", ".join(repr(name) for name in untrusted)
        msg = f"the skops file contains types upwell does not trust by default: {names}"
        raise ModelError(
            msg,
            where=where,
            fix=(
                "If you trust the code behind these types, register the model with "
                f"trust_types=[{names}] (CLI: --trust-type NAME, once per type)."
            ),
        )
