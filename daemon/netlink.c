/* SPDX-License-Identifier: MIT */
/*
 * rtnetlink requests and the monitor; see netlink.h. Requests carry NLM_F_ACK and a
 * sequence number; each request reads its replies to their last message, also when it
 * fails part-way (netlink_transact()), and skips messages of another sequence or port, so
 * a late answer to an earlier request can never be taken for this one, nor fail it.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "netlink.h"
#include "util/log.h"

#define NL_BUF_SIZE (64 * 1024) /* larger than any single dump datagram */

struct Netlink {
        struct mnl_socket *sock;
        uint32_t portid, seq;
        uint8_t buf[NL_BUF_SIZE];
};

static int netlink_open(Netlink *nl)
{
        int one = 1;

        nl->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
        if (!nl->sock)
                return -errno;
        if (mnl_socket_bind(nl->sock, 0, MNL_SOCKET_AUTOPID) < 0) {
                int r = -errno;

                mnl_socket_close(nl->sock);
                nl->sock = NULL;
                return r;
        }
        /* Extended ACKs give better kernel messages in strace; failure is harmless. */
        (void)mnl_socket_setsockopt(nl->sock, NETLINK_EXT_ACK, &one, sizeof(one));
        nl->portid = mnl_socket_get_portid(nl->sock);
        return 0;
}

/* When a reply could not be read to its end, the rest may still arrive, and the kernel
 * refuses another dump (EBUSY) while one is unfinished: start afresh on a new socket (a
 * new port id, so nothing meant for the old one can reach us). If that fails, the next
 * request tries again. */
static void netlink_reopen(Netlink *nl)
{
        int r;

        if (nl->sock)
                mnl_socket_close(nl->sock);
        nl->sock = NULL;
        r = netlink_open(nl);
        if (r < 0)
                log_warning_errno(r, "Cannot reopen rtnetlink: %m");
}

int netlink_new(Netlink **ret)
{
        _cleanup_(netlink_freep) Netlink *nl = calloc(1, sizeof(*nl));
        int r;

        if (!nl)
                return -ENOMEM;
        r = netlink_open(nl);
        if (r < 0)
                return r;
        nl->seq = (uint32_t)time(NULL);
        *ret = TAKE_PTR(nl);
        return 0;
}

Netlink *netlink_free(Netlink *nl)
{
        if (!nl)
                return NULL;
        if (nl->sock)
                mnl_socket_close(nl->sock);
        free(nl);
        return NULL;
}

/*
 * Sends the request in nl->buf and reads replies until this request's last message: the
 * NLMSG_ERROR (an ACK or an error) or, for a dump, NLMSG_DONE. Messages of another
 * sequence number or port are skipped, not taken for errors: mnl_cb_run() would fail the
 * whole datagram with EPROTO. When cb or a reply fails part-way, the rest of this reply
 * is still read (and dropped) up to its last message, so the next request starts on a
 * clean socket and the kernel's dump is finished; the first error is returned.
 */
static int netlink_transact(Netlink *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
        bool done = false, stopped = false;
        int error = 0;

        if (!nl->sock) {
                int r = netlink_open(nl);

                if (r < 0)
                        return r;
        }
        if (++nl->seq == 0) /* 0 is never a reply of ours */
                ++nl->seq;
        nlh->nlmsg_seq = nl->seq;
        nlh->nlmsg_flags |= NLM_F_ACK;
        if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        while (!done) {
                ssize_t n = mnl_socket_recvfrom(nl->sock, nl->buf, sizeof(nl->buf));
                int left = (int)n;

                if (n < 0) {
                        int r = -errno;

                        if (r == -EINTR)
                                continue;
                        netlink_reopen(nl);
                        return error < 0 ? error : r;
                }
                for (const struct nlmsghdr *m = (const struct nlmsghdr *)nl->buf;
                     mnl_nlmsg_ok(m, left); m = mnl_nlmsg_next(m, &left)) {
                        int r;

                        if (m->nlmsg_seq != nl->seq ||
                            (m->nlmsg_pid != 0 && m->nlmsg_pid != nl->portid)) {
                                log_debug("netlink: skipping a stale reply (seq %" PRIu32
                                          ", waiting for %" PRIu32 ")",
                                          m->nlmsg_seq, nl->seq);
                                continue;
                        }
                        if (m->nlmsg_type == NLMSG_DONE || m->nlmsg_type == NLMSG_ERROR)
                                done = true;
                        if (error < 0 || stopped)
                                continue; /* draining */
                        r = mnl_cb_run(m, m->nlmsg_len, nl->seq, nl->portid, cb, data);
                        if (r < 0)
                                error = errno > 0 ? -errno : -EIO; /* NLMSG_ERROR: -errno */
                        else if (r == MNL_CB_STOP)
                                stopped = true;
                }
        }
        return error;
}

static struct nlmsghdr *put_addr_request(Netlink *nl, uint16_t type, uint16_t flags, int ifindex,
                                         u128 addr)
{
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->buf);
        struct ifaddrmsg *ifa;
        uint8_t bytes[16];
        size_t len = addr_to_bytes(addr, bytes);

        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = NLM_F_REQUEST | flags;
        ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
        ifa->ifa_family = (uint8_t)addr_family(addr);
        ifa->ifa_prefixlen = (uint8_t)addr_bits(addr);
        ifa->ifa_scope = RT_SCOPE_UNIVERSE;
        ifa->ifa_index = (uint32_t)ifindex;
        mnl_attr_put(nlh, IFA_LOCAL, len, bytes);
        mnl_attr_put(nlh, IFA_ADDRESS, len, bytes);
        return nlh;
}

bool netlink_has_ifa_proto(void)
{
        static int cached = -1;
        unsigned major = 0, minor = 0;
        struct utsname u;
        const char *e;

        if (cached >= 0)
                return cached;
        e = getenv("MLBD_TEST_NO_IFA_PROTO");
        if (e && strcmp(e, "1") == 0) {
                log_notice("MLBD_TEST_NO_IFA_PROTO=1: behaving as on a kernel without "
                           "IFA_PROTO (test mode): addresses untagged, --flush by state.json");
                cached = 0;
                return false;
        }
        /* Unknown: assume the tag works, so that flush removes nothing untagged. */
        cached = uname(&u) < 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2 || major > 5 ||
                 (major == 5 && minor >= 18);
        if (!cached)
                log_notice("Kernel %s is older than 5.18 and keeps no IFA_PROTO: mlbd's "
                           "addresses are untagged; mlbd --flush removes what state.json lists",
                           u.release);
        return cached;
}

int netlink_addr_add(Netlink *nl, int ifindex, u128 addr)
{
        struct nlmsghdr *nlh;
        uint32_t flags = IFA_F_NODAD | IFA_F_NOPREFIXROUTE;

        if (ifindex <= 0)
                return -EINVAL;
        nlh = put_addr_request(nl, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, addr);
        /* ifa_flags is 8 bits; IFA_F_NOPREFIXROUTE (0x200) needs IFA_FLAGS. */
        ((struct ifaddrmsg *)mnl_nlmsg_get_payload(nlh))->ifa_flags = (uint8_t)flags;
        mnl_attr_put_u32(nlh, IFA_FLAGS, flags);
        /* An older kernel ignores the attribute; in the test mode we leave it out, so the
         * address is untagged exactly as there. */
        if (netlink_has_ifa_proto())
                mnl_attr_put_u8(nlh, IFA_PROTO, MLBD_IFA_PROTO);
        return netlink_transact(nl, nlh, NULL, NULL);
}

int netlink_addr_del(Netlink *nl, int ifindex, u128 addr)
{
        if (ifindex <= 0)
                return -EINVAL;
        return netlink_transact(nl, put_addr_request(nl, RTM_DELADDR, 0, ifindex, addr), NULL,
                                NULL);
}

int netlink_neigh_forget(Netlink *nl, int ifindex, u128 addr)
{
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->buf);
        struct ndmsg *nd;
        uint8_t bytes[16];
        size_t len = addr_to_bytes(addr, bytes);

        if (ifindex <= 0)
                return -EINVAL;
        nlh->nlmsg_type = RTM_DELNEIGH;
        nlh->nlmsg_flags = NLM_F_REQUEST;
        nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
        nd->ndm_family = (uint8_t)addr_family(addr);
        nd->ndm_ifindex = ifindex;
        mnl_attr_put(nlh, NDA_DST, len, bytes);
        return netlink_transact(nl, nlh, NULL, NULL);
}

/* libmnl walks attributes up to the aligned end of the message, so an unaligned
 * nlmsg_len would let the last attribute reach past the buffer. The kernel pads every
 * attribute (nla_put), so its messages are always aligned; anything else is refused. */
static bool msg_len_ok(const struct nlmsghdr *nlh, size_t extra)
{
        return nlh->nlmsg_len == MNL_ALIGN(nlh->nlmsg_len) &&
               nlh->nlmsg_len >= MNL_NLMSG_HDRLEN + MNL_ALIGN(extra);
}

static int addr_attr_cb(const struct nlattr *attr, void *data)
{
        const struct nlattr **tb = data;
        uint16_t type = mnl_attr_get_type(attr);

        if (mnl_attr_type_valid(attr, IFA_MAX) < 0)
                return MNL_CB_OK; /* newer than our headers: ignore */
        switch (type) {
        case IFA_FLAGS:
                if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
                        return MNL_CB_ERROR;
                break;
        case IFA_PROTO:
                if (mnl_attr_validate(attr, MNL_TYPE_U8) < 0)
                        return MNL_CB_ERROR;
                break;
        default:
                break;
        }
        tb[type] = attr;
        return MNL_CB_OK;
}

int nl_parse_addr(const struct nlmsghdr *nlh, NlAddr *ret)
{
        const struct nlattr *tb[IFA_MAX + 1] = {};
        const struct ifaddrmsg *ifa;
        const struct nlattr *a;
        NlAddr x = {};
        size_t want;

        if (!msg_len_ok(nlh, sizeof(*ifa)))
                return -EBADMSG;
        ifa = mnl_nlmsg_get_payload(nlh);
        if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6)
                return -EBADMSG;
        if (mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, tb) < 0)
                return -EBADMSG;
        want = ifa->ifa_family == AF_INET ? 4 : 16;
        /* IFA_LOCAL is the address itself (IFA_ADDRESS is the peer on point-to-point). */
        a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
        if (!a || mnl_attr_get_payload_len(a) != want)
                return -EBADMSG;
        if (ifa->ifa_prefixlen > want * 8)
                return -EBADMSG;
        x.ifindex = (int)ifa->ifa_index;
        x.addr = addr_from_bytes(ifa->ifa_family, mnl_attr_get_payload(a));
        x.prefixlen = ifa->ifa_prefixlen;
        x.scope = ifa->ifa_scope;
        x.flags = tb[IFA_FLAGS] ? mnl_attr_get_u32(tb[IFA_FLAGS]) : ifa->ifa_flags;
        x.proto = tb[IFA_PROTO] ? mnl_attr_get_u8(tb[IFA_PROTO]) : 0;
        *ret = x;
        return 0;
}

typedef struct AddrForeach {
        nl_addr_cb_t cb;
        void *userdata;
} AddrForeach;

static int addr_foreach_cb(const struct nlmsghdr *nlh, void *data)
{
        AddrForeach *f = data;
        NlAddr a;
        int r;

        if (nlh->nlmsg_type != RTM_NEWADDR)
                return MNL_CB_OK;
        if (nl_parse_addr(nlh, &a) < 0) {
                log_debug("netlink: skipping malformed address message");
                return MNL_CB_OK;
        }
        r = f->cb(&a, f->userdata);
        if (r < 0) {
                errno = -r;
                return MNL_CB_ERROR;
        }
        return MNL_CB_OK;
}

int netlink_addr_foreach(Netlink *nl, int family, nl_addr_cb_t cb, void *userdata)
{
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->buf);
        struct ifaddrmsg *ifa;
        AddrForeach f = {cb, userdata};

        nlh->nlmsg_type = RTM_GETADDR;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
        ifa->ifa_family = (uint8_t)family;
        return netlink_transact(nl, nlh, addr_foreach_cb, &f);
}

typedef struct AddrList {
        NlAddr *items;
        size_t n, cap;
} AddrList;

static int addr_append(const NlAddr *a, void *userdata)
{
        AddrList *l = userdata;

        if (GROW(l->items, l->cap, l->n + 1) < 0)
                return -ENOMEM;
        l->items[l->n++] = *a;
        return 0;
}

/* A dump the kernel flags NLM_F_DUMP_INTR (addresses changed while it ran: -EINTR) is
 * inconsistent; a list can simply be read again. */
#define NL_DUMP_TRIES 3

int netlink_addr_dump(Netlink *nl, int family, NlAddr **ret, size_t *ret_n)
{
        AddrList l = {};
        int r = -EINTR;

        for (int i = 0; i < NL_DUMP_TRIES && r == -EINTR; i++) {
                l.n = 0;
                r = netlink_addr_foreach(nl, family, addr_append, &l);
        }
        if (r < 0) {
                free(l.items);
                return r;
        }
        *ret = l.items;
        *ret_n = l.n;
        return 0;
}

static bool listed(const NlAddr *a, const NlAddr *owned, size_t n_owned)
{
        if (a->proto != 0 || a->prefixlen != addr_bits(a->addr))
                return false; /* tagged by someone else, or not a /32 or /128: not ours */
        for (size_t i = 0; i < n_owned; i++)
                if (owned[i].ifindex == a->ifindex && owned[i].addr == a->addr)
                        return true;
        return false;
}

int netlink_flush(Netlink *nl, const NlAddr *owned, size_t n_owned)
{
        _cleanup_free_ NlAddr *a = NULL;
        size_t n = 0;
        int r, removed = 0, first_error = 0;

        r = netlink_addr_dump(nl, AF_UNSPEC, &a, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                char buf[ADDR_STR_MAX];

                if (a[i].proto != MLBD_IFA_PROTO && !listed(&a[i], owned, n_owned))
                        continue;
                r = netlink_addr_del(nl, a[i].ifindex, a[i].addr);
                if (r == -EADDRNOTAVAIL)
                        continue; /* gone meanwhile */
                if (r < 0) {
                        log_warning_errno(r, "Failed to remove %s from ifindex %d: %m",
                                          addr_format(a[i].addr, buf), a[i].ifindex);
                        if (!first_error)
                                first_error = r;
                        continue;
                }
                log_debug("Removed %s/%u from ifindex %d (%s)", addr_format(a[i].addr, buf),
                          a[i].prefixlen, a[i].ifindex, a[i].proto ? "tagged" : "in state.json");
                removed++;
        }
        return first_error ? first_error : removed;
}

int netlink_flush_tagged(Netlink *nl)
{
        return netlink_flush(nl, NULL, 0);
}

static int link_attr_cb(const struct nlattr *attr, void *data)
{
        const struct nlattr **tb = data;
        uint16_t type = mnl_attr_get_type(attr);

        if (mnl_attr_type_valid(attr, IFLA_MAX) < 0)
                return MNL_CB_OK;
        switch (type) {
        case IFLA_IFNAME:
                if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
                        return MNL_CB_ERROR;
                break;
        case IFLA_OPERSTATE:
                if (mnl_attr_validate(attr, MNL_TYPE_U8) < 0)
                        return MNL_CB_ERROR;
                break;
        default:
                break;
        }
        tb[type] = attr;
        return MNL_CB_OK;
}

int nl_parse_link(const struct nlmsghdr *nlh, NlLink *ret)
{
        const struct nlattr *tb[IFLA_MAX + 1] = {};
        const struct ifinfomsg *ifi;
        NlLink l = {};

        if (!msg_len_ok(nlh, sizeof(*ifi)))
                return -EBADMSG;
        ifi = mnl_nlmsg_get_payload(nlh);
        if (mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, tb) < 0)
                return -EBADMSG;
        l.ifindex = ifi->ifi_index;
        l.flags = ifi->ifi_flags;
        if (tb[IFLA_IFNAME]) {
                const char *name = mnl_attr_get_str(tb[IFLA_IFNAME]);

                if (strlen(name) >= sizeof(l.name))
                        return -EBADMSG;
                strcpy(l.name, name);
        }
        if (tb[IFLA_ADDRESS] && mnl_attr_get_payload_len(tb[IFLA_ADDRESS]) == ETH_ALEN) {
                memcpy(l.mac, mnl_attr_get_payload(tb[IFLA_ADDRESS]), ETH_ALEN);
                l.has_mac = true;
        }
        l.operstate = tb[IFLA_OPERSTATE] ? mnl_attr_get_u8(tb[IFLA_OPERSTATE]) : IF_OPER_UNKNOWN;
        *ret = l;
        return 0;
}

typedef struct LinkList {
        NlLink *items;
        size_t n, cap;
} LinkList;

static int link_dump_cb(const struct nlmsghdr *nlh, void *data)
{
        LinkList *l = data;
        NlLink k;

        if (nlh->nlmsg_type != RTM_NEWLINK)
                return MNL_CB_OK;
        if (nl_parse_link(nlh, &k) < 0) {
                log_debug("netlink: skipping malformed link message");
                return MNL_CB_OK;
        }
        if (GROW(l->items, l->cap, l->n + 1) < 0) {
                errno = ENOMEM;
                return MNL_CB_ERROR;
        }
        l->items[l->n++] = k;
        return MNL_CB_OK;
}

static int link_request(Netlink *nl, int ifindex, LinkList *l)
{
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->buf);
        struct ifinfomsg *ifi;

        nlh->nlmsg_type = RTM_GETLINK;
        nlh->nlmsg_flags = NLM_F_REQUEST | (ifindex > 0 ? 0 : NLM_F_DUMP);
        ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
        ifi->ifi_family = AF_UNSPEC;
        ifi->ifi_index = ifindex > 0 ? ifindex : 0;
        return netlink_transact(nl, nlh, link_dump_cb, l);
}

int netlink_link_list(Netlink *nl, NlLink **ret, size_t *ret_n)
{
        LinkList l = {};
        int r = -EINTR;

        for (int i = 0; i < NL_DUMP_TRIES && r == -EINTR; i++) {
                l.n = 0;
                r = link_request(nl, 0, &l);
        }

        if (r < 0) {
                free(l.items);
                return r;
        }
        *ret = l.items;
        *ret_n = l.n;
        return 0;
}

int netlink_link_get(Netlink *nl, int ifindex, NlLink *ret)
{
        LinkList l = {};
        int r;

        if (ifindex <= 0)
                return -ENODEV;
        r = link_request(nl, ifindex, &l);
        if (r >= 0 && l.n == 0)
                r = -ENODEV;
        if (r >= 0)
                *ret = l.items[0];
        free(l.items);
        return r;
}

typedef struct DefaultRoute {
        int family;
        int ifindex;
        uint32_t metric;
} DefaultRoute;

static int route_attr_cb(const struct nlattr *attr, void *data)
{
        const struct nlattr **tb = data;
        uint16_t type = mnl_attr_get_type(attr);

        if (mnl_attr_type_valid(attr, RTA_MAX) < 0)
                return MNL_CB_OK;
        switch (type) {
        case RTA_OIF:
        case RTA_PRIORITY:
        case RTA_TABLE:
                if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
                        return MNL_CB_ERROR;
                break;
        default:
                break;
        }
        tb[type] = attr;
        return MNL_CB_OK;
}

static int route_dump_cb(const struct nlmsghdr *nlh, void *data)
{
        const struct nlattr *tb[RTA_MAX + 1] = {};
        DefaultRoute *d = data;
        const struct rtmsg *rtm;
        uint32_t table, metric;
        int oif = 0;

        if (nlh->nlmsg_type != RTM_NEWROUTE ||
            nlh->nlmsg_len < MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*rtm)))
                return MNL_CB_OK;
        rtm = mnl_nlmsg_get_payload(nlh);
        if (rtm->rtm_family != d->family || rtm->rtm_dst_len != 0 || rtm->rtm_type != RTN_UNICAST)
                return MNL_CB_OK;
        if (mnl_attr_parse(nlh, sizeof(*rtm), route_attr_cb, tb) < 0)
                return MNL_CB_OK;
        table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
        if (table != RT_TABLE_MAIN)
                return MNL_CB_OK;
        metric = tb[RTA_PRIORITY] ? mnl_attr_get_u32(tb[RTA_PRIORITY]) : 0;
        if (tb[RTA_OIF])
                oif = (int)mnl_attr_get_u32(tb[RTA_OIF]);
        else if (tb[RTA_MULTIPATH] &&
                 mnl_attr_get_payload_len(tb[RTA_MULTIPATH]) >= sizeof(struct rtnexthop)) {
                const struct rtnexthop *nh = mnl_attr_get_payload(tb[RTA_MULTIPATH]);

                oif = nh->rtnh_ifindex; /* first hop: all share the L2 segment question */
        }
        if (oif > 0 && (d->ifindex == 0 || metric < d->metric)) {
                d->ifindex = oif;
                d->metric = metric;
        }
        return MNL_CB_OK;
}

int nl_route_prefix_iface(const NlAddr *a, size_t n, u128 addr)
{
        unsigned bits = addr_bits(addr);
        int best = 0, best_len = -1;

        for (size_t i = 0; i < n; i++) {
                u128 host = addr_prefix_mask(bits, a[i].prefixlen);

                if (a[i].prefixlen >= bits || addr_family(a[i].addr) != addr_family(addr))
                        continue;
                if ((a[i].addr & ~host) != (addr & ~host))
                        continue;
                if (a[i].prefixlen > best_len) {
                        best_len = a[i].prefixlen;
                        best = a[i].ifindex;
                }
        }
        return best;
}

/* The interface of the main table's default route of family with the lowest metric. */
static int default_iface(Netlink *nl, int family, int *ret_ifindex)
{
        DefaultRoute d = {.family = family};
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->buf);
        struct rtmsg *rtm;
        int r;

        nlh->nlmsg_type = RTM_GETROUTE;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        rtm->rtm_family = (uint8_t)d.family;
        r = netlink_transact(nl, nlh, route_dump_cb, &d);
        if (r < 0)
                return r;
        if (d.ifindex <= 0)
                return -ENETUNREACH;
        *ret_ifindex = d.ifindex;
        return 0;
}

int netlink_route_iface(Netlink *nl, u128 addr, int *ret_ifindex)
{
        _cleanup_free_ NlAddr *a = NULL;
        size_t n = 0;
        int r, best;

        r = netlink_addr_dump(nl, addr_family(addr), &a, &n);
        if (r < 0)
                return r;
        best = nl_route_prefix_iface(a, n, addr);
        if (best > 0) {
                *ret_ifindex = best;
                return 0;
        }
        return default_iface(nl, addr_family(addr), ret_ifindex);
}

void nl_route_cache_done(NlRouteCache *c)
{
        free(c->prefixes);
        *c = (NlRouteCache){};
}

static int keep_prefix(const NlAddr *a, void *userdata)
{
        return a->prefixlen < addr_bits(a->addr) ? addr_append(a, userdata) : 0;
}

int netlink_route_iface_cached(Netlink *nl, NlRouteCache *c, uint64_t stamp, u128 addr,
                               int *ret_ifindex)
{
        int v6 = !addr_is_v4(addr), best;

        if (!c->valid || c->stamp != stamp) {
                AddrList l = {};
                int r = -EINTR;

                for (int i = 0; i < NL_DUMP_TRIES && r == -EINTR; i++) {
                        l.n = 0;
                        r = netlink_addr_foreach(nl, AF_UNSPEC, keep_prefix, &l);
                }
                if (r < 0) {
                        free(l.items);
                        return r;
                }
                nl_route_cache_done(c);
                *c = (NlRouteCache){
                    .valid = true, .stamp = stamp, .prefixes = l.items, .n_prefixes = l.n};
        }
        best = nl_route_prefix_iface(c->prefixes, c->n_prefixes, addr);
        if (best > 0) {
                *ret_ifindex = best;
                return 0;
        }
        if (!c->default_known[v6]) {
                int r = default_iface(nl, addr_family(addr), &c->default_ifindex[v6]);
                if (r < 0 && r != -ENETUNREACH)
                        return r; /* not remembered: the next call asks again */
                c->default_known[v6] = true;
                c->default_error[v6] = r;
        }
        if (c->default_error[v6] < 0)
                return c->default_error[v6];
        *ret_ifindex = c->default_ifindex[v6];
        return 0;
}

/* ---- monitor ---- */

typedef struct LinkState {
        int ifindex;
        bool up;
} LinkState;

struct NlMonitor {
        struct mnl_socket *sock;
        sd_event_source *io;
        nl_monitor_cb_t cb;
        void *userdata;
        LinkState *links;
        size_t n_links, cap_links;
        uint8_t buf[NL_BUF_SIZE];
};

static const char *const nl_event_type_table[_NL_EVENT_MAX] = {
    [NL_EVENT_ADDR_NEW] = "addr-new",   [NL_EVENT_ADDR_DEL] = "addr-del",
    [NL_EVENT_LINK_UP] = "link-up",     [NL_EVENT_LINK_DOWN] = "link-down",
    [NL_EVENT_LINK_GONE] = "link-gone", [NL_EVENT_OVERRUN] = "overrun",
    [NL_EVENT_ERROR] = "error",
};

const char *nl_event_type_to_string(NlEventType t)
{
        return t >= 0 && t < _NL_EVENT_MAX ? nl_event_type_table[t] : NULL;
}

static LinkState *monitor_find_link(NlMonitor *m, int ifindex)
{
        for (size_t i = 0; i < m->n_links; i++)
                if (m->links[i].ifindex == ifindex)
                        return &m->links[i];
        return NULL;
}

static int monitor_msg_cb(const struct nlmsghdr *nlh, void *data)
{
        NlMonitor *m = data;
        NlEvent ev = {};
        LinkState *s;

        switch (nlh->nlmsg_type) {
        case RTM_NEWADDR:
        case RTM_DELADDR:
                if (nl_parse_addr(nlh, &ev.addr) < 0)
                        return MNL_CB_OK;
                ev.type = nlh->nlmsg_type == RTM_NEWADDR ? NL_EVENT_ADDR_NEW : NL_EVENT_ADDR_DEL;
                break;
        case RTM_NEWLINK:
                if (nl_parse_link(nlh, &ev.link) < 0)
                        return MNL_CB_OK;
                s = monitor_find_link(m, ev.link.ifindex);
                if (s && s->up == nl_link_is_up(&ev.link))
                        return MNL_CB_OK; /* no change of up/down */
                if (!s) {
                        if (GROW(m->links, m->cap_links, m->n_links + 1) < 0) {
                                log_oom();
                                return MNL_CB_OK;
                        }
                        s = &m->links[m->n_links++];
                        s->ifindex = ev.link.ifindex;
                }
                s->up = nl_link_is_up(&ev.link);
                ev.type = s->up ? NL_EVENT_LINK_UP : NL_EVENT_LINK_DOWN;
                break;
        case RTM_DELLINK:
                if (nl_parse_link(nlh, &ev.link) < 0)
                        return MNL_CB_OK;
                s = monitor_find_link(m, ev.link.ifindex);
                if (s)
                        *s = m->links[--m->n_links];
                ev.type = NL_EVENT_LINK_GONE;
                break;
        default:
                return MNL_CB_OK;
        }
        m->cb(m, &ev, m->userdata);
        return MNL_CB_OK;
}

static int monitor_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        NlMonitor *m = userdata;

        /* Bounded: at most 64 datagrams per wake-up so other sources get their turn. */
        for (int i = 0; i < 64; i++) {
                ssize_t n = mnl_socket_recvfrom(m->sock, m->buf, sizeof(m->buf));

                if (n < 0) {
                        NlEvent ev = {};

                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        if (errno == ENOBUFS) {
                                log_warning("netlink monitor overrun: events were lost");
                                ev.type = NL_EVENT_OVERRUN;
                        } else {
                                ev.type = NL_EVENT_ERROR;
                                ev.error = -errno;
                                log_warning_errno(ev.error, "netlink monitor: %m");
                        }
                        m->cb(m, &ev, m->userdata);
                        return 0;
                }
                /* seq 0, portid 0: multicast notifications. */
                if (mnl_cb_run(m->buf, (size_t)n, 0, 0, monitor_msg_cb, m) < 0)
                        log_debug_errno(-errno, "netlink monitor: bad datagram: %m");
        }
        return 0;
}

int nl_monitor_new(NlMonitor **ret, nl_monitor_cb_t cb, void *userdata)
{
        _cleanup_(nl_monitor_freep) NlMonitor *m = NULL;
        _cleanup_(netlink_freep) Netlink *nl = NULL;
        _cleanup_free_ NlLink *links = NULL;
        size_t n = 0;
        int r;

        if (!cb)
                return -EINVAL;
        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->cb = cb;
        m->userdata = userdata;
        m->sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (!m->sock)
                return -errno;
        if (mnl_socket_bind(m->sock, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
                            MNL_SOCKET_AUTOPID) < 0)
                return -errno;

        /* Seed after subscribing, so no change falls between the dump and the events. */
        r = netlink_new(&nl);
        if (r < 0)
                return r;
        r = netlink_link_list(nl, &links, &n);
        if (r < 0)
                return r;
        if (GROW(m->links, m->cap_links, n) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                m->links[m->n_links++] = (LinkState){links[i].ifindex, nl_link_is_up(&links[i])};
        *ret = TAKE_PTR(m);
        return 0;
}

int nl_monitor_attach_event(NlMonitor *m, sd_event *e, int64_t priority)
{
        int r;

        if (m->io)
                return -EBUSY;
        r = sd_event_add_io(e, &m->io, mnl_socket_get_fd(m->sock), EPOLLIN, monitor_io, m);
        if (r < 0)
                return r;
        (void)sd_event_source_set_description(m->io, "netlink-monitor");
        return sd_event_source_set_priority(m->io, priority);
}

void nl_monitor_detach_event(NlMonitor *m)
{
        m->io = sd_event_source_disable_unref(m->io);
}

NlMonitor *nl_monitor_free(NlMonitor *m)
{
        if (!m)
                return NULL;
        nl_monitor_detach_event(m);
        if (m->sock)
                mnl_socket_close(m->sock);
        free(m->links);
        free(m);
        return NULL;
}

/* ---- default gateways ---- */

typedef struct GatewayList {
        NlGateway *items;
        size_t n, cap;
} GatewayList;

static int gateway_add(GatewayList *l, int family, int ifindex, const struct nlattr *gw)
{
        size_t want = family == AF_INET ? 4 : 16;

        if (mnl_attr_get_payload_len(gw) != want)
                return 0;
        if (GROW(l->items, l->cap, l->n + 1) < 0)
                return -ENOMEM;
        l->items[l->n++] = (NlGateway){ifindex, addr_from_bytes(family, mnl_attr_get_payload(gw))};
        return 0;
}

static int gateway_dump_cb(const struct nlmsghdr *nlh, void *data)
{
        const struct nlattr *tb[RTA_MAX + 1] = {};
        GatewayList *l = data;
        const struct rtmsg *rtm;
        uint32_t table;
        int oif;

        if (nlh->nlmsg_type != RTM_NEWROUTE || !msg_len_ok(nlh, sizeof(*rtm)))
                return MNL_CB_OK;
        rtm = mnl_nlmsg_get_payload(nlh);
        if ((rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6) || rtm->rtm_dst_len != 0 ||
            rtm->rtm_type != RTN_UNICAST)
                return MNL_CB_OK;
        if (mnl_attr_parse(nlh, sizeof(*rtm), route_attr_cb, tb) < 0)
                return MNL_CB_OK;
        table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
        if (table != RT_TABLE_MAIN)
                return MNL_CB_OK;
        oif = tb[RTA_OIF] ? (int)mnl_attr_get_u32(tb[RTA_OIF]) : 0;
        if (tb[RTA_GATEWAY] && gateway_add(l, rtm->rtm_family, oif, tb[RTA_GATEWAY]) < 0)
                goto oom;
        if (tb[RTA_MULTIPATH]) {
                const uint8_t *p = mnl_attr_get_payload(tb[RTA_MULTIPATH]);
                size_t left = mnl_attr_get_payload_len(tb[RTA_MULTIPATH]);

                while (left >= sizeof(struct rtnexthop)) {
                        const struct rtnexthop *nh = (const struct rtnexthop *)p;
                        size_t len = nh->rtnh_len;

                        if (len < sizeof(*nh) || len > left)
                                break;
                        /* the hop's attributes follow it, up to rtnh_len */
                        for (size_t at = RTNH_ALIGN(sizeof(*nh));
                             at + sizeof(struct nlattr) <= len;) {
                                const struct nlattr *a = (const struct nlattr *)(p + at);

                                if (a->nla_len < sizeof(*a) || at + a->nla_len > len)
                                        break;
                                if (mnl_attr_get_type(a) == RTA_GATEWAY &&
                                    gateway_add(l, rtm->rtm_family, nh->rtnh_ifindex, a) < 0)
                                        goto oom;
                                at += MNL_ALIGN(a->nla_len);
                        }
                        len = RTNH_ALIGN(len);
                        if (len >= left)
                                break;
                        p += len;
                        left -= len;
                }
        }
        return MNL_CB_OK;
oom:
        errno = ENOMEM;
        return MNL_CB_ERROR;
}

int netlink_gateway_list(Netlink *nl, int family, NlGateway **ret, size_t *ret_n)
{
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(nl->buf);
        struct rtmsg *rtm;
        GatewayList l = {};
        int r;

        nlh->nlmsg_type = RTM_GETROUTE;
        nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
        rtm->rtm_family = (uint8_t)family;
        r = netlink_transact(nl, nlh, gateway_dump_cb, &l);
        if (r < 0) {
                free(l.items);
                return r;
        }
        *ret = l.items;
        *ret_n = l.n;
        return 0;
}
