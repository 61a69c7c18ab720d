"""The job commands' entry points: jsub, jstart, qcronsub, job and jstop (BEHAVIOR.md)."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from collections.abc import Sequence

from toollabs.grid import (
    UsageError,
    active_jobs,
    build_request,
    job_name,
    qenv,
    qsub_command,
)

JSUB_USAGE = "usage: jsub [-mem VALUE] [-once] [-continuous] [-quiet] [-stderr] [-N NAME] [-l RES] [-q QUEUE] " \
             "[qsub options] PROGRAM [ARGS...]"
RUNNING_STATES = set("rtsSTR")


def _me():
    entry = pwd.getpwuid(os.getuid())
    return entry.pw_name, entry.pw_dir


def submit(argv: Sequence[str], command: str = "jsub", forced: Sequence[str] = (), run=subprocess.run) -> int:
    """jsub with `forced` options first (jstart: -continuous -once; qcronsub: -once)."""
    args = list(argv)
    if not args or args[0] in ("-h", "--help"):
        print(JSUB_USAGE if command == "jsub" else f"usage: {command} [jsub options] PROGRAM [ARGS...]",
              file=sys.stdout if args else sys.stderr)
        return 0 if args else 1
    user, home = _me()
    try:
        request = build_request([*forced, *args], home, jsubrc=os.path.join(home, ".jsubrc"))
    except UsageError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 1
    out = sys.stderr if request.to_stderr else sys.stdout
    name = request.name or job_name(request.program)
    if request.once:
        try:
            jobs = active_jobs(user, run)
        except RuntimeError as exc:
            print(f"{command}: {exc}", file=sys.stderr)
            return 1
        if any(job[1] == name for job in jobs):
            print(f"there is a job named '{name}' already active", file=sys.stderr)
            return 1
    # The output files exist before the job does, private to the tool (umask 007).
    previous = os.umask(0o007)
    try:
        for suffix, option in ((".out", "-o"), (".err", "-e")):
            if option not in request.passthrough:
                with open(os.path.join(home, name + suffix), "a"):
                    pass
    finally:
        os.umask(previous)
    result = run(qsub_command(request, home), capture_output=True, text=True, env=qenv())
    if result.returncode != 0:
        print(f"{command}: the grid refused the job: {(result.stderr or result.stdout).strip()}", file=sys.stderr)
        return result.returncode
    if not request.quiet:
        print(result.stdout.strip(), file=out)
    return 0


def jsub_main(argv: Sequence[str] | None = None) -> int:
    return submit(sys.argv[1:] if argv is None else argv)


def jstart_main(argv: Sequence[str] | None = None) -> int:
    return submit(sys.argv[1:] if argv is None else argv, "jstart", ("-continuous", "-once"))


def qcronsub_main(argv: Sequence[str] | None = None) -> int:
    return submit(sys.argv[1:] if argv is None else argv, "qcronsub", ("-once",))


def job_main(argv: Sequence[str] | None = None, run=subprocess.run) -> int:
    """job [-v] NAME: exit 0 if no such job, 1 running or suspended, 2 queued; prints the job id."""
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in args
    names = [arg for arg in args if arg != "-v"]
    if len(names) != 1:
        print("usage: job [-v] NAME", file=sys.stderr)
        return 3
    name = names[0]
    user, _ = _me()
    jobs = [job for job in active_jobs(user, run) if job[1] == name]
    if not jobs:
        if verbose:
            print(f"No job '{name}' is currently queued or running")
        return 0
    number, _, state = jobs[0]
    running = bool(set(state) & RUNNING_STATES)
    print(f"Job '{name}' ({number}) is {'running' if running else 'queued'} (state {state})" if verbose else number)
    return 1 if running else 2


def jstop_main(argv: Sequence[str] | None = None, run=subprocess.run) -> int:
    """jstop NAME...: delete your jobs of those names."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: jstop NAME...", file=sys.stderr)
        return 1
    user, _ = _me()
    jobs = active_jobs(user, run)
    status = 0
    for name in args:
        numbers = [job[0] for job in jobs if job[1] == name]
        if not numbers:
            print(f"No job '{name}' is currently queued or running", file=sys.stderr)
            status = 1
            continue
        result = run(["qdel", *numbers], capture_output=True, text=True, env=qenv())
        print(result.stdout.strip() or result.stderr.strip())
        status = status or (0 if result.returncode == 0 else 1)
    return status
