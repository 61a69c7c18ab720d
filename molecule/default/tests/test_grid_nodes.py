"""Growing, maintaining and losing exec nodes while tools' jobs keep running.

tlm-exec and tlm-exec2 are the scenario's two general exec nodes. These tests
kill and restart containers, so each one leaves every node back in the grid.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from conftest import cluster_host, playbook, ssh_as, wait_for

testinfra_hosts = ["tlm-nfs"]

GRID = ". /etc/profile.d/gridengine.sh && "


def running_on(tool: str, job: str) -> str:
    """The exec node on which the tool's job runs now ("" when it does not run)."""
    for line in ssh_as("alice", f"become {tool} qstat").stdout.splitlines():
        fields = line.split()
        # job-ID prior name user state date time queue slots; "Rr" = restarted, running.
        if len(fields) >= 8 and fields[2] == job[:10] and re.fullmatch(r"R?r", fields[4]):
            return fields[7].split("@")[1]
    return ""


def execd_reports(host, node: str) -> bool:
    """The node's execution daemon talks to the master (qhost shows its load)."""
    line = host.check_output(GRID + f"qhost -h {node}").splitlines()[-1].split()
    return line[0] == node and line[6] != "-"


def execd_pid(node: str) -> str:
    # gridengine-exec is an LSB service: systemd does not know its main PID.
    return cluster_host(node).check_output("pgrep -x sge_execd")


def exec_host_settings(host, node: str) -> str:
    """The node's complex_values as the master has them (qconf -se also shows changing load values)."""
    return next(line for line in host.check_output(GRID + f"qconf -se {node}").splitlines()
                if line.startswith("complex_values"))


def recap(output: str) -> dict:
    """{host: changed count} from a playbook's PLAY RECAP."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", output, re.M)}


def test_a_dead_nodes_continuous_job_runs_again_on_the_other_node(host, make_tool):
    name = make_tool(maintainers="alice")
    # Start the bot on tlm-exec2, the node that will die.
    host.check_output(GRID + "qmod -d continuous@tlm-exec")
    try:
        started = ssh_as("alice", f"become {name} jstart -quiet -mem 100m -N survivor /bin/sleep 3600")
        assert started.returncode == 0, started.stderr
        wait_for(lambda: running_on(name, "survivor") == "tlm-exec2", timeout=30)
    finally:
        host.check_output(GRID + "qmod -e continuous@tlm-exec")
    killed = time.monotonic()
    subprocess.run(["docker", "kill", "tlm-exec2"], check=True, capture_output=True)
    try:
        # max_unheard (60 s) marks the node unknown, reschedule_unknown (60 s) later
        # the job is sent elsewhere; the goal is 3 minutes.
        wait_for(lambda: running_on(name, "survivor") == "tlm-exec", timeout=240, interval=3)
        print(f"the continuous job ran again {time.monotonic() - killed:.0f} s after its node died")
    finally:
        subprocess.run(["docker", "start", "tlm-exec2"], check=True, capture_output=True)
        wait_for(lambda: execd_reports(host, "tlm-exec2"), timeout=180, interval=3)
        ssh_as("alice", f"become {name} jstop survivor")
    # Docker wrote a fresh /etc/hosts; the cluster's names are back (role common).
    assert cluster_host("tlm-exec2").run("getent hosts tools-ldap").rc == 0


def test_rolling_maintenance_drains_one_node_at_a_time_and_keeps_the_bot_running(host, make_tool):
    name = make_tool(maintainers="alice")
    assert ssh_as("alice", f"become {name} jstart -quiet -mem 100m -N steady /bin/sleep 3600").returncode == 0
    wait_for(lambda: running_on(name, "steady") != "", timeout=30)
    pids = {node: execd_pid(node) for node in ("tlm-exec", "tlm-exec2")}

    result = playbook("rolling-maintenance.yml", "-e", "maintenance_force=true", "-e", "maintenance_upgrade=false")
    assert result.returncode == 0, result.stdout[-3000:]
    # serial: 1 — each node is drained, restarted and repooled before the next is touched.
    steps = re.findall(r"^TASK \[(Drain the node|Repool the node and run a test job on it)\][^\n]*\nchanged: \[(\S+) ",
                       result.stdout, re.M)
    assert [(task.split()[0], node) for task, node in steps] == [
        ("Drain", "tlm-exec"), ("Repool", "tlm-exec"), ("Drain", "tlm-exec2"), ("Repool", "tlm-exec2")], steps
    assert all(execd_pid(node) != pid for node, pid in pids.items()), "every execution daemon was restarted"
    wait_for(lambda: running_on(name, "steady") != "", timeout=30)
    assert " d" not in host.check_output(GRID + "qstat -f -q 'task,continuous'")

    # Nothing waits for maintenance now: a second run leaves every node alone.
    again = playbook("rolling-maintenance.yml", "-e", "maintenance_upgrade=false")
    assert again.returncode == 0 and recap(again.stdout).get("tlm-exec2") == 0, again.stdout[-2000:]
    ssh_as("alice", f"become {name} jstop steady")


def test_a_third_exec_node_joins_without_a_change_on_the_others_and_leaves_again(host, make_tool):
    ephemeral = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    extra = ephemeral / "third-exec-node.yml"
    extra.write_text(
        "all:\n  children:\n    grid_exec:\n      hosts:\n        tlm-exec3:\n"
        "          ansible_connection: community.docker.docker\n          ip_address: 172.30.1.23\n"
    )
    subprocess.run(["docker", "rm", "-f", "tlm-exec3"], capture_output=True)
    # The same container as the scenario's platforms (molecule.yml).
    subprocess.run([
        "docker", "run", "-d", "--name", "tlm-exec3", "--hostname", "tlm-exec3",
        "--network", "toollabs-molecule", "--ip", "172.30.1.23",
        "--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
        "--cgroupns", "host", "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
        "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
        "-v", "toollabs-molecule-data-project:/data/project", "-v", "toollabs-molecule-home:/home",
        "-v", "toollabs-molecule-data-scratch:/data/scratch", "-v", "toollabs-molecule-public-dumps:/public/dumps:ro",
        "-e", "container=docker", "--stop-signal", "SIGRTMIN+3",
        "toollabs-base:latest", "/lib/systemd/systemd",
    ], check=True, capture_output=True)
    try:
        wait_for(lambda: subprocess.run(["docker", "exec", "tlm-exec3", "systemctl", "is-system-running"],
                                        capture_output=True, text=True).stdout.strip() in ("running", "degraded"),
                 timeout=60, interval=1)
        before = {node: (execd_pid(node), exec_host_settings(host, node))
                  for node in ("tlm-exec", "tlm-exec2")}

        added = playbook("add-exec-node.yml", "-i", str(extra), "-e", "node=tlm-exec3")
        assert added.returncode == 0, added.stdout[-3000:]
        changed = recap(added.stdout)
        assert changed["tlm-exec3"] > 0
        assert all(count == 0 for node, count in changed.items() if node not in ("tlm-nfs", "tlm-exec3")), changed
        after = {node: (execd_pid(node), exec_host_settings(host, node))
                 for node in ("tlm-exec", "tlm-exec2")}
        assert after == before
        assert "tlm-exec3" in host.check_output(GRID + "qconf -shgrp @general").split()

        name = make_tool(maintainers="alice")
        ran = ssh_as("alice", f"become {name} jsub -quiet -mem 100m -l hostname=tlm-exec3 -N onthree /bin/hostname")
        assert ran.returncode == 0, ran.stderr
        out = cluster_host("tlm-exec").file(f"/data/project/{name}/onthree.out")
        wait_for(lambda: out.exists and out.content_string.strip() == "tlm-exec3", timeout=30)
    finally:
        subprocess.run(["docker", "rm", "-f", "tlm-exec3"], capture_output=True)
        extra.unlink()

    # The node has gone (and is not in the inventory): the admin removes it from the grid.
    refused = playbook("remove-exec-node.yml", "-e", "node=tlm-exec2")
    assert refused.returncode != 0 and "still an exec node of the inventory" in refused.stdout
    removed = playbook("remove-exec-node.yml", "-e", "node=tlm-exec3")
    assert removed.returncode == 0, removed.stdout[-3000:]
    assert "tlm-exec3" not in host.check_output(GRID + "qconf -sel").split()
    assert "tlm-exec3" not in host.check_output(GRID + "qconf -shgrp @general").split()
    again = playbook("remove-exec-node.yml", "-e", "node=tlm-exec3")
    assert again.returncode == 0 and "was not part of the grid" in again.stdout and recap(again.stdout)["tlm-nfs"] == 0
