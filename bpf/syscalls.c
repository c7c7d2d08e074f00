// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Per-syscall summary of one process: the `strace -c` of the drilldown.
 * raw_tracepoint sys_enter/sys_exit, the cheapest hooks on every syscall here;
 * the target's tgid is compiled in (TARGET_TGID), so every other task leaves
 * after one compare with no map lookup. Counts are per CPU (no atomics) and
 * exact; the latency is enter -> exit of the same thread. */
#include <uapi/linux/ptrace.h>
#include "bpftop.h"

#define MAX_SYSCALLS 512
/* x86_64: what a uretprobe/uprobe trampoline calls, not the program (6.11+). The
 * drilldown's own uprobes make them: bpftop's activity, not the target's. */
#define NR_URETPROBE 335
#define NR_UPROBE 336
#define MAX_ERRNO 4095

enum syscall_counter {
    SC_UNMATCHED = 0, /* exits without an enter (the call began before attach) */
    SC_TABLE_FULL = 1,
    SC_LOST = 2,      /* no events here; kept for the shared counters shape */
    SC_NR_COUNTERS = 3,
};

struct syscall_totals {
    u64 calls;
    u64 errors;
    u64 total_ns;
};

struct enter_mark {
    u64 ts_ns;
    u64 nr;
};

struct error_key {
    u32 nr;
    u32 err;
};

BPF_PERCPU_ARRAY(counters, u64, SC_NR_COUNTERS);
BPF_PERCPU_ARRAY(totals, struct syscall_totals, MAX_SYSCALLS);
BPF_HASH(errors, struct error_key, u64, 4096);
#ifndef INFLIGHT_HASH
/* In flight per thread, in the thread's own task storage: no hash insert and delete
 * per syscall (measured ~300 ns a pair here), and it goes away with the thread. */
BPF_TASK_STORAGE(inflight, struct enter_mark);
static __always_inline struct enter_mark *inflight_mark(int create)
{
    return inflight.task_storage_get(bpf_get_current_task_btf(), 0,
                                     create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}
#else
/* INFLIGHT_HASH: kernels without task storage for tracing programs (before 5.11): one
 * slot per thread id, created at its first syscall and reused after; LRU, so the
 * target's exited threads make room. */
BPF_TABLE("lru_hash", u32, struct enter_mark, inflight, 10240);
static __always_inline struct enter_mark *inflight_mark(int create)
{
    u32 tid = bpf_get_current_pid_tgid();
    struct enter_mark *mark = inflight.lookup(&tid);
    if (mark || !create)
        return mark;
    struct enter_mark fresh = {};
    inflight.update(&tid, &fresh);
    return inflight.lookup(&tid);
}
#endif


static __always_inline void count(u32 slot)
{
    u64 *v = counters.lookup(&slot);
    if (v)
        (*v)++;
}

RAW_TRACEPOINT_PROBE(sys_enter)
{
    u64 id = bpf_get_current_pid_tgid();
    if ((id >> 32) != TARGET_TGID)
        return 0;
    struct enter_mark *mark = inflight_mark(1);
    if (!mark)
        return 0;
    mark->ts_ns = bpf_ktime_get_ns();
    mark->nr = ctx->args[1];
    return 0;
}

RAW_TRACEPOINT_PROBE(sys_exit)
{
    u64 id = bpf_get_current_pid_tgid();
    if ((id >> 32) != TARGET_TGID)
        return 0;
    u64 now = bpf_ktime_get_ns();
    struct enter_mark *mark = inflight_mark(0);
    if (!mark || !mark->ts_ns) {
        count(SC_UNMATCHED);
        return 0;
    }
    u32 nr = mark->nr;
    u64 lat = now - mark->ts_ns;
    mark->ts_ns = 0; /* used: an exit without a new enter is not matched to it */
    if (nr >= MAX_SYSCALLS || nr == NR_URETPROBE || nr == NR_UPROBE)
        return 0;
    struct syscall_totals *t = totals.lookup(&nr);
    if (!t)
        return 0;
    t->calls++;
    t->total_ns += lat;
    long ret = (long)ctx->args[1];
    if (ret < 0 && ret >= -MAX_ERRNO) {
        t->errors++;
        struct error_key k = {.nr = nr, .err = -ret};
        u64 zero = 0;
        u64 *n = errors.lookup_or_try_init(&k, &zero);
        if (n)
            __sync_fetch_and_add(n, 1);
        else
            count(SC_TABLE_FULL);
    }
    return 0;
}
