// SPDX-License-Identifier: GPL-2.0 OR MIT
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
    UP_PYTHON_UNCOUNTED = 2, /* Python calls of functions past the pystats map's size */
    UP_NR_COUNTERS = 3,
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

/* Python functions by name: CPython's function__entry and function__return USDT
 * probes pass (filename, funcname, lineno). Where each argument lives (a register, or
 * memory at a register plus an offset) comes from the probe's stapsdt note, parsed by
 * bpftop/probes/usdt_args.py into pyargs, so no recompile per interpreter build.
 * Entry pushes a timestamp and the line it reports (the function's first) on the
 * thread's stack; return pops them, reads the names and counts the call with its
 * latency under (file, name, first line): at return the line is the returning one. */
#define PY_NAME 48
#define PY_FILE 96
#define PY_DEPTH 32
#define PY_CONSTANT 255 /* usdt_args.CONSTANT */
#define PY_REG_SLOTS 32  /* u64 slots copied from struct pt_regs (21 on x86-64) */

struct py_arg {
    u32 reg;   /* the register's u64 slot in struct pt_regs (usdt_args.REGISTERS) */
    u32 deref; /* read `size` bytes at reg + disp in the process */
    s64 disp;
    u32 size;
    u32 is_signed;
};

struct py_key {
    char file[PY_FILE];
    char name[PY_NAME];
    u32 line;
    u32 pad;
};

struct py_stack {
    u32 depth;
    u32 pad;
    u64 ts[PY_DEPTH];
    u32 line[PY_DEPTH];
};

/* 0-2: function__return's file, name, line; 3: function__entry's line */
BPF_ARRAY(pyargs, struct py_arg, 4);
BPF_HASH(pystats, struct py_key, struct func_stats, 4096);
BPF_TABLE("lru_hash", u32, struct py_stack, pystacks, 4096);
BPF_PERCPU_ARRAY(pyscratch, struct py_key, 1);
BPF_PERCPU_ARRAY(pystack_init, struct py_stack, 1); /* zeroes: too big for the stack */
BPF_PERCPU_ARRAY(pystats_init, struct func_stats, 1);
/* The registers, copied: indexing the context itself with a run-time register number
 * is refused by the verifier (a modified ctx pointer), a map value's is bounds-checked. */
struct py_regs {
    u64 slot[PY_REG_SLOTS];
};
BPF_PERCPU_ARRAY(pyregs, struct py_regs, 1);

static __always_inline u64 py_arg(struct py_regs *regs, u32 index)
{
    struct py_arg *a = pyargs.lookup(&index);
    if (!a)
        return 0;
    u64 v = a->reg == PY_CONSTANT ? (u64)a->disp : regs->slot[a->reg & (PY_REG_SLOTS - 1)];
    if (a->deref) {
        u64 at = v + a->disp;
        v = 0;
        read_user(&v, sizeof(v), (void *)at); /* little-endian: cut to size below */
    }
    if (a->size == 4)
        v = a->is_signed ? (u64)(s64)(s32)v : (u32)v;
    else if (a->size == 2)
        v = a->is_signed ? (u64)(s64)(s16)v : (u16)v;
    else if (a->size == 1)
        v = a->is_signed ? (u64)(s64)(s8)v : (u8)v;
    return v;
}

int py_entry(struct pt_regs *ctx)
{
    u64 id = bpf_get_current_pid_tgid();
    if ((id >> 32) != TARGET_TGID)
        return 0;
    u32 tid = id, zero = 0;
    struct py_regs *regs = pyregs.lookup(&zero);
    if (!regs)
        return 0;
    bpf_probe_read_kernel(regs, sizeof(struct pt_regs), ctx);
    struct py_stack *st = pystacks.lookup(&tid);
    if (!st) {
        struct py_stack *fresh = pystack_init.lookup(&zero);
        if (!fresh)
            return 0;
        pystacks.update(&tid, fresh);
        st = pystacks.lookup(&tid);
        if (!st)
            return 0;
    }
    u32 depth = st->depth;
    if (depth < PY_DEPTH) {
        st->ts[depth & (PY_DEPTH - 1)] = bpf_ktime_get_ns();
        st->line[depth & (PY_DEPTH - 1)] = py_arg(regs, 3);
    }
    st->depth = depth + 1; /* deeper than PY_DEPTH: counted, no latency, line at return */
    return 0;
}

int py_return(struct pt_regs *ctx)
{
    u64 id = bpf_get_current_pid_tgid();
    if ((id >> 32) != TARGET_TGID)
        return 0;
    u32 tid = id, zero = 0;
    struct py_key *k = pyscratch.lookup(&zero);
    struct py_regs *regs = pyregs.lookup(&zero);
    if (!k || !regs)
        return 0;
    bpf_probe_read_kernel(regs, sizeof(struct pt_regs), ctx);
    __builtin_memset(k, 0, sizeof(*k));
    read_user_str(k->file, sizeof(k->file), (void *)py_arg(regs, 0));
    read_user_str(k->name, sizeof(k->name), (void *)py_arg(regs, 1));
    k->line = py_arg(regs, 2);
    u64 lat = 0;
    struct py_stack *st = pystacks.lookup(&tid);
    if (st && st->depth > 0) {
        u32 depth = st->depth - 1;
        st->depth = depth;
        if (depth < PY_DEPTH) {
            lat = bpf_ktime_get_ns() - st->ts[depth & (PY_DEPTH - 1)];
            k->line = st->line[depth & (PY_DEPTH - 1)];
        }
    }
    struct func_stats *s = pystats.lookup(k);
    if (!s) {
        struct func_stats *fresh = pystats_init.lookup(&zero);
        if (!fresh)
            return 0;
        pystats.insert(k, fresh);
        s = pystats.lookup(k);
        if (!s) { /* 4096 functions already: this one is not counted */
            u32 c = UP_PYTHON_UNCOUNTED;
            u64 *v = counters.lookup(&c);
            if (v)
                (*v)++;
            return 0;
        }
    }
    __sync_fetch_and_add(&s->calls, 1);
    if (lat) {
        __sync_fetch_and_add(&s->returns, 1);
        __sync_fetch_and_add(&s->total_ns, lat);
        __sync_fetch_and_add(&s->hist[bpf_log2l(lat) & (LAT_BUCKETS - 1)], 1);
    }
    return 0;
}
