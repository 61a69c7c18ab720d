"""The login host: banner, mosh, SFTP, and the user commands become and take."""

from __future__ import annotations

import subprocess
import uuid

import pytest

testinfra_hosts = ["tlm-bastion"]


def test_banner_names_the_essential_commands(host):
    motd = host.file("/etc/motd").content_string
    assert "Welcome to Tool Labs (tlm-bastion)" in motd
    assert "become TOOL" in motd and "take FILE..." in motd


def test_mosh_is_installed(host):
    assert host.package("mosh").is_installed


@pytest.mark.parametrize("path", ["/usr/local/bin/become", "/usr/local/bin/take", "/usr/lib/toollabs/take-helper",
                                  "/usr/local/lib/python3.11/dist-packages/toollabs/take.py"])
def test_commands_are_root_owned_and_not_writable_by_others(host, path):
    f = host.file(path)
    assert f.exists and f.user == "root" and f.group == "root"
    assert not f.mode & 0o022


def test_only_takes_helper_runs_as_root_through_sudo(host):
    rules = host.check_output("sudo -l -U alice")
    assert "(root) NOPASSWD: /usr/lib/toollabs/take-helper" in rules
    assert "(ALL" not in rules


def test_become_refuses_an_unknown_tool(host):
    result = host.run("su alice -c 'become nosuchtool'")
    assert result.rc == 1
    assert result.stderr.strip() == "become: no such tool 'nosuchtool'"


def test_the_helper_refuses_to_run_without_sudo(host):
    result = host.run("su alice -c /usr/lib/toollabs/take-helper")
    assert result.rc == 2


def test_sftp_upload_as_alice(host, credentials, tmp_path):
    local = tmp_path / "upload.txt"
    token = uuid.uuid4().hex
    local.write_text(token)
    batch = tmp_path / "batch"
    batch.write_text(f"put {local} /home/alice/upload-{token}.txt\n")
    result = subprocess.run(
        ["sftp", "-P", "2223", "-i", str(credentials / "ssh" / "alice"), "-b", str(batch),
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "alice@127.0.0.1"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    f = host.file(f"/home/alice/upload-{token}.txt")
    assert f.content_string == token and f.user == "alice"
    host.run(f"rm -f /home/alice/upload-{token}.txt")
