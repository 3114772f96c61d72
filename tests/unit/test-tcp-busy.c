/* SPDX-License-Identifier: MIT */
/*
 * tcp_busy_foreach against the real kernel, in a network namespace of its own (root only;
 * a TAP skip otherwise): which connection states count, and an IPv4 connection accepted
 * by a dual-stack IPv6 socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netlink.h"
#include "netns.h"
#include "tap.h"
#include "tcp-busy.h"

typedef struct Count {
        u128 addr;
        int n;
} Count;

static void count_cb(u128 local, void *userdata)
{
        Count *c = userdata;
        if (local == c->addr)
                c->n++;
}

static int busy(u128 addr)
{
        Count c = {.addr = addr};
        int r = tcp_busy_foreach(count_cb, &c);
        return r < 0 ? r : c.n;
}

/* A listener on port 80 of `family` (AF_INET6: dual-stack [::]). */
static int listener(int family, const char *ip)
{
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), zero = 0, one = 1;
        struct sockaddr_storage ss = {0};
        socklen_t len;

        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)); /* past TIME-WAIT */
        if (family == AF_INET) {
                struct sockaddr_in *a = (struct sockaddr_in *)&ss;
                a->sin_family = AF_INET;
                a->sin_port = htons(80);
                inet_pton(AF_INET, ip, &a->sin_addr);
                len = sizeof(*a);
        } else {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
                a->sin6_family = AF_INET6;
                a->sin6_port = htons(80);
                (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
                len = sizeof(*a);
        }
        if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4) < 0)
                return -errno;
        return fd;
}

/* A client from 192.0.2.2 to 192.0.2.1:80; *server gets the accepted end. */
static int connect_to(int lfd, int *server)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in from = {.sin_family = AF_INET},
                           to = {.sin_family = AF_INET, .sin_port = htons(80)};

        inet_pton(AF_INET, "192.0.2.2", &from.sin_addr);
        inet_pton(AF_INET, "192.0.2.1", &to.sin_addr);
        if (fd < 0 || bind(fd, (struct sockaddr *)&from, sizeof(from)) < 0 ||
            connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0)
                return -errno;
        *server = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        return *server < 0 ? -errno : fd;
}

static void states(int family, const char *what)
{
        u128 srv = 0, cli = 0;
        int lfd = listener(family, "192.0.2.1"), c, s = -1;

        addr_parse("192.0.2.1", &srv);
        addr_parse("192.0.2.2", &cli);
        ok(lfd >= 0, "%s: a listener", what);
        is_int(busy(srv), 0, "%s: a listener alone is not busy", what);
        c = connect_to(lfd, &s);
        ok(c >= 0 && s >= 0, "%s: a connection", what);
        is_int(busy(srv), 1, "%s: the server's end is busy (ESTABLISHED)", what);
        is_int(busy(cli), 1, "%s: so is the client's", what);
        close(s); /* FIN-WAIT-2 here, CLOSE-WAIT at the client: both may hear more */
        usleep(50 * 1000);
        is_int(busy(srv), 1, "%s: the server's end after its close (FIN-WAIT-2) is busy", what);
        is_int(busy(cli), 1, "%s: the client's end (CLOSE-WAIT) is busy", what);
        close(c); /* the server's end goes to TIME-WAIT */
        usleep(50 * 1000);
        is_int(busy(srv), 0, "%s: TIME-WAIT is not busy", what);
        is_int(busy(cli), 0, "%s: a closed client is not busy", what);
        close(lfd);
}

int main(void)
{
        _cleanup_(netlink_freep) Netlink *nl = NULL;
        int lo;

        if (!netns_enter())
                return 0;
        is_int(netns_lo_up(), 0, "lo up");
        is_int(netlink_new(&nl), 0, "netlink_new");
        lo = (int)if_nametoindex("lo");
        is_int(netlink_addr_add(nl, lo, addr_from_v4(0xc0000201)), 0, "192.0.2.1 on lo");
        is_int(netlink_addr_add(nl, lo, addr_from_v4(0xc0000202)), 0, "192.0.2.2 on lo");
        states(AF_INET, "IPv4 socket");
        states(AF_INET6, "dual-stack socket");
        return tap_done();
}
