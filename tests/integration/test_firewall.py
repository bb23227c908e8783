"""skiff.network.firewall against the real iptables: a network's rules are written once
however often it is set up (a command killed halfway sets it up again), read back as
iptables-save prints them, and all go with tear_down."""

from __future__ import annotations

import json
import subprocess

import pytest

from skiff.network import firewall
from skiff.network.networks import Network


def network(internal: bool) -> Network:
    settings = {"driver": "bridge", "subnet": "10.231.7.0/24", "gateway": "10.231.7.1",
                "bridge": "skiff-fwtest0", "internal": internal}  # fmt: skip
    row = {"id": "f" * 64, "name": "fwtest", "created": 0.0, "settings": json.dumps(settings)}
    return Network(row)  # type: ignore[arg-type]


def mentioning(name: str) -> list[str]:
    out = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if name in line]


@pytest.mark.parametrize("internal", [False, True])
def test_set_up_twice_writes_each_rule_once_and_tear_down_removes_them(internal: bool):
    net = network(internal)
    expected = sorted(firewall.rules(net)["filter"] + firewall.rules(net)["nat"])
    try:
        firewall.set_up(net)
        firewall.set_up(net)
        assert sorted(mentioning("skiff-fwtest0")) == expected
        assert len(expected) == (5 if internal else 6)
        assert mentioning("-A FORWARD -j SKIFF-FORWARD") == ["-A FORWARD -j SKIFF-FORWARD"]
    finally:
        firewall.tear_down(net)
    assert mentioning("skiff-fwtest0") == []
