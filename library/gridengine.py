#!/usr/bin/python
"""Grid Engine's configuration, made idempotent: read with qconf -s*, write only the difference."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gridengine
short_description: Converge a Son of Grid Engine cell's configuration with qconf
description:
  - Reads the current configuration with C(qconf -s*), merges the wanted settings
    into it and writes only what differs with C(qconf -A*)/C(-M*), so a run with
    nothing to do changes nothing. One call converges the whole cell: complexes,
    global and scheduler configuration, admin, submit and execution hosts, host
    groups and cluster queues, in that order (later objects refer to earlier ones).
  - Run it on the grid master as root.
  - Objects that are not named are left alone (nothing is removed).
version_added: "1.0.0"
author: Tool Labs project
options:
  sge_root:
    description: SGE_ROOT of the cell.
    type: path
    default: /var/lib/gridengine
  sge_cell:
    description: SGE_CELL.
    type: str
    default: default
  complexes:
    description:
      - Complex attributes by name, each with any of C(shortcut), C(type), C(relop),
        C(requestable), C(consumable), C(default), C(urgency). Missing entries are added.
    type: dict
    default: {}
  global_config:
    description: Settings of the global configuration (C(qconf -sconf)).
    type: dict
    default: {}
  scheduler:
    description: Settings of the scheduler configuration (C(qconf -ssconf)).
    type: dict
    default: {}
  admin_hosts:
    description: Hosts that must be administrative hosts.
    type: list
    elements: str
    default: []
  submit_hosts:
    description: Hosts that must be submit hosts.
    type: list
    elements: str
    default: []
  exec_hosts:
    description: Execution hosts by name, with settings such as C(complex_values).
    type: dict
    default: {}
  hostgroups:
    description: Host groups (names start with C(@)) and exactly their hosts.
    type: dict
    default: {}
  queues:
    description:
      - Cluster queues by name with their settings; a new queue starts from Grid
        Engine's defaults (without parallel environments).
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
"""

EXAMPLES = r"""
- name: Configure the grid
  gridengine:
    complexes:
      h_vmem: {consumable: FORCED, default: 0}
      release: {shortcut: release, type: STRING, relop: "==", requestable: "YES"}
    scheduler:
      schedule_interval: "0:0:1"
    submit_hosts: [tools-bastion-01]
    exec_hosts:
      tools-exec-01: {complex_values: "h_vmem=7G,release=bookworm"}
    hostgroups:
      "@general": [tools-exec-01]
    queues:
      task: {hostlist: "@general", seq_no: 0, rerun: "FALSE", slots: 2}
"""

RETURN = r"""
changes:
  description: What was (or, in check mode, would be) changed, one line per object.
  returned: always
  type: list
  elements: str
  sample: ["queue task: slots 1 -> 2", "submit host tools-bastion-01 added"]
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.gridengine import (
    GridEngineError,
    differs,
    exec_host_file,
    hostgroup_file,
    merge_complexes,
    parse_attributes,
    parse_complexes,
    parse_list,
    queue_file,
    render_attributes,
    render_complexes,
)


class Qconf:
    def __init__(self, module):
        self.module = module
        self.env = {"SGE_ROOT": module.params["sge_root"], "SGE_CELL": module.params["sge_cell"]}
        # Ansible's temporary directory for this run, removed afterwards.
        self.tmpdir = module.tmpdir

    def run(self, *args, check_rc=True):
        rc, out, err = self.module.run_command(["qconf", *args], environ_update=self.env)
        if check_rc and rc != 0:
            self.module.fail_json(msg=f"qconf {' '.join(args)} failed: {(err or out).strip()}", rc=rc)
        return rc, out, err

    def show(self, *args):
        rc, out, err = self.run(*args, check_rc=False)
        return out if rc == 0 else ""

    def load(self, option, name, content):
        path = os.path.join(self.tmpdir, name)
        with open(path, "w") as handle:
            handle.write(content)
        _, out, err = self.run(option, path)
        text = (out + err).lower()
        if "error" in text or "does not exist" in text or "denied" in text:
            self.module.fail_json(msg=f"qconf {option} refused {name}: {(err or out).strip()}", file=content)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sge_root=dict(type="path", default="/var/lib/gridengine"),
            sge_cell=dict(type="str", default="default"),
            complexes=dict(type="dict", default={}),
            global_config=dict(type="dict", default={}),
            scheduler=dict(type="dict", default={}),
            admin_hosts=dict(type="list", elements="str", default=[]),
            submit_hosts=dict(type="list", elements="str", default=[]),
            exec_hosts=dict(type="dict", default={}),
            hostgroups=dict(type="dict", default={}),
            queues=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    params, check = module.params, module.check_mode
    qconf = Qconf(module)
    changes, before, after = [], [], []

    def record(line, old="", new=""):
        changes.append(line)
        if old:
            before.append(old)
        if new:
            after.append(new)

    try:
        if params["complexes"]:
            current = parse_complexes(qconf.show("-sc"))
            merged, diff = merge_complexes(current, params["complexes"])
            for name, columns in diff.items():
                record(f"complex {name}: " + ", ".join(f"{k} {o} -> {n}" for k, (o, n) in columns.items()))
            if diff and not check:
                qconf.load("-Mc", "complexes", render_complexes(merged))

        for option_show, option_load, filename, wanted, label in (
            ("-sconf", "-Mconf", "global", params["global_config"], "global configuration"),
            ("-ssconf", "-Msconf", "scheduler", params["scheduler"], "scheduler configuration"),
        ):
            if not wanted:
                continue
            current = parse_attributes(qconf.show(option_show))
            diff = differs(current, wanted)
            if diff:
                record(f"{label}: " + ", ".join(f"{k} {o} -> {n}" for k, (o, n) in diff.items()),
                       render_attributes({k: o for k, (o, n) in diff.items()}),
                       render_attributes({k: n for k, (o, n) in diff.items()}))
                if not check:
                    qconf.load(option_load, filename, render_attributes(dict(current, **{
                        k: str(v) for k, v in wanted.items()})))

        for option_list, option_add, wanted, label in (
            ("-sh", "-ah", params["admin_hosts"], "admin host"),
            ("-ss", "-as", params["submit_hosts"], "submit host"),
        ):
            present = set(parse_list(qconf.show(option_list)))
            for host in wanted:
                if host not in present:
                    record(f"{label} {host} added", new=f"{label} {host}\n")
                    if not check:
                        qconf.run(option_add, host)

        existing_exec = set(parse_list(qconf.show("-sel")))
        for host, settings in params["exec_hosts"].items():
            current = parse_attributes(qconf.show("-se", host)) if host in existing_exec else None
            wanted = exec_host_file(host, current, settings or {})
            diff = differs(current or {}, {k: v for k, v in wanted.items() if current is None or k in (settings or {})})
            if current is None or diff:
                record(f"exec host {host} " + ("added" if current is None else "changed: " + ", ".join(diff)),
                       "" if current is None else render_attributes({k: o or "" for k, (o, n) in diff.items()}),
                       render_attributes(wanted))
                if not check:
                    qconf.load("-Ae" if current is None else "-Me", host, render_attributes(wanted))

        existing_groups = set(parse_list(qconf.show("-shgrpl")))
        for group, hosts in params["hostgroups"].items():
            wanted = hostgroup_file(group, hosts or [])
            current = parse_attributes(qconf.show("-shgrp", group)) if group in existing_groups else None
            if current is None or differs(current, wanted):
                record(f"host group {group} " + ("added" if current is None else "changed"),
                       render_attributes(current) if current else "", render_attributes(wanted))
                if not check:
                    qconf.load("-Ahgrp" if current is None else "-Mhgrp", group.lstrip("@"), render_attributes(wanted))

        existing_queues = set(parse_list(qconf.show("-sql")))
        for queue, settings in params["queues"].items():
            current = parse_attributes(qconf.show("-sq", queue)) if queue in existing_queues else None
            wanted = queue_file(queue, current, settings or {})
            diff = differs(current or {}, wanted)
            if current is None or diff:
                record(f"queue {queue} " + ("added" if current is None else "changed: " + ", ".join(
                    f"{k} {o} -> {n}" for k, (o, n) in diff.items())),
                       "" if current is None else render_attributes({k: o for k, (o, n) in diff.items()}),
                       render_attributes(wanted if current is None else {k: n for k, (o, n) in diff.items()}))
                if not check:
                    qconf.load("-Aq" if current is None else "-Mq", queue, render_attributes(wanted))
    except GridEngineError as exc:
        module.fail_json(msg=str(exc), changes=changes)

    module.exit_json(changed=bool(changes), changes=changes,
                     diff={"before": "".join(before), "after": "".join(after)})


if __name__ == "__main__":
    main()
