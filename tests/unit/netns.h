/* SPDX-License-Identifier: MIT */
/*
 * For unit tests against the real kernel: a network namespace of the test's own, with lo
 * up. netns_enter() prints the TAP skip and returns false when that cannot be had (not
 * root, no unshare); the test then exits 0.
 */
#pragma once

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static inline int netns_lo_up(void)
{
        struct ifreq ifr = {.ifr_name = "lo"};
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

        if (fd < 0)
                return -errno;
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                r = -errno;
        ifr.ifr_flags |= IFF_UP;
        if (r == 0 && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                r = -errno;
        close(fd);
        return r;
}

static inline bool netns_enter(void)
{
        if (geteuid() != 0) {
                printf("1..0 # SKIP needs root (a network namespace of its own)\n");
                return false;
        }
        if (unshare(CLONE_NEWNET) < 0) {
                printf("1..0 # SKIP unshare(CLONE_NEWNET): %s\n", strerror(errno));
                return false;
        }
        return true;
}
