/* SPDX-License-Identifier: MIT */
/*
 * Heartbeat wire format and key file (daemon/heartbeat.c): exact bytes of a known packet
 * (tag computed independently with Python's hmac: HMAC-SHA-512 cut to 32 bytes), round
 * trips, every drop reason, the replay rule, truncation of long owned lists, key files.
 */
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>

#include "heartbeat.h"
#include "tap.h"

static uint8_t key[HB_KEY_SIZE], other_key[HB_KEY_SIZE];
static uint8_t buf[HB_MAX_PACKET + 64];

static void hex_to_bin(const char *hex, uint8_t *out, size_t *len)
{
        size_t n = 0;

        for (; hex[0] && hex[1]; hex += 2) {
                unsigned v;
                sscanf(hex, "%2x", &v);
                out[n++] = (uint8_t)v;
        }
        *len = n;
}

static u128 A(const char *s)
{
        u128 a = 0;

        if (!addr_parse(s, &a))
                abort();
        return a;
}

/* Recomputes the tag after the body was edited, so the check behind the tag is reached. */
static void retag(uint8_t *p, size_t len)
{
        crypto_auth(p + len - HB_TAG_SIZE, p, len - HB_TAG_SIZE, key);
}

static int decode(const uint8_t *p, size_t len, Heartbeat *hb)
{
        HbDrop d = _HB_DROP_MAX;
        int r = hb_decode(p, len, key, hb, &d);

        if (r == HB_OK)
                return -1;
        return r == HB_DROPPED ? (int)d : -1000 + r;
}

static void test_strings(void)
{
        static const char *want[] = {"truncated", "oversize", "forged",       "version",
                                     "malformed", "replay",   "unknown_peer", "self"};
        for (int i = 0; i < _HB_DROP_MAX; i++)
                is_str(hb_drop_to_string(i), want[i], "drop %d is %s", i, want[i]);
        ok(hb_drop_to_string(_HB_DROP_MAX) == NULL, "out of range drop has no name");
}

static void test_layout(void)
{
        /* name "n1", incarnation 0x0102030405060708, sequence 42, leaving,
         * owned 192.0.2.1 and 2001:db8::1; key = bytes 0..31 */
        static const char *expect_hex =
            "4d4c4248"
            "01"
            "01"
            "0002"
            "0102030405060708"
            "000000000000002a"
            "0002"
            "6e31"
            "04c0000201"
            "0620010db8000000000000000000000001"
            "4687c32f4c2d780322bd15be9d0f92f6a9978eb52e16a1deb789bd69a7ecbd63";
        uint8_t k[HB_KEY_SIZE], expect[128];
        size_t elen, written = 99;
        u128 owned[] = {A("192.0.2.1"), A("2001:db8::1")};
        ssize_t n;

        for (int i = 0; i < HB_KEY_SIZE; i++)
                k[i] = (uint8_t)i;
        hex_to_bin(expect_hex, expect, &elen);
        n = hb_encode(buf, k, "n1", 0x0102030405060708ULL, 42, true, owned, 2, &written);
        is_int(n, (ssize_t)elen, "layout: length %zu", elen);
        is_int(n, hb_packet_size(2, 1, 1), "layout: hb_packet_size agrees");
        is_int(written, 2, "layout: both entries written");
        ok(n == (ssize_t)elen && memcmp(buf, expect, elen) == 0,
           "layout: bytes equal the hand-written packet (tag = HMAC-SHA-512 cut to 32 bytes)");
}

static void roundtrip(const char *what, const u128 *owned, size_t n_owned, bool leaving)
{
        Heartbeat hb = {0};
        HbDrop d = _HB_DROP_MAX;
        ssize_t len;
        int r;

        len = hb_encode(buf, key, "node-1.example", 1700000000123456ULL, 77, leaving, owned,
                        n_owned, NULL);
        ok(len > 0, "%s: encoded (%zd bytes)", what, len);
        r = hb_decode(buf, (size_t)len, key, &hb, &d);
        is_int(r, HB_OK, "%s: decodes", what);
        is_str(hb.name, "node-1.example", "%s: name", what);
        ok(hb.incarnation == 1700000000123456ULL && hb.sequence == 77,
           "%s: incarnation and sequence", what);
        is_int(hb.leaving, leaving, "%s: leaving flag", what);
        is_int(hb.owned_truncated, false, "%s: not truncated", what);
        is_int(hb.n_owned, n_owned, "%s: owned count", what);
        ok(n_owned == 0 ? hb.owned == NULL : memcmp(hb.owned, owned, n_owned * sizeof(u128)) == 0,
           "%s: owned addresses", what);
        heartbeat_done(&hb);
}

static void test_roundtrip(void)
{
        u128 v4[] = {A("192.0.2.1"), A("192.0.2.2"), A("198.51.100.255")};
        u128 v6[] = {A("2001:db8::"), A("2001:db8::1"), A("2001:db8:ffff::ffff")};
        u128 mixed[] = {A("::1"), A("203.0.113.7"), A("2001:db8::5")};

        roundtrip("v4", v4, ELEMENTSOF(v4), false);
        roundtrip("v6", v6, ELEMENTSOF(v6), false);
        roundtrip("mixed", mixed, ELEMENTSOF(mixed), false);
        roundtrip("empty", NULL, 0, false);
        roundtrip("leaving", v4, 1, true);
}

static void test_sorted_dedup(void)
{
        /* On the wire out of order and with a duplicate; decoded sorted and unique. */
        u128 wire[] = {A("2001:db8::9"), A("192.0.2.9"), A("192.0.2.1"), A("2001:db8::9")};
        Heartbeat hb = {0};
        ssize_t len = hb_encode(buf, key, "n", 1, 1, false, wire, 4, NULL);

        ok(decode(buf, (size_t)len, &hb) == -1 && hb.n_owned == 3 &&
               hb.owned[0] == A("192.0.2.1") && hb.owned[1] == A("192.0.2.9") &&
               hb.owned[2] == A("2001:db8::9"),
           "decoded owned list is sorted and deduplicated");
        heartbeat_done(&hb);
}

static void test_forged(void)
{
        u128 owned[] = {A("192.0.2.1"), A("2001:db8::1")};
        ssize_t len = hb_encode(buf, key, "node-a", 5, 9, false, owned, 2, NULL);
        uint8_t copy[256];
        unsigned bad = 0, bits = 0;
        Heartbeat hb = {0};
        HbDrop d;

        memcpy(copy, buf, (size_t)len);
        for (ssize_t i = 0; i < len; i++)
                for (int b = 0; b < 8; b++) {
                        memcpy(buf, copy, (size_t)len);
                        buf[i] ^= (uint8_t)(1u << b);
                        bits++;
                        if (decode(buf, (size_t)len, &hb) != HB_DROP_FORGED)
                                bad++;
                }
        is_int(bad, 0, "forged: each of %u single-bit flips is dropped as forged", bits);
        memcpy(buf, copy, (size_t)len);
        is_int(hb_decode(buf, (size_t)len, other_key, &hb, &d), HB_DROPPED, "wrong key: dropped");
        is_int(d, HB_DROP_FORGED, "wrong key: forged");
        is_int(decode(buf, (size_t)len, &hb), -1, "original still decodes");
        heartbeat_done(&hb);
}

static void test_lengths(void)
{
        u128 owned[] = {A("192.0.2.1")};
        ssize_t len = hb_encode(buf, key, "node-a", 5, 9, false, owned, 1, NULL);
        unsigned bad = 0;
        Heartbeat hb = {0};

        for (ssize_t l = 0; l < len; l++) {
                int want = l < HB_MIN_PACKET ? HB_DROP_TRUNCATED : HB_DROP_FORGED;
                if (decode(buf, (size_t)l, &hb) != want)
                        bad++;
        }
        is_int(bad, 0, "every cut length 0..%zd: truncated below %d bytes, forged above", len - 1,
               HB_MIN_PACKET);
        is_int(decode(buf, HB_MAX_PACKET + 1, &hb), HB_DROP_OVERSIZE, "65001 bytes: oversize");
        memset(buf, 0, HB_MAX_PACKET);
        is_int(decode(buf, HB_MAX_PACKET, &hb), HB_DROP_FORGED,
               "65000 bytes of zeros: not oversize, forged");
}

static void test_version(void)
{
        ssize_t len = hb_encode(buf, key, "node-a", 5, 9, false, NULL, 0, NULL);
        Heartbeat hb = {0};

        buf[4] = 2;
        retag(buf, (size_t)len);
        is_int(decode(buf, (size_t)len, &hb), HB_DROP_VERSION, "version 2 (valid tag): version");
        buf[4] = 1;
        buf[0] = 'X';
        retag(buf, (size_t)len);
        is_int(decode(buf, (size_t)len, &hb), HB_DROP_VERSION, "bad magic (valid tag): version");
}

/* Edits a valid packet with f, retags it, expects MALFORMED. */
static void malformed(const char *what, void (*f)(uint8_t *p, size_t *len))
{
        u128 owned[] = {A("192.0.2.1"), A("2001:db8::1")};
        size_t len = (size_t)hb_encode(buf, key, "node-a", 5, 9, false, owned, 2, NULL);
        Heartbeat hb = {0};

        f(buf, &len);
        retag(buf, len);
        is_int(decode(buf, len, &hb), HB_DROP_MALFORMED, "malformed: %s", what);
        heartbeat_done(&hb);
}

/* Layout of the base packet: name at 26 (6 bytes), v4 entry at 32, v6 entry at 37,
 * tag at 54. */
static void m_flags(uint8_t *p, size_t *len _unused_)
{
        p[5] = 0x04;
}
static void m_flags_high(uint8_t *p, size_t *len _unused_)
{
        p[5] = 0x81;
}
static void m_name0(uint8_t *p, size_t *len _unused_)
{
        p[6] = p[7] = 0;
}
static void m_name_long(uint8_t *p, size_t *len _unused_)
{
        p[6] = 0, p[7] = 254;
}
static void m_name_past_end(uint8_t *p, size_t *len _unused_)
{
        p[6] = 0, p[7] = 60;
}
static void m_name_slash(uint8_t *p, size_t *len _unused_)
{
        p[28] = '/';
}
static void m_name_space(uint8_t *p, size_t *len _unused_)
{
        p[28] = ' ';
}
static void m_name_nul(uint8_t *p, size_t *len _unused_)
{
        p[31] = 0;
}
static void m_name_del(uint8_t *p, size_t *len _unused_)
{
        p[26] = 0x7f;
}
static void m_name_high(uint8_t *p, size_t *len _unused_)
{
        p[26] = 0xc3;
}
static void m_count_high(uint8_t *p, size_t *len _unused_)
{
        p[25] = 3;
}
static void m_count_max(uint8_t *p, size_t *len _unused_)
{
        p[24] = p[25] = 0xff;
}
static void m_count_low(uint8_t *p, size_t *len _unused_)
{
        p[25] = 1; /* the v6 entry becomes trailing garbage */
}
static void m_family(uint8_t *p, size_t *len _unused_)
{
        p[32] = 5;
}
static void m_family6_short(uint8_t *p, size_t *len _unused_)
{
        p[32] = 6; /* a v4 entry read as v6 runs 12 bytes too far */
}
static void m_mapped(uint8_t *p, size_t *len _unused_)
{
        static const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7};
        memcpy(p + 38, mapped, 16);
}
static void m_trailing(uint8_t *p, size_t *len)
{
        p[*len - HB_TAG_SIZE] = 0;
        *len += 1;
}

static void test_malformed(void)
{
        malformed("unknown flag bit 2", m_flags);
        malformed("unknown flag bit 7", m_flags_high);
        malformed("name length 0", m_name0);
        malformed("name length 254", m_name_long);
        malformed("name length past the end", m_name_past_end);
        malformed("'/' in name", m_name_slash);
        malformed("space in name", m_name_space);
        malformed("NUL in name", m_name_nul);
        malformed("DEL in name", m_name_del);
        malformed("non-ASCII byte in name", m_name_high);
        malformed("count above the entries", m_count_high);
        malformed("count 65535", m_count_max);
        malformed("count below the entries (trailing bytes)", m_count_low);
        malformed("family 5", m_family);
        malformed("family 6 entry cut short", m_family6_short);
        malformed("IPv4-mapped address as family 6", m_mapped);
        malformed("extra byte before the tag", m_trailing);
}

static void test_replay_rule(void)
{
        ok(hb_is_newer(1, 2, 1, 1), "same incarnation, higher sequence: newer");
        ok(!hb_is_newer(1, 1, 1, 1), "same pair: not newer");
        ok(!hb_is_newer(1, 0, 1, 1), "same incarnation, lower sequence: not newer");
        ok(hb_is_newer(2, 0, 1, 99), "higher incarnation, lower sequence: newer");
        ok(!hb_is_newer(1, 100, 2, 1), "lower incarnation, higher sequence: not newer");
        ok(hb_is_newer(UINT64_MAX, 0, UINT64_MAX - 1, UINT64_MAX), "no wrap-around at the top");
}

static void test_truncation(void)
{
        size_t n = 20000, written = 0, nl = strlen("big-node");
        u128 *owned = calloc(n, sizeof(u128));
        Heartbeat hb = {0};
        ssize_t len;

        for (size_t i = 0; i < n; i++)
                owned[i] = A("2001:db8::") + i;
        len = hb_encode(buf, key, "big-node", 1, 1, false, owned, n, &written);
        is_int(written, (HB_MAX_PACKET - HB_HEADER_SIZE - nl - HB_TAG_SIZE) / 17,
               "truncation: as many v6 entries as fit (%zu)", written);
        ok(len > 0 && len <= HB_MAX_PACKET && len + 17 > HB_MAX_PACKET,
           "truncation: packet %zd bytes, at most %d and no room for another", len, HB_MAX_PACKET);
        is_int(decode(buf, (size_t)len, &hb), -1, "truncation: decodes");
        ok(hb.owned_truncated && hb.n_owned == written &&
               hb.owned[written - 1] == owned[written - 1],
           "truncation: flag set, the first %zu addresses listed", written);
        heartbeat_done(&hb);

        len = hb_encode(buf, key, "big-node", 1, 1, false, owned, written, NULL);
        is_int(decode(buf, (size_t)len, &hb), -1, "exactly what fits: decodes");
        ok(!hb.owned_truncated && hb.n_owned == written, "exactly what fits: no truncation flag");
        heartbeat_done(&hb);
        free(owned);
}

static void test_names(void)
{
        char longname[HB_NAME_MAX + 2];

        memset(longname, 'a', sizeof(longname));
        longname[HB_NAME_MAX] = 0;
        ok(hb_encode(buf, key, longname, 1, 1, false, NULL, 0, NULL) > 0, "253-byte name encodes");
        longname[HB_NAME_MAX] = 'a';
        longname[HB_NAME_MAX + 1] = 0;
        is_int(hb_encode(buf, key, longname, 1, 1, false, NULL, 0, NULL), -EINVAL,
               "254-byte name refused");
        is_int(hb_encode(buf, key, "", 1, 1, false, NULL, 0, NULL), -EINVAL, "empty name refused");
        is_int(hb_encode(buf, key, "a/b", 1, 1, false, NULL, 0, NULL), -EINVAL, "'/' refused");
        is_int(hb_encode(buf, key, "a b", 1, 1, false, NULL, 0, NULL), -EINVAL, "space refused");
}

static char tmpdir[] = "/tmp/test-heartbeat.XXXXXX";

static const char *write_tmp(const char *name, const char *content, mode_t mode)
{
        static char path[256];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
        unlink(path);
        fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
        if (fd < 0 || write(fd, content, strlen(content)) != (ssize_t)strlen(content))
                abort();
        fchmod(fd, mode);
        close(fd);
        return path;
}

#define GOOD_B64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static void key_error(const char *what, const char *content, const char *want_suffix)
{
        uint8_t k[HB_KEY_SIZE];
        char *error = NULL, want[512];
        const char *path = write_tmp("bad.key", content, 0600);
        int r = hb_key_load(path, k, &error);

        snprintf(want, sizeof(want), "%s:%s", path, want_suffix);
        is_int(r, -EINVAL, "key %s: -EINVAL", what);
        is_str(error, want, "key %s: message", what);
        free(error);
}

static void test_key_files(void)
{
        uint8_t k[HB_KEY_SIZE], expect[HB_KEY_SIZE];
        char *error = NULL;
        const char *path;
        int r;

        for (int i = 0; i < HB_KEY_SIZE; i++)
                expect[i] = (uint8_t)i;
        path = write_tmp("good.key", GOOD_B64 "\n", 0600);
        r = hb_key_load(path, k, &error);
        ok(r == 0 && !error && memcmp(k, expect, HB_KEY_SIZE) == 0, "good key with newline");
        path = write_tmp("good2.key", GOOD_B64, 0600);
        memset(k, 0, sizeof(k));
        r = hb_key_load(path, k, &error);
        ok(r == 0 && !error && memcmp(k, expect, HB_KEY_SIZE) == 0, "good key without newline");
        path = write_tmp("loose.key", GOOD_B64 "\n", 0644);
        memset(k, 0, sizeof(k));
        r = hb_key_load(path, k, &error);
        is_int(r, HB_KEY_LOOSE_MODE, "mode 0644: loaded with a warning");
        ok(memcmp(k, expect, HB_KEY_SIZE) == 0 && error && strstr(error, "mode 0644"),
           "mode 0644: key loaded, warning says the mode (%s)", error ? error : "");
        free(error);
        error = NULL;

        key_error("bad character", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX*BkaGxwdHh8=\n",
                  "1:33: invalid base64 character '*'");
        key_error("too short", "AAEC\n", "1:1: key is 3 bytes, expected 32 (44 base64 characters)");
        key_error("too long", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIj\n",
                  "1:1: key is 36 bytes, expected 32 (44 base64 characters)");
        key_error("no padding", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n",
                  "1:44: incomplete base64 (length not a multiple of 4, padding '=' missing)");
        key_error("double padding", GOOD_B64 "=\n", "1:45: invalid base64 character '='");
        key_error("CRLF", GOOD_B64 "\r\n", "1:45: invalid base64 character \\x0d");
        key_error("leading space", " " GOOD_B64 "\n", "1:1: invalid base64 character space");
        key_error("second line", GOOD_B64 "\n" GOOD_B64 "\n",
                  "2:1: unexpected content after the key line (the file holds one line)");
        key_error("blank second line", GOOD_B64 "\n\n",
                  "2:1: unexpected content after the key line (the file holds one line)");
        key_error("empty", "",
                  "1:1: empty key file, expected 44 base64 characters (32 bytes); create one with "
                  "mlbd --gen-key");

        char missing[300];
        snprintf(missing, sizeof(missing), "%s/missing.key", tmpdir);
        r = hb_key_load(missing, k, &error);
        is_int(r, -ENOENT, "missing key file: -ENOENT");
        char want[400];
        snprintf(want, sizeof(want), "%s: %s", missing, strerror(ENOENT));
        is_str(error, want, "missing key file: message with strerror");
        free(error);
        error = NULL;
        r = hb_key_load(tmpdir, k, &error);
        ok(r < 0 && error && strstr(error, tmpdir), "a directory is refused (%s)",
           error ? error : "");
        free(error);
        error = NULL;

        /* --gen-key */
        char gen[300];
        struct stat st;
        uint8_t k2[HB_KEY_SIZE];
        snprintf(gen, sizeof(gen), "%s/gen.key", tmpdir);
        r = hb_key_generate(gen, &error);
        is_int(r, 0, "gen-key: created");
        ok(stat(gen, &st) == 0 && (st.st_mode & 07777) == 0600 && st.st_size == 45,
           "gen-key: mode 0600, 45 bytes");
        r = hb_key_load(gen, k, &error);
        is_int(r, 0, "gen-key: the new file loads without warning");
        r = hb_key_generate(gen, &error);
        is_int(r, -EEXIST, "gen-key: refuses to overwrite");
        ok(error && strstr(error, "refusing to overwrite"), "gen-key: says so (%s)",
           error ? error : "");
        free(error);
        error = NULL;
        r = hb_key_load(gen, k2, &error);
        ok(r == 0 && memcmp(k, k2, HB_KEY_SIZE) == 0, "gen-key: existing key unchanged");
        char gen2[300];
        snprintf(gen2, sizeof(gen2), "%s/gen2.key", tmpdir);
        r = hb_key_generate(gen2, &error);
        r = r < 0 ? r : hb_key_load(gen2, k2, &error);
        ok(r == 0 && memcmp(k, k2, HB_KEY_SIZE) != 0, "gen-key: two keys differ");
        snprintf(gen2, sizeof(gen2), "%s/no/such/dir.key", tmpdir);
        r = hb_key_generate(gen2, &error);
        is_int(r, -ENOENT, "gen-key: missing directory -ENOENT");
        free(error);
}

int main(void)
{
        if (sodium_init() < 0 || !mkdtemp(tmpdir))
                return 99;
        randombytes_buf(key, sizeof(key));
        randombytes_buf(other_key, sizeof(other_key));

        test_strings();
        test_layout();
        test_roundtrip();
        test_sorted_dedup();
        test_forged();
        test_lengths();
        test_version();
        test_malformed();
        test_replay_rule();
        test_truncation();
        test_names();
        test_key_files();

        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        if (system(cmd) != 0)
                diag_note("could not remove the temporary directory");
        return tap_done();
}
