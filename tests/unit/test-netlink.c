/* SPDX-License-Identifier: MIT */
/*
 * Netlink requests after an aborted dump, against the real kernel: in a fresh network
 * namespace of its own (root only; a TAP skip otherwise) the test puts 1,786 documentation
 * addresses on lo, so that one address dump spans several datagrams, stops dumps part-way
 * through with a callback error, and checks that every later request on the same socket
 * still gets its own answer (no EPROTO from the stale rest, no EBUSY from a dump the kernel
 * still runs, no stale addresses counted into the next dump).
 */
#include <errno.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netlink.h"
#include "netns.h"
#include "tap.h"

#define N_V4 (3 * 254)
#define N_V6 1024
#define N_ALL (N_V4 + N_V6)

static u128 v4_addr(int i)
{
        static const uint32_t nets[] = {0xc0000200, 0xc6336400, 0xcb007100}; /* RFC 5737 */

        return addr_from_v4(nets[i / 254] | (uint32_t)(i % 254 + 1));
}

static u128 v6_addr(int i)
{
        uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8, [13] = 1}; /* 2001:db8::1:0/112 */

        b[14] = (uint8_t)(i >> 8);
        b[15] = (uint8_t)i;
        return addr_from_bytes(AF_INET6, b);
}

static bool is_ours(u128 a)
{
        char buf[ADDR_STR_MAX];
        const char *s = addr_format(a, buf);

        return strncmp(s, "192.0.2.", 8) == 0 || strncmp(s, "198.51.100.", 11) == 0 ||
               strncmp(s, "203.0.113.", 10) == 0 || strncmp(s, "2001:db8::1:", 12) == 0;
}

typedef struct Counter {
        int seen, ours, stop_after;
} Counter;

static int count_cb(const NlAddr *a, void *userdata)
{
        Counter *c = userdata;

        c->seen++;
        if (is_ours(a->addr))
                c->ours++;
        if (c->stop_after > 0 && c->seen >= c->stop_after)
                return -ECANCELED;
        return 0;
}

/* A dump, repeated (at most 5 times) while the kernel flags it interrupted: an address
 * change in the kernel's own work (see main) is not what this test is about. */
static int dump(Netlink *nl, Counter *c, int stop_after)
{
        int r = -EINTR;

        for (int i = 0; i < 5 && r == -EINTR; i++) {
                if (i > 0) {
                        printf("# dump flagged interrupted (NLM_F_DUMP_INTR); again\n");
                        usleep(100 * 1000);
                }
                *c = (Counter){.stop_after = stop_after};
                r = netlink_addr_foreach(nl, AF_UNSPEC, count_cb, c);
        }
        return r;
}

/* After a dump stopped after `stop_after` addresses, the same socket still answers. */
static void check_after_abort(Netlink *nl, int lo, int stop_after)
{
        Counter c;
        NlLink link = {};
        u128 extra = addr_from_v4(0xc00002ff); /* 192.0.2.255 */

        is_int(dump(nl, &c, stop_after), -ECANCELED,
               "a dump stopped at address %d returns the callback's error", stop_after);
        is_int(c.seen, stop_after, "... and the callback saw no more after it stopped");

        is_int(netlink_link_get(nl, lo, &link), 0, "after it, a link request succeeds");
        is_str(link.name, "lo", "... and answers about lo");

        is_int(dump(nl, &c, 0), 0, "after it, a new dump succeeds");
        is_int(c.ours, N_ALL, "... and holds each address once (no stale rest mixed in)");

        is_int(netlink_addr_add(nl, lo, extra), 0, "after it, an add succeeds");
        is_int(netlink_addr_del(nl, lo, extra), 0, "... and a delete");
}

int main(void)
{
        _cleanup_(netlink_freep) Netlink *nl = NULL;
        Counter c = {};
        int lo, r, failed = 0;

        if (!netns_enter())
                return 0;
        is_int(netns_lo_up(), 0, "lo is up in the new namespace");
        lo = (int)if_nametoindex("lo");
        is_int(netlink_new(&nl), 0, "netlink_new");
        if (!nl)
                return tap_done();

        for (int i = 0; i < N_V4; i++)
                if ((r = netlink_addr_add(nl, lo, v4_addr(i))) < 0 && failed++ == 0)
                        printf("# add IPv4 %d: %s\n", i, strerror(-r));
        for (int i = 0; i < N_V6; i++)
                if ((r = netlink_addr_add(nl, lo, v6_addr(i))) < 0 && failed++ == 0)
                        printf("# add IPv6 %d: %s\n", i, strerror(-r));
        is_int(failed, 0, "%d addresses added to lo", N_ALL);

        /* IPv6 addresses finish (even with nodad) in the kernel's workqueue a little later;
         * a dump running meanwhile is flagged NLM_F_DUMP_INTR (-EINTR). On a loaded machine
         * that work takes seconds and one clean dump can fall in a pause of it: wait,
         * bounded (30 s), until five dumps in a row, 100 ms apart, are clean. */
        for (int i = 0, clean = 0; i < 300 && clean < 5; i++) {
                c = (Counter){};
                r = netlink_addr_foreach(nl, AF_UNSPEC, count_cb, &c);
                clean = r == -EINTR ? 0 : clean + 1;
                if (r != -EINTR && r != 0)
                        break;
                usleep(100 * 1000);
        }
        is_int(r, 0, "a whole dump succeeds");
        is_int(c.ours, N_ALL, "... and holds every address");

        /* The first address (first datagram), one in the middle, one near the end: each
         * leaves a different number of datagrams unread. */
        check_after_abort(nl, lo, 1);
        check_after_abort(nl, lo, N_ALL / 2);
        check_after_abort(nl, lo, N_ALL - 10);

        /* An error from the callback of the very last address leaves only NLMSG_DONE. */
        check_after_abort(nl, lo, c.seen);
        return tap_done();
}
