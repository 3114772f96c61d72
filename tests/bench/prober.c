/* SPDX-License-Identifier: MIT */
/*
 * prober: the client and server sides of tests/bench/failover. Three modes:
 *
 *   prober serve PORT NAME
 *       UDP answerer for every address of the namespace: each datagram is answered with its
 *       first 16 bytes followed by NAME, sent from the address the datagram was sent to
 *       (IP_PKTINFO), so an answer for the service address comes from the service address.
 *
 *   prober udp ADDR PORT INTERVAL_MS
 *       sends a probe (sequence number, send time) to ADDR:PORT every INTERVAL_MS on a
 *       connected socket (answers from any other source are dropped by the kernel) and
 *       prints one line per answer:  a T_US SEQ RTT_US NODE
 *       SIGUSR1 prints a mark (the caller applies a fault, then signals):  m T_US
 *       SIGTERM/SIGINT stop it; "sent N answered M" goes to stderr.
 *       T_US is CLOCK_MONOTONIC in microseconds; stdout is flushed after every line.
 *
 *   prober http ADDR PORT INTERVAL_MS DURATION_MS TIMEOUT_MS
 *       starts one HTTP/1.0 GET / to ADDR:PORT every INTERVAL_MS for DURATION_MS (or until
 *       SIGTERM/SIGINT, whichever comes first), each on its own connection and independent
 *       of the others (a slow request never delays the next one), and waits for the last. A request
 * succeeds when a complete "HTTP/1.x 200" answer arrives within TIMEOUT_MS; anything else (refused,
 * reset, timeout, other status) is a failure. Prints one summary line: requests N ok K failed F
 * [NODE=COUNT ...] [failures at MS..MS (reset R refused F timeout T other O)] where NODE is the
 * last line of each body, MS is time since the first request, and the failures are counted by
 * cause (reset: ECONNRESET, e.g. a connection under way when the client's neighbour cache moved
 * to a node that does not know it; timeout: no complete answer within TIMEOUT_MS).
 *
 * Loops are bounded by the signals (udp) or by DURATION_MS + TIMEOUT_MS (http).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROBE_LEN 16 /* seq (8) + send time (8), host byte order: only we read it */
#define NAME_MAX_LEN 64
#define HTTP_MAX_SLOTS 4096
#define HTTP_BUF 4096
#define MAX_NODES 16

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t mark_pending;
static volatile uint64_t mark_us;

static uint64_t now_us(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void on_stop(int sig)
{
        (void)sig;
        stop_requested = 1;
}

static void on_mark(int sig)
{
        (void)sig;
        mark_us = now_us(); /* clock_gettime is async-signal-safe */
        mark_pending = 1;
}

static int set_handler(int sig, void (*fn)(int))
{
        struct sigaction sa = {.sa_handler = fn};
        sigemptyset(&sa.sa_mask);
        return sigaction(sig, &sa, NULL) < 0 ? -errno : 0;
}

static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *ret)
{
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
                fprintf(stderr, "prober: invalid number \"%s\" (%lu..%lu)\n", s, min, max);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

static int parse_dest(const char *addr, const char *port, struct sockaddr_in *ret)
{
        unsigned long p;
        int r;

        *ret = (struct sockaddr_in){.sin_family = AF_INET};
        if (inet_pton(AF_INET, addr, &ret->sin_addr) != 1) {
                fprintf(stderr, "prober: \"%s\" is not an IPv4 address\n", addr);
                return -EINVAL;
        }
        r = parse_uint(port, 1, 65535, &p);
        if (r < 0)
                return r;
        ret->sin_port = htons((uint16_t)p);
        return 0;
}

static int serve(const char *port_s, const char *name)
{
        struct sockaddr_in sin = {.sin_family = AF_INET};
        unsigned long port;
        size_t name_len = strlen(name);
        int fd, one = 1;

        if (parse_uint(port_s, 1, 65535, &port) < 0)
                return 1;
        if (name_len == 0 || name_len > NAME_MAX_LEN) {
                fprintf(stderr, "prober: NAME must have 1..%d bytes\n", NAME_MAX_LEN);
                return 1;
        }
        sin.sin_port = htons((uint16_t)port);
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0 ||
            bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
                fprintf(stderr, "prober: udp socket on port %lu: %s\n", port, strerror(errno));
                return 1;
        }
        if (set_handler(SIGTERM, on_stop) < 0 || set_handler(SIGINT, on_stop) < 0)
                return 1;
        while (!stop_requested) {
                unsigned char buf[PROBE_LEN + NAME_MAX_LEN];
                union {
                        struct cmsghdr align;
                        char buf[CMSG_SPACE(sizeof(struct in_pktinfo))];
                } ctl;
                struct sockaddr_in peer;
                struct iovec iov = {.iov_base = buf, .iov_len = PROBE_LEN};
                struct msghdr msg = {.msg_name = &peer,
                                     .msg_namelen = sizeof(peer),
                                     .msg_iov = &iov,
                                     .msg_iovlen = 1,
                                     .msg_control = ctl.buf,
                                     .msg_controllen = sizeof(ctl.buf)};
                struct in_pktinfo *pi = NULL;
                ssize_t n = recvmsg(fd, &msg, 0);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "prober: recvmsg: %s\n", strerror(errno));
                        return 1;
                }
                if (n < PROBE_LEN)
                        continue;
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
                        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
                                pi = (struct in_pktinfo *)CMSG_DATA(c);
                if (!pi)
                        continue;
                /* Answer from the address that was asked (ipi_spec_dst), on any interface. */
                struct in_pktinfo out = {.ipi_spec_dst = pi->ipi_addr};
                memcpy(buf + PROBE_LEN, name, name_len);
                iov.iov_len = PROBE_LEN + name_len;
                msg.msg_controllen = sizeof(ctl.buf);
                struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
                c->cmsg_level = IPPROTO_IP;
                c->cmsg_type = IP_PKTINFO;
                c->cmsg_len = CMSG_LEN(sizeof(out));
                memcpy(CMSG_DATA(c), &out, sizeof(out));
                msg.msg_controllen = CMSG_SPACE(sizeof(out));
                if (sendmsg(fd, &msg, 0) < 0 && errno != EINTR)
                        fprintf(stderr, "prober: sendmsg: %s\n", strerror(errno));
        }
        return 0;
}

static int udp_probe(const char *addr, const char *port, const char *interval_s)
{
        struct sockaddr_in dst;
        unsigned long interval_ms;
        uint64_t seq = 0, answered = 0, next;
        int fd;

        if (parse_dest(addr, port, &dst) < 0 || parse_uint(interval_s, 1, 10000, &interval_ms) < 0)
                return 1;
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
                fprintf(stderr, "prober: udp socket to %s:%s: %s\n", addr, port, strerror(errno));
                return 1;
        }
        if (set_handler(SIGTERM, on_stop) < 0 || set_handler(SIGINT, on_stop) < 0 ||
            set_handler(SIGUSR1, on_mark) < 0)
                return 1;
        setvbuf(stdout, NULL, _IOLBF, 0);
        next = now_us();
        while (!stop_requested) {
                uint64_t t = now_us();
                int timeout_ms;

                if (mark_pending) {
                        mark_pending = 0;
                        printf("m %" PRIu64 "\n", (uint64_t)mark_us);
                }
                if (t >= next) {
                        uint64_t pkt[2] = {seq++, t};
                        /* Errors (ICMP unreachable reported on the connected socket, no
                         * buffer) are just unanswered probes. */
                        (void)!send(fd, pkt, sizeof(pkt), 0);
                        next += interval_ms * 1000u;
                        if (next < t) /* we were descheduled: do not send a burst */
                                next = t + interval_ms * 1000u;
                        continue;
                }
                timeout_ms = (int)((next - t + 999) / 1000);
                struct pollfd p = {.fd = fd, .events = POLLIN};
                if (poll(&p, 1, timeout_ms) < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "prober: poll: %s\n", strerror(errno));
                        return 1;
                }
                for (;;) {
                        unsigned char buf[PROBE_LEN + NAME_MAX_LEN + 1];
                        uint64_t hdr[2];
                        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

                        if (n < 0)
                                break; /* EAGAIN, or an ICMP error: nothing answered */
                        if (n <= PROBE_LEN)
                                continue;
                        t = now_us();
                        memcpy(hdr, buf, sizeof(hdr));
                        buf[n] = '\0';
                        for (char *s = (char *)buf + PROBE_LEN; *s; s++)
                                if (*s <= ' ' || *s > '~')
                                        *s = '_';
                        answered++;
                        printf("a %" PRIu64 " %" PRIu64 " %" PRIu64 " %s\n", t, hdr[0], t - hdr[1],
                               (char *)buf + PROBE_LEN);
                }
        }
        fprintf(stderr, "sent %" PRIu64 " answered %" PRIu64 "\n", seq, answered);
        return 0;
}

typedef struct Slot {
        int fd;
        uint64_t start_us;
        size_t len;
        bool busy, sent;
        int err; /* why it failed: an errno, ETIME for our deadline, 0 for a bad answer */
        char buf[HTTP_BUF];
} Slot;

typedef struct Tally {
        unsigned long total, ok, failed;
        unsigned long reset, refused, timeout, other; /* the failed ones by cause */
        uint64_t first_fail_ms, last_fail_ms;
        char nodes[MAX_NODES][NAME_MAX_LEN + 1];
        unsigned long node_count[MAX_NODES];
        size_t n_nodes;
} Tally;

static void tally_node(Tally *t, const char *name)
{
        size_t i;

        for (i = 0; i < t->n_nodes; i++)
                if (strcmp(t->nodes[i], name) == 0)
                        break;
        if (i == t->n_nodes) {
                if (t->n_nodes == MAX_NODES)
                        return;
                snprintf(t->nodes[t->n_nodes++], sizeof(t->nodes[0]), "%s", name);
        }
        t->node_count[i]++;
}

/* A finished request: ok when the answer is "HTTP/1.x 200 ..." with a body; the node is the
 * last non-empty line of the body. */
static void slot_finish(Slot *s, bool complete, Tally *t, uint64_t t0_us)
{
        char *body = NULL, *end, *line;

        s->buf[s->len] = '\0';
        if (complete && s->len > 12 && strncmp(s->buf, "HTTP/1.", 7) == 0 &&
            strncmp(s->buf + 8, " 200", 4) == 0)
                body = strstr(s->buf, "\r\n\r\n");
        if (body) {
                body += 4;
                end = body + strlen(body);
                while (end > body && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
                        *--end = '\0';
                line = strrchr(body, '\n');
                tally_node(t, line ? line + 1 : body);
                t->ok++;
        } else {
                uint64_t ms = (s->start_us - t0_us) / 1000u;
                if (t->failed == 0)
                        t->first_fail_ms = ms;
                t->last_fail_ms = ms;
                t->failed++;
                if (s->err == ECONNRESET)
                        t->reset++;
                else if (s->err == ECONNREFUSED)
                        t->refused++;
                else if (s->err == ETIME || s->err == ETIMEDOUT)
                        t->timeout++;
                else
                        t->other++;
        }
        if (s->fd >= 0)
                close(s->fd);
        s->fd = -1;
        s->busy = false;
}

static int http_load(char **argv)
{
        static Slot slots[HTTP_MAX_SLOTS];
        static struct pollfd pfd[HTTP_MAX_SLOTS];
        static size_t pfd_slot[HTTP_MAX_SLOTS];
        static const char req[] = "GET / HTTP/1.0\r\nHost: failover-bench\r\n\r\n";
        struct sockaddr_in dst;
        unsigned long interval_ms, duration_ms, timeout_ms;
        uint64_t t0, next, end_launch;
        Tally tally = {0};
        size_t active = 0;

        if (parse_dest(argv[0], argv[1], &dst) < 0 ||
            parse_uint(argv[2], 1, 10000, &interval_ms) < 0 ||
            parse_uint(argv[3], 1, 3600000, &duration_ms) < 0 ||
            parse_uint(argv[4], 1, 60000, &timeout_ms) < 0)
                return 1;
        if (timeout_ms / interval_ms + 2 > HTTP_MAX_SLOTS) {
                fprintf(stderr, "prober: TIMEOUT_MS/INTERVAL_MS must stay below %d\n",
                        HTTP_MAX_SLOTS - 2);
                return 1;
        }
        for (size_t i = 0; i < HTTP_MAX_SLOTS; i++)
                slots[i].fd = -1;
        signal(SIGPIPE, SIG_IGN);
        if (set_handler(SIGTERM, on_stop) < 0 || set_handler(SIGINT, on_stop) < 0)
                return 1;
        t0 = next = now_us();
        end_launch = t0 + duration_ms * 1000u;
        while (next < end_launch || active > 0) {
                uint64_t t = now_us();
                size_t n = 0;
                int wait_ms;

                if (stop_requested && end_launch > t)
                        end_launch = t; /* stop launching; wait for the ones in flight */
                if (next < end_launch && t >= next) {
                        size_t i;
                        for (i = 0; i < HTTP_MAX_SLOTS && slots[i].busy; i++)
                                ;
                        next += interval_ms * 1000u;
                        if (i == HTTP_MAX_SLOTS)
                                continue; /* cannot happen: bounded by the check above */
                        Slot *s = &slots[i];
                        s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                        s->busy = true;
                        s->start_us = t;
                        s->len = 0;
                        s->sent = false;
                        s->err = 0;
                        tally.total++;
                        active++;
                        if (s->fd < 0 ||
                            (connect(s->fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 &&
                             errno != EINPROGRESS)) {
                                s->err = errno;
                                slot_finish(s, false, &tally, t0);
                                active--;
                        }
                        continue;
                }
                wait_ms = next < end_launch ? (int)((next - t + 999) / 1000) : 50;
                for (size_t i = 0; i < HTTP_MAX_SLOTS; i++) {
                        Slot *s = &slots[i];
                        if (!s->busy)
                                continue;
                        if (t - s->start_us >= timeout_ms * 1000u) {
                                s->err = ETIME;
                                slot_finish(s, false, &tally, t0);
                                active--;
                                continue;
                        }
                        pfd_slot[n] = i;
                        pfd[n++] =
                            (struct pollfd){.fd = s->fd, .events = s->sent ? POLLIN : POLLOUT};
                }
                if (n == 0 && next >= end_launch)
                        break;
                if (poll(pfd, n, wait_ms) < 0 && errno != EINTR) {
                        fprintf(stderr, "prober: poll: %s\n", strerror(errno));
                        return 1;
                }
                for (size_t k = 0; k < n; k++) {
                        Slot *s = &slots[pfd_slot[k]];
                        if (!pfd[k].revents)
                                continue;
                        if (!s->sent) {
                                int err = 0;
                                socklen_t len = sizeof(err);
                                if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 ||
                                    err ||
                                    send(s->fd, req, sizeof(req) - 1, MSG_NOSIGNAL) !=
                                        (ssize_t)sizeof(req) - 1) {
                                        s->err = err ? err : errno;
                                        slot_finish(s, false, &tally, t0);
                                        active--;
                                        continue;
                                }
                                s->sent = true;
                                continue;
                        }
                        ssize_t r = recv(s->fd, s->buf + s->len, HTTP_BUF - 1 - s->len, 0);
                        if (r > 0) {
                                s->len += (size_t)r;
                                if (s->len < HTTP_BUF - 1)
                                        continue;
                        }
                        if (r < 0 && (errno == EAGAIN || errno == EINTR))
                                continue;
                        s->err = r < 0 ? errno : 0;
                        slot_finish(s, r == 0, &tally, t0);
                        active--;
                }
        }
        printf("requests %lu ok %lu failed %lu", tally.total, tally.ok, tally.failed);
        for (size_t i = 0; i < tally.n_nodes; i++)
                printf(" %s=%lu", tally.nodes[i], tally.node_count[i]);
        if (tally.failed)
                printf(" failures at %" PRIu64 "..%" PRIu64
                       " ms (reset %lu refused %lu timeout %lu other %lu)",
                       tally.first_fail_ms, tally.last_fail_ms, tally.reset, tally.refused,
                       tally.timeout, tally.other);
        printf("\n");
        return 0;
}

int main(int argc, char **argv)
{
        if (argc == 4 && strcmp(argv[1], "serve") == 0)
                return serve(argv[2], argv[3]);
        if (argc == 5 && strcmp(argv[1], "udp") == 0)
                return udp_probe(argv[2], argv[3], argv[4]);
        if (argc == 7 && strcmp(argv[1], "http") == 0)
                return http_load(argv + 2);
        fprintf(stderr, "usage: prober serve PORT NAME\n"
                        "       prober udp ADDR PORT INTERVAL_MS\n"
                        "       prober http ADDR PORT INTERVAL_MS DURATION_MS TIMEOUT_MS\n");
        return 1;
}
