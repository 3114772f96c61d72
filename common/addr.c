/* SPDX-License-Identifier: MIT */
/* 128-bit address math, parsing and formatting; see addr.h. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <string.h>

#include "addr.h"

u128 addr_from_in6(const struct in6_addr *a)
{
        u128 v = 0;
        for (int i = 0; i < 16; i++)
                v = (v << 8) | a->s6_addr[i];
        return v;
}

void addr_to_in6(u128 a, struct in6_addr *ret)
{
        for (int i = 15; i >= 0; i--) {
                ret->s6_addr[i] = (uint8_t)a;
                a >>= 8;
        }
}

size_t addr_to_bytes(u128 a, uint8_t ret[static 16])
{
        struct in6_addr in6;

        addr_to_in6(a, &in6);
        if (addr_is_v4(a)) {
                memcpy(ret, &in6.s6_addr[12], 4);
                return 4;
        }
        memcpy(ret, in6.s6_addr, 16);
        return 16;
}

u128 addr_from_bytes(int family, const void *bytes)
{
        if (family == AF_INET) {
                uint32_t v;
                memcpy(&v, bytes, 4);
                return addr_from_v4(ntohl(v));
        }
        struct in6_addr in6;
        memcpy(&in6, bytes, 16);
        return addr_from_in6(&in6);
}

bool addr_parse(const char *s, u128 *ret)
{
        struct in_addr a4;
        struct in6_addr a6;

        if (!s || !*s || strlen(s) >= ADDR_STR_MAX)
                return false;
        if (inet_pton(AF_INET, s, &a4) == 1) {
                *ret = addr_from_v4(ntohl(a4.s_addr));
                return true;
        }
        if (strchr(s, ':') && inet_pton(AF_INET6, s, &a6) == 1) {
                u128 v = addr_from_in6(&a6);
                if (addr_is_v4(v))
                        return false;
                *ret = v;
                return true;
        }
        return false;
}

const char *addr_format(u128 a, char buf[static ADDR_STR_MAX])
{
        if (addr_is_v4(a)) {
                struct in_addr a4 = {.s_addr = htonl(addr_to_v4(a))};
                return inet_ntop(AF_INET, &a4, buf, ADDR_STR_MAX);
        }
        struct in6_addr a6;
        addr_to_in6(a, &a6);
        return inet_ntop(AF_INET6, &a6, buf, ADDR_STR_MAX);
}

u128 addr_prefix_mask(unsigned bits, unsigned prefixlen)
{
        unsigned host = bits - prefixlen;
        if (host == 0)
                return 0;
        if (host >= 128)
                return ~(u128)0;
        return ((u128)1 << host) - 1;
}

static int fail(char *err, size_t err_len, size_t *err_ofs, size_t ofs, const char *fmt, ...)
    _printf_(5, 6);
static int fail(char *err, size_t err_len, size_t *err_ofs, size_t ofs, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
        if (err_ofs)
                *err_ofs = ofs;
        return -EINVAL;
}

/* Copies s[from, to) without surrounding blanks into buf; returns the offset of the
 * first non-blank character. */
static size_t trim_copy(const char *s, size_t from, size_t to, char *buf, size_t len)
{
        while (from < to && isspace((unsigned char)s[from]))
                from++;
        while (to > from && isspace((unsigned char)s[to - 1]))
                to--;
        size_t n = MIN(to - from, len - 1);
        memcpy(buf, s + from, n);
        buf[n] = 0;
        return from;
}

int range_parse(const char *s, bool allow_host_bits, AddrRange *ret, char *err, size_t err_len,
                size_t *err_ofs)
{
        char a[64], b[64];
        const char *dash = strchr(s, '-');
        const char *slash = strchr(s, '/');
        size_t len = strlen(s);
        size_t ofs_a, ofs_b;
        u128 first, last;

        if (len == 0 || len > 200)
                return fail(err, err_len, err_ofs, 0,
                            len ? "address entry is too long" : "empty address entry");

        if (dash) {
                ofs_a = trim_copy(s, 0, dash - s, a, sizeof(a));
                ofs_b = trim_copy(s, dash - s + 1, len, b, sizeof(b));
                if (!addr_parse(a, &first))
                        return fail(err, err_len, err_ofs, ofs_a,
                                    "\"%s\" is not a valid IPv4 or IPv6 address (range start)", a);
                if (!addr_parse(b, &last))
                        return fail(err, err_len, err_ofs, ofs_b,
                                    "\"%s\" is not a valid IPv4 or IPv6 address (range end)", b);
                if (addr_is_v4(first) != addr_is_v4(last))
                        return fail(err, err_len, err_ofs, 0, "range %s-%s mixes IPv4 and IPv6", a,
                                    b);
                if (last < first)
                        return fail(err, err_len, err_ofs, ofs_b,
                                    "range end %s is below its start %s; "
                                    "a range is written lowest-highest",
                                    b, a);
                *ret = (AddrRange){first, last};
                return RANGE_OK;
        }

        if (slash) {
                char *end;
                ofs_a = trim_copy(s, 0, slash - s, a, sizeof(a));
                ofs_b = trim_copy(s, slash - s + 1, len, b, sizeof(b));
                if (!addr_parse(a, &first))
                        return fail(err, err_len, err_ofs, ofs_a,
                                    "\"%s\" is not a valid IPv4 or IPv6 address", a);
                unsigned bits = addr_bits(first);
                errno = 0;
                unsigned long plen = strtoul(b, &end, 10);
                if (!*b || *end || errno || !isdigit((unsigned char)b[0]) || plen > bits)
                        return fail(err, err_len, err_ofs, ofs_b,
                                    "\"%s\" is not a valid prefix length for %s (0-%u)", b,
                                    bits == 32 ? "IPv4" : "IPv6", bits);
                u128 host = addr_prefix_mask(bits, (unsigned)plen);
                int result = RANGE_OK;
                if (first & host) {
                        char net[ADDR_STR_MAX];
                        addr_format(first & ~host, net);
                        if (!allow_host_bits)
                                return fail(err, err_len, err_ofs, 0,
                                            "%s/%lu has host bits set; the network is %s/%lu", a,
                                            plen, net, plen);
                        fail(err, err_len, err_ofs, 0,
                             "%s/%lu has host bits set; using %s/%lu as MetalLB does", a, plen, net,
                             plen);
                        result = RANGE_MASKED;
                }
                if (bits == 32)
                        first = addr_from_v4(addr_to_v4(first) & ~(uint32_t)host);
                else
                        first &= ~host;
                *ret = (AddrRange){first, first | host};
                return result;
        }

        ofs_a = trim_copy(s, 0, len, a, sizeof(a));
        if (!addr_parse(a, &first))
                return fail(err, err_len, err_ofs, ofs_a,
                            "\"%s\" is not a valid IPv4 or IPv6 address, range or CIDR", a);
        *ret = (AddrRange){first, first};
        return RANGE_OK;
}

const char *range_format(const AddrRange *r, char buf[static RANGE_STR_MAX])
{
        char a[ADDR_STR_MAX], b[ADDR_STR_MAX];

        if (r->first == r->last)
                snprintf(buf, RANGE_STR_MAX, "%s", addr_format(r->first, a));
        else
                snprintf(buf, RANGE_STR_MAX, "%s-%s", addr_format(r->first, a),
                         addr_format(r->last, b));
        return buf;
}

const char *range_format_cidr(const AddrRange *r, char buf[static RANGE_STR_MAX])
{
        unsigned bits = addr_bits(r->first);
        char a[ADDR_STR_MAX];

        for (unsigned plen = 0; plen < bits; plen++) {
                u128 host = addr_prefix_mask(bits, plen);
                if ((r->first & host) == 0 && (r->first | host) == r->last) {
                        snprintf(buf, RANGE_STR_MAX, "%s/%u", addr_format(r->first, a), plen);
                        return buf;
                }
        }
        return range_format(r, buf);
}

u128 range_size(const AddrRange *r, bool *full)
{
        u128 n = r->last - r->first + 1;
        if (full)
                *full = n == 0;
        return n;
}

void addr_count_add_range(AddrCount *c, const AddrRange *r)
{
        bool full;
        u128 n = range_size(r, &full);

        if (full || c->n + n < c->n)
                c->overflow = true;
        c->n += n;
}

const char *u128_format(u128 v, char buf[static COUNT_STR_MAX])
{
        char tmp[COUNT_STR_MAX];
        size_t i = 0;

        do {
                tmp[i++] = (char)('0' + (int)(v % 10));
                v /= 10;
        } while (v);
        for (size_t j = 0; j < i; j++)
                buf[j] = tmp[i - 1 - j];
        buf[i] = 0;
        return buf;
}

const char *addr_count_format(const AddrCount *c, char buf[static COUNT_STR_MAX])
{
        if (c->overflow) {
                if (c->n == 0)
                        snprintf(buf, COUNT_STR_MAX, "2^128");
                else
                        snprintf(buf, COUNT_STR_MAX, "more than 2^128");
                return buf;
        }
        if (c->n >= ((u128)1 << 32) && (c->n & (c->n - 1)) == 0) {
                unsigned k = 0;
                while (((u128)1 << k) != c->n)
                        k++;
                snprintf(buf, COUNT_STR_MAX, "2^%u", k);
                return buf;
        }
        return u128_format(c->n, buf);
}
