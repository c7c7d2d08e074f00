/* Per-syscall summary of one process: the `strace -c` of the drilldown.
 * raw_tracepoint sys_enter/sys_exit, the cheapest hooks on every syscall here;
 * the target's tgid is compiled in (TARGET_TGID), so every other task leaves
 * after one compare with no map lookup. Counts are per CPU (no atomics) and
 * exact; the latency is enter -> exit of the same thread. */
#include <uapi/linux/ptrace.h>
#include "bpftop.h"

#define MAX_SYSCALLS 512
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
/* In flight per thread; a thread killed inside a syscall leaves its entry, which
 * the LRU drops: bounded however the target behaves. */
BPF_TABLE("lru_hash", u32, struct enter_mark, inflight, 16384);


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
    u32 tid = id;
    struct enter_mark mark = {.ts_ns = bpf_ktime_get_ns(), .nr = ctx->args[1]};
    inflight.update(&tid, &mark);
    return 0;
}

RAW_TRACEPOINT_PROBE(sys_exit)
{
    u64 id = bpf_get_current_pid_tgid();
    if ((id >> 32) != TARGET_TGID)
        return 0;
    u64 now = bpf_ktime_get_ns();
    u32 tid = id;
    struct enter_mark *mark = inflight.lookup(&tid);
    if (!mark) {
        count(SC_UNMATCHED);
        return 0;
    }
    u32 nr = mark->nr;
    u64 lat = now - mark->ts_ns;
    inflight.delete(&tid);
    if (nr >= MAX_SYSCALLS)
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
