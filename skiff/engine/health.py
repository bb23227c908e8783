"""Health checks: Docker's configuration, schedule and results (``State.Health``).

The check a container runs is the image's ``Healthcheck`` merged with the ``--health-*``
options as Docker merges them (:func:`effective_config`). Its results are recorded in the
container's state as Docker's ``State.Health``: ``Status`` (starting, healthy,
unhealthy), ``FailingStreak`` and the last five probes in ``Log``. The probes themselves
are run by the health runner (:mod:`skiff.engine.health_runner`), one process per run
root, started when a container with a check starts.
"""

from __future__ import annotations

from skiff import db, jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from skiff.engine.containers import ContainerStore
    from skiff.engine.options import HealthConfig
    from skiff.paths import Paths

SECOND = 1_000_000_000
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_START_INTERVAL = 5 * SECOND
DEFAULT_RETRIES = 3
MAX_LOG_ENTRIES = 5
MAX_OUTPUT = 4096  # bytes of a probe's output kept (Docker's maxOutputLen)
DEFAULT_SHELL = ["/bin/sh", "-c"]

# Docker's HealthConfig JSON keys, and the HealthConfig fields they come from.
_KEYS = (
    ("Test", "test"),
    ("Interval", "interval"),
    ("Timeout", "timeout"),
    ("StartPeriod", "start_period"),
    ("StartInterval", "start_interval"),
    ("Retries", "retries"),
)


def effective_config(
    image_check: Mapping[str, Any] | None, option: HealthConfig | None
) -> dict[str, Any] | None:
    """The container's ``Config.Healthcheck`` as Docker shows it: the options, with what
    they leave empty (no test, zero durations or retries) taken from the image's; zero
    fields left out, as Docker's JSON omits them."""
    if option is None:
        merged = dict(image_check or {})
    else:
        merged = {key: getattr(option, field) for key, field in _KEYS}
        for key, _ in _KEYS:
            if not merged[key] and image_check:
                merged[key] = image_check.get(key)
    return {key: merged[key] for key, _ in _KEYS if merged.get(key)} or None


class Check:
    """A container's active health check: the probe's command and Docker's timings
    (nanoseconds) with the defaults applied."""

    def __init__(self, config: Mapping[str, Any], command: list[str]) -> None:
        self.command = command
        self.interval = int(config.get("Interval") or DEFAULT_INTERVAL)
        self.timeout = int(config.get("Timeout") or DEFAULT_TIMEOUT)
        self.start_period = int(config.get("StartPeriod") or 0)
        self.start_interval = int(config.get("StartInterval") or DEFAULT_START_INTERVAL)
        self.retries = int(config.get("Retries") or DEFAULT_RETRIES)

    @classmethod
    def of(cls, config: Mapping[str, Any] | None, shell: list[str] | None = None) -> Check | None:
        """The check ``config`` (a ``Config.Healthcheck``) asks for; None if none: no
        config, ``NONE``, or a test type Docker does not know."""
        test = list((config or {}).get("Test") or [])
        if not test or config is None:
            return None
        if test[0] == "CMD" and len(test) > 1:
            return cls(config, test[1:])
        if test[0] == "CMD-SHELL" and len(test) > 1:
            return cls(config, [*(shell or DEFAULT_SHELL), *test[1:]])
        return None

    def delay(self, since_start: int, status: str) -> int:
        """Nanoseconds until the next probe (Docker's ``getInterval``): the start interval
        while the container is in its start period and not yet healthy."""
        if since_start < self.start_period and status == "starting":
            return self.start_interval
        return self.interval


def check_of(image_config: Mapping[str, Any], options: Mapping[str, Any]) -> Check | None:
    """The check of a container, from its image's config JSON and its recorded options."""
    from skiff.engine.options import HealthConfig

    settings = image_config.get("config") or {}
    option = options.get("healthcheck")
    config = effective_config(
        settings.get("Healthcheck"), HealthConfig(**option) if option is not None else None
    )
    return Check.of(config, settings.get("Shell"))


def go_duration(nanos: int) -> str:
    """Go's ``time.Duration.String()``: ``500ms``, ``1.5s``, ``1m30s``, ``0s``."""
    if nanos == 0:
        return "0s"
    sign, value = ("-" if nanos < 0 else ""), abs(nanos)
    if value < SECOND:
        for unit, size in (("ms", 1_000_000), ("\u00b5s", 1_000), ("ns", 1)):
            if value >= size:
                return sign + _decimal(value, size) + unit
    hours, value = divmod(value, 3600 * SECOND)
    minutes, value = divmod(value, 60 * SECOND)
    text = f"{hours}h" if hours else ""
    if hours or minutes:
        text += f"{minutes}m"
    return sign + text + _decimal(value, SECOND) + "s"


def _decimal(value: int, size: int) -> str:
    whole, fraction = divmod(value, size)
    digits = str(fraction).rjust(len(str(size)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)


def output_text(data: bytes, truncated: bool) -> str:
    """A probe's output as Docker records it: at most 4096 bytes, ``...`` if cut."""
    return data[:MAX_OUTPUT].decode(errors="replace") + ("..." if truncated else "")


def timeout_result(start: str, end: str, timeout: int) -> dict[str, Any]:
    return {
        "Start": start,
        "End": end,
        "ExitCode": -1,
        "Output": f"Health check exceeded timeout ({go_duration(timeout)})",
    }


def apply_result(
    health: Mapping[str, Any], result: dict[str, Any], retries: int, in_start_period: bool
) -> dict[str, Any]:
    """Docker's ``handleProbeResult``: the new ``State.Health`` after a probe. A failure
    while the container is still starting and within its start period does not count."""
    log = [*(health.get("Log") or []), result][-MAX_LOG_ENTRIES:]
    status = str(health.get("Status", "starting"))
    streak = int(health.get("FailingStreak", 0))
    if result["ExitCode"] == 0:
        status, streak = "healthy", 0
    elif not (status == "starting" and in_start_period):
        streak += 1
        if streak >= retries:
            status = "unhealthy"
    return {"Status": status, "FailingStreak": streak, "Log": log}


def starting(state: Mapping[str, Any]) -> dict[str, Any]:
    """``State.Health`` when the container starts: starting, the old log kept."""
    log = (state.get("Health") or {}).get("Log") or []
    return {"Status": "starting", "FailingStreak": 0, "Log": log}


def stopped(state: Mapping[str, Any]) -> dict[str, Any]:
    """State changes for a container whose process exited: a checked container reads
    unhealthy once its checks stop (Docker's, "for compatibility")."""
    health = state.get("Health")
    return {"Health": {**health, "Status": "unhealthy"}} if health else {}


def watch(
    paths: Paths,
    store: ContainerStore,
    container_id: str,
    image_config: Mapping[str, Any],
    options: Mapping[str, Any],
) -> None:
    """After a start: a container with a check reads ``starting`` and the health runner
    is told (started if none runs)."""
    if check_of(image_config, options) is None:
        return
    from skiff.engine import health_runner

    state = store.get(container_id).state
    store.set_state(container_id, Health=starting(state))
    health_runner.wake(paths)


def record(
    store: ContainerStore, container_id: str, started_at: str, result: dict[str, Any], check: Check
) -> tuple[str, str] | None:
    """Record a probe's result, if the container still runs the process it was probed
    in (same StartedAt); (status before, status after), or None if it was dropped. One
    transaction: the exit command may change the state at the same time."""
    from skiff.engine.timestamps import RFC3339_NANO, go_parse

    with db.transaction(store.db):
        row = store.db.execute(
            "SELECT state FROM containers WHERE id = ?", (container_id,)
        ).fetchone()
        if row is None:
            return None
        state = jsonio.loads(row["state"])
        health = state.get("Health")
        running = state.get("Running") and not state.get("Restarting")
        if not running or health is None or state.get("StartedAt") != started_at:
            return None
        since_start = go_parse(RFC3339_NANO, result["Start"], 0) - go_parse(
            RFC3339_NANO, started_at, 0
        )
        state["Health"] = apply_result(
            health, result, check.retries, since_start < check.start_period
        )
        store.db.execute(
            "UPDATE containers SET state = ? WHERE id = ?", (jsonio.dumps(state), container_id)
        )
    return str(health.get("Status")), str(state["Health"]["Status"])
