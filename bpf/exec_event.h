// SPDX-License-Identifier: GPL-2.0 OR MIT
/* The exec record, shared by bpf/exec.c (execs, and failures where a kretprobe or
 * fexit on the exec syscall loads) and bpf/denials.c (failures from the one shared
 * sys_exit program where nothing cheaper loads). One layout, one decoder. */
#ifndef EXEC_EVENT_H
#define EXEC_EVENT_H

#ifndef ARGV_MAX
#define ARGV_MAX 20
#endif
#ifndef ARG_LEN
#define ARG_LEN 128
#endif
#define FILENAME_LEN 256

#define NR_EXECVE 59    /* x86_64 */
#define NR_EXECVEAT 322

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

/* argv from a user-space array of string pointers (the syscall's argv, or the new
 * program's stack at sched_process_exec): up to ARGV_MAX strings. */
static __always_inline void read_argv(struct exec_event *e, const char *const *argv)
{
    e->argc = 0;
    e->truncated = 0;
#pragma unroll
    for (int i = 0; i < ARGV_MAX; i++) {
        const char *arg = NULL;
        read_user(&arg, sizeof(arg), &argv[i]);
        if (!arg)
            return;
        read_user_str(&e->argv[i * ARG_LEN], ARG_LEN, arg);
        e->argc = i + 1;
    }
    const char *more = NULL;
    read_user(&more, sizeof(more), &argv[ARGV_MAX]);
    e->truncated = more != NULL;
}

/* A failed exec, seen after the syscall returned (the caller's memory is intact,
 * so filename and argv are read from the syscall's own arguments in the user
 * registers). Fills everything but ppid. */
static __always_inline void fill_failure(struct exec_event *e, struct pt_regs *regs, long ret)
{
    u64 nr = 0, di = 0, si = 0, dx = 0;
    bpf_probe_read_kernel(&nr, sizeof(nr), &regs->orig_ax);
    bpf_probe_read_kernel(&di, sizeof(di), &regs->di);
    bpf_probe_read_kernel(&si, sizeof(si), &regs->si);
    bpf_probe_read_kernel(&dx, sizeof(dx), &regs->dx);
    /* execve(filename, argv, envp); execveat(dirfd, filename, argv, envp, flags) */
    const char *filename = (const char *)(nr == NR_EXECVEAT ? si : di);
    const char *const *argv = (const char *const *)(nr == NR_EXECVEAT ? dx : si);
    u64 id = bpf_get_current_pid_tgid();
    e->ts_ns = bpf_ktime_get_ns();
    e->ret = ret;
    e->pid = id >> 32;
    e->uid = bpf_get_current_uid_gid();
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    read_user_str(e->filename, sizeof(e->filename), filename);
    read_argv(e, argv);
}

#endif
