"""RetryPolicyConfig: defaults, validation on construction and on msgspec decode."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from actorgrid import ActorsError, InvalidRetryPolicy, RetryPolicyConfig

INVALID: list[tuple[dict[str, Any], str]] = [
    ({"base_wait_minutes": -1.0}, "base_wait_minutes"),
    ({"early_wait_minutes": -0.5}, "early_wait_minutes"),
    ({"max_wait_minutes": -1.0}, "max_wait_minutes"),
    ({"base_retries": -1}, "base_retries"),
    ({"max_retries": -1, "base_retries": 0}, "max_retries"),
    ({"base_retries": 3, "max_retries": 2}, "max_retries"),
    ({"backoff_factor": 0.5}, "backoff_factor"),
    ({"backoff": "exponential", "max_wait_minutes": 10.0}, "max_wait_minutes"),
    ({"budget_retries": 0}, "budget_retries"),
    ({"budget_window_minutes": 0.0}, "budget_window_minutes"),
    ({"early_wait_minutes": 31.0}, "early_wait_minutes"),
    ({"backoff": "linear"}, "backoff"),
    ({"jitter": "half"}, "jitter"),
    ({"base_wait_minutes": float("nan")}, "base_wait_minutes"),
    ({"base_wait_minutes": float("inf")}, "base_wait_minutes"),
    ({"base_retries": 2.5}, "base_retries"),
    ({"base_retries": True}, "base_retries"),
    ({"base_wait_minutes": "30"}, "base_wait_minutes"),
]


class TestDefaults:
    """The seed's defaults and the options beyond it."""

    def test_seed_defaults(self) -> None:
        """The defaults are the seed's windows: 30 min, 2 base retries, 20 min early, 5 max."""
        config = RetryPolicyConfig()
        assert (config.base_wait_minutes, config.base_retries) == (30, 2)
        assert (config.early_wait_minutes, config.max_retries) == (20, 5)
        assert (config.backoff, config.jitter, config.budget_retries) == ("fixed", "none", None)
        assert (config.backoff_factor, config.max_wait_minutes) == (2.0, 24 * 60)
        assert config.budget_window_minutes == 60

    def test_frozen_and_keyword_only(self) -> None:
        """A config cannot be changed after construction, nor built positionally."""
        config = RetryPolicyConfig()
        with pytest.raises(AttributeError):
            config.base_retries = 3  # type: ignore[misc]
        with pytest.raises(TypeError):
            RetryPolicyConfig(30.0)  # type: ignore[call-arg]

    def test_edge_values_are_valid(self) -> None:
        """Zero waits, zero retries and early == base are accepted."""
        RetryPolicyConfig(base_wait_minutes=0, early_wait_minutes=0, base_retries=0, max_retries=0)
        RetryPolicyConfig(base_wait_minutes=20, early_wait_minutes=20)
        RetryPolicyConfig(backoff="exponential", max_wait_minutes=30, backoff_factor=1)
        RetryPolicyConfig(budget_retries=1, budget_window_minutes=0.5)


class TestDirectConstruction:
    """Invalid values raise InvalidRetryPolicy naming the field."""

    @pytest.mark.parametrize(("fields", "field"), INVALID)
    def test_invalid_value_raises(self, fields: dict[str, Any], field: str) -> None:
        """Each invalid value raises InvalidRetryPolicy for the right field."""
        with pytest.raises(InvalidRetryPolicy) as info:
            RetryPolicyConfig(**fields)
        assert info.value.field == field
        assert repr(field) in str(info.value)
        assert isinstance(info.value, ActorsError)
        assert isinstance(info.value, ValueError)

    def test_early_wait_above_base_wait_is_rejected(self) -> None:
        """Shortening base_wait below the default early_wait asks for early_wait too."""
        with pytest.raises(InvalidRetryPolicy, match=r"must be <= base_wait_minutes \(10\)"):
            RetryPolicyConfig(base_wait_minutes=10)
        assert RetryPolicyConfig(base_wait_minutes=10, early_wait_minutes=5).early_wait_minutes == 5

    def test_max_wait_only_checked_for_exponential(self) -> None:
        """A fixed backoff ignores max_wait_minutes below base_wait_minutes."""
        assert RetryPolicyConfig(max_wait_minutes=1).max_wait_minutes == 1


class TestDecode:
    """Decoding from TOML, JSON or a dict gives a clear error naming the field."""

    @pytest.mark.parametrize(("fields", "field"), INVALID)
    def test_convert_names_the_field(self, fields: dict[str, Any], field: str) -> None:
        """msgspec.convert raises a ValidationError that names the field."""
        with pytest.raises(msgspec.ValidationError) as info:
            msgspec.convert(fields, RetryPolicyConfig)
        assert field in str(info.value)

    @pytest.mark.parametrize(("fields", "field"), INVALID)
    def test_from_builtins_raises_invalid_retry_policy(
        self, fields: dict[str, Any], field: str
    ) -> None:
        """from_builtins turns every decode failure into InvalidRetryPolicy for the field."""
        with pytest.raises(InvalidRetryPolicy) as info:
            RetryPolicyConfig.from_builtins(fields)
        assert info.value.field == field

    def test_toml_cross_field_error_names_field_and_path(self) -> None:
        """A cross-field error inside a nested TOML table names the field and its path."""

        class Settings(msgspec.Struct):
            retry: RetryPolicyConfig

        text = b"[retry]\nbase_retries = 4\nmax_retries = 3\n"
        with pytest.raises(msgspec.ValidationError) as info:
            msgspec.toml.decode(text, type=Settings)
        message = str(info.value)
        assert "'max_retries'" in message
        assert "$.retry" in message
        assert isinstance(info.value.__cause__, InvalidRetryPolicy)

    def test_toml_range_error_names_field(self) -> None:
        """A negative wait in TOML is rejected with the field's path."""
        with pytest.raises(msgspec.ValidationError, match=r"\$\.early_wait_minutes"):
            msgspec.toml.decode(b"early_wait_minutes = -5\n", type=RetryPolicyConfig)

    def test_valid_toml_round_trips(self) -> None:
        """A valid config decodes from TOML and survives JSON and builtins round trips unchanged."""
        config = RetryPolicyConfig(
            backoff="exponential",
            jitter="equal",
            budget_retries=10,
            base_wait_minutes=5,
            early_wait_minutes=2.5,
        )
        text = (
            b'backoff = "exponential"\njitter = "equal"\nbudget_retries = 10\n'
            b"base_wait_minutes = 5\nearly_wait_minutes = 2.5\n"
        )
        assert msgspec.toml.decode(text, type=RetryPolicyConfig) == config
        assert msgspec.json.decode(msgspec.json.encode(config), type=RetryPolicyConfig) == config
        assert RetryPolicyConfig.from_builtins(msgspec.to_builtins(config)) == config

    def test_from_builtins_fills_defaults_and_ignores_unknown_keys(self) -> None:
        """A partial mapping (a seed snapshot) gets defaults; unknown keys are ignored."""
        config = RetryPolicyConfig.from_builtins({"base_wait_minutes": 40, "legacy": 1})
        assert config == RetryPolicyConfig(base_wait_minutes=40)
