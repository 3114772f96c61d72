/* SPDX-License-Identifier: MIT */
/* Whole-file reads for the config loaders (which then call their pure parsers), and the
 * atomic writes of the state files. */
#pragma once

#include <sys/types.h>

#include "util/macro.h"

#define READ_FILE_MAX (16u * 1024 * 1024)

/* Reads the whole file (at most READ_FILE_MAX bytes) into a NUL-terminated buffer;
 * returns 0 or -errno (-EFBIG when too large). */
int read_full_file(const char *path, char **ret, size_t *ret_len);

/* Replaces path with the given contents atomically: writes an unnamed file (O_TMPFILE) in
 * the same directory, fsyncs it, links it under a random name (linkat, which never follows
 * or replaces anything), renames that over path and fsyncs the directory. Where O_TMPFILE
 * or linkat is not available, the temporary file is created with O_EXCL|O_NOFOLLOW under a
 * random name instead. No name planted in the directory is ever followed or truncated.
 * mode applies to the new file, whatever the umask. Returns 0 or -errno; on failure path
 * is unchanged. */
int write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode);

typedef enum WriteFileFlags {
        WRITE_FILE_NO_TMPFILE = 1 << 0, /* take the O_EXCL path (tests, old file systems) */
} WriteFileFlags;
int write_file_atomic_full(const char *path, const void *buf, size_t len, mode_t mode,
                           WriteFileFlags flags);

/* Whether dir is fit to hold state only this daemon may change: a directory owned by
 * owner or root, not writable by group or others. Returns 0, -ENOTDIR, -EPERM (another
 * owner), -EACCES (group or world writable) or the stat() error; ret (if not NULL) gets
 * what stat() said, for the message. */
struct stat;
int check_private_dir(const char *dir, uid_t owner, struct stat *ret);
