"""validate(): the cheap check of linux.seccomp the runtime makes before it forks."""

import json
import subprocess
import sys
from typing import Any

import pytest

from skiff.errors import InvalidArgument
from skiff.runtime import seccomp

LISTENER = "/run/agent.sock"


def profile(**fields: Any) -> dict[str, Any]:
    return {"defaultAction": "SCMP_ACT_ALLOW", **fields}


def syscalls(*entries: Any, **fields: Any) -> dict[str, Any]:
    return profile(syscalls=list(entries), **fields)


def call(**fields: Any) -> dict[str, Any]:
    return {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", **fields}


def arg(**fields: Any) -> dict[str, Any]:
    return {"index": 0, "value": 1, "op": "SCMP_CMP_EQ", **fields}


def test_accepts_every_action_operator_architecture_and_flag() -> None:
    seccomp.validate(
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "architectures": list(seccomp.ARCHITECTURES),
            "flags": list(seccomp.FLAGS),
            "listenerPath": LISTENER,
            "listenerMetadata": "opaque",
            "syscalls": [
                {"names": ["getcwd", "uname"], "action": action, "errnoRet": 5}
                for action in seccomp.ACTIONS
            ]
            + [
                {
                    "names": ["personality"],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [arg(op=op, valueTwo=2**64 - 1) for op in seccomp.OPERATORS],
                }
            ],
        }
    )


@pytest.mark.parametrize("disabled", [{}, {"defaultAction": ""}, {"syscalls": []}])
def test_a_profile_without_default_action_or_syscalls_is_no_seccomp(
    disabled: dict[str, Any],
) -> None:
    seccomp.validate(disabled)


BAD = [
    ([], "linux.seccomp: expected an object"),
    ({"syscalls": [call()]}, "linux.seccomp.defaultAction: missing"),
    (
        profile(defaultAction="SCMP_ACT_FOO"),
        'linux.seccomp.defaultAction: unknown action "SCMP_ACT_FOO"',
    ),
    (
        profile(defaultAction="SCMP_ACT_NOTIFY", listenerPath=LISTENER),
        "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY cannot be the default action",
    ),
    (
        profile(defaultErrnoRet=-1),
        "linux.seccomp.defaultErrnoRet: -1 is not between 0 and 65535",
    ),
    (
        profile(defaultErrnoRet="1"),
        'linux.seccomp.defaultErrnoRet: expected an integer, not "1"',
    ),
    (
        profile(architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_Z80"]),
        'linux.seccomp.architectures[1]: unknown architecture "SCMP_ARCH_Z80"',
    ),
    (profile(architectures="SCMP_ARCH_X86"), "linux.seccomp.architectures: expected an array"),
    (
        profile(flags=["SECCOMP_FILTER_FLAG_BOGUS"]),
        'linux.seccomp.flags[0]: unknown or unsupported flag "SECCOMP_FILTER_FLAG_BOGUS"',
    ),
    (
        profile(flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]),
        "linux.seccomp.flags[1]: unknown or unsupported flag "
        '"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"',
    ),
    (profile(listenerPath=7), "linux.seccomp.listenerPath: expected a string"),
    (
        profile(listenerMetadata="opaque"),
        "linux.seccomp.listenerMetadata: set without listenerPath",
    ),
    (profile(syscalls={"names": ["getcwd"]}), "linux.seccomp.syscalls: expected an array"),
    (syscalls("getcwd"), "linux.seccomp.syscalls[0]: expected an object"),
    (
        syscalls(call(), call(), call(), call(action="SCMP_ACT_FOO")),
        'linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"',
    ),
    (syscalls({"names": ["getcwd"]}), "linux.seccomp.syscalls[0].action: missing"),
    (syscalls({"action": "SCMP_ACT_ERRNO"}), "linux.seccomp.syscalls[0].names: missing"),
    (
        syscalls(call(names=[])),
        "linux.seccomp.syscalls[0].names: expected a non-empty array of syscall names",
    ),
    (
        syscalls(call(names="getcwd")),
        "linux.seccomp.syscalls[0].names: expected a non-empty array of syscall names",
    ),
    (
        syscalls(call(names=["getcwd", ""])),
        'linux.seccomp.syscalls[0].names[1]: expected a syscall name, not ""',
    ),
    (
        syscalls(call(action="SCMP_ACT_NOTIFY")),
        "linux.seccomp.syscalls[0].action: SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath",
    ),
    (
        syscalls(call(names=["read", "write"], action="SCMP_ACT_NOTIFY"), listenerPath=LISTENER),
        'linux.seccomp.syscalls[0].names[1]: SCMP_ACT_NOTIFY cannot be used for "write"',
    ),
    (
        syscalls(call(errnoRet=65536)),
        "linux.seccomp.syscalls[0].errnoRet: 65536 is not between 0 and 65535",
    ),
    (
        syscalls(call(errnoRet=True)),
        "linux.seccomp.syscalls[0].errnoRet: expected an integer, not true",
    ),
    (syscalls(call(args=arg())), "linux.seccomp.syscalls[0].args: expected an array"),
    (syscalls(call(args=[7])), "linux.seccomp.syscalls[0].args[0]: expected an object"),
    (
        syscalls(call(args=[arg(), {"index": 1, "op": "SCMP_CMP_EQ"}])),
        "linux.seccomp.syscalls[0].args[1].value: missing",
    ),
    (
        syscalls(call(args=[{"value": 1, "op": "SCMP_CMP_EQ"}])),
        "linux.seccomp.syscalls[0].args[0].index: missing",
    ),
    (
        syscalls(call(args=[{"index": 0, "value": 1}])),
        "linux.seccomp.syscalls[0].args[0].op: missing",
    ),
    (
        syscalls(call(args=[arg(index=6)])),
        "linux.seccomp.syscalls[0].args[0].index: 6 is not between 0 and 5",
    ),
    (
        syscalls(call(args=[arg(value=2**64)])),
        f"linux.seccomp.syscalls[0].args[0].value: {2**64} is not between 0 and {2**64 - 1}",
    ),
    (
        syscalls(call(args=[arg(valueTwo="8")])),
        'linux.seccomp.syscalls[0].args[0].valueTwo: expected an integer, not "8"',
    ),
    (
        syscalls(call(args=[arg(op="SCMP_CMP_FOO")])),
        'linux.seccomp.syscalls[0].args[0].op: unknown operator "SCMP_CMP_FOO"',
    ),
]


@pytest.mark.parametrize(("bad", "message"), BAD, ids=[message for _, message in BAD])
def test_names_the_field_that_is_wrong(bad: Any, message: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        seccomp.validate(bad)
    assert str(raised.value) == message


def test_validation_does_not_load_libseccomp() -> None:
    """Start-up cost: validate() runs in every create; only install() may load libseccomp."""
    script = (
        "import sys\n"
        "from skiff.runtime import seccomp\n"
        "seccomp.validate({'defaultAction': 'SCMP_ACT_ERRNO', 'architectures': "
        "['SCMP_ARCH_X86_64'], 'syscalls': [{'names': ['getcwd'], 'action': 'SCMP_ACT_ALLOW'}]})\n"
        "seccomp.rules({'defaultAction': 'SCMP_ACT_ERRNO', 'syscalls': []})\n"
        "loaded = [m for m in sys.modules if 'seccomp' in m and m != 'skiff.runtime.seccomp']\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "value",
    [
        "SCMP_ACT_FOO",
        'quote " backslash \\ tab \t nl \n del \x7f nul \x00',
        "caf\u00e9 \u2603 \U0001f600",
        "",
        0,
        -7,
        2**70,
        True,
        False,
        None,
        1.5,
        float("nan"),
        float("inf"),
        -float("inf"),
        [1, "a", None, [True, {}]],
        {"k": [1, 2], "\u00e9": {"x": None}},
        (1, 2),
    ],
)
def test_quote_writes_what_json_dumps_writes(value: Any) -> None:
    assert seccomp._quote(value) == json.dumps(value)


def test_quote_refuses_what_json_refuses() -> None:
    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        seccomp._quote(object())
