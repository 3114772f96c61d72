/* SPDX-License-Identifier: MIT */
/*
 * Addresses as 128-bit integers. IPv4 addresses live in ::ffff:0:0/96 (IPv4-mapped), so
 * ranges, counts and the allocator have one code path for both families. A range is
 * inclusive [first, last] and never mixes families.
 */
#pragma once

#include <netinet/in.h>

#include "util/macro.h"

typedef unsigned __int128 u128;

#define ADDR_V4_BASE (((u128)0xffff) << 32)
#define ADDR_STR_MAX 46 /* INET6_ADDRSTRLEN */
#define RANGE_STR_MAX (2 * ADDR_STR_MAX + 2)
#define COUNT_STR_MAX 48

typedef struct AddrRange {
        u128 first, last;
} AddrRange;

static inline bool addr_is_v4(u128 a)
{
        return (a >> 32) == 0xffff;
}
static inline int addr_family(u128 a)
{
        return addr_is_v4(a) ? AF_INET : AF_INET6;
}
static inline u128 addr_from_v4(uint32_t host_order)
{
        return ADDR_V4_BASE | host_order;
}
static inline uint32_t addr_to_v4(u128 a)
{
        return (uint32_t)a;
}

u128 addr_from_in6(const struct in6_addr *a);
void addr_to_in6(u128 a, struct in6_addr *ret);
/* Network-order bytes: 4 for IPv4, 16 for IPv6; returns the length written. */
size_t addr_to_bytes(u128 a, uint8_t ret[static 16]);
u128 addr_from_bytes(int family, const void *bytes);

/* Parses one IPv4 or IPv6 address (no prefix, no spaces). An IPv4-mapped IPv6 literal
 * ("::ffff:1.2.3.4") is refused: it would be ambiguous with the IPv4 address. */
bool addr_parse(const char *s, u128 *ret);
/* IPv4 dotted quad or canonical IPv6 text. */
const char *addr_format(u128 a, char buf[static ADDR_STR_MAX]);

/* Width of the family in bits (32 or 128), and prefix arithmetic within it. */
static inline unsigned addr_bits(u128 a)
{
        return addr_is_v4(a) ? 32 : 128;
}
u128 addr_prefix_mask(unsigned bits, unsigned prefixlen); /* host bits set to 1 */

typedef enum RangeParse {
        RANGE_OK = 0,
        RANGE_MASKED = 1, /* CIDR had host bits set and was masked (only when allowed) */
} RangeParse;

/*
 * Parses "A-B" (spaces around '-' allowed), "A/N" or a single address "A" into an
 * inclusive range. With allow_host_bits, a CIDR with host bits set is masked and
 * RANGE_MASKED is returned; without, it is an error. On error returns -EINVAL with an
 * operator-readable reason in err (e.g. "range end 172.16.16.20 is below its start
 * 172.16.16.150") and the 0-based byte offset within s the error refers to in *err_ofs.
 */
int range_parse(const char *s, bool allow_host_bits, AddrRange *ret, char *err, size_t err_len,
                size_t *err_ofs);
const char *range_format(const AddrRange *r, char buf[static RANGE_STR_MAX]);
/* Like range_format(), but a range that is exactly one prefix prints as a CIDR. */
const char *range_format_cidr(const AddrRange *r, char buf[static RANGE_STR_MAX]);

/* Number of addresses in r. The only range that does not fit is ::/0 (2^128); it is
 * reported as size 0 with *full set. */
u128 range_size(const AddrRange *r, bool *full);
static inline bool range_contains(const AddrRange *r, u128 a)
{
        return a >= r->first && a <= r->last;
}
static inline bool range_overlaps(const AddrRange *a, const AddrRange *b)
{
        return a->first <= b->last && b->first <= a->last;
}

/* Saturating address count for summaries. */
typedef struct AddrCount {
        u128 n;
        bool overflow; /* the true count is 2^128 or more */
} AddrCount;
void addr_count_add_range(AddrCount *c, const AddrRange *r);
/* Decimal up to 2^32 ... or "2^N" for exact powers of two >= 2^32, or a decimal with
 * up to 39 digits otherwise. 2^128 prints "2^128". */
const char *addr_count_format(const AddrCount *c, char buf[static COUNT_STR_MAX]);
const char *u128_format(u128 v, char buf[static COUNT_STR_MAX]);
