/* SPDX-License-Identifier: MIT */
/* Packet sockets; see packet.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <linux/if_packet.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "packet.h"
#include "util/macro.h"

int packet_socket_open(int ifindex, uint16_t protocol, const struct sock_fprog *filter)
{
        struct sockaddr_ll sll = {
            .sll_family = AF_PACKET,
            .sll_protocol = htons(protocol),
            .sll_ifindex = ifindex,
        };
        _cleanup_close_ int fd = -EBADF;

        if (ifindex <= 0)
                return -EINVAL;
        fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, filter, sizeof(*filter)) < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
                return -errno;
        return TAKE_FD(fd);
}

/* The closer thread: reads fds from the pipe and closes them, each taking its grace
 * period there instead of in the event loop. */
static int closer_fd = -EBADF; /* the pipe's write end; < 0: not started, or failed */
static pthread_once_t closer_once = PTHREAD_ONCE_INIT;
static pthread_t closer_thread;

static void *closer_main(void *arg)
{
        int rfd = (int)(intptr_t)arg, fd;

        for (;;) {
                ssize_t n = read(rfd, &fd, sizeof(fd));
                if (n == (ssize_t)sizeof(fd))
                        (void)close(fd);
                else if (n == 0 || (n < 0 && errno != EINTR)) {
                        close(rfd);
                        return NULL;
                }
        }
}

/* At exit: the thread closes what it was given, sees the end of the pipe and is joined. */
static void closer_stop(void)
{
        if (closer_fd < 0)
                return;
        close(closer_fd);
        closer_fd = -EBADF;
        (void)pthread_join(closer_thread, NULL);
}

static void closer_start(void)
{
        int p[2];
        pthread_attr_t attr;
        sigset_t all, old;

        if (pipe2(p, O_CLOEXEC) < 0)
                return;
        /* the writes never block the loop: a full pipe closes in place instead */
        (void)fcntl(p[1], F_SETFL, O_NONBLOCK);
        /* the thread takes no signals: sd-event's signalfd expects them blocked there too */
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        bool ok = pthread_attr_init(&attr) == 0 &&
                  pthread_attr_setstacksize(&attr, 64 * 1024) == 0 &&
                  pthread_create(&closer_thread, &attr, closer_main, (void *)(intptr_t)p[0]) == 0;
        pthread_attr_destroy(&attr);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (!ok) {
                close(p[0]);
                close(p[1]);
                return;
        }
        closer_fd = p[1];
        (void)atexit(closer_stop);
}

void packet_socket_close(int fd)
{
        if (fd < 0)
                return;
        (void)pthread_once(&closer_once, closer_start);
        if (closer_fd < 0 || write(closer_fd, &fd, sizeof(fd)) != (ssize_t)sizeof(fd))
                (void)close(fd);
}

int packet_send_socket_open(void)
{
        int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        return fd < 0 ? -errno : fd;
}

int packet_send(int fd, int ifindex, uint16_t protocol, const uint8_t dst_mac[static ETH_ALEN],
                const uint8_t *buf, size_t len)
{
        struct sockaddr_ll sll = {
            .sll_family = AF_PACKET,
            .sll_protocol = htons(protocol),
            .sll_ifindex = ifindex,
            .sll_halen = ETH_ALEN,
        };
        ssize_t n;

        memcpy(sll.sll_addr, dst_mac, ETH_ALEN);
        n = sendto(fd, buf, len, 0, (struct sockaddr *)&sll, sizeof(sll));
        if (n < 0)
                return -errno;
        return (size_t)n == len ? 0 : -EIO;
}
