"""The model loader contract, run against every format.

Every saved model is reached through the ``case`` fixture (``model_fixtures.BUILDERS``:
scikit-learn, LightGBM, XGBoost, ONNX and PMML, classifiers and regressors). A new
format adds a builder there, and every test here runs against it. The oracle is the
training library itself: the scores it gives for the same matrix, and the raw margin
(``raw_score`` / ``output_margin`` / ``decision_function``) contributions must sum to.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import joblib
import lightgbm as lgb
import numpy as np
import pytest
import xgboost as xgb
from skl2onnx import to_onnx
from sklearn.base import BaseEstimator, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline

from contract.model_fixtures import (
    BUILDERS,
    Doubler,
    ModelCase,
    data,
    export_onnx,
    linear_pipeline,
    xgb_classifier,
)
from upwell.models.errors import ModelError
from upwell.models.formats import EXTENSIONS, detect_format, file_sha256, load_model, save_model
from upwell.models.loaders.lightgbm_text import check_model_text
from upwell.models.loaders.ubjson import check_document
from upwell.models.protocol import ModelFormat, Trust


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ModelCase:
    return BUILDERS[request.param](tmp_path_factory.mktemp(request.param))


def _close(actual: np.ndarray, expected: np.ndarray, tolerance: float) -> None:
    if tolerance == 0.0:
        np.testing.assert_array_equal(actual, expected)
    else:
        np.testing.assert_allclose(actual, expected, rtol=tolerance, atol=tolerance)


# --- loading and scoring ---------------------------------------------------------------


def test_detect_format_names_the_files_format(case: ModelCase) -> None:
    assert detect_format(case.path) is case.fmt


def test_predictions_equal_the_training_librarys(case: ModelCase) -> None:
    model = load_model(case.path)
    scores = model.predict(data().x)
    assert model.format is case.fmt
    assert scores.dtype == np.float64
    assert scores.shape == (len(data().x),)
    _close(scores, np.asarray(case.expected, dtype=np.float64), case.tolerance)


def test_explicit_format_loads_the_same_model(case: ModelCase) -> None:
    scores = load_model(case.path, case.fmt, Trust()).predict(data().x)
    _close(scores, np.asarray(case.expected, dtype=np.float64), case.tolerance)


def test_scores_do_not_depend_on_batching_or_repetition(case: ModelCase) -> None:
    model = load_model(case.path)
    x = data().x[:20]
    batch = model.predict(x)
    np.testing.assert_array_equal(model.predict(x), batch)
    one_by_one = np.concatenate([model.predict(x[i : i + 1]) for i in range(len(x))])
    # A single row may take another BLAS kernel than a batch: the last bit may differ.
    _close(one_by_one, batch, max(case.tolerance, 1e-14))


def test_inputs_are_described_as_the_file_records_them(case: ModelCase) -> None:
    model = load_model(case.path)
    assert model.input_names == case.input_names
    assert model.n_inputs == case.n_inputs


def test_a_matrix_of_the_wrong_width_is_refused(case: ModelCase) -> None:
    model = load_model(case.path)
    with pytest.raises(ModelError, match=r"4 column\(s\); the model takes 5"):
        model.predict(data().x[:, :4])
    with pytest.raises(ModelError, match="dimension"):
        model.predict(data().x[0])


def test_contributions_sum_to_the_raw_margin(case: ModelCase) -> None:
    model = load_model(case.path)
    contributions = model.contributions(data().x)
    if case.margin is None:
        assert contributions is None
        return
    assert contributions is not None
    assert contributions.shape == (len(data().x), case.n_inputs + 1)
    _close(
        contributions.sum(axis=1), np.asarray(case.margin, dtype=np.float64), case.margin_tolerance
    )


# --- files that must not load ---------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_a_truncated_file_is_refused_and_a_retry_loads(
    case: ModelCase, fraction: float, tmp_path: Path
) -> None:
    content = case.path.read_bytes()
    cut = tmp_path / case.path.name
    cut.write_bytes(content[: int(len(content) * fraction)])
    with pytest.raises(ModelError) as refused:
        load_model(cut)
    assert str(cut) in str(refused.value)
    cut.write_bytes(content)
    _close(load_model(cut).predict(data().x[:5]), case.expected[:5], case.tolerance)


def test_no_prefix_of_an_xgboost_ubjson_model_reaches_xgboost(tmp_path: Path) -> None:
    # XGBoost 3 crashes the process on some cut UBJSON documents (e.g. 1832 bytes of a
    # 22750-byte model); none may get past the structural check.
    content = BUILDERS["xgboost-ubj"](tmp_path).path.read_bytes()
    for size in range(0, len(content), 17):
        with pytest.raises(ModelError, match="truncated or malformed"):
            check_document(content[:size], "model.ubj")
    check_document(content, "model.ubj")


def test_a_lightgbm_prefix_passes_only_when_it_holds_every_tree(tmp_path: Path) -> None:
    # LightGBM 4 crashes the process on text models cut in a tree or in the parameters.
    case = BUILDERS["lightgbm"](tmp_path)
    text = case.path.read_text()
    all_trees = text.index("end of trees")
    passed = []
    for size in range(0, len(text), 7):
        try:
            check_model_text(text[:size], "model.txt")
        except ModelError:
            continue
        passed.append(size)
        assert size > all_trees
        booster = lgb.Booster(model_str=text[:size])
        np.testing.assert_array_equal(booster.predict(data().x), case.expected)
    assert passed  # cut after the trees, outside the parameters: a complete model


# The first bytes of each kind of file, then garbage: detection passes, the loader refuses.
MAGIC = {
    ".skops": b"PK\x03\x04",
    ".pkl": b"\x80\x05",
    ".pickle": b"\x80\x05",
    ".joblib": b"\x80\x04",
    ".txt": b"tree\nversion=v4\nnum_class=1\n",
    ".json": b'{"learner": {"attributes": {}, ',
    ".ubj": b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner{",
    ".onnx": b"\x08\x0a\x12\x08skl2onnx",
    ".pmml": b'<?xml version="1.0"?>\n<PMML version="4.4">',
    ".xml": b"<PMML>",
}


@pytest.mark.parametrize("extension", sorted(EXTENSIONS))
@pytest.mark.parametrize("with_magic", [False, True], ids=["random", "magic-then-random"])
def test_random_bytes_are_refused(extension: str, with_magic: bool, tmp_path: Path) -> None:
    rng = np.random.default_rng(zlib.crc32(extension.encode()))
    path = tmp_path / f"model{extension}"
    path.write_bytes((MAGIC[extension] if with_magic else b"") + rng.bytes(4096))
    with pytest.raises(ModelError) as refused:
        load_model(path)
    assert str(path) in str(refused.value)


def test_a_file_renamed_to_another_formats_extension_is_refused(
    case: ModelCase, tmp_path: Path
) -> None:
    other = {".skops": ".onnx", ".txt": ".json", ".json": ".ubj", ".ubj": ".txt"}
    other |= {".onnx": ".pmml", ".pmml": ".skops"}
    renamed = tmp_path / f"model{other[case.path.suffix]}"
    shutil.copyfile(case.path, renamed)
    with pytest.raises(ModelError, match=f"Rename the file to end in '{case.path.suffix}'"):
        detect_format(renamed)
    with pytest.raises(ModelError):
        load_model(renamed)


@pytest.mark.parametrize("name", ["model.bin", "model", "model.h5"])
def test_an_unknown_extension_is_refused_naming_the_supported_formats(
    name: str, tmp_path: Path
) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x08\x01")
    with pytest.raises(ModelError, match="unknown model file extension") as refused:
        load_model(path)
    message = str(refused.value)
    assert str(path) in message
    assert all(ext in message for ext in (".skops", ".txt", ".ubj", ".onnx", ".pmml"))


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    for fmt in (None, *ModelFormat):
        with pytest.raises(ModelError, match="no such model file"):
            load_model(tmp_path / "absent.onnx", fmt)
    with pytest.raises(ModelError, match="no such model file"):
        file_sha256(tmp_path / "absent.onnx")


# --- trust ----------------------------------------------------------------------------


@pytest.mark.parametrize("writer", ["pickle", "joblib", "joblib-zlib"])
def test_a_pickle_loads_only_when_its_digest_is_pinned(writer: str, tmp_path: Path) -> None:
    model = linear_pipeline()
    path = tmp_path / ("model.pkl" if writer == "pickle" else "model.joblib")
    if writer == "pickle":
        path.write_bytes(pickle.dumps(model))
    else:
        joblib.dump(model, path, compress=3 if writer == "joblib-zlib" else 0)
    digest = file_sha256(path)
    with pytest.raises(ModelError, match="runs code") as refused:
        load_model(path)
    assert digest in str(refused.value)
    assert "allow_pickle" in str(refused.value)
    with pytest.raises(ModelError, match="not pinned"):
        load_model(path, trust=Trust(pickle_sha256=("0" * 64,)))
    loaded = load_model(path, trust=Trust(pickle_sha256=(digest,)))
    np.testing.assert_array_equal(loaded.predict(data().x), model.predict_proba(data().frame)[:, 1])


def test_a_skops_file_with_an_unlisted_type_loads_only_when_trusted(tmp_path: Path) -> None:
    model = Pipeline([("double", Doubler()), ("model", LogisticRegression())])
    model.fit(data().x, data().label)
    fmt, path = save_model(model, tmp_path)
    type_name = f"{Doubler.__module__}.Doubler"
    with pytest.raises(ModelError, match="trust_types") as refused:
        load_model(path)
    assert repr(type_name) in str(refused.value)
    assert "--trust-type" in str(refused.value)
    loaded = load_model(path, fmt, Trust(types=(type_name,)))
    np.testing.assert_array_equal(loaded.predict(data().x), model.predict_proba(data().x)[:, 1])


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "estimator",
    [
        HistGradientBoostingClassifier(max_iter=5),
        KNeighborsClassifier(),
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0),
        CalibratedClassifierCV(LogisticRegression(), cv=2),
    ],
    ids=lambda estimator: type(estimator).__name__,
)
def test_scikit_learns_own_estimators_load_with_the_default_trust(
    estimator: BaseEstimator, tmp_path: Path
) -> None:
    model = clone(estimator).fit(data().x, data().label)
    _, path = save_model(model, tmp_path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(data().x), model.predict_proba(data().x)[:, 1])


def test_pmml_without_java_fails_fast_saying_so(tmp_path: Path) -> None:
    path = tmp_path / "model.pmml"
    path.write_text('<PMML version="4.4" xmlns="http://www.dmg.org/PMML-4_4"><Header/></PMML>')
    program = textwrap.dedent(
        f"""
        from pathlib import Path
        from upwell.models.errors import ModelError
        from upwell.models.formats import load_model
        try:
            load_model(Path({str(path)!r}))
        except ModelError as error:
            print("refused:", error)
        """
    )
    env = {key: value for key, value in os.environ.items() if key != "JAVA_HOME"}
    env["PATH"] = str(Path(sys.executable).parent)  # a PATH with no java on it
    result = subprocess.run(
        [sys.executable, "-c", program],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "refused:" in result.stdout
    assert "cannot start Java" in result.stdout


# --- models upwell does not score -----------------------------------------------------


def _multiclass_files(directory: Path) -> list[Path]:
    x, label = data().x, np.digitize(data().x[:, 0], [-0.5, 0.5])  # three classes
    sk = LogisticRegression().fit(x, label)
    paths = [
        save_model(sk, directory, "sklearn")[1],
        save_model(lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(x, label), directory, "lgb")[
            1
        ],
        save_model(xgb.XGBClassifier(n_estimators=3).fit(x, label), directory, "xgb")[1],
        directory / "onnx.onnx",
    ]
    export_onnx(sk, paths[-1], zipmap=False)
    return paths


def test_multiclass_models_are_refused(tmp_path: Path) -> None:
    for path in _multiclass_files(tmp_path):
        with pytest.raises(ModelError, match=r"multiclass|3 class"):
            load_model(path)


# --- saving ---------------------------------------------------------------------------


def _savable() -> dict[str, tuple[object, ModelFormat, str]]:
    x, label = data().x, data().label
    booster = lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(x, label).booster_
    return {
        "sklearn": (linear_pipeline(), ModelFormat.SKLEARN, ".skops"),
        "lightgbm-booster": (booster, ModelFormat.LIGHTGBM, ".txt"),
        "xgboost-model": (xgb_classifier(), ModelFormat.XGBOOST, ".ubj"),
        "xgboost-booster": (xgb_classifier().get_booster(), ModelFormat.XGBOOST, ".ubj"),
        "onnx": (
            to_onnx(linear_pipeline(), data().x[:1].astype(np.float32)),
            ModelFormat.ONNX,
            ".onnx",
        ),
    }


def test_save_model_writes_the_safest_format_and_it_loads(tmp_path: Path) -> None:
    for name, (model, fmt, suffix) in _savable().items():
        saved_fmt, path = save_model(model, tmp_path / name, stem="champion")
        assert (saved_fmt, path.name) == (fmt, f"champion{suffix}")
        assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
        assert detect_format(path) is fmt
        assert load_model(path).predict(data().x[:3]).shape == (3,)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"weights": [1, 2]}, "cannot save a builtins.dict"),
        (LogisticRegression(), "not fitted"),
        (lgb.LGBMClassifier(), "not fitted"),
        (xgb.XGBClassifier(), "not fitted"),
    ],
    ids=["dict", "unfitted-sklearn", "unfitted-lightgbm", "unfitted-xgboost"],
)
def test_save_model_refuses_what_it_cannot_save(
    model: object, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ModelError, match=message):
        save_model(model, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_library_is_reported_with_the_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, path = save_model(xgb_classifier(), tmp_path)
    monkeypatch.setitem(sys.modules, "xgboost", None)  # what Python does when absent
    with pytest.raises(ModelError, match=r"pip install 'upwell\[models\]'"):
        load_model(path)


def test_file_sha256_is_the_digest_of_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "abc.bin"
    path.write_bytes(b"abc")  # the FIPS 180-2 example message
    assert file_sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
