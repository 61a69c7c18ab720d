"""webservice [-mem VALUE] [TYPE] start|stop|restart|status [COMMAND ARGS...]

Runs the tool's web server as the grid job <type>-<tool> on the web grid
(BEHAVIOR.md, Web). TYPE is lighttpd (default), uwsgi-python or generic; a
generic server gets its COMMAND at start and must listen on $PORT. `restart`
without TYPE keeps the running (or last) type. The chosen type is kept in
~/service.manifest. Exit codes: 0 done / running; 1 not running, already
running, or bad input (the message says what to fix).
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from toollabs import web
from toollabs.grid import JobRequest, UsageError, active_jobs, memory, qenv, qsub_command, resolve_program
from toollabs.names import PREFIX, InvalidToolName, tool_name

ACTIONS = ("start", "stop", "restart", "status")
USAGE = ("usage: webservice [-mem VALUE] [TYPE] start|stop|restart|status\n"
         "       webservice [-mem VALUE] generic start COMMAND [ARGS...]\n"
         f"TYPE: {', '.join(web.TYPES)} (default {web.DEFAULT_TYPE})")
RUNNER = "/usr/local/bin/webrunner"
RUNNING_STATES = set("rR")
WAIT_SECONDS = 60.0


class Request:
    def __init__(self, action: str, kind: str | None, command: list, mem: str | None):
        self.action, self.kind, self.command, self.memory = action, kind, command, mem


def parse(argv: Sequence[str]) -> Request:
    args = list(argv)
    mem = None
    while args and args[0].startswith("-"):
        option = args.pop(0)
        if option in ("-mem", "--mem"):
            if not args:
                raise UsageError(f"option {option} needs a value, e.g. -mem 2g")
            mem = memory(args.pop(0))
        else:
            raise UsageError(f"unknown option {option}\n{USAGE}")
    kind = None
    if args and args[0] not in ACTIONS:
        kind = args.pop(0)
        if kind not in web.TYPES:
            raise UsageError(f"unknown webservice type '{kind}': choose one of {', '.join(web.TYPES)}\n{USAGE}")
    if not args or args[0] not in ACTIONS:
        raise UsageError(f"say what to do: start, stop, restart or status\n{USAGE}")
    action, command = args[0], args[1:]
    if command and not (kind == "generic" and action in ("start", "restart")):
        raise UsageError(f"unexpected '{' '.join(command)}' after {action}\n{USAGE}")
    return Request(action, kind, command, mem)


class WebService:
    def __init__(self, tool: str, user: str, home: str, run: Callable = subprocess.run,
                 sleep: Callable = time.sleep, out=None):
        self.tool, self.user, self.home = tool, user, home
        self.run, self.sleep = run, sleep
        self.out = out or sys.stdout

    def say(self, message: str) -> None:
        print(message, file=self.out, flush=True)

    def current(self):
        """(job id, job name, state, type) of the tool's web service job, or None."""
        for number, name, state in active_jobs(self.user, self.run):
            kind = web.split_job_name(name, self.tool)
            if kind:
                return number, name, state, kind
        return None

    def status(self) -> int:
        job = self.current()
        if job and set(job[2]) & RUNNING_STATES:
            self.say("Your webservice is running")
            self.say(f"(type {job[3]}, grid job {job[0]}: {web.public_url(self.tool)})")
            return 0
        self.say("Your webservice is not running")
        if job:
            self.say(f"(its grid job {job[0]} is in state {job[2]}"
                     + (": waiting for a web-grid node)" if "q" in job[2] and "E" not in job[2]
                        else "; ask an admin if it stays there)"))
        return 1

    def start(self, request: Request) -> int:
        if self.current():
            self.say("Your job is already running")
            return 1
        manifest = web.read_manifest(self.home)
        kind = request.kind or manifest.get("web") or web.DEFAULT_TYPE
        if kind not in web.TYPES:
            kind = web.DEFAULT_TYPE
        command = request.command or (manifest.get("command") if kind == "generic" and request.kind is None else [])
        mem = request.memory or manifest.get("memory") or web.DEFAULT_MEMORY
        self.check(kind, command)
        qsub = self.qsub_command(kind, command or [], mem)
        result = self.run(qsub, capture_output=True, text=True, env=qenv())
        if result.returncode != 0:
            self.say(f"webservice: the grid refused the job: {(result.stderr or result.stdout).strip()}")
            return 1
        updated = {key: value for key, value in manifest.items() if key not in ("web", "command", "memory")}
        updated.update({"version": "2", "web": kind})
        if command:
            updated["command"] = list(command)
        if request.memory:
            updated["memory"] = request.memory
        web.write_manifest(self.home, updated)
        self.say(f"Starting webservice ({kind})...")
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            job = self.current()
            if job and set(job[2]) & RUNNING_STATES:
                self.say(f"Your webservice is running: {web.public_url(self.tool)}")
                return 0
            if job and "E" in job[2]:
                self.say(f"webservice: its grid job {job[0]} failed to start (state {job[2]}); "
                         "see ~/service.log, then webservice stop")
                return 1
            self.sleep(0.25)
        self.say("webservice: the job is still waiting for a web-grid node; check with: webservice status")
        return 1

    def check(self, kind: str, command: Sequence[str]) -> None:
        if kind == "uwsgi-python":
            app = os.path.join(self.home, "www", "python", "src", "app.py")
            if not os.path.isfile(app):
                raise UsageError(f"{app} is missing: put your WSGI application there (callable `app`)")
        if kind == "generic":
            if not command:
                raise UsageError("generic needs the command that runs your server (it must listen on $PORT): "
                                 "webservice generic start COMMAND [ARGS...]")
            resolve_program(command[0])

    def qsub_command(self, kind: str, command: Sequence[str], mem: str) -> list:
        """jsub's qsub line (toollabs.grid): the runner as a continuous job under respawn."""
        program = list(command)
        if program:
            program[0] = resolve_program(program[0])
        log = os.path.join(self.home, "service.log")
        return qsub_command(JobRequest(program=RUNNER, args=[kind, *program], memory=mem, continuous=True,
                                       name=web.job_name(kind, self.tool), queue=web.server_type(kind).queue,
                                       passthrough=["-j", "y", "-o", log, "-e", log, "-v", "RESPAWN_DELAY=1"]),
                            self.home)

    def stop(self, quiet_missing: bool = False) -> int:
        job = self.current()
        if not job:
            if not quiet_missing:
                self.say("Your webservice is not running")
            return 1
        result = self.run(["qdel", job[0]], capture_output=True, text=True, env=qenv())
        if result.returncode != 0:
            self.say(f"webservice: could not stop job {job[0]}: {(result.stderr or result.stdout).strip()}")
            return 1
        self.say("Stopping webservice")
        deadline = time.monotonic() + WAIT_SECONDS
        while self.current() and time.monotonic() < deadline:
            self.sleep(0.25)
        if self.current():
            self.say("webservice: the job has not ended yet; check with: webservice status")
            return 1
        manifest = web.read_manifest(self.home)
        if "web" in manifest:
            manifest.pop("web")
            manifest.pop("command", None)
            web.write_manifest(self.home, manifest)
        return 0

    def restart(self, request: Request) -> int:
        job = self.current()
        if job:
            if request.kind is None:
                request.kind = job[3]
            if self.stop() != 0:
                return 1
        else:
            self.say("Your webservice is not running; starting it")
        return self.start(request)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    entry = pwd.getpwuid(os.getuid())
    try:
        if not entry.pw_name.startswith(PREFIX):
            raise UsageError("webservice runs as a tool: become TOOL, then run it again")
        tool = tool_name(entry.pw_name)
        request = parse(args)
        service = WebService(tool, entry.pw_name, entry.pw_dir)
        if request.action == "status":
            return service.status()
        if request.action == "stop":
            return service.stop()
        if request.action == "restart":
            return service.restart(request)
        return service.start(request)
    except (UsageError, InvalidToolName, web.WebError) as exc:
        print(f"webservice: {exc}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(f"webservice: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
