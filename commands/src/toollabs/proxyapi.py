"""The proxy host's route API and tools list page (root, systemd unit toollabs-proxyapi).

Listens on loopback only; nginx publishes the two halves separately:
  - the route API (PUT/DELETE /v1/routes/TOOL, DELETE /v1/nodes/self) on the
    internal TLS port, to web-grid nodes only; each call carries the calling
    node's secret token, and a node may point a route only at its own address;
  - the tools list page (GET /tools, shown at `/`), rebuilt from the tools'
    homes, their groups and the routes at most every CACHE_SECONDS, so it stays
    current without a playbook run.
Routes live in the proxy's Redis as hash prefix:TOOL {path regex -> backend URL},
which the proxy's Lua code reads on every request (BEHAVIOR.md).
"""

from __future__ import annotations

import grp
import hashlib
import hmac
import html
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from html.parser import HTMLParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from toollabs.names import NAME_RE, PREFIX

CONFIG = "/etc/toollabs/proxyapi.json"
ROUTE_PREFIX = "prefix:"
DEFAULT_PATTERN = ".*"
CACHE_SECONDS = 2.0
DESCRIPTION_LIMIT = 4096


def route_key(tool: str) -> str:
    return ROUTE_PREFIX + tool


def backend_host(backend: str) -> str | None:
    try:
        return urlsplit(backend).hostname
    except ValueError:
        return None


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Routes:
    """The routes in Redis, as the API changes them."""

    def __init__(self, redis):
        self.redis = redis

    def put(self, tool: str, backend: str, node_address: str) -> None:
        if not NAME_RE.match(tool):
            raise ApiError(400, f"'{tool}' is not a tool name")
        parts = urlsplit(backend)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme != "http" or parts.hostname != node_address or not port or parts.path not in ("", "/"):
            raise ApiError(403, f"backend must be http://{node_address}:PORT (this node's own address)")
        pipe = self.redis.pipeline()
        pipe.delete(route_key(tool))
        pipe.hset(route_key(tool), DEFAULT_PATTERN, f"http://{node_address}:{port}")
        pipe.execute()

    def delete(self, tool: str, node_address: str) -> bool:
        """Removes the tool's route if it points at this node; False if another node's route was kept."""
        if not NAME_RE.match(tool):
            raise ApiError(400, f"'{tool}' is not a tool name")
        backends = [_text(value) for value in self.redis.hgetall(route_key(tool)).values()]
        if any(backend_host(backend) != node_address for backend in backends):
            return False
        self.redis.delete(route_key(tool))
        return True

    def forget_node(self, node_address: str) -> int:
        removed = 0
        for key in self.redis.scan_iter(match=ROUTE_PREFIX + "*", count=500):
            backends = [_text(value) for value in self.redis.hgetall(key).values()]
            if backends and all(backend_host(backend) == node_address for backend in backends):
                self.redis.delete(key)
                removed += 1
        return removed

    def running(self) -> set:
        return {_text(key)[len(ROUTE_PREFIX):] for key in self.redis.scan_iter(match=ROUTE_PREFIX + "*", count=500)}


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# -- the tools list page ---------------------------------------------------
class DescriptionSanitizer(HTMLParser):
    """Keeps a few harmless tags of a tool's .description (HTML) and escapes the rest."""

    ALLOWED = {"a", "b", "i", "em", "strong", "code", "br", "p", "span", "small", "ul", "ol", "li", "tt"}
    VOID = {"br"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list = []
        self.open: list = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.ALLOWED:
            return
        attributes = ""
        if tag == "a":
            href = dict(attrs).get("href") or ""
            if re.match(r"^(https?://|/|#)", href) and not href.lower().startswith("//"):
                attributes = f' href="{html.escape(href, quote=True)}" rel="nofollow"'
        self.out.append(f"<{tag}{attributes}>")
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag):
        if tag in self.open:
            while self.open:
                closing = self.open.pop()
                self.out.append(f"</{closing}>")
                if closing == tag:
                    break

    def handle_data(self, data):
        self.out.append(html.escape(data, quote=False))

    def result(self) -> str:
        self.close()
        return "".join(self.out) + "".join(f"</{tag}>" for tag in reversed(self.open))


def sanitize_description(text: str) -> str:
    parser = DescriptionSanitizer()
    parser.feed(text)
    return parser.result()


def list_tools(root: str, getgrnam: Callable = grp.getgrnam) -> list:
    """[(tool, maintainers, description HTML)] for every tool with a home under root."""
    tools = []
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return tools
    for name in names:
        if not NAME_RE.match(name):
            continue
        try:
            group = getgrnam(PREFIX + name)
        except KeyError:
            continue
        maintainers = sorted(member for member in group.gr_mem if not member.startswith(PREFIX))
        description = ""
        try:
            with open(os.path.join(root, name, ".description"), errors="replace") as handle:
                description = sanitize_description(handle.read(DESCRIPTION_LIMIT).strip())
        except OSError:
            pass
        tools.append((name, maintainers, description))
    return tools


def render_tools_page(tools: Sequence, running: set, title: str = "Tool Labs") -> str:
    rows = []
    for name, maintainers, description in tools:
        label = html.escape(name)
        cell = f'<a href="/{label}/">{label}</a>' if name in running else label
        people = ", ".join(html.escape(person) for person in maintainers) or "&mdash;"
        rows.append(f'<tr id="tool-{label}" class="{"web" if name in running else "noweb"}">'
                    f'<td class="tool">{cell}</td><td class="maintainers">{people}</td>'
                    f'<td class="description">{description}</td></tr>')
    live = sum(1 for name, _, _ in tools if name in running)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}: list of tools</title>
<style>
body {{ font-family: sans-serif; margin: 2em auto; max-width: 60em; color: #202122; }}
h1 {{ font-weight: normal; border-bottom: 1px solid #a2a9b1; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; padding: .4em .6em; border-bottom: 1px solid #eaecf0; vertical-align: top; }}
th {{ background: #f8f9fa; }}
td.tool {{ font-weight: bold; white-space: nowrap; }}
a {{ color: #36c; }}
.summary {{ color: #54595d; }}
</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="summary">{len(tools)} tools, {live} with a running web service (linked).
Start yours with <code>webservice start</code> as the tool.</p>
<table id="tools">
<thead><tr><th>Tool</th><th>Maintainers</th><th>Description</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
</body></html>
"""


class ToolsPage:
    def __init__(self, root: str, routes: Routes, title: str, clock: Callable = time.monotonic):
        self.root, self.routes, self.title, self.clock = root, routes, title, clock
        self.cached: tuple[float, bytes] | None = None
        self.lock = threading.Lock()

    def body(self) -> bytes:
        with self.lock:
            now = self.clock()
            if self.cached is None or now - self.cached[0] >= CACHE_SECONDS:
                page = render_tools_page(list_tools(self.root), self.routes.running(), self.title)
                self.cached = (now, page.encode())
            return self.cached[1]


# -- the HTTP server -------------------------------------------------------
class Api:
    def __init__(self, routes: Routes, nodes: dict, page: ToolsPage):
        # nodes: sha256(token) hex -> {"node": NAME, "address": IP}
        self.routes, self.nodes, self.page = routes, nodes, page

    def node_for(self, authorization: str | None) -> dict:
        if not authorization or not authorization.startswith("Bearer "):
            raise ApiError(401, "a web-grid node's token is required (Authorization: Bearer ...)")
        digest = hashlib.sha256(authorization[len("Bearer "):].strip().encode()).hexdigest()
        for known, node in self.nodes.items():
            if hmac.compare_digest(known, digest):
                return node
        raise ApiError(403, "unknown token")

    def dispatch(self, method: str, path: str, headers, body: bytes) -> tuple[int, str, bytes]:
        if method == "GET" and path in ("/tools", "/tools/"):
            return 200, "text/html; charset=utf-8", self.page.body()
        if method == "GET" and path == "/healthz":
            self.routes.redis.ping()
            return 200, "text/plain", b"ok\n"
        match = re.match(r"^/v1/routes/([^/]+)$", path)
        if match and method in ("PUT", "DELETE"):
            node = self.node_for(headers.get("Authorization"))
            tool = match.group(1)
            if method == "PUT":
                try:
                    backend = json.loads(body or b"{}").get("backend", "")
                except (ValueError, AttributeError):
                    raise ApiError(400, 'the body must be JSON: {"backend": "http://ADDRESS:PORT"}') from None
                self.routes.put(tool, str(backend), node["address"])
                return _json(200, {"ok": True, "tool": tool, "backend": backend})
            removed = self.routes.delete(tool, node["address"])
            return _json(200, {"ok": True, "tool": tool, "removed": removed})
        if path == "/v1/nodes/self" and method == "DELETE":
            node = self.node_for(headers.get("Authorization"))
            return _json(200, {"ok": True, "removed": self.routes.forget_node(node["address"])})
        raise ApiError(404, f"no such resource: {method} {path}")


def _json(status: int, data: dict) -> tuple[int, str, bytes]:
    return status, "application/json", (json.dumps(data) + "\n").encode()


class Handler(BaseHTTPRequestHandler):
    server_version = "toollabs-proxyapi"
    protocol_version = "HTTP/1.1"

    def _serve(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 65536)) if length else b""
        try:
            status, ctype, payload = self.server.api.dispatch(self.command, self.path.split("?", 1)[0],
                                                              self.headers, body)
        except ApiError as exc:
            status, ctype, payload = _json(exc.status, {"ok": False, "error": str(exc)})
        except Exception as exc:  # noqa: BLE001 - a failed request must not stop the server
            self.log_error("failed: %r", exc)
            status, ctype, payload = _json(500, {"ok": False, "error": "internal error (see the journal)"})
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_PUT = do_DELETE = do_HEAD = _serve

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        if self.command != "GET":
            sys.stderr.write("%s %s\n" % (self.address_string(), format % args))


def main(argv: Sequence[str] | None = None) -> int:
    import redis  # Debian's python3-redis, on the proxy hosts only

    args = list(sys.argv[1:] if argv is None else argv)
    with open(args[0] if args else CONFIG) as handle:
        config = json.load(handle)
    client = redis.Redis(unix_socket_path=config["redis_socket"], socket_timeout=2)
    routes = Routes(client)
    page = ToolsPage(config.get("tools_root", "/data/project"), routes, config.get("title", "Tool Labs"))
    host, port = config.get("listen", "127.0.0.1:8081").rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    server.api = Api(routes, config["nodes"], page)
    print(f"listening on {host}:{port}; {len(config['nodes'])} web-grid node(s) known", file=sys.stderr, flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
