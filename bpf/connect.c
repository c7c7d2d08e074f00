/* New TCP connections, outbound and inbound, from sock:inet_sock_set_state.
 * CLOSE->SYN_SENT runs in the connecting task, so its pid is right there and is
 * carried to SYN_SENT->ESTABLISHED (which runs in softirq). Inbound handshakes
 * complete in softirq: no task can be named, so pid stays 0 ("unknown").
 * tcp_receive_reset tells refused from timed out; tcp_retransmit_skb marks SYN
 * retries. Only tracepoint fields are read: no kernel struct offsets. */
#include "bpftop.h"

/* uapi values, defined here: including <uapi/linux/in.h> doubles the compile time. */
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define ECONNRESET 104 /* asm-generic/errno.h, the same on every architecture */
#define ETIMEDOUT 110
#define ECONNREFUSED 111

/* include/net/tcp_states.h, stable uapi-visible values */
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define TCP_LISTEN 10

#define DIR_OUT 0
#define DIR_IN 1

enum conn_result {
    RESULT_ESTABLISHED = 0,
    RESULT_REFUSED = 1, /* RST answered our SYN */
    RESULT_RESET = 2,   /* RST on an established connection */
    RESULT_TIMEOUT = 3, /* SYN retried, closed without an answer */
    RESULT_ABORTED = 4, /* closed before any answer or retry (app gave up, ICMP error) */
};

enum conn_counter {
    OUT_ESTABLISHED = 0,
    OUT_REFUSED = 1,
    OUT_TIMEOUT = 2,
    OUT_ABORTED = 3,
    IN_ESTABLISHED = 4,
    RESETS = 5,    /* all directions */
    CONN_LOST = 6,
    IN_RESETS = 7, /* the inbound ones among RESETS */
    CONN_NR_COUNTERS = 8,
};

struct conn_start {
    u64 ts_ns;
    u32 pid;
    u32 uid;
    u32 retries;
    u32 got_reset;
    char comm[TASK_COMM_LEN];
};

/* An established connection we saw open: lets a later reset name its owner. */
struct conn_owner {
    u32 pid;
    u32 uid;
    u32 direction;
    char comm[TASK_COMM_LEN];
};

struct conn_event {
    u64 ts_ns;
    u64 latency_ns; /* SYN_SENT -> answer; 0 when not measured */
    u32 pid;        /* 0: the kernel context could not name the process */
    u32 uid;
    u16 family;
    u16 sport;
    u16 dport;
    u8 direction;
    u8 result;
    u8 state;    /* TCP state the failure happened in */
    u8 listener; /* inbound: pid, uid and comm are the listening socket's owner's */
    char comm[TASK_COMM_LEN];
    u8 saddr[16];
    u8 daddr[16];
};

/* Who listens on a local TCP port: an inbound handshake completes in softirq, with no
 * task to name, and the listening socket's owner is the one process it can belong to.
 * Set here when a socket starts listening (listen() runs in its task), and seeded by
 * user space at start from /proc for the listeners that were there before. */
struct listen_key {
    u32 family;
    u32 port;
};

struct listener {
    u32 pid;
    u32 uid;
    u32 shared; /* two processes listen there (SO_REUSEPORT): owner unknown, never guessed */
    u32 pad;
    char comm[TASK_COMM_LEN];
};

BPF_PERCPU_ARRAY(counters, u64, CONN_NR_COUNTERS);
BPF_TABLE("lru_hash", u64, struct conn_start, connecting, 16384);
BPF_TABLE("lru_hash", u64, struct conn_owner, owners, 65536);
BPF_HASH(listeners, struct listen_key, struct listener, 4096);
BPF_PERCPU_ARRAY(scratch, struct conn_event, 1);
BPF_ARRAY(filter, struct task_filter, 1);
BPF_RINGBUF_OUTPUT(events, RINGBUF_PAGES);

static __always_inline void count(u32 slot)
{
    u64 *v = counters.lookup(&slot);
    if (v)
        (*v)++;
}

static __always_inline int port_passes(const struct task_filter *f, u16 sport, u16 dport)
{
    return !f->port || f->port == sport || f->port == dport;
}

/* The task filter, tested on a listener's owner instead of the current task (softirq).
 * A cgroup filter cannot be tested on another task: it never passes here. */
static __always_inline int owner_passes(const struct task_filter *f, const struct listener *l)
{
    if (f->cgroup)
        return 0;
    if (f->pid && l->pid != f->pid)
        return 0;
    if (f->uid_set && l->uid != f->uid)
        return 0;
#pragma unroll
    for (int i = 0; i < TASK_COMM_LEN; i++) {
        if (i >= f->comm_len)
            break;
        if (l->comm[i] != f->comm[i])
            return 0;
    }
    return 1;
}

static __always_inline void note_listener(u16 family, u16 port)
{
    struct listen_key key = {.family = family, .port = port};
    u64 id = bpf_get_current_pid_tgid();
    struct listener *known = listeners.lookup(&key);
    if (known) {
        if (known->pid != (u32)(id >> 32))
            known->shared = 1;
        return;
    }
    struct listener l = {.pid = id >> 32, .uid = bpf_get_current_uid_gid()};
    bpf_get_current_comm(l.comm, sizeof(l.comm));
    listeners.update(&key, &l);
}

static __always_inline struct conn_event *new_event(u16 family, u16 sport, u16 dport)
{
    u32 zero = 0;
    struct conn_event *e = scratch.lookup(&zero);
    if (!e)
        return NULL;
    __builtin_memset(e, 0, sizeof(*e));
    e->ts_ns = bpf_ktime_get_ns();
    e->family = family;
    e->sport = sport;
    e->dport = dport;
    return e;
}

/* A macro, not a function: the verifier rejects ctx pointers passed around
 * with an offset, and both tracepoints name these fields the same way. */
#define COPY_ADDRS(e, args)                                                        \
    do {                                                                           \
        if ((args)->family == AF_INET) {                                           \
            bpf_probe_read_kernel((e)->saddr, 4, (args)->saddr);                   \
            bpf_probe_read_kernel((e)->daddr, 4, (args)->daddr);                   \
        } else {                                                                   \
            bpf_probe_read_kernel((e)->saddr, 16, (args)->saddr_v6);               \
            bpf_probe_read_kernel((e)->daddr, 16, (args)->daddr_v6);               \
        }                                                                          \
    } while (0)

/* result= and errno= (bpf/bpftop.h): the outcome bits and errno of a result, as
 * bpftop/filters.py CONNECT_ERRNO names them. */
static __always_inline u32 outcome_of(u32 result)
{
    switch (result) {
    case RESULT_ESTABLISHED:
        return OUTCOME_OK;
    case RESULT_REFUSED:
        return OUTCOME_FAILED | OUTCOME_REFUSED;
    case RESULT_RESET:
        return OUTCOME_FAILED | OUTCOME_RESET;
    case RESULT_TIMEOUT:
        return OUTCOME_FAILED | OUTCOME_TIMEOUT;
    default:
        return OUTCOME_FAILED | OUTCOME_ABORTED;
    }
}

static __always_inline long errno_of(u32 result)
{
    switch (result) {
    case RESULT_REFUSED:
        return -ECONNREFUSED;
    case RESULT_RESET:
        return -ECONNRESET;
    case RESULT_TIMEOUT:
        return -ETIMEDOUT;
    default:
        return 0;
    }
}

static __always_inline void emit(struct conn_event *e)
{
    if (events.ringbuf_output(e, sizeof(*e), 0) != 0)
        count(CONN_LOST);
}

TRACEPOINT_PROBE(sock, inet_sock_set_state)
{
    if (args->protocol != IPPROTO_TCP)
        return 0;
    if (args->family != AF_INET && args->family != AF_INET6)
        return 0;
    u64 sk = (u64)args->skaddr;
    int from = args->oldstate, to = args->newstate;
    u32 zero = 0;
    struct task_filter *f = filter.lookup(&zero);

    if (to == TCP_SYN_SENT) {
        /* The only moment the connecting task is current: filtered out here, the
         * connection leaves no state, so its answer is never counted or sent. */
        if (f && (!task_passes(f, 0) || !port_passes(f, args->sport, args->dport)))
            return 0;
        struct conn_start start = {};
        u64 id = bpf_get_current_pid_tgid();
        start.ts_ns = bpf_ktime_get_ns();
        start.pid = id >> 32;
        start.uid = bpf_get_current_uid_gid();
        bpf_get_current_comm(start.comm, sizeof(start.comm));
        connecting.update(&sk, &start);
        return 0;
    }

    if (from == TCP_SYN_SENT) {
        struct conn_start *start = connecting.lookup(&sk);
        if (!start)
            return 0; /* began before bpftop attached: no pid, no latency */
        struct conn_event *e = new_event(args->family, args->sport, args->dport);
        if (!e)
            return 0;
        COPY_ADDRS(e, args);
        e->direction = DIR_OUT;
        e->pid = start->pid;
        e->uid = start->uid;
        __builtin_memcpy(e->comm, start->comm, sizeof(e->comm));
        e->latency_ns = e->ts_ns - start->ts_ns;
        e->state = TCP_SYN_SENT;
        int slow_enough = !f || !f->min_lat_ns || e->latency_ns >= f->min_lat_ns;
        if (to == TCP_ESTABLISHED) {
            /* Kept even when result= filters it out below: a later reset must find its
             * owner. Not when lat> does: its resets are filtered out with it. */
            if (slow_enough) {
                struct conn_owner owner = {.pid = start->pid, .uid = start->uid,
                                           .direction = DIR_OUT};
                __builtin_memcpy(owner.comm, start->comm, sizeof(owner.comm));
                owners.update(&sk, &owner);
            }
            e->result = RESULT_ESTABLISHED;
        } else if (start->got_reset) {
            e->result = RESULT_REFUSED;
        } else if (start->retries) {
            e->result = RESULT_TIMEOUT;
        } else {
            e->result = RESULT_ABORTED;
        }
        connecting.delete(&sk);
        if (!slow_enough || f && !outcome_passes(f, outcome_of(e->result), errno_of(e->result)))
            return 0;
        count(e->result == RESULT_ESTABLISHED ? OUT_ESTABLISHED
              : e->result == RESULT_REFUSED   ? OUT_REFUSED
              : e->result == RESULT_TIMEOUT   ? OUT_TIMEOUT
                                              : OUT_ABORTED);
        emit(e);
        return 0;
    }

    if (to == TCP_LISTEN) {
        note_listener(args->family, args->sport);
        return 0;
    }
    if (from == TCP_LISTEN && to == TCP_CLOSE) {
        struct listen_key key = {.family = args->family, .port = args->sport};
        listeners.delete(&key); /* a SO_REUSEPORT sibling may remain: then unknown */
        return 0;
    }

    if (from == TCP_SYN_RECV && to == TCP_ESTABLISHED) {
        struct listen_key key = {.family = args->family, .port = args->sport};
        struct listener *l = listeners.lookup(&key);
        int named = l && !l->shared;
        if (f && (f->min_lat_ns || !port_passes(f, args->sport, args->dport)))
            return 0;
        /* A task filter is tested on the listener's owner; unnamed, it cannot pass. */
        if (f && filter_on_task(f) && (!named || !owner_passes(f, l)))
            return 0;
        struct conn_owner owner = {.direction = DIR_IN};
        if (named) {
            owner.pid = l->pid;
            owner.uid = l->uid;
            __builtin_memcpy(owner.comm, l->comm, sizeof(owner.comm));
        }
        owners.update(&sk, &owner);
        if (f && !outcome_passes(f, OUTCOME_OK, 0))
            return 0;
        struct conn_event *e = new_event(args->family, args->sport, args->dport);
        if (!e)
            return 0;
        COPY_ADDRS(e, args);
        e->direction = DIR_IN;
        e->result = RESULT_ESTABLISHED;
        if (named) {
            e->pid = owner.pid;
            e->uid = owner.uid;
            __builtin_memcpy(e->comm, owner.comm, sizeof(e->comm));
            e->listener = 1;
        }
        count(IN_ESTABLISHED);
        emit(e);
        return 0;
    }

    if (to == TCP_CLOSE)
        owners.delete(&sk);
    return 0;
}

TRACEPOINT_PROBE(tcp, tcp_retransmit_skb)
{
    if (args->state != TCP_SYN_SENT)
        return 0;
    u64 sk = (u64)args->skaddr;
    struct conn_start *start = connecting.lookup(&sk);
    if (start)
        start->retries++;
    return 0;
}

TRACEPOINT_PROBE(tcp, tcp_receive_reset)
{
    u64 sk = (u64)args->skaddr;
    struct conn_start *start = connecting.lookup(&sk);
    if (start) {
        start->got_reset = 1; /* reported as "refused" at SYN_SENT -> CLOSE */
        return 0;
    }
    struct conn_owner *owner = owners.lookup(&sk);
    if (!owner)
        return 0; /* not a connection we saw open */
    u32 zero = 0;
    struct task_filter *f = filter.lookup(&zero);
    if (f && !outcome_passes(f, outcome_of(RESULT_RESET), errno_of(RESULT_RESET)))
        return 0;
    struct conn_event *e = new_event(args->family, args->sport, args->dport);
    if (!e)
        return 0;
    COPY_ADDRS(e, args);
    e->direction = owner->direction;
    e->pid = owner->pid;
    e->uid = owner->uid;
    __builtin_memcpy(e->comm, owner->comm, sizeof(e->comm));
    e->listener = owner->direction == DIR_IN && owner->pid; /* named after its listener */
    e->result = RESULT_RESET;
    e->state = TCP_ESTABLISHED;
    count(RESETS);
    if (owner->direction == DIR_IN)
        count(IN_RESETS);
    emit(e);
    return 0;
}
