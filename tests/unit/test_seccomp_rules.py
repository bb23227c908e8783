"""rules() and default_action(): the OCI profile as the libseccomp rules install() adds."""

import errno
from typing import Any

from skiff.runtime.seccomp import Action, Condition, Rule, default_action, rules

EPERM = Action("SCMP_ACT_ERRNO", errno.EPERM)


def eq(index: int, value: int) -> dict[str, Any]:
    return {"index": index, "value": value, "op": "SCMP_CMP_EQ"}


def test_one_rule_per_name_in_profile_order() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["getcwd", "uname"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["reboot"], "action": "SCMP_ACT_KILL_PROCESS"},
        ],
    }
    enosys = Action("SCMP_ACT_ERRNO", errno.ENOSYS)
    assert rules(profile) == [
        Rule("getcwd", enosys),
        Rule("uname", enosys),
        Rule("reboot", Action("SCMP_ACT_KILL_PROCESS")),
    ]


def test_errno_and_trace_carry_eperm_unless_told_otherwise() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["a"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["b"], "action": "SCMP_ACT_TRACE"},
            {"names": ["c"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
            {"names": ["d"], "action": "SCMP_ACT_ERRNO", "errnoRet": 0},
        ],
    }
    assert [rule.action for rule in rules(profile)] == [
        EPERM,
        Action("SCMP_ACT_TRACE", errno.EPERM),
        Action("SCMP_ACT_TRACE", 7),
        Action("SCMP_ACT_ERRNO", 0),
    ]


def test_errno_ret_is_ignored_on_actions_without_data() -> None:
    """As runc and crun do, so their profiles load here too."""
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_LOG", "errnoRet": 38}],
    }
    assert rules(profile) == [Rule("getcwd", Action("SCMP_ACT_LOG"))]


def test_default_action_takes_default_errno_ret() -> None:
    assert default_action({"defaultAction": "SCMP_ACT_ERRNO"}) == EPERM
    assert default_action({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38}) == Action(
        "SCMP_ACT_ERRNO", 38
    )
    assert default_action({"defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 38}) == Action(
        "SCMP_ACT_KILL_THREAD"
    )


def test_rules_with_the_default_action_are_left_out() -> None:
    """libseccomp refuses them (EACCES); KILL is KILL_THREAD, ERRNO alone is ERRNO(EPERM)."""
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["a"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["b"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM},
            {"names": ["c"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS},
            {"names": ["d"], "action": "SCMP_ACT_ALLOW"},
        ],
    }
    assert [rule.syscall for rule in rules(profile)] == ["c", "d"]
    killing = {
        "defaultAction": "SCMP_ACT_KILL",
        "syscalls": [
            {"names": ["a"], "action": "SCMP_ACT_KILL_THREAD"},
            {"names": ["b"], "action": "SCMP_ACT_KILL_PROCESS"},
        ],
    }
    assert [rule.syscall for rule in rules(killing)] == ["b"]


def test_conditions_on_distinct_arguments_make_one_rule() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {
                "names": ["socket"],
                "action": "SCMP_ACT_ERRNO",
                "args": [
                    eq(0, 2),
                    {"index": 1, "value": 0xF, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"},
                ],
            }
        ],
    }
    assert rules(profile) == [
        Rule(
            "socket",
            EPERM,
            (Condition(0, "SCMP_CMP_EQ", 2, 0), Condition(1, "SCMP_CMP_MASKED_EQ", 0xF, 2)),
        )
    ]


def test_conditions_sharing_an_argument_become_one_rule_each() -> None:
    """runc's rule: once any index repeats, every condition of the entry is its own rule
    (any of them matches), for each name of the entry."""
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {
                "names": ["socket", "socketpair"],
                "action": "SCMP_ACT_ERRNO",
                "args": [eq(0, 2), eq(0, 10), eq(1, 1)],
            }
        ],
    }
    conditions = [
        Condition(0, "SCMP_CMP_EQ", 2),
        Condition(0, "SCMP_CMP_EQ", 10),
        Condition(1, "SCMP_CMP_EQ", 1),
    ]
    assert rules(profile) == [
        Rule(name, EPERM, (condition,))
        for name in ("socket", "socketpair")
        for condition in conditions
    ]


def test_no_syscalls_no_rules() -> None:
    assert rules({"defaultAction": "SCMP_ACT_KILL_PROCESS"}) == []
    assert rules({"defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": None}) == []
