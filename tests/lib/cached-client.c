/* SPDX-License-Identifier: MIT */
/*
 * cached-client: a LAN client as a real one behaves, for the integration and chaos tests
 * (issue 9 item 10), and a fresh-ARP prober to judge the LAN beside it. Three modes:
 *
 *   cached-client serve PORT NAME
 *       UDP responder for IPv4 and IPv6 on every address of the namespace: each datagram
 *       is answered with its first 16 bytes followed by NAME, sent from the address it was
 *       sent to (IP_PKTINFO / IPV6_PKTINFO), so the answer for a service address comes
 *       from the service address. The wire format of tests/bench/prober serve.
 *
 *   cached-client udp DURATION_MS PORT ADDR...
 *       every 10 ms (-i) one datagram to each ADDR:PORT on a connected socket, i.e. through
 *       the kernel and its neighbour (ARP / ND) cache, never a fresh who-has of our own.
 *       A probe is lost when no answer for it came back by WAIT_MS (-w, 500) after the last
 *       send. Per address one line:
 *         ADDR sent N lost L longest_gap_ms G gap_at_ms T runs R answered_by NODE:K,...
 *       where G is the longest run of consecutive lost probes times the interval, T the
 *       time of its first probe in ms since the start, and R the first 8 runs of losses as
 *       START_MS+LEN_MS. Then one summary line:
 *         summary start_unix_ms U addresses A sent N lost L longest_gap_ms G worst ADDR
 *
 *   cached-client arp IFACE DURATION_MS ADDR...
 *       every 10 ms (-i) a broadcast ARP request for each IPv4 ADDR from IFACE (a fresh
 *       who-has, whatever the caches say) and the replies to it by sender MAC, per 10 ms
 *       round. Per address one line:
 *         ADDR rounds N unanswered U longest_unanswered_ms G unanswered_at_ms T
 *           longest_double_ms D double_at_ms E answered_by MAC:K,...
 *       where G and D are the longest runs of rounds with no answer and with two or more
 *       different answering MACs. Then "summary start_unix_ms U addresses A
 *       longest_unanswered_ms G longest_double_ms D".
 *
 * All loops are bounded by DURATION_MS (at most one hour) or SIGTERM/SIGINT, which end the
 * run early and still print the figures. Exit 0 when the run completed, 1 on errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROBE_LEN 16 /* seq (8) + send time (8), host byte order: only we read it */
#define NAME_MAX_LEN 64
#define MAX_ADDRS 256
#define MAX_NAMES 31 /* answering nodes (udp) or MACs (arp) told apart */
#define MAX_RUNS_SHOWN 8
#define MAX_DURATION_MS 3600000UL

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
        (void)sig;
        stop_requested = 1;
}

static int set_handlers(void)
{
        struct sigaction sa = {.sa_handler = on_stop};

        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
                return -errno;
        return 0;
}

static uint64_t now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t unix_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int parse_uint(const char *s, unsigned long min, unsigned long max, unsigned long *ret)
{
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
                fprintf(stderr, "cached-client: invalid number \"%s\" (%lu..%lu)\n", s, min, max);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

/* Names seen answering (node names or MACs); index + 1 is what a probe slot stores. */
typedef struct Names {
        char name[MAX_NAMES][NAME_MAX_LEN + 1];
        size_t n;
} Names;

/* 1-based index of NAME, added when new; 0 when the table is full. */
static unsigned names_index(Names *t, const char *name)
{
        for (size_t i = 0; i < t->n; i++)
                if (strcmp(t->name[i], name) == 0)
                        return (unsigned)i + 1;
        if (t->n == MAX_NAMES)
                return 0;
        snprintf(t->name[t->n], sizeof(t->name[0]), "%s", name);
        return (unsigned)++t->n;
}

static void print_counts(const Names *t, const unsigned long *count)
{
        bool any = false;

        printf(" answered_by ");
        for (size_t i = 0; i < t->n; i++)
                if (count[i]) {
                        printf("%s%s:%lu", any ? "," : "", t->name[i], count[i]);
                        any = true;
                }
        if (!any)
                printf("-");
}

/* ---- serve ---- */

static int serve_open(int family, unsigned port)
{
        int fd, one = 1;

        fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (family == AF_INET) {
                struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
                if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0 ||
                    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
                        goto fail;
        } else {
                struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
                if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0 ||
                    setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0 ||
                    bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) < 0)
                        goto fail;
        }
        return fd;
fail:;
        int r = -errno;
        close(fd);
        return r;
}

/* Answers every datagram waiting on FD; the answer leaves from the address asked. */
static void serve_drain(int fd, int family, const char *name, size_t name_len)
{
        for (;;) {
                unsigned char buf[PROBE_LEN + NAME_MAX_LEN];
                union {
                        struct cmsghdr align;
                        char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
                } ctl;
                struct sockaddr_storage peer;
                struct iovec iov = {.iov_base = buf, .iov_len = PROBE_LEN};
                struct msghdr msg = {.msg_name = &peer,
                                     .msg_namelen = sizeof(peer),
                                     .msg_iov = &iov,
                                     .msg_iovlen = 1,
                                     .msg_control = ctl.buf,
                                     .msg_controllen = sizeof(ctl.buf)};
                struct in_pktinfo pi4 = {0};
                struct in6_pktinfo pi6 = {0};
                bool have = false;
                ssize_t n = recvmsg(fd, &msg, MSG_TRUNC);

                if (n < 0)
                        return; /* EAGAIN, EINTR: back to poll */
                if (n < PROBE_LEN)
                        continue;
                for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                        if (family == AF_INET && c->cmsg_level == IPPROTO_IP &&
                            c->cmsg_type == IP_PKTINFO) {
                                memcpy(&pi4, CMSG_DATA(c), sizeof(pi4));
                                have = true;
                        } else if (family == AF_INET6 && c->cmsg_level == IPPROTO_IPV6 &&
                                   c->cmsg_type == IPV6_PKTINFO) {
                                memcpy(&pi6, CMSG_DATA(c), sizeof(pi6));
                                have = true;
                        }
                }
                if (!have)
                        continue;
                memcpy(buf + PROBE_LEN, name, name_len);
                iov.iov_len = PROBE_LEN + name_len;
                memset(&ctl, 0, sizeof(ctl));
                msg.msg_control = ctl.buf;
                struct cmsghdr *c = (struct cmsghdr *)ctl.buf;
                if (family == AF_INET) {
                        struct in_pktinfo out = {.ipi_spec_dst = pi4.ipi_addr};
                        c->cmsg_level = IPPROTO_IP;
                        c->cmsg_type = IP_PKTINFO;
                        c->cmsg_len = CMSG_LEN(sizeof(out));
                        memcpy(CMSG_DATA(c), &out, sizeof(out));
                        msg.msg_controllen = CMSG_SPACE(sizeof(out));
                } else {
                        struct in6_pktinfo out = {.ipi6_addr = pi6.ipi6_addr};
                        c->cmsg_level = IPPROTO_IPV6;
                        c->cmsg_type = IPV6_PKTINFO;
                        c->cmsg_len = CMSG_LEN(sizeof(out));
                        memcpy(CMSG_DATA(c), &out, sizeof(out));
                        msg.msg_controllen = CMSG_SPACE(sizeof(out));
                }
                msg.msg_flags = 0;
                if (sendmsg(fd, &msg, 0) < 0 && errno != EINTR && errno != EAGAIN)
                        fprintf(stderr, "cached-client: sendmsg: %s\n", strerror(errno));
        }
}

static int serve(char **argv)
{
        unsigned long port;
        const char *name = argv[1];
        size_t name_len = strlen(name);
        struct pollfd p[2];

        if (parse_uint(argv[0], 1, 65535, &port) < 0)
                return 1;
        if (name_len == 0 || name_len > NAME_MAX_LEN) {
                fprintf(stderr, "cached-client: NAME must have 1..%d bytes\n", NAME_MAX_LEN);
                return 1;
        }
        p[0] = (struct pollfd){.fd = serve_open(AF_INET, port), .events = POLLIN};
        p[1] = (struct pollfd){.fd = serve_open(AF_INET6, port), .events = POLLIN};
        if (p[0].fd < 0 || p[1].fd < 0) {
                fprintf(stderr, "cached-client: udp port %lu: %s\n", port,
                        strerror(-(p[0].fd < 0 ? p[0].fd : p[1].fd)));
                return 1;
        }
        if (set_handlers() < 0)
                return 1;
        while (!stop_requested) {
                if (poll(p, 2, 1000) < 0) {
                        if (errno == EINTR)
                                continue;
                        fprintf(stderr, "cached-client: poll: %s\n", strerror(errno));
                        return 1;
                }
                serve_drain(p[0].fd, AF_INET, name, name_len);
                serve_drain(p[1].fd, AF_INET6, name, name_len);
        }
        return 0;
}

/* ---- figures over a series of slots (one per probe or round) ---- */

typedef struct Runs {
        unsigned long count;      /* slots that matched */
        unsigned long longest;    /* longest run of consecutive matching slots */
        unsigned long longest_at; /* its first slot */
        unsigned long starts[MAX_RUNS_SHOWN], lens[MAX_RUNS_SHOWN];
        size_t n_runs;
} Runs;

/* Runs of slots i in [0, n) for which bad(slots[i]) holds. A slot for which
 * neutral(slots[i]) holds (a probe never sent: this process was descheduled) neither
 * starts nor ends a run; between two bad slots it lengthens the run, it is never counted. */
static void runs_of(const uint32_t *slots, size_t n, bool (*bad)(uint32_t),
                    bool (*neutral)(uint32_t), Runs *ret)
{
        unsigned long run = 0, pending = 0;

        *ret = (Runs){0};
        for (size_t i = 0; i <= n; i++) {
                if (i < n && neutral && neutral(slots[i])) {
                        if (run)
                                pending++;
                        continue;
                }
                if (i < n && bad(slots[i])) {
                        ret->count++;
                        run += pending + 1;
                        pending = 0;
                        continue;
                }
                if (run == 0)
                        continue;
                unsigned long first = i - pending - run;
                if (run > ret->longest) {
                        ret->longest = run;
                        ret->longest_at = first;
                }
                if (ret->n_runs < MAX_RUNS_SHOWN) {
                        ret->starts[ret->n_runs] = first;
                        ret->lens[ret->n_runs++] = run;
                }
                run = pending = 0;
        }
}

/* ---- udp: the cached client ---- */

typedef struct Target {
        char text[INET6_ADDRSTRLEN];
        int fd;
        uint32_t *slot; /* per probe: SLOT_LOST, SLOT_SKIPPED or a 1-based index into Names */
} Target;

#define SLOT_LOST 0u
#define SLOT_SKIPPED UINT32_MAX

static bool slot_lost(uint32_t v)
{
        return v == SLOT_LOST;
}

static bool slot_skipped(uint32_t v)
{
        return v == SLOT_SKIPPED;
}

static int target_open(Target *t, const char *addr, unsigned port)
{
        struct sockaddr_storage ss = {0};
        socklen_t len;
        int fd, family;

        if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
                struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
                sin->sin_family = family = AF_INET;
                sin->sin_port = htons(port);
                len = sizeof(*sin);
        } else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
                sin6->sin6_family = family = AF_INET6;
                sin6->sin6_port = htons(port);
                len = sizeof(*sin6);
        } else {
                fprintf(stderr, "cached-client: \"%s\" is not an IP address\n", addr);
                return -EINVAL;
        }
        snprintf(t->text, sizeof(t->text), "%s", addr);
        fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len) < 0) {
                int r = -errno;
                fprintf(stderr, "cached-client: udp socket to %s: %s\n", addr, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return r;
        }
        t->fd = fd;
        return 0;
}

/* Reads every answer waiting on T's socket into its slots. */
static void target_drain(Target *t, size_t n_slots, Names *names)
{
        for (;;) {
                char buf[PROBE_LEN + NAME_MAX_LEN + 1];
                uint64_t hdr[2];
                ssize_t n = recv(t->fd, buf, sizeof(buf) - 1, 0);

                if (n < 0) {
                        /* ICMP errors (host unreachable while ARP fails) are reported on
                         * the connected socket: just unanswered probes. */
                        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                                return;
                        continue;
                }
                if (n <= PROBE_LEN)
                        continue;
                memcpy(hdr, buf, sizeof(hdr));
                buf[n] = '\0';
                for (char *s = buf + PROBE_LEN; *s; s++)
                        if (*s <= ' ' || *s > '~' || *s == ',' || *s == ':')
                                *s = '_';
                if (hdr[0] < n_slots && t->slot[hdr[0]] == SLOT_LOST)
                        t->slot[hdr[0]] = names_index(names, buf + PROBE_LEN);
        }
}

static int udp_client(char **argv, int argc, unsigned long interval_ms, unsigned long wait_ms)
{
        static Target targets[MAX_ADDRS];
        static struct pollfd pfd[MAX_ADDRS];
        static Names names;
        unsigned long duration_ms, port;
        size_t n_targets = (size_t)argc - 2, n_slots, seq = 0, skipped = 0;
        uint64_t t0, next, end, start_ms;

        if (parse_uint(argv[0], 1, MAX_DURATION_MS, &duration_ms) < 0 ||
            parse_uint(argv[1], 1, 65535, &port) < 0)
                return 1;
        if (n_targets < 1 || n_targets > MAX_ADDRS) {
                fprintf(stderr, "cached-client: 1..%d addresses\n", MAX_ADDRS);
                return 1;
        }
        n_slots = duration_ms / interval_ms + 1;
        for (size_t i = 0; i < n_targets; i++) {
                if (target_open(&targets[i], argv[2 + i], port) < 0)
                        return 1;
                targets[i].slot = calloc(n_slots, sizeof(uint32_t));
                if (!targets[i].slot) {
                        fprintf(stderr, "cached-client: out of memory\n");
                        return 1;
                }
                pfd[i] = (struct pollfd){.fd = targets[i].fd, .events = POLLIN};
        }
        if (set_handlers() < 0)
                return 1;
        start_ms = unix_ms();
        t0 = next = now_us();
        end = t0 + duration_ms * 1000u;
        for (;;) {
                uint64_t t = now_us();
                int timeout_ms;

                if (stop_requested && end > t)
                        end = t;
                bool sending = seq < n_slots && next < end;
                uint64_t wake = sending ? next : end + wait_ms * 1000u;

                if (sending && t >= next) {
                        for (size_t i = 0; i < n_targets; i++) {
                                uint64_t pkt[2] = {seq, t};
                                (void)!send(targets[i].fd, pkt, sizeof(pkt), 0);
                        }
                        seq++;
                        /* Slot k belongs to t0 + k x interval. After a stall (this process
                         * descheduled on a loaded machine) no burst: the slots missed were
                         * never sent, and count neither as sent nor as lost. */
                        next += interval_ms * 1000u;
                        while (next <= t && seq < n_slots) {
                                next += interval_ms * 1000u;
                                for (size_t i = 0; i < n_targets; i++)
                                        targets[i].slot[seq] = SLOT_SKIPPED;
                                seq++;
                                skipped++;
                        }
                        continue;
                }
                if (!sending && t >= wake)
                        break;
                timeout_ms = wake > t ? (int)((wake - t + 999) / 1000) : 0;
                if (poll(pfd, n_targets, timeout_ms) < 0 && errno != EINTR) {
                        fprintf(stderr, "cached-client: poll: %s\n", strerror(errno));
                        return 1;
                }
                for (size_t i = 0; i < n_targets; i++)
                        if (pfd[i].revents)
                                target_drain(&targets[i], n_slots, &names);
        }

        unsigned long total_sent = 0, total_lost = 0, worst_gap = 0;
        const char *worst = "-";
        for (size_t i = 0; i < n_targets; i++) {
                unsigned long count[MAX_NAMES] = {0};
                Runs r;

                for (size_t k = 0; k < seq; k++)
                        if (targets[i].slot[k] != SLOT_LOST && targets[i].slot[k] != SLOT_SKIPPED)
                                count[targets[i].slot[k] - 1]++;
                runs_of(targets[i].slot, seq, slot_lost, slot_skipped, &r);
                printf("%s sent %zu lost %lu longest_gap_ms %lu gap_at_ms %lu runs ",
                       targets[i].text, seq - skipped, r.count, r.longest * interval_ms,
                       r.longest ? r.longest_at * interval_ms : 0);
                for (size_t k = 0; k < r.n_runs; k++)
                        printf("%s%lu+%lu", k ? "," : "", r.starts[k] * interval_ms,
                               r.lens[k] * interval_ms);
                if (r.n_runs == 0)
                        printf("-");
                print_counts(&names, count);
                printf("\n");
                total_sent += seq - skipped;
                total_lost += r.count;
                if (i == 0 || r.longest * interval_ms > worst_gap) {
                        worst_gap = r.longest * interval_ms;
                        worst = targets[i].text;
                }
        }
        printf("summary start_unix_ms %" PRIu64 " addresses %zu sent %lu lost %lu "
               "longest_gap_ms %lu worst %s skipped_ms %lu\n",
               start_ms, n_targets, total_sent, total_lost, worst_gap, worst,
               (unsigned long)skipped * interval_ms);
        fflush(stdout);
        for (size_t i = 0; i < n_targets; i++) {
                free(targets[i].slot);
                close(targets[i].fd);
        }
        return 0;
}

/* ---- arp: the fresh who-has prober ---- */

/* A round: ROUND_SENT once its requests went out, and a bit per answering MAC. A round
 * never sent (this process descheduled) is 0 and judged neither way. */
#define ROUND_SENT (1u << 31)

static bool round_unsent(uint32_t v)
{
        return v == 0;
}

static bool round_unanswered(uint32_t v)
{
        return v == ROUND_SENT;
}

static bool round_double(uint32_t v)
{
        v &= ~ROUND_SENT;
        return (v & (v - 1)) != 0; /* two or more bits: two or more MACs */
}

static void rounds_sent_mark(uint32_t **rounds, size_t n_addrs, size_t round)
{
        for (size_t i = 0; i < n_addrs; i++)
                rounds[i][round] |= ROUND_SENT;
}

static int arp_prober(char **argv, int argc, unsigned long interval_ms)
{
        static struct in_addr addrs[MAX_ADDRS];
        static uint32_t *rounds[MAX_ADDRS]; /* per round a bit mask of answering MACs */
        static unsigned long count[MAX_ADDRS][MAX_NAMES];
        static Names macs;
        const char *ifname = argv[0];
        unsigned long duration_ms;
        size_t n_addrs = (size_t)argc - 2, n_rounds, round = 0;
        struct ifreq ifr = {0};
        struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP)};
        unsigned char mac[ETH_ALEN];
        struct in_addr src;
        uint64_t t0, next, end, start_ms;
        int fd;

        if (parse_uint(argv[1], 1, MAX_DURATION_MS, &duration_ms) < 0)
                return 1;
        if (n_addrs < 1 || n_addrs > MAX_ADDRS || strlen(ifname) >= IFNAMSIZ) {
                fprintf(stderr, "cached-client: an interface and 1..%d addresses\n", MAX_ADDRS);
                return 1;
        }
        n_rounds = duration_ms / interval_ms + 1;
        for (size_t i = 0; i < n_addrs; i++) {
                if (inet_pton(AF_INET, argv[2 + i], &addrs[i]) != 1) {
                        fprintf(stderr, "cached-client: \"%s\" is not an IPv4 address\n",
                                argv[2 + i]);
                        return 1;
                }
                rounds[i] = calloc(n_rounds, sizeof(uint32_t));
                if (!rounds[i]) {
                        fprintf(stderr, "cached-client: out of memory\n");
                        return 1;
                }
        }
        fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ARP));
        if (fd < 0) {
                fprintf(stderr, "cached-client: packet socket: %s\n", strerror(errno));
                return 1;
        }
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
        if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
                fprintf(stderr, "cached-client: %s: %s\n", ifname, strerror(errno));
                return 1;
        }
        sll.sll_ifindex = ifr.ifr_ifindex;
        if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
                fprintf(stderr, "cached-client: %s: no MAC: %s\n", ifname, strerror(errno));
                return 1;
        }
        memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
        ifr.ifr_addr.sa_family = AF_INET;
        if (ioctl(fd, SIOCGIFADDR, &ifr) < 0) {
                fprintf(stderr, "cached-client: %s: no IPv4 address: %s\n", ifname,
                        strerror(errno));
                return 1;
        }
        src = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr;
        if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
                fprintf(stderr, "cached-client: bind %s: %s\n", ifname, strerror(errno));
                return 1;
        }
        if (set_handlers() < 0)
                return 1;

        struct sockaddr_ll bcast = sll;
        bcast.sll_halen = ETH_ALEN;
        memset(bcast.sll_addr, 0xff, ETH_ALEN);
        struct ether_arp req = {0};
        req.arp_hrd = htons(ARPHRD_ETHER);
        req.arp_pro = htons(ETHERTYPE_IP);
        req.arp_hln = ETH_ALEN;
        req.arp_pln = 4;
        req.arp_op = htons(ARPOP_REQUEST);
        memcpy(req.arp_sha, mac, ETH_ALEN);
        memcpy(req.arp_spa, &src, 4);

        start_ms = unix_ms();
        t0 = next = now_us();
        end = t0 + duration_ms * 1000u;
        for (;;) {
                uint64_t t = now_us();
                int timeout_ms;

                if (stop_requested && end > t)
                        end = t;
                bool sending = round < n_rounds && next < end;
                uint64_t wake = sending ? next : end + 100000u; /* a last reply may be late */

                if (sending && t >= next) {
                        for (size_t i = 0; i < n_addrs; i++) {
                                memcpy(req.arp_tpa, &addrs[i], 4);
                                (void)!sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&bcast,
                                              sizeof(bcast));
                        }
                        round = (size_t)((t - t0) / (interval_ms * 1000u));
                        if (round >= n_rounds)
                                round = n_rounds - 1;
                        rounds_sent_mark(rounds, n_addrs, round);
                        round++;
                        next = t0 + round * interval_ms * 1000u;
                        continue;
                }
                if (!sending && t >= wake)
                        break;
                timeout_ms = wake > t ? (int)((wake - t + 999) / 1000) : 0;
                struct pollfd p = {.fd = fd, .events = POLLIN};
                if (poll(&p, 1, timeout_ms) < 0 && errno != EINTR) {
                        fprintf(stderr, "cached-client: poll: %s\n", strerror(errno));
                        return 1;
                }
                for (;;) {
                        struct ether_arp rep;
                        struct sockaddr_ll from;
                        socklen_t flen = sizeof(from);
                        ssize_t n =
                            recvfrom(fd, &rep, sizeof(rep), 0, (struct sockaddr *)&from, &flen);
                        char text[18];

                        if (n < 0)
                                break;
                        if (n < (ssize_t)sizeof(rep) || from.sll_pkttype == PACKET_OUTGOING ||
                            ntohs(rep.arp_op) != ARPOP_REPLY || memcmp(rep.arp_tpa, &src, 4) != 0)
                                continue;
                        /* A reply belongs to the last round sent (replies take < 1 ms; one
                         * read late because we were descheduled still belongs there). */
                        size_t r = round ? round - 1 : 0;
                        snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x",
                                 rep.arp_sha[0], rep.arp_sha[1], rep.arp_sha[2], rep.arp_sha[3],
                                 rep.arp_sha[4], rep.arp_sha[5]);
                        for (size_t i = 0; i < n_addrs; i++) {
                                if (memcmp(rep.arp_spa, &addrs[i], 4) != 0)
                                        continue;
                                unsigned k = names_index(&macs, text);
                                if (k && !(rounds[i][r] & (1u << (k - 1)))) {
                                        rounds[i][r] |= 1u << (k - 1);
                                        count[i][k - 1]++;
                                }
                        }
                }
        }

        unsigned long worst_un = 0, worst_dbl = 0;
        for (size_t i = 0; i < n_addrs; i++) {
                char text[INET_ADDRSTRLEN];
                Runs un, dbl;

                size_t sent = 0;
                for (size_t k = 0; k < round; k++)
                        sent += !round_unsent(rounds[i][k]);
                runs_of(rounds[i], round, round_unanswered, round_unsent, &un);
                runs_of(rounds[i], round, round_double, round_unsent, &dbl);
                inet_ntop(AF_INET, &addrs[i], text, sizeof(text));
                printf(
                    "%s rounds %zu unanswered %lu longest_unanswered_ms %lu unanswered_at_ms %lu "
                    "longest_double_ms %lu double_at_ms %lu",
                    text, round, un.count, un.longest * interval_ms, un.longest_at * interval_ms,
                    dbl.longest * interval_ms, dbl.longest_at * interval_ms);
                print_counts(&macs, count[i]);
                printf("\n");
                if (un.longest * interval_ms > worst_un)
                        worst_un = un.longest * interval_ms;
                if (dbl.longest * interval_ms > worst_dbl)
                        worst_dbl = dbl.longest * interval_ms;
                free(rounds[i]);
        }
        printf("summary start_unix_ms %" PRIu64 " addresses %zu longest_unanswered_ms %lu "
               "longest_double_ms %lu\n",
               start_ms, n_addrs, worst_un, worst_dbl);
        fflush(stdout);
        close(fd);
        return 0;
}

static int usage(void)
{
        fprintf(stderr, "usage: cached-client serve PORT NAME\n"
                        "       cached-client [-i INTERVAL_MS] [-w WAIT_MS] udp DURATION_MS "
                        "PORT ADDR...\n"
                        "       cached-client [-i INTERVAL_MS] arp IFACE DURATION_MS ADDR...\n");
        return 1;
}

int main(int argc, char **argv)
{
        unsigned long interval_ms = 10, wait_ms = 500;
        int opt;

        while ((opt = getopt(argc, argv, "+i:w:")) != -1) {
                if (opt == 'i' && parse_uint(optarg, 1, 10000, &interval_ms) == 0)
                        continue;
                if (opt == 'w' && parse_uint(optarg, 0, 60000, &wait_ms) == 0)
                        continue;
                return usage();
        }
        argc -= optind;
        argv += optind;
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc == 3 && strcmp(argv[0], "serve") == 0)
                return serve(argv + 1);
        if (argc >= 4 && strcmp(argv[0], "udp") == 0)
                return udp_client(argv + 1, argc - 1, interval_ms, wait_ms);
        if (argc >= 4 && strcmp(argv[0], "arp") == 0)
                return arp_prober(argv + 1, argc - 1, interval_ms);
        return usage();
}
