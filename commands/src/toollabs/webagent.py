"""The web-grid node's registration agent (root, systemd unit toollabs-webagent).

A tool's runner (toollabs.webrunner) connects to the agent's Unix socket. The
kernel tells the agent who is calling (SO_PEERCRED): the caller's uid must be a
tool's (tools.NAME), and the port it registers must be one that this very uid
listens on (/proc/net/tcp). Only then does the agent tell every proxy's route
API, with this node's secret token, that NAME is served at http://<node>:<port>.
So a tool can register and remove its own route and no other: it never names a
tool, the kernel does. When the runner's connection closes, however the runner
ended (stop, crash, qdel's SIGKILL), the agent removes the route at once.

Replaces the original's identd lookups (BEHAVIOR.md, "Known pain points").
"""

from __future__ import annotations

import json
import os
import pwd
import socket
import socketserver
import ssl
import struct
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence

from toollabs import web
from toollabs.names import PREFIX, InvalidToolName, tool_name

CONFIG = "/etc/toollabs/webagent.json"
# Seconds between re-sending every live route to the proxies: a proxy that lost
# its routes (rebuilt, or a new one) has them back within this time.
REFRESH_SECONDS = 30
LISTEN_STATE = "0A"


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket."""
    data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", data)


def listening_uids(port: int, tables: Iterable[str] = ("/proc/net/tcp", "/proc/net/tcp6")) -> set:
    """The uids that own a listening TCP socket on `port` (any address)."""
    uids = set()
    for table in tables:
        try:
            with open(table) as handle:
                next(handle, None)
                for line in handle:
                    fields = line.split()
                    if len(fields) < 8 or fields[3] != LISTEN_STATE:
                        continue
                    if int(fields[1].rsplit(":", 1)[1], 16) == port:
                        uids.add(int(fields[7]))
        except FileNotFoundError:
            continue
    return uids


def tool_of_uid(uid: int) -> str:
    """The tool whose account has this uid; ValueError if it is not a tool's."""
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        raise ValueError(f"uid {uid} has no account") from None
    if not name.startswith(PREFIX):
        raise ValueError(f"{name} is not a tool account: run webservice as the tool (become TOOL)")
    try:
        return tool_name(name)
    except InvalidToolName as exc:
        raise ValueError(str(exc)) from None


class RouteAPI:
    """The proxies' route API (toollabs.proxyapi), as this node's agent calls it."""

    def __init__(self, proxies: Sequence[str], token: str, ca_file: str | None, timeout: float = 5.0):
        self.proxies = list(proxies)
        self.token = token
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=ca_file) if ca_file else None

    def _call(self, method: str, path: str, body: dict | None = None) -> list:
        """Calls every proxy; returns the errors (empty when all agreed)."""
        errors = []
        data = json.dumps(body).encode() if body is not None else None
        for base in self.proxies:
            request = urllib.request.Request(f"{base.rstrip('/')}{path}", data=data, method=method, headers={
                "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as response:
                    response.read()
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode(errors="replace").strip()
                errors.append(f"{base}: HTTP {exc.code} {detail}")
            except (OSError, ValueError) as exc:
                errors.append(f"{base}: {exc}")
        return errors

    def put(self, tool: str, backend: str) -> list:
        return self._call("PUT", f"/v1/routes/{tool}", {"backend": backend})

    def delete(self, tool: str) -> list:
        return self._call("DELETE", f"/v1/routes/{tool}")

    def forget_node(self) -> list:
        return self._call("DELETE", "/v1/nodes/self")


class Agent:
    def __init__(self, api: RouteAPI, advertise: str, uids=listening_uids, tool_of=tool_of_uid, log=None):
        self.api = api
        self.advertise = advertise
        self.listening_uids = uids
        self.tool_of = tool_of
        self.log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self.lock = threading.Lock()
        # id(connection state) -> (tool, backend) of every route a live runner holds.
        self.live: dict = {}

    def handle(self, uid: int, message: dict, state: dict) -> dict:
        """One request of a connection; `state` holds what the connection registered."""
        try:
            tool = self.tool_of(uid)
        except ValueError as exc:
            return {"ok": False, "error": str(exc)}
        op = message.get("op")
        asked = message.get("tool")
        if asked is not None and asked != tool:
            return {"ok": False, "error": f"you are {PREFIX}{tool}: only that tool's route can be changed "
                                          f"from this account, not {asked}'s"}
        if op == "register":
            port = message.get("port")
            if not isinstance(port, int) or not 1024 <= port <= 65535:
                return {"ok": False, "error": "port must be a number from 1024 to 65535"}
            if uid not in self.listening_uids(port):
                return {"ok": False, "error": f"nothing of {PREFIX}{tool} listens on port {port} on this node"}
            backend = f"http://{self.advertise}:{port}"
            with self.lock:
                errors = self.api.put(tool, backend)
                if not errors:
                    self.live[id(state)] = (tool, backend)
            if errors:
                return {"ok": False, "error": "; ".join(errors)}
            state["tool"] = tool
            self.log(f"registered {tool} -> {backend}")
            return {"ok": True, "tool": tool, "backend": backend}
        if op == "unregister":
            errors = self.remove(tool, state)
            state.pop("tool", None)
            return {"ok": not errors, "error": "; ".join(errors)} if errors else {"ok": True, "tool": tool}
        return {"ok": False, "error": f"unknown op {op!r}: use register or unregister"}

    def remove(self, tool: str, state: dict) -> list:
        with self.lock:
            self.live.pop(id(state), None)
            errors = self.api.delete(tool)
        self.log(f"removed the route of {tool}" + (f" (errors: {'; '.join(errors)})" if errors else ""))
        return errors

    def closed(self, state: dict) -> None:
        if state.get("tool"):
            self.remove(state["tool"], state)

    def refresh(self) -> None:
        """Sends every live route to the proxies again."""
        with self.lock:
            for tool, backend in list(self.live.values()):
                errors = self.api.put(tool, backend)
                if errors:
                    self.log(f"could not refresh the route of {tool}: {'; '.join(errors)}")

    def refresh_forever(self, interval: float = REFRESH_SECONDS) -> None:
        while True:
            threading.Event().wait(interval)
            self.refresh()


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        agent: Agent = self.server.agent
        _pid, uid, _gid = peer_credentials(self.request)
        state: dict = {}
        try:
            while True:
                message = web.receive(self.rfile)
                if message is None:
                    break
                web.send(self.wfile, agent.handle(uid, message, state))
        except OSError:
            pass
        finally:
            agent.closed(state)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    config_path = args[0] if args else CONFIG
    with open(config_path) as handle:
        config = json.load(handle)
    with open(config["token_file"]) as handle:
        token = handle.read().strip()
    api = RouteAPI(config["proxies"], token, config.get("ca_file"))
    agent = Agent(api, config["advertise"])
    # Routes left by runners of an earlier life of this node or agent: their
    # runners will register again once they find the agent.
    errors = api.forget_node()
    if errors:
        agent.log("could not clear this node's old routes: " + "; ".join(errors))
    path = config.get("socket", web.AGENT_SOCKET)
    if os.path.exists(path):
        os.unlink(path)
    server = Server(path, Handler)
    os.chmod(path, 0o666)
    server.agent = agent
    refresh = float(config.get("refresh_seconds", REFRESH_SECONDS))
    threading.Thread(target=agent.refresh_forever, args=(refresh,), daemon=True).start()
    agent.log(f"listening on {path}, advertising {config['advertise']} to {', '.join(config['proxies'])}")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
