# Two entry points: `make run` and `make test`; both set up on first use.
SHELL := /bin/bash
VENV := .venv
# Root is needed for BPF and apt; go through sudo only where we are not root.
SUDO := $(shell [ "$$(id -u)" -ne 0 ] && command -v sudo)

.PHONY: run setup install uninstall test lint bench clean

run: setup
	$(SUDO) $(VENV)/bin/bpftop $(ARGS)

setup:
	$(SUDO) bash scripts/setup.sh

# `sudo bpftop` from anywhere, and the --serve systemd unit (disabled).
install: setup
	$(SUDO) bash scripts/install.sh install

uninstall:
	$(SUDO) bash scripts/install.sh uninstall

lint: setup
	$(VENV)/bin/ruff check bpftop tests bench
	$(VENV)/bin/ruff format --check bpftop tests bench
	$(VENV)/bin/mypy bpftop

test: lint
	$(SUDO) env BPFTOP_REQUIRE_BPF=$${BPFTOP_REQUIRE_BPF:-0} $(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(SUDO) $(VENV)/bin/python bench/startup.py

soak: setup  # an hour by default: SOAK_MINUTES=N make soak
	$(SUDO) env SOAK_MINUTES=$${SOAK_MINUTES:-60} $(VENV)/bin/python bench/soak.py

clean:
	rm -rf $(VENV) build dist *.egg-info
