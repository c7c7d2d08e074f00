# Two entry points: `make run` and `make test`; both set up on first use.
SHELL := /bin/bash
VENV := .venv
# Root is needed for BPF and apt; go through sudo only where we are not root.
SUDO := $(shell [ "$$(id -u)" -ne 0 ] && command -v sudo)

.PHONY: run setup venv install uninstall test test-kernels smoke-kernels lint format bench bench-terminal bench-uptime clean

run: setup
	$(SUDO) $(VENV)/bin/bpftop $(ARGS)

setup:
	$(SUDO) bash scripts/setup.sh

# `sudo bpftop` from anywhere, and the --serve systemd unit (disabled).
install: setup
	$(SUDO) bash scripts/install.sh install

uninstall:
	$(SUDO) bash scripts/install.sh uninstall

# Lint and format need neither root nor apt: the venv alone (scripts/venv.sh).
venv:
	bash scripts/venv.sh

lint: venv
	$(VENV)/bin/ruff check bpftop tests bench
	$(VENV)/bin/ruff format --check bpftop tests bench
	$(VENV)/bin/mypy bpftop tests

format: venv
	$(VENV)/bin/ruff check --fix bpftop tests bench
	$(VENV)/bin/ruff format bpftop tests bench

test: setup lint
	$(SUDO) env BPFTOP_REQUIRE_BPF=$${BPFTOP_REQUIRE_BPF:-0} $(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

# The kernel matrix (README, "Kernels"): Debian's own kernels in VMs (scripts/kernel-vm).
# The tests that prove each probe there: exact counts per pane, the fallback steps,
# toggling, and nothing left after SIGKILL. KERNELS="6.1" narrows it.
# Longest first: scripts/test-kernels starts the next as a VM ends.
KERNELS ?= 5.10 newest 6.1 6.12
KERNEL_TESTS ?= tests/test_smoke.py tests/test_exec_probe.py tests/test_connect_probe.py \
	tests/test_disk_probe.py tests/test_denial_probe.py tests/test_xdp_probe.py tests/test_cpu_probe.py \
	tests/test_filters_kernel.py tests/test_failure_groups.py \
	tests/test_pid_probes.py::test_syscall_counts_are_exact_under_each_step \
	tests/test_serve.py::test_sigkill_leaves_nothing_attached \
	tests/test_cli.py::test_duration_exits_zero_and_sigkill_leaves_nothing \
	tests/test_app_pilot.py::test_probe_key_detaches_its_programs \
	tests/test_app_pilot.py::test_f_turns_failed_exec_capture_off_and_back_on
# Four emulated kernels on two CPUs in under 30 minutes (scripts/test-kernels runs as many
# VMs at once as there are CPUs): every test on 5.10 (the helper
# fallbacks) and newest (the helpers), and on 6.1 and 6.12 only what no other kernel
# runs: the smoke test (every probe, exact counts), and the steps of theirs it lacks:
# 6.1's denials through kprobe:cap_capable with fexit on both LSM hooks, and the disk
# steps (block_bio_queue on 6.1 as on 5.10, block_io_start on 6.12 as on newest).
LIGHT_KERNELS ?= 6.1 6.12
LIGHT_TESTS ?= tests/test_smoke.py tests/test_disk_probe.py tests/test_denial_probe.py
KERNEL_PYTEST := env BPFTOP_REQUIRE_BPF=1 .venv/bin/python -m pytest -q -p no:cacheprovider

test-kernels: setup  # a VM per CPU at a time (scripts/test-kernels)
	$(SUDO) env KERNELS="$(KERNELS)" KERNEL_TESTS="$(KERNEL_TESTS)" LIGHT_KERNELS="$(LIGHT_KERNELS)" \
		LIGHT_TESTS="$(LIGHT_TESTS)" scripts/test-kernels $(KERNEL_PYTEST) --durations=5 -k "not flood and not fallbacks"

# What CI runs in each kernel: the kernel check and one headless run with exact counts.
# Emulated guests used to stall or end mid-command: a guest kernel panic, "Oops: int3"
# in bpf_trace_run2 (a vCPU running a tracepoint while the kernel patched it) under
# multi-threaded TCG; scripts/kernel-vm now runs both vCPUs on one host thread. Should
# a VM still end without finishing (exit 125), it is cut at 15 minutes and run again,
# up to twice; a failing test fails at once.
smoke-kernels: setup
	set -e; for k in $(KERNELS); do echo "== kernel $$k"; \
		run() { $(SUDO) env KERNEL_VM_TIMEOUT=900 scripts/kernel-vm $$k -- sh -c '.venv/bin/bpftop --check && $(KERNEL_PYTEST) -k "not fallbacks" tests/test_smoke.py'; }; \
		again() { rc=$$?; [ $$rc -eq 125 ] || exit $$rc; \
			echo "== kernel $$k: the VM ended before the command did; again"; }; \
		run || { again; run; } || { again; run; }; done

bench: setup
	$(SUDO) $(VENV)/bin/python bench/startup.py
	$(SUDO) $(VENV)/bin/python bench/terminal.py

bench-uptime: setup  # the TUI's CPU and RSS beside headless's, minute by minute (10 min)
	$(SUDO) $(VENV)/bin/python bench/uptime.py $(MINUTES)

bench-terminal: setup  # bytes over the link next to htop, idle and under a storm
	$(SUDO) $(VENV)/bin/python bench/terminal.py

soak: setup  # an hour by default: SOAK_MINUTES=N make soak
	$(SUDO) env SOAK_MINUTES=$${SOAK_MINUTES:-60} $(VENV)/bin/python bench/soak.py

clean:
	rm -rf $(VENV) build dist *.egg-info
