"""A recorded session (records as the engine emits them) for rendering tests.

Fakes are for rendering only: nothing here claims a probe works.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from concurrent.futures import Future

from bpftop.core.commands import Command, Enable
from bpftop.core.histogram import bucket_of, buckets_from_counts, summarize
from bpftop.core.records import (
    ConnectRecord,
    CpuRecord,
    DenialGroupRecord,
    DenialRecord,
    DiskProcRecord,
    DiskRecord,
    ExecRecord,
    ProbeCounts,
    ProbeStatus,
    Record,
    RunqRecord,
    SilentCapRecord,
    SyscallRow,
    SyscallsRecord,
    SystemSample,
    UprobeRecord,
    XdpRecord,
)
from bpftop.host.process_info import ProcessInfo
from bpftop.screens.sources import done

T0 = 1_795_000_000.0  # a fixed wall clock: 2026-11-18 ... UTC
SKIPPED = (("fexit:tcp_v4_connect", "unavailable, lockdown=integrity"),)


def recorded_session() -> list[Record]:
    records: list[Record] = [
        ProbeStatus(T0, "exec", "attached", via="tracepoint:syscalls:sys_enter_execve"),
        ProbeStatus(T0, "connect", "attached", via="tracepoint:sock:inet_sock_set_state",
                    skipped=SKIPPED),
        SystemSample(T0 + 9, "web-01", "6.18.44", 93784.0, (2.31, 1.87, 1.02), 37.5, 61.2,
                     1.4, 92.0),
    ]  # fmt: skip
    commands = [
        (("/usr/bin/curl", "-sf", "http://127.0.0.1:8080/healthz"), 0, "curl"),
        (("/bin/sh", "-c", "pg_isready -h db01 -p 5432 -t 2"), 0, "sh"),
        (("/usr/local/bin/backup-agent", "--config", "/etc/backup.yml"), -2, "cron"),
        (("/usr/bin/git", "fetch", "--prune", "origin"), 0, "git"),
        (("/opt/app/bin/worker", "--queue", "emails", "--concurrency", "8"), -13, "supervisord"),
    ]
    for i in range(14):
        argv, ret, comm = commands[i % len(commands)]
        records.append(
            ExecRecord(T0 + i * 0.6, 4100 + i, 880 + i % 3, 1000 if i % 4 else 0, comm, argv,
                       ret, argv[0])
        )  # fmt: skip
    peers = [
        ("10.1.4.20", 5432),
        ("93.184.216.34", 443),
        ("2001:db8::7", 6379),
        ("10.1.4.21", 9200),
    ]
    results = ["established", "established", "refused", "established", "timeout", "reset"]
    for i in range(10):
        addr, port = peers[i % len(peers)]
        family = 6 if ":" in addr else 4
        local = "2001:db8::2" if family == 6 else "10.1.4.2"
        result = results[i % len(results)]
        state = (
            None
            if result == "established"
            else ("ESTABLISHED" if result == "reset" else "SYN_SENT")
        )
        records.append(
            ConnectRecord(T0 + i * 0.8, 7000 + i, "api-server", 1000, "out", family, local,
                          40000 + i, addr, port, 310.0 + 1700.0 * i, result, state)
        )  # fmt: skip
    records.append(
        ConnectRecord(T0 + 8.5, None, None, None, "in", 4, "10.1.4.2", 443, "10.9.0.77", 51234,
                      None, "established")
    )  # fmt: skip
    records.extend(recorded_disk())
    records.extend(recorded_denials())
    records.extend(recorded_xdp())
    records.extend(recorded_cpu())
    records.append(
        ProbeCounts(T0 + 9, "exec", 1.0, {"ok": 36, "failed": 6, "unmatched": 0}, lost=0,
                    bpf_ns=210_000)
    )  # fmt: skip
    records.append(
        ProbeCounts(T0 + 9, "connect", 1.0, {"out_established": 48, "out_refused": 2,
                    "out_timeout": 1, "out_aborted": 0, "in_established": 120, "resets": 1},
                    lost=3, bpf_ns=95_000)
    )  # fmt: skip
    return records


def recorded_disk() -> list[Record]:
    """30 one-second intervals: a database on nvme0n1 with a slow tail that grows,
    backups reading vda through the page cache, an idle loop device."""
    records: list[Record] = [
        ProbeStatus(T0, "disk", "attached", via="tracepoint:block:block_io_start"),
    ]
    for i in range(30):
        ts = T0 - 20 + i
        tail = 1 + (i % 7 == 6) * 14 + (i >= 27) * 30  # spikes, then a bad last few seconds
        nvme_hist = buckets_from_counts(
            {bucket_of(90): 800, bucket_of(150): 450, bucket_of(700): 40, bucket_of(3_000): 9,
             bucket_of(12_000): tail, bucket_of(40_000): tail // 3}
        )  # fmt: skip
        nvme_max = 44_000.0 if tail > 1 else 12_500.0
        records.append(
            DiskRecord(ts, "nvme0n1", 1.0, 610, 690 + tail, 610 * 8192, 690 * 16384,
                       flushes=12, lat_us=summarize(nvme_hist, nvme_max), hist=nvme_hist,
                       queue_us=18.0 + tail, device_us=140.0)
        )  # fmt: skip
        vda_hist = buckets_from_counts({bucket_of(400): 60, bucket_of(1_800): 20})
        records.append(
            DiskRecord(ts, "vda", 1.0, 80, 0, 80 * 131072, 0, lat_us=summarize(vda_hist, 2_010.0),
                       hist=vda_hist, queue_us=3.0, device_us=700.0)
        )  # fmt: skip
        records.append(DiskRecord(ts, "loop0", 1.0, 0, 0, 0, 0))
        for pid, comm, dev, r, w, rb, wb, lat, slow in (
            (2311, "postgres", "nvme0n1", 580, 400, 580 * 8192, 400 * 8192, 210.0, tail),
            (2318, "postgres: walw", "nvme0n1", 0, 290, 0, 290 * 32768, 95.0, 0),
            (8812, "rsync", "vda", 80, 0, 80 * 131072, 0, 780.0, 0),
            (None, None, "nvme0n1", 30, 0, 30 * 8192, 0, None, 0),
        ):
            records.append(DiskProcRecord(ts, pid, comm, dev, 1.0, r, w, rb, wb, lat, slow))
        records.append(
            ProbeCounts(ts, "disk", 1.0, {"ios": 1390 + tail, "untimed": 30, "merged": 4,
                        "requeued": 0, "table_full": 0}, lost=0, bpf_ns=120_000)
        )  # fmt: skip
    return records


def recorded_denials() -> list[Record]:
    """A crash-looping worker hammering a key it may not read, plus a few one-offs."""
    records: list[Record] = [
        ProbeStatus(T0, "denials", "attached",
                    via="raw_tracepoint:sys_exit + tracepoint:capability:cap_capable",
                    skipped=(("lsm: fexit on security_* hooks", "unavailable, lockdown=integrity"),
                             ("selinux: avc:selinux_audited", "SELinux off")))
    ]  # fmt: skip
    dac = "CAP_DAC_OVERRIDE,CAP_DAC_READ_SEARCH"
    one_offs = [
        (3, 2210, "nginx", 0, "bind", "EACCES", None, "0.0.0.0:80", "CAP_NET_BIND_SERVICE"),
        (5, 9120, "backup-agent", 0, "unlinkat", "EPERM", "/var/log/audit/audit.log",
         None, "CAP_LINUX_IMMUTABLE"),
        (7, 7011, "curl", 1000, "connect", "EACCES", None, "10.1.4.20:5432", None),
    ]  # fmt: skip
    for at, pid, comm, uid, syscall, err, path, addr, cap in one_offs:
        records.append(
            DenialRecord(T0 + at, pid, comm, uid, syscall, err, path, addr,
                         "capability" if cap else "syscall", cap)
        )  # fmt: skip
    for i in range(4):
        records.append(
            DenialRecord(T0 + 8 + i * 0.2, 6100 + i, "app-worker", 1001, "openat", "EACCES",
                         "/etc/app/secret.key", None, "capability", dac)
        )  # fmt: skip
    records.append(
        ProbeCounts(T0 + 9, "denials", 1.0, {"denials": 48_003, "sampled_out": 46_000,
                    "cap_refused": 48_040, "cap_named": 48_003, "table_full": 0},
                    lost=0, bpf_ns=3_900_000)
    )  # fmt: skip
    for comm, uid, syscall, err, count in (
        ("app-worker", 1001, "openat", "EACCES", 48_000),
        ("nginx", 0, "bind", "EACCES", 1),
        ("backup-agent", 0, "unlinkat", "EPERM", 1),
        ("curl", 1000, "connect", "EACCES", 1),
    ):
        records.append(DenialGroupRecord(T0 + 9, 1.0, comm, uid, syscall, err, count))
    # The 37 silent checks of the counters above: who asked, in which syscall, for what.
    for comm, uid, syscall, cap, count in (
        ("python3", 1000, "mmap", "CAP_SYS_ADMIN", 30),
        ("chronyd", 101, "adjtimex", "CAP_SYS_TIME", 7),
    ):
        records.append(SilentCapRecord(T0 + 9, 1.0, comm, uid, syscall, cap, count))
    return records


def recorded_xdp() -> list[Record]:
    """A DDoS filter (someone else's) dropping on eth0, a container veth, lo."""
    records: list[Record] = [
        ProbeStatus(T0, "xdp", "attached",
                    via="netlink + ethtool stats + tracepoint:xdp:xdp_exception"),
    ]  # fmt: skip
    filter_prog = {"id": 412, "name": "ddos_filter", "mode": "driver", "owner": "foreign"}
    own_prog = {"id": 977, "name": "bpftop_xdp", "mode": "driver", "owner": "bpftop"}
    for i in range(20):
        ts = T0 - 10 + i
        drops = 1200 + 900 * (i % 5 == 4) + 30 * i
        actions = {"pass": None, "drop": drops, "tx": 0, "redirect": 0, "aborted": None}
        records += [
            XdpRecord(ts, "eth0", 2, 1.0, "UP", 48_200.0, 31_900.0, filter_prog, actions,
                      "driver"),
            XdpRecord(ts, "eth0", 2, 1.0, "UP", 48_200.0, 31_900.0, filter_prog,
                      {"pass": 0, "drop": 0, "tx": 0, "redirect": 0, "aborted": 2 * (i > 15)},
                      "tracepoint"),
            XdpRecord(ts, "veth3a9f", 7, 1.0, "UP", 310.0, 295.0, own_prog,
                      {"pass": 280, "drop": 30, "tx": 0, "redirect": 0, "aborted": 0},
                      "bpftop", {"tcp": 250, "udp": 60, "icmp": 0, "other_ip": 0, "not_ip": 0},
                      [{"rule": "udp:9999", "drops": 30}],
                      [{"src": "10.88.0.5", "packets": 200}]),
            XdpRecord(ts, "lo", 1, 1.0, "UNKNOWN", 12.0, 12.0),
        ]  # fmt: skip
    return records


DRILL_PID = 880  # the parent of the recorded execs


def recorded_process() -> ProcessInfo:
    return ProcessInfo(
        pid=DRILL_PID,
        name="supervisord",
        cmdline="/usr/bin/python3 /usr/bin/supervisord -n -c /etc/supervisord.conf",
        user="root",
        parents=((1, "systemd"),),
        started=T0 - 86_400,
        cpu_percent=3.5,
        rss_bytes=48_300_000,
        threads=4,
        cgroup="/system.slice/supervisor.service",
        container=None,
        files=("0 /dev/null", "1 pipe:[31337]", "2 pipe:[31337]",
               "3 /var/log/supervisor/supervisord.log", "4 /etc/supervisord.conf"),
        sockets=("unix /run/supervisor.sock LISTEN", "tcp 127.0.0.1:9001 LISTEN"),
        fds=7,
    )  # fmt: skip


def recorded_drilldown() -> list[Record]:
    """The per-pid probes' records for DRILL_PID, as the engine emits them."""
    row = SyscallRow
    return [
        ProbeStatus(T0 + 9, "syscalls", "attached",
                    via="raw_tracepoint:sys_enter + sys_exit, pid compiled in"),
        ProbeStatus(T0 + 9, "uprobes", "attached",
                    via="uprobe + uretprobe (perf_event uprobe PMU, pid only)"),
        SyscallsRecord(T0 + 10, DRILL_PID, 1.0, (
            row("epoll_wait", 212, {}, 991_000.0),
            row("wait4", 14, {"ECHILD": 9}, 2_310.5),
            row("clone3", 14, {}, 1_840.2),
            row("read", 388, {"EAGAIN": 61}, 402.7),
            row("write", 97, {}, 230.1),
            row("openat", 31, {"ENOENT": 4, "EACCES": 1}, 61.0),
        )),
        UprobeRecord(T0 + 10, DRILL_PID, "libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6",
                     "malloc", 1.0, 5120, {"p50": 0.2, "p99": 1.6, "max_bucket": 2.048},
                     ((0.128, 0.256, 4000), (0.256, 0.512, 1000), (1.024, 2.048, 120)),
                     cost_pct=1.5),  # 5,120 calls/s x 2 traps x 1.5 us
        UprobeRecord(T0 + 10, DRILL_PID, "libssl.so.3", "/usr/lib/x86_64-linux-gnu/libssl.so.3",
                     "SSL_read", 1.0, 42, {"p50": 35.0, "p99": 900.0, "max_bucket": 1048.576},
                     ((16.384, 32.768, 20), (32.768, 65.536, 20), (524.288, 1048.576, 2)),
                     cost_pct=0.013),
    ]  # fmt: skip


class RecordedSource:
    """Plays a recording into the app at once; toggles answer like the engine would."""

    def __init__(self, sink: Callable[[Record], None], records: list[Record]) -> None:
        self._sink = sink
        self.commands: list[Command] = []
        for record in records:
            sink(record)

    def submit(self, command: Command) -> Future[None]:
        """Probe toggles answer with a status; everything is kept in `commands`."""
        self.commands.append(command)
        if isinstance(command, Enable):
            via = {"exec": "tracepoint:syscalls:sys_enter_execve"}.get(command.probe)
            state = "attached" if command.on else "detached"
            self._sink(ProbeStatus(T0 + 10, command.probe, state, via=via))
        return done()

    def stop(self) -> None:
        pass


DEMO_SECONDS = 120


def demo_session() -> list[Record]:
    """Two minutes of an invented web server's bad afternoon, for `bpftop --demo`
    (scripts/make_demo.py writes it) and the replay snapshots: health checks and
    cron jobs, a database that starts refusing at 0:50, an nvme latency spike at 1:20,
    a worker flooding EACCES from 1:30, and a DDoS filter dropping on eth0."""
    rng = random.Random(2026)
    start = T0 - DEMO_SECONDS
    out: list[Record] = [
        ProbeStatus(start, "exec", "attached", via="tracepoint:syscalls:sys_enter_execve"),
        ProbeStatus(start, "connect", "attached", via="tracepoint:sock:inet_sock_set_state",
                    skipped=SKIPPED),
        ProbeStatus(start, "disk", "attached", via="tracepoint:block:block_io_start"),
        ProbeStatus(start, "denials", "attached",
                    via="raw_tracepoint:sys_exit + tracepoint:capability:cap_capable"),
        ProbeStatus(start, "xdp", "attached",
                    via="netlink + ethtool stats + tracepoint:xdp:xdp_exception"),
    ]  # fmt: skip
    commands = [
        (("/usr/bin/curl", "-sf", "http://127.0.0.1:8080/healthz"), 0, "curl"),
        (("/bin/sh", "-c", "pg_isready -h db01 -p 5432 -t 2"), 0, "sh"),
        (("/usr/bin/git", "fetch", "--prune", "origin"), 0, "git"),
        (("/usr/sbin/logrotate", "/etc/logrotate.conf"), 0, "logrotate"),
    ]
    filter_prog = {"id": 412, "name": "ddos_filter", "mode": "driver", "owner": "foreign"}
    pid = 4100
    for second in range(DEMO_SECONDS):
        ts = start + second + 1
        db_down = 50 <= second < 75
        spike = 80 <= second < 86
        flood = second >= 90
        execs = failed = 0
        for _ in range(rng.randint(1, 4)):
            argv, ret, comm = commands[rng.randrange(len(commands))]
            pid += rng.randint(1, 9)
            out.append(ExecRecord(ts - rng.random(), pid, 880, 1000, comm, argv, ret, argv[0]))
            execs += 1
        if second % 15 == 7:
            argv = ("/usr/local/bin/backup-agent", "--config", "/etc/backup.yml")
            out.append(ExecRecord(ts - 0.5, pid + 1, 881, 0, "cron", argv, -2, argv[0]))
            execs, failed = execs + 1, failed + 1
        out.append(ProbeCounts(ts, "exec", 1.0, {"ok": execs - failed, "failed": failed,
                                                 "unmatched": 0}, bpf_ns=180_000))  # fmt: skip
        established = refused = 0
        for n in range(rng.randint(2, 5) + (8 if db_down else 0)):
            to_db = db_down and n >= 2
            peer, port = (
                ("10.1.4.20", 5432)
                if to_db
                else rng.choice([("10.1.4.20", 5432), ("93.184.216.34", 443), ("10.1.4.21", 9200)])
            )
            result = "refused" if to_db else "established"
            latency = None if to_db else round(rng.uniform(150, 2500), 1)
            out.append(ConnectRecord(ts - rng.random(), 7000 + n, "api-server", 1000, "out", 4,
                                     "10.1.4.2", 40000 + second * 10 + n, peer, port, latency,
                                     result, "SYN_SENT" if to_db else None))  # fmt: skip
            refused += to_db
            established += not to_db
        out.append(ProbeCounts(ts, "connect", 1.0, {"out_established": established,
                               "out_refused": refused, "out_timeout": 0, "out_aborted": 0,
                               "in_established": 40, "resets": 0}, bpf_ns=90_000))  # fmt: skip
        tail = 60 if spike else 1
        nvme_hist = buckets_from_counts(
            {bucket_of(90): 800, bucket_of(150): 450, bucket_of(700): 40,
             bucket_of(12_000): tail, bucket_of(40_000): tail // 2}
        )  # fmt: skip
        out.append(DiskRecord(ts, "nvme0n1", 1.0, 610, 690 + tail, 610 * 8192, 690 * 16384,
                              lat_us=summarize(nvme_hist, 45_000.0 if spike else 12_400.0),
                              hist=nvme_hist, queue_us=18.0 + tail, device_us=140.0))  # fmt: skip
        vda_hist = buckets_from_counts({bucket_of(400): 60, bucket_of(1_800): 20})
        out.append(DiskRecord(ts, "vda", 1.0, 80, 0, 80 * 131072, 0,
                              lat_us=summarize(vda_hist, 2_010.0), hist=vda_hist,
                              queue_us=3.0, device_us=700.0))  # fmt: skip
        for dpid, comm, dev, r, w, lat in (
            (2311, "postgres", "nvme0n1", 580, 400 + tail, 210.0 + tail * 40),
            (8812, "rsync", "vda", 80, 0, 780.0),
        ):
            out.append(DiskProcRecord(ts, dpid, comm, dev, 1.0, r, w, r * 8192, w * 8192, lat))
        out.append(ProbeCounts(ts, "disk", 1.0, {"ios": 1460 + tail, "untimed": 0, "merged": 4,
                               "requeued": 0, "table_full": 0}, bpf_ns=120_000))  # fmt: skip
        denials = 3000 if flood else (1 if second % 20 == 3 else 0)
        if denials:
            comm, uid, path = (
                ("app-worker", 1001, "/etc/app/secret.key")
                if flood
                else ("curl", 1000, "/root/.netrc")
            )
            for k in range(min(denials, 3)):
                out.append(DenialRecord(ts - 0.3 + k * 0.1, 6100 + k, comm, uid, "openat",
                                        "EACCES", path, None, "syscall", None))  # fmt: skip
            out.append(DenialGroupRecord(ts, 1.0, comm, uid, "openat", "EACCES", denials))
        out.append(ProbeCounts(ts, "denials", 1.0, {"denials": denials,
                               "sampled_out": max(denials - 3, 0), "cap_refused": 0,
                               "cap_named": 0, "table_full": 0}, bpf_ns=60_000))  # fmt: skip
        drops = 1200 + 40 * second
        out.append(XdpRecord(ts, "eth0", 2, 1.0, "UP", 48_200.0, 31_900.0, filter_prog,
                             {"pass": None, "drop": drops, "tx": 0, "redirect": 0,
                              "aborted": None}, "driver"))  # fmt: skip
        out.append(XdpRecord(ts, "lo", 1, 1.0, "UNKNOWN", 12.0, 12.0))
        load = 1.2 + (2.5 if flood else 0) + (1.5 if spike else 0)
        out.append(SystemSample(ts, "web-01", "6.18.44", 93_784.0 + second, (load, 1.4, 1.0),
                                30.0 + 25 * flood, 61.0, 1.2, 92.0))  # fmt: skip
    return out


def recorded_cpu() -> list[Record]:
    """A busy database, a storm of short-lived `cat`s, and a box whose run queue backs up."""
    records: list[Record] = [
        ProbeStatus(T0, "cpu", "attached",
                    via="perf_event:cpu-clock 99 Hz + tracepoint:sched (run queue)"),
    ]  # fmt: skip
    for i in range(10):
        ts = T0 + i
        p99 = 180.0 + 400.0 * i
        hist = buckets_from_counts(
            {bucket_of(20): 900, bucket_of(150): 80, bucket_of(int(p99)): 12}
        )
        # A 4-CPU box sampled at 99 Hz: 396 samples, 276 of them busy (the rows' 279%).
        records.append(ProbeCounts(ts, "cpu", 1.0, {"samples": 396, "idle": 120,
                                                     "filtered": 0, "waits": 992}))  # fmt: skip
        records.append(RunqRecord(ts, 1.0, hist, 24.0, p99))
        for pid, comm, pct, runq, rss, state, procs in (
            (2311, "postgres", 187.5, 2_400.0, 812 << 20, "running", 1),
            (None, "cat", 61.2, 950.0, None, None, 214),
            (8812, "rsync", 22.4, 310.0, 9 << 20, "sleeping", 1),
            (1022, "python3", 8.1, None, 61 << 20, "sleeping", 1),
        ):
            records.append(CpuRecord(ts, 1.0, pid, comm, pct, runq, rss, state, procs))
    return records
