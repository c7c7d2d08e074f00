/* Block I/O latency, aggregated in the kernel: no event per I/O reaches user space
 * except the slow ones the user asked for (latency >= config[CFG_SLOW_NS]).
 *
 * Tracepoints only (block_io_start, block_rq_insert/issue/complete/merge/requeue);
 * they give dev + sector but no request pointer, so in-flight requests are keyed by
 * (dev, sector) in a bounded LRU map and removed on completion or merge. A request
 * whose start was never seen (in flight at attach, evicted, key clash) is still
 * counted with its bytes, as "untimed".
 *
 * The submitter is named only from block_io_start, which runs in the task that
 * submitted the bio (not the kworker that may issue it later). Without it (iostats
 * off for the queue) the pid stays 0: "unknown", never a guess.
 *
 * The `dev` of these tracepoints is the whole disk: partitions are folded in. */
#include "bpftop.h"

#define OP_READ 0
#define OP_WRITE 1
#define OP_DISCARD 2
#define OP_OTHER 3 /* flush and the rest */

/* Latency buckets in microseconds: exact below 4 us, then 4 per power of two
 * (each ~19% wide), so p99 from the histogram is within a fifth of the truth. */
#define HIST_BUCKETS 128

enum disk_counter {
    DISK_IOS = 0,
    DISK_UNTIMED = 1,  /* completions whose start was never seen */
    DISK_MERGED = 2,   /* requests merged into another one (their entry dropped) */
    DISK_REQUEUED = 3,
    DISK_TABLE_FULL = 4, /* an aggregation map was full: that I/O is missing there */
    DISK_LOST = 5,       /* slow-I/O events the ring buffer had no room for */
    DISK_NR_COUNTERS = 6,
};

enum disk_config {
    CFG_SLOW_NS = 0, /* 0: no slow-I/O events and no per-process slow counts */
    CFG_EPOCH = 1,   /* bumped by user space each interval: picks the `max_lat` slot */
    CFG_NR = 2,
};

struct rq_key {
    u32 dev;
    u32 pad;
    u64 sector;
};

struct rq_start {
    u64 start_ns; /* block_io_start, else insert, else issue: the first one seen */
    u64 issue_ns;
    u32 pid;      /* 0 unless block_io_start named the submitter */
    u32 pad;
    char comm[TASK_COMM_LEN];
};

struct dev_key {
    u32 dev;
    u32 op;
};

struct dev_stats {
    u64 ios;
    u64 bytes;
    u64 errors;
    u64 timed;     /* ios with a latency */
    u64 lat_ns;    /* sum over the timed ones */
    u64 split;     /* ios where queue and device time are both known */
    u64 queue_ns;  /* start -> issue, over `split` */
    u64 device_ns; /* issue -> complete, over `split` */
};

struct hist_key {
    u32 dev;
    u16 op;
    u16 bucket;
};

struct max_key {
    u32 dev;
    u32 op;
    u64 epoch;
};

struct proc_key {
    u32 pid;
    u32 dev;
    u32 op;
    char comm[TASK_COMM_LEN];
};

struct proc_stats {
    u64 ios;
    u64 bytes;
    u64 timed;
    u64 lat_ns;
    u64 slow;
};

struct slow_event {
    u64 ts_ns;
    u64 lat_ns;
    u64 queue_ns; /* 0 when not known */
    u64 sector;
    u32 dev;
    u32 pid;
    u32 bytes;
    s32 error;
    u8 op;
    char comm[TASK_COMM_LEN];
};

BPF_PERCPU_ARRAY(counters, u64, DISK_NR_COUNTERS);
BPF_ARRAY(config, u64, CFG_NR);
BPF_TABLE("lru_hash", struct rq_key, struct rq_start, inflight, 16384);
BPF_HASH(dev_totals, struct dev_key, struct dev_stats, 1024);
BPF_HASH(hist, struct hist_key, u64, 16384);
BPF_PERCPU_HASH(max_lat, struct max_key, u64, 2048);
BPF_HASH(proc_totals, struct proc_key, struct proc_stats, 10240);
BPF_RINGBUF_OUTPUT(events, RINGBUF_PAGES);

static __always_inline void count(u32 slot)
{
    u64 *v = counters.lookup(&slot);
    if (v)
        (*v)++;
}

static __always_inline u64 config_value(u32 slot)
{
    u64 *v = config.lookup(&slot);
    return v ? *v : 0;
}

/* rwbs is "[F]<op>[F][A][S][M]": an optional preflush F, then the op letter. */
static __always_inline u32 op_of(const char *rwbs)
{
    char c = rwbs[0] == 'F' ? rwbs[1] : rwbs[0];
    if (c == 'R')
        return OP_READ;
    if (c == 'W')
        return OP_WRITE;
    if (c == 'D')
        return OP_DISCARD;
    return OP_OTHER;
}

static __always_inline u16 bucket_of(u64 us)
{
    if (us < 4)
        return us;
    u32 slot = bpf_log2l(us) - 1; /* bcc's bpf_log2l is floor(log2(v)) + 1 */
    if (slot > 31)
        slot = 31;
    u32 sub = (us >> (slot - 2)) & 3;
    return (slot - 1) * 4 + sub;
}


#ifndef NO_IO_START /* 6.5+; without it no pid is known */
TRACEPOINT_PROBE(block, block_io_start)
{
    struct rq_key key = {.dev = args->dev, .sector = args->sector};
    struct rq_start fresh = {.start_ns = bpf_ktime_get_ns()};
    fresh.pid = bpf_get_current_pid_tgid() >> 32;
    bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
    inflight.update(&key, &fresh);
    return 0;
}
#endif

TRACEPOINT_PROBE(block, block_rq_insert)
{
    /* Only when block_io_start did not already start the clock (iostats off). */
    struct rq_key key = {.dev = args->dev, .sector = args->sector};
    struct rq_start fresh = {.start_ns = bpf_ktime_get_ns()};
    inflight.insert(&key, &fresh);
    return 0;
}

TRACEPOINT_PROBE(block, block_rq_issue)
{
    struct rq_key key = {.dev = args->dev, .sector = args->sector};
    u64 now = bpf_ktime_get_ns();
    struct rq_start *s = inflight.lookup(&key);
    if (s) {
        s->issue_ns = now;
        return 0;
    }
    /* First seen here: latency from issue, no queue/device split. */
    struct rq_start fresh = {.start_ns = now, .issue_ns = now};
    inflight.update(&key, &fresh);
    return 0;
}

TRACEPOINT_PROBE(block, block_rq_requeue)
{
    /* It will be issued again; the device time restarts then. */
    struct rq_key key = {.dev = args->dev, .sector = args->sector};
    struct rq_start *s = inflight.lookup(&key);
    if (s)
        s->issue_ns = 0;
    count(DISK_REQUEUED);
    return 0;
}

TRACEPOINT_PROBE(block, block_rq_merge)
{
    /* `args` is the request merged away; its I/O completes as part of another. */
    struct rq_key key = {.dev = args->dev, .sector = args->sector};
    if (inflight.delete(&key) == 0)
        count(DISK_MERGED);
    return 0;
}

static __always_inline void add_dev(struct dev_key *k, u64 bytes, int error, u64 lat, u64 queue,
                                    u64 device, int timed, int split)
{
    struct dev_stats zero = {};
    struct dev_stats *d = dev_totals.lookup_or_try_init(k, &zero);
    if (!d) {
        count(DISK_TABLE_FULL);
        return;
    }
    __sync_fetch_and_add(&d->ios, 1);
    __sync_fetch_and_add(&d->bytes, bytes);
    if (error)
        __sync_fetch_and_add(&d->errors, 1);
    if (timed) {
        __sync_fetch_and_add(&d->timed, 1);
        __sync_fetch_and_add(&d->lat_ns, lat);
    }
    if (split) {
        __sync_fetch_and_add(&d->split, 1);
        __sync_fetch_and_add(&d->queue_ns, queue);
        __sync_fetch_and_add(&d->device_ns, device);
    }
}

static __always_inline void add_latency(u32 dev, u32 op, u64 lat)
{
    struct hist_key hk = {.dev = dev, .op = op, .bucket = bucket_of(lat / 1000)};
    u64 zero = 0;
    u64 *n = hist.lookup_or_try_init(&hk, &zero);
    if (n)
        __sync_fetch_and_add(n, 1);
    else
        count(DISK_TABLE_FULL);

    struct max_key mk = {.dev = dev, .op = op, .epoch = config_value(CFG_EPOCH) & 1};
    u64 *m = max_lat.lookup_or_try_init(&mk, &zero);
    if (m && *m < lat)
        *m = lat; /* per-CPU value: no other writer */
}

static __always_inline void add_proc(struct rq_start *s, u32 dev, u32 op, u64 bytes, u64 lat,
                                     int timed, u64 slow_ns)
{
    struct proc_key pk = {.pid = s->pid, .dev = dev, .op = op};
    __builtin_memcpy(pk.comm, s->comm, sizeof(pk.comm));
    struct proc_stats zero = {};
    struct proc_stats *p = proc_totals.lookup_or_try_init(&pk, &zero);
    if (!p) {
        count(DISK_TABLE_FULL);
        return;
    }
    __sync_fetch_and_add(&p->ios, 1);
    __sync_fetch_and_add(&p->bytes, bytes);
    if (timed) {
        __sync_fetch_and_add(&p->timed, 1);
        __sync_fetch_and_add(&p->lat_ns, lat);
        if (slow_ns && lat >= slow_ns)
            __sync_fetch_and_add(&p->slow, 1);
    }
}

TRACEPOINT_PROBE(block, block_rq_complete)
{
    u64 now = bpf_ktime_get_ns();
    u32 dev = args->dev;
    u64 bytes = (u64)args->nr_sector << 9;
    /* An empty write is a cache flush ("FWS"): count it with the flushes. */
    u32 op = bytes ? op_of(args->rwbs) : OP_OTHER;
    int error = args->error;
    struct dev_key dk = {.dev = dev, .op = op};
    struct rq_key key = {.dev = dev, .sector = args->sector};
    struct rq_start *s = inflight.lookup(&key);

    count(DISK_IOS);
    if (!s) {
        count(DISK_UNTIMED);
        add_dev(&dk, bytes, error, 0, 0, 0, 0, 0);
        struct rq_start unknown = {};
        add_proc(&unknown, dev, op, bytes, 0, 0, 0);
        return 0;
    }

    u64 lat = now - s->start_ns;
    int split = s->issue_ns != 0 && s->issue_ns != s->start_ns;
    u64 queue = split ? s->issue_ns - s->start_ns : 0;
    u64 device = split ? now - s->issue_ns : 0;
    u64 slow_ns = config_value(CFG_SLOW_NS);

    add_dev(&dk, bytes, error, lat, queue, device, 1, split);
    add_latency(dev, op, lat);
    add_proc(s, dev, op, bytes, lat, 1, slow_ns);

    if (slow_ns && lat >= slow_ns) {
        struct slow_event *e = events.ringbuf_reserve(sizeof(struct slow_event));
        if (e) {
            e->ts_ns = now;
            e->lat_ns = lat;
            e->queue_ns = queue;
            e->sector = args->sector;
            e->dev = dev;
            e->pid = s->pid;
            e->bytes = bytes;
            e->error = error;
            e->op = op;
            __builtin_memcpy(e->comm, s->comm, sizeof(e->comm));
            events.ringbuf_submit(e, 0);
        } else {
            count(DISK_LOST);
        }
    }
    inflight.delete(&key);
    return 0;
}
