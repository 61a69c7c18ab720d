"""filter_plugins/toollabs.py: each filter directly, with good and bad input."""

from __future__ import annotations

import base64
import struct

import pytest
from ansible.errors import AnsibleFilterError

from conftest import load

f = load("filter_plugins/toollabs.py", "toollabs_filters")

# A real ed25519 public key (public keys are not secrets).
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPHTNVev5P1eqASI5hTSJn+c7F0PogC1X2HdJzAJoJlr alice@lab"


def blob(ktype: str, payload: bytes = b"\x00" * 32) -> str:
    raw = struct.pack(">I", len(ktype)) + ktype.encode() + struct.pack(">I", len(payload)) + payload
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    "key",
    [
        ED25519,
        ED25519.rsplit(" ", 1)[0],  # no comment
        f"ssh-rsa {blob('ssh-rsa')} someone with spaces in the comment",
        f"ecdsa-sha2-nistp256 {blob('ecdsa-sha2-nistp256')}",
        "  " + ED25519 + "\n",  # surrounding whitespace from a file lookup
    ],
)
def test_valid_keys(key):
    assert f.ssh_public_key_error(key) == ""
    assert f.ssh_public_key_valid(key) is True


@pytest.mark.parametrize(
    "key,reason",
    [
        ("", "should look like"),
        ("AAAAC3NzaC1lZDI1NTE5AAAAIPHTNVev5P1eqASI5hTSJn", "should look like"),
        ("ssh-dss " + blob("ssh-dss"), "unknown key type 'ssh-dss'"),
        ("ssh-ed25519 not*base64!", "not valid base64"),
        ("ssh-ed25519 " + ED25519.split()[1][:-3], "not valid base64"),
        ("ssh-rsa " + ED25519.split()[1], "is a 'ssh-ed25519' key but the line says 'ssh-rsa'"),
        ("ssh-ed25519 AAAA", "too short"),
        (ED25519 + "\n" + ED25519, "several lines"),
        (None, "not a string"),
        (42, "not a string"),
    ],
)
def test_invalid_keys_say_why(key, reason):
    assert reason in f.ssh_public_key_error(key)
    assert f.ssh_public_key_valid(key) is False


@pytest.mark.parametrize(
    "value,address,network",
    [
        ("172.30.0.10", True, False),
        ("172.30.0.0/24", False, True),
        ("10.0.0.0/8", False, True),
        ("172.30.0.300", False, False),
        ("tools-db", False, False),
        ("172.30.0.10/33", False, False),
        ("", False, False),
    ],
)
def test_ipv4_checks(value, address, network):
    assert f.is_ipv4_address(value) is address
    assert f.is_ipv4_network(value) is network


def test_ipv4_in_network():
    assert f.ipv4_in_network("172.30.0.10", "172.30.0.0/24")
    assert not f.ipv4_in_network("172.30.1.10", "172.30.0.0/24")
    with pytest.raises(AnsibleFilterError, match="CIDR"):
        f.ipv4_in_network("172.30.0.10", "not-a-network")
    with pytest.raises(AnsibleFilterError, match="not an IPv4 address"):
        f.ipv4_in_network("tools-db", "172.30.0.0/24")


HOSTVARS = {
    "db-1": {"ip_address": "172.30.0.50"},
    "bastion-1": {"ip_address": "172.30.0.10"},
    "replica-1": {"ip_address": "172.30.0.9"},
}
GROUPS = {"tools_db": ["db-1"], "bastions": ["bastion-1"], "replicas": ["replica-1"], "redis": []}


def test_hosts_entries_sorted_by_address_with_aliases():
    lines = f.hosts_entries(
        HOSTVARS,
        ["db-1", "bastion-1", "replica-1"],
        {"tools-db": "tools_db", "tools-redis": "redis", "tools-login": "bastions", "enwiki.labsdb": "replicas",
         "tools-mail": "mail"},
        GROUPS,
    )
    assert lines == [
        "172.30.0.9 replica-1 enwiki.labsdb",
        "172.30.0.10 bastion-1 tools-login",
        "172.30.0.50 db-1 tools-db",
    ]


@pytest.mark.parametrize("bad,message", [({}, "has no ip_address"), ({"ip_address": "db"}, "has ip_address 'db', which is not an IPv4 address")])
def test_hosts_entries_name_the_host_without_an_address(bad, message):
    with pytest.raises(AnsibleFilterError, match=f"host 'x' {message}"):
        f.hosts_entries({"x": bad}, ["x"], {}, {})


@pytest.mark.parametrize(
    "export,is_server,expected",
    [
        ({"path": "/data/project", "access": "rw"}, False, "lab-data-project:/data/project"),
        ({"path": "/public/dumps", "access": "ro"}, False, "lab-public-dumps:/public/dumps:ro"),
        ({"path": "/public/dumps", "access": "ro"}, True, "lab-public-dumps:/public/dumps"),
        ({"path": "/home"}, False, "lab-home:/home"),
    ],
)
def test_lab_volume(export, is_server, expected):
    assert f.toollabs_lab_volume(export, "lab", is_server) == expected


@pytest.mark.parametrize("export", [{}, {"path": "data/project"}, None])
def test_lab_volume_rejects_bad_exports(export):
    with pytest.raises(AnsibleFilterError):
        f.toollabs_lab_volume(export, "lab", False)


def test_people_with_state():
    people = [{"name": "a"}, {"name": "b", "state": "absent"}, {"name": "c", "state": "present"}]
    assert [p["name"] for p in f.people_with_state(people, "present")] == ["a", "c"]
    assert [p["name"] for p in f.people_with_state(people, "absent")] == ["b"]
    assert f.people_with_state(None, "present") == []
    with pytest.raises(AnsibleFilterError, match="'present' or 'absent'"):
        f.people_with_state(people, "gone")


def test_toollabs_commands_files():
    files = f.toollabs_commands_files(
        ["/repo/commands/src/toollabs/__init__.py", "/repo/commands/src/toollabs/take.py"],
        ["", "def main(): ..."], "/usr/local/lib/python3.11/dist-packages/toollabs/", ["take"], "/usr/bin/python3",
        "/usr/local/bin",
    )
    assert files[0] == {"path": "/usr/local/lib/python3.11/dist-packages/toollabs/__init__.py", "content": "",
                        "mode": "0644"}
    assert files[1]["path"].endswith("/toollabs/take.py")
    assert files[2]["path"] == "/usr/local/bin/take" and files[2]["mode"] == "0755"
    assert files[2]["content"].startswith("#!/usr/bin/python3 -I\n")
    assert "from toollabs.take import main" in files[2]["content"]


@pytest.mark.parametrize(
    "sources,contents,commands,message",
    [
        (["/x/take.py"], [], ["take"], "differ in length"),
        ([], [], [], "no package modules"),
        (["/x/take.py"], ["x"], ["jsub"], "no module toollabs/jsub.py"),
    ],
)
def test_toollabs_commands_files_rejects(sources, contents, commands, message):
    with pytest.raises(AnsibleFilterError, match=message):
        f.toollabs_commands_files(sources, contents, "/p", commands, "/usr/bin/python3", "/usr/local/bin")


@pytest.mark.parametrize(
    "installed,missing",
    [
        ({"stdout_lines": ["git", "curl"]}, ["tmux"]),
        ({"stdout_lines": ["git", "curl", "tmux"]}, []),
        (None, ["git", "tmux"]),
        ({"skipped": True}, ["git", "tmux"]),
    ],
)
def test_missing_packages(installed, missing):
    assert f.missing_packages(["git", "tmux"], installed) == missing


@pytest.mark.parametrize("name,bare", [("web", "web"), ("tools.web", "web"), ("a_b-1", "a_b-1")])
def test_tool_names(name, bare):
    filters = f.FilterModule().filters()
    assert filters["tool_name"](name) == bare
    assert filters["tool_user"](name) == "tools." + bare


@pytest.mark.parametrize(
    "name,message",
    [("tools.tools.web", "prefix twice"), ("Web", "not a valid tool name"), ("1web", "not a valid tool name"),
     ("a" * 33, "not a valid tool name"), ("", "needs a name")],
)
def test_tool_names_rejected(name, message):
    with pytest.raises(AnsibleFilterError, match=message):
        f.FilterModule().filters()["tool_user"](name)


def test_tool_db_user():
    assert f.tool_db_user(50003) == "s50003"
    assert f.tool_db_user("50010") == "s50010"
    with pytest.raises(AnsibleFilterError, match="not a tool's"):
        f.tool_db_user(2001)
    with pytest.raises(AnsibleFilterError, match="not a uid"):
        f.tool_db_user("x")


def test_tool_list():
    assert f.tool_list("alice, bob,,") == ["alice", "bob"]
    assert f.tool_list(["alice"]) == ["alice"]
    assert f.tool_list(None) == []


@pytest.mark.parametrize("facts,expected", [
    ({"virtualization_type": "docker", "virtualization_role": "guest"}, True),
    ({"virtualization_type": "lxc", "virtualization_role": "guest"}, True),
    ({"virtualization_type": "docker", "virtualization_role": "host"}, False),
    ({"virtualization_type": "kvm", "virtualization_role": "guest"}, False),
    ({}, False),
    (None, False),
])
def test_container_guest(facts, expected):
    assert f.is_container_guest(facts) is expected
