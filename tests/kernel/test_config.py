"""Tests for load_config: TOML + environment into msgspec Structs, with precise errors."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec
import pytest

from actorgrid.kernel import ConfigError, load_config

if TYPE_CHECKING:
    from pathlib import Path


class Backoff(enum.Enum):
    FIXED = "fixed"
    EXPONENTIAL = "exponential"


class Retry(msgspec.Struct, frozen=True, kw_only=True):
    base_wait_minutes: float = 30.0
    base_retries: Annotated[int, msgspec.Meta(ge=0)] = 2
    max_retries: int = 5
    enabled: bool = True
    backoff: Backoff = Backoff.FIXED
    jitter: Literal["none", "full", "equal"] = "none"
    budget: int | None = None
    topics: list[str] = []
    ports: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.max_retries < self.base_retries:
            raise ValueError("max_retries must be >= base_retries")


class Store(msgspec.Struct, frozen=True, kw_only=True):
    url: str = "sqlite+aiosqlite:///./actorgrid.db"
    pool: Pool = msgspec.field(default_factory=lambda: Pool())


class Pool(msgspec.Struct, frozen=True, kw_only=True):
    size: int = 1
    timeout_seconds: float = 5.0


class Config(msgspec.Struct, frozen=True, kw_only=True):
    name: str = "grid"
    debug: bool = False
    retry: Retry = msgspec.field(default_factory=Retry)
    store: Store = msgspec.field(default_factory=Store)
    limits: dict[str, int] = {}
    workers: list[Worker] = []


class Worker(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    concurrency: int = 1


class Required(msgspec.Struct, frozen=True, kw_only=True):
    token: str
    port: int = 8080


class Exploding(msgspec.Struct, frozen=True, kw_only=True):
    value: int = 0

    def __post_init__(self) -> None:
        if self.value == 13:
            raise RuntimeError("unlucky value")


ENUM_LINEAR = "expected one of 'fixed', 'exponential', got str 'linear'"
LITERAL_HALF = "expected one of 'equal', 'full', 'none', got str 'half'"


def write(tmp_path: Path, text: str, name: str = "actorgrid.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


class TestFile:
    def test_defaults_without_file_or_environment(self) -> None:
        """With no file and an empty environment the Struct's defaults are returned."""
        assert load_config(Config, environ={}) == Config()

    def test_values_and_nested_sections_are_decoded(self, tmp_path: Path) -> None:
        """Top-level keys, tables, nested tables and arrays of tables decode into Structs."""
        path = write(
            tmp_path,
            """
            name = "prod"
            debug = true
            limits = {a = 1, b = 2}
            [retry]
            base_wait_minutes = 10
            backoff = "exponential"
            topics = ["orders", "mail"]
            [store.pool]
            size = 4
            [[workers]]
            name = "w1"
            [[workers]]
            name = "w2"
            concurrency = 3
            """,
        )
        config = load_config(Config, path, environ={})
        assert config.name == "prod"
        assert config.debug is True
        assert config.retry.base_wait_minutes == 10.0
        assert config.retry.backoff is Backoff.EXPONENTIAL
        assert config.retry.topics == ["orders", "mail"]
        assert config.retry.max_retries == 5
        assert config.store.pool == Pool(size=4)
        assert config.limits == {"a": 1, "b": 2}
        assert config.workers == [Worker(name="w1"), Worker(name="w2", concurrency=3)]

    def test_path_like_is_accepted(self, tmp_path: Path) -> None:
        """A pathlib.Path and a str path give the same result."""
        path = write(tmp_path, 'name = "a"\n')
        assert load_config(Config, path, environ={}) == load_config(Config, str(path), environ={})

    def test_section_decodes_one_table(self, tmp_path: Path) -> None:
        """``section`` decodes only that (dotted) table and ignores the rest of the file."""
        path = write(tmp_path, "other = 1\n[retry]\nbase_retries = 1\n[store.pool]\nsize = 9\n")
        assert load_config(Retry, path, section="retry", environ={}) == Retry(base_retries=1)
        assert load_config(Pool, path, section="store.pool", environ={}) == Pool(size=9)

    def test_missing_section_gives_defaults(self, tmp_path: Path) -> None:
        """A section absent from the file is all defaults."""
        path = write(tmp_path, 'name = "x"\n')
        assert load_config(Retry, path, section="retry", environ={}) == Retry()


class TestEnvironment:
    def test_top_level_and_nested_overrides(self) -> None:
        """ACTORGRID_<FIELD> and ACTORGRID_<SECTION>__<FIELD> set fields at any depth."""
        env = {
            "ACTORGRID_NAME": "from-env",
            "ACTORGRID_RETRY__BASE_WAIT_MINUTES": "2.5",
            "ACTORGRID_STORE__POOL__SIZE": "8",
        }
        config = load_config(Config, environ=env)
        assert config.name == "from-env"
        assert config.retry.base_wait_minutes == 2.5
        assert config.store.pool.size == 8

    def test_environment_wins_over_file(self, tmp_path: Path) -> None:
        """An environment variable overrides the file; the file's other keys are kept."""
        path = write(tmp_path, "[retry]\nbase_retries = 1\nmax_retries = 9\n")
        config = load_config(Config, path, environ={"ACTORGRID_RETRY__MAX_RETRIES": "7"})
        assert config.retry.base_retries == 1
        assert config.retry.max_retries == 7

    def test_names_are_case_insensitive(self) -> None:
        """Prefix and field names match regardless of case."""
        config = load_config(Config, environ={"actorgrid_Retry__Base_Retries": "0"})
        assert config.retry.base_retries == 0

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("true", True),
            ("TRUE", True),
            ("1", True),
            ("yes", True),
            ("on", True),
            ("false", False),
            ("0", False),
            ("No", False),
            ("off", False),
        ],
    )
    def test_booleans(self, raw: str, expected: bool) -> None:
        """Booleans accept true/false, 1/0, yes/no and on/off in any case."""
        assert load_config(Config, environ={"ACTORGRID_DEBUG": raw}).debug is expected

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [("a,b , c", ["a", "b", "c"]), ('["a", "b,c"]', ["a", "b,c"]), ("", [])],
    )
    def test_string_lists(self, raw: str, expected: list[str]) -> None:
        """Lists take a comma-separated string or a JSON array; empty means empty."""
        config = load_config(Config, environ={"ACTORGRID_RETRY__TOPICS": raw})
        assert config.retry.topics == expected

    def test_int_tuple_items_are_converted(self) -> None:
        """Comma-separated items are converted to the item type."""
        config = load_config(Config, environ={"ACTORGRID_RETRY__PORTS": "80, 443"})
        assert config.retry.ports == (80, 443)

    def test_optional_int_and_none(self) -> None:
        """An optional field takes a value, and none/null sets it to None."""
        assert load_config(Config, environ={"ACTORGRID_RETRY__BUDGET": "3"}).retry.budget == 3
        env = {"ACTORGRID_RETRY__BUDGET": "null"}
        path_config = load_config(Config, environ=env)
        assert path_config.retry.budget is None

    def test_struct_and_dict_from_json_object(self) -> None:
        """A Struct or dict field takes a JSON object."""
        env = {"ACTORGRID_STORE__POOL": '{"size": 3}', "ACTORGRID_LIMITS": '{"x": 1}'}
        config = load_config(Config, environ=env)
        assert config.store.pool == Pool(size=3)
        assert config.limits == {"x": 1}

    def test_deeper_variable_applies_over_json_object(self) -> None:
        """A nested variable overrides the same field of a JSON object set higher up."""
        env = {"ACTORGRID_STORE__POOL": '{"size": 3}', "ACTORGRID_STORE__POOL__SIZE": "4"}
        assert load_config(Config, environ=env).store.pool.size == 4

    def test_dict_entry_by_key(self) -> None:
        """A dict field's entries can be set one key at a time (keys lower-cased)."""
        config = load_config(Config, environ={"ACTORGRID_LIMITS__ORDERS": "12"})
        assert config.limits == {"orders": 12}

    def test_enum_and_literal(self) -> None:
        """Enum and Literal fields take their string values."""
        env = {"ACTORGRID_RETRY__BACKOFF": "exponential", "ACTORGRID_RETRY__JITTER": "full"}
        config = load_config(Config, environ=env)
        assert config.retry.backoff is Backoff.EXPONENTIAL
        assert config.retry.jitter == "full"

    def test_other_prefixes_are_ignored(self) -> None:
        """Variables without the prefix, and other prefixes, change nothing."""
        env = {"HOME": "/root", "ACTORGRIDX": "1", "OTHER_NAME": "x"}
        assert load_config(Config, environ=env) == Config()

    def test_custom_prefix(self) -> None:
        """``env_prefix`` selects which variables apply."""
        env = {"APP_NAME": "mine", "ACTORGRID_NAME": "theirs"}
        assert load_config(Config, env_prefix="APP_", environ=env).name == "mine"

    def test_section_variables(self, tmp_path: Path) -> None:
        """With a section, only <PREFIX><SECTION>__<FIELD> variables apply to it."""
        path = write(tmp_path, "[retry]\nbase_retries = 1\n")
        env = {"ACTORGRID_RETRY__BASE_RETRIES": "0", "ACTORGRID_NAME": "ignored"}
        assert load_config(Retry, path, section="retry", environ=env).base_retries == 0

    def test_reads_os_environ_by_default(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without ``environ`` the process environment is read."""
        monkeypatch.setenv("ACTORGRID_NAME", "process")
        assert load_config(Config).name == "process"


class TestFileErrors:
    def test_missing_file(self, tmp_path: Path) -> None:
        """A path that does not exist raises ConfigError naming it."""
        path = tmp_path / "absent.toml"
        with pytest.raises(ConfigError) as info:
            load_config(Config, path, environ={})
        assert info.value.source == str(path)
        assert info.value.field is None
        assert info.value.problem == "file not found"

    def test_directory_is_not_a_file(self, tmp_path: Path) -> None:
        """A directory given as the file raises ConfigError."""
        with pytest.raises(ConfigError, match="cannot read file"):
            load_config(Config, tmp_path, environ={})

    def test_syntax_error_names_file_and_line(self, tmp_path: Path) -> None:
        """A TOML syntax error names the file and the line."""
        path = write(tmp_path, 'name = "x"\n\n[retry\n')
        with pytest.raises(ConfigError) as info:
            load_config(Config, path, environ={})
        assert info.value.source == str(path)
        assert "line 3" in info.value.problem
        assert str(path) in str(info.value)

    def test_not_utf8(self, tmp_path: Path) -> None:
        """A file that is not UTF-8 raises ConfigError."""
        path = tmp_path / "bad.toml"
        path.write_bytes(b'name = "\xff"\n')
        with pytest.raises(ConfigError, match="not valid UTF-8"):
            load_config(Config, path, environ={})

    @pytest.mark.parametrize(
        ("text", "field", "problem"),
        [
            ("[retry]\nbase_wait_minutes = 'abc'\n", "retry.base_wait_minutes", "expected float"),
            ("debug = 'yes'\n", "debug", "expected bool, got str 'yes'"),
            ("[retry]\nmax_retries = 1.5\n", "retry.max_retries", "expected int, got float 1.5"),
            ("[retry]\nmax_retries = '5'\n", "retry.max_retries", "expected int, got str '5'"),
            ("[retry]\nbase_retries = -1\n", "retry.base_retries", "expected int >= 0, got int -1"),
            (
                "[retry]\nbackoff = 'linear'\n",
                "retry.backoff",
                ENUM_LINEAR,
            ),
            (
                "[retry]\njitter = 'half'\n",
                "retry.jitter",
                LITERAL_HALF,
            ),
            ("[retry]\ntopics = [1]\n", "retry.topics[0]", "expected str, got int 1"),
            ("retry = 5\n", "retry", "expected object, got int 5"),
            ("[[workers]]\nconcurrency = 2\n", "workers[0]", "missing required field 'name'"),
            ("[store.pool]\nsize = 'big'\n", "store.pool.size", "expected int, got str 'big'"),
        ],
    )
    def test_bad_values(self, tmp_path: Path, text: str, field: str, problem: str) -> None:
        """A wrong value in the file names the file, the dotted field and the expectation."""
        path = write(tmp_path, text)
        with pytest.raises(ConfigError) as info:
            load_config(Config, path, environ={})
        assert info.value.source == str(path)
        assert info.value.field == field
        assert problem in info.value.problem

    @pytest.mark.parametrize(
        ("text", "field"),
        [
            ("nmae = 'x'\n", "nmae"),
            ("[retry]\nbase_wait = 3\n", "retry.base_wait"),
            ("[store.pool]\nsize = 1\nmax = 2\n", "store.pool.max"),
            ("[[workers]]\nname = 'a'\nthreads = 2\n", "workers[0].threads"),
            ("[unknown_section]\na = 1\n", "unknown_section"),
        ],
    )
    def test_unknown_keys(self, tmp_path: Path, text: str, field: str) -> None:
        """A key that names no field is an error naming it, at any depth."""
        path = write(tmp_path, text)
        with pytest.raises(ConfigError) as info:
            load_config(Config, path, environ={})
        assert info.value.field == field
        assert info.value.problem.startswith("unknown field")

    def test_post_init_value_error(self, tmp_path: Path) -> None:
        """A ValueError from __post_init__ names the file and the Struct's path."""
        path = write(tmp_path, "[retry]\nbase_retries = 4\nmax_retries = 3\n")
        with pytest.raises(ConfigError) as info:
            load_config(Config, path, environ={})
        assert info.value.source == str(path)
        assert info.value.field == "retry"
        assert info.value.problem == "max_retries must be >= base_retries"

    def test_post_init_other_exception(self, tmp_path: Path) -> None:
        """Any other exception from __post_init__ is a ConfigError naming the source."""
        path = write(tmp_path, "value = 13\n")
        with pytest.raises(ConfigError) as info:
            load_config(Exploding, path, environ={})
        assert info.value.source == str(path)
        assert info.value.problem == "RuntimeError: unlucky value"
        assert isinstance(info.value.__cause__, RuntimeError)

    def test_missing_required_field(self, tmp_path: Path) -> None:
        """A required field absent from file and environment is named."""
        path = write(tmp_path, "port = 1\n")
        with pytest.raises(ConfigError) as info:
            load_config(Required, path, environ={})
        assert info.value.source == str(path)
        assert info.value.problem == "missing required field 'token'"

    def test_required_field_from_environment(self) -> None:
        """A required field may come from the environment alone."""
        config = load_config(Required, environ={"ACTORGRID_TOKEN": "t"})
        assert config == Required(token="t")

    def test_section_that_is_not_a_table(self, tmp_path: Path) -> None:
        """A section whose value is not a table is an error naming it."""
        path = write(tmp_path, "retry = 3\n")
        with pytest.raises(ConfigError) as info:
            load_config(Retry, path, section="retry", environ={})
        assert info.value.field == "retry"
        assert info.value.problem == "expected a table, got int 3"

    def test_section_errors_carry_the_section_path(self, tmp_path: Path) -> None:
        """Field paths of a section load start with the section."""
        path = write(tmp_path, "[store.pool]\nsize = 'x'\n")
        with pytest.raises(ConfigError) as info:
            load_config(Pool, path, section="store.pool", environ={})
        assert info.value.field == "store.pool.size"

    def test_not_a_struct_type(self) -> None:
        """Only msgspec Struct types can be loaded."""
        with pytest.raises(TypeError):
            load_config(dict, environ={})  # type: ignore[type-var]


class TestEnvironmentErrors:
    @pytest.mark.parametrize(
        ("name", "raw", "field", "problem"),
        [
            ("ACTORGRID_DEBUG", "maybe", "debug", "expected bool, got str 'maybe'"),
            (
                "ACTORGRID_RETRY__BASE_WAIT_MINUTES",
                "abc",
                "retry.base_wait_minutes",
                "expected float, got str 'abc'",
            ),
            ("ACTORGRID_RETRY__MAX_RETRIES", "2.5", "retry.max_retries", "expected int"),
            ("ACTORGRID_RETRY__BASE_RETRIES", "-1", "retry.base_retries", "expected int >= 0"),
            ("ACTORGRID_RETRY__PORTS", "80,x", "retry.ports[1]", "expected int, got str 'x'"),
            (
                "ACTORGRID_RETRY__BACKOFF",
                "linear",
                "retry.backoff",
                ENUM_LINEAR,
            ),
            ("ACTORGRID_RETRY__BUDGET", "lots", "retry.budget", "expected int | null"),
            ("ACTORGRID_STORE__POOL__SIZE", "", "store.pool.size", "expected int, got str ''"),
            ("ACTORGRID_LIMITS__A", "x", "limits.a", "expected int, got str 'x'"),
        ],
    )
    def test_bad_values(self, name: str, raw: str, field: str, problem: str) -> None:
        """A bad environment value names the variable, the dotted field and the expectation."""
        with pytest.raises(ConfigError) as info:
            load_config(Config, environ={name: raw})
        assert info.value.source == f"environment variable {name}"
        assert info.value.field == field
        assert problem in info.value.problem

    def test_bad_value_overriding_a_good_file(self, tmp_path: Path) -> None:
        """When the environment overrides a good file value, the error names the variable."""
        path = write(tmp_path, "[retry]\nmax_retries = 4\n")
        env = {"ACTORGRID_RETRY__MAX_RETRIES": "four"}
        with pytest.raises(ConfigError) as info:
            load_config(Config, path, environ=env)
        assert info.value.source == "environment variable ACTORGRID_RETRY__MAX_RETRIES"

    def test_post_init_failure_caused_by_environment(self) -> None:
        """A __post_init__ check failing because of a variable names that variable."""
        env = {"ACTORGRID_RETRY__MAX_RETRIES": "1"}
        with pytest.raises(ConfigError) as info:
            load_config(Config, environ=env)
        assert info.value.source == "environment variable ACTORGRID_RETRY__MAX_RETRIES"
        assert info.value.field == "retry"

    def test_post_init_failure_from_file_and_environment(self, tmp_path: Path) -> None:
        """A cross-field failure mixing file and environment names both."""
        path = write(tmp_path, "[retry]\nbase_retries = 4\n")
        env = {"ACTORGRID_RETRY__MAX_RETRIES": "3"}
        with pytest.raises(ConfigError) as info:
            load_config(Config, path, environ=env)
        assert info.value.source == (
            f"{path} with environment variable ACTORGRID_RETRY__MAX_RETRIES"
        )

    def test_post_init_other_exception(self) -> None:
        """A non-validation exception from __post_init__ is still a ConfigError."""
        with pytest.raises(ConfigError, match="RuntimeError: unlucky value"):
            load_config(Exploding, environ={"ACTORGRID_VALUE": "13"})

    @pytest.mark.parametrize(
        ("name", "field"),
        [
            ("ACTORGRID_NMAE", "nmae"),
            ("ACTORGRID_RETRY__BASE_WAIT", "retry.base_wait"),
            ("ACTORGRID_STORE__POOL__MAX", "store.pool.max"),
        ],
    )
    def test_unknown_variable(self, name: str, field: str) -> None:
        """A variable under the prefix that names no field is an error naming it."""
        with pytest.raises(ConfigError) as info:
            load_config(Config, environ={name: "1"})
        assert info.value.source == f"environment variable {name}"
        assert info.value.field == field
        assert info.value.problem.startswith("unknown field")

    def test_nesting_below_a_scalar(self) -> None:
        """A nested variable below a scalar field is an error."""
        with pytest.raises(ConfigError) as info:
            load_config(Config, environ={"ACTORGRID_NAME__FIRST": "x"})
        assert info.value.field == "name"
        assert "not a table" in info.value.problem

    @pytest.mark.parametrize("name", ["ACTORGRID_", "ACTORGRID_RETRY__", "ACTORGRID_RETRY____X"])
    def test_malformed_names(self, name: str) -> None:
        """Empty name segments are errors."""
        with pytest.raises(ConfigError, match="malformed name"):
            load_config(Config, environ={name: "1"})

    def test_same_field_twice(self) -> None:
        """Two variables that differ only in case are ambiguous."""
        env = {"ACTORGRID_NAME": "a", "actorgrid_name": "b"}
        with pytest.raises(ConfigError, match="also set by"):
            load_config(Config, environ=env)

    @pytest.mark.parametrize(
        ("name", "raw", "problem"),
        [
            ("ACTORGRID_STORE__POOL", "{size: 1}", "expected a JSON object, got invalid JSON"),
            ("ACTORGRID_RETRY__TOPICS", '["a",', "expected a JSON array, got invalid JSON"),
        ],
    )
    def test_invalid_json(self, name: str, raw: str, problem: str) -> None:
        """Malformed JSON for a Struct or list field is an error."""
        with pytest.raises(ConfigError) as info:
            load_config(Config, environ={name: raw})
        assert problem in info.value.problem

    def test_unknown_key_in_json_object(self) -> None:
        """A JSON object with a key that names no field is an error naming it."""
        with pytest.raises(ConfigError) as info:
            load_config(Config, environ={"ACTORGRID_STORE__POOL": '{"sise": 1}'})
        assert info.value.source == "environment variable ACTORGRID_STORE__POOL"
        assert info.value.field == "store.pool.sise"

    def test_errors_change_nothing(self, tmp_path: Path) -> None:
        """A failed load leaves the environment mapping untouched."""
        env = {"ACTORGRID_DEBUG": "maybe"}
        with pytest.raises(ConfigError):
            load_config(Config, environ=env)
        assert env == {"ACTORGRID_DEBUG": "maybe"}

    def test_message_names_source_field_and_problem(self) -> None:
        """str(ConfigError) reads 'source: field: problem'."""
        with pytest.raises(ConfigError) as info:
            load_config(Config, environ={"ACTORGRID_RETRY__MAX_RETRIES": "x"})
        assert str(info.value) == (
            "environment variable ACTORGRID_RETRY__MAX_RETRIES: retry.max_retries: "
            "expected int, got str 'x'"
        )
