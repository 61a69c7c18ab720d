# Tool Labs: the two commands are `make lab` and `make test` (see README.md).
SHELL := /bin/bash
VENV := .venv
# molecule and ansible-lint run ansible-config: the venv's bin/ must be on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help require-root lab lab-down lab-destroy lab-status test lint unit cluster bench bench-accounts bench-grid bench-web venv clean

help:
	@echo "make lab          stand up the whole cluster as containers on this machine (root)"
	@echo "make lab-status   show the lab's hosts and how to reach them"
	@echo "make lab-down     stop the lab (state and data kept)"
	@echo "make lab-destroy  remove the lab's containers, network and data volumes"
	@echo "make test         lint, unit tests and cluster tests (molecule), timed"
	@echo "make bench        bench/converge: image, containers, cold and warm converge"
	@echo "make bench-accounts  bench/accounts: 200 tools, re-run, visibility (on the running lab)"
	@echo "make bench-grid   bench/grid: job latency, 200 jobs, adding a node, a dead node (on the running lab)"
	@echo "make bench-web    bench/web: proxy vs direct throughput and latency, webservice start to first 200 (on the running lab)"

# The venv is rebuilt when the pinned requirements change.
venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt constraints.txt
	@command -v python3 >/dev/null || { echo "python3 is needed (Debian: apt-get install python3 python3-venv)"; exit 1; }
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	touch $@

# Checked before anything else, so that a non-root user learns what is needed
# instead of meeting a permission error half-way.
require-root:
	@[ "$$(id -u)" -eq 0 ] || { echo "make: this target must run as root: it installs Debian's Docker engine and debootstrap, starts dockerd and builds the lab's base image. Run: sudo make $(MAKECMDGOALS)" >&2; exit 1; }

lab: require-root venv
	lab/up

lab-down: require-root
	lab/down

lab-destroy: require-root
	lab/destroy

lab-status: venv
	lab/status

test: venv
	tests/run-all

lint: venv
	tests/run-all lint

unit: venv
	tests/run-all unit

cluster: venv
	tests/run-all cluster

bench: require-root venv
	bench/converge

bench-accounts: require-root venv
	bench/accounts

bench-grid: require-root venv
	bench/grid

bench-web: require-root venv
	bench/web

clean:
	rm -rf $(VENV) .cache .pytest_cache
