/* SPDX-License-Identifier: MIT */
/* Whole-file reads and atomic writes; see fileio.h. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"

int read_full_file(const char *path, char **ret, size_t *ret_len)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, cap = 0;

        if (fd < 0)
                return -errno;
        for (;;) {
                if (GROW(buf, cap, len + 4096 + 1) < 0)
                        return -ENOMEM;
                ssize_t n = read(fd, buf + len, cap - len - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
                if (len > READ_FILE_MAX)
                        return -EFBIG;
        }
        buf[len] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
        const char *p = buf;

        while (len > 0) {
                ssize_t n = write(fd, p, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
        }
        return 0;
}

/* A name no one can guess: PATH.tmp.<16 hex digits from getrandom()>. */
static char *random_tmp_name(const char *path)
{
        uint64_t r;
        char *tmp;

        if (getrandom(&r, sizeof(r), 0) != sizeof(r))
                return NULL;
        if (asprintf(&tmp, "%s.tmp.%016" PRIx64, path, r) < 0)
                return NULL;
        return tmp;
}

/* Gives the O_TMPFILE file fd the name tmp (linkat never replaces or follows anything
 * there: EEXIST). Without CAP_DAC_READ_SEARCH AT_EMPTY_PATH is refused, so /proc too. */
static int link_tmpfile(int fd, const char *tmp)
{
        char proc[64];

        if (linkat(fd, "", AT_FDCWD, tmp, AT_EMPTY_PATH) == 0)
                return 0;
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0)
                return 0;
        return -errno;
}

static int write_sync(int fd, const void *buf, size_t len, mode_t mode)
{
        int r = write_all(fd, buf, len);

        if (r >= 0 && fchmod(fd, mode) < 0)
                r = -errno;
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        return r;
}

int write_file_atomic_full(const char *path, const void *buf, size_t len, mode_t mode,
                           WriteFileFlags flags)
{
        _cleanup_free_ char *tmp = NULL, *dir = NULL;
        _cleanup_close_ int fd = -EBADF, dfd = -EBADF;
        const char *slash = strrchr(path, '/');
        bool linked = false;
        int r;

        dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
        if (!dir)
                return -ENOMEM;

        /* An unnamed file first: nothing in the directory can be followed, truncated or
         * raced; it gets a name only once it is complete. */
        if (!(flags & WRITE_FILE_NO_TMPFILE)) {
                fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode & 07777);
                if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
                        return -errno; /* e.g. ENOENT, EACCES: the fallback would fail too */
        }
        if (fd >= 0) {
                r = write_sync(fd, buf, len, mode);
                if (r < 0)
                        return r;
                for (int attempt = 0; attempt < 16 && !linked; attempt++) {
                        free(tmp);
                        tmp = random_tmp_name(path);
                        if (!tmp)
                                return -ENOMEM;
                        r = link_tmpfile(fd, tmp);
                        if (r == 0)
                                linked = true;
                        else if (r != -EEXIST)
                                break;
                }
                if (!linked) {
                        /* no /proc, say: start again the portable way */
                        close(TAKE_FD(fd));
                }
        }
        if (!linked) {
                /* O_EXCL with a random name: a planted name makes us pick another. */
                for (int attempt = 0; attempt < 16 && fd < 0; attempt++) {
                        free(tmp);
                        tmp = random_tmp_name(path);
                        if (!tmp)
                                return -ENOMEM;
                        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                                  mode & 07777);
                        if (fd < 0 && errno != EEXIST)
                                return -errno;
                }
                if (fd < 0)
                        return -EEXIST;
                r = write_sync(fd, buf, len, mode);
                if (r < 0) {
                        unlink(tmp);
                        return r;
                }
        }
        if (rename(tmp, path) < 0) {
                r = -errno;
                unlink(tmp);
                return r;
        }
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) < 0)
                return -errno;
        return 0;
}

int write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode)
{
        return write_file_atomic_full(path, buf, len, mode, 0);
}

int check_private_dir(const char *dir, uid_t owner, struct stat *ret)
{
        struct stat buf, *st = ret ?: &buf; /* cppcheck-suppress uninitvar ; stat() fills it */

        if (stat(dir, st) < 0)
                return -errno;
        if (!S_ISDIR(st->st_mode))
                return -ENOTDIR;
        if (st->st_uid != owner && st->st_uid != 0)
                return -EPERM;
        if (st->st_mode & (S_IWGRP | S_IWOTH))
                return -EACCES;
        return 0;
}
