"""Grid Engine configuration as data: parse what `qconf -s*` prints, merge the
wanted settings into it, decide whether anything differs, and write the files
that `qconf -A*`/`-M*` read. Pure functions, used by library/gridengine.py and
unit-tested on outputs captured from Debian's gridengine 8.1.9.
"""

from __future__ import annotations

import re

# A new cluster queue starts from these (what `qconf -aq` offers, without the
# parallel environments that Debian's template names but does not define).
QUEUE_DEFAULTS = {
    "qname": "", "hostlist": "NONE", "seq_no": "0", "load_thresholds": "np_load_avg=1.75",
    "suspend_thresholds": "NONE", "nsuspend": "1", "suspend_interval": "00:05:00", "priority": "0",
    "min_cpu_interval": "00:05:00", "processors": "UNDEFINED", "qtype": "BATCH INTERACTIVE", "ckpt_list": "NONE",
    "pe_list": "NONE", "rerun": "FALSE", "slots": "1", "tmpdir": "/tmp", "shell": "/bin/sh", "prolog": "NONE",
    "epilog": "NONE", "shell_start_mode": "posix_compliant", "starter_method": "NONE", "suspend_method": "NONE",
    "resume_method": "NONE", "terminate_method": "NONE", "notify": "00:00:60", "owner_list": "NONE",
    "user_lists": "NONE", "xuser_lists": "NONE", "subordinate_list": "NONE", "complex_values": "NONE",
    "projects": "NONE", "xprojects": "NONE", "calendar": "NONE", "initial_state": "default",
    "s_rt": "INFINITY", "h_rt": "INFINITY", "s_cpu": "INFINITY", "h_cpu": "INFINITY", "s_fsize": "INFINITY",
    "h_fsize": "INFINITY", "s_data": "INFINITY", "h_data": "INFINITY", "s_stack": "INFINITY",
    "h_stack": "INFINITY", "s_core": "INFINITY", "h_core": "INFINITY", "s_rss": "INFINITY", "h_rss": "INFINITY",
    "s_vmem": "INFINITY", "h_vmem": "INFINITY",
}

# The settable attributes of an execution host (`qconf -se` also prints load values).
EXEC_HOST_DEFAULTS = {
    "hostname": "", "load_scaling": "NONE", "complex_values": "NONE", "user_lists": "NONE",
    "xuser_lists": "NONE", "projects": "NONE", "xprojects": "NONE", "usage_scaling": "NONE",
    "report_variables": "NONE",
}

COMPLEX_COLUMNS = ("name", "shortcut", "type", "relop", "requestable", "consumable", "default", "urgency")


class GridEngineError(ValueError):
    """Input the module cannot turn into a Grid Engine configuration."""


def parse_attributes(text: str) -> dict:
    """`key value` lines (as qconf -sq, -se, -shgrp, -sconf, -ssconf print them) as a dict.

    Lines ending in a backslash continue on the next line; comment lines are skipped.
    """
    joined = re.sub(r"\\\n\s*", "", text)
    result = {}
    for line in joined.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, _, value = line.strip().partition(" ")
        result[key] = value.strip()
    return result


def render_attributes(attributes: dict) -> str:
    """The file that qconf -A*/-M* read back."""
    width = max(len(key) for key in attributes) + 1
    return "".join(f"{key.ljust(width)} {value}\n" for key, value in attributes.items())


def normalise(value: object) -> tuple:
    """A value in a form where Grid Engine's re-ordering and spacing do not count."""
    text = str(value).strip()
    if text.upper() in ("TRUE", "FALSE"):
        return (text.upper(),)
    parts = re.split(r"[\s,]+", text)
    return tuple(sorted(part for part in parts if part))


def differs(current: dict, wanted: dict) -> dict:
    """{key: (current, wanted)} for every wanted key whose value is not the current one."""
    return {
        key: (current.get(key), str(value))
        for key, value in wanted.items()
        if current.get(key) is None or normalise(current[key]) != normalise(value)
    }


def parse_complexes(text: str) -> dict:
    """`qconf -sc` as {name: {column: value}} (insertion order kept)."""
    rows = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) != len(COMPLEX_COLUMNS):
            raise GridEngineError(f"unexpected line in qconf -sc: {line!r}")
        rows[fields[0]] = dict(zip(COMPLEX_COLUMNS, fields))
    return rows


def render_complexes(rows: dict) -> str:
    lines = ["#" + " ".join(COMPLEX_COLUMNS)]
    lines.extend(" ".join(str(row[column]) for column in COMPLEX_COLUMNS) for row in rows.values())
    return "\n".join(lines) + "\n"


COMPLEX_CHOICES = {"requestable": ("YES", "NO", "FORCED"), "consumable": ("YES", "NO", "JOB")}


def merge_complexes(current: dict, wanted: dict) -> tuple[dict, dict]:
    """(the whole complex table with the wanted entries set, {name: changed columns})."""
    merged = {name: dict(row) for name, row in current.items()}
    changes = {}
    for name, row in wanted.items():
        unknown = sorted(set(row) - set(COMPLEX_COLUMNS))
        if unknown:
            raise GridEngineError(f"complex {name}: unknown column(s) {', '.join(unknown)}")
        for column, choices in COMPLEX_CHOICES.items():
            if column in row and str(row[column]).upper() not in choices:
                raise GridEngineError(
                    f"complex {name}: {column} must be one of {', '.join(choices)}, not '{row[column]}'"
                )
        base = merged.get(name, {"name": name, "shortcut": name, "type": "STRING", "relop": "==",
                                 "requestable": "YES", "consumable": "NO", "default": "NONE", "urgency": "0"})
        new = dict(base, **{key: str(value) for key, value in row.items()}, name=name)
        diff = differs(base if name in merged else {}, {k: v for k, v in new.items()})
        if diff:
            changes[name] = diff
        merged[name] = new
    return merged, changes


def parse_list(text: str) -> list:
    """Names from `qconf -sql`, `-sel`, `-ss` ...; [] for "no ... defined"."""
    names = []
    for line in text.splitlines():
        line = line.strip()
        if not line or re.match(r"^no .* defined$", line):
            continue
        names.append(line)
    return names


def queue_file(name: str, current: dict | None, wanted: dict) -> dict:
    """The whole queue configuration: current (or the defaults) with the wanted settings."""
    unknown = sorted(set(wanted) - set(QUEUE_DEFAULTS))
    if unknown:
        raise GridEngineError(f"queue {name}: unknown attribute(s) {', '.join(unknown)}")
    base = dict(current) if current else dict(QUEUE_DEFAULTS)
    base.update({key: str(value) for key, value in wanted.items()})
    base["qname"] = name
    return base


def exec_host_file(name: str, current: dict | None, wanted: dict) -> dict:
    """The settable attributes of an execution host with the wanted ones set."""
    unknown = sorted(set(wanted) - set(EXEC_HOST_DEFAULTS))
    if unknown:
        raise GridEngineError(f"exec host {name}: unknown attribute(s) {', '.join(unknown)}")
    base = {key: (current or {}).get(key, default) for key, default in EXEC_HOST_DEFAULTS.items()}
    base.update({key: str(value) for key, value in wanted.items()})
    base["hostname"] = name
    return base


def hostgroup_file(name: str, hosts: list) -> dict:
    if not name.startswith("@"):
        raise GridEngineError(f"host group '{name}' must start with '@'")
    return {"group_name": name, "hostlist": " ".join(sorted(hosts)) if hosts else "NONE"}
