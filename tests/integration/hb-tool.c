/* SPDX-License-Identifier: MIT */
/*
 * Test helper around the heartbeat codec (daemon/heartbeat.c), for the shell tests that
 * check tests/lib/hb-send.py against the daemon's own encoder and decoder.
 *
 *   hb-tool encode KEYFILE NAME INCARNATION SEQUENCE LEAVING(0|1) [ADDR...]
 *       prints the packet as hex
 *   hb-tool decode KEYFILE HEX
 *       prints "ok name=N inc=I seq=S leaving=0|1 truncated=0|1 owned=A,B" or "drop REASON"
 *   hb-tool recv KEYFILE ADDR PORT TIMEOUT_MS
 *       binds ADDR:PORT (PORT 0: a free one, printed as "port P" first), receives one
 *       datagram and prints it like decode (oversize is judged on the real length)
 * Exit 0 on success (also for a drop), 1 on usage or system errors.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "heartbeat.h"
#include "peers.h"

static uint8_t buf[HB_MAX_PACKET + 2];

static int load_key(const char *path, uint8_t key[static HB_KEY_SIZE])
{
        char *error = NULL;
        int r = hb_key_load(path, key, &error);

        if (r < 0)
                fprintf(stderr, "%s\n", error ? error : "cannot load key");
        free(error);
        return r;
}

static void print_decoded(const uint8_t *p, size_t len, const uint8_t *key)
{
        Heartbeat hb = {0};
        HbDrop d;
        char ab[ADDR_STR_MAX];
        int r = len > HB_MAX_PACKET ? (d = HB_DROP_OVERSIZE, HB_DROPPED)
                                    : hb_decode(p, len, key, &hb, &d);

        if (r == HB_DROPPED) {
                printf("drop %s\n", hb_drop_to_string(d));
                return;
        }
        if (r < 0) {
                printf("error %s\n", strerror(-r));
                return;
        }
        printf("ok name=%s inc=%" PRIu64 " seq=%" PRIu64 " leaving=%d truncated=%d owned=", hb.name,
               hb.incarnation, hb.sequence, hb.leaving, hb.owned_truncated);
        for (size_t i = 0; i < hb.n_owned; i++)
                printf("%s%s", i ? "," : "", addr_format(hb.owned[i], ab));
        printf("\n");
        heartbeat_done(&hb);
}

int main(int argc, char **argv)
{
        uint8_t key[HB_KEY_SIZE];

        if (argc >= 7 && strcmp(argv[1], "encode") == 0) {
                size_t n = (size_t)argc - 7;
                u128 *owned = calloc(n + 1, sizeof(u128));
                ssize_t len;

                if (load_key(argv[2], key) < 0 || !owned)
                        return 1;
                for (size_t i = 0; i < n; i++)
                        if (!addr_parse(argv[7 + i], &owned[i])) {
                                fprintf(stderr, "bad address %s\n", argv[7 + i]);
                                return 1;
                        }
                len = hb_encode(buf, key, argv[3], strtoull(argv[4], NULL, 0),
                                strtoull(argv[5], NULL, 0), strcmp(argv[6], "1") == 0, owned, n,
                                NULL);
                free(owned);
                if (len < 0) {
                        fprintf(stderr, "encode: %s\n", strerror((int)-len));
                        return 1;
                }
                for (ssize_t i = 0; i < len; i++)
                        printf("%02x", buf[i]);
                printf("\n");
                return 0;
        }
        if (argc == 4 && strcmp(argv[1], "decode") == 0) {
                size_t hl = strlen(argv[3]), len = 0;

                if (load_key(argv[2], key) < 0)
                        return 1;
                if (hl % 2 || hl / 2 > sizeof(buf)) {
                        fprintf(stderr, "bad hex\n");
                        return 1;
                }
                for (; len < hl / 2; len++) {
                        unsigned v;
                        if (sscanf(argv[3] + 2 * len, "%2x", &v) != 1)
                                return 1;
                        buf[len] = (uint8_t)v;
                }
                print_decoded(buf, len, key);
                return 0;
        }
        if (argc == 6 && strcmp(argv[1], "recv") == 0) {
                PeerSockaddr sa;
                socklen_t sl = sizeof(sa);
                u128 a;
                int fd;

                if (load_key(argv[2], key) < 0 || !addr_parse(argv[3], &a))
                        return 1;
                addr_to_sockaddr(a, (uint16_t)atoi(argv[4]), &sa);
                fd = socket(sa.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                if (fd < 0 ||
                    bind(fd, &sa.sa, sa.sa.sa_family == AF_INET ? sizeof(sa.in) : sizeof(sa.in6)) <
                        0 ||
                    getsockname(fd, &sa.sa, &sl) < 0) {
                        perror("socket");
                        return 1;
                }
                printf("port %u\n",
                       ntohs(sa.sa.sa_family == AF_INET ? sa.in.sin_port : sa.in6.sin6_port));
                fflush(stdout);
                struct pollfd pfd = {.fd = fd, .events = POLLIN};
                if (poll(&pfd, 1, atoi(argv[5])) != 1) {
                        printf("timeout\n");
                        return 1;
                }
                ssize_t n = recv(fd, buf, sizeof(buf), MSG_TRUNC);
                if (n < 0) {
                        perror("recv");
                        return 1;
                }
                print_decoded(buf, (size_t)n, key);
                close(fd);
                return 0;
        }
        fprintf(stderr, "usage: hb-tool encode|decode|recv ... (see the source)\n");
        return 1;
}
