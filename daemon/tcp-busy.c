/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/macro.h"
#include "tcp-busy.h"

#define BUSY_STATES                                                                                \
        ((1u << TCP_SYN_RECV) | (1u << TCP_ESTABLISHED) | (1u << TCP_FIN_WAIT1) |                  \
         (1u << TCP_FIN_WAIT2) | (1u << TCP_CLOSE_WAIT) | (1u << TCP_LAST_ACK) |                   \
         (1u << TCP_CLOSING))

typedef struct Dump {
        int family;
        void (*cb)(u128 local, void *userdata);
        void *userdata;
} Dump;

static int diag_cb(const struct nlmsghdr *h, void *data)
{
        Dump *d = data;
        const struct inet_diag_msg *m = mnl_nlmsg_get_payload(h);

        if (mnl_nlmsg_get_payload_len(h) < sizeof(*m))
                return MNL_CB_ERROR;
        d->cb(addr_from_bytes(d->family, m->id.idiag_src), d->userdata);
        return MNL_CB_OK;
}

static int dump(struct mnl_socket *s, int family, Dump *d)
{
        char buf[32768]; /* a dump datagram is at most 32 KiB (netlink_dump) */
        struct nlmsghdr *h = mnl_nlmsg_put_header(buf);
        struct inet_diag_req_v2 *req;
        unsigned seq = (unsigned)time(NULL) + (unsigned)family, portid = mnl_socket_get_portid(s);
        int r;

        h->nlmsg_type = SOCK_DIAG_BY_FAMILY;
        h->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
        h->nlmsg_seq = seq;
        req = mnl_nlmsg_put_extra_header(h, sizeof(*req));
        req->sdiag_family = (uint8_t)family;
        req->sdiag_protocol = IPPROTO_TCP;
        req->idiag_states = BUSY_STATES;
        if (mnl_socket_sendto(s, h, h->nlmsg_len) < 0)
                return -errno;
        d->family = family;
        do {
                ssize_t n = mnl_socket_recvfrom(s, buf, sizeof(buf));
                if (n < 0)
                        return -errno;
                r = mnl_cb_run(buf, (size_t)n, seq, portid, diag_cb, d);
        } while (r > 0);
        return r < 0 ? -errno : 0;
}

int tcp_busy_foreach(void (*cb)(u128 local, void *userdata), void *userdata)
{
        struct mnl_socket *s = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
        Dump d = {.cb = cb, .userdata = userdata};
        int r;

        if (!s)
                return -errno;
        r = mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0 ? -errno : 0;
        if (r == 0)
                r = dump(s, AF_INET, &d);
        if (r == 0)
                r = dump(s, AF_INET6, &d);
        mnl_socket_close(s);
        return r;
}
