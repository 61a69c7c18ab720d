"""jsub, jstart, qcronsub, job and jstop: option parsing, messages, exit codes and
the qsub/qdel command lines (qstat -xml captured from the lab's grid)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "commands" / "src"))
from toollabs import crontab, grid, jobs  # noqa: E402

QSTAT = (Path(__file__).parent / "data" / "gridengine" / "qstat-user.xml").read_text()


@pytest.mark.parametrize("given,expected", [("512m", "512M"), ("1g", "1G"), ("1G", "1G"), ("2048", "2048"),
                                            ("1.5g", "1.5G"), ("100k", "100K")])
def test_memory_values(given, expected):
    assert grid.memory(given) == expected


@pytest.mark.parametrize("bad", ["12x", "", "g", "-1g", "0", "1 g", "1gb"])
def test_bad_memory_values_say_what_to_write(bad):
    with pytest.raises(grid.UsageError, match="invalid memory value .* e.g. -mem 512m"):
        grid.memory(bad)


@pytest.mark.parametrize("program,name", [("/data/project/x/bot.py", "bot"), ("run.sh", "run"),
                                          ("/usr/bin/python3", "python3"), ("archive.tar.gz", "archive")])
def test_job_names(program, name):
    assert grid.job_name(program) == name


def test_parse_options_then_program_and_its_own_options():
    request = grid.parse(["-mem", "1g", "-once", "-N", "bot", "-l", "release=bookworm", "-j", "y", "-cwd",
                          "prog", "-mem", "2g", "--flag"])
    assert request.memory == "1G" and request.once and request.name == "bot"
    assert request.resources == ["release=bookworm"] and request.passthrough == ["-j", "y", "-cwd"]
    assert request.program == "prog" and request.args == ["-mem", "2g", "--flag"]


@pytest.mark.parametrize("argv,message", [(["-frobnicate", "prog"], "unknown option -frobnicate"),
                                          (["-mem"], "option -mem needs a value"),
                                          (["-mem", "12x", "prog"], "invalid memory value '12x'")])
def test_parse_errors(argv, message):
    with pytest.raises(grid.UsageError, match=message):
        grid.parse(argv)


def test_qsub_command_for_a_task_and_a_continuous_job():
    request = grid.parse(["-l", "release=bookworm", "/data/project/x/bot.py", "--fast"])
    command = grid.qsub_command(request, "/data/project/x")
    assert command[:8] == ["qsub", "-N", "bot", "-q", "task", "-hard", "-l", "h_vmem=512M,release=bookworm"]
    assert command[8:14] == ["-o", "/data/project/x/bot.out", "-e", "/data/project/x/bot.err", "-wd",
                             "/data/project/x"]
    assert command[-4:] == ["-b", "y", "/data/project/x/bot.py", "--fast"]
    continuous = grid.qsub_command(grid.parse(["-continuous", "-mem", "1g", "/bin/bot"]), "/h")
    assert continuous[continuous.index("-q") + 1] == "continuous"
    assert continuous[-2:] == ["/usr/lib/toollabs/respawn", "/bin/bot"]


def test_the_continuous_wrapper_respawns_after_a_failure_and_says_so(tmp_path):
    import subprocess

    counter = tmp_path / "runs"
    script = tmp_path / "flaky"
    script.write_text(f"#!/bin/sh\necho x >> {counter}\n[ $(wc -l < {counter}) -ge 2 ]\n")
    script.chmod(0o755)
    respawn = ROOT / "roles" / "grid_common" / "files" / "respawn"
    result = subprocess.run([str(respawn), str(script)], capture_output=True, text=True, timeout=20,
                            env=dict(os.environ, RESPAWN_DELAY="0"))
    assert result.returncode == 0
    assert counter.read_text().count("x") == 2
    assert f"{script} exited with code 1. Respawning..." in result.stderr


def test_script_directives_and_jsubrc_come_before_the_command_line(tmp_path, monkeypatch):
    script = tmp_path / "bot.sh"
    script.write_text("#!/bin/sh\n#$ -mem 2g -N fromscript\n#$ -l release=bookworm\necho hi\n")
    script.chmod(0o755)
    rc = tmp_path / ".jsubrc"
    rc.write_text("-mem 1g -quiet  # always quiet\n")
    request = grid.build_request([str(script)], str(tmp_path), jsubrc=str(rc))
    assert request.memory == "2G" and request.name == "fromscript" and request.quiet
    assert request.resources == ["release=bookworm"]
    assert grid.build_request(["-mem", "3g", "-N", "cli", str(script)], str(tmp_path), str(rc)).name == "cli"


def test_a_program_that_cannot_run_is_refused(tmp_path):
    plain = tmp_path / "notes.txt"
    plain.write_text("x")
    with pytest.raises(grid.UsageError, match=f"program '{plain}' is not executable: chmod \\+x"):
        grid.build_request([str(plain)], str(tmp_path))
    with pytest.raises(grid.UsageError, match="program 'no-such-program-here' not found"):
        grid.build_request(["no-such-program-here"], str(tmp_path))


def test_a_script_in_the_current_directory_is_found_without_dot_slash(tmp_path, monkeypatch):
    script = tmp_path / "hi.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    assert grid.resolve_program("hi.sh", which=lambda name: None) == str(script)
    # A command on the PATH wins over a file of the same name here.
    assert grid.resolve_program("hi.sh", which=lambda name: "/usr/bin/true") == "/usr/bin/true"


def test_parse_qstat_xml():
    assert grid.parse_qstat(QSTAT) == [("4", "sleeper", "r"), ("2", "nomem", "qw"), ("5", "toobig", "qw")]


class FakeGrid:
    """Records qsub/qdel command lines and answers qstat with the captured XML."""

    def __init__(self, qstat=QSTAT, qsub_rc=0):
        self.calls = []
        self.qstat, self.qsub_rc = qstat, qsub_rc

    def __call__(self, command, **kwargs):
        self.calls.append(command)
        if command[0] == "qstat":
            return SimpleNamespace(returncode=0, stdout=self.qstat, stderr="")
        if command[0] == "qsub":
            name = command[command.index("-N") + 1]
            return SimpleNamespace(returncode=self.qsub_rc, stdout=f'Your job 7 ("{name}") has been submitted\n',
                                   stderr="Unable to run job: denied\n")
        return SimpleNamespace(returncode=0, stdout="tools.x has deleted job 4\n", stderr="")


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "_me", lambda: ("tools.x", str(tmp_path)))
    return tmp_path


def test_jsub_creates_private_output_files_first_and_submits(home, capsys):
    fake = FakeGrid()
    assert jobs.submit(["/bin/true"], run=fake) == 0
    assert capsys.readouterr().out.strip() == 'Your job 7 ("true") has been submitted'
    for suffix in (".out", ".err"):
        mode = stat.S_IMODE(os.stat(home / f"true{suffix}").st_mode)
        assert mode & 0o007 == 0, oct(mode)
    assert fake.calls[-1][0] == "qsub"


def test_jsub_quiet_and_stderr(home, capsys):
    assert jobs.submit(["-quiet", "/bin/true"], run=FakeGrid()) == 0
    assert capsys.readouterr().out == ""
    assert jobs.submit(["-stderr", "/bin/true"], run=FakeGrid()) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "has been submitted" in captured.err


def test_once_refuses_a_second_job_of_that_name_and_submits_nothing(home, capsys):
    fake = FakeGrid()
    assert jobs.submit(["-once", "-N", "sleeper", "/bin/sleep", "9"], run=fake) == 1
    assert "there is a job named 'sleeper' already active" in capsys.readouterr().err
    assert [call[0] for call in fake.calls] == ["qstat"]


def test_jstart_is_continuous_and_once(home):
    fake = FakeGrid()
    assert jobs.submit(["/bin/true"], "jstart", ("-continuous", "-once"), run=fake) == 0
    qsub = fake.calls[-1]
    assert qsub[qsub.index("-q") + 1] == "continuous" and fake.calls[0][0] == "qstat"


def test_bad_input_submits_nothing(home, capsys):
    fake = FakeGrid()
    assert jobs.submit(["-mem", "12x", "/bin/true"], run=fake) == 1
    assert "jsub: invalid memory value '12x'" in capsys.readouterr().err
    assert jobs.submit(["-bogus", "/bin/true"], run=fake) == 1
    assert "jsub: unknown option -bogus" in capsys.readouterr().err
    assert fake.calls == []


def test_a_refused_job_is_reported(home, capsys):
    assert jobs.submit(["/bin/true"], run=FakeGrid(qsub_rc=1)) == 1
    assert "jsub: the grid refused the job: Unable to run job: denied" in capsys.readouterr().err


@pytest.mark.parametrize("name,code,printed", [("sleeper", 1, "4"), ("toobig", 2, "5"), ("absent", 0, "")])
def test_job_exit_codes(home, capsys, name, code, printed):
    assert jobs.job_main([name], run=FakeGrid()) == code
    assert capsys.readouterr().out.strip() == printed


def test_jstop(home, capsys):
    fake = FakeGrid()
    assert jobs.jstop_main(["sleeper"], run=fake) == 0
    assert fake.calls[-1] == ["qdel", "4"]
    assert jobs.jstop_main(["absent"], run=fake) == 1
    assert "No job 'absent' is currently queued or running" in capsys.readouterr().err


@pytest.mark.parametrize(
    "line,expected",
    [
        ("*/5 * * * * /data/project/x/bot.py --fast",
         "*/5 * * * * /usr/local/bin/jsub -N cron-tools.x-3 -once -quiet /data/project/x/bot.py --fast"),
        ("@daily php ~/update.php", "@daily /usr/local/bin/jsub -N cron-tools.x-3 -once -quiet php ~/update.php"),
        ("0 * * * * jsub -mem 1g ~/job.sh", "0 * * * * jsub -mem 1g ~/job.sh"),
        ("0 * * * * /usr/local/bin/jstart ~/bot.sh", "0 * * * * /usr/local/bin/jstart ~/bot.sh"),
        ("# a comment", "# a comment"),
        ("MAILTO=someone@example.org", "MAILTO=someone@example.org"),
        ("", ""),
    ],
)
def test_crontab_lines_go_through_the_grid(line, expected):
    assert crontab.rewrite_line(line, "tools.x", 3) == expected


def test_crontab_rewrite_is_stable():
    text = "MAILTO=\n*/10 * * * * ~/a.sh\n0 3 * * * jsub ~/b.sh\n"
    once = crontab.rewrite(text, "tools.x")
    assert once.splitlines()[1] == "*/10 * * * * /usr/local/bin/jsub -N cron-tools.x-2 -once -quiet ~/a.sh"
    assert crontab.rewrite(once, "tools.x") == once


def test_crontab_installs_the_rewritten_file(tmp_path, monkeypatch):
    monkeypatch.setattr(crontab, "cron_host", lambda: None)
    source = tmp_path / "mycron"
    source.write_text("* * * * * ~/tick.sh\n")
    seen = {}

    def run(command, **kwargs):
        seen["command"] = command
        seen["content"] = open(command[1]).read()
        return SimpleNamespace(returncode=0)

    assert crontab.main([str(source)], run=run) == 0
    assert seen["command"][0] == "/usr/bin/crontab"
    assert "/usr/local/bin/jsub -N cron-" in seen["content"] and "-once -quiet ~/tick.sh" in seen["content"]


def test_crontab_elsewhere_than_the_cron_host_says_where(monkeypatch, capsys):
    monkeypatch.setattr(crontab, "cron_host", lambda: "tools-bastion-01")
    monkeypatch.setattr(crontab.os, "uname", lambda: SimpleNamespace(nodename="tools-bastion-02"))
    assert crontab.main(["-l"]) == 1
    assert "crontabs live on tools-bastion-01" in capsys.readouterr().err
