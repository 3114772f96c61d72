/* SPDX-License-Identifier: MIT */
/* Collected parser diagnostics; see diag.h. */
#include <stdarg.h>
#include <string.h>

#include "util/diag.h"

void diag_add(DiagList *d, DiagLevel level, const char *file, unsigned line, unsigned column,
              const char *fmt, ...)
{
        va_list ap;
        char *msg = NULL;

        if (level == DIAG_ERROR)
                d->n_errors++;
        else if (level == DIAG_WARNING)
                d->n_warnings++;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!msg || GROW(d->items, d->cap, d->n + 1) < 0) {
                free(msg);
                return;
        }
        d->items[d->n++] = (Diag){
            .level = level,
            .file = strdup_or_null(file),
            .line = line,
            .column = column,
            .msg = msg,
        };
}

char *diag_format(const Diag *x)
{
        static const char *const prefix[] = {
            [DIAG_ERROR] = "",
            [DIAG_WARNING] = "warning: ",
            [DIAG_NOTICE] = "notice: ",
        };
        char *s = NULL;
        int r;

        if (x->line > 0)
                r = asprintf(&s, "%s:%u:%u: %s%s", x->file ? x->file : "-", x->line,
                             x->column ? x->column : 1, prefix[x->level], x->msg);
        else
                r = asprintf(&s, "%s: %s%s", x->file ? x->file : "-", prefix[x->level], x->msg);
        return r < 0 ? NULL : s;
}

void diag_print(const DiagList *d, FILE *f, DiagLevel min)
{
        for (size_t i = 0; i < d->n; i++) {
                if (d->items[i].level > min)
                        continue;
                _cleanup_free_ char *s = diag_format(&d->items[i]);
                if (s)
                        fprintf(f, "%s\n", s);
        }
}

typedef struct DiagOrder {
        Diag d;
        size_t index; /* original position: keeps the sort stable */
} DiagOrder;

static int diag_cmp(const void *a, const void *b)
{
        const DiagOrder *x = a, *y = b;
        int c = strcmp(x->d.file ? x->d.file : "", y->d.file ? y->d.file : "");

        if (c)
                return c;
        if (x->d.line != y->d.line)
                return x->d.line < y->d.line ? -1 : 1;
        if (x->d.column != y->d.column)
                return x->d.column < y->d.column ? -1 : 1;
        return x->index < y->index ? -1 : x->index > y->index;
}

void diag_sort(DiagList *d)
{
        _cleanup_free_ DiagOrder *v = calloc(d->n ? d->n : 1, sizeof(*v));

        if (!v)
                return; /* unsorted is still complete */
        for (size_t i = 0; i < d->n; i++)
                v[i] = (DiagOrder){d->items[i], i};
        qsort(v, d->n, sizeof(*v), diag_cmp);
        for (size_t i = 0; i < d->n; i++)
                d->items[i] = v[i].d;
}

void diag_list_clear(DiagList *d)
{
        for (size_t i = 0; i < d->n; i++) {
                free(d->items[i].file);
                free(d->items[i].msg);
        }
        free(d->items);
        *d = (DiagList){0};
}
