// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Who uses the CPU, and how long runnable tasks wait for one. Counted in the kernel:
 * nothing reaches user space per sample or per context switch.
 *
 * On-CPU share: a cpu-clock perf event per CPU (hrtimer based, so it fires on idle
 * CPUs too) runs `on_cpu_sample`, which counts the sample under the current task's
 * (tgid, comm). A process that lives 10 ms is counted like one that lives an hour.
 *
 * Run-queue latency (the runqlat technique, tracepoint fields only): a task is queued
 * when it wakes (sched_wakeup, sched_wakeup_new) or is switched out still runnable
 * (preempted); the time until sched_switch picks it is its wait. Tracepoints name
 * threads, not processes, so per-task waits are kept per thread id with its comm, and
 * user space folds threads into their process. */
#include "bpftop.h"

/* Wait buckets: latency_bucket() in bpftop.h, as the disk histograms. */
#define HIST_BUCKETS 128

enum cpu_counter {
    CPU_SAMPLES = 0,     /* every sample, idle ones included */
    CPU_IDLE = 1,        /* samples of the idle task */
    CPU_FILTERED = 2,    /* samples of tasks the user's filter leaves out, and of bpftop */
    CPU_WAITS = 3,       /* run-queue waits measured */
    CPU_TABLE_FULL = 4,  /* a map was full: that sample or wait is missing there */
    CPU_NR_COUNTERS = 5,
};

struct sample_key {
    u32 tgid;
    char comm[TASK_COMM_LEN];
};

struct wait_key {
    u32 tid;
    u32 bucket;
    char comm[TASK_COMM_LEN];
};

BPF_PERCPU_ARRAY(counters, u64, CPU_NR_COUNTERS);
BPF_ARRAY(filter, struct task_filter, 1);
BPF_HASH(samples, struct sample_key, u64, 16384);
#ifndef NO_RUNQ
/* When each queued thread was queued, in a direct-mapped array indexed by thread id:
 * an array slot costs far less than a hash update and delete on every context switch
 * (the hash cost ~0.3 us a switch here). Two threads queued at once whose ids share a
 * slot: the first one's wait is not measured. Nothing to free: a slot is reused. */
#define QUEUE_SLOTS 32768
struct queued {
    u32 tid;
    u32 pad;
    u64 at_ns; /* 0: not queued */
};
BPF_ARRAY(queued_at, struct queued, QUEUE_SLOTS);
BPF_F_TABLE("hash", struct wait_key, u64, thread_waits, 32768, BPF_F_NO_PREALLOC);
BPF_PERCPU_ARRAY(box_waits, u64, HIST_BUCKETS);
#endif

static __always_inline void count(u32 slot)
{
    u64 *v = counters.lookup(&slot);
    if (v)
        (*v)++;
}

int on_cpu_sample(struct bpf_perf_event_data *ctx)
{
    count(CPU_SAMPLES);
    u64 id = bpf_get_current_pid_tgid();
    if (id == 0) { /* pid 0 is each CPU's idle task */
        count(CPU_IDLE);
        return 0;
    }
    u32 zero = 0;
    struct task_filter *f = filter.lookup(&zero);
    if (f && (filter_on_task(f) || f->self_tgid) && !task_passes(f, 0)) {
        count(CPU_FILTERED);
        return 0;
    }
    struct sample_key k = {.tgid = id >> 32};
    bpf_get_current_comm(k.comm, sizeof(k.comm));
    u64 none = 0; /* lookup, else insert-if-absent, then lookup: no lost first counts */
    u64 *n = samples.lookup_or_try_init(&k, &none);
    if (n)
        __sync_fetch_and_add(n, 1);
    else
        count(CPU_TABLE_FULL);
    return 0;
}

#ifndef NO_RUNQ
static __always_inline void enqueue(u32 tid)
{
    if (tid == 0)
        return;
    u32 slot = tid & (QUEUE_SLOTS - 1);
    struct queued *q = queued_at.lookup(&slot);
    if (q) {
        q->tid = tid;
        q->at_ns = bpf_ktime_get_ns();
    }
}

TRACEPOINT_PROBE(sched, sched_wakeup)
{
    enqueue(args->pid);
    return 0;
}

TRACEPOINT_PROBE(sched, sched_wakeup_new)
{
    enqueue(args->pid);
    return 0;
}

TRACEPOINT_PROBE(sched, sched_switch)
{
    /* prev_state is 0 ("R") for a task that gave up the CPU runnable and 0x100
     * (TASK_REPORT_MAX, "R+") for a preempted one, on every kernel since 4.14 that
     * reports idle kthreads as 0x80 ("I"): the low byte alone says "still runnable". */
    if ((args->prev_state & 0xff) == 0)
        enqueue(args->prev_pid);

    u32 tid = args->next_pid;
    if (tid == 0)
        return 0;
    u32 slot = tid & (QUEUE_SLOTS - 1);
    struct queued *q = queued_at.lookup(&slot);
    if (!q || q->tid != tid || !q->at_ns)
        return 0;
    u64 waited_us = (bpf_ktime_get_ns() - q->at_ns) / 1000;
    q->at_ns = 0;
    count(CPU_WAITS);

    u32 bucket = latency_bucket(waited_us) & (HIST_BUCKETS - 1);
    u64 *box = box_waits.lookup(&bucket);
    if (box)
        (*box)++;
    struct wait_key k = {.tid = tid, .bucket = bucket};
    __builtin_memcpy(k.comm, args->next_comm, sizeof(k.comm));
    u64 none = 0;
    u64 *n = thread_waits.lookup_or_try_init(&k, &none);
    if (n)
        __sync_fetch_and_add(n, 1);
    else
        count(CPU_TABLE_FULL);
    return 0;
}
#endif
