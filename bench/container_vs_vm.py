"""The same busybox image as a container and as a VM (``skiff run --runtime vm``), with
``skiff compare``'s own measures: start-up of ``run --rm busybox true``, and the host
memory (PSS) one running instance costs. The VM's accelerator is named in the notes."""

from __future__ import annotations

import os

from bench.core import Result
from bench.engines import engines
from skiff.cli.compare import MODES, instance_pss_kib, startup_ms

STARTUP = "container-vs-vm-startup"
MEMORY = "container-vs-vm-memory"
DESCRIPTIONS = {
    STARTUP: "`skiff run --rm busybox true` as a container and as a VM (`--runtime vm`)",
    MEMORY: "host memory (PSS) of one running busybox instance: conmon and the container, "
    "or conmon, skiff-vm's shim and QEMU",
}
MEMORY_SAMPLES = 3
#: Published figures of VMs built for containers, both with KVM, for scale.
ANCHORS = {
    STARTUP: "for scale: Kata Containers' CI measures 0.71 s to the workload with QEMU; "
    "Firecracker promises under 125 ms to the guest's init (both with KVM)",
    MEMORY: "for scale: Kata Containers' CI measures about 120 MiB per container with QEMU; "
    "Firecracker promises under 5 MiB of VMM overhead (both with KVM)",
}


def run(runs: int) -> list[Result]:
    from skiff.vm.preflight import accelerator

    accel, why = accelerator()
    vm = f"vm ({accel.upper()})"
    names = {"container": "container", "vm": vm}
    with engines(("skiff",)) as found:
        store = {"SKIFF_ROOT": "root", "SKIFF_RUNROOT": "run"}  # as bench.engines makes it
        saved = {key: os.environ.get(key) for key in store}
        os.environ.update({key: os.path.join(found[0].base, name) for key, name in store.items()})
        try:
            startup = Result(STARTUP, "ms", description=DESCRIPTIONS[STARTUP])
            memory = Result(MEMORY, "MiB", description=DESCRIPTIONS[MEMORY])
            for mode in MODES.values():
                startup_ms(mode, "busybox", ["true"])  # warm-up
            for _ in range(runs):  # alternately
                for key, mode in MODES.items():
                    sample = startup_ms(mode, "busybox", ["true"])
                    startup.samples.setdefault(names[key], []).append(sample)
            for _ in range(MEMORY_SAMPLES):
                for key, mode in MODES.items():
                    sample = instance_pss_kib(mode, "busybox") / 1024
                    memory.samples.setdefault(names[key], []).append(sample)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    note = (
        f"VM acceleration: {accel.upper()} ({why}); `skiff compare busybox true` measures the same"
    )
    startup.notes += [note, ANCHORS[STARTUP]]
    memory.notes += [note, ANCHORS[MEMORY]]
    return [startup, memory]
