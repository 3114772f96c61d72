/* SPDX-License-Identifier: MIT */
/*
 * Heartbeat wire format v1 and the cluster key file (see heartbeat.h, docs/heartbeat.md).
 * The decoder verifies the tag before it reads any other field, so an attacker without the
 * key reaches nothing but the length checks and crypto_auth_verify().
 */
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "heartbeat.h"

static const char *const drop_table[_HB_DROP_MAX] = {
    [HB_DROP_TRUNCATED] = "truncated",
    [HB_DROP_OVERSIZE] = "oversize",
    [HB_DROP_FORGED] = "forged",
    [HB_DROP_VERSION] = "version",
    [HB_DROP_MALFORMED] = "malformed",
    [HB_DROP_REPLAY] = "replay",
    [HB_DROP_UNKNOWN_PEER] = "unknown_peer",
    [HB_DROP_SELF] = "self",
};

_Static_assert(crypto_auth_BYTES == HB_TAG_SIZE, "tag size");
_Static_assert(crypto_auth_KEYBYTES == HB_KEY_SIZE, "key size");

const char *hb_drop_to_string(HbDrop d)
{
        if ((unsigned)d >= _HB_DROP_MAX)
                return NULL;
        return drop_table[d];
}

void heartbeat_done(Heartbeat *hb)
{
        free(hb->owned);
        *hb = (Heartbeat){0};
}

static bool name_char_ok(uint8_t c)
{
        return c > ' ' && c < 0x7f && c != '/';
}

static bool name_valid(const uint8_t *s, size_t n)
{
        if (n < 1 || n > HB_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!name_char_ok(s[i]))
                        return false;
        return true;
}

bool hb_name_valid(const char *s)
{
        return s && name_valid((const uint8_t *)s, strnlen(s, HB_NAME_MAX + 1));
}

static void put16(uint8_t *p, uint16_t v)
{
        p[0] = v >> 8;
        p[1] = v;
}

static void put64(uint8_t *p, uint64_t v)
{
        for (int i = 7; i >= 0; i--, v >>= 8)
                p[i] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
        return (uint16_t)(p[0] << 8 | p[1]);
}

static uint64_t get64(const uint8_t *p)
{
        uint64_t v = 0;

        for (int i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return v;
}

ssize_t hb_encode(uint8_t *buf, const uint8_t key[static HB_KEY_SIZE], const char *name,
                  uint64_t incarnation, uint64_t sequence, bool leaving, const u128 *owned,
                  size_t n_owned, size_t *ret_n_written)
{
        size_t name_len, off, k = 0;
        uint8_t flags = leaving ? HB_FLAG_LEAVING : 0;

        if (!hb_name_valid(name))
                return -EINVAL;
        name_len = strlen(name);

        off = HB_HEADER_SIZE;
        memcpy(buf + off, name, name_len);
        off += name_len;
        for (; k < n_owned && k < UINT16_MAX; k++) {
                bool v4 = addr_is_v4(owned[k]);
                size_t need = 1 + (v4 ? 4 : 16);

                if (off + need + HB_TAG_SIZE > HB_MAX_PACKET)
                        break;
                buf[off] = v4 ? 4 : 6;
                addr_to_bytes(owned[k], buf + off + 1);
                off += need;
        }
        if (k < n_owned)
                flags |= HB_FLAG_OWNED_TRUNCATED;

        memcpy(buf, HB_MAGIC, 4);
        buf[4] = HB_VERSION;
        buf[5] = flags;
        put16(buf + 6, (uint16_t)name_len);
        put64(buf + 8, incarnation);
        put64(buf + 16, sequence);
        put16(buf + 24, (uint16_t)k);
        crypto_auth(buf + off, buf, off, key);
        if (ret_n_written)
                *ret_n_written = k;
        return (ssize_t)(off + HB_TAG_SIZE);
}

static int u128_cmp(const void *a, const void *b)
{
        u128 x = *(const u128 *)a, y = *(const u128 *)b;

        return x < y ? -1 : x > y;
}

static int drop(HbDrop *ret_drop, HbDrop d)
{
        *ret_drop = d;
        return HB_DROPPED;
}

bool hb_names(const uint8_t *buf, size_t len, const char *name)
{
        size_t n = strlen(name);

        return len >= HB_MIN_PACKET && get16(buf + 6) == n && HB_HEADER_SIZE + n <= len &&
               memcmp(buf + HB_HEADER_SIZE, name, n) == 0;
}

int hb_decode(const uint8_t *buf, size_t len, const uint8_t key[static HB_KEY_SIZE], Heartbeat *ret,
              HbDrop *ret_drop)
{
        size_t body, name_len, k, off;
        uint8_t flags;
        _cleanup_free_ u128 *owned = NULL;
        size_t n = 0;

        if (len < HB_MIN_PACKET)
                return drop(ret_drop, HB_DROP_TRUNCATED);
        if (len > HB_MAX_PACKET)
                return drop(ret_drop, HB_DROP_OVERSIZE);
        body = len - HB_TAG_SIZE;
        if (crypto_auth_verify(buf + body, buf, body, key) != 0)
                return drop(ret_drop, HB_DROP_FORGED);

        /* Authentic from here on: what follows guards against bugs, not attackers. */
        if (memcmp(buf, HB_MAGIC, 4) != 0 || buf[4] != HB_VERSION)
                return drop(ret_drop, HB_DROP_VERSION);

        flags = buf[5];
        name_len = get16(buf + 6);
        k = get16(buf + 24);
        if (flags & ~(HB_FLAG_LEAVING | HB_FLAG_OWNED_TRUNCATED))
                return drop(ret_drop, HB_DROP_MALFORMED);
        if (name_len > body - HB_HEADER_SIZE || !name_valid(buf + HB_HEADER_SIZE, name_len))
                return drop(ret_drop, HB_DROP_MALFORMED);
        off = HB_HEADER_SIZE + name_len;
        /* Each entry is at least 5 bytes: bound k before allocating. */
        if (k > (body - off) / 5)
                return drop(ret_drop, HB_DROP_MALFORMED);
        if (k > 0) {
                owned = malloc(k * sizeof(*owned));
                if (!owned)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < k; i++) {
                uint8_t fam;
                size_t alen;

                if (off >= body)
                        return drop(ret_drop, HB_DROP_MALFORMED);
                fam = buf[off];
                if (fam != 4 && fam != 6)
                        return drop(ret_drop, HB_DROP_MALFORMED);
                alen = fam == 4 ? 4 : 16;
                if (alen > body - off - 1)
                        return drop(ret_drop, HB_DROP_MALFORMED);
                owned[n] = addr_from_bytes(fam == 4 ? AF_INET : AF_INET6, buf + off + 1);
                if (fam == 6 && addr_is_v4(owned[n]))
                        return drop(ret_drop, HB_DROP_MALFORMED); /* one encoding per address */
                n++;
                off += 1 + alen;
        }
        if (off != body)
                return drop(ret_drop, HB_DROP_MALFORMED); /* trailing bytes before the tag */

        if (n > 1) {
                size_t j = 1;

                qsort(owned, n, sizeof(*owned), u128_cmp);
                for (size_t i = 1; i < n; i++)
                        if (owned[i] != owned[j - 1])
                                owned[j++] = owned[i];
                n = j;
        }

        *ret = (Heartbeat){
            .incarnation = get64(buf + 8),
            .sequence = get64(buf + 16),
            .leaving = flags & HB_FLAG_LEAVING,
            .owned_truncated = flags & HB_FLAG_OWNED_TRUNCATED,
            .owned = n > 0 ? TAKE_PTR(owned) : NULL,
            .n_owned = n,
        };
        memcpy(ret->name, buf + HB_HEADER_SIZE, name_len);
        ret->name[name_len] = 0;
        return HB_OK;
}

_printf_(2, 3) static int set_error(char **error, const char *fmt, ...)
{
        va_list ap;
        char *s = NULL;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        free(*error);
        *error = r < 0 ? NULL : s;
        return r < 0 ? -ENOMEM : 0;
}

static const char *char_repr(uint8_t c, char buf[static 8])
{
        if (c > ' ' && c < 0x7f)
                snprintf(buf, 8, "'%c'", c);
        else if (c == ' ')
                snprintf(buf, 8, "space");
        else
                snprintf(buf, 8, "\\x%02x", c);
        return buf;
}

int hb_key_parse(const char *file, const char *buf, size_t len, uint8_t key[static HB_KEY_SIZE],
                 char **error)
{
        const char *nl, *end = NULL;
        uint8_t bin[256];
        size_t line_len, bin_len = 0;
        char cb[8];
        int r;

        *error = NULL;
        nl = memchr(buf, '\n', len);
        line_len = nl ? (size_t)(nl - buf) : len;
        if (nl && (size_t)(nl - buf) + 1 < len) {
                return set_error(error,
                                 "%s:2:1: unexpected content after the key line (the file "
                                 "holds one line)",
                                 file)
                           ?: -EINVAL;
        }
        if (line_len == 0)
                return set_error(error,
                                 "%s:1:1: empty key file, expected %d base64 characters (32 "
                                 "bytes); create one with mlbd --gen-key",
                                 file, HB_KEY_B64_LEN)
                           ?: -EINVAL;
        if (line_len > 4 * sizeof(bin) / 3) {
                return set_error(error,
                                 "%s:1:%d: key line is %zu characters long, expected %d base64 "
                                 "characters (32 bytes)",
                                 file, HB_KEY_B64_LEN + 1, line_len, HB_KEY_B64_LEN)
                           ?: -EINVAL;
        }
        r = sodium_base642bin(bin, sizeof(bin), buf, line_len, NULL, &bin_len, &end,
                              sodium_base64_VARIANT_ORIGINAL);
        if (!end)
                end = buf;
        if (r < 0) {
                size_t col = (size_t)(end - buf) + 1;
                if (end < buf + line_len)
                        r = set_error(error, "%s:1:%zu: invalid base64 padding at %s", file, col,
                                      char_repr((uint8_t)*end, cb));
                else
                        r = set_error(error,
                                      "%s:1:%zu: incomplete base64 (length not a multiple of "
                                      "4, padding '=' missing)",
                                      file, col);
                sodium_memzero(bin, sizeof(bin));
                return r ?: -EINVAL;
        }
        if (end < buf + line_len) {
                sodium_memzero(bin, sizeof(bin));
                return set_error(error, "%s:1:%zu: invalid base64 character %s", file,
                                 (size_t)(end - buf) + 1, char_repr((uint8_t)*end, cb))
                           ?: -EINVAL;
        }
        if (bin_len != HB_KEY_SIZE) {
                sodium_memzero(bin, sizeof(bin));
                return set_error(error,
                                 "%s:1:1: key is %zu bytes, expected %d (%d base64 characters)",
                                 file, bin_len, HB_KEY_SIZE, HB_KEY_B64_LEN)
                           ?: -EINVAL;
        }
        memcpy(key, bin, HB_KEY_SIZE);
        sodium_memzero(bin, sizeof(bin));
        return 0;
}

int hb_key_load(const char *path, uint8_t key[static HB_KEY_SIZE], char **error)
{
        _cleanup_close_ int fd = -EBADF;
        char buf[1024];
        size_t len = 0;
        struct stat st;
        int r;

        *error = NULL;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                return set_error(error, "%s: %s", path, strerror(-r)) ?: r;
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                return set_error(error, "%s: %s", path, strerror(-r)) ?: r;
        }
        if (!S_ISREG(st.st_mode))
                return set_error(error, "%s: not a regular file", path) ?: -EINVAL;
        while (len < sizeof(buf)) {
                ssize_t n = read(fd, buf + len, sizeof(buf) - len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        sodium_memzero(buf, sizeof(buf));
                        return set_error(error, "%s: %s", path, strerror(-r)) ?: r;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        if (len == sizeof(buf)) {
                sodium_memzero(buf, sizeof(buf));
                return set_error(error, "%s:1:1: file too large for a key (%zu bytes or more)",
                                 path, sizeof(buf))
                           ?: -EINVAL;
        }
        r = hb_key_parse(path, buf, len, key, error);
        sodium_memzero(buf, sizeof(buf));
        if (r < 0)
                return r;
        if (st.st_mode & 077)
                return set_error(error,
                                 "%s: key file is accessible by group or others (mode %04o); "
                                 "chmod 0600 it",
                                 path, (unsigned)(st.st_mode & 07777))
                           ?: HB_KEY_LOOSE_MODE;
        return 0;
}

int hb_key_generate(const char *path, char **error)
{
        _cleanup_close_ int fd = -EBADF;
        uint8_t key[HB_KEY_SIZE];
        char text[sodium_base64_ENCODED_LEN(HB_KEY_SIZE, sodium_base64_VARIANT_ORIGINAL) + 1];
        size_t len, done = 0;
        int r;

        *error = NULL;
        if (sodium_init() < 0)
                return set_error(error, "libsodium failed to initialise") ?: -EIO;
        fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0) {
                r = -errno;
                if (r == -EEXIST)
                        return set_error(error, "%s: already exists; refusing to overwrite a key",
                                         path)
                                   ?: r;
                return set_error(error, "%s: %s", path, strerror(-r)) ?: r;
        }
        randombytes_buf(key, sizeof(key));
        sodium_bin2base64(text, sizeof(text) - 1, key, sizeof(key), sodium_base64_VARIANT_ORIGINAL);
        sodium_memzero(key, sizeof(key));
        len = strlen(text);
        text[len++] = '\n';
        while (done < len) {
                ssize_t n = write(fd, text + done, len - done);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto fail;
                }
                done += (size_t)n;
        }
        /* The umask may have narrowed 0600 further, never widened it; make it exact. */
        if (fchmod(fd, 0600) < 0 || fsync(fd) < 0) {
                r = -errno;
                goto fail;
        }
        sodium_memzero(text, sizeof(text));
        return 0;
fail:
        sodium_memzero(text, sizeof(text));
        (void)unlink(path);
        return set_error(error, "%s: %s", path, strerror(-r)) ?: r;
}
