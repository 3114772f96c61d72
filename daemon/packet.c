/* SPDX-License-Identifier: MIT */
/* Packet sockets; see packet.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <string.h>
#include <sys/socket.h>

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
