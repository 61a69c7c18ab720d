"""People log in to the bastion with their key, over real SSH, and never with a password."""

from __future__ import annotations

import subprocess

SSH = [
    "ssh", "-p", "2223",
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=no",
    "-o", "UserKnownHostsFile=/dev/null",
    "-o", "ConnectTimeout=10",
]

testinfra_hosts = ["tlm-bastion"]


def ssh(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*SSH, *args], capture_output=True, text=True, timeout=60)


def test_alice_logs_in_with_her_key(host, credentials):
    result = ssh("-i", str(credentials / "ssh" / "alice"), "alice@127.0.0.1", "id -un; hostname; pwd")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["alice", "tlm-bastion", "/home/alice"]


def test_a_password_is_never_accepted(host):
    result = ssh(
        "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive",
        "alice@127.0.0.1", "true",
    )
    assert result.returncode == 255
    assert "Permission denied (publickey)" in result.stderr


def test_bobs_key_does_not_open_alices_account(host, credentials):
    result = ssh("-i", str(credentials / "ssh" / "bob"), "-o", "IdentitiesOnly=yes", "alice@127.0.0.1", "true")
    assert result.returncode == 255
    assert "Permission denied" in result.stderr


def test_root_cannot_log_in(host, credentials):
    result = ssh("-i", str(credentials / "ssh" / "alice"), "-o", "IdentitiesOnly=yes", "root@127.0.0.1", "true")
    assert result.returncode == 255
