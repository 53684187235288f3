"""The ``upwell`` command, run as a real subprocess on a project made by ``upwell init``.

Feature values are checked against an independent pandas computation of the template's
definitions over the template's sample payments (windows right-closed:
``t - w < ts <= t``).
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from upwell.cli.app import app
from upwell.config import load_definitions
from upwell.definitions.registry import validate

END = pd.Timestamp("2024-05-14T23:59:59Z")
SERVICE_COLUMNS = [
    "customer_spend.payments_1h",
    "customer_spend.payments_1d",
    "customer_spend.amount_sum_1d",
    "customer_spend.amount_mean_7d",
    "customer_spend.amount_max_7d",
    "customer_spend.large_payments_7d",
    "customer_spend.merchants_7d",
    "payment_risk.amount_vs_mean_7d",
]


def upwell_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m upwell.cli``."""
    script = Path(sys.executable).parent / "upwell"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "upwell.cli"]


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPWELL_")}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [*upwell_command(), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ok(*args: str | Path, cwd: Path | None = None) -> str:
    result = run(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


def fails(*args: str | Path, cwd: Path | None = None) -> str:
    """Run a command that must fail cleanly; returns its one-line error."""
    result = run(*args, cwd=cwd)
    assert result.returncode == 1, result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


# ---- the oracle ----------------------------------------------------------------------


def read_payments(project: Path) -> pd.DataFrame:
    events = pd.read_csv(project / "data" / "payments.csv")
    events["ts"] = pd.to_datetime(events["ts"], utc=True)
    return events


def expected_features(
    events: pd.DataFrame, customer_id: int, at: pd.Timestamp, amount: float
) -> dict[str, Any]:
    """The template's features for one customer as of ``at``, straight from the events."""
    mine = events[events["customer_id"] == customer_id]

    def window(span: str) -> pd.DataFrame:
        return mine[(mine["ts"] > at - pd.Timedelta(span)) & (mine["ts"] <= at)]

    hour, day, week = window("1h"), window("1D"), window("7D")
    mean_7d = float(week["amount"].mean()) if len(week) else None
    return {
        "customer_spend.payments_1h": len(hour),
        "customer_spend.payments_1d": len(day),
        "customer_spend.amount_sum_1d": float(day["amount"].sum()),
        "customer_spend.amount_mean_7d": mean_7d,
        "customer_spend.amount_max_7d": float(week["amount"].max()) if len(week) else None,
        "customer_spend.large_payments_7d": int((week["amount"] > 100.0).sum()),
        "customer_spend.merchants_7d": int(week["merchant"].nunique()),
        "payment_risk.amount_vs_mean_7d": amount / mean_7d if mean_7d else None,
    }


def assert_same(actual: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    assert list(actual) == list(expected), where
    for name, value in expected.items():
        got = actual[name]
        if value is None:
            assert got is None or (isinstance(got, float) and math.isnan(got)), (where, name, got)
        elif isinstance(value, float):
            assert got == pytest.approx(value, rel=1e-12, abs=1e-9), (where, name, got)
        else:
            assert got == value, (where, name, got)


# ---- fixtures ------------------------------------------------------------------------

runner = CliRunner()


def invoke(*args: str | Path) -> str:
    """Run a command in this process (fast); returns its stdout."""
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def invoke_fails(*args: str | Path) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


@dataclass(frozen=True)
class Ingested:
    path: Path
    pushed: str


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    """A project from ``upwell init`` with the sample payments pushed."""
    path = tmp_path_factory.mktemp("cli") / "shop"
    ok("init", path)
    pushed = ok("ingest", "data/payments.csv", "--source", "payments", cwd=path)
    return Ingested(path, pushed)


@pytest.fixture(scope="module")
def payments(ingested: Ingested) -> pd.DataFrame:
    return read_payments(ingested.path)


# ---- the main flow, as real subprocesses ---------------------------------------------


def test_ingest_then_apply_shows_the_definitions(ingested: Ingested) -> None:
    assert "payments.csv: 1000 events pushed into source 'payments'" in ingested.pushed
    assert "accepted 1000  duplicates 0  late 0" in ingested.pushed
    applied = ok("apply", "--project", ingested.path)
    fingerprint = validate(load_definitions(ingested.path / "features.py")).fingerprint
    assert f"fingerprint  {fingerprint}" in applied
    assert "project      shop" in applied
    assert "(1000 events logged)" in applied
    for name in ("customer_spend.amount_mean_7d", "payment_scoring", "payments", "customer"):
        assert name in applied


@pytest.mark.parametrize(
    ("customer_id", "at", "amount"),
    [
        pytest.param(7, END, 120.0, id="end"),
        pytest.param(3, pd.Timestamp("2024-05-15T01:30:00+02:00"), 55.5, id="offset-time"),
    ],
)
def test_features_get_matches_pandas(
    ingested: Ingested, payments: pd.DataFrame, customer_id: int, at: pd.Timestamp, amount: float
) -> None:
    out = ok(
        "features", "get", "--service", "payment_scoring",
        "--entity", f"customer_id={customer_id}", "--request", f"amount={amount}",
        "--as-of", at.isoformat(), "--json", cwd=ingested.path,
    )  # fmt: skip
    expected = expected_features(payments, customer_id, at.tz_convert("UTC"), amount)
    assert_same(json.loads(out), expected, f"customer {customer_id} as of {at}")


def test_training_set_matches_pandas(
    ingested: Ingested, payments: pd.DataFrame, tmp_path: Path
) -> None:
    target = tmp_path / "training.parquet"
    out = ok(
        "training-set", "--service", "payment_scoring",
        "--entities", "data/training_rows.csv", "--timestamp-column", "ts",
        "--out", target, cwd=ingested.path,
    )  # fmt: skip
    check_training_set(ingested.path, payments, out, pd.read_parquet(target))


def check_training_set(
    project: Path, payments: pd.DataFrame, out: str, built: pd.DataFrame
) -> None:
    rows = pd.read_csv(project / "data" / "training_rows.csv")
    assert f"wrote {len(rows)} rows x {3 + len(SERVICE_COLUMNS)} columns" in out
    assert list(built.columns) == ["customer_id", "ts", "amount", *SERVICE_COLUMNS]
    assert built["customer_id"].tolist() == rows["customer_id"].tolist()
    assert pd.to_datetime(built["ts"], utc=True).tolist() == (
        pd.to_datetime(rows["ts"], utc=True).tolist()
    )
    assert (rows["customer_id"] == 21).any()  # a customer without payments is included
    for i, row in enumerate(rows.itertuples()):
        at = pd.Timestamp(row.ts)
        expected = expected_features(payments, row.customer_id, at, row.amount)
        actual = {c: _plain(built[c].iloc[i]) for c in SERVICE_COLUMNS}
        assert_same(actual, expected, f"row {i}")


def _plain(value: Any) -> Any:
    if pd.isna(value):
        return None
    return value.item() if hasattr(value, "item") else value


def test_bad_definitions_fail_with_the_definition_error(tmp_path: Path) -> None:
    invoke("init", tmp_path)
    definitions = tmp_path / "features.py"
    definitions.write_text(
        definitions.read_text().replace('uw.Sum("amount")', 'uw.Sum("amt")'), encoding="utf-8"
    )
    error = fails("apply", cwd=tmp_path)
    assert "FeatureView 'customer_spend', feature 'amount_sum_1d'" in error
    assert "reads column 'amt'" in error
    assert "Fix:" in error


def test_unknown_source_and_bad_entity_syntax(ingested: Ingested) -> None:
    error = fails("ingest", "data/payments.csv", "--source", "clicks", cwd=ingested.path)
    assert "unknown source 'clicks'" in error
    assert "['payments']" in error
    error = fails(
        "features", "get", "-s", "payment_scoring", "--entity", "customer_id", cwd=ingested.path
    )
    assert "--entity: 'customer_id' is not key=value" in error


def test_a_second_command_waits_for_the_first(ingested: Ingested) -> None:
    lock = ingested.path / ".upwell" / "lock"
    with open(lock, "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        env = {k: v for k, v in os.environ.items() if not k.startswith("UPWELL_")}
        waiting = subprocess.Popen(
            [*upwell_command(), "apply"],
            cwd=ingested.path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert waiting.stderr is not None
        # Blocks until the command reports that it waits; it cannot finish meanwhile.
        assert "Waiting for another upwell command" in waiting.stderr.readline()
        fcntl.flock(held, fcntl.LOCK_UN)
    stdout, _ = waiting.communicate(timeout=120)
    assert waiting.returncode == 0
    assert "(1000 events logged)" in stdout


def test_python_m_runs_the_same_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "upwell.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0
    for command in ("init", "apply", "ingest", "features", "training-set"):
        assert command in result.stdout


# ---- more behaviour, in this process -------------------------------------------------


def test_every_customer_reads_like_pandas(ingested: Ingested, payments: pd.DataFrame) -> None:
    for customer_id in range(1, 22):
        out = invoke(
            "features", "get", "-s", "payment_scoring", "-e", f"customer_id={customer_id}",
            "-r", "amount=10", "--as-of", END.isoformat(), "--json", "-p", ingested.path,
        )  # fmt: skip
        expected = expected_features(payments, customer_id, END, 10.0)
        assert_same(json.loads(out), expected, f"customer {customer_id}")


def test_redelivery_is_not_applied_twice(tmp_path: Path, payments: pd.DataFrame) -> None:
    invoke("init", tmp_path)
    source = tmp_path / "data" / "payments.csv"
    invoke("ingest", source, "-s", "payments", "-p", tmp_path, "--batch-size", "128")
    again = invoke("ingest", source, "-s", "payments", "-p", tmp_path)
    # Ids behind the lateness horizon are forgotten, so old redeliveries count as late.
    counts = next(line for line in again.splitlines() if line.startswith("accepted")).split()
    assert counts[:2] == ["accepted", "0"]
    assert int(counts[3]) + int(counts[5]) == 1000
    assert "late events were written to" in again
    assert (tmp_path / ".upwell" / "dead_letters.jsonl").is_file()
    got = invoke(
        "features", "get", "-s", "payment_scoring", "-e", "customer_id=7",
        "-r", "amount=5", "--as-of", END.isoformat(), "--json", "-p", tmp_path,
    )  # fmt: skip
    assert_same(json.loads(got), expected_features(payments, 7, END, 5.0), "redelivered")


def test_backfill_serves_and_builds_the_same_features(
    tmp_path: Path, payments: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke("init", tmp_path)
    monkeypatch.chdir(tmp_path)
    out = invoke("ingest", "data/payments.csv", "--source", "payments", "--backfill")
    assert "1000 events backfilled" in out
    assert "accepted 1000  duplicates 0  late 0" in out
    got = invoke(
        "features", "get", "-s", "payment_scoring", "-e", "customer_id=11",
        "-r", "amount=42.0", "--as-of", END.isoformat(), "--json",
    )  # fmt: skip
    assert_same(json.loads(got), expected_features(payments, 11, END, 42.0), "backfill")
    out = invoke(
        "training-set", "-s", "payment_scoring", "--entities", "data/training_rows.csv",
        "--timestamp-column", "ts", "--out", "training.csv",
    )  # fmt: skip
    check_training_set(tmp_path, payments, out, pd.read_csv(tmp_path / "training.csv"))


def test_features_get_table_lists_the_chosen_features(
    ingested: Ingested, payments: pd.DataFrame
) -> None:
    out = invoke(
        "features", "get", "-f", "customer_spend.payments_1d, customer_spend.amount_max_7d",
        "-e", "customer_id=7", "--as-of", "2024-05-14T23:59:59Z", "--project", ingested.path,
    )  # fmt: skip
    expected = expected_features(payments, 7, END, 1.0)
    rows = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in out.splitlines()
        if line.count("│") == 3
    }
    assert rows == {
        "customer_spend.payments_1d": str(expected["customer_spend.payments_1d"]),
        "customer_spend.amount_max_7d": repr(expected["customer_spend.amount_max_7d"]),
    }
    assert "customer_id=7 as of 2024-05-14T23:59:59Z" in out


def test_init_writes_every_template_file(tmp_path: Path) -> None:
    path = tmp_path / "new project"
    out = invoke("init", path, "--name", 'odd "name"')
    for name in ("upwell.toml", "features.py", "data/payments.csv", "README.md", ".gitignore"):
        assert (path / name).is_file(), name
        assert name in out
    applied = invoke("apply", "--project", path)
    assert 'project      odd "name"' in applied
    assert "(0 events logged)" in applied
    assert (path / ".upwell").is_dir()


def test_init_refuses_to_overwrite_a_project_unless_forced(tmp_path: Path) -> None:
    invoke("init", tmp_path)
    definitions = tmp_path / "features.py"
    original = definitions.read_text()
    definitions.write_text("# edited\n")
    error = invoke_fails("init", tmp_path)
    assert "already holds" in error
    assert "upwell.toml" in error
    assert "--force" in error
    assert definitions.read_text() == "# edited\n"
    invoke("init", tmp_path, "--force")
    assert definitions.read_text() == original


def test_definitions_that_raise_name_the_line(tmp_path: Path) -> None:
    invoke("init", tmp_path)
    definitions = tmp_path / "features.py"
    definitions.write_text("import upwell as uw\n\nboom = 1 / 0\n", encoding="utf-8")
    error = invoke_fails("apply", "-p", tmp_path)
    assert f"{definitions.resolve()}:3" in error
    assert "ZeroDivisionError" in error


def test_missing_project(tmp_path: Path) -> None:
    error = invoke_fails("apply", "--project", tmp_path)
    assert f"no upwell.toml in {tmp_path.resolve()}" in error
    assert "upwell init" in error


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            ["features", "get", "-e", "customer_id=7"],
            "give either --features or --service",
            id="no-features",
        ),
        pytest.param(
            ["features", "get", "-s", "payment_scoring", "-f", "customer_spend.x"],
            "give either --features or --service",
            id="both",
        ),
        pytest.param(
            ["features", "get", "-s", "scoring"],
            "unknown feature service 'scoring'",
            id="unknown-service",
        ),
        pytest.param(
            ["features", "get", "-f", "customer_spend.nope"],
            "'customer_spend.nope' is not a known feature",
            id="unknown-feature",
        ),
        pytest.param(
            ["features", "get", "-s", "payment_scoring", "-e", "cid=7"],
            "--entity: unknown field 'cid'",
            id="unknown-key",
        ),
        pytest.param(
            ["features", "get", "-s", "payment_scoring", "-e", "customer_id=seven"],
            "'seven' is not an int",
            id="bad-int",
        ),
        pytest.param(
            [
                "features",
                "get",
                "-s",
                "payment_scoring",
                "-e",
                "customer_id=7",
                "--as-of",
                "2024-05-14T23:00:00",
            ],
            "has no UTC offset",
            id="naive-as-of",
        ),
        pytest.param(
            [
                "features",
                "get",
                "-s",
                "payment_scoring",
                "-e",
                "customer_id=7",
                "-e",
                "customer_id=8",
            ],
            "'customer_id' is given twice",
            id="twice",
        ),
        pytest.param(
            ["features", "get", "-s", "payment_scoring", "-e", "customer_id=7"],
            "entity row lacks request field 'amount'",
            id="no-request-field",
        ),
        pytest.param(
            ["training-set", "-s", "payment_scoring", "--entities", "x.csv", "--out", "t.xlsx"],
            "unknown file kind '.xlsx'",
            id="bad-out",
        ),
        pytest.param(
            [
                "training-set",
                "-s",
                "payment_scoring",
                "--entities",
                "missing.csv",
                "--out",
                "t.csv",
            ],
            "file 'missing.csv' does not exist",
            id="no-entities",
        ),
        pytest.param(
            [
                "training-set",
                "-s",
                "payment_scoring",
                "--entities",
                "data/training_rows.csv",
                "--out",
                "t.csv",
            ],
            "has no column 'timestamp' (columns: ['customer_id', 'ts', 'amount'])",
            id="no-timestamp-column",
        ),
        pytest.param(
            ["ingest", "data/payments.txt", "-s", "payments"], "does not exist", id="no-file"
        ),
        pytest.param(
            ["ingest", "README.md", "-s", "payments"], "unknown file kind '.md'", id="bad-kind"
        ),
    ],
)
def test_argument_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], expected: str
) -> None:
    invoke("init", tmp_path)
    monkeypatch.chdir(tmp_path)
    assert expected in invoke_fails(*args)


NAIVE_EVENTS = (
    "payment_id,customer_id,merchant,amount,ts\n"
    "1,5,cafe,3.5,2024-05-14 22:30:00\n"
    "2,5,books,20.0,2024-05-14T23:10:00\n"
)


def test_naive_csv_timestamps_need_assume_utc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke("init", tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "naive.csv").write_text(NAIVE_EVENTS)
    error = invoke_fails("ingest", "naive.csv", "-s", "payments")
    assert "row 0 holds '2024-05-14 22:30:00', which has no UTC offset" in error
    assert "--assume-utc" in error
    assert "accepted 2" in invoke("ingest", "naive.csv", "-s", "payments", "--assume-utc")
    read = invoke(
        "features", "get", "-f", "customer_spend.payments_1h,customer_spend.amount_sum_1d",
        "-e", "customer_id=5", "--as-of", "2024-05-14T23:35:00Z", "--json",
    )  # fmt: skip
    # 22:30 UTC is more than an hour before 23:35 UTC; 23:10 is within the hour.
    assert json.loads(read) == {
        "customer_spend.payments_1h": 1,
        "customer_spend.amount_sum_1d": 23.5,
    }


def test_a_bad_event_rejects_the_whole_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke("init", tmp_path)
    monkeypatch.chdir(tmp_path)
    text = (tmp_path / "data" / "payments.csv").read_text().splitlines()
    text[500] = text[500].replace(",", ",x", 2)  # a customer id that is not a number
    (tmp_path / "bad.csv").write_text("\n".join(text) + "\n")
    error = invoke_fails("ingest", "bad.csv", "-s", "payments")
    assert "bad.csv" in error
    assert "(0 events logged)" in invoke("apply")


def test_jsonl_and_parquet_events_are_read_like_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoke("init", tmp_path)
    monkeypatch.chdir(tmp_path)
    events = read_payments(tmp_path)
    first, rest = events.iloc[:400], events.iloc[400:]
    # Offsets other than UTC are converted; the instant is what counts.
    paris = first["ts"].dt.tz_convert("Europe/Paris").map(pd.Timestamp.isoformat)
    first.assign(ts=paris).to_json(tmp_path / "first.jsonl", orient="records", lines=True)
    rest.to_parquet(tmp_path / "rest.parquet")
    assert "accepted 400" in invoke("ingest", "first.jsonl", "-s", "payments")
    assert "accepted 600" in invoke("ingest", "rest.parquet", "-s", "payments")
    read = invoke(
        "features", "get", "-s", "payment_scoring", "-e", "customer_id=7",
        "-r", "amount=120", "--as-of", END.isoformat(), "--json",
    )  # fmt: skip
    assert_same(json.loads(read), expected_features(events, 7, END, 120.0), "mixed")
