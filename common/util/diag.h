/* SPDX-License-Identifier: MIT */
/*
 * Diagnostics collected by the pure config parsers: every error and warning with the
 * place it refers to, so `mlbd --check-config` can print all of them, one per line, as
 *     FILE:LINE:COLUMN: message
 *     FILE:LINE:COLUMN: warning: message
 * Lines and columns are 1-based; a diagnostic with line 0 has no place and prints as
 * "FILE: message".
 * diag_add() never fails in a way that loses the count: if memory runs out the text is
 * dropped but n_errors/n_warnings still count it.
 */
#pragma once

#include "util/macro.h"

typedef enum DiagLevel {
        DIAG_ERROR,
        DIAG_WARNING,
        DIAG_NOTICE,
} DiagLevel;

typedef struct Diag {
        DiagLevel level;
        char *file;
        unsigned line, column;
        char *msg;
} Diag;

typedef struct DiagList {
        Diag *items;
        size_t n, cap;
        size_t n_errors, n_warnings;
} DiagList;

void diag_add(DiagList *d, DiagLevel level, const char *file, unsigned line, unsigned column,
              const char *fmt, ...) _printf_(6, 7);
#define diag_error(d, file, line, col, ...) diag_add(d, DIAG_ERROR, file, line, col, __VA_ARGS__)
#define diag_warning(d, file, line, col, ...)                                                      \
        diag_add(d, DIAG_WARNING, file, line, col, __VA_ARGS__)
#define diag_notice(d, file, line, col, ...) diag_add(d, DIAG_NOTICE, file, line, col, __VA_ARGS__)

/* Formats one diagnostic as it is printed; returns a malloc'd string or NULL. */
char *diag_format(const Diag *x);
/* Prints every diagnostic of at least `min` severity (DIAG_ERROR < WARNING < NOTICE). */
void diag_print(const DiagList *d, FILE *f, DiagLevel min);
/* Orders diagnostics by file, then line, then column (stable), as an operator reads them. */
void diag_sort(DiagList *d);
void diag_list_clear(DiagList *d);
