"""One process at a time per embedded store directory; a killed holder frees it."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

import upwell as uw

HOLDER = """
import sys, time
import upwell as uw
entity = uw.Entity(name="e", keys=("k",))
source = uw.EventSource(name="s", schema={"k": int, "ts": uw.FieldType.TIMESTAMP},
                        timestamp="ts", entities=(entity,))
view = uw.FeatureView(name="v", entity=entity, source=source,
                      features=(uw.Feature(name="n", aggregation=uw.Count()),))
store = uw.FeatureStore([view], path=sys.argv[1])
print("open", flush=True)
time.sleep(60)
"""


def _definitions() -> list[uw.FeatureView]:
    entity = uw.Entity(name="e", keys=("k",))
    source = uw.EventSource(
        name="s",
        schema={"k": int, "ts": uw.FieldType.TIMESTAMP},
        timestamp="ts",
        entities=(entity,),
    )
    return [
        uw.FeatureView(
            name="v",
            entity=entity,
            source=source,
            features=(uw.Feature(name="n", aggregation=uw.Count()),),
        )
    ]


def test_a_second_process_is_refused_until_the_holder_dies(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(uw.StoreLockedError, match="another process has this store open"):
            uw.FeatureStore(_definitions(), path=tmp_path)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate()
    store = uw.FeatureStore(_definitions(), path=tmp_path)
    store.close()


def test_the_same_process_may_reopen_and_close_frees_the_directory(tmp_path: Path) -> None:
    first = uw.FeatureStore(_definitions(), path=tmp_path)
    second = uw.FeatureStore(_definitions(), path=tmp_path)
    second.close()
    first.close()
    probe = subprocess.run(
        [sys.executable, "-c", HOLDER.replace("time.sleep(60)", "store.close()"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
