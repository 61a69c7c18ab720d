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


@pytest.fixture
def shared_dir(host):
    """A directory of alice's in a group she shares with bob, as a tool home is."""
    name = f"take-{uuid.uuid4().hex[:8]}"
    path = f"/data/project/{name}"
    host.check_output(
        f"groupadd {name} && usermod -aG {name} alice && usermod -aG {name} bob && "
        f"mkdir {path} && chown alice:{name} {path} && chmod 2775 {path}"
    )
    yield path
    host.run(f"rm -rf {path}; gpasswd -d alice {name}; gpasswd -d bob {name}; groupdel {name}")


def test_take_gives_a_copied_file_to_the_caller(host, shared_dir):
    host.check_output(f"su bob -c 'umask 002; mkdir {shared_dir}/src; echo hi > {shared_dir}/src/app.py'")
    result = host.run(f"su alice -c 'take {shared_dir}/src'")
    assert result.rc == 0, result.stderr
    for path in (f"{shared_dir}/src", f"{shared_dir}/src/app.py"):
        f = host.file(path)
        assert f.user == "alice" and f.group == shared_dir.rsplit("/", 1)[1]


def test_take_refuses_the_attacks(host, shared_dir):
    host.check_output(
        f"su bob -c 'set -e; umask 002; ln -s /etc/shadow {shared_dir}/link; mkdir -m 700 {shared_dir}/bobs; "
        f"echo x > {shared_dir}/bobs/victim; ln {shared_dir}/bobs/victim {shared_dir}/hard; "
        f"echo y > {shared_dir}/private; chgrp bob {shared_dir}/private'"
    )
    result = host.run(f"su alice -c 'take {shared_dir}/link {shared_dir}/hard {shared_dir}/private /etc/hostname'")
    assert result.rc == 1
    assert f"{shared_dir}/link: is a symbolic link" in result.stderr
    assert f"{shared_dir}/hard: has other hard links" in result.stderr
    assert f"{shared_dir}/private: you share no group with it" in result.stderr
    assert "/etc/hostname: you do not own the directory it is in" in result.stderr
    assert host.file("/etc/shadow").user == "root"
    assert host.file(f"{shared_dir}/hard").user == "bob"
    assert host.file("/etc/hostname").user == "root"


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
