"""module_utils/gridengine.py on what Debian's gridengine 8.1.9 really prints
(tests/unit/data/gridengine/, captured from `qconf -s*` on a lab grid master)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import load

ge = load("module_utils/gridengine.py", "ansible.module_utils.gridengine")
DATA = Path(__file__).parent / "data" / "gridengine"


def data(name: str) -> str:
    return (DATA / name).read_text()


def test_global_configuration_with_continued_lines():
    conf = ge.parse_attributes(data("global.txt"))
    assert conf["execd_spool_dir"] == "/var/spool/gridengine/execd"
    assert conf["reporting_params"] == "accounting=true reporting=false flush_time=00:00:15 joblog=false sharelog=00:00:00"
    assert "#global:" not in conf and conf["max_unheard"] == "00:01:00"


def test_queue_round_trip():
    queue = ge.parse_attributes(data("queue-task.txt"))
    assert queue["qname"] == "task" and queue["hostlist"] == "@general" and queue["rerun"] == "FALSE"
    assert ge.parse_attributes(ge.render_attributes(queue)) == queue


def test_differences_ignore_order_spacing_and_case_of_booleans():
    current = {"hostlist": "@general @web", "complex_values": "h_vmem=7G,release=bookworm", "rerun": "FALSE"}
    assert ge.differs(current, {"hostlist": "@web  @general", "complex_values": "release=bookworm,h_vmem=7G",
                                "rerun": "false"}) == {}
    assert ge.differs(current, {"rerun": "TRUE", "slots": 4}) == {"rerun": ("FALSE", "TRUE"), "slots": (None, "4")}


def test_complexes_parse_and_merge():
    table = ge.parse_complexes(data("complexes.txt"))
    assert table["h_vmem"]["requestable"] == "FORCED" and table["h_vmem"]["consumable"] == "YES"
    assert table["release"]["type"] == "STRING"
    merged, changes = ge.merge_complexes(table, {"h_vmem": {"requestable": "FORCED", "consumable": "YES"}})
    assert changes == {} and merged == table
    merged, changes = ge.merge_complexes(table, {"h_vmem": {"default": "512M"}, "gpu": {"type": "INT"}})
    assert changes["h_vmem"] == {"default": ("0", "512M")}
    assert merged["gpu"]["type"] == "INT" and merged["gpu"]["shortcut"] == "gpu"
    assert ge.parse_complexes(ge.render_complexes(merged)) == merged


@pytest.mark.parametrize(
    "wanted,message",
    [
        ({"h_vmem": {"consumable": "FORCED"}}, "consumable must be one of YES, NO, JOB, not 'FORCED'"),
        ({"h_vmem": {"requestable": "MAYBE"}}, "requestable must be one of YES, NO, FORCED"),
        ({"h_vmem": {"colour": "red"}}, "unknown column(s) colour"),
    ],
)
def test_bad_complexes_say_what_to_fix(wanted, message):
    with pytest.raises(ge.GridEngineError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ge.merge_complexes(ge.parse_complexes(data("complexes.txt")), wanted)


def test_new_queue_starts_from_defaults_without_parallel_environments():
    queue = ge.queue_file("continuous", None, {"seq_no": 1, "rerun": "TRUE", "priority": 10})
    assert queue["qname"] == "continuous" and queue["pe_list"] == "NONE" and queue["rerun"] == "TRUE"
    assert queue["shell"] == "/bin/sh" and queue["priority"] == "10"
    with pytest.raises(ge.GridEngineError, match="queue x: unknown attribute"):
        ge.queue_file("x", None, {"slotz": 3})


def test_exec_host_keeps_only_settable_attributes():
    current = ge.parse_attributes(data("exechost.txt"))
    host = ge.exec_host_file("tools-exec-01", current, {"complex_values": "h_vmem=3G"})
    assert "load_values" not in host and "processors" not in host
    assert host["complex_values"] == "h_vmem=3G" and host["hostname"] == "tools-exec-01"


def test_lists_and_host_groups():
    assert ge.parse_list("no execution host defined\n") == []
    assert ge.parse_list("continuous\ntask\n") == ["continuous", "task"]
    assert ge.hostgroup_file("@general", ["b", "a"]) == {"group_name": "@general", "hostlist": "a b"}
    assert ge.hostgroup_file("@empty", []) == {"group_name": "@empty", "hostlist": "NONE"}
    with pytest.raises(ge.GridEngineError, match="must start with '@'"):
        ge.hostgroup_file("general", [])
