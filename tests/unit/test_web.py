"""The web: webservice's parsing, messages and qsub line, the manifest, the
lighttpd configuration, the runner (with a real server process and a stand-in
agent on a Unix socket), the agent's checks and the route API."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import socketserver
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "commands" / "src"))
from toollabs import proxyapi, web, webagent, webrunner, webservice  # noqa: E402
from toollabs.grid import RESPAWN  # noqa: E402
from toollabs.grid import UsageError  # noqa: E402


def qstat(*jobs) -> str:
    """qstat -xml with (number, name, state) jobs."""
    items = "".join(f"<job_list><JB_job_number>{n}</JB_job_number><JB_name>{name}</JB_name>"
                    f"<state>{state}</state></job_list>" for n, name, state in jobs)
    return f"<?xml version='1.0'?><job_info><queue_info>{items}</queue_info><job_info></job_info></job_info>"


class FakeGrid:
    """qstat/qsub/qdel as the command sees them; qsub adds a running job, qdel removes it."""

    def __init__(self, *jobs):
        self.jobs = list(jobs)
        self.calls = []

    def __call__(self, command, **_kwargs):
        self.calls.append(command)
        if command[0] == "qstat":
            return SimpleNamespace(returncode=0, stdout=qstat(*self.jobs), stderr="")
        if command[0] == "qsub":
            name = command[command.index("-N") + 1]
            self.jobs.append(("9", name, "r"))
            return SimpleNamespace(returncode=0, stdout=f'Your job 9 ("{name}") has been submitted', stderr="")
        if command[0] == "qdel":
            self.jobs = [job for job in self.jobs if job[0] != command[1]]
            return SimpleNamespace(returncode=0, stdout="deleted", stderr="")
        raise AssertionError(command)


class Out:
    def __init__(self):
        self.lines = []

    def write(self, text):
        self.lines.append(text)

    def flush(self):
        pass

    @property
    def text(self):
        return "".join(self.lines)


def service(tmp_path, grid):
    out = Out()
    return webservice.WebService("mytool", "tools.mytool", str(tmp_path), run=grid, sleep=lambda _s: None,
                                 out=out), out


# -- parsing ----------------------------------------------------------------
@pytest.mark.parametrize("argv,kind,action,command,mem", [
    (["start"], None, "start", [], None),
    (["lighttpd", "restart"], "lighttpd", "restart", [], None),
    (["uwsgi-python", "status"], "uwsgi-python", "status", [], None),
    (["-mem", "2g", "start"], None, "start", [], "2G"),
    (["generic", "start", "/bin/srv", "--port", "x"], "generic", "start", ["/bin/srv", "--port", "x"], None),
])
def test_parse(argv, kind, action, command, mem):
    request = webservice.parse(argv)
    assert (request.kind, request.action, request.command, request.memory) == (kind, action, command, mem)


@pytest.mark.parametrize("argv,message", [
    (["nodejs9", "start"], "unknown webservice type 'nodejs9'"),
    (["lighttpd"], "say what to do: start, stop, restart or status"),
    ([], "say what to do"),
    (["start", "extra"], "unexpected 'extra' after start"),
    (["-mem", "3x", "start"], "invalid memory value '3x'"),
    (["-mem"], "needs a value"),
    (["--frob", "start"], "unknown option --frob"),
])
def test_bad_input_says_what_to_fix(argv, message):
    with pytest.raises(UsageError, match=message):
        webservice.parse(argv)


# -- the command ------------------------------------------------------------
def test_start_submits_the_job_of_behavior_md_and_writes_the_manifest(tmp_path):
    grid = FakeGrid()
    svc, out = service(tmp_path, grid)
    assert svc.start(webservice.parse(["start"])) == 0
    qsub = next(call for call in grid.calls if call[0] == "qsub")
    assert qsub[qsub.index("-N") + 1] == "lighttpd-mytool"
    assert qsub[qsub.index("-q") + 1] == "webgrid-lighttpd"
    assert qsub[qsub.index("-l") + 1] == "h_vmem=4G"
    assert qsub[-3:] == [RESPAWN, webservice.RUNNER, "lighttpd"]
    assert qsub[qsub.index("-o") + 1] == f"{tmp_path}/service.log"
    assert web.read_manifest(str(tmp_path)) == {"version": "2", "web": "lighttpd"}
    assert "Your webservice is running" in out.text


def test_start_when_running_says_so_and_submits_nothing(tmp_path):
    grid = FakeGrid(("3", "uwsgi-python-mytool", "r"))
    svc, out = service(tmp_path, grid)
    assert svc.start(webservice.parse(["lighttpd", "start"])) == 1
    assert out.text.strip() == "Your job is already running"
    assert not [call for call in grid.calls if call[0] == "qsub"]


@pytest.mark.parametrize("jobs,code,first_line", [
    ([("3", "lighttpd-mytool", "r")], 0, "Your webservice is running"),
    ([("3", "lighttpd-mytool", "Rr")], 0, "Your webservice is running"),
    ([("3", "lighttpd-mytool", "qw")], 1, "Your webservice is not running"),
    ([("3", "lighttpd-othertool", "r"), ("4", "bot", "r")], 1, "Your webservice is not running"),
    ([], 1, "Your webservice is not running"),
])
def test_status_exit_codes_and_messages(tmp_path, jobs, code, first_line):
    svc, out = service(tmp_path, FakeGrid(*jobs))
    assert svc.status() == code
    assert out.text.splitlines()[0] == first_line


def test_stop_deletes_the_job_and_clears_the_manifest_type(tmp_path):
    web.write_manifest(str(tmp_path), {"version": "2", "web": "lighttpd"})
    grid = FakeGrid(("3", "lighttpd-mytool", "r"), ("4", "bot", "r"))
    svc, out = service(tmp_path, grid)
    assert svc.stop() == 0
    assert ["qdel", "3"] in grid.calls and [job[1] for job in grid.jobs] == ["bot"]
    assert "web" not in web.read_manifest(str(tmp_path))
    assert svc.stop() == 1
    assert out.text.splitlines()[-1] == "Your webservice is not running"


def test_restart_keeps_the_running_type(tmp_path):
    grid = FakeGrid(("3", "uwsgi-python-mytool", "r"))
    (tmp_path / "www" / "python" / "src").mkdir(parents=True)
    (tmp_path / "www" / "python" / "src" / "app.py").write_text("app = None\n")
    svc, _ = service(tmp_path, grid)
    assert svc.restart(webservice.parse(["restart"])) == 0
    qsub = next(call for call in grid.calls if call[0] == "qsub")
    assert qsub[qsub.index("-N") + 1] == "uwsgi-python-mytool"
    assert qsub[qsub.index("-q") + 1] == "webgrid-generic"


def test_uwsgi_without_an_app_and_generic_without_a_command_are_refused(tmp_path):
    grid = FakeGrid()
    svc, _ = service(tmp_path, grid)
    with pytest.raises(UsageError, match="www/python/src/app.py is missing"):
        svc.start(webservice.parse(["uwsgi-python", "start"]))
    with pytest.raises(UsageError, match="generic needs the command"):
        svc.start(webservice.parse(["generic", "start"]))
    assert not [call for call in grid.calls if call[0] == "qsub"]


def test_generic_keeps_its_command_in_the_manifest(tmp_path):
    grid = FakeGrid()
    svc, _ = service(tmp_path, grid)
    assert svc.start(webservice.parse(["-mem", "1g", "generic", "start", "/bin/sleep", "100"])) == 0
    qsub = next(call for call in grid.calls if call[0] == "qsub")
    assert qsub[-4:] == [webservice.RUNNER, "generic", "/bin/sleep", "100"]
    assert "h_vmem=1G" in qsub
    manifest = web.read_manifest(str(tmp_path))
    assert manifest["command"] == ["/bin/sleep", "100"] and manifest["memory"] == "1G"


def test_manifest_keeps_unknown_keys(tmp_path):
    (tmp_path / "service.manifest").write_text("version: 2\nweb: lighttpd\nbackend: gridengine\n")
    web.write_manifest(str(tmp_path), {**web.read_manifest(str(tmp_path)), "web": "generic"})
    assert web.read_manifest(str(tmp_path)) == {"version": "2", "web": "generic", "backend": "gridengine"}
    assert oct((tmp_path / "service.manifest").stat().st_mode & 0o777) == "0o644"


# -- the generated configuration -----------------------------------------------
def test_lighttpd_config_follows_behavior_md():
    config = web.lighttpd_config("mytool", "tools.mytool", "/data/project/mytool", 41234, "/tmp/r",
                                 extra='url.redirect = ("^/mytool/old" => "/mytool/new")\n')
    assert "server.port = 41234" in config
    assert 'server.username = "tools.mytool"' in config and 'server.groupname = "tools.mytool"' in config
    assert 'server.document-root = "/data/project/mytool/public_html"' in config
    assert 'alias.url = ("/mytool/" => "/data/project/mytool/public_html/")' in config
    assert 'index-file.names = ("index.php", "index.html", "index.htm")' in config
    assert 'url.access-deny = ("~", ".inc")' in config
    assert '"bin-path" => "/usr/bin/php-cgi"' in config
    assert 'server.errorlog = "/data/project/mytool/error.log"' in config
    assert 'accesslog.filename = "/data/project/mytool/access.log"' in config
    assert "dir-listing" not in config.split("# No directory listings")[0]
    # ~/.lighttpd.conf comes last, so that it can override.
    assert config.rstrip().endswith('url.redirect = ("^/mytool/old" => "/mytool/new")')


def test_uwsgi_mounts_the_app_at_the_tool_and_uses_the_venv(tmp_path):
    argv = web.uwsgi_python_argv("mytool", str(tmp_path), 4000)
    assert f"/mytool={tmp_path}/www/python/src/app.py" in argv and "--venv" not in argv
    (tmp_path / "www" / "python" / "venv").mkdir(parents=True)
    argv = web.uwsgi_python_argv("mytool", str(tmp_path), 4000)
    assert argv[argv.index("--venv") + 1] == f"{tmp_path}/www/python/venv"
    assert argv[argv.index("--http-socket") + 1] == "0.0.0.0:4000"


# -- the runner, with a real server and a stand-in agent -------------------------
class StandInAgent(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path):
        self.messages = []
        self.closed = 0

        class Handler(socketserver.StreamRequestHandler):
            def handle(inner):
                while True:
                    message = web.receive(inner.rfile)
                    if message is None:
                        self.closed += 1
                        return
                    self.messages.append(message)
                    web.send(inner.wfile, {"ok": True, "backend": f"http://node:{message.get('port')}"})

        super().__init__(path, Handler)


def wait(check, timeout=15.0):
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, "timed out"
        time.sleep(0.05)


def test_the_runner_registers_restarts_a_killed_server_and_unregisters(tmp_path):
    agent = StandInAgent(str(tmp_path / "agent.sock"))
    threading.Thread(target=agent.serve_forever, daemon=True).start()
    server = [sys.executable, "-m", "http.server", "--bind", "127.0.0.1"]
    runner = webrunner.Runner("generic", "mytool", "tools.mytool", str(tmp_path),
                              [*server, "0"], agent_socket=str(tmp_path / "agent.sock"))
    # http.server takes the port as its last argument: give it $PORT.
    original = runner.server_argv
    runner.server_argv = lambda port: ([*server, str(port)], original(port)[1])
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        wait(lambda: any(m["op"] == "register" for m in agent.messages))
        first = agent.messages[-1]["port"]
        assert webrunner.listening(first)
        os.killpg(runner.child.pid, signal.SIGKILL)
        wait(lambda: [m["op"] for m in agent.messages] == ["register", "unregister", "register"])
        second = agent.messages[-1]["port"]
        assert webrunner.listening(second)
    finally:
        runner.stopping = True
        runner.unregister()
        runner.stop_child()
        agent.shutdown()
    assert agent.messages[-1]["op"] == "unregister"


# -- the agent ----------------------------------------------------------------
class FakeApi:
    def __init__(self):
        self.calls = []

    def put(self, tool, backend):
        self.calls.append(("put", tool, backend))
        return []

    def delete(self, tool):
        self.calls.append(("delete", tool))
        return []


def make_agent(listeners):
    def tool_of(uid):
        names = {50001: "alpha", 50002: "beta"}
        if uid not in names:
            raise ValueError(f"uid {uid} is not a tool account")
        return names[uid]
    api = FakeApi()
    return webagent.Agent(api, "10.0.0.5", uids=lambda port: listeners.get(port, set()), tool_of=tool_of,
                          log=lambda _m: None), api


def test_the_agent_registers_only_the_callers_own_listening_port():
    agent, api = make_agent({5000: {50001}, 6000: {50002}})
    state = {}
    assert agent.handle(50001, {"op": "register", "port": 5000}, state) == {
        "ok": True, "tool": "alpha", "backend": "http://10.0.0.5:5000"}
    forged = agent.handle(50001, {"op": "register", "port": 6000, "tool": "beta"}, {})
    assert not forged["ok"] and "only that tool's route" in forged["error"]
    stolen = agent.handle(50001, {"op": "register", "port": 6000}, {})
    assert not stolen["ok"] and "nothing of tools.alpha listens on port 6000" in stolen["error"]
    removed = agent.handle(50001, {"op": "unregister", "tool": "beta"}, {})
    assert not removed["ok"]
    assert not agent.handle(1000, {"op": "register", "port": 5000}, {})["ok"]
    assert api.calls == [("put", "alpha", "http://10.0.0.5:5000")]
    # A proxy that lost its routes gets the live ones again.
    agent.refresh()
    assert api.calls[-1] == ("put", "alpha", "http://10.0.0.5:5000")
    agent.closed(state)
    assert api.calls[-1] == ("delete", "alpha")
    agent.refresh()
    assert api.calls[-1] == ("delete", "alpha")


@pytest.mark.parametrize("port", [80, 70000, "5000", None])
def test_the_agent_refuses_odd_ports(port):
    agent, api = make_agent({})
    assert not agent.handle(50001, {"op": "register", "port": port}, {})["ok"]
    assert api.calls == []


def test_listening_uids_reads_proc_net_tcp(tmp_path):
    table = tmp_path / "tcp"
    table.write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 00000000:A0D2 00000000:0000 0A 00000000:00000000 00:00000000 00000000 50001        0 1 1\n"
        "   1: 0100007F:A0D2 0100007F:9C40 01 00000000:00000000 00:00000000 00000000 50002        0 2 1\n"
        "   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1\n")
    assert webagent.listening_uids(0xA0D2, [str(table)]) == {50001}
    assert webagent.listening_uids(8080, [str(table), str(tmp_path / "missing")]) == {0}


# -- the route API ----------------------------------------------------------------
class FakeRedis:
    def __init__(self):
        self.data = {}

    def pipeline(self):
        return self

    def execute(self):
        return []

    @staticmethod
    def _key(key):
        return key.decode() if isinstance(key, bytes) else key

    def delete(self, key):
        self.data.pop(self._key(key), None)

    def hset(self, key, field, value):
        self.data.setdefault(key, {})[field] = value

    def hgetall(self, key):
        return {k.encode(): v.encode() for k, v in self.data.get(self._key(key), {}).items()}

    def scan_iter(self, match, count):
        prefix = match.rstrip("*")
        return [key.encode() for key in list(self.data) if key.startswith(prefix)]

    def ping(self):
        return True


def api_with_node():
    redis = FakeRedis()
    routes = proxyapi.Routes(redis)
    nodes = {hashlib.sha256(b"secret-a").hexdigest(): {"node": "web-a", "address": "10.0.0.5"},
             hashlib.sha256(b"secret-b").hexdigest(): {"node": "web-b", "address": "10.0.0.6"}}
    page = proxyapi.ToolsPage("/nonexistent", routes, "Tool Labs")
    return proxyapi.Api(routes, nodes, page), redis


def call(api, method, path, token=None, body=None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        status, _, payload = api.dispatch(method, path, headers, json.dumps(body).encode() if body else b"")
        return status, json.loads(payload)
    except proxyapi.ApiError as exc:
        return exc.status, {"error": str(exc)}


def test_the_route_api_needs_a_known_token_and_the_nodes_own_address():
    api, redis = api_with_node()
    assert call(api, "PUT", "/v1/routes/alpha", body={"backend": "http://10.0.0.5:5000"})[0] == 401
    assert call(api, "PUT", "/v1/routes/alpha", "guess", {"backend": "http://10.0.0.5:5000"})[0] == 403
    assert call(api, "PUT", "/v1/routes/alpha", "secret-a", {"backend": "http://10.0.0.6:5000"})[0] == 403
    assert call(api, "PUT", "/v1/routes/Bad..name", "secret-a", {"backend": "http://10.0.0.5:5000"})[0] == 400
    assert call(api, "PUT", "/v1/routes/alpha", "secret-a", {"backend": "http://10.0.0.5:5000"})[0] == 200
    assert redis.data == {"prefix:alpha": {".*": "http://10.0.0.5:5000"}}


def test_a_node_removes_only_routes_that_point_at_it():
    api, redis = api_with_node()
    call(api, "PUT", "/v1/routes/alpha", "secret-a", {"backend": "http://10.0.0.5:5000"})
    call(api, "PUT", "/v1/routes/beta", "secret-b", {"backend": "http://10.0.0.6:5000"})
    status, answer = call(api, "DELETE", "/v1/routes/beta", "secret-a")
    assert status == 200 and answer["removed"] is False and "prefix:beta" in redis.data
    assert call(api, "DELETE", "/v1/nodes/self", "secret-a")[1]["removed"] == 1
    assert list(redis.data) == ["prefix:beta"]


def test_descriptions_keep_simple_markup_and_lose_the_rest():
    clean = proxyapi.sanitize_description(
        'Relays <b>bugs</b><script>alert(1)</script> <a href="javascript:x()" onclick="y()">a</a> '
        '<a href="https://example.org/x">docs</a> <img src=x onerror=alert(2)> 1 < 2')
    assert "<b>bugs</b>" in clean and "<script" not in clean and "onclick" not in clean
    assert "javascript" not in clean and "<img" not in clean and "1 &lt; 2" in clean
    assert '<a href="https://example.org/x" rel="nofollow">docs</a>' in clean


def test_the_tools_list_links_only_tools_with_a_route(tmp_path):
    for name, description in (("alpha", "First <i>tool</i>"), ("beta", "")):
        (tmp_path / name).mkdir()
        if description:
            (tmp_path / name / ".description").write_text(description)
    (tmp_path / "Not-A-Tool").mkdir()
    groups = {"tools.alpha": ["alice", "tools.beta"], "tools.beta": ["bob", "alice"]}

    def getgrnam(name):
        if name not in groups:
            raise KeyError(name)
        return SimpleNamespace(gr_mem=groups[name])
    tools = proxyapi.list_tools(str(tmp_path), getgrnam)
    assert tools == [("alpha", ["alice"], "First <i>tool</i>"), ("beta", ["alice", "bob"], "")]
    page = proxyapi.render_tools_page(tools, {"beta"})
    assert '<a href="/beta/">beta</a>' in page and 'href="/alpha/"' not in page
    assert "2 tools, 1 with a running web service" in page


def test_the_tools_page_is_rebuilt_after_its_cache_time():
    redis = FakeRedis()
    now = [100.0]
    page = proxyapi.ToolsPage("/nonexistent", proxyapi.Routes(redis), "T", clock=lambda: now[0])
    assert b"0 tools" in page.body()
    first = page.body()
    now[0] += proxyapi.CACHE_SECONDS
    assert page.body() is not first


# -- the proxy's nginx configuration -------------------------------------------------
def render_proxy_conf(**overrides):
    import jinja2
    variables = {"proxy_client_max_body_size": "128m", "proxy_redirect_http": True,
                 "proxy_server_names": ["tools.example.org"],
                 "proxy_redis_socket": "/run/r.sock", "proxy_route_cache_seconds": 1, "proxy_api_port": 8081,
                 "proxy_connect_timeout": "3s", "proxy_read_timeout": "300s", "proxy_api_listen_port": 8444,
                 "__proxy_nodes": {"h1": {"node": "web-1", "address": "10.0.0.31"}}}
    variables.update(overrides)
    template = (ROOT / "roles" / "proxy" / "templates" / "toollabs-proxy.conf.j2").read_text()
    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(template).render(**variables)


def test_plain_http_only_redirects_to_https_unless_the_lab_says_otherwise():
    production = render_proxy_conf()
    redirect, main = production.split("server {", 2)[1:]
    assert "listen 80 default_server;" in redirect and "return 301 https://$host$request_uri;" in redirect
    assert "listen 80" not in main and "listen 443 ssl http2 default_server;" in main
    lab = render_proxy_conf(proxy_redirect_http=False)
    assert "return 301 https://" not in lab
    assert "listen 80 default_server;" in lab.split("server {")[1] and "listen 443 ssl" in lab.split("server {")[1]


def test_the_route_api_is_published_to_the_web_grid_nodes_only():
    api = render_proxy_conf().split("server {")[-1]
    assert "listen 8444 ssl;" in api and "allow 10.0.0.31;" in api and "deny all;" in api
    assert "client_max_body_size 128m;" in render_proxy_conf()
