#!/usr/bin/python
"""Take an execution host out of the grid (depool) or put it back (repool)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gridengine_node
short_description: Drain (depool), enable (repool) or remove a Grid Engine execution host
description:
  - V(drained) disables every queue instance on the host so that nothing new
    starts there, reschedules its rerunnable jobs (continuous bots, web servers)
    onto other hosts, deletes the jobs that cannot be rerun, and waits until no
    job is left on it.
  - V(enabled) enables the host's queue instances and, with O(test_job), runs a
    short job pinned to the host and waits for it to finish, to show the host works.
  - V(absent) drains the host as V(drained) does, then takes it out of every
    host group and the submit host list and deletes it as an execution host,
    so that the grid forgets it. Take the host out of the inventory first, or
    the next run of the master's role adds it back.
  - Run it on the grid master as root. A host that is already in the wanted state
    is not touched (nothing changed).
version_added: "1.0.0"
author: Tool Labs project
options:
  host:
    description: The execution host.
    type: str
    required: true
  state:
    description: V(drained), V(enabled) or V(absent).
    type: str
    choices: [drained, enabled, absent]
    required: true
  test_job:
    description: With V(enabled), run a job pinned to the host and wait for it.
    type: bool
    default: true
  test_user:
    description: The user that submits the test job (Grid Engine refuses root's jobs).
    type: str
    default: nobody
  timeout:
    description: Seconds to wait for the host to empty, or for the test job.
    type: int
    default: 300
  sge_root:
    description: SGE_ROOT of the cell.
    type: path
    default: /var/lib/gridengine
  sge_cell:
    description: SGE_CELL.
    type: str
    default: default
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: Depool tools-exec-02
  gridengine_node:
    host: tools-exec-02
    state: drained
  delegate_to: "{{ groups['grid_masters'] | first }}"

- name: Forget tools-exec-03, which has left the inventory
  gridengine_node:
    host: tools-exec-03
    state: absent
  delegate_to: "{{ groups['grid_masters'] | first }}"
"""

RETURN = r"""
rescheduled:
  description: Job ids that were rescheduled to other hosts.
  returned: always
  type: list
  elements: str
deleted:
  description: Job ids that could not be rerun and were deleted.
  returned: always
  type: list
  elements: str
removed_from:
  description: Host groups and lists the host was taken out of (V(absent)).
  returned: with V(absent)
  type: list
  elements: str
test_job:
  description: Id of the test job that ran on the host (V(enabled)).
  returned: when a test job ran
  type: str
"""

import time
import xml.etree.ElementTree as ET

from ansible.module_utils.basic import AnsibleModule


class Grid:
    def __init__(self, module):
        self.module = module
        self.env = {"SGE_ROOT": module.params["sge_root"], "SGE_CELL": module.params["sge_cell"]}
        self._rerun = None

    def run(self, *args, check_rc=True):
        rc, out, err = self.module.run_command(list(args), environ_update=self.env)
        if check_rc and rc != 0:
            self.module.fail_json(msg=f"{' '.join(args)} failed: {(err or out).strip()}", rc=rc)
        return out

    def qstat_on(self, host, *args):
        """qstat's XML about the host's queue instances. A host in no host group
        (the master's role took it out after it left the inventory) has none:
        qstat then exits 1 without a word, which means "nothing here"."""
        rc, out, err = self.module.run_command(["qstat", *args, "-q", f"*@{host}", "-u", "*"],
                                               environ_update=self.env)
        if rc == 1 and not out.strip() and not err.strip():
            return ET.fromstring("<job_info/>")
        if rc != 0:
            self.module.fail_json(msg=f"qstat {' '.join(args)} -q *@{host} failed: {(err or out).strip()}", rc=rc)
        return ET.fromstring(out)

    def queue_instances(self, host):
        """{queue@host: disabled?} for the host's queue instances."""
        root = self.qstat_on(host, "-f", "-xml")
        instances = {}
        for queue in root.iter("Queue-List"):
            state = queue.findtext("state") or ""
            instances[queue.findtext("name")] = "d" in state
        return instances

    def jobs_on(self, host):
        """[(job id, rerunnable?)] of the jobs running on the host; a job is
        rerunnable when its queue is (jsub never overrides the queue's rerun)."""
        root = self.qstat_on(host, "-xml", "-s", "rs")
        return [
            (job.findtext("JB_job_number"), (job.findtext("queue_name") or "").split("@")[0] in self.rerun_queues())
            for job in root.iter("job_list")
        ]

    def rerun_queues(self):
        if self._rerun is None:
            self._rerun = {
                queue for queue in self.run("qconf", "-sql").split()
                if any(line.split()[:2] == ["rerun", "TRUE"] for line in self.run("qconf", "-sq", queue).splitlines())
            }
        return self._rerun


def drain(module, grid, host, instances, result):
    """Disable the host's queue instances, move its rerunnable jobs away, delete
    the others and wait until it is empty. Returns whether anything changed."""
    running = grid.jobs_on(host)
    enabled = [name for name, disabled in instances.items() if not disabled]
    if not enabled and not running:
        return False
    result["rescheduled"] = [number for number, rerun in running if rerun]
    result["deleted"] = [number for number, rerun in running if not rerun]
    if module.check_mode:
        return True
    if enabled:
        grid.run("qmod", "-d", f"*@{host}")
    for number, rerun in running:
        if rerun:
            grid.run("qmod", "-rj", number, check_rc=False)
        else:
            grid.run("qdel", "-f", number, check_rc=False)
    deadline = time.monotonic() + module.params["timeout"]
    while grid.jobs_on(host):
        if time.monotonic() > deadline:
            module.fail_json(msg=f"{host} still runs jobs after {module.params['timeout']} s", **result)
        time.sleep(1)
    return True


def forget(module, grid, host, result):
    """Take the (drained) host out of its host groups and the submit hosts, then
    delete it as an execution host."""
    groups = [group for group in grid.run("qconf", "-shgrpl", check_rc=False).split()
              if host in grid.run("qconf", "-shgrp", group).split()]
    submit = host in grid.run("qconf", "-ss", check_rc=False).split()
    result["removed_from"] = groups + (["submit hosts"] if submit else [])
    if module.check_mode:
        return
    for group in groups:
        grid.run("qconf", "-dattr", "hostgroup", "hostlist", host, group)
    if submit:
        grid.run("qconf", "-ds", host)
    grid.run("qconf", "-de", host)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            host=dict(type="str", required=True),
            state=dict(type="str", choices=["drained", "enabled", "absent"], required=True),
            test_job=dict(type="bool", default=True),
            test_user=dict(type="str", default="nobody"),
            timeout=dict(type="int", default=300),
            sge_root=dict(type="path", default="/var/lib/gridengine"),
            sge_cell=dict(type="str", default="default"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    host = params["host"]
    grid = Grid(module)
    result = {"rescheduled": [], "deleted": []}
    known = host in grid.run("qconf", "-sel").split()
    if params["state"] == "absent" and not known:
        module.exit_json(changed=False, **result)
    if not known:
        module.fail_json(msg=f"{host} is not an execution host of this grid (qconf -sel)")
    instances = grid.queue_instances(host)

    if params["state"] == "drained":
        module.exit_json(changed=drain(module, grid, host, instances, result), **result)

    if params["state"] == "absent":
        drain(module, grid, host, instances, result)
        forget(module, grid, host, result)
        module.exit_json(changed=True, **result)

    disabled = [name for name, is_disabled in instances.items() if is_disabled]
    if not disabled:
        module.exit_json(changed=False, **result)
    if module.check_mode:
        module.exit_json(changed=True, **result)
    grid.run("qmod", "-e", f"*@{host}")
    if params["test_job"]:
        out = grid.run("timeout", str(params["timeout"]), "runuser", "-u", params["test_user"], "--", "env", f"SGE_ROOT={params['sge_root']}",
                       f"SGE_CELL={params['sge_cell']}", "qsub", "-sync", "y", "-b", "y", "-N", "repool-test",
                       "-l", f"hostname={host},h_vmem=64M", "-o", "/dev/null", "-e", "/dev/null", "-wd", "/tmp",
                       "/bin/true")
        result["test_job"] = next((word for word in out.split() if word.isdigit()), "")
    module.exit_json(changed=True, **result)


if __name__ == "__main__":
    main()
