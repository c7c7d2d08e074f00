// SPDX-License-Identifier: GPL-2.0 OR MIT
/* New TCP connections, outbound and inbound, from sock:inet_sock_set_state.
 * CLOSE->SYN_SENT runs in the connecting task, so its pid is right there and is
 * carried to SYN_SENT->ESTABLISHED (which runs in softirq). Inbound handshakes
 * complete in softirq: no task can be named, so pid stays 0 ("unknown").
 * tcp_receive_reset tells refused from timed out; tcp_retransmit_skb marks SYN
 * retries. Only tracepoint fields are read: no kernel struct offsets.
 *
 * With CONNECT_FEXIT or CONNECT_KPROBE (where the kernel has them), also the connect()
 * calls that fail at once with an errno, which the tracepoint never sees (no route:
 * ENETUNREACH) or sees only as a close (no local port left: EADDRNOTAVAIL), from
 * tcp_v{4,6}_connect's return. */
#include "bpftop.h"

/* uapi values, defined here: including <uapi/linux/in.h> doubles the compile time. */
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define ECONNRESET 104 /* asm-generic/errno.h, the same on every architecture */
#define ETIMEDOUT 110
#define ECONNREFUSED 111
#define EINPROGRESS 115

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
    RESULT_ERROR = 5,   /* connect() failed at once; err says why */
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
    OUT_ERROR = 8,
    CONN_NR_COUNTERS = 9,
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
    u16 direction;
    u16 family; /* tcp_receive_reset has no family field before 5.15 */
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
    s32 err; /* RESULT_ERROR: connect()'s negative errno */
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
#define COPY_ADDRS(e, args, family)                                                \
    do {                                                                           \
        if ((family) == AF_INET) {                                                 \
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

#if defined(CONNECT_FEXIT) || defined(CONNECT_KPROBE)
/* A connect() in progress in this thread: the socket and the address asked for. */
struct connect_call {
    u64 sk;
    u64 uaddr;  /* struct sockaddr_in{,6} in kernel memory (__sys_connect's copy) */
    u32 closed; /* the socket closed inside the call, before any answer */
};
BPF_HASH(connect_calls, u64, struct connect_call, 4096);

static __always_inline void connect_entry(void *sk, const void *uaddr)
{
    u64 tid = bpf_get_current_pid_tgid();
    struct connect_call call = {.sk = (u64)sk, .uaddr = (u64)uaddr};
    connect_calls.update(&tid, &call);
}

static __always_inline int closed_in_connect(u64 sk)
{
    u64 tid = bpf_get_current_pid_tgid();
    struct connect_call *call = connect_calls.lookup(&tid);
    if (!call || call->sk != sk)
        return 0;
    call->closed = 1;
    return 1;
}

/* connect()'s result: a failure at once is an event with its errno; a close
 * inside it with no errno (none seen) is still an abort. */
static __always_inline int connect_return(int ret)
{
    u64 tid = bpf_get_current_pid_tgid();
    struct connect_call *found = connect_calls.lookup(&tid);
    if (!found)
        return 0;
    struct connect_call call = *found;
    connect_calls.delete(&tid);
    if ((ret == 0 || ret == -EINPROGRESS) && !call.closed)
        return 0;
    u16 family = 0, dport = 0;
    bpf_probe_read_kernel(&family, sizeof(family), (void *)call.uaddr); /* sa_family */
    if (family != AF_INET && family != AF_INET6)
        return 0;
    /* sin_port and sin6_port sit at the same offset, in network order */
    bpf_probe_read_kernel(&dport, sizeof(dport), (void *)(call.uaddr + 2));
    dport = (dport >> 8) | (dport << 8);
    u32 zero = 0;
    struct task_filter *f = filter.lookup(&zero);
    u32 result = ret < 0 && ret != -EINPROGRESS ? RESULT_ERROR : RESULT_ABORTED;
    u32 outcome = result == RESULT_ERROR ? OUTCOME_FAILED | OUTCOME_ERROR
                                         : OUTCOME_FAILED | OUTCOME_ABORTED;
    if (f && (!task_passes(f, 0) || !port_passes(f, 0, dport) || f->min_lat_ns ||
              !outcome_passes(f, outcome, result == RESULT_ERROR ? ret : 0)))
        return 0;
    struct conn_event *e = new_event(family, 0, dport);
    if (!e)
        return 0;
    if (family == AF_INET)
        bpf_probe_read_kernel(e->daddr, 4, (void *)(call.uaddr + 4)); /* sin_addr */
    else
        bpf_probe_read_kernel(e->daddr, 16, (void *)(call.uaddr + 8)); /* sin6_addr */
    u64 id = bpf_get_current_pid_tgid();
    e->pid = id >> 32;
    e->uid = bpf_get_current_uid_gid();
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    e->direction = DIR_OUT;
    e->result = result;
    e->err = result == RESULT_ERROR ? ret : 0;
    e->state = call.closed ? TCP_SYN_SENT : TCP_CLOSE;
    count(result == RESULT_ERROR ? OUT_ERROR : OUT_ABORTED);
    emit(e);
    return 0;
}
#else
static __always_inline int closed_in_connect(u64 sk)
{
    return 0;
}
#endif

#ifdef CONNECT_FEXIT
KFUNC_PROBE(tcp_v4_connect, void *sk, const void *uaddr)
{
    connect_entry(sk, uaddr);
    return 0;
}

KRETFUNC_PROBE(tcp_v4_connect, void *sk, const void *uaddr, int addr_len, int ret)
{
    return connect_return(ret);
}

KFUNC_PROBE(tcp_v6_connect, void *sk, const void *uaddr)
{
    connect_entry(sk, uaddr);
    return 0;
}

KRETFUNC_PROBE(tcp_v6_connect, void *sk, const void *uaddr, int addr_len, int ret)
{
    return connect_return(ret);
}
#endif

#ifdef CONNECT_KPROBE
#include <uapi/linux/ptrace.h> /* struct pt_regs, for PT_REGS_RC */

int kprobe__tcp_v4_connect(struct pt_regs *ctx, void *sk, const void *uaddr)
{
    connect_entry(sk, uaddr);
    return 0;
}

int kretprobe__tcp_v4_connect(struct pt_regs *ctx)
{
    return connect_return(PT_REGS_RC(ctx));
}

int kprobe__tcp_v6_connect(struct pt_regs *ctx, void *sk, const void *uaddr)
{
    connect_entry(sk, uaddr);
    return 0;
}

int kretprobe__tcp_v6_connect(struct pt_regs *ctx)
{
    return connect_return(PT_REGS_RC(ctx));
}
#endif

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
        COPY_ADDRS(e, args, args->family);
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
                                           .direction = DIR_OUT,
                                           .family = args->family};
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
            if (closed_in_connect(sk)) {
                connecting.delete(&sk);
                return 0; /* connect() returns its errno: reported there */
            }
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
        /* A task filter is tested on the listener's owner; unnamed, it cannot pass.
         * Connections to bpftop's own listener (--serve's scrapes) are bpftop's. */
        if (f && filter_on_task(f) && (!named || !owner_passes(f, l)))
            return 0;
        if (f && named && f->self_tgid && l->pid == f->self_tgid)
            return 0;
        struct conn_owner owner = {.direction = DIR_IN, .family = args->family};
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
        COPY_ADDRS(e, args, args->family);
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
    struct conn_event *e = new_event(owner->family, args->sport, args->dport);
    if (!e)
        return 0;
    COPY_ADDRS(e, args, owner->family);
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
