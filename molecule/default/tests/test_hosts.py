"""What every host of the cluster must show after a converge (role common)."""

from __future__ import annotations

import pytest

from conftest import ADDRESSES

testinfra_hosts = sorted(ADDRESSES)

# Service alias -> host that must answer it, from the scenario's groups.
ALIASES = {
    "tools-login": "tlm-bastion",
    "tools-db": "tlm-exec",
    "tools-redis": "tlm-exec",
    "tools-mail": "tlm-exec",
    "tools-nfs": "tlm-nfs",
    "tools-ldap": "tlm-nfs",
    "tools-proxy": "tlm-nfs",
    "tools-grid-master": "tlm-nfs",
    "wiki-primary": "tlm-nfs",
    "enwiki.labsdb": "tlm-exec",
    "dewiki.labsdb": "tlm-exec",
    "commonswiki.labsdb": "tlm-exec",
    "wikidatawiki.labsdb": "tlm-exec",
}


@pytest.mark.parametrize("name,expected", sorted({**ALIASES, **{h: h for h in ADDRESSES}}.items()))
def test_names_resolve(host, name, expected):
    out = host.check_output(f"getent hosts {name}")
    assert out.split()[0] == ADDRESSES[expected], f"{name} resolves to {out!r} on {host.backend.host}"


@pytest.mark.parametrize(
    "option,value",
    [
        ("permitrootlogin", "no"),
        ("passwordauthentication", "no"),
        ("kbdinteractiveauthentication", "no"),
        ("pubkeyauthentication", "yes"),
        ("permitemptypasswords", "no"),
        ("authorizedkeysfile", "none"),
        ("authorizedkeyscommand", "/usr/bin/sss_ssh_authorizedkeys %u"),
        ("authorizedkeyscommanduser", "nobody"),
    ],
)
def test_sshd_is_hardened(host, option, value):
    settings = dict(
        line.split(" ", 1) for line in host.check_output("/usr/sbin/sshd -T").splitlines() if " " in line
    )
    assert settings[option] == value


def test_every_unit_started(host):
    state = host.run("systemctl is-system-running").stdout.strip()
    failed = host.run("systemctl --failed --no-legend --plain").stdout
    assert state == "running", f"systemd is {state}; failed units: {failed}"


def test_sshd_runs(host):
    assert host.service("ssh").is_running


@pytest.mark.parametrize("name,uid", [("alice", 2001), ("bob", 2002)])
def test_people_have_the_same_uid_everywhere(host, name, uid):
    user = host.user(name)
    assert user.exists
    assert user.uid == uid
    assert user.gid == uid
    assert user.home == f"/home/{name}"
    # From the directory through sssd, not from /etc/passwd.
    assert host.run(f"grep -q '^{name}:' /etc/passwd").rc == 1
    assert host.check_output(f"sss_ssh_authorizedkeys {name}").startswith("ssh-ed25519 ")


def test_only_operators_get_sudo(host):
    rules = host.file("/etc/sudoers.d/toollabs-admins").content_string
    assert "bob ALL=(ALL:ALL) NOPASSWD: ALL" in rules
    assert "alice" not in rules


def test_journald_is_limited(host):
    conf = host.file("/etc/systemd/journald.conf.d/toollabs.conf").content_string
    assert "SystemMaxUse=500M" in conf


def test_time_zone(host):
    assert host.file("/etc/localtime").linked_to == "/usr/share/zoneinfo/Etc/UTC"
