"""``[alerts]``: the defaults (those of the shipped Prometheus rules), the file and the
environment, and bad values as a typed ``ConfigError`` naming the setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from actorgrid import ConfigError, InvalidArgument
from actorgrid.daemon import config_sources, load_daemon_config
from actorgrid.daemon.alerts import AlertSettings

RULES = Path(__file__).resolve().parents[3] / "docs" / "alerts" / "actorgrid.yml"


def test_defaults_match_the_shipped_rules() -> None:
    """The window, the retry rate and its minimum, the dead letters, the writer lag and
    the readiness grace of the Prometheus rules are the daemon's defaults."""
    s = AlertSettings()
    text = RULES.read_text(encoding="utf-8")
    assert s.enabled
    assert set(re.findall(r"\[(\d+)m\]", text)) == {str(int(s.window // 60))}
    assert f") > {s.retry_rate}\n" in text
    assert f") >= {s.retry_min_attempts}\n" in text
    assert f") > {s.dead_letters}\n" in text
    assert f"(actorgrid_writer_lag_seconds) > {s.writer_lag:g}\n" in text
    assert f"[10m]) > {s.restarts}\n" in text
    not_ready = text.split("alert: ActorgridNotReady")[1]
    assert f"for: {int(s.not_ready_grace // 60)}m" in not_ready


def test_from_the_file_and_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "actorgrid.toml"
    path.write_text("[alerts]\nretry_rate = 0.25\nwindow = 300\n", encoding="utf-8")
    config = load_daemon_config(path, environ={"ACTORGRID_ALERTS__DEAD_LETTERS": "3"})
    assert (config.alerts.retry_rate, config.alerts.window, config.alerts.dead_letters) == (
        0.25,
        300.0,
        3,
    )
    sources = {v.key: v.source for v in config_sources(path, environ={})}
    assert sources["alerts.retry_rate"] == f"file {path}"
    assert sources["alerts.writer_lag"] == "default"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("retry_rate", "1.5", "a share from 0 to 1"),
        ("retry_rate", "-0.1", "a share from 0 to 1"),
        ("retry_min_attempts", "0", "a count >= 1"),
        ("dead_letters", "-1", "a count >= 0"),
        ("writer_lag", "0", "a number of seconds > 0"),
        ("restarts", "-1", "a count >= 0"),
        ("not_ready_grace", "-5", "a number of seconds >= 0"),
        ("interval", "0", "a number of seconds > 0"),
        ("window", "10", "seconds >= alerts.interval (15)"),
    ],
)
def test_a_bad_value_is_a_config_error(field: str, value: str, expected: str) -> None:
    variable = f"ACTORGRID_ALERTS__{field.upper()}"
    with pytest.raises(ConfigError) as caught:
        load_daemon_config(environ={variable: value})
    message = str(caught.value)
    assert variable in message
    assert f"invalid alerts.{field}" in message
    assert expected in message


def test_a_wrong_type_or_an_unknown_setting_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"alerts\.dead_letters"):
        load_daemon_config(environ={"ACTORGRID_ALERTS__DEAD_LETTERS": "many"})
    path = tmp_path / "actorgrid.toml"
    path.write_text("[alerts]\nretry_threshold = 0.2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="retry_threshold"):
        load_daemon_config(path, environ={})


def test_built_directly_a_bad_value_raises_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match=r"alerts\.retry_rate"):
        AlertSettings(retry_rate=2.0)
    with pytest.raises(InvalidArgument, match=r"alerts\.writer_lag"):
        AlertSettings(writer_lag=float("nan"))
