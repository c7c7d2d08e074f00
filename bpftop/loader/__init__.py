"""Compiling and loading BPF programs: bcc in child processes, the compile cache, libbpf
calls bcc does not wrap, perf-event uprobes, fexit on other programs, run-time
statistics. Used by the probes and the pre-flight only.
"""
