// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Block I/O latency, aggregated in the kernel: no event per I/O reaches user space
 * except the slow ones the user asked for (latency >= config[CFG_SLOW_NS]).
 *
 * Tracepoints only (block_io_start, block_rq_issue/complete/merge/requeue; insert
 * before 6.5); they give dev + sector but no request pointer, so in-flight requests
 * are found by (dev, sector) in a bounded array (below) and freed on completion or
 * merge. A request whose start was never seen (in flight at attach, slot taken by
 * another) is still counted with its bytes, as "untimed".
 *
 * The submitter is named only from block_io_start (6.5+), or before it from
 * block_bio_queue, which run in the task that submitted the bio (not the kworker
 * that may issue it later). Without them (iostats off for the queue, or the last
 * plan step) the pid stays 0: "unknown", never a guess.
 *
 * The `dev` of these tracepoints is the whole disk: partitions are folded in. */
#include "bpftop.h"

#define OP_READ 0
#define OP_WRITE 1
#define OP_DISCARD 2
#define OP_OTHER 3 /* flush and the rest */

/* Latency buckets: latency_bucket() in bpftop.h. */
#define HIST_BUCKETS 128

enum disk_counter {
    DISK_IOS = 0,
    DISK_UNTIMED = 1,  /* completions whose start was never seen */
    DISK_MERGED = 2,   /* requests merged into another one (their entry dropped) */
    DISK_REQUEUED = 3,
    DISK_TABLE_FULL = 4, /* an aggregation map was full: that I/O is missing there */
    DISK_COLLIDED = 5,   /* an in-flight slot was taken by another request */
    DISK_LOST = 6,       /* slow-I/O events the ring buffer had no room for */
    DISK_NR_COUNTERS = 7,
};

enum disk_config {
    CFG_SLOW_NS = 0, /* 0: no slow-I/O events and no per-process slow counts */
    CFG_EPOCH = 1,   /* bumped by user space each interval: picks the max_ns slot */
    CFG_NR = 2,
};

/* In-flight requests live in a direct-mapped array, not a hash map: on this
 * kernel a hash update + lookup + delete per I/O cost ~300 ns, an array slot far less.
 * Two requests in flight that hash to one slot: the older one loses its start
 * and completes untimed (counted). A leaked entry is simply overwritten later,
 * so nothing can fill up. */
#define INFLIGHT_BITS 14
#define INFLIGHT_SLOTS (1 << INFLIGHT_BITS)

struct rq_slot {
    u64 start_ns; /* 0: free. block_io_start, else insert, else issue */
    u64 issue_ns;
    u64 sector;
    u32 dev;
    u32 pid;      /* 0 unless block_io_start named the submitter */
    u32 filtered; /* the submitter did not pass the user's task filter */
    char comm[TASK_COMM_LEN];
};

struct dev_key {
    u32 dev;
    u32 op;
};

/* Per CPU, so no atomics; user space sums the CPUs and never writes here. */
struct dev_agg {
    u64 ios;
    u64 bytes;
    u64 errors;
    u64 timed;     /* ios with a latency */
    u64 lat_ns;    /* sum over the timed ones */
    u64 split;     /* ios where queue and device time are both known */
    u64 queue_ns;  /* start -> issue, over `split` */
    u64 device_ns; /* issue -> complete, over `split` */
    /* The max of the interval with number `max_epoch[i]`, in slot epoch & 1: user
     * space reads the slot of the epoch that just ended, nobody resets anything. */
    u64 max_epoch[2];
    u64 max_ns[2];
    u64 hist[HIST_BUCKETS];
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
BPF_ARRAY(inflight, struct rq_slot, INFLIGHT_SLOTS);
/* No prealloc: per-CPU values of ~1 KiB are allocated only for devices doing I/O. */
BPF_F_TABLE("percpu_hash", struct dev_key, struct dev_agg, dev_totals, 1024, BPF_F_NO_PREALLOC);
BPF_HASH(proc_totals, struct proc_key, struct proc_stats, 10240);
BPF_PERCPU_ARRAY(zero_agg, struct dev_agg, 1); /* never written: too big for the stack */
BPF_ARRAY(filter, struct task_filter, 1);
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

/* The block layer's own flush request ("FF": REQ_OP_FLUSH | REQ_PREFLUSH), issued on
 * behalf of the requests that asked for a cache flush (an fsync's empty write, a write
 * with PREFLUSH). Each of those completes again when its flush is done, and is counted
 * then, with its submitter and its latency; counting this one as well made every flush
 * two I/Os, one of them untimed (`disk_ios_total{op="other"}` twice its histogram). */
static __always_inline int is_flush_request(const char *rwbs)
{
    return rwbs[0] == 'F' && rwbs[1] == 'F';
}


/* Neighbouring 4 KiB requests get neighbouring slots: sequential I/O stays in a few
 * cache lines (a scattering hash cost ~50 ns more per I/O in the benchmark). The
 * device picks the starting point, from the high bits of a multiplicative hash: a
 * loop device and the disk under it see the same offsets at the same time. */
static __always_inline u32 slot_of(u32 dev, u64 sector)
{
    u32 base = (dev * 0x9E3779B1U) >> (32 - INFLIGHT_BITS);
    return ((sector >> 3) ^ base) & (INFLIGHT_SLOTS - 1);
}

/* The slot of this request if it holds this request, else NULL. */
static __always_inline struct rq_slot *find(u32 dev, u64 sector)
{
    u32 idx = slot_of(dev, sector);
    struct rq_slot *s = inflight.lookup(&idx);
    if (!s || !s->start_ns || s->dev != dev || s->sector != sector)
        return NULL;
    return s;
}

static __always_inline void claim(u32 dev, u64 sector, u64 start_ns, u64 issue_ns, int named)
{
    u32 idx = slot_of(dev, sector);
    struct rq_slot *s = inflight.lookup(&idx);
    if (!s)
        return;
    if (s->start_ns && (s->dev != dev || s->sector != sector))
        count(DISK_COLLIDED); /* another request in flight loses its start */
    s->start_ns = 0;
    s->dev = dev;
    s->sector = sector;
    s->issue_ns = issue_ns;
    s->pid = 0;
    u32 zero = 0;
    struct task_filter *f = filter.lookup(&zero);
    /* With a task filter, an I/O whose submitter is unknown cannot pass: never a guess.
     * bpftop's own I/O (its compile cache, a bundle) never does. */
    s->filtered = f && (filter_on_task(f) ? !named || !task_passes(f, 0) : named && task_is_self(f));
    if (named) {
        s->pid = bpf_get_current_pid_tgid() >> 32;
        bpf_get_current_comm(s->comm, sizeof(s->comm));
    }
    s->start_ns = start_ns; /* last: the slot is complete */
}

#if defined(BIO_QUEUE_START)
/* Before 6.5: block_bio_queue also runs in the submitting task, once per bio. The
 * first bio of a request gives the request its sector, so its slot is the request's.
 * A bio merged into a request already queued frees the slot it took (below); a bio on
 * a bio-based device (dm, md) never completes there, and its slot is overwritten. */
TRACEPOINT_PROBE(block, block_bio_queue)
{
    claim(args->dev, args->sector, bpf_ktime_get_ns(), 0, 1);
    return 0;
}

TRACEPOINT_PROBE(block, block_bio_backmerge)
{
    struct rq_slot *s = find(args->dev, args->sector);
    if (s)
        s->start_ns = 0;
    return 0;
}
#elif !defined(NO_IO_START) /* 6.5+: runs in the task that submitted the I/O */
TRACEPOINT_PROBE(block, block_io_start)
{
    claim(args->dev, args->sector, bpf_ktime_get_ns(), 0, 1);
    return 0;
}
#else
TRACEPOINT_PROBE(block, block_rq_insert)
{
    claim(args->dev, args->sector, bpf_ktime_get_ns(), 0, 0);
    return 0;
}
#endif

TRACEPOINT_PROBE(block, block_rq_issue)
{
    u64 now = bpf_ktime_get_ns();
    struct rq_slot *s = find(args->dev, args->sector);
    if (s)
        s->issue_ns = now;
    else if (is_flush_request(args->rwbs))
        return 0; /* never completes as an I/O of its own (is_flush_request) */
    else /* first seen here: latency from issue, no queue/device split */
        claim(args->dev, args->sector, now, now, 0);
    return 0;
}

TRACEPOINT_PROBE(block, block_rq_requeue)
{
    /* It will be issued again; the device time restarts then. */
    struct rq_slot *s = find(args->dev, args->sector);
    if (s)
        s->issue_ns = 0;
    count(DISK_REQUEUED);
    return 0;
}

TRACEPOINT_PROBE(block, block_rq_merge)
{
    /* `args` is the request merged away; its I/O completes as part of another. */
    struct rq_slot *s = find(args->dev, args->sector);
    if (s) {
        s->start_ns = 0;
        count(DISK_MERGED);
    }
    return 0;
}

static __always_inline void add_dev(u32 dev, u32 op, u64 bytes, int error, u64 lat, u64 queue,
                                    u64 device, int timed, int split)
{
    /* The epoch first: if user space flips it while this I/O is being counted, the
     * I/O lands in the next interval's counts but in this interval's max, so a max
     * can only err upwards, never miss an I/O its interval counted. */
    u64 epoch = config_value(CFG_EPOCH);
    struct dev_key k = {.dev = dev, .op = op};
    struct dev_agg *d = dev_totals.lookup(&k);
    if (!d) {
        u32 first = 0;
        struct dev_agg *zero = zero_agg.lookup(&first);
        if (zero)
            dev_totals.insert(&k, zero);
        d = dev_totals.lookup(&k);
        if (!d) {
            count(DISK_TABLE_FULL);
            return;
        }
    }
    d->ios++;
    d->bytes += bytes;
    if (error)
        d->errors++;
    if (split) {
        d->split++;
        d->queue_ns += queue;
        d->device_ns += device;
    }
    if (!timed)
        return;
    d->timed++;
    d->lat_ns += lat;
    /* latency_bucket() is < 124; the mask is what lets the verifier see that. */
    d->hist[latency_bucket(lat / 1000) & (HIST_BUCKETS - 1)]++;
    u32 m = epoch & 1;
    if (d->max_epoch[m] != epoch) {
        d->max_epoch[m] = epoch;
        d->max_ns[m] = lat;
    } else if (d->max_ns[m] < lat) {
        d->max_ns[m] = lat;
    }
}

static __always_inline void add_proc(u32 pid, const char *comm, u32 dev, u32 op, u64 bytes,
                                     u64 lat, int timed, u64 slow_ns)
{
    struct proc_key pk = {.pid = pid, .dev = dev, .op = op};
    if (pid)
        __builtin_memcpy(pk.comm, comm, sizeof(pk.comm));
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
    if (is_flush_request(args->rwbs))
        return 0;
    u64 now = bpf_ktime_get_ns();
    u32 dev = args->dev;
    u64 sector = args->sector;
    u64 bytes = (u64)args->nr_sector << 9;
    /* An empty write is a cache flush ("FWS"): count it with the flushes. */
    u32 op = bytes ? op_of(args->rwbs) : OP_OTHER;
    int error = args->error;
    struct rq_slot *s = find(dev, sector);
    u32 zero = 0;
    struct task_filter *f = filter.lookup(&zero);
    if (f && (f->dev && f->dev != dev || (s ? s->filtered : filter_on_task(f)))) {
        if (s)
            s->start_ns = 0;
        return 0; /* filtered out: the device and process tables only hold what passes */
    }

    count(DISK_IOS);
    if (!s) {
        count(DISK_UNTIMED);
        add_dev(dev, op, bytes, error, 0, 0, 0, 0, 0);
        add_proc(0, NULL, dev, op, bytes, 0, 0, 0);
        return 0;
    }
    /* Copy out and free the slot before anything else can reuse it. */
    u64 start_ns = s->start_ns, issue_ns = s->issue_ns;
    u32 pid = s->pid;
    char comm[TASK_COMM_LEN];
    __builtin_memcpy(comm, s->comm, sizeof(comm));
    s->start_ns = 0;

    u64 lat = now - start_ns;
    int split = issue_ns != 0 && issue_ns != start_ns;
    u64 queue = split ? issue_ns - start_ns : 0;
    u64 device = split ? now - issue_ns : 0;
    u64 slow_ns = config_value(CFG_SLOW_NS);
    /* A latency filter raises the bar for slow-I/O events only: the device
     * histograms keep every I/O, or their percentiles would lie. */
    u64 event_ns = slow_ns;
    if (f && f->min_lat_ns > event_ns)
        event_ns = f->min_lat_ns;

    add_dev(dev, op, bytes, error, lat, queue, device, 1, split);
    add_proc(pid, comm, dev, op, bytes, lat, 1, slow_ns);

    if (event_ns && lat >= event_ns) {
        struct slow_event *e = events.ringbuf_reserve(sizeof(struct slow_event));
        if (!e) {
            count(DISK_LOST);
            return 0;
        }
        e->ts_ns = now;
        e->lat_ns = lat;
        e->queue_ns = queue;
        e->sector = sector;
        e->dev = dev;
        e->pid = pid;
        e->bytes = bytes;
        e->error = error;
        e->op = op;
        __builtin_memcpy(e->comm, comm, sizeof(e->comm));
        events.ringbuf_submit(e, 0);
    }
    return 0;
}
