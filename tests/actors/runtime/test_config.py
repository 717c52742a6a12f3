"""RuntimeConfig from actorgrid.toml and ACTORGRID_* variables (actors/_runtime_config.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from actorgrid import RetryPolicyConfig, RuntimeConfig
from actorgrid.kernel import ConfigError, load_config

if TYPE_CHECKING:
    from pathlib import Path

TOML = """
[kernel]
strict_messages = true

[storage]
url = "sqlite+aiosqlite:///./data/app.db"

[retry]
base_wait_minutes = 10
early_wait_minutes = 5
max_retries = 4

[gate]
flush_interval = 0.1

[pattern]
revise_k = 2

[analytics]
flush_interval = 5.0
minute_retention_seconds = 3600
"""


class TestRuntimeConfigFile:
    def test_sections_and_environment(self, tmp_path: Path) -> None:
        """Every section decodes; an environment variable overrides the file."""
        path = tmp_path / "actorgrid.toml"
        path.write_text(TOML)
        environ = {
            "ACTORGRID_RETRY__BASE_RETRIES": "1",
            "ACTORGRID_ANALYTICS__MAX_ERROR_TYPES": "7",
        }
        config = load_config(RuntimeConfig, path, environ=environ)
        assert config.kernel.strict_messages
        assert config.storage.url == "sqlite+aiosqlite:///./data/app.db"
        assert config.retry == RetryPolicyConfig(
            base_wait_minutes=10, early_wait_minutes=5, max_retries=4, base_retries=1
        )
        assert config.gate.flush_interval == 0.1
        assert config.pattern.revise_k == 2
        assert config.broker == RuntimeConfig().broker
        analytics = config.analytics
        assert (analytics.flush_interval, analytics.minute_retention_seconds) == (5.0, 3600)
        assert analytics.max_error_types == 7
        assert analytics.hour_retention_seconds == 90 * 24 * 3600

    @pytest.mark.parametrize(
        ("text", "field"),
        [
            ("[retry]\nmax_retries = 1\nbase_retries = 2\n", "retry"),
            ("[gate]\nflush_interval = -1\n", "gate"),
            ("[storage]\nmax_batch_ops = 'many'\n", "storage.max_batch_ops"),
            ("[broker]\nunknown = 1\n", "broker.unknown"),
            ("[broker]\nscheduled_page = 0\n", "broker"),
            ("[analytics]\nflush_interval = 0\n", "analytics"),
            ("[analytics]\nmax_points = 1.5\n", "analytics.max_points"),
            ("[analytics]\nnope = 1\n", "analytics.nope"),
            ("[broker]\nmax_parked = -1\n", "broker"),
            ("[broker]\ncontrol_timeout = 0\n", "broker"),
            ("[storage]\nmax_pending_ops = 0\n", "storage"),
            ("[pattern]\nglimpse_min_similarity = 1.5\n", "pattern"),
        ],
    )
    def test_bad_values_name_the_file_and_field(
        self, tmp_path: Path, text: str, field: str
    ) -> None:
        """A bad value raises ConfigError naming the file and the field."""
        path = tmp_path / "actorgrid.toml"
        path.write_text(text)
        with pytest.raises(ConfigError) as info:
            load_config(RuntimeConfig, path, environ={})
        assert str(path) in str(info.value)
        assert field in str(info.value)
