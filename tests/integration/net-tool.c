/* SPDX-License-Identifier: MIT */
/*
 * net-tool: drives the net modules (netlink, probe, announce burst, claim watch, monitor)
 * from the command line, for the namespace-LAN integration tests. Output is one fact per
 * line, meant for grep; exit 0 on success, 2 for a probe conflict, 1 on errors.
 */
#include <inttypes.h>
#include <net/if.h>
#include <string.h>

#include "announce-burst.h"
#include "claim-watch.h"
#include "netlink.h"
#include "probe.h"
#include "util/log.h"

static int usage(void)
{
        fprintf(stderr,
                "usage: net-tool [-v] COMMAND\n"
                "  add IFNAME ADDR | del IFNAME ADDR | flush | dump | links | route-iface ADDR\n"
                "  probe IFNAME ADDR [NUM GAP_MS WAIT_MS [INITIAL_MS]]\n"
                "  announce IFNAME ADDR COUNT INTERVAL_MS\n"
                "  monitor TIMEOUT_MS [MAX_EVENTS]\n"
                "  watch IFNAME ADDR TIMEOUT_MS\n");
        return 1;
}

static int parse_uint(const char *s, unsigned max, unsigned *ret)
{
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || *end || v > max || s[0] == '-')
                return log_error_errno(-EINVAL, "invalid number \"%s\" (0..%u)", s, max);
        *ret = (unsigned)v;
        return 0;
}

static int parse_addr_arg(const char *s, u128 *ret)
{
        if (!addr_parse(s, ret))
                return log_error_errno(-EINVAL, "invalid address \"%s\"", s);
        return 0;
}

static int parse_ifname(const char *s, int *ret)
{
        unsigned i = if_nametoindex(s);

        if (i == 0)
                return log_error_errno(-ENODEV, "no interface \"%s\"", s);
        *ret = (int)i;
        return 0;
}

static int iface_mac(Netlink *nl, int ifindex, uint8_t mac[ETH_ALEN])
{
        NlLink l;
        int r = netlink_link_get(nl, ifindex, &l);

        if (r < 0)
                return log_error_errno(r, "link %d: %m", ifindex);
        if (!l.has_mac)
                return log_error_errno(-EAFNOSUPPORT, "%s has no Ethernet address", l.name);
        memcpy(mac, l.mac, ETH_ALEN);
        return 0;
}

static const char *ifname(int ifindex, char buf[static IF_NAMESIZE])
{
        if (!if_indextoname((unsigned)ifindex, buf))
                snprintf(buf, IF_NAMESIZE, "if%d", ifindex);
        return buf;
}

static int exit_timer_fn(sd_event_source *s, uint64_t usec, void *userdata)
{
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

static int add_exit_timer(sd_event *e, unsigned ms)
{
        return sd_event_add_time_relative(e, NULL, CLOCK_BOOTTIME, (uint64_t)ms * 1000, 1000,
                                          exit_timer_fn, NULL);
}

/* ---- probe ---- */
typedef struct ProbeCtx {
        sd_event *e;
        int code;
} ProbeCtx;

static void probe_done(Probe *p, ProbeResult result, const uint8_t mac[ETH_ALEN], int error,
                       void *userdata)
{
        char mbuf[MAC_STR_MAX];
        ProbeCtx *c = userdata;
        int *code = &c->code;

        switch (result) {
        case PROBE_RESULT_FREE:
                printf("free\n");
                *code = 0;
                break;
        case PROBE_RESULT_CONFLICT:
                printf("conflict %s\n", mac_format(mac, mbuf));
                *code = 2;
                break;
        case PROBE_RESULT_ERROR:
                log_error_errno(error, "probe failed: %m");
                *code = 1;
                break;
        }
        fflush(stdout);
        sd_event_exit(c->e, 0);
}

/* ---- announce ---- */
static void burst_done(AnnounceBurst *b, unsigned sent, int error, void *userdata)
{
        int *code = userdata;

        printf("sent %u\n", sent);
        *code = error < 0 ? 1 : 0;
}

/* ---- monitor ---- */
typedef struct MonitorCtx {
        unsigned seen, max;
        sd_event *e;
} MonitorCtx;

static void monitor_event(NlMonitor *m, const NlEvent *ev, void *userdata)
{
        MonitorCtx *c = userdata;
        char abuf[ADDR_STR_MAX], ibuf[IF_NAMESIZE];

        switch (ev->type) {
        case NL_EVENT_ADDR_NEW:
        case NL_EVENT_ADDR_DEL:
                printf("%s %s %s/%u proto %u\n", nl_event_type_to_string(ev->type),
                       ifname(ev->addr.ifindex, ibuf), addr_format(ev->addr.addr, abuf),
                       ev->addr.prefixlen, ev->addr.proto);
                break;
        case NL_EVENT_LINK_UP:
        case NL_EVENT_LINK_DOWN:
        case NL_EVENT_LINK_GONE:
                printf("%s %s\n", nl_event_type_to_string(ev->type), ev->link.name);
                break;
        default:
                printf("%s %d\n", nl_event_type_to_string(ev->type), ev->error);
                break;
        }
        fflush(stdout);
        if (c->max && ++c->seen >= c->max)
                sd_event_exit(c->e, 0);
}

/* ---- watch ---- */
static void watch_claim(ClaimWatch *w, const uint8_t mac[ETH_ALEN], uint64_t count, int error,
                        void *userdata)
{
        char mbuf[MAC_STR_MAX];

        if (error < 0)
                printf("error %d\n", error);
        else
                printf("claim %s %" PRIu64 "\n", mac_format(mac, mbuf), count);
        fflush(stdout);
}

int main(int argc, char **argv)
{
        _cleanup_(netlink_freep) Netlink *nl = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        const char *cmd;
        int r, code = 1;

        if (argc > 1 && strcmp(argv[1], "-v") == 0) {
                log_max_level = LOG_DEBUG;
                argv++;
                argc--;
        }
        if (argc < 2)
                return usage();
        cmd = argv[1];
        r = netlink_new(&nl);
        if (r < 0)
                return log_error_errno(r, "netlink: %m"), 1;
        r = sd_event_default(&e);
        if (r < 0)
                return log_error_errno(r, "sd-event: %m"), 1;

        if ((strcmp(cmd, "add") == 0 || strcmp(cmd, "del") == 0) && argc == 4) {
                int ifindex;
                u128 a;

                if (parse_ifname(argv[2], &ifindex) < 0 || parse_addr_arg(argv[3], &a) < 0)
                        return 1;
                r = cmd[0] == 'a' ? netlink_addr_add(nl, ifindex, a)
                                  : netlink_addr_del(nl, ifindex, a);
                if (r < 0)
                        return log_error_errno(r, "%s %s: %m", cmd, argv[3]), 1;
                return 0;
        }
        if (strcmp(cmd, "flush") == 0 && argc == 2) {
                r = netlink_flush_tagged(nl);
                if (r < 0)
                        return log_error_errno(r, "flush: %m"), 1;
                printf("removed %d\n", r);
                return 0;
        }
        if (strcmp(cmd, "dump") == 0 && argc == 2) {
                _cleanup_free_ NlAddr *a = NULL;
                size_t n;

                r = netlink_addr_dump(nl, AF_UNSPEC, &a, &n);
                if (r < 0)
                        return log_error_errno(r, "dump: %m"), 1;
                for (size_t i = 0; i < n; i++) {
                        char abuf[ADDR_STR_MAX], ibuf[IF_NAMESIZE];

                        printf("%s %s/%u proto %u flags 0x%x\n", ifname(a[i].ifindex, ibuf),
                               addr_format(a[i].addr, abuf), a[i].prefixlen, a[i].proto,
                               a[i].flags);
                }
                return 0;
        }
        if (strcmp(cmd, "links") == 0 && argc == 2) {
                _cleanup_free_ NlLink *l = NULL;
                size_t n;

                r = netlink_link_list(nl, &l, &n);
                if (r < 0)
                        return log_error_errno(r, "links: %m"), 1;
                for (size_t i = 0; i < n; i++) {
                        char mbuf[MAC_STR_MAX];

                        printf("%d %s %s %s\n", l[i].ifindex, l[i].name,
                               l[i].has_mac ? mac_format(l[i].mac, mbuf) : "-",
                               nl_link_is_up(&l[i]) ? "up" : "down");
                }
                return 0;
        }
        if (strcmp(cmd, "route-iface") == 0 && argc >= 3) {
                /* each address twice: alone, and from one cache for all of them (the
                 * announcer's way); both must agree */
                NlRouteCache cache = {};
                char ibuf[IF_NAMESIZE];
                int ifindex, cached = 0, rc = 0;
                u128 a;

                for (int i = 2; i < argc && rc == 0; i++) {
                        if (parse_addr_arg(argv[i], &a) < 0) {
                                rc = 1;
                                break;
                        }
                        r = netlink_route_iface(nl, a, &ifindex);
                        int rc2 = netlink_route_iface_cached(nl, &cache, 1, a, &cached);
                        if (r < 0 || rc2 < 0) {
                                if (r != rc2)
                                        log_error("route-iface %s: alone %d, cached %d", argv[i], r,
                                                  rc2);
                                log_error_errno(r < 0 ? r : rc2, "route-iface %s: %m", argv[i]);
                                rc = 1;
                        } else if (cached != ifindex) {
                                log_error("route-iface %s: alone %d, cached %d", argv[i], ifindex,
                                          cached);
                                rc = 1;
                        } else
                                printf("%s\n", ifname(ifindex, ibuf));
                }
                nl_route_cache_done(&cache);
                return rc;
        }
        if (strcmp(cmd, "probe") == 0 && (argc == 4 || argc == 7 || argc == 8)) {
                _cleanup_(probe_freep) Probe *p = NULL;
                ProbeCtx c = {.e = e, .code = 1};
                uint8_t mac[ETH_ALEN];
                ProbeConfig cfg;
                int ifindex;
                u128 a;

                if (parse_ifname(argv[2], &ifindex) < 0 || parse_addr_arg(argv[3], &a) < 0 ||
                    iface_mac(nl, ifindex, mac) < 0)
                        return 1;
                probe_config_default(a, &cfg);
                if (argc >= 7) {
                        unsigned num, gap, wait, initial = 0;

                        if (parse_uint(argv[4], 100, &num) < 0 ||
                            parse_uint(argv[5], 60000, &gap) < 0 ||
                            parse_uint(argv[6], 60000, &wait) < 0 ||
                            (argc == 8 && parse_uint(argv[7], 60000, &initial) < 0))
                                return 1;
                        cfg = (ProbeConfig){
                            .probe_num = num,
                            .probe_wait_usec = (uint64_t)initial * 1000,
                            .probe_min_usec = (uint64_t)gap * 1000,
                            .probe_max_usec = (uint64_t)gap * 1000,
                            .announce_wait_usec = (uint64_t)wait * 1000,
                        };
                }
                r = probe_new(&p, ifindex, mac, a, &cfg);
                if (r >= 0)
                        r = probe_attach_event(p, e, 0);
                if (r >= 0)
                        r = probe_start(p, probe_done, &c);
                if (r < 0)
                        return log_error_errno(r, "probe: %m"), 1;
                r = sd_event_loop(e);
                return r < 0 ? 1 : c.code;
        }
        if (strcmp(cmd, "announce") == 0 && argc == 6) {
                _cleanup_(burst_freep) AnnounceBurst *b = NULL;
                uint8_t mac[ETH_ALEN];
                unsigned count, interval;
                int ifindex;
                u128 a;

                if (parse_ifname(argv[2], &ifindex) < 0 || parse_addr_arg(argv[3], &a) < 0 ||
                    parse_uint(argv[4], 1000, &count) < 0 ||
                    parse_uint(argv[5], 60000, &interval) < 0 || iface_mac(nl, ifindex, mac) < 0)
                        return 1;
                r = burst_new(&b, ifindex, mac, a, count, (uint64_t)interval * 1000);
                if (r >= 0)
                        r = burst_attach_event(b, e, 0);
                if (r >= 0)
                        r = burst_start(b, burst_done, &code);
                if (r < 0)
                        return log_error_errno(r, "announce: %m"), 1;
                /* Run until the burst is done (bounded by count × interval). */
                while (burst_is_running(b)) {
                        r = sd_event_run(e, UINT64_MAX);
                        if (r < 0)
                                return log_error_errno(r, "event loop: %m"), 1;
                }
                return code;
        }
        if (strcmp(cmd, "monitor") == 0 && (argc == 3 || argc == 4)) {
                _cleanup_(nl_monitor_freep) NlMonitor *m = NULL;
                MonitorCtx c = {.e = e};
                unsigned timeout;

                if (parse_uint(argv[2], 600000, &timeout) < 0 ||
                    (argc == 4 && parse_uint(argv[3], 100000, &c.max) < 0))
                        return 1;
                r = nl_monitor_new(&m, monitor_event, &c);
                if (r >= 0)
                        r = nl_monitor_attach_event(m, e, 0);
                if (r >= 0)
                        r = add_exit_timer(e, timeout);
                if (r < 0)
                        return log_error_errno(r, "monitor: %m"), 1;
                printf("ready\n");
                fflush(stdout);
                r = sd_event_loop(e);
                return r < 0 ? 1 : 0;
        }
        if (strcmp(cmd, "watch") == 0 && argc == 5) {
                _cleanup_(claim_watch_freep) ClaimWatch *w = NULL;
                uint8_t mac[ETH_ALEN];
                unsigned timeout;
                int ifindex;
                u128 a;

                if (parse_ifname(argv[2], &ifindex) < 0 || parse_addr_arg(argv[3], &a) < 0 ||
                    parse_uint(argv[4], 600000, &timeout) < 0 || iface_mac(nl, ifindex, mac) < 0)
                        return 1;
                r = claim_watch_new(&w, ifindex, mac, a, watch_claim, NULL);
                if (r >= 0)
                        r = claim_watch_attach_event(w, e, 0);
                if (r >= 0)
                        r = add_exit_timer(e, timeout);
                if (r < 0)
                        return log_error_errno(r, "watch: %m"), 1;
                printf("ready\n");
                fflush(stdout);
                r = sd_event_loop(e);
                printf("claims %" PRIu64 "\n", claim_watch_get_count(w));
                return r < 0 ? 1 : 0;
        }
        return usage();
}
