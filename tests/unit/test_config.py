"""Project configuration (upwell.toml, environment overrides) and definitions loading."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import upwell as uw
from upwell.config import ConfigError, load_config, load_definitions
from upwell.definitions.registry import validate

TEMPLATE_DEFINITIONS = Path(uw.__file__).parent / "templates" / "project" / "features.py"

SOURCE_FILE = """
import upwell as uw

customer = uw.Entity(name="customer", keys=("cid",))
clicks = uw.EventSource(
    name="clicks",
    schema={"cid": uw.FieldType.INT, "ts": uw.FieldType.TIMESTAMP},
    timestamp="ts",
    entities=(customer,),
)
"""
VIEW = """
activity = uw.FeatureView(
    name="activity",
    entity=customer,
    source=clicks,
    features=(uw.Feature(name="n1h", aggregation=uw.Count(), window="1h"),),
)
"""


def write(directory: Path, text: str, name: str = "upwell.toml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


# ---- upwell.toml ------------------------------------------------------------------


def test_defaults_fill_everything_but_the_project_table(tmp_path: Path) -> None:
    write(tmp_path, "[project]\n")
    config = load_config(tmp_path, environ={})
    assert config.root == tmp_path.resolve()
    assert config.name == tmp_path.name
    assert config.definitions == tmp_path.resolve() / "features.py"
    assert config.data == tmp_path.resolve() / ".upwell"
    assert config.fsync is uw.Fsync.NEVER
    assert config.file == tmp_path.resolve() / "upwell.toml"


def test_values_are_read_and_paths_resolved_against_the_project(tmp_path: Path) -> None:
    elsewhere = tmp_path / "state"
    write(
        tmp_path,
        '[project]\nname = "shop"\ndefinitions = "defs/shop.py"\n'
        f'data = "{elsewhere.as_posix()}"\nfsync = "every_second"\n',
    )
    config = load_config(tmp_path, environ={})
    assert config.name == "shop"
    assert config.definitions == tmp_path.resolve() / "defs" / "shop.py"
    assert config.data == elsewhere
    assert config.fsync is uw.Fsync.EVERY_SECOND


@pytest.mark.parametrize(
    ("environ", "data", "fsync"),
    [
        pytest.param({"UPWELL_DATA": "other"}, "other", uw.Fsync.ALWAYS, id="relative-data"),
        pytest.param({"UPWELL_FSYNC": "never"}, "from-file", uw.Fsync.NEVER, id="fsync"),
        pytest.param(
            {"UPWELL_FSYNC": "EVERY_SECOND"},
            "from-file",
            uw.Fsync.EVERY_SECOND,
            id="fsync-any-case",
        ),
        pytest.param(
            {"UPWELL_DATA": "", "UPWELL_FSYNC": ""},
            "from-file",
            uw.Fsync.ALWAYS,
            id="empty-means-unset",
        ),
    ],
)
def test_environment_overrides_the_file(
    tmp_path: Path, environ: dict[str, str], data: str, fsync: uw.Fsync
) -> None:
    write(tmp_path, '[project]\ndata = "from-file"\nfsync = "always"\n')
    config = load_config(tmp_path, environ=environ)
    assert config.data == tmp_path.resolve() / data
    assert config.fsync is fsync


def test_the_file_is_checked_even_where_the_environment_overrides_it(tmp_path: Path) -> None:
    write(tmp_path, "[project]\ndata = 3\nfsync = 'sometimes'\n")
    environ = {"UPWELL_DATA": "x", "UPWELL_FSYNC": "always"}
    with pytest.raises(ConfigError, match=r"\[project\] data"):
        load_config(tmp_path, environ=environ)


def test_absolute_data_override(tmp_path: Path) -> None:
    write(tmp_path, "[project]\n")
    config = load_config(tmp_path, environ={"UPWELL_DATA": str(tmp_path / "abs")})
    assert config.data == tmp_path / "abs"


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        pytest.param(None, {}, ["no upwell.toml in", "upwell init"], id="missing-file"),
        pytest.param("[project\nname = 1", {}, ["is not valid TOML", "line 1"], id="bad-toml"),
        pytest.param(
            '[projet]\nname = "x"', {}, ["unknown tables or keys ['projet']"], id="unknown-table"
        ),
        pytest.param('name = "x"', {}, ["unknown tables or keys ['name']"], id="no-table"),
        pytest.param(
            "[project]\ndefintions = 'f.py'",
            {},
            ["unknown keys ['defintions']", "[project]"],
            id="typo-key",
        ),
        pytest.param(
            "[project]\nname = 3",
            {},
            ["[project] name", "non-empty string, got 3"],
            id="name-not-string",
        ),
        pytest.param("[project]\nname = ''", {}, ["[project] name"], id="empty-name"),
        pytest.param(
            "[project]\ndefinitions = 'features.txt'",
            {},
            ["'features.txt' is not a Python file"],
            id="not-python",
        ),
        pytest.param(
            "[project]\nfsync = 'sometimes'",
            {},
            [
                "[project] fsync",
                "'sometimes' is not a valid fsync policy",
                "['never', 'every_second', 'always']",
            ],
            id="bad-fsync",
        ),
        pytest.param(
            "[project]\n",
            {"UPWELL_FSYNC": "often"},
            ["environment variable UPWELL_FSYNC", "'often'"],
            id="bad-fsync-env",
        ),
    ],
)
def test_invalid_configuration_names_file_key_and_fix(
    tmp_path: Path, text: str | None, environ: dict[str, str], expected: list[str]
) -> None:
    if text is not None:
        write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path, environ=environ)
    message = str(caught.value)
    for part in expected:
        assert part in message
    assert "Fix:" in message
    if text is not None:
        assert str(tmp_path.resolve() / "upwell.toml") in message or "UPWELL_FSYNC" in message


# ---- definitions ------------------------------------------------------------------


def test_module_level_definitions_are_collected_in_order_once(tmp_path: Path) -> None:
    path = write(
        tmp_path, SOURCE_FILE + VIEW + "same_view = activity\nnot_a_definition = 3\n", "features.py"
    )
    found = load_definitions(path)
    assert [type(d).__name__ for d in found] == ["Entity", "EventSource", "FeatureView"]
    assert [getattr(d, "name", None) for d in found] == ["customer", "clicks", "activity"]
    assert validate(found).views["activity"].features[0].name == "n1h"


def test_a_definitions_list_takes_precedence(tmp_path: Path) -> None:
    path = write(tmp_path, SOURCE_FILE + VIEW + "definitions = [activity]\n", "features.py")
    found = load_definitions(path)
    assert [getattr(d, "name", None) for d in found] == ["activity"]


def test_loading_registers_nothing_globally(tmp_path: Path) -> None:
    path = write(tmp_path, SOURCE_FILE + "import clicks_helper\n" + VIEW, "my_defs.py")
    write(tmp_path, "VALUE = 1\n", "clicks_helper.py")
    path_before = list(sys.path)
    first = load_definitions(path)
    second = load_definitions(path)
    assert "my_defs" not in sys.modules
    assert sys.path == path_before
    # Each load imports the file afresh: new objects, equal definitions.
    assert first[2] is not second[2]
    assert first[2] == second[2]
    sys.modules.pop("clicks_helper", None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("x = 1\n", ["defines no entities"], id="nothing-defined"),
        pytest.param(
            "definitions = 'activity'\n",
            ["'definitions' is a str, not a list"],
            id="definitions-not-a-list",
        ),
        pytest.param(
            "\n\nraise RuntimeError('boom')\n", ["features.py:3", "RuntimeError: boom"], id="raises"
        ),
        pytest.param("def broken(:\n", ["features.py:1", "SyntaxError"], id="syntax"),
        pytest.param(
            "import no_such_module_here\n",
            ["ModuleNotFoundError", "no_such_module_here"],
            id="import",
        ),
    ],
)
def test_definitions_that_fail_to_load_raise_config_error(
    tmp_path: Path, text: str, expected: list[str]
) -> None:
    path = write(tmp_path, text, "features.py")
    with pytest.raises(ConfigError) as caught:
        load_definitions(path)
    for part in expected:
        assert part in str(caught.value)
    assert "features" not in sys.modules


def test_an_invalid_definition_raises_its_definition_error(tmp_path: Path) -> None:
    bad = VIEW.replace("uw.Count()", "uw.Mean('amount')")
    path = write(tmp_path, SOURCE_FILE + bad, "features.py")
    definitions = load_definitions(path)
    with pytest.raises(uw.DefinitionError) as caught:
        validate(definitions)
    assert "reads column 'amount'" in str(caught.value)
    path = write(
        tmp_path, SOURCE_FILE + VIEW.replace('window="1h"', 'window="soon"'), "features.py"
    )
    with pytest.raises(uw.DefinitionError, match="'soon' is not a duration"):
        load_definitions(path)


def test_missing_definitions_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_definitions(tmp_path / "features.py")


def test_the_init_template_defines_a_valid_set() -> None:
    registry = validate(load_definitions(TEMPLATE_DEFINITIONS))
    assert sorted(registry.sources) == ["payments"]
    assert sorted(registry.services) == ["payment_scoring"]
    assert registry.services["payment_scoring"].refs[-1] == "payment_risk.amount_vs_mean_7d"
