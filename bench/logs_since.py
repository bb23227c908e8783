"""``logs --since 1m`` on a 1 GiB log, skiff beside docker.

Neither engine can be made to write a 1 GiB log quickly, so both get one written here:
a container is run once (``true``), then its log file is replaced by a generated one in
the engine's own format (conmon's k8s-file for skiff, json-file for docker), the same
lines at the same times: a day of output ending now, the last minute about 6,000 lines.
Then ``logs --since 1m`` is timed, output discarded. docker's json-file reader decodes
the file from its start; skiff seeks by time.
"""

from __future__ import annotations

import json
import subprocess
import time
from functools import partial
from pathlib import Path

from bench.core import Contender, Result, measure_wall
from bench.engines import Engine, engines

NAME = "logs-since"
DESCRIPTION = "`logs --since 1m` of a container with a 1 GiB log (wall time)"
SIZE = 1 << 30
SPAN = 24 * 3600  # seconds of output the log covers, ending now
BODY = "GET /index.html HTTP/1.1 200 612 - curl/8.0 request served"


def write_logs(k8s: Path | None, json_file: Path | None, size: int, span: int, end: int) -> int:
    """A log of ``size`` bytes (measured in k8s-file form) over the ``span`` seconds before
    ``end``, in either or both formats; how many lines."""
    line_size = len(f"2024-01-01T00:00:00.000000000+00:00 stdout F {BODY} 000000000\n")
    total = size // line_size
    per_second = max(1, total // span)
    outputs = [open(p, "w") for p in (k8s, json_file) if p is not None]  # noqa: SIM115
    try:
        number = 0
        for second in range(end - span, end):
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
            step = 1_000_000_000 // per_second
            stamps = [f"{prefix}{i * step:09d}" for i in range(per_second)]
            texts = [f"{BODY} {number + i:09d}" for i in range(per_second)]
            number += per_second
            if k8s is not None:
                outputs[0].write(
                    "".join(f"{s}+00:00 stdout F {t}\n" for s, t in zip(stamps, texts, strict=True))
                )
            if json_file is not None:
                outputs[-1].write(
                    "".join(
                        json.dumps({"log": t + "\n", "stream": "stdout", "time": s + "Z"}) + "\n"
                        for s, t in zip(stamps, texts, strict=True)
                    )
                )
        return number
    finally:
        for output in outputs:
            output.close()


def _log_path(engine: Engine) -> Path:
    """Where the engine keeps the log of the container ``big``."""
    if engine.name == "docker":
        out = subprocess.run(
            engine.command("inspect", "-f", "{{.LogPath}}", "big"),
            capture_output=True,
            text=True,
            check=True,
        )
        return Path(out.stdout.strip())
    from skiff.engine.engine import Engine as SkiffEngine
    from skiff.paths import Paths

    base = Path(engine.base)
    return Path(SkiffEngine(Paths(str(base / "root"), str(base / "run"))).log_path("big"))


def run(runs: int) -> Result:
    with engines(("skiff", "docker")) as found:
        end = int(time.time())
        paths: dict[str, Path] = {}
        for engine in found:
            engine.check("run", "--name", "big", "busybox", "true")
            paths[engine.name] = _log_path(engine)
        lines = write_logs(paths.get("skiff"), paths.get("docker"), SIZE, SPAN, end)
        contenders = [
            Contender(e.name, partial(e.attempt, "logs", "--since", "1m", "big")) for e in found
        ]
        result = measure_wall(NAME, contenders, runs, warmup=1)
        for engine in found:
            result.notes += engine.failure_notes(len(result.samples[engine.name]))
        sizes = {name: path.stat().st_size for name, path in paths.items()}
        result.notes.append(
            f"{lines} lines over {SPAN // 3600} h; log files: "
            + ", ".join(f"{name} {size / (1 << 30):.2f} GiB" for name, size in sizes.items())
        )
        skiff = result.medians()["skiff"]
        result.notes.append(
            f"skiff: median {skiff:.1f} ms (goal at most 100 ms: "
            f"{'met' if skiff <= 100 else 'missed'})"
        )
        result.notes += [e.description for e in found]
        return result
