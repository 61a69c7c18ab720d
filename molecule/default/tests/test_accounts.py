"""Tool accounts end to end: playbooks/tool.yml, the directory, sssd on every host,
become and take over real SSH, the tools' file permissions, removal with archive.

tlm-nfs is both the storage server and the directory host of this scenario.
"""

from __future__ import annotations

import io
import tarfile

import pytest
from conftest import cluster_host, new_tool_name, playbook, ssh_as, wait_for

testinfra_hosts = ["tlm-nfs"]

LDAPSEARCH = "ldapsearch -LLL -Q -Y EXTERNAL -H ldapi:/// -b dc=toollabs"


def directory(host, filterstr: str, *attrs: str) -> str:
    return host.check_output(f"{LDAPSEARCH} '{filterstr}' {' '.join(attrs)}")


def test_a_new_tool_resolves_everywhere_with_one_uid_within_seconds(host, make_tool):
    name = make_tool()
    bastion, exec_node = cluster_host("tlm-bastion"), cluster_host("tlm-exec")
    entries = {}

    def resolves_everywhere():
        for node in (bastion, exec_node, host):
            result = node.run(f"getent passwd tools.{name}")
            if result.rc != 0:
                return False
            entries[node.backend.hostname] = result.stdout.strip()
        return True

    seconds = wait_for(resolves_everywhere, timeout=5)
    assert len(set(entries.values())) == 1, entries
    fields = next(iter(entries.values())).split(":")
    assert fields[0] == f"tools.{name}" and fields[2] == fields[3] and int(fields[2]) >= 50000
    assert fields[5] == f"/data/project/{name}"
    print(f"tools.{name} resolved on every host after {seconds:.1f} s")


def test_the_home_is_setgid_group_writable_and_owned_by_the_tool(host, make_tool):
    name = make_tool(description="Finds <b>typos</b>.")
    home = host.file(f"/data/project/{name}")
    assert home.is_directory and home.mode == 0o2775
    assert home.user == f"tools.{name}" and home.group == f"tools.{name}"
    assert host.file(f"/data/project/{name}/public_html").mode == 0o2775
    description = host.file(f"/data/project/{name}/.description")
    assert description.content_string == "Finds <b>typos</b>.\n"
    assert description.user == f"tools.{name}"


def test_the_maintainer_becomes_the_tool_and_others_are_refused(make_tool):
    # In this scenario bob is an operator (sudo to anyone) and alice is not.
    name = make_tool(maintainers="bob")
    result = ssh_as("bob", f"become {name} id -un")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"tools.{name}"
    refused = ssh_as("alice", f"become {name} id -un")
    assert refused.returncode == 1
    assert f"become: You are not a member of the group tools.{name}." in refused.stderr
    # Nor can alice go round become with sudo itself.
    direct = ssh_as("alice", f"sudo -n -u tools.{name} id -un")
    assert direct.returncode != 0 and f"tools.{name}" not in direct.stdout


def test_alice_takes_a_file_she_copied_into_the_tool(make_tool):
    name = make_tool(maintainers="alice")
    result = ssh_as(
        "alice",
        f"set -e; echo hello > ~/app.py; cp ~/app.py /data/project/{name}/app.py; "
        f"stat -c '%U %G' /data/project/{name}/app.py; become {name} take /data/project/{name}/app.py; "
        f"stat -c '%U %G' /data/project/{name}/app.py",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["alice tools." + name, f"tools.{name} tools.{name}"]


def test_take_refuses_the_attacks(host, make_tool):
    name = make_tool(maintainers="alice,bob")
    home = f"/data/project/{name}"
    prepared = ssh_as(
        "bob",
        f"set -e; umask 002; ln -s /etc/shadow {home}/link; mkdir -m 700 {home}/bobs; echo x > {home}/bobs/victim; "
        f"ln {home}/bobs/victim {home}/hard; echo y > {home}/private; chgrp bob {home}/private",
    )
    assert prepared.returncode == 0, prepared.stderr
    result = ssh_as("alice", f"become {name} take {home}/link {home}/hard {home}/private /etc/hostname")
    assert result.returncode == 1
    assert f"{home}/link: is a symbolic link" in result.stderr
    assert f"{home}/hard: has other hard links" in result.stderr
    assert f"{home}/private: you share no group with it" in result.stderr
    assert "/etc/hostname: you do not own the directory it is in" in result.stderr
    assert host.file("/etc/shadow").user == "root"
    assert host.file(f"{home}/hard").user == "bob"
    assert host.file(f"{home}/private").user == "bob"


def test_tool_files_are_group_writable_and_hidden_from_other_tools(make_tool):
    mine = make_tool(maintainers="alice")
    other = make_tool(maintainers="bob")
    made = ssh_as("alice", f"become {mine} bash -lc 'echo secret > ~/secret.txt; stat -c %a ~/secret.txt'")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "660"
    # The maintainer writes it through the tool's group ...
    assert ssh_as("alice", f"echo more >> /data/project/{mine}/secret.txt").returncode == 0
    # ... another tool (and its maintainer) cannot read it.
    peek = ssh_as("bob", f"become {other} cat /data/project/{mine}/secret.txt")
    assert peek.returncode != 0 and "Permission denied" in peek.stderr
    assert ssh_as("bob", f"cat /data/project/{mine}/secret.txt").returncode != 0


def test_maintainers_are_synchronised(host, make_tool):
    name = make_tool(maintainers="alice")
    result = playbook("tool.yml", "-e", f"name={name}", "-e", "maintainers=bob")
    assert result.returncode == 0, result.stdout[-2000:]
    members = directory(host, f"(cn=tools.{name})", "memberUid")
    assert "memberUid: bob" in members and "memberUid: alice" not in members
    again = playbook("tool.yml", "-e", f"name={name}", "-e", "maintainers=bob")
    assert "changed=0" in again.stdout


def test_removing_a_tool_archives_its_home_first_and_never_reuses_its_uid(host):
    name = new_tool_name()
    assert playbook("tool.yml", "-e", f"name={name}", "-e", "maintainers=alice").returncode == 0
    uid = int(host.check_output(f"stat -c %u /data/project/{name}"))
    host.check_output(f"echo keep > /data/project/{name}/data.txt")
    removed = playbook("tool.yml", "-e", f"name={name}", "-e", "state=absent")
    assert removed.returncode == 0, removed.stdout[-2000:]
    assert not host.file(f"/data/project/{name}").exists
    assert directory(host, f"(|(uid=tools.{name})(cn=tools.{name}))").strip() == ""
    archive_dir = host.file("/srv/tool-archive")
    assert archive_dir.mode == 0o700 and archive_dir.user == "root"
    archives = host.check_output(f"ls /srv/tool-archive | grep '^{name}-{uid}-'").split()
    assert len(archives) == 1
    path = f"/srv/tool-archive/{archives[0]}"
    assert host.file(path).mode == 0o600
    with tarfile.open(fileobj=io.BytesIO(host.file(path).content), mode="r:gz") as tar:
        assert tar.extractfile(f"{name}/data.txt").read() == b"keep\n"
    # The same name again gets a new uid.
    assert playbook("tool.yml", "-e", f"name={name}", "-e", "maintainers=alice").returncode == 0
    assert int(host.check_output(f"stat -c %u /data/project/{name}")) > uid
    playbook("tool.yml", "-e", f"name={name}", "-e", "state=absent")


@pytest.mark.parametrize(
    "extra,message",
    [
        (["-e", "name=Bad"], "'Bad' is not a valid tool name"),
        (["-e", "name=tools.tools.x", "-e", "maintainers=alice"], "prefix twice"),
        (["-e", "name=admin", "-e", "maintainers=alice"], "'admin' is a reserved name"),
        (["-e", "name=alice", "-e", "maintainers=alice"], "taken by a person"),
        (["-e", "name=goodname", "-e", "maintainers=alice,carol"], "unknown maintainer(s) carol"),
        (["-e", "name=goodname", "-e", "maintainers=alice", "-e", "description=" + "x" * 1001],
         "shorten it to at most 1000"),
        (["-e", "name=goodname"], "needs at least one maintainer"),
        ([], "Say which tool and what to do"),
    ],
)
def test_bad_input_says_what_to_fix_and_creates_nothing(host, extra, message):
    result = playbook("tool.yml", *extra)
    assert result.returncode != 0
    assert message in result.stdout, result.stdout[-2000:]
    assert not host.file("/data/project/goodname").exists
    assert directory(host, "(|(uid=tools.goodname)(cn=tools.goodname))").strip() == ""


def test_the_inventory_tools_converge_with_no_change():
    result = playbook("tools.yml")
    assert result.returncode == 0, result.stdout[-2000:]
    assert "changed=0" in result.stdout and "failed=0" in result.stdout


def test_people_keys_come_from_the_directory(host):
    bastion = cluster_host("tlm-bastion")
    keys = bastion.check_output("sss_ssh_authorizedkeys alice")
    assert keys.startswith("ssh-ed25519 ")
    assert not bastion.file("/etc/ssh/authorized_keys").exists


def test_the_directory_speaks_only_tls_and_shows_nothing_to_strangers(host):
    exec_node = cluster_host("tlm-exec")
    assert exec_node.run("timeout 5 bash -c 'echo > /dev/tcp/tools-ldap/389'").rc != 0
    assert exec_node.run("timeout 5 bash -c 'echo > /dev/tcp/tools-ldap/636'").rc == 0
    # From the network (ldaps to its own address), with the installation's CA.
    anonymous = host.run(
        "LDAPTLS_CACERT=/etc/ldap/tls/ca.crt ldapsearch -LLL -x -H ldaps://tools-ldap -b dc=toollabs uid=alice"
    )
    assert anonymous.rc in (0, 32), anonymous.stderr
    assert "uid: alice" not in anonymous.stdout
    untrusted = host.run(
        "LDAPTLS_CACERT=/etc/ssl/certs/ca-certificates.crt ldapsearch -LLL -x -H ldaps://tools-ldap -b dc=toollabs"
    )
    assert untrusted.rc != 0


def test_known_accounts_survive_a_directory_restart(host, make_tool):
    name = make_tool()
    exec_node = cluster_host("tlm-exec")
    # What running jobs would have looked up before the directory went away.
    wait_for(lambda: exec_node.run(f"id tools.{name}").rc == 0 and exec_node.run("id alice").rc == 0, timeout=5)
    host.check_output("systemctl stop slapd")
    try:
        assert exec_node.run(f"id tools.{name}").rc == 0
        assert exec_node.run("id alice").rc == 0
    finally:
        host.check_output("systemctl start slapd")
    later = make_tool()
    # Back online within sssd's retry interval, then the new tool resolves.
    wait_for(lambda: exec_node.run(f"getent passwd tools.{later}").rc == 0, timeout=40)
