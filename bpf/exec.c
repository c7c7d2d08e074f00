// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Execs, successful and failed.
 *
 * Successful execs come from sched:sched_process_exec, which costs nothing on any
 * other syscall. It fires after the new program's registers are set up, so the user
 * stack pointer (current_user_regs, bpftop.h) points at argc,
 * followed by the argv pointers the new program will see.
 *
 * A failed exec never reaches that tracepoint; its return value comes from
 *   FAIL_FEXIT      fexit on __x64_sys_execve{,at} (where tracing programs load),
 *   FAIL_KRETPROBE  kretprobes on the same functions,
 *   FAIL_SYSCALL_TP syscalls:sys_exit_execve{,at}: every syscall of the box then takes
 *                   the tracing slow path, though BPF runs only for execs. While the
 *                   denials probe runs, user space detaches these and takes failures
 *                   from its sys_exit program instead (bpf/denials.c), so the box pays
 *                   for one every-syscall hook at most.
 * Either way filename and argv are read from the failed syscall's arguments.
 *
 * SYSCALL_TRACEPOINTS: the fallback where none of the above loads:
 * syscalls:sys_{enter,exit}_execve{,at}, which put every syscall of the box on the
 * tracing slow path.
 *
 * Parents come from sched_process_fork (no task_struct reads, so this is safe with
 * headers that do not match the running kernel). */
#include <uapi/linux/ptrace.h>
#include "bpftop.h"
#include "exec_event.h"

enum exec_counter {
    EXEC_OK = 0,
    EXEC_FAILED = 1,
    EXEC_LOST = 2,      /* ring buffer full: the exec was counted, its record dropped */
    EXEC_UNMATCHED = 3, /* SYSCALL_TRACEPOINTS: exit without a recorded enter */
    EXEC_NR_COUNTERS = 4,
};

BPF_PERCPU_ARRAY(counters, u64, EXEC_NR_COUNTERS);
BPF_PERCPU_ARRAY(scratch, struct exec_event, 1);
BPF_TABLE("lru_hash", u32, u32, parents, 65536);
BPF_ARRAY(filter, struct task_filter, 1);
BPF_RINGBUF_OUTPUT(events, RINGBUF_PAGES);

/* Exact counts live in the kernel, so they survive a ring buffer overflow. */
static __always_inline void count(u32 slot)
{
    u64 *v = counters.lookup(&slot);
    if (v)
        (*v)++;
}

TRACEPOINT_PROBE(sched, sched_process_fork)
{
    /* Runs in the parent: its tgid is the child's ppid at fork time. */
    u32 child = args->child_pid;
    u32 parent = bpf_get_current_pid_tgid() >> 32;
    parents.update(&child, &parent);
    return 0;
}

/* The current task's parent, and whether the user's filter keeps it (a filtered
 * pid's children are shown too). Filtered-out execs are not counted either, so the
 * pane's rates match its rows. */
static __always_inline int passes_filter(u32 *parent, long ret)
{
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    u32 *ppid = parents.lookup(&pid);
    *parent = ppid ? *ppid : 0;
    u32 zero = 0;
    struct task_filter *f = filter.lookup(&zero);
    if (!f)
        return 1;
    return task_passes(f, *parent) && (ret == 0 || outcome_passes(f, OUTCOME_FAILED, ret));
}

/* result= and errno= on a success: whether to count it. It is sent either way: user
 * space needs it to tell a PATH lookup's tries from failures (bpftop/probes/
 * path_lookups.py), and drops it there. */
static __always_inline int success_wanted(void)
{
    u32 zero = 0;
    struct task_filter *f = filter.lookup(&zero);
    return !f || outcome_passes(f, OUTCOME_OK, 0);
}

static __always_inline void send(struct exec_event *e)
{
    if (events.ringbuf_output(e, sizeof(*e), 0) != 0)
        count(EXEC_LOST);
}

#ifndef SYSCALL_TRACEPOINTS
TRACEPOINT_PROBE(sched, sched_process_exec)
{
    u32 parent;
    if (!passes_filter(&parent, 0))
        return 0;
    if (success_wanted())
        count(EXEC_OK);
    u32 zero = 0;
    struct exec_event *e = scratch.lookup(&zero);
    if (!e)
        return 0;
    u64 id = bpf_get_current_pid_tgid();
    e->ts_ns = bpf_ktime_get_ns();
    e->ret = 0;
    e->pid = id >> 32;
    e->ppid = parent;
    e->uid = bpf_get_current_uid_gid();
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    TP_DATA_LOC_READ_STR(e->filename, filename, sizeof(e->filename));
    struct pt_regs *regs = current_user_regs();
    u64 sp = 0;
    bpf_probe_read_kernel(&sp, sizeof(sp), &regs->sp);
    read_argv(e, (const char *const *)(sp + sizeof(long))); /* past argc */
    send(e);
    return 0;
}
#endif

#if defined(FAIL_FEXIT) || defined(FAIL_KRETPROBE) || defined(FAIL_SYSCALL_TP)
static __always_inline int record_failure(long ret)
{
    u32 parent;
    if (ret >= 0 || !passes_filter(&parent, ret))
        return 0; /* a successful exec is counted at sched_process_exec */
    count(EXEC_FAILED);
    u32 zero = 0;
    struct exec_event *e = scratch.lookup(&zero);
    if (!e)
        return 0;
    fill_failure(e, current_user_regs(), ret);
    e->ppid = parent;
    send(e);
    return 0;
}
#endif

#ifdef FAIL_FEXIT
KRETFUNC_PROBE(__x64_sys_execve, const struct pt_regs *regs, long ret)
{
    return record_failure(ret);
}

KRETFUNC_PROBE(__x64_sys_execveat, const struct pt_regs *regs, long ret)
{
    return record_failure(ret);
}
#endif

#ifdef FAIL_KRETPROBE
int kretprobe____x64_sys_execve(struct pt_regs *ctx)
{
    return record_failure(PT_REGS_RC(ctx));
}

int kretprobe____x64_sys_execveat(struct pt_regs *ctx)
{
    return record_failure(PT_REGS_RC(ctx));
}
#endif

#ifdef FAIL_SYSCALL_TP
TRACEPOINT_PROBE(syscalls, sys_exit_execve)
{
    return record_failure(args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_exit_execveat)
{
    return record_failure(args->ret);
}
#endif

#ifdef SYSCALL_TRACEPOINTS
/* LRU: an exec whose exit we never see (task killed mid-exec) cannot fill the map. */
BPF_TABLE("lru_hash", u32, struct exec_event, pending, 1024);

static __always_inline int record_enter(const char *filename, const char *const *argv)
{
    u32 zero = 0;
    struct exec_event *e = scratch.lookup(&zero);
    if (!e)
        return 0;
    e->ts_ns = bpf_ktime_get_ns();
    read_user_str(e->filename, sizeof(e->filename), filename);
    read_argv(e, argv);
    u32 tid = bpf_get_current_pid_tgid();
    pending.update(&tid, e);
    return 0;
}

static __always_inline int record_exit(long ret)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = id, pid = id >> 32;
    struct exec_event *e = pending.lookup(&tid);
    if (!e && tid != pid) {
        /* A successful exec from a non-leader thread leaves as the leader. */
        e = pending.lookup(&pid);
        tid = pid;
    }
    u32 parent;
    if (!passes_filter(&parent, ret)) {
        if (e)
            pending.delete(&tid);
        return 0;
    }
    if (ret != 0)
        count(EXEC_FAILED);
    else if (success_wanted())
        count(EXEC_OK);
    if (!e) {
        count(EXEC_UNMATCHED);
        return 0;
    }
    e->ret = ret;
    e->pid = pid;
    e->uid = bpf_get_current_uid_gid();
    e->ppid = parent;
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    send(e);
    pending.delete(&tid);
    return 0;
}

TRACEPOINT_PROBE(syscalls, sys_enter_execve)
{
    return record_enter(args->filename, args->argv);
}

TRACEPOINT_PROBE(syscalls, sys_exit_execve)
{
    return record_exit(args->ret);
}

TRACEPOINT_PROBE(syscalls, sys_enter_execveat)
{
    return record_enter(args->filename, args->argv);
}

TRACEPOINT_PROBE(syscalls, sys_exit_execveat)
{
    return record_exit(args->ret);
}
#endif
