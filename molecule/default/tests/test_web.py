"""The web (issue 5): webservice on the web grid, the proxy, route registration
and the tools list page. Real HTTP to the proxy container (tlm-nfs), real grid
jobs on the web-grid node (tlm-exec), commands typed over SSH on the bastion."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ADDRESSES, PROJECT, cluster_host, ssh_as, wait_for

PROXY = ADDRESSES["tlm-nfs"]
WEBGRID = "tlm-exec"
TOOL = "alicetools"
ARTIFACTS = Path(os.environ.get("TOOLLABS_ARTIFACTS", PROJECT / "tests" / "artifacts"))

INDEX_PHP = r"""<?php
header('Content-Type: text/plain');
echo "php says ", 6 * 7, "\n";
echo "user=", posix_getpwuid(posix_geteuid())['name'], "\n";
echo "proto=", $_SERVER['HTTP_X_FORWARDED_PROTO'] ?? '-', "\n";
echo "original=", $_SERVER['HTTP_X_ORIGINAL_URI'] ?? '-', "\n";
echo "body=", strlen(file_get_contents('php://input')), "\n";
"""

# A generic server: echoes the proxy's headers, and after a WebSocket-style
# Upgrade answers 101 and echoes raw bytes (enough to show the tunnel works).
GENERIC_SERVER = r"""#!/usr/bin/env python3
import os, socket, threading
def serve(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return conn.close()
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in head.split("\r\n")[1:] if ":" in l}
    if headers.get("upgrade", "").lower() == "websocket":
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                break
            conn.sendall(b"echo:" + chunk)
    else:
        body = ("generic " + head.split()[1] + " proto=" + headers.get("x-forwarded-proto", "-")).encode()
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)
    conn.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(os.environ["PORT"]))); s.listen(16)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def get(path: str, https: bool = False, method: str = "GET", body: bytes | None = None, headers=None,
        published: bool = False):
    """(status, headers, body) of one request to the proxy, the path sent as it is:
    to its container's address, or (published) to its ports on this machine's loopback."""
    host = "localhost" if published else PROXY
    if https:
        context = ssl.create_default_context(cafile=str(credentials_dir() / "pki" / "ca.crt"))
        conn = http.client.HTTPSConnection(host, 18443 if published else 443, timeout=20, context=context)
    else:
        conn = http.client.HTTPConnection(host, 18080 if published else 80, timeout=20)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def credentials_dir() -> Path:
    return Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "credentials"


def as_tool(tool: str, command: str) -> subprocess.CompletedProcess:
    return ssh_as("alice", f"become {tool} bash -c {sh_quote(command)}")


def sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def write_file(tool: str, relative: str, content: str, mode: str = "0644") -> None:
    """Writes a file into the tool's home as the tool (from the web-grid node)."""
    node = cluster_host(WEBGRID)
    home = f"/data/project/{tool}"
    directory = os.path.dirname(f"{home}/{relative}")
    node.run(f"runuser -u tools.{tool} -- mkdir -p {directory}")
    # printf '%s' prints its argument as it is: only single quotes need care.
    escaped = content.replace("'", "'\\''")
    written = node.run(f"printf '%s' '{escaped}' | runuser -u tools.{tool} -- tee {home}/{relative} >/dev/null "
                       f"&& chmod {mode} {home}/{relative}")
    assert written.rc == 0, written.stderr


@pytest.fixture(scope="module")
def php_tool():
    """alicetools serves public_html/index.php, started by alice over SSH as the help page says."""
    write_file(TOOL, "public_html/index.php", INDEX_PHP)
    write_file(TOOL, "public_html/big.txt", "Tool Labs " * 500)
    started = as_tool(TOOL, "webservice start")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "Your webservice is running" in started.stdout
    wait_for(lambda: get(f"/{TOOL}/")[0] == 200, timeout=15)
    yield TOOL
    as_tool(TOOL, "webservice stop")


def test_a_php_page_is_served_through_the_proxy_over_http_and_https(php_tool):
    for https, published in ((False, True), (True, True), (False, False), (True, False)):
        status, _, body = get(f"/{php_tool}/?x=1", https=https, published=published)
        text = body.decode()
        assert status == 200, text
        assert "php says 42" in text
        assert f"user=tools.{php_tool}" in text
        assert f"proto={'https' if https else 'http'}" in text
        assert f"original=/{php_tool}/?x=1" in text
    status = as_tool(php_tool, "webservice status")
    assert status.returncode == 0 and "Your webservice is running" in status.stdout
    assert "web: lighttpd" in as_tool(php_tool, "cat ~/service.manifest").stdout
    again = as_tool(php_tool, "webservice start")
    assert again.returncode == 1 and "Your job is already running" in again.stdout


def test_the_proxy_redirects_compresses_and_takes_large_bodies(php_tool):
    status, headers, _ = get(f"/{php_tool}?a=b")
    assert status == 301 and headers["Location"].endswith(f"/{php_tool}/?a=b")
    status, headers, _ = get(f"/{php_tool}/big.txt", headers={"Accept-Encoding": "gzip"})
    assert status == 200 and headers.get("Content-Encoding") == "gzip"
    body = b"x" * (20 * 1024 * 1024)
    status, _, answer = get(f"/{php_tool}/index.php", method="POST", body=body,
                            headers={"Content-Type": "application/octet-stream"})
    assert status == 200, answer[:300]
    assert b"body=20971520" in answer


def test_paths_with_dot_segments_or_encoded_tricks_cannot_reach_another_tools_files(php_tool, make_tool):
    other = make_tool(maintainers="bob")
    node = cluster_host(WEBGRID)
    node.run(f"runuser -u tools.{other} -- mkdir -p /data/project/{other}/public_html")
    node.run(f"echo SECRET-{other} | runuser -u tools.{other} -- tee /data/project/{other}/public_html/secret.txt")
    tricks = [
        f"/{php_tool}/../{other}/secret.txt",
        f"/{php_tool}/%2e%2e/{other}/secret.txt",
        f"/{php_tool}/..%2f{other}/secret.txt",
        f"/{php_tool}/%2E%2E%2F{other}%2Fsecret.txt",
        f"/{php_tool}//../{other}/secret.txt",
        f"/{php_tool}/index.php/../../{other}/secret.txt",
        f"/{php_tool}/%252e%252e/{other}/secret.txt",
        f"/{php_tool}/....//{other}/secret.txt",
        f"/{php_tool}/..\\{other}/secret.txt",
        f"/{php_tool}/%5c..%5c{other}/secret.txt",
    ]
    for path in tricks:
        status, _, body = get(path)
        assert f"SECRET-{other}".encode() not in body, path
        assert status in (400, 403, 404), (path, status)


def test_killing_the_web_server_brings_it_back_with_the_503_page_meanwhile(php_tool):
    node = cluster_host(WEBGRID)
    killed = node.run(f"pkill -9 -u tools.{php_tool} -x lighttpd")
    assert killed.rc == 0, "no lighttpd of the tool was running"
    seen = set()

    def serving():
        status = get(f"/{php_tool}/")[0]
        seen.add(status)
        return status == 200

    took = wait_for(serving, timeout=20, interval=0.1)
    assert seen <= {200, 503}, seen
    print(f"web server back {took:.1f} s after kill -9 (statuses seen: {sorted(seen)})")
    assert "exited with code -9; restarting" in as_tool(php_tool, "cat ~/service.log").stdout


def test_a_proxy_that_lost_its_routes_gets_them_back_from_the_agents(php_tool):
    proxy = cluster_host("tlm-nfs")
    proxy.check_output("redis-cli -s /run/redis-toollabs-proxy/redis-server.sock flushall")
    time.sleep(1.5)  # the workers' route cache
    assert get(f"/{php_tool}/")[0] == 503
    took = wait_for(lambda: get(f"/{php_tool}/")[0] == 200, timeout=30, interval=0.5)
    print(f"routes back {took:.1f} s after the route store was emptied")


def test_stop_gives_the_no_webservice_page_and_status_tells_the_truth(php_tool):
    stopped = as_tool(php_tool, "webservice stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    status, headers, body = get(f"/{php_tool}/")
    assert status == 503
    assert b"No webservice" in body and php_tool.encode() in body
    state = as_tool(php_tool, "webservice status")
    assert state.returncode == 1 and "Your webservice is not running" in state.stdout
    again = as_tool(php_tool, "webservice stop")
    assert again.returncode == 1 and "Your webservice is not running" in again.stdout
    assert "web:" not in as_tool(php_tool, "cat ~/service.manifest").stdout
    restarted = as_tool(php_tool, "webservice restart")
    assert restarted.returncode == 0, restarted.stdout
    wait_for(lambda: get(f"/{php_tool}/")[0] == 200, timeout=15)


def test_bad_webservice_input_gets_a_clear_error():
    unknown = as_tool(TOOL, "webservice nodejs9 start")
    assert unknown.returncode == 1 and "unknown webservice type 'nodejs9'" in unknown.stderr
    no_action = as_tool(TOOL, "webservice lighttpd")
    assert no_action.returncode == 1 and "start, stop, restart or status" in no_action.stderr
    bad_memory = as_tool(TOOL, "webservice -mem 3x start")
    assert bad_memory.returncode == 1 and "invalid memory value '3x'" in bad_memory.stderr
    not_a_tool = ssh_as("alice", "webservice status")
    assert not_a_tool.returncode == 1 and "become TOOL" in not_a_tool.stderr


def test_a_uwsgi_python_app_and_a_generic_server_with_websocket(make_tool):
    tool = make_tool()
    missing = as_tool(tool, "webservice uwsgi-python start")
    assert missing.returncode == 1 and "www/python/src/app.py is missing" in missing.stderr
    write_file(tool, "www/python/src/app.py",
               "def app(environ, start_response):\n"
               "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
               "    return [('wsgi ' + environ['SCRIPT_NAME'] + '|' + environ['PATH_INFO']).encode()]\n")
    started = as_tool(tool, "webservice uwsgi-python start")
    assert started.returncode == 0, started.stdout + started.stderr
    wait_for(lambda: get(f"/{tool}/hello")[0] == 200, timeout=20)
    assert get(f"/{tool}/hello")[2] == f"wsgi /{tool}|/hello".encode()
    assert "uwsgi-python" in as_tool(tool, "webservice status").stdout

    write_file(tool, "server.py", GENERIC_SERVER, mode="0755")
    switched = as_tool(tool, "webservice stop && webservice generic start ~/server.py")
    assert switched.returncode == 0, switched.stdout + switched.stderr
    wait_for(lambda: get(f"/{tool}/x")[0] == 200, timeout=20)
    assert get(f"/{tool}/x")[2] == f"generic /{tool}/x proto=http".encode()
    with socket.create_connection((PROXY, 80), timeout=10) as conn:
        conn.sendall(f"GET /{tool}/ws HTTP/1.1\r\nHost: {PROXY}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode())
        head = conn.recv(4096)
        assert head.startswith(b"HTTP/1.1 101"), head
        conn.sendall(b"ping")
        assert conn.recv(4096) == b"echo:ping"
    as_tool(tool, "webservice stop")


def test_a_tool_cannot_register_or_remove_another_tools_route(php_tool, make_tool):
    intruder = make_tool()
    node = cluster_host(WEBGRID)
    # The port the victim's lighttpd listens on, from its route in the proxy's Redis.
    route = cluster_host("tlm-nfs").check_output(
        f"redis-cli -s /run/redis-toollabs-proxy/redis-server.sock hget prefix:{php_tool} '.*'")
    port = int(route.rsplit(":", 1)[1])
    script = (
        "import json, socket\n"
        "s = socket.socket(socket.AF_UNIX); s.connect('/run/toollabs-webagent/agent.sock'); f = s.makefile('rwb')\n"
        f"for m in [{{'op': 'register', 'port': {port}, 'tool': '{php_tool}'}}, {{'op': 'register', 'port': {port}}},"
        f" {{'op': 'unregister', 'tool': '{php_tool}'}}]:\n"
        "    f.write((json.dumps(m) + '\\n').encode()); f.flush(); print(f.readline().decode().strip())\n"
    )
    answers = node.run(f"runuser -u tools.{intruder} -- python3 -c {sh_quote(script)}")
    lines = answers.stdout.splitlines()
    assert len(lines) == 3, answers.stdout + answers.stderr
    assert all('"ok": false' in line for line in lines), lines
    assert f"not {php_tool}" in lines[0] and f"listens on port {port}" in lines[1]
    # Straight to the route API: no token, a wrong token, and the node's token is root's.
    api = f"https://{PROXY}:8444/v1/routes/{php_tool}"
    no_token = node.run(f"runuser -u tools.{intruder} -- curl -s --cacert /etc/ssl/toollabs/ca.crt -X DELETE {api}")
    assert "token is required" in no_token.stdout
    bad_token = node.run(f"runuser -u tools.{intruder} -- curl -s --cacert /etc/ssl/toollabs/ca.crt -X DELETE "
                         f"-H 'Authorization: Bearer guess' {api}")
    assert "unknown token" in bad_token.stdout
    assert node.run(f"runuser -u tools.{intruder} -- cat /etc/toollabs/webagent.token").rc != 0
    # From a host that is not a web-grid node the API is not even reachable.
    bastion = cluster_host("tlm-bastion")
    assert "403" in bastion.run(f"curl -sk -o /dev/null -w '%{{http_code}}' -X DELETE {api}").stdout
    assert get(f"/{php_tool}/")[0] == 200


def test_the_tools_list_page_in_headless_chromium(php_tool):
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is not installed (tests/run-all installs it)"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "tools-list.png"
    shot.unlink(missing_ok=True)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={ARTIFACTS / 'chromium-profile'}", "--window-size=1200,800"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", f"http://{PROXY}/"], capture_output=True, text=True,
                         timeout=120)
    assert f'<a href="/{php_tool}/">{php_tool}</a>' in dom.stdout, dom.stdout[-2000:] + dom.stderr[-2000:]
    assert "alice" in dom.stdout and "Test tool maintained by alice." in dom.stdout
    subprocess.run([chromium, *flags, f"--screenshot={shot}", f"http://{PROXY}/"], capture_output=True,
                   timeout=120, check=False)
    assert shot.is_file() and shot.stat().st_size > 5000, "no screenshot"
    print(f"screenshot of the tools list page: {shot}")
    # The page follows the routes without a playbook run: stopped -> no link.
    as_tool(php_tool, "webservice stop")
    time.sleep(2.5)
    dom = subprocess.run([chromium, *flags, "--dump-dom", f"http://{PROXY}/"], capture_output=True, text=True,
                         timeout=120)
    assert f'id="tool-{php_tool}" class="noweb"' in dom.stdout
    as_tool(php_tool, "webservice start")
