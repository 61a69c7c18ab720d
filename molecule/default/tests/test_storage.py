"""Shared storage: one tree seen by every host, served over NFSv4 by the storage server."""

from __future__ import annotations

import uuid

from conftest import cluster_host

testinfra_hosts = ["tlm-bastion"]

NFS = "nfs://tools-nfs{path}?version=4"


def test_a_file_written_on_one_host_is_read_on_another(host):
    token = uuid.uuid4().hex
    path = f"/data/project/shared-{token}.txt"
    cluster_host("tlm-exec").check_output(f"echo {token} > {path}")
    try:
        assert host.file(path).content_string.strip() == token
        assert cluster_host("tlm-nfs").file(path).content_string.strip() == token
    finally:
        cluster_host("tlm-exec").run(f"rm -f {path}")


def test_homes_are_private_and_shared(host):
    home = host.file("/home/alice")
    assert home.is_directory and home.uid == 2001 and home.mode == 0o700
    assert cluster_host("tlm-exec").file("/home/alice/.profile").uid == 2001


def test_storage_server_answers_nfsv4(host):
    token = uuid.uuid4().hex
    cluster_host("tlm-nfs").check_output(f"echo {token} > /data/project/nfs-{token}.txt")
    try:
        listing = host.check_output("nfs-ls " + NFS.format(path="/data/project"))
        assert f"nfs-{token}.txt" in listing
        content = host.check_output("nfs-cat " + NFS.format(path=f"/data/project/nfs-{token}.txt"))
        assert content.strip() == token
    finally:
        cluster_host("tlm-nfs").run(f"rm -f /data/project/nfs-{token}.txt")


def test_dumps_export_is_read_only(host):
    host.check_output("echo x > /tmp/nfs-probe")
    result = host.run("nfs-cp /tmp/nfs-probe " + NFS.format(path="/public/dumps/nfs-probe"))
    assert result.rc != 0
    assert "NFS4ERR_ROFS" in result.stdout + result.stderr
    assert not cluster_host("tlm-nfs").file("/public/dumps/nfs-probe").exists


def test_scratch_export_is_writable_over_nfs(host):
    token = uuid.uuid4().hex
    host.check_output(f"echo {token} > /tmp/nfs-{token}")
    try:
        host.check_output(f"nfs-cp /tmp/nfs-{token} " + NFS.format(path=f"/data/scratch/nfs-{token}"))
        assert cluster_host("tlm-nfs").file(f"/data/scratch/nfs-{token}").content_string.strip() == token
    finally:
        cluster_host("tlm-nfs").run(f"rm -f /data/scratch/nfs-{token}")


def test_clients_see_dumps_read_only(host):
    assert host.run("touch /public/dumps/local-probe").rc != 0
