// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Shared between bpftop's BPF programs and documented for the Python side,
 * which decodes events with bcc's table.event(), never with ctypes copies.
 *
 * License: each program's is bcc's default, "GPL" (GPL-only helpers such as
 * bpf_probe_read_user need it); the sources are GPL-2.0 OR MIT, as their SPDX lines say.
 *
 * Counters: every program keeps its exact counts in a per-CPU `counters` array indexed
 * by an enum of its own, whose order is the probe's `counter_names` (checked by
 * tests/test_c_constants.py, with every other number C and Python share). The
 * three-line count() that bumps a slot is in each file: bcc rewrites map calls
 * (`counters.lookup`) only in the program's own file, not in a header or a macro (both
 * tried: the kernel refused the unrewritten call, "unknown opcode 8d"). */
#ifndef BPFTOP_H
#define BPFTOP_H

#include <uapi/linux/ptrace.h> /* struct pt_regs */

#define TASK_COMM_LEN 16

/* bpf_probe_read_user{,_str} under names of our own. bcc's rewriter spends ~0.13 s
 * of a compile on calls under the helpers' own names (bpf/exec.c's rewrite went
 * from 0.31 s to 0.03 s); the kernel helpers are the same. Every kernel bpftop
 * attaches to has them (5.5+; the ring buffer it needs is 5.8+). */
static long (*read_user)(void *dst, u32 size, const void *unsafe_ptr) =
    (void *)BPF_FUNC_probe_read_user;
static long (*read_user_str)(void *dst, u32 size, const void *unsafe_ptr) =
    (void *)BPF_FUNC_probe_read_user_str;

/* Helpers older kernels lack, each with the fallback the Python side compiles in
 * where libbpf's probe says it is missing (bpftop/kernel.py COMPAT_FLAGS). The
 * fallbacks read kernel structs at offsets taken from the running kernel's BTF
 * (bpftop/probes/struct_offsets.py: *_OFF, KERNEL_THREAD_SIZE), never from the
 * headers bcc compiles with, which may be another kernel's. */
#if defined(NO_TASK_PT_REGS) || defined(NO_ANCESTOR_CGROUP_ID)
#ifndef TASK_STACK_OFF
#error "no struct offsets from the kernel's BTF for the helper fallbacks"
#endif
static __always_inline void *read_pointer(const void *at)
{
    void *value = NULL;
    bpf_probe_read_kernel(&value, sizeof(value), at);
    return value;
}
#endif

/* The current task's user registers: a syscall's number and arguments, the stack an
 * exec's new program starts with. NO_TASK_PT_REGS (no bpf_task_pt_regs, 5.15, or no
 * bpf_get_current_task_btf, 5.11): x86_64's task_pt_regs() by hand, the registers
 * saved at the top of the task's kernel stack. */
#ifdef NO_TASK_PT_REGS
static __always_inline struct pt_regs *current_user_regs(void)
{
    void *stack = read_pointer((void *)bpf_get_current_task() + TASK_STACK_OFF);
    return (struct pt_regs *)(stack + KERNEL_THREAD_SIZE) - 1;
}
#else
static __always_inline struct pt_regs *current_user_regs(void)
{
    return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}
#endif

/* The id of the current task's cgroup v2 ancestor at `level` (0: none there).
 * NO_ANCESTOR_CGROUP_ID (tracing programs may call the helper since 5.14): what the
 * helper does, by hand: up the task's cgroup's parents to that level, then the id of
 * its kernfs node. */
#define MAX_CGROUP_CLIMB 32 /* levels below the filter's cgroup; deeper never passes */
#ifdef NO_ANCESTOR_CGROUP_ID
static __always_inline u64 current_ancestor_cgroup_id(u32 level)
{
    void *cset = read_pointer((void *)bpf_get_current_task() + TASK_CGROUPS_OFF);
    void *cgroup = read_pointer(cset + CSS_SET_DFL_CGRP_OFF);
    int own_level = 0;
    bpf_probe_read_kernel(&own_level, sizeof(own_level), cgroup + CGROUP_LEVEL_OFF);
    if (!cgroup || level > (u32)own_level || own_level - level > MAX_CGROUP_CLIMB)
        return 0;
    u32 up = own_level - level;
    for (int i = 0; i < MAX_CGROUP_CLIMB && i < up; i++) {
        /* css.parent points at the parent's css, `self` in its struct cgroup */
        void *parent_css = read_pointer(cgroup + CGROUP_SELF_OFF + CSS_PARENT_OFF);
        cgroup = parent_css - CGROUP_SELF_OFF;
    }
    u64 id = 0;
    bpf_probe_read_kernel(&id, sizeof(id), read_pointer(cgroup + CGROUP_KN_OFF) + KERNFS_NODE_ID_OFF);
    return id;
}
#else
static __always_inline u64 current_ancestor_cgroup_id(u32 level)
{
    return bpf_get_current_ancestor_cgroup_id(level);
}
#endif

/* Latency buckets in microseconds (disk I/O, run-queue waits), decoded by
 * bpftop/model/histogram.py: exact below 4 us, then four per power of two, each at
 * most 25% wider than its low edge, so a p99 from them is within a fifth of the truth. */
static __always_inline u16 latency_bucket(u64 us)
{
    if (us < 4)
        return us;
    u32 slot = bpf_log2l(us) - 1; /* bcc's bpf_log2l is floor(log2(v)) + 1 */
    if (slot > 31)
        slot = 31;
    u32 sub = (us >> (slot - 2)) & 3;
    return (slot - 1) * 4 + sub;
}

/* The user's filter (`/` in the TUI, --pid/--comm/... on the command line).
 * Every program keeps one in its own `filter` array, slot 0, written by user
 * space, and asks it before counting or sending anything about a task, so a
 * filtered-out storm costs neither ring buffer space nor Python time.
 * A zero field matches anything. */
struct task_filter {
    u32 pid;          /* tgid */
    u32 uid;          /* valid when uid_set */
    u32 uid_set;
    u32 comm_len;     /* compare this many leading bytes of comm (a glob's literal head) */
    char comm[TASK_COMM_LEN];
    u64 cgroup;       /* cgroup v2 id: the task's cgroup or one of its ancestors */
    u32 cgroup_level; /* that cgroup's depth below the v2 root */
    u32 port;         /* TCP: either end of the connection */
    u32 dev;          /* block device, kernel dev_t (MAJOR << 20 | MINOR) */
    u32 self_tgid;    /* bpftop's own process: what it does itself is never shown */
    u64 min_lat_ns;   /* events (connections, slow I/O) at least this slow */
    u32 outcomes;     /* result=: OUTCOME_* bits wanted (0: any outcome) */
    s32 err;          /* errno=: the negative errno wanted (0: any) */
};

/* An event's outcome, for result= (bpftop/filters.py OUTCOME_BITS): a failure has
 * OUTCOME_FAILED and, for a connection, the bit of how it failed. */
#define OUTCOME_OK 1
#define OUTCOME_FAILED 2
#define OUTCOME_REFUSED 4
#define OUTCOME_RESET 8
#define OUTCOME_TIMEOUT 16
#define OUTCOME_ABORTED 32
#define OUTCOME_ERROR 64 /* a connect() that failed at once, with its errno */

/* Does an event with these outcome bits and this return value (0, or -errno) pass
 * result= and errno=? */
static __always_inline int outcome_passes(const struct task_filter *f, u32 outcome, long err)
{
    if (f->outcomes && !(f->outcomes & outcome))
        return 0;
    return !f->err || err == f->err;
}

static __always_inline int filter_on_task(const struct task_filter *f)
{
    return f->pid || f->uid_set || f->comm_len || f->cgroup;
}

/* Is the current task one of bpftop's own threads? Its map reads, /proc walks and
 * refused BPF loads are not the box's activity (self_tgid: set by the command line's
 * engine; 0 in the tests' own engines, whose workloads run in the test process). */
static __always_inline int task_is_self(const struct task_filter *f)
{
    return f->self_tgid && (u32)(bpf_get_current_pid_tgid() >> 32) == f->self_tgid;
}

/* Does the current task pass the filter's task fields? `parent` (0: unknown)
 * lets the exec probe show a filtered pid's children too. bpftop itself never does. */
static __always_inline int task_passes(const struct task_filter *f, u32 parent)
{
    if (task_is_self(f))
        return 0;
    if (f->pid) {
        u32 pid = bpf_get_current_pid_tgid() >> 32;
        if (pid != f->pid && parent != f->pid)
            return 0;
    }
    if (f->uid_set && (u32)bpf_get_current_uid_gid() != f->uid)
        return 0;
    if (f->cgroup && current_ancestor_cgroup_id(f->cgroup_level) != f->cgroup)
        return 0;
    if (f->comm_len) {
        char comm[TASK_COMM_LEN];
        bpf_get_current_comm(comm, sizeof(comm));
#pragma unroll
        for (int i = 0; i < TASK_COMM_LEN; i++) {
            if (i >= f->comm_len)
                break;
            if (comm[i] != f->comm[i])
                return 0;
        }
    }
    return 1;
}

#endif
