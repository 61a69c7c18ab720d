"""Shared fixtures for the molecule cluster tests (run by `molecule verify`)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import testinfra

ADDRESSES = {"tlm-nfs": "172.30.1.80", "tlm-bastion": "172.30.1.10", "tlm-exec": "172.30.1.21",
             "tlm-exec2": "172.30.1.22"}


def cluster_host(name: str):
    """A testinfra host of the scenario, by inventory name."""
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={inventory}")


@pytest.fixture(scope="session")
def credentials() -> Path:
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "credentials"


PROJECT = Path(__file__).resolve().parents[3]
SSH = [
    "ssh", "-p", "2223",
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "ConnectTimeout=10",
    "-o", "LogLevel=ERROR",
]


def ssh_as(person: str, command: str) -> subprocess.CompletedProcess:
    """Run command on the bastion as person, over real SSH with their key."""
    key = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "credentials" / "ssh" / person
    return subprocess.run([*SSH, "-i", str(key), "-o", "IdentitiesOnly=yes", f"{person}@127.0.0.1", command],
                          capture_output=True, text=True, timeout=120)


def playbook(name: str, *extra: str) -> subprocess.CompletedProcess:
    """Run one of the project's playbooks against the scenario's hosts, as an operator would."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(PROJECT / "playbooks" / name), *extra],
        capture_output=True, text=True, timeout=600, env=env, cwd=PROJECT,
    )


def wait_for(check, timeout: float = 10.0, interval: float = 0.25):
    """Seconds until check() is true; fails the test after timeout."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            pytest.fail(f"not true after {timeout} s: {check.__doc__ or check}")
        time.sleep(interval)
    return time.monotonic() - start


def new_tool_name(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def make_tool():
    """Create tools through playbooks/tool.yml; remove them (archiving) afterwards."""
    made = []

    def make(maintainers: str = "alice", description: str = "A test tool.") -> str:
        name = new_tool_name()
        # JSON keeps the spaces of the description (key=value would split it).
        result = playbook("tool.yml", "-e", json.dumps({"name": name, "maintainers": maintainers,
                                                        "description": description}))
        assert result.returncode == 0, result.stdout[-3000:]
        made.append(name)
        # Group membership is read at login, and sssd may answer a login from its
        # cache for a few seconds after the change: wait until each maintainer's
        # fresh login has the tool's group, as a person would log in again.
        for person in maintainers.split(","):
            wait_for(lambda: f"tools.{name}" in ssh_as(person, "id -Gn").stdout.split(), timeout=15, interval=0.5)
        return name

    yield make
    for name in made:
        playbook("tool.yml", "-e", f"name={name}", "-e", "state=absent")
