/* SPDX-License-Identifier: MIT */
/*
 * flood-tool: sends packets as fast as it can, for the loop-starvation tests; bounded
 * both in packets and in seconds, whichever comes first.
 *
 *   flood-tool udp ADDR PORT SECONDS MAX_PACKETS [SIZE]
 *       UDP datagrams of SIZE bytes (default 100, at most 65000; anything from 58 bytes
 *       on costs mlbd a heartbeat tag check before it can tell it forged, and the check
 *       takes longer the longer the datagram) to ADDR:PORT
 *   flood-tool arp IFNAME SECONDS MAX_PACKETS [TARGET]
 *       broadcast ARP requests "who has 192.0.2.98? tell 192.0.2.99" (documentation
 *       addresses, nobody's) from IFNAME's own MAC; with TARGET (an IPv4 address) for
 *       that address instead, so that its holder's kernel answers each one
 *
 * Prints "sent N" at the end (also when stopped by SIGTERM); exits 0, or 1 on a setup
 * error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
        (void)sig;
        stop = 1;
}

static uint64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int usage(void)
{
        fprintf(stderr, "usage: flood-tool udp ADDR PORT SECONDS MAX_PACKETS [SIZE]\n"
                        "       flood-tool arp IFNAME SECONDS MAX_PACKETS [TARGET]\n");
        return 1;
}

/* Sends the same packet (on a connected or bound socket) until either bound is reached. */
static uint64_t flood(int fd, const void *pkt, size_t len, const struct sockaddr *to,
                      socklen_t to_len, unsigned seconds, uint64_t max)
{
        struct mmsghdr msgs[BATCH];
        struct iovec iov = {.iov_base = (void *)pkt, .iov_len = len};
        uint64_t end = now_ms() + (uint64_t)seconds * 1000, sent = 0;

        for (int i = 0; i < BATCH; i++)
                msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_name = (void *)to,
                                                       .msg_namelen = to_len,
                                                       .msg_iov = &iov,
                                                       .msg_iovlen = 1}};
        while (!stop && sent < max && now_ms() < end) {
                unsigned n = max - sent < BATCH ? (unsigned)(max - sent) : BATCH;
                int r = sendmmsg(fd, msgs, n, 0);
                if (r < 0) {
                        if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR ||
                            errno == ECONNREFUSED)
                                continue;
                        perror("sendmmsg");
                        break;
                }
                sent += (uint64_t)r;
        }
        return sent;
}

int main(int argc, char **argv)
{
        static uint8_t pkt[65000];
        uint64_t sent;
        int fd;

        signal(SIGTERM, on_signal); /* stop early, and still print the count */
        signal(SIGINT, on_signal);
        if ((argc == 6 || argc == 7) && strcmp(argv[1], "udp") == 0) {
                size_t size = argc == 7 ? strtoul(argv[6], NULL, 10) : 100;
                struct sockaddr_in sa = {.sin_family = AF_INET,
                                         .sin_port = htons((uint16_t)atoi(argv[3]))};
                if (inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1 || size < 5 ||
                    size > sizeof(pkt))
                        return usage();
                fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                if (fd < 0)
                        return perror("socket"), 1;
                memcpy(pkt, "MLBH\1", 5);
                sent = flood(fd, pkt, size, (struct sockaddr *)&sa, sizeof(sa),
                             (unsigned)atoi(argv[4]), strtoull(argv[5], NULL, 10));
        } else if ((argc == 5 || argc == 6) && strcmp(argv[1], "arp") == 0) {
                unsigned ifindex = if_nametoindex(argv[2]);
                struct ifreq ifr = {0};
                uint8_t *p = pkt, target[4] = {192, 0, 2, 98};
                if (ifindex == 0)
                        return perror(argv[2]), 1;
                if (argc == 6 && inet_pton(AF_INET, argv[5], target) != 1)
                        return usage();
                fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP));
                if (fd < 0)
                        return perror("socket"), 1;
                snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", argv[2]);
                if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
                        return perror("SIOCGIFHWADDR"), 1;
                const uint8_t *mac = (const uint8_t *)ifr.ifr_hwaddr.sa_data;
                struct sockaddr_ll ll = {.sll_family = AF_PACKET,
                                         .sll_protocol = htons(ETH_P_ARP),
                                         .sll_ifindex = (int)ifindex};
                memset(p, 0xff, 6); /* Ethernet: broadcast, from us, ARP */
                memcpy(p + 6, mac, 6);
                p[12] = 0x08, p[13] = 0x06;
                p += 14;
                static const uint8_t hdr[] = {0, 1, 8, 0, 6, 4, 0, 1}; /* Ethernet/IPv4, request */
                memcpy(p, hdr, sizeof(hdr));
                memcpy(p + 8, mac, 6);
                memcpy(p + 14, (uint8_t[]){192, 0, 2, 99}, 4);
                memcpy(p + 24, target, 4);
                sent = flood(fd, pkt, 14 + 28, (struct sockaddr *)&ll, sizeof(ll),
                             (unsigned)atoi(argv[3]), strtoull(argv[4], NULL, 10));
        } else
                return usage();
        printf("sent %llu\n", (unsigned long long)sent);
        close(fd);
        return 0;
}
