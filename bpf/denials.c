// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Permission denials: every syscall that returns -EACCES or -EPERM, who made it,
 * what it was about, and which capability check failed inside it.
 *
 * The hot path is raw_tracepoint:sys_exit, which runs on every syscall exit of
 * the box: it reads the return value from the raw arguments and returns at once
 * unless it is a denial. Only then does it read the syscall number and arguments
 * from the user registers, count the denial in the kernel (exact, per comm,
 * uid, syscall and errno) and, within a per-CPU budget, send one event.
 *
 * capability:cap_capable (where that recent tracepoint is missing, as on 6.1 and
 * 6.12, a kprobe on cap_capable; with neither, the cause stays unknown) also runs for
 * silent checks that fail without failing anything (a plain Python start makes ~20).
 * A refused capability is only named as the cause when the same thread's same
 * syscall then fails with EPERM/EACCES, within CAP_WINDOW_NS; the rest are counted
 * as silent. The syscall a check runs
 * in comes from the task's user registers (current_user_regs, bpftop.h).
 *
 * EXEC_PART (compiled in only where the exec probe's plan takes the syscall exit
 * tracepoints, i.e. no cheaper hook than a syscall tracepoint loads, bpf/exec.c):
 * while it runs, the same program also reports failed execs for the exec probe, so
 * the box pays for one every-syscall hook, not two. User space switches that part on
 * in `exec_part` and attaches sched_process_fork (the failed exec's parent) only
 * while it is on. Elsewhere its maps (a ring buffer, a 64k-entry LRU) are left out.
 *
 * x86_64 only: syscall arguments are read from pt_regs di, si, dx, r10, r8, r9. */
#include <uapi/linux/ptrace.h>
#include "bpftop.h"
#include "exec_event.h"

#define EPERM 1
#define EACCES 13
#define PATH_LEN 256
#define ADDR_LEN 28 /* sockaddr_in6; sockaddr_un is cut */
#define MAX_SYSCALLS 512

#define ARG_NONE 0
#define ARG_PATH 1
#define ARG_SOCKADDR 2

/* Events per CPU per second, with a burst of the same size: beyond it a flood is
 * sampled (its counts stay exact); the surplus is counted as sampled_out. */
#ifndef EVENT_BUDGET
#define EVENT_BUDGET 2000
#endif
#define NS_PER_TOKEN (1000000000ULL / EVENT_BUDGET)
/* A denial is blamed on a refused capability seen at most this long before it, in
 * the same thread and syscall: permission checks come early in a syscall. */
#define CAP_WINDOW_NS (10ULL * 1000 * 1000)

enum denial_counter {
    DEN_DENIALS = 0,
    DEN_SAMPLED_OUT = 1,
    DEN_CAP_REFUSED = 2,   /* every refused capability check, silent or not */
    DEN_CAP_NAMED = 3,     /* denials whose syscall had a refused capability check */
    DEN_TABLE_FULL = 4,
    DEN_LOST = 5,          /* events the ring buffer had no room for */
    DEN_NR_COUNTERS = 6,
};

struct cap_refusal {
    u64 caps;  /* bit per refused CAP_* */
    u64 nr;    /* the syscall it happened in */
    u64 ts_ns;
};

/* LSMs whose refusal bpftop can name (bit per LSM; names in denial_probe.LSM_NAMES). */
#define LSM_LANDLOCK 1
#define LSM_APPARMOR 2

struct lsm_refusal {
    u32 lsms; /* LSM_* bits */
    u32 nr;   /* the syscall it happened in */
    u64 ts_ns;
};

struct group_key {
    char comm[TASK_COMM_LEN];
    u32 uid;
    u32 nr;
    s32 ret;
    u32 pad;
};

/* Refused capability checks that failed no syscall ("silent"), per who and where:
 * `refused` counts every refused check (note_refusal), `named` those a denial of the
 * same syscall then named (sys_exit); both only grow, and user space shows the
 * difference. */
struct silent_key {
    char comm[TASK_COMM_LEN];
    u32 uid;
    u32 nr;  /* the syscall the check ran in */
    u32 cap;
};

struct silent_counts {
    u64 refused;
    u64 named;
};

struct budget {
    u64 tokens;
    u64 last_ns;
};

struct denial_event {
    u64 ts_ns;
    u64 caps; /* refused capabilities in this syscall; 0: none */
    u32 lsms; /* LSMs that refused in this syscall (LSM_* bits); 0: none seen */
    u32 pad;
    u32 pid;
    u32 tid;
    u32 uid;
    u32 nr;
    s32 ret;
    u8 arg_kind;
    char comm[TASK_COMM_LEN];
    char arg[PATH_LEN]; /* a path, or the raw sockaddr */
};

BPF_PERCPU_ARRAY(counters, u64, DEN_NR_COUNTERS);
BPF_ARRAY(arg_kinds, u8, MAX_SYSCALLS); /* (kind << 4) | argument index; set by user space */
BPF_TABLE("lru_hash", u32, struct cap_refusal, refusals, 8192);
BPF_TABLE("lru_hash", u32, struct lsm_refusal, lsm_refusals, 8192);
BPF_HASH(groups, struct group_key, u64, 10240);
BPF_HASH(silent_caps, struct silent_key, struct silent_counts, 4096);
BPF_PERCPU_ARRAY(budgets, struct budget, 1);
BPF_ARRAY(filter, struct task_filter, 1);
BPF_RINGBUF_OUTPUT(events, RINGBUF_PAGES);

static __always_inline void count(u32 slot)
{
    u64 *v = counters.lookup(&slot);
    if (v)
        (*v)++;
}

#ifdef EXEC_PART
/* The exec probe's part: its own counters, so its totals stay with it. */
enum exec_failure_counter {
    EXF_FAILED = 0,
    EXF_LOST = 1,
    EXF_NR_COUNTERS = 2,
};

BPF_ARRAY(exec_part, u32, 1); /* 1: report failed execs; written by user space */
BPF_PERCPU_ARRAY(exec_counters, u64, EXF_NR_COUNTERS);
BPF_PERCPU_ARRAY(exec_scratch, struct exec_event, 1);
BPF_TABLE("lru_hash", u32, u32, parents, 65536);
BPF_RINGBUF_OUTPUT(exec_events, RINGBUF_PAGES);

static __always_inline void count_exec(u32 slot)
{
    u64 *v = exec_counters.lookup(&slot);
    if (v)
        (*v)++;
}

TRACEPOINT_PROBE(sched, sched_process_fork)
{
    /* As in bpf/exec.c: the parent of a failed exec, for its row and the pid filter. */
    u32 child = args->child_pid;
    u32 parent = bpf_get_current_pid_tgid() >> 32;
    parents.update(&child, &parent);
    return 0;
}

/* A syscall that failed with `ret`: if it was an exec and the exec part is on, one
 * exec record (bpf/exec_event.h), counted exactly like bpf/exec.c counts them. */
static __always_inline void exec_failure(struct pt_regs *regs, long ret)
{
    u32 zero = 0;
    u32 *on = exec_part.lookup(&zero);
    if (!on || !*on)
        return;
    u64 nr = 0;
    bpf_probe_read_kernel(&nr, sizeof(nr), &regs->orig_ax);
    if (nr != NR_EXECVE && nr != NR_EXECVEAT)
        return;
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    u32 *ppid = parents.lookup(&pid);
    u32 parent = ppid ? *ppid : 0;
    struct task_filter *f = filter.lookup(&zero);
    if (f && (!task_passes(f, parent) || !outcome_passes(f, OUTCOME_FAILED, ret)))
        return;
    count_exec(EXF_FAILED);
    struct exec_event *e = exec_scratch.lookup(&zero);
    if (!e)
        return;
    fill_failure(e, regs, ret);
    e->ppid = parent;
    if (exec_events.ringbuf_output(e, sizeof(*e), 0) != 0)
        count_exec(EXF_LOST);
}
#endif

static __always_inline int take_token(u64 now)
{
    u32 zero = 0;
    struct budget *b = budgets.lookup(&zero);
    if (!b)
        return 0;
    u64 earned = (now - b->last_ns) / NS_PER_TOKEN;
    if (earned) {
        b->tokens += earned;
        if (b->tokens > EVENT_BUDGET)
            b->tokens = EVENT_BUDGET;
        b->last_ns = now;
    }
    if (!b->tokens)
        return 0;
    b->tokens--;
    return 1;
}

/* The syscall the current task is in, from its user registers. */
static __always_inline u64 current_syscall(void)
{
    struct pt_regs *regs = current_user_regs();
    u64 nr = 0;
    bpf_probe_read_kernel(&nr, sizeof(nr), &regs->orig_ax);
    return nr;
}

static __always_inline void count_cap_check(u32 nr, u32 cap, int named)
{
    struct silent_key k = {.uid = bpf_get_current_uid_gid(), .nr = nr, .cap = cap};
    bpf_get_current_comm(k.comm, sizeof(k.comm));
    struct silent_counts zero = {};
    struct silent_counts *v = silent_caps.lookup_or_try_init(&k, &zero);
    if (!v)
        count(DEN_TABLE_FULL);
    else if (named)
        __sync_fetch_and_add(&v->named, 1);
    else
        __sync_fetch_and_add(&v->refused, 1);
}

/* A refused capability check, in the current task: remembered per thread with the
 * syscall it happened in, for the sys_exit program to name as the cause. */
static __always_inline void note_refusal(int cap)
{
    if (cap < 0 || cap > 63)
        return;
    u32 zero_key = 0;
    struct task_filter *f = filter.lookup(&zero_key);
    if (f && !task_passes(f, 0))
        return; /* bpftop's own checks, or a task the user filtered out */
    count(DEN_CAP_REFUSED);
    u64 nr = current_syscall();
    count_cap_check(nr, cap, 0);
    u32 tid = bpf_get_current_pid_tgid();
    u64 now = bpf_ktime_get_ns();
    struct cap_refusal *r = refusals.lookup(&tid);
    if (r && r->nr == nr) {
        r->caps |= 1ULL << cap;
        r->ts_ns = now;
        return;
    }
    struct cap_refusal fresh = {.caps = 1ULL << cap, .nr = nr, .ts_ns = now};
    refusals.update(&tid, &fresh);
}

#if defined(LSM_FEXIT)
/* Where tracing programs load (no lockdown): which LSM refused, from fexit on the LSMs'
 * own file_open hooks (Landlock's hook_file_open, AppArmor's apparmor_file_open; a
 * kernel built without one of them, as 5.10 without Landlock, leaves it out:
 * NO_LANDLOCK_HOOK, NO_APPARMOR_HOOK). Remembered per thread like a refused
 * capability, and named by the same syscall's denial at sys_exit. */
static __always_inline void note_lsm(u32 lsm)
{
    u32 tid = bpf_get_current_pid_tgid();
    struct lsm_refusal fresh = {.lsms = lsm, .nr = current_syscall(),
                                .ts_ns = bpf_ktime_get_ns()};
    struct lsm_refusal *r = lsm_refusals.lookup(&tid);
    if (r && r->nr == fresh.nr)
        fresh.lsms |= r->lsms;
    lsm_refusals.update(&tid, &fresh);
}

#ifndef NO_LANDLOCK_HOOK
KRETFUNC_PROBE(hook_file_open, void *file, int ret)
{
    if (ret)
        note_lsm(LSM_LANDLOCK);
    return 0;
}
#endif

#ifndef NO_APPARMOR_HOOK
KRETFUNC_PROBE(apparmor_file_open, void *file, int ret)
{
    if (ret)
        note_lsm(LSM_APPARMOR);
    return 0;
}
#endif
#endif

#if defined(CAP_KPROBE)
/* Kernels without the capability:cap_capable tracepoint (6.1, 6.12): the same
 * from a kprobe and kretprobe on cap_capable(cred, ns, cap, opts), which bcc opens
 * as perf-event fds (the kprobe PMU), gone with bpftop like every other attachment. */
BPF_HASH(cap_calls, u32, int, 10240);

int kprobe__cap_capable(struct pt_regs *ctx, const void *cred, const void *ns, int cap)
{
    u32 tid = bpf_get_current_pid_tgid();
    cap_calls.update(&tid, &cap);
    return 0;
}

int kretprobe__cap_capable(struct pt_regs *ctx)
{
    u32 tid = bpf_get_current_pid_tgid();
    int *cap = cap_calls.lookup(&tid);
    if (!cap)
        return 0;
    int refused = (int)PT_REGS_RC(ctx) < 0;
    int which = *cap;
    cap_calls.delete(&tid);
    if (refused)
        note_refusal(which);
    return 0;
}
#elif !defined(NO_CAP_HOOK)
TRACEPOINT_PROBE(capability, cap_capable)
{
    if (args->ret >= 0)
        return 0;
    note_refusal(args->cap);
    return 0;
}
#endif

RAW_TRACEPOINT_PROBE(sys_exit)
{
    long ret = (long)ctx->args[1];
    if (ret >= 0)
        return 0; /* the hot path: every syscall that did not fail */
#ifdef EXEC_PART
    exec_failure((struct pt_regs *)ctx->args[0], ret);
#endif
    if (ret != -EACCES && ret != -EPERM)
        return 0;

    u32 zero_key = 0;
    struct task_filter *f = filter.lookup(&zero_key);
    if (f && (!task_passes(f, 0) || !outcome_passes(f, OUTCOME_FAILED, ret)))
        return 0;
    struct pt_regs regs = {};
    bpf_probe_read_kernel(&regs, sizeof(regs), (void *)ctx->args[0]);
    u32 nr = regs.orig_ax;
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = id;
    u64 now = bpf_ktime_get_ns();
    count(DEN_DENIALS);

    u64 caps = 0;
    struct cap_refusal *r = refusals.lookup(&tid);
    if (r) {
        /* Same syscall number, and recent: a refusal left by an earlier call of this
         * syscall that succeeded (a silent check) must not be blamed for this one. */
        if (r->nr == nr && now - r->ts_ns < CAP_WINDOW_NS) {
            caps = r->caps;
            count(DEN_CAP_NAMED);
            /* Not silent after all: this denial names them. */
            for (u32 cap = 0; cap < 64; cap++)
                if (caps & (1ULL << cap))
                    count_cap_check(nr, cap, 1);
        }
        refusals.delete(&tid); /* this syscall is over: never carried to the next */
    }
    u32 lsms = 0;
    struct lsm_refusal *l = lsm_refusals.lookup(&tid);
    if (l) {
        if (l->nr == nr && now - l->ts_ns < CAP_WINDOW_NS)
            lsms = l->lsms;
        lsm_refusals.delete(&tid);
    }

    struct group_key gk = {.uid = bpf_get_current_uid_gid(), .nr = nr, .ret = ret};
    bpf_get_current_comm(gk.comm, sizeof(gk.comm));
    u64 zero = 0;
    u64 *n = groups.lookup_or_try_init(&gk, &zero);
    if (n)
        __sync_fetch_and_add(n, 1);
    else
        count(DEN_TABLE_FULL);

    if (!take_token(now)) {
        count(DEN_SAMPLED_OUT);
        return 0;
    }
    struct denial_event *e = events.ringbuf_reserve(sizeof(struct denial_event));
    if (!e) {
        count(DEN_LOST);
        return 0;
    }
    e->ts_ns = now;
    e->caps = caps;
    e->lsms = lsms;
    e->pid = id >> 32;
    e->tid = tid;
    e->uid = gk.uid;
    e->nr = nr;
    e->ret = ret;
    __builtin_memcpy(e->comm, gk.comm, sizeof(e->comm));
    e->arg_kind = ARG_NONE;
    e->arg[0] = 0;

    u32 slot = nr;
    u8 *kind = slot < MAX_SYSCALLS ? arg_kinds.lookup(&slot) : NULL;
    if (kind && *kind) {
        u64 argv[6] = {regs.di, regs.si, regs.dx, regs.r10, regs.r8, regs.r9};
        u32 index = *kind & 0xf;
        const void *ptr = index < 6 ? (const void *)argv[index] : NULL;
        e->arg_kind = *kind >> 4;
        if (ptr && e->arg_kind == ARG_PATH)
            read_user_str(e->arg, sizeof(e->arg), ptr);
        else if (ptr && e->arg_kind == ARG_SOCKADDR)
            read_user(e->arg, ADDR_LEN, ptr);
    }
    events.ringbuf_submit(e, 0);
    return 0;
}
