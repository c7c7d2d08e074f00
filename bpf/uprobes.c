/* Calls and latency of user functions the user picked, in one process.
 * UPROBE_SLOTS pairs of programs (enter_N on the function, leave_N on its
 * return) are compiled once; user space attaches slot N to the Nth picked
 * function with the target's pid, so the kernel only fires them in that
 * process (uprobe perf events filter by the target's mm). Per-CPU counts need
 * no atomics and stay exact. A recursive call overwrites its outer start: the
 * latency is then the innermost call's. */
#include <uapi/linux/ptrace.h>
#include "bpftop.h"

#define LAT_BUCKETS 64 /* log2 of nanoseconds */
#define UPROBE_SLOTS 16 /* the SLOT(n) lines at the end */

enum uprobe_counter {
    UP_UNMATCHED = 0, /* returns whose call began before attach */
    UP_LOST = 1,      /* no events here; kept for the shared counters shape */
    UP_NR_COUNTERS = 2,
};

struct func_stats {
    u64 calls;
    u64 returns; /* with a latency */
    u64 total_ns;
    u64 hist[LAT_BUCKETS];
};

struct start_key {
    u32 tid;
    u32 slot;
};

BPF_PERCPU_ARRAY(counters, u64, UP_NR_COUNTERS);
BPF_PERCPU_ARRAY(stats, struct func_stats, UPROBE_SLOTS);
BPF_TABLE("lru_hash", struct start_key, u64, starts, 16384);


static __always_inline int enter(u32 slot)
{
    u64 id = bpf_get_current_pid_tgid();
    if ((id >> 32) != TARGET_TGID)
        return 0;
    struct func_stats *s = stats.lookup(&slot);
    if (!s)
        return 0;
    s->calls++;
    struct start_key k = {.tid = id, .slot = slot};
    u64 now = bpf_ktime_get_ns();
    starts.update(&k, &now);
    return 0;
}

static __always_inline int leave(u32 slot)
{
    u64 id = bpf_get_current_pid_tgid();
    if ((id >> 32) != TARGET_TGID)
        return 0;
    struct start_key k = {.tid = id, .slot = slot};
    u64 *start = starts.lookup(&k);
    if (!start) {
        u32 c = UP_UNMATCHED;
        u64 *v = counters.lookup(&c);
        if (v)
            (*v)++;
        return 0;
    }
    u64 lat = bpf_ktime_get_ns() - *start;
    starts.delete(&k);
    struct func_stats *s = stats.lookup(&slot);
    if (!s)
        return 0;
    s->returns++;
    s->total_ns += lat;
    s->hist[bpf_log2l(lat) & (LAT_BUCKETS - 1)]++; /* bucket b: [2^(b-1), 2^b) ns */
    return 0;
}

#define SLOT(n)                                                                    \
    int enter_##n(struct pt_regs *ctx) { return enter(n); }                        \
    int leave_##n(struct pt_regs *ctx) { return leave(n); }

SLOT(0) SLOT(1) SLOT(2) SLOT(3) SLOT(4) SLOT(5) SLOT(6) SLOT(7)
SLOT(8) SLOT(9) SLOT(10) SLOT(11) SLOT(12) SLOT(13) SLOT(14) SLOT(15)
