"""The grid: a tool submits a job from the bastion and it runs on the exec node."""

from __future__ import annotations

from conftest import cluster_host, playbook, ssh_as, wait_for

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


def test_a_tool_job_from_the_bastion_runs_on_an_exec_node(host, make_tool):
    name = make_tool(maintainers="alice")
    submitted = ssh_as("alice", f"become {name} bash -lc 'qsub -q task -l h_vmem=100M -b y -N where -j y "
                                f"-o $HOME/where.out /bin/sh -c \"hostname; id -un\"'")
    assert submitted.returncode == 0, submitted.stderr
    assert 'Your job' in submitted.stdout
    output = cluster_host("tlm-exec").file(f"/data/project/{name}/where.out")
    wait_for(lambda: output.exists and len(output.content_string.split()) == 2, timeout=30)
    where, user = output.content_string.split()
    assert where in ("tlm-exec", "tlm-exec2") and user == f"tools.{name}"


def test_jsub_runs_a_job_and_appends_to_its_output(make_tool):
    name = make_tool(maintainers="alice")
    home = f"/data/project/{name}"
    for _ in range(2):
        submitted = ssh_as("alice", f"become {name} jsub -mem 100m -N hello /bin/echo hello from the grid")
        assert submitted.returncode == 0, submitted.stderr
        assert 'Your job' in submitted.stdout and '("hello") has been submitted' in submitted.stdout
    out = cluster_host("tlm-exec").file(f"{home}/hello.out")
    wait_for(lambda: out.content_string.count("hello from the grid") == 2, timeout=30)
    assert out.user == f"tools.{name}" and out.mode & 0o007 == 0
    assert cluster_host("tlm-exec").file(f"{home}/hello.err").exists


def test_bad_jsub_input_submits_nothing(make_tool):
    name = make_tool(maintainers="alice")
    bad_memory = ssh_as("alice", f"become {name} jsub -mem 12x /bin/true")
    assert bad_memory.returncode == 1 and "invalid memory value '12x'" in bad_memory.stderr
    not_executable = ssh_as("alice", f"become {name} bash -c 'echo x > ~/notes.txt; jsub ~/notes.txt'")
    assert not_executable.returncode == 1 and "is not executable" in not_executable.stderr
    unknown = ssh_as("alice", f"become {name} jsub -frobnicate /bin/true")
    assert unknown.returncode == 1 and "unknown option -frobnicate" in unknown.stderr
    assert "true" not in ssh_as("alice", f"become {name} qstat").stdout


def test_a_continuous_job_is_restarted_once_refuses_and_jstop_ends_it(make_tool):
    name = make_tool(maintainers="alice")
    home = f"/data/project/{name}"
    made = ssh_as("alice", f"become {name} bash -c 'printf \"#!/bin/sh\\necho run\\nsleep 2\\nexit 3\\n\" > ~/bot.sh; "
                           "chmod +x ~/bot.sh; jstart -mem 100m ~/bot.sh'")
    assert made.returncode == 0, made.stderr
    err = cluster_host("tlm-exec").file(f"{home}/bot.err")
    wait_for(lambda: err.exists and "exited with code 3. Respawning..." in err.content_string, timeout=40)
    again = ssh_as("alice", f"become {name} jstart -mem 100m {home}/bot.sh")
    assert again.returncode == 1 and "there is a job named 'bot' already active" in again.stderr
    state = ssh_as("alice", f"become {name} job bot")
    assert state.returncode == 1 and state.stdout.strip().isdigit()
    stopped = ssh_as("alice", f"become {name} jstop bot")
    assert stopped.returncode == 0, stopped.stderr
    wait_for(lambda: ssh_as("alice", f"become {name} job bot").returncode == 0, timeout=30)
    gone = ssh_as("alice", f"become {name} jstop bot")
    assert gone.returncode == 1 and "No job 'bot' is currently queued or running" in gone.stderr


def test_depool_reschedules_continuous_jobs_deletes_the_rest_and_repool_runs_a_test_job(host, make_tool):
    name = make_tool(maintainers="alice")
    # Both jobs start on tlm-exec, the node to depool: tlm-exec2 takes nothing meanwhile.
    host.check_output(". /etc/profile.d/gridengine.sh && qmod -d '*@tlm-exec2'")
    try:
        submitted = ssh_as("alice", f"become {name} bash -c 'jstart -quiet -mem 100m -N keeper /bin/sleep 600; "
                                    "jsub -quiet -mem 100m -N oneoff /bin/sleep 600'")
        assert submitted.returncode == 0, submitted.stderr

        def both_running():
            listing = ssh_as("alice", f"become {name} qstat").stdout
            return all(any(job in line and "@tlm-exec " in line for line in listing.splitlines())
                       for job in ("keeper", "oneoff"))

        wait_for(both_running, timeout=30)
    finally:
        host.check_output(". /etc/profile.d/gridengine.sh && qmod -e '*@tlm-exec2'")
    depooled = playbook("depool.yml", "-e", "node=tlm-exec")
    assert depooled.returncode == 0, depooled.stdout[-2000:]
    assert "rescheduled jobs:" in depooled.stdout and "deleted jobs:" in depooled.stdout
    states = qconf_states(host)
    assert states and all("d" in state for state in states.values()), states
    listing = ssh_as("alice", f"become {name} qstat").stdout
    assert "oneoff" not in listing and "keeper" in listing
    # The continuous job goes on on the other node.
    wait_for(lambda: "continuous@tlm-exec2" in ssh_as("alice", f"become {name} qstat").stdout, timeout=30)
    assert "changed=0" in playbook("depool.yml", "-e", "node=tlm-exec").stdout

    repooled = playbook("repool.yml", "-e", "node=tlm-exec")
    assert repooled.returncode == 0, repooled.stdout[-2000:]
    assert "test job" in repooled.stdout and "ran on it" in repooled.stdout
    assert not any("d" in state for state in qconf_states(host).values())
    wait_for(lambda: ssh_as("alice", f"become {name} job keeper").returncode == 1, timeout=30)
    ssh_as("alice", f"become {name} jstop keeper")


def qconf_states(host) -> dict:
    """{queue instance: state letters} of tlm-exec's queue instances."""
    lines = host.check_output(". /etc/profile.d/gridengine.sh && qstat -f -q '*@tlm-exec'").splitlines()
    return {line.split()[0]: (line.split()[5] if len(line.split()) > 5 else "") for line in lines if "@tlm-exec" in line}


def test_depool_refuses_an_unknown_node():
    result = playbook("depool.yml", "-e", "node=no-such-node")
    assert result.returncode != 0 and "Say which exec node" in result.stdout


def test_crontab_lines_run_through_the_grid(make_tool):
    name = make_tool(maintainers="alice")
    user = f"tools.{name}"
    installed = ssh_as("alice", f"become {name} bash -c 'echo \"* * * * * /bin/echo tick\" | crontab -; crontab -l'")
    assert installed.returncode == 0, installed.stderr
    assert f"* * * * * /usr/local/bin/jsub -N cron-{user}-1 -once -quiet /bin/echo tick" in installed.stdout
    out = cluster_host("tlm-exec").file(f"/data/project/{name}/cron-{user}-1.out")
    wait_for(lambda: out.exists and "tick" in out.content_string, timeout=150, interval=2)
    assert ssh_as("alice", f"become {name} crontab -r").returncode == 0
