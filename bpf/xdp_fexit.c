/* Every action of someone else's XDP program: fexit on it. A template, compiled only
 * where tracing programs load and a foreign program is there, and loaded once per
 * foreign program by bpftop/probes/fexit_on_prog.py. ctx[0] is the program's
 * xdp_buff, ctx[1] the action it returned. Apart from xdp.c because the headers that
 * define xdp_buff make a compile ~7x slower (1.1 s against 0.17 s on the dev machine),
 * and most boxes have no XDP program at all. */
#include <linux/netdevice.h>
#include <net/xdp.h>

#define MAX_ACTION 4 /* XDP_ABORTED, DROP, PASS, TX, REDIRECT; above: invalid */

struct xdp_key {
    s32 ifindex;
    u32 what; /* the action returned, MAX_ACTION + 1 for an invalid one */
};

BPF_PERCPU_HASH(fexit_actions, struct xdp_key, u64, 1024);

int xdp_fexit(u64 *ctx)
{
    struct xdp_buff *xdp = (struct xdp_buff *)ctx[0];
    struct xdp_rxq_info *rxq = NULL;
    struct net_device *dev = NULL;
    u32 action = (u32)ctx[1];
    struct xdp_key k = {.what = action <= MAX_ACTION ? action : MAX_ACTION + 1};
    bpf_probe_read_kernel(&rxq, sizeof(rxq), &xdp->rxq);
    if (rxq)
        bpf_probe_read_kernel(&dev, sizeof(dev), &rxq->dev);
    if (dev)
        bpf_probe_read_kernel(&k.ifindex, sizeof(k.ifindex), &dev->ifindex);
    u64 zero = 0;
    u64 *n = fexit_actions.lookup_or_try_init(&k, &zero);
    if (n)
        (*n)++;
    return 0;
}
