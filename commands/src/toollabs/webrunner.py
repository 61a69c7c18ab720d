"""The grid job that `webservice start` submits: runs the tool's web server on a
free port, registers the port with the node's agent once the server answers,
and starts the server again when it dies (its route is removed meanwhile, so
visitors get the proxy's "No webservice" page rather than a timeout).

usage (as the job's command, run as the tool): webrunner TYPE [COMMAND ARGS...]
"""

from __future__ import annotations

import os
import pwd
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

from toollabs import web
from toollabs.names import InvalidToolName, tool_name

# Seconds to wait for a (re)started server to accept connections.
START_TIMEOUT = 60.0
# Restart delays: 1 s, doubling while the server keeps dying within a minute, at most 30 s.
FIRST_DELAY, MAX_DELAY, STABLE_AFTER = 1.0, 30.0, 60.0
# Seconds between attempts to register while the agent or the proxies refuse.
REGISTER_RETRY = 5.0


def log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} webservice: {message}", file=sys.stderr, flush=True)


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class Runner:
    def __init__(self, kind: str, tool: str, user: str, home: str, command: Sequence[str] = (),
                 agent_socket: str = web.AGENT_SOCKET):
        self.kind, self.tool, self.user, self.home = kind, tool, user, home
        self.command = list(command)
        self.agent_socket = agent_socket
        self.agent: web.AgentClient | None = None
        self.registered_port: int | None = None
        self.child: subprocess.Popen | None = None
        self.stopping = False
        self.next_attempt = 0.0
        self.rundir = os.environ.get("TMPDIR") or tempfile.mkdtemp(prefix=f"webservice-{tool}-")

    # -- the server ---------------------------------------------------------
    def server_argv(self, port: int) -> tuple[list, dict]:
        env = dict(os.environ, PORT=str(port), TOOL_NAME=self.tool)
        if self.kind == "lighttpd":
            extra = ""
            try:
                with open(os.path.join(self.home, ".lighttpd.conf")) as handle:
                    extra = handle.read()
            except FileNotFoundError:
                pass
            config = os.path.join(self.rundir, f"lighttpd-{port}.conf")
            with open(config, "w") as handle:
                handle.write(web.lighttpd_config(self.tool, self.user, self.home, port,
                                                 self.rundir, extra, php_socket=f"php-{port}.socket"))
            return [web.LIGHTTPD, "-D", "-f", config], env
        if self.kind == "uwsgi-python":
            return web.uwsgi_python_argv(self.tool, self.home, port), env
        if self.kind == "generic":
            if not self.command:
                raise web.WebError("generic needs a command: webservice generic start COMMAND [ARGS...]")
            return self.command, env
        raise web.WebError(f"unknown webservice type '{self.kind}'")

    def stop_child(self) -> None:
        """Ends the server and whatever it started (php-cgi): its whole process group."""
        child = self.child
        if child is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(child.pid, sig)
            except ProcessLookupError:
                break
            try:
                child.wait(timeout=5)
                if sig == signal.SIGTERM:
                    # The group may hold more than the server itself.
                    os.killpg(child.pid, signal.SIGKILL)
                break
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
        self.child = None

    # -- the agent ----------------------------------------------------------
    def connect(self) -> bool:
        try:
            self.agent = web.AgentClient(self.agent_socket)
            return True
        except OSError as exc:
            log(f"cannot reach the web-grid agent at {self.agent_socket}: {exc}")
            self.agent = None
            return False

    def register(self, port: int) -> bool:
        if self.agent is None and not self.connect():
            return False
        try:
            reply = self.agent.request({"op": "register", "port": port, "type": self.kind})
        except OSError as exc:
            log(f"lost the web-grid agent: {exc}")
            self.agent = None
            return False
        if not reply.get("ok"):
            log(f"the route was not registered: {reply.get('error')}")
            return False
        self.registered_port = port
        log(f"serving /{self.tool}/ from {reply.get('backend')}")
        return True

    def unregister(self) -> None:
        if self.agent is None or self.registered_port is None:
            self.registered_port = None
            return
        try:
            reply = self.agent.request({"op": "unregister"})
            if not reply.get("ok"):
                log(f"the route was not removed: {reply.get('error')}")
        except OSError:
            # A closed connection removes the route too.
            self.agent = None
        self.registered_port = None

    def agent_lost(self) -> bool:
        """True if the agent closed our connection (it restarted): the route went with it."""
        if self.agent is None:
            return True
        readable, _, _ = select.select([self.agent.sock], [], [], 0)
        if not readable:
            return False
        try:
            if self.agent.sock.recv(1, socket.MSG_PEEK):
                return False
        except OSError:
            pass
        self.agent.close()
        self.agent = None
        return True

    # -- the loop -----------------------------------------------------------
    def run(self) -> int:
        quick_crashes = 0
        self.connect()
        while not self.stopping:
            port = web.free_port()
            try:
                argv, env = self.server_argv(port)
            except (OSError, web.WebError) as exc:
                log(str(exc))
                return 1
            started = time.monotonic()
            log(f"starting {self.kind} on port {port}: {' '.join(argv)}")
            try:
                child = self.child = subprocess.Popen(argv, env=env, cwd=self.home, start_new_session=True,
                                                      stdin=subprocess.DEVNULL)
            except OSError as exc:
                log(f"cannot start {argv[0]}: {exc}")
                return 1
            deadline = started + START_TIMEOUT
            while child.poll() is None and not listening(port) and time.monotonic() < deadline:
                time.sleep(0.05)
            while child.poll() is None and not self.stopping:
                if self.registered_port is None or self.agent_lost():
                    self.registered_port = None
                    if time.monotonic() >= self.next_attempt and listening(port) and not self.register(port):
                        # The agent or the proxies refused or are away: try again a little later.
                        self.next_attempt = time.monotonic() + REGISTER_RETRY
                try:
                    child.wait(timeout=1 if self.registered_port else 0.5)
                except subprocess.TimeoutExpired:
                    pass
            code = child.returncode
            self.unregister()
            self.stop_child()
            if self.stopping:
                break
            quick_crashes = 1 if time.monotonic() - started > STABLE_AFTER else quick_crashes + 1
            delay = min(FIRST_DELAY * 2 ** (quick_crashes - 1), MAX_DELAY)
            log(f"{self.kind} exited with code {code}; restarting in {delay:g} s")
            time.sleep(delay)
        return 0

    def shutdown(self, signum, _frame) -> None:
        self.stopping = True
        log(f"signal {signum}: stopping")
        self.unregister()
        self.stop_child()
        sys.exit(0)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: webrunner TYPE [COMMAND ARGS...] (started by webservice)", file=sys.stderr)
        return 2
    entry = pwd.getpwuid(os.getuid())
    try:
        if not entry.pw_name.startswith("tools."):
            raise web.WebError(f"webrunner runs as a tool (tools.NAME), not as {entry.pw_name}")
        tool = tool_name(entry.pw_name)
        web.server_type(args[0])
    except (InvalidToolName, web.WebError) as exc:
        log(str(exc))
        return 2
    runner = Runner(args[0], tool, entry.pw_name, entry.pw_dir, args[1:])
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR2, signal.SIGHUP):
        signal.signal(sig, runner.shutdown)
    return runner.run()


if __name__ == "__main__":
    sys.exit(main())
