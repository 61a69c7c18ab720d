"""The job commands' shared part: jsub's options, memory values, job names, and
the questions put to Grid Engine (qstat -xml, qsub, qdel). BEHAVIOR.md describes
the behaviour kept from the original jobutils.

jsub [options] PROGRAM [ARGS...]
  -mem VALUE       memory limit (h_vmem), e.g. 512m, 1g; default 512M
  -once            refuse if a job of that name is already queued or running
  -continuous      run in the `continuous` queue; restart 5 s after a non-zero exit
  -quiet           print nothing when the job was submitted
  -stderr          jsub's own messages go to stderr (default: stdout)
  -N NAME          job name (default: the program's name up to its first dot)
  -l RES=VALUE     more resources (comma-separated), e.g. -l release=bookworm
  -q QUEUE         queue (default task, or continuous with -continuous)
  and qsub's common options, passed through: -a, -cwd, -e, -hold_jid, -i, -j,
  -m, -M, -o, -p, -v, -V, -wd.
Defaults come first from ~/.jsubrc (options, one or more per line), then from
`#$` lines at the top of a script PROGRAM, then from the command line.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

DEFAULT_MEMORY = "512M"
SGE_ENV = {"SGE_ROOT": "/var/lib/gridengine", "SGE_CELL": "default"}
MEMORY_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([kKmMgG]?)$")
# qsub options passed through: those that take a value, and flags.
PASS_WITH_VALUE = {"-a", "-e", "-hold_jid", "-i", "-j", "-m", "-M", "-o", "-p", "-v", "-wd"}
PASS_FLAGS = {"-cwd", "-V"}
# On every grid host (role grid_common): reruns a continuous job's program 5 s
# after a non-zero exit. Grid Engine runs a job's command line through a shell,
# so the loop lives in a file rather than in a `bash -c` argument.
RESPAWN = "/usr/lib/toollabs/respawn"


class UsageError(Exception):
    """Bad input: the message says what to change; nothing was submitted."""


@dataclass
class JobRequest:
    program: str = ""
    args: list = field(default_factory=list)
    memory: str = DEFAULT_MEMORY
    once: bool = False
    continuous: bool = False
    quiet: bool = False
    to_stderr: bool = False
    name: str | None = None
    queue: str | None = None
    resources: list = field(default_factory=list)
    passthrough: list = field(default_factory=list)


def memory(value: str) -> str:
    """A -mem value as Grid Engine reads it (512m -> 512M); UsageError if it is not one."""
    match = MEMORY_RE.match(value.strip())
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"invalid memory value '{value}': give a number with k, m or g, e.g. -mem 512m or -mem 2g")
    number, unit = match.groups()
    return f"{number}{unit.upper()}"


def job_name(program: str) -> str:
    """The default job name: the program's file name up to its first dot."""
    base = os.path.basename(program.rstrip("/"))
    return base.split(".", 1)[0] or base


def parse(argv: Sequence[str], request: JobRequest | None = None, allow_program: bool = True) -> JobRequest:
    """jsub's options (and PROGRAM ARGS when allow_program), onto request."""
    request = request or JobRequest()
    args = list(argv)
    i = 0

    def value(option):
        nonlocal i
        if i + 1 >= len(args):
            raise UsageError(f"option {option} needs a value")
        i += 1
        return args[i]

    while i < len(args):
        arg = args[i]
        if arg == "-mem":
            request.memory = memory(value(arg))
        elif arg == "-once":
            request.once = True
        elif arg == "-continuous":
            request.continuous = True
        elif arg == "-quiet":
            request.quiet = True
        elif arg == "-stderr":
            request.to_stderr = True
        elif arg == "-N":
            request.name = value(arg)
        elif arg == "-q":
            request.queue = value(arg)
        elif arg == "-l":
            request.resources.extend(part for part in value(arg).split(",") if part)
        elif arg in PASS_WITH_VALUE:
            request.passthrough.extend([arg, value(arg)])
        elif arg in PASS_FLAGS:
            request.passthrough.append(arg)
        elif arg.startswith("-"):
            raise UsageError(f"unknown option {arg} (see jsub -h)")
        elif allow_program:
            request.program, request.args = arg, args[i + 1:]
            return request
        else:
            raise UsageError(f"unexpected '{arg}' among the options")
        i += 1
    return request


def script_directives(path: str, limit: int = 100) -> list:
    """Options from `#$` lines at the top of a text script (as qsub reads them)."""
    options = []
    try:
        with open(path, "rb") as handle:
            head = handle.read(64 * 1024)
    except OSError:
        return options
    if b"\0" in head:
        return options
    for line in head.decode("utf-8", "replace").splitlines()[:limit]:
        if line.startswith("#$"):
            options.extend(shlex.split(line[2:]))
    return options


def resolve_program(program: str, which: Callable[[str], str | None] = shutil.which) -> str:
    """The program's path; UsageError if it cannot be run."""
    path = program if "/" in program else which(program)
    if path is None and os.path.exists(program):
        # `jsub bot.py` in the directory that holds it: the file here, as a
        # developer means it, when no command of that name is on the PATH.
        path = program
    if path is None or not os.path.exists(path):
        raise UsageError(f"program '{program}' not found")
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        raise UsageError(f"program '{program}' is not executable: chmod +x {path}")
    return os.path.abspath(path)


def build_request(argv: Sequence[str], home: str, jsubrc: str | None = None) -> JobRequest:
    """The whole request: ~/.jsubrc, then the script's #$ lines, then the command line."""
    request = JobRequest()
    if jsubrc and os.path.isfile(jsubrc):
        with open(jsubrc) as handle:
            parse(shlex.split(handle.read(), comments=True), request, allow_program=False)
    command_line = parse(argv, JobRequest())
    if not command_line.program:
        raise UsageError("no program given: jsub [options] PROGRAM [ARGS...]")
    path = resolve_program(command_line.program)
    parse(script_directives(path), request, allow_program=False)
    parse(argv, request)
    request.program = path
    return request


def qsub_command(request: JobRequest, home: str) -> list:
    """The qsub command line for a request."""
    name = request.name or job_name(request.program)
    queue = request.queue or ("continuous" if request.continuous else "task")
    command = ["qsub", "-N", name, "-q", queue, "-hard", "-l", ",".join([f"h_vmem={request.memory}"]
                                                                         + request.resources)]
    if "-o" not in request.passthrough:
        command += ["-o", os.path.join(home, f"{name}.out")]
    if "-e" not in request.passthrough:
        command += ["-e", os.path.join(home, f"{name}.err")]
    if "-wd" not in request.passthrough and "-cwd" not in request.passthrough:
        command += ["-wd", home]
    command += request.passthrough + ["-b", "y"]
    if request.continuous:
        command += [RESPAWN, request.program, *request.args]
    else:
        command += [request.program, *request.args]
    return command


def qenv() -> dict:
    """The environment for qsub and friends: Grid Engine's cell defaults if unset."""
    env = dict(os.environ)
    for key, value in SGE_ENV.items():
        env.setdefault(key, value)
    return env


def active_jobs(user: str, run: Callable = subprocess.run) -> list:
    """[(job id, name, state)] of the user's queued and running jobs (qstat -xml)."""
    result = run(["qstat", "-xml", "-u", user], capture_output=True, text=True, env=qenv())
    if result.returncode != 0:
        raise RuntimeError(f"qstat failed: {result.stderr.strip()}")
    return parse_qstat(result.stdout)


def parse_qstat(xml: str) -> list:
    jobs = []
    root = ET.fromstring(xml)
    for job in root.iter("job_list"):
        jobs.append((job.findtext("JB_job_number"), job.findtext("JB_name"), job.findtext("state") or ""))
    return jobs
