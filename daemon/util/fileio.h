/* SPDX-License-Identifier: MIT */
/* Whole-file reads for the config loaders (which then call their pure parsers). */
#pragma once

#include <sys/types.h>

#include "util/macro.h"

#define READ_FILE_MAX (16u * 1024 * 1024)

/* Reads the whole file (at most READ_FILE_MAX bytes) into a NUL-terminated buffer;
 * returns 0 or -errno (-EFBIG when too large). */
int read_full_file(const char *path, char **ret, size_t *ret_len);

/* Replaces path with the given contents atomically: writes a temporary file in the same
 * directory, fsyncs it, renames it over path and fsyncs the directory. mode applies to the
 * new file. Returns 0 or -errno; on failure path is unchanged. */
int write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode);
