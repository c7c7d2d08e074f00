// SPDX-License-Identifier: GPL-2.0 OR MIT
/* bpftop's own XDP program, attached only when the user asks, on an interface that
 * has no XDP program, through a bpf_link (gone with bpftop's last fd). It counts
 * packets by action, protocol and IPv4 source and passes everything, except what a drop rule
 * matches; drops are counted per rule. Rules live in `rules`, written by bpftop. */
#include <uapi/linux/if_ether.h>
#include <uapi/linux/ip.h>
#include <uapi/linux/in.h>
#include <uapi/linux/udp.h>
#include <uapi/linux/tcp.h>

#define MAX_RULES 16

enum xdp_counter_slot {
    CNT_PASS = 0,
    CNT_DROP = 1,
    CNT_TCP = 2,
    CNT_UDP = 3,
    CNT_ICMP = 4,
    CNT_OTHER_IP = 5,
    CNT_NOT_IP = 6,
    CNT_NR = 7,
};

/* A rule matches when every field it sets matches; an unused rule has used == 0. */
struct drop_rule {
    u32 used;
    u32 proto;  /* IPPROTO_*; 0: any */
    u32 port;   /* destination port, host order; 0: any (TCP/UDP only) */
    u32 src;    /* IPv4 source network, network order */
    u32 mask;   /* its mask, network order; 0: any source */
};

BPF_PERCPU_ARRAY(xdp_counts, u64, CNT_NR);
BPF_PERCPU_ARRAY(rule_drops, u64, MAX_RULES);
BPF_ARRAY(rules, struct drop_rule, MAX_RULES);
/* Packets per IPv4 source; the least recently seen sources make room for new ones. */
BPF_TABLE("lru_percpu_hash", u32, u64, sources, 4096);

static __always_inline void add(u32 slot)
{
    u64 *n = xdp_counts.lookup(&slot);
    if (n)
        (*n)++;
}

int bpftop_xdp(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    void *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end)
        goto pass;
    if (eth->h_proto != htons(ETH_P_IP)) {
        add(CNT_NOT_IP);
        goto pass;
    }
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end)
        goto pass;
    u32 saddr = ip->saddr;
    u64 one = 1;
    u64 *seen = sources.lookup(&saddr);
    if (seen)
        (*seen)++;
    else
        sources.update(&saddr, &one);
    u32 proto = ip->protocol;
    u32 port = 0;
    void *l4 = (void *)ip + ip->ihl * 4;
    if (proto == IPPROTO_UDP) {
        add(CNT_UDP);
        struct udphdr *udp = l4;
        if ((void *)(udp + 1) <= end)
            port = ntohs(udp->dest);
    } else if (proto == IPPROTO_TCP) {
        add(CNT_TCP);
        struct tcphdr *tcp = l4;
        if ((void *)(tcp + 1) <= end)
            port = ntohs(tcp->dest);
    } else if (proto == IPPROTO_ICMP) {
        add(CNT_ICMP);
    } else {
        add(CNT_OTHER_IP);
    }

#pragma unroll
    for (u32 i = 0; i < MAX_RULES; i++) {
        u32 key = i;
        struct drop_rule *r = rules.lookup(&key);
        if (!r || !r->used)
            continue;
        if (r->proto && r->proto != proto)
            continue;
        if (r->port && r->port != port)
            continue;
        if (r->mask && (ip->saddr & r->mask) != r->src)
            continue;
        u64 *n = rule_drops.lookup(&key);
        if (n)
            (*n)++;
        add(CNT_DROP);
        return XDP_DROP;
    }
pass:
    add(CNT_PASS);
    return XDP_PASS;
}
