"""Health checks as Docker configures, schedules and records them (pure logic)."""

from __future__ import annotations

import pytest

from skiff.engine import health
from skiff.engine.options import HealthConfig, parse_health

S = 1_000_000_000
MS = 1_000_000
IMAGE = {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 5 * S, "Retries": 4}


# --- configuration: the image's merged with the options (what dockerd showed) ------------


def test_without_options_the_image_check_applies():
    assert health.effective_config(IMAGE, None) == IMAGE
    assert health.effective_config(None, None) is None


def test_options_fill_only_what_they_give():
    option = parse_health(cmd="exit 1")
    assert health.effective_config(IMAGE, option) == {
        "Test": ["CMD-SHELL", "exit 1"],
        "Interval": 5 * S,
        "Retries": 4,
    }
    option = parse_health(interval=2 * S)  # no command: the image's test
    assert health.effective_config(IMAGE, option) == {
        "Test": ["CMD-SHELL", "curl -f localhost"],
        "Interval": 2 * S,
        "Retries": 4,
    }


def test_no_healthcheck_keeps_the_image_timings_but_disables_it():
    config = health.effective_config(IMAGE, parse_health(no_healthcheck=True))
    assert config == {"Test": ["NONE"], "Interval": 5 * S, "Retries": 4}
    assert health.Check.of(config) is None
    assert health.effective_config(None, parse_health(no_healthcheck=True)) == {"Test": ["NONE"]}


def test_zero_fields_are_left_out_as_docker_omits_them():
    option = HealthConfig(["CMD", "true"], interval=0, timeout=3 * S)
    assert health.effective_config(None, option) == {"Test": ["CMD", "true"], "Timeout": 3 * S}


def test_check_of_an_image_config_and_recorded_options():
    image_config = {"config": {"Healthcheck": IMAGE, "Shell": ["/bin/ash", "-eo"]}}
    check = health.check_of(image_config, {"healthcheck": None})
    assert check is not None
    assert check.command == ["/bin/ash", "-eo", "curl -f localhost"]
    options = {"healthcheck": {"test": ["NONE"], "interval": 0, "timeout": 0,
                               "start_period": 0, "start_interval": 0, "retries": 0}}  # fmt: skip
    assert health.check_of(image_config, options) is None
    assert health.check_of({"config": {}}, {"healthcheck": None}) is None


# --- the probe and its timings -----------------------------------------------------------


def test_probe_commands():
    shell = health.Check.of({"Test": ["CMD-SHELL", "echo hi"]})
    assert shell is not None and shell.command == ["/bin/sh", "-c", "echo hi"]
    direct = health.Check.of({"Test": ["CMD", "/bin/true", "-x"]})
    assert direct is not None and direct.command == ["/bin/true", "-x"]
    assert health.Check.of({"Test": ["NONE"]}) is None
    assert health.Check.of({"Test": ["WHATEVER", "x"]}) is None
    assert health.Check.of({"Test": []}) is None


def test_docker_defaults():
    check = health.Check.of({"Test": ["CMD", "true"]})
    assert check is not None
    assert (check.interval, check.timeout, check.start_period) == (30 * S, 30 * S, 0)
    assert (check.start_interval, check.retries) == (5 * S, 3)


def test_start_interval_applies_while_starting_within_the_start_period():
    check = health.Check.of(
        {"Test": ["CMD", "true"], "Interval": 10 * S, "StartPeriod": 2 * S,
         "StartInterval": 200 * MS}
    )  # fmt: skip
    assert check is not None
    assert check.delay(0, "starting") == 200 * MS
    assert check.delay(1 * S, "starting") == 200 * MS
    assert check.delay(1 * S, "healthy") == 10 * S
    assert check.delay(2 * S, "starting") == 10 * S


# --- results -----------------------------------------------------------------------------


def _result(code: int, output: str = "") -> dict:
    return {"Start": "s", "End": "e", "ExitCode": code, "Output": output}


def test_failures_count_up_to_the_retries_then_unhealthy():
    h = health.starting({})
    assert h == {"Status": "starting", "FailingStreak": 0, "Log": []}
    h = health.apply_result(h, _result(1), retries=2, in_start_period=False)
    assert (h["Status"], h["FailingStreak"]) == ("starting", 1)
    h = health.apply_result(h, _result(-1), retries=2, in_start_period=False)
    assert (h["Status"], h["FailingStreak"]) == ("unhealthy", 2)
    h = health.apply_result(h, _result(0, "ok\n"), retries=2, in_start_period=False)
    assert (h["Status"], h["FailingStreak"]) == ("healthy", 0)
    h = health.apply_result(h, _result(1), retries=2, in_start_period=False)
    assert (h["Status"], h["FailingStreak"]) == ("healthy", 1)


def test_failures_in_the_start_period_do_not_count_until_healthy():
    h = health.apply_result(health.starting({}), _result(1), retries=1, in_start_period=True)
    assert (h["Status"], h["FailingStreak"]) == ("starting", 0)
    h = health.apply_result(h, _result(0), retries=1, in_start_period=True)
    h = health.apply_result(h, _result(1), retries=1, in_start_period=True)
    assert (h["Status"], h["FailingStreak"]) == ("unhealthy", 1)  # counts once healthy


def test_the_log_keeps_the_last_five():
    h = health.starting({})
    for code in range(7):
        h = health.apply_result(h, _result(code, str(code)), retries=3, in_start_period=False)
    assert [r["Output"] for r in h["Log"]] == ["2", "3", "4", "5", "6"]


def test_a_restart_starts_again_but_keeps_the_log():
    before = {"Health": {"Status": "unhealthy", "FailingStreak": 4, "Log": [_result(1)]}}
    assert health.starting(before) == {"Status": "starting", "FailingStreak": 0,
                                       "Log": [_result(1)]}  # fmt: skip


def test_a_stopped_container_reads_unhealthy():
    state = {"Health": {"Status": "healthy", "FailingStreak": 0, "Log": []}}
    assert health.stopped(state) == {"Health": {"Status": "unhealthy", "FailingStreak": 0,
                                                "Log": []}}  # fmt: skip
    assert health.stopped({}) == {}


def test_output_is_cut_at_4096_bytes():
    assert health.output_text(b"x" * 10, False) == "x" * 10
    assert health.output_text(b"y" * 4096, True) == "y" * 4096 + "..."
    assert health.output_text(b"\xff", False) == "\ufffd"


@pytest.mark.parametrize(
    ("nanos", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1500, "1.5\u00b5s"),
        (200 * MS, "200ms"),
        (1_500_000, "1.5ms"),
        (S, "1s"),
        (1_500 * MS, "1.5s"),
        (90 * S, "1m30s"),
        (3600 * S, "1h0m0s"),
        (-2 * S, "-2s"),
    ],
)
def test_go_durations(nanos, text):
    assert health.go_duration(nanos) == text


def test_timeout_result_is_dockers():
    assert health.timeout_result("a", "b", 500 * MS) == {
        "Start": "a",
        "End": "b",
        "ExitCode": -1,
        "Output": "Health check exceeded timeout (500ms)",
    }
