/* Execs, successful and failed, from syscall tracepoints.
 * sys_enter_execve{,at} keeps filename and argv per thread; sys_exit joins the
 * result. Parents come from sched_process_fork (no task_struct reads, so this
 * is safe with headers that do not match the running kernel). */
#include "bpftop.h"

#ifndef ARGV_MAX
#define ARGV_MAX 20
#endif
#ifndef ARG_LEN
#define ARG_LEN 128
#endif
#define FILENAME_LEN 256

enum exec_counter {
    EXEC_OK = 0,
    EXEC_FAILED = 1,
    EXEC_LOST = 2,      /* ring buffer full: the exec was counted, its record dropped */
    EXEC_UNMATCHED = 3, /* exit without a recorded enter (exec began before attach) */
    EXEC_NR_COUNTERS = 4,
};

struct exec_event {
    u64 ts_ns;
    s64 ret;
    u32 pid;
    u32 ppid; /* 0: unknown (the parent forked before bpftop started) */
    u32 uid;
    u32 argc;
    u32 truncated; /* argv had more than ARGV_MAX entries */
    char comm[TASK_COMM_LEN];
    char filename[FILENAME_LEN];
    char argv[ARGV_MAX * ARG_LEN]; /* ARGV_MAX NUL-terminated slots of ARG_LEN */
};

BPF_PERCPU_ARRAY(counters, u64, EXEC_NR_COUNTERS);
BPF_PERCPU_ARRAY(scratch, struct exec_event, 1);
/* LRU: an exec whose exit we never see (task killed mid-exec) cannot fill the map. */
BPF_TABLE("lru_hash", u32, struct exec_event, pending, 1024);
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

static __always_inline int record_enter(const char *filename, const char *const *argv)
{
    u32 zero = 0;
    struct exec_event *e = scratch.lookup(&zero);
    if (!e)
        return 0;
    e->ts_ns = bpf_ktime_get_ns();
    e->argc = 0;
    e->truncated = 0;
    bpf_probe_read_user_str(e->filename, sizeof(e->filename), filename);
#pragma unroll
    for (int i = 0; i < ARGV_MAX; i++) {
        const char *arg = NULL;
        bpf_probe_read_user(&arg, sizeof(arg), &argv[i]);
        if (!arg)
            goto done;
        bpf_probe_read_user_str(&e->argv[i * ARG_LEN], ARG_LEN, arg);
        e->argc = i + 1;
    }
    {
        const char *more = NULL;
        bpf_probe_read_user(&more, sizeof(more), &argv[ARGV_MAX]);
        e->truncated = more != NULL;
    }
done:;
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
    u32 *ppid = parents.lookup(&pid);
    u32 parent = ppid ? *ppid : 0;
    u32 zero = 0;
    struct task_filter *f = filter.lookup(&zero);
    if (f && !task_passes(f, parent)) {
        /* Filtered out: not counted either, so the pane's rates match its rows. */
        if (e)
            pending.delete(&tid);
        return 0;
    }
    count(ret == 0 ? EXEC_OK : EXEC_FAILED);
    if (!e) {
        count(EXEC_UNMATCHED);
        return 0;
    }
    e->ret = ret;
    e->pid = pid;
    e->uid = bpf_get_current_uid_gid();
    e->ppid = parent;
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    if (events.ringbuf_output(e, sizeof(*e), 0) != 0)
        count(EXEC_LOST);
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
