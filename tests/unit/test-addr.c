/* SPDX-License-Identifier: MIT */
/* Address math: parsing, formatting, ranges, CIDRs, counts. */
#include "addr.h"
#include "tap.h"

static void check_range(const char *s, bool allow, int want_r, const char *want_fmt)
{
        AddrRange r;
        char err[256] = "", buf[RANGE_STR_MAX];
        size_t ofs = 99;
        int got = range_parse(s, allow, &r, err, sizeof(err), &ofs);

        is_int(got, want_r, "range_parse(\"%s\") returns %d", s, want_r);
        if (got >= 0 && want_fmt)
                is_str(range_format(&r, buf), want_fmt, "range \"%s\" is %s", s, want_fmt);
}

static void check_count(const char *s, const char *want)
{
        AddrRange r;
        AddrCount c = {0};
        char err[256], buf[COUNT_STR_MAX];

        range_parse(s, false, &r, err, sizeof(err), NULL);
        addr_count_add_range(&c, &r);
        is_str(addr_count_format(&c, buf), want, "count of %s is %s", s, want);
}

int main(void)
{
        u128 a;
        char buf[ADDR_STR_MAX];

        ok(addr_parse("192.0.2.1", &a) && addr_is_v4(a), "IPv4 parses as mapped");
        is_str(addr_format(a, buf), "192.0.2.1", "IPv4 formats back");
        ok(addr_parse("2001:db8::1", &a) && !addr_is_v4(a), "IPv6 parses");
        is_str(addr_format(a, buf), "2001:db8::1", "IPv6 formats back");
        ok(!addr_parse("::ffff:192.0.2.1", &a), "IPv4-mapped IPv6 literal is refused");
        ok(!addr_parse("192.0.2.256", &a), "octet 256 refused");
        ok(!addr_parse("", &a), "empty refused");
        ok(!addr_parse("192.0.2", &a), "three octets refused");
        ok(!addr_parse(" 192.0.2.1", &a), "leading space refused by addr_parse");

        check_range("192.0.2.150-192.0.2.200", false, RANGE_OK, "192.0.2.150-192.0.2.200");
        check_range("192.0.2.150 - 192.0.2.200", false, RANGE_OK, "192.0.2.150-192.0.2.200");
        check_range("172.16.16.150-172.16.16.20", false, -EINVAL, NULL);
        check_range("192.0.2.0/28", false, RANGE_OK, "192.0.2.0-192.0.2.15");
        check_range("198.51.100.10/24", false, -EINVAL, NULL);
        check_range("198.51.100.10/24", true, RANGE_MASKED, "198.51.100.0-198.51.100.255");
        check_range("2001:db8:1::/64", false, RANGE_OK,
                    "2001:db8:1::-2001:db8:1:0:ffff:ffff:ffff:ffff");
        check_range("192.0.2.7", false, RANGE_OK, "192.0.2.7");
        check_range("192.0.2.7/32", false, RANGE_OK, "192.0.2.7");
        check_range("192.0.2.0/33", false, -EINVAL, NULL);
        check_range("192.0.2.0/", false, -EINVAL, NULL);
        check_range("192.0.2.0/-1", false, -EINVAL, NULL);
        check_range("192.0.2.1-2001:db8::1", false, -EINVAL, NULL);
        check_range("0.0.0.0/0", false, RANGE_OK, "0.0.0.0-255.255.255.255");
        check_range("::/0", false, RANGE_OK, "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");

        {
                AddrRange r;
                char err[256];
                size_t ofs = 0;
                range_parse("172.16.16.150-172.16.16.20", false, &r, err, sizeof(err), &ofs);
                is_str(err,
                       "range end 172.16.16.20 is below its start 172.16.16.150; a range is "
                       "written lowest-highest",
                       "reversed range says why");
                is_int(ofs, 14, "reversed range points at the end address");
                range_parse("192.0.2.x", false, &r, err, sizeof(err), &ofs);
                is_str(err, "\"192.0.2.x\" is not a valid IPv4 or IPv6 address, range or CIDR",
                       "malformed address says why");
        }

        {
                AddrRange r;
                char err[256], rb[RANGE_STR_MAX];
                range_parse("2001:db8:1::/64", false, &r, err, sizeof(err), NULL);
                is_str(range_format_cidr(&r, rb), "2001:db8:1::/64", "a /64 prints as CIDR");
                range_parse("192.0.2.0/28", false, &r, err, sizeof(err), NULL);
                is_str(range_format_cidr(&r, rb), "192.0.2.0/28", "a /28 prints as CIDR");
                range_parse("0.0.0.0/0", false, &r, err, sizeof(err), NULL);
                is_str(range_format_cidr(&r, rb), "0.0.0.0/0", "0.0.0.0/0 prints as CIDR");
                range_parse("192.0.2.150-192.0.2.200", false, &r, err, sizeof(err), NULL);
                is_str(range_format_cidr(&r, rb), "192.0.2.150-192.0.2.200",
                       "a range that is not a prefix prints as a range");
                range_parse("192.0.2.7", false, &r, err, sizeof(err), NULL);
                is_str(range_format_cidr(&r, rb), "192.0.2.7", "one address prints plain");
        }
        check_count("192.0.2.150-192.0.2.200", "51");
        check_count("2001:db8::/64", "2^64");
        check_count("2001:db8::/96", "2^32");
        check_count("198.51.100.0/24", "256");
        check_count("0.0.0.0/0", "2^32");
        check_count("198.51.0.0/16", "65536");
        check_count("::/0", "2^128");
        check_count("2001:db8::-2001:db8::1:2", "65539");
        return tap_done();
}
