/* SPDX-License-Identifier: MIT */
/*
 * Logging to stderr with sd-daemon priority prefixes ("<3>..."), which journald turns
 * into priorities. One process-wide maximum level. The *_errno variants take a negative
 * errno, make "%m" print it, and return it so callers can write
 *     return log_error_errno(r, "Failed to open %s: %m", path);
 */
#pragma once

#include <syslog.h>

#include "util/macro.h"

extern int log_max_level;

int log_level_from_string(const char *s); /* LOG_DEBUG.. or -EINVAL */
const char *log_level_to_string(int level);

int log_internal(int level, int error, const char *fmt, ...) _printf_(3, 4);

#define log_full_errno(level, error, ...)                                                          \
        ({                                                                                         \
                int _l_ = (level), _e_ = (error);                                                  \
                _l_ <= log_max_level ? log_internal(_l_, _e_, __VA_ARGS__)                         \
                                     : (_e_ > 0 ? -_e_ : _e_);                                     \
        })

#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)
#define log_oom() log_error_errno(-ENOMEM, "Out of memory.")
