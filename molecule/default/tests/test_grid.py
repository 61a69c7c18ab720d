"""The grid: a tool submits a job from the bastion and it runs on the exec node."""

from __future__ import annotations

from conftest import cluster_host, ssh_as, wait_for

testinfra_hosts = ["tlm-nfs"]


def qconf(host, *args: str) -> str:
    return host.check_output(". /etc/profile.d/gridengine.sh && qconf " + " ".join(args))


def test_the_cell_is_configured_as_behavior_md_says(host):
    assert set(qconf(host, "-sql").split()) == {"task", "continuous", "webgrid-lighttpd", "webgrid-generic"}
    continuous = qconf(host, "-sq", "continuous")
    assert "rerun                 TRUE" in continuous and "priority              10" in continuous
    assert "rerun                 FALSE" in qconf(host, "-sq", "task")
    vmem = [line.split() for line in qconf(host, "-sc").splitlines() if line.startswith("h_vmem ")][0]
    assert vmem[4:6] == ["FORCED", "YES"]
    assert "tlm-exec" in qconf(host, "-shgrp", "@general")
    assert "tlm-bastion" in qconf(host, "-ss").split()
    exec_host = qconf(host, "-se", "tlm-exec")
    assert "h_vmem=" in exec_host and "release=bookworm" in exec_host


def test_a_tool_job_from_the_bastion_runs_on_the_exec_node(host, make_tool):
    name = make_tool(maintainers="alice")
    submitted = ssh_as("alice", f"become {name} bash -lc 'qsub -q task -l h_vmem=100M -b y -N where -j y "
                                f"-o $HOME/where.out /bin/sh -c \"hostname; id -un\"'")
    assert submitted.returncode == 0, submitted.stderr
    assert 'Your job' in submitted.stdout
    output = cluster_host("tlm-exec").file(f"/data/project/{name}/where.out")
    wait_for(lambda: output.exists and len(output.content_string.split()) == 2, timeout=30)
    assert output.content_string.split() == ["tlm-exec", f"tools.{name}"]
