"""Restart policy decisions (Docker's restart manager) and the back-off, as pure functions."""

from __future__ import annotations

import time
from typing import Any

import pytest

from skiff.engine import restart
from skiff.engine.options import RestartPolicy
from skiff.engine.timestamps import rfc3339_nano
from skiff.errors import InvalidArgument


def test_backoff_starts_at_100ms_and_doubles_up_to_a_minute():
    delays, previous = [], 0.0
    for _ in range(12):
        previous = restart.next_backoff(previous, ran_for=0.5)
        delays.append(previous)
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    assert delays[9] == 51.2
    assert delays[10:] == [60.0, 60.0]


def test_backoff_resets_after_ten_seconds_of_running():
    assert restart.next_backoff(6.4, ran_for=9.9) == 12.8
    assert restart.next_backoff(6.4, ran_for=10.0) == 0.1
    assert restart.next_backoff(60.0, ran_for=3600) == 0.1


@pytest.mark.parametrize(
    ("policy", "code", "count", "stopped", "expected"),
    [
        (RestartPolicy("no"), 1, 0, False, False),
        (RestartPolicy("always"), 0, 0, False, True),
        (RestartPolicy("always"), 0, 99, True, True),  # only a cancel holds "always" down
        (RestartPolicy("unless-stopped"), 0, 5, False, True),
        (RestartPolicy("unless-stopped"), 1, 0, True, False),
        (RestartPolicy("on-failure"), 0, 0, False, False),
        (RestartPolicy("on-failure"), 3, 1000, False, True),  # no maximum
        (RestartPolicy("on-failure", 2), 3, 0, False, True),
        (RestartPolicy("on-failure", 2), 3, 1, False, True),
        (RestartPolicy("on-failure", 2), 3, 2, False, False),
        (RestartPolicy("on-failure", 2), 255, 0, True, True),  # a stop does not count here
    ],
)
def test_should_restart_as_docker_decides(policy, code, count, stopped, expected):
    assert restart.should_restart(policy, code, count, stopped) is expected


def test_kill_signals_that_cancel_the_restart():
    assert restart.cancels_restart("KILL", "")
    assert restart.cancels_restart("HUP", "")  # no stop signal set: any kill is a stop
    assert restart.cancels_restart("SIGKILL", "SIGUSR1")
    assert restart.cancels_restart("10", "SIGUSR1")  # SIGUSR1 by number
    assert restart.cancels_restart("usr1", "USR1")
    assert not restart.cancels_restart("HUP", "SIGUSR1")
    with pytest.raises(InvalidArgument, match="Invalid signal: NOPE"):
        restart.cancels_restart("NOPE", "")


class _Container:
    """What after_exit reads of a container: its options and state."""

    def __init__(self, policy: dict[str, Any] | None, **state: Any) -> None:
        self.options = {"restart": policy}
        started = rfc3339_nano(time.time_ns() - 2_000_000_000)  # ran for two seconds
        self.state = {"StartedAt": started, "RestartCount": 0, **state}


def _exited(code: int) -> dict[str, Any]:
    return {"Status": "exited", "Running": False, "Pid": 0, "ExitCode": code}


def test_a_restart_turns_the_exit_into_docker_restarting_state():
    container = _Container({"name": "on-failure", "max_retries": 2}, RestartCount=1)
    exited = _exited(3)
    restart.after_exit(container, exited)  # type: ignore[arg-type]
    assert exited == {
        "Status": "restarting",
        "Running": True,
        "Restarting": True,
        "Pid": 0,
        "ExitCode": 3,
        "RestartCount": 2,
        "RestartManager": {"ManuallyStopped": False, "Canceled": False, "Backoff": 0.1},
    }


def test_the_back_off_grows_across_exits():
    memory = {"ManuallyStopped": False, "Canceled": False, "Backoff": 0.4}
    container = _Container({"name": "always", "max_retries": 0}, RestartManager=memory)
    exited = _exited(0)
    restart.after_exit(container, exited)  # type: ignore[arg-type]
    assert exited["RestartManager"]["Backoff"] == 0.8


_CANCELED = {"ManuallyStopped": True, "Canceled": True, "Backoff": 0.0}


@pytest.mark.parametrize(
    ("policy", "state", "code"),
    [
        ({"name": "always", "max_retries": 0}, {"RestartManager": _CANCELED}, 137),
        ({"name": "on-failure", "max_retries": 2}, {"RestartCount": 2}, 1),
        ({"name": "on-failure", "max_retries": 0}, {}, 0),
    ],
)
def test_no_restart_when_canceled_or_retries_spent_or_no_failure(policy, state, code):
    exited = _exited(code)
    restart.after_exit(_Container(policy, **state), exited)  # type: ignore[arg-type]
    assert exited["Status"] == "exited"
    assert "RestartCount" not in exited
    assert exited["RestartManager"]["Backoff"] == 0.1  # the back-off moves all the same


@pytest.mark.parametrize("policy", [None, {"name": "no", "max_retries": 0}])
def test_without_a_policy_the_exit_is_left_alone(policy):
    exited = _exited(1)
    restart.after_exit(_Container(policy), exited)  # type: ignore[arg-type]
    assert exited == _exited(1)


def test_memory_defaults():
    assert restart.memory_of({}) == {"ManuallyStopped": False, "Canceled": False, "Backoff": 0.0}
    assert restart.memory_of({"RestartManager": {"Canceled": True}})["Canceled"] is True
