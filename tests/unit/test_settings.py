"""Settings: every STREAMER_* variable parses, and a bad one is one line naming the fix."""

from __future__ import annotations

import pytest

from streamer.settings import Settings, SettingsError


def test_defaults_are_valid() -> None:
    s = Settings.from_env({})
    assert (s.training, s.batch_max, s.topic_prefix, s.session_timeout_s) == ("on", 1000, "", 10.0)


def test_runtime_settings_parse() -> None:
    s = Settings.from_env({"STREAMER_TRAINING": "off", "STREAMER_BATCH_MAX": "250",
                           "STREAMER_BATCH_WAIT_S": "0.2", "STREAMER_TOPIC_PREFIX": "staging.",
                           "STREAMER_CACHE_BORROWERS": "10", "STREAMER_SESSION_TIMEOUT_S": "30",
                           "STREAMER_LOG_LEVEL": "debug", "STREAMER_WEB_PORT": "0"})
    assert s.training == "off" and s.batch_max == 250 and s.batch_wait_s == 0.2
    assert s.topic_prefix == "staging." and s.web_port == 0 and s.log_level == "debug"


@pytest.mark.parametrize("env, names", [
    ({"STREAMER_TRAINING": "maybe"}, "STREAMER_TRAINING"),
    ({"STREAMER_BATCH_MAX": "0"}, "STREAMER_BATCH_MAX"),
    ({"STREAMER_BATCH_MAX": "many"}, "STREAMER_BATCH_MAX"),
    ({"STREAMER_BATCH_WAIT_S": "-0.1"}, "STREAMER_BATCH_WAIT_S"),
    ({"STREAMER_FAUST_CYTHON": "yes"}, "STREAMER_FAUST_CYTHON"),
    ({"STREAMER_STREAM_BUFFER_MAXSIZE": "0"}, "STREAMER_STREAM_BUFFER_MAXSIZE"),
    ({"STREAMER_MAX_POLL_RECORDS": "-1"}, "STREAMER_MAX_POLL_RECORDS"),
    ({"STREAMER_SESSION_TIMEOUT_S": "2"}, "STREAMER_SESSION_TIMEOUT_S"),
    ({"STREAMER_METRICS_ADDR": "9400"}, "STREAMER_METRICS_ADDR"),
    ({"STREAMER_METRICS_ADDR": "localhost:http"}, "STREAMER_METRICS_ADDR"),
    ({"STREAMER_WEB_PORT": "70000"}, "STREAMER_WEB_PORT"),
    ({"STREAMER_BOOTSTRAP_SERVERS": "kafka1"}, "STREAMER_BOOTSTRAP_SERVERS"),
    ({"STREAMER_SECURITY_PROTOCOL": "SASL_SSL"}, "STREAMER_SASL_USERNAME"),
    ({"STREAMER_SSL_CAFILE": "/nonexistent/ca.pem"}, "STREAMER_SSL_CAFILE"),
    ({"STREAMER_LOG_LEVEL": "loud"}, "STREAMER_LOG_LEVEL"),
    ({"STREAMER_EARLY_BUDGET": "5"}, "STREAMER_EARLY_BUDGET"),
    ({"STREAMER_EARLY_BUDGET": "-0.1"}, "STREAMER_EARLY_BUDGET"),
    ({"STREAMER_EARLY_BUDGET": "5%"}, "STREAMER_EARLY_BUDGET"),
    ({"STREAMER_EARLY_MIN_HISTORY_DAYS": "-1"}, "STREAMER_EARLY_MIN_HISTORY_DAYS"),
    ({"STREAMER_EARLY_MIN_HISTORY_DAYS": "nan"}, "STREAMER_EARLY_MIN_HISTORY_DAYS"),
    ({"STREAMER_MODEL_MIN_HISTORY_DAYS": "5000"}, "STREAMER_MODEL_MIN_HISTORY_DAYS"),
])
def test_bad_values_name_the_variable_in_one_line(env: dict, names: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env(env)
    assert names in str(err.value) and "\n" not in str(err.value)


def test_sasl_ssl_with_credentials_and_ca(tmp_path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-")
    s = Settings.from_env({"STREAMER_SECURITY_PROTOCOL": "SASL_SSL",
                           "STREAMER_SASL_USERNAME": "u", "STREAMER_SASL_PASSWORD": "p",
                           "STREAMER_SSL_CAFILE": str(ca)})
    assert s.security_protocol == "SASL_SSL" and s.ssl_cafile == str(ca)
