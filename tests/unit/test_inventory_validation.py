"""Bad inventories fail in playbooks/validate.yml (the first play of site.yml),
before any host is touched, with a message that names what to fix.

Each case writes a small inventory and runs the real playbook; no host is
contacted (the checks run on the controller), so the hosts need not exist.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, VENV_BIN

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPHTNVev5P1eqASI5hTSJn+c7F0PogC1X2HdJzAJoJlr alice@lab"


def inventory(tmp_path: Path, hosts=None, all_vars=None) -> Path:
    hosts = hosts or {
        "bastions": {"bastion-1": {"ip_address": "192.0.2.10"}},
        "nfs": {"nfs-1": {"ip_address": "192.0.2.80"}},
        "ldap": {"ldap-1": {"ip_address": "192.0.2.90"}},
    }
    data = {"all": {"children": {group: {"hosts": members} for group, members in hosts.items()}}}
    variables = {
        "people": [{"name": "alice", "uid": 2001, "ssh_keys": [KEY]}],
        "shared_storage_allowed_network": "192.0.2.0/24",
        "toollabs_ldap_suffix": "dc=toollabs",
        "toollabs_ldap_admin_password": "not-a-real-password-1",
        "toollabs_ldap_reader_password": "not-a-real-password-2",
    }
    variables.update(all_vars or {})
    for key in [k for k, v in variables.items() if v is None]:
        del variables[key]
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(data))
    (tmp_path / "group_vars" / "all.yml").write_text(yaml.safe_dump(variables))
    return tmp_path / "hosts.yml"


def validate(hosts_file: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{VENV_BIN}:{os.environ['PATH']}")
    return subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(hosts_file), str(ROOT / "playbooks" / "validate.yml")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )


def test_a_good_inventory_passes(tmp_path):
    result = validate(inventory(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "hosts,all_vars,expected",
    [
        pytest.param(
            {"bastions": {"bastion-1": {"ip_address": "192.0.2.10"}}, "nfs": {"nfs-1": {"ip_address": "192.0.2.80"}},
             "gridexec": {"exec-1": {"ip_address": "192.0.2.21"}}},
            None,
            ["Host exec-1 is in group(s) gridexec, which no role", "Known groups:", "grid_exec"],
            id="unknown-group",
        ),
        pytest.param(
            {"bastions": {"bastion-1": {}}, "nfs": {"nfs-1": {"ip_address": "192.0.2.80"}}},
            None,
            ["Host bastion-1 needs ip_address", "hosts.yml", "it is 'missing'"],
            id="missing-address",
        ),
        pytest.param(
            {"bastions": {"bastion-1": {"ip_address": "192.0.2.80"}}, "nfs": {"nfs-1": {"ip_address": "192.0.2.80"}}},
            None,
            ["Two hosts have the same ip_address: 192.0.2.80"],
            id="duplicate-address",
        ),
        pytest.param(None, {"people": None}, ["required variable 'people' is not set", "group_vars/all"],
                     id="missing-people"),
        pytest.param(None, {"shared_storage_allowed_network": None},
                     ["required variable 'shared_storage_allowed_network' is not set"], id="missing-network"),
        pytest.param(None, {"toollabs_ldap_suffix": None},
                     ["required variable 'toollabs_ldap_suffix' is not set"], id="missing-ldap-suffix"),
        pytest.param(
            {"bastions": {"bastion-1": {"ip_address": "192.0.2.10"}}, "nfs": {"nfs-1": {"ip_address": "192.0.2.80"}}},
            None,
            ["exactly one host in group 'ldap'", "it has 0"],
            id="no-directory-host",
        ),
        pytest.param(
            {"bastions": {"bastion-1": {"ip_address": "192.0.2.10"}}, "nfs": {"nfs-1": {"ip_address": "192.0.2.80"}},
             "ldap": {"ldap-1": {"ip_address": "192.0.2.90"}}, "grid_exec": {"exec-1": {"ip_address": "192.0.2.21"}}},
            None,
            ["0 host(s) in group 'grid_masters'", "it needs exactly one"],
            id="exec-hosts-without-master",
        ),
        pytest.param(None, {"shared_storage_allowed_network": "192.0.2.0"},
                     ["shared_storage_allowed_network", "CIDR", "it is '192.0.2.0'"], id="network-not-cidr"),
        pytest.param(
            None,
            {"people": [{"name": "alice", "uid": 2001, "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPHTNV alice"]}]},
            ["a key of 'alice' is not a valid OpenSSH public key", "not valid base64", "ssh_keys"],
            id="malformed-key",
        ),
        pytest.param(
            None,
            {"people": [{"name": "alice", "uid": 2001, "ssh_keys": [KEY.replace("ssh-ed25519", "ssh-rsa", 1)]}]},
            ["is a 'ssh-ed25519' key but the line says 'ssh-rsa'"],
            id="key-type-mismatch",
        ),
        pytest.param(None, {"people": [{"name": "tools.alice", "uid": 2001}]},
                     ["entry 'tools.alice' (uid 2001) is invalid"], id="bad-person-name"),
        pytest.param(None, {"people": [{"name": "alice", "uid": 50001}]},
                     ["entry 'alice' (uid 50001) is invalid", "1000-49999"], id="uid-in-tool-range"),
        pytest.param(None, {"people": [{"name": "alice", "uid": "two"}]},
                     ["entry 'alice' (uid two) is invalid", "a uid must be unique and in 1000-49999"], id="uid-not-a-number"),
        pytest.param(
            {"bastions": {"bastion-1": {"ip_address": "192.0.2.10"}}},
            None,
            ["exactly one host in group 'nfs'", "(it has 0)"],
            id="no-storage-server",
        ),
    ],
)
def test_bad_inventories_fail_with_a_message_naming_the_fix(tmp_path, hosts, all_vars, expected):
    result = validate(inventory(tmp_path, hosts, all_vars))
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output
    for text in expected:
        assert text in output, f"{text!r} not in the output:\n{output}"


@pytest.mark.parametrize(
    "command",
    [["make", "-C", str(ROOT), "lab"], [str(ROOT / "lab" / "up")]],
    ids=["make-lab", "lab-up"],
)
def test_make_lab_as_a_non_root_user_says_what_is_needed(command):
    if os.getuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
    )
    assert result.returncode != 0
    assert "must run as root" in result.stderr and "sudo make lab" in result.stderr
