// SPDX-License-Identifier: GPL-2.0 OR MIT
/* XDP trouble the kernel reports through tracepoints, for any XDP program on any
 * interface (bpftop's or someone else's), counted in the kernel per interface:
 *  - xdp:xdp_exception: a program returned XDP_ABORTED or an invalid action;
 *  - xdp:xdp_redirect_err: an XDP_REDIRECT that failed.
 * Also, where tracing programs load, every action of foreign XDP programs (below).
 * Nothing is sent per packet; the ring buffer exists only because every probe has one. */
#include "bpftop.h"

#define MAX_ACTION 4 /* XDP_ABORTED, DROP, PASS, TX, REDIRECT; above: invalid */

struct xdp_key {
    s32 ifindex;
    u32 what; /* 0..4: xdp_exception with that action, 5: invalid action, 6: redirect error */
};

BPF_PERCPU_ARRAY(counters, u64, 1);
BPF_PERCPU_HASH(xdp_events, struct xdp_key, u64, 4096);
BPF_RINGBUF_OUTPUT(events, 1);

static __always_inline void bump(s32 ifindex, u32 what)
{
    struct xdp_key k = {.ifindex = ifindex, .what = what};
    u64 zero = 0;
    u64 *n = xdp_events.lookup_or_try_init(&k, &zero);
    if (n)
        (*n)++;
}

TRACEPOINT_PROBE(xdp, xdp_exception)
{
    bump(args->ifindex, args->act <= MAX_ACTION ? args->act : MAX_ACTION + 1);
    return 0;
}

TRACEPOINT_PROBE(xdp, xdp_redirect_err)
{
    bump(args->ifindex, MAX_ACTION + 2);
    return 0;
}


/* Every action of someone else's XDP program: fexit on it. A template, loaded once per
 * foreign program by bpftop/probes/fexit_on_prog.py where tracing programs load, with
 * FEXIT_TARGET patched to that program's id. ctx[1] is the action it returned. No
 * kernel struct is read: the headers that define xdp_buff do not compile with bcc on
 * every kernel (6.12's linux/bpf.h), and the program id names the interface. */
#define FEXIT_TARGET 0x5b7e7a26 /* bpftop/probes/xdp_probe.py FEXIT_TARGET */

struct fexit_key {
    u32 prog_id;
    u32 action; /* MAX_ACTION + 1 for an invalid one */
};

BPF_PERCPU_HASH(fexit_actions, struct fexit_key, u64, 1024);

int xdp_fexit(u64 *ctx)
{
    u32 action = (u32)ctx[1];
    struct fexit_key k = {.prog_id = FEXIT_TARGET,
                          .action = action <= MAX_ACTION ? action : MAX_ACTION + 1};
    u64 zero = 0;
    u64 *n = fexit_actions.lookup_or_try_init(&k, &zero);
    if (n)
        (*n)++;
    return 0;
}
