"""gridengine_node: which qconf calls drain and removal make, on a fake cell."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

spec = importlib.util.spec_from_file_location(
    "gridengine_node", Path(__file__).resolve().parents[2] / "library" / "gridengine_node.py")
gridengine_node = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gridengine_node)


class Exit(Exception):
    pass


class FakeModule:
    def __init__(self, check_mode=False):
        self.check_mode = check_mode
        self.params = {"timeout": 5}

    def fail_json(self, **kwargs):
        raise Exit(kwargs)


class FakeGrid:
    """A cell with host groups @general and @webgrid and the given jobs on the host."""

    def __init__(self, jobs=()):
        self.calls = []
        self.jobs = list(jobs)
        self.groups = {"@general": ["tools-exec-01", "tools-exec-03"], "@webgrid": ["tools-webgrid-01"]}
        self.submit = ["tools-bastion-01", "tools-exec-03"]

    def run(self, *args, check_rc=True):
        self.calls.append(args)
        if args[:2] == ("qconf", "-shgrpl"):
            return "\n".join(self.groups)
        if args[:2] == ("qconf", "-shgrp"):
            return f"group_name {args[2]}\nhostlist {' '.join(self.groups[args[2]])}\n"
        if args[:2] == ("qconf", "-ss"):
            return "\n".join(self.submit)
        if args[0] == "qmod" and args[1] == "-rj" or args[0] == "qdel":
            self.jobs = [job for job in self.jobs if job[0] != args[-1]]
        return ""

    def jobs_on(self, host):
        return list(self.jobs)

    def changes(self):
        return [call for call in self.calls if call[:2] not in {("qconf", "-shgrpl"), ("qconf", "-shgrp"), ("qconf", "-ss")}]


def test_drain_reschedules_rerunnable_jobs_and_deletes_the_others():
    grid = FakeGrid(jobs=[("7", True), ("8", False)])
    result = {}
    assert gridengine_node.drain(FakeModule(), grid, "tools-exec-03", {"task@tools-exec-03": False}, result)
    assert result == {"rescheduled": ["7"], "deleted": ["8"]}
    assert grid.changes() == [("qmod", "-d", "*@tools-exec-03"), ("qmod", "-rj", "7"), ("qdel", "-f", "8")]


def test_drain_of_an_empty_disabled_host_changes_nothing():
    grid = FakeGrid()
    assert not gridengine_node.drain(FakeModule(), grid, "tools-exec-03", {"task@tools-exec-03": True}, {})
    assert grid.changes() == []


@pytest.mark.parametrize("check_mode", [False, True])
def test_forget_leaves_host_groups_and_submit_hosts_then_deletes_the_host(check_mode):
    grid = FakeGrid()
    result = {}
    gridengine_node.forget(FakeModule(check_mode), grid, "tools-exec-03", result)
    assert result["removed_from"] == ["@general", "submit hosts"]
    expected = [("qconf", "-dattr", "hostgroup", "hostlist", "tools-exec-03", "@general"),
                ("qconf", "-ds", "tools-exec-03"), ("qconf", "-de", "tools-exec-03")]
    assert grid.changes() == ([] if check_mode else expected)


class FakeRunModule(FakeModule):
    """run_command answers as qstat does for a host without queue instances."""

    def __init__(self, rc, out="", err=""):
        super().__init__()
        self.answer = (rc, out, err)

    def run_command(self, args, environ_update=None):
        return self.answer


def test_a_host_without_queue_instances_has_no_queues_and_no_jobs():
    module = FakeRunModule(1)
    module.params.update(sge_root="/var/lib/gridengine", sge_cell="default")
    grid = gridengine_node.Grid(module)
    assert grid.queue_instances("tools-exec-03") == {}
    assert grid.jobs_on("tools-exec-03") == []


def test_a_failing_qstat_is_reported():
    module = FakeRunModule(2, err="error: commlib error")
    module.params.update(sge_root="/var/lib/gridengine", sge_cell="default")
    with pytest.raises(Exit, match="commlib error"):
        gridengine_node.Grid(module).queue_instances("tools-exec-03")
