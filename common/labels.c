/* SPDX-License-Identifier: MIT */
/* Kubernetes labels and selectors; see labels.h. */
#include <string.h>

#include "labels.h"

int labels_set(Labels *l, const char *key, const char *value)
{
        char *v = strdup(value);
        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < l->n; i++)
                if (strcmp(l->items[i].key, key) == 0) {
                        free(l->items[i].value);
                        l->items[i].value = v;
                        return 0;
                }
        char *k = strdup(key);
        if (!k || GROW(l->items, l->cap, l->n + 1) < 0) {
                free(k);
                free(v);
                return -ENOMEM;
        }
        l->items[l->n++] = (Label){k, v};
        return 0;
}

const char *labels_get(const Labels *l, const char *key)
{
        for (size_t i = 0; l && i < l->n; i++)
                if (strcmp(l->items[i].key, key) == 0)
                        return l->items[i].value;
        return NULL;
}

int labels_copy(Labels *dst, const Labels *src)
{
        for (size_t i = 0; src && i < src->n; i++) {
                int r = labels_set(dst, src->items[i].key, src->items[i].value);
                if (r < 0)
                        return r;
        }
        return 0;
}

void labels_clear(Labels *l)
{
        for (size_t i = 0; i < l->n; i++) {
                free(l->items[i].key);
                free(l->items[i].value);
        }
        free(l->items);
        *l = (Labels){0};
}

static const char *const op_names[_SELECTOR_OP_MAX] = {
    [SELECTOR_IN] = "In",
    [SELECTOR_NOT_IN] = "NotIn",
    [SELECTOR_EXISTS] = "Exists",
    [SELECTOR_DOES_NOT_EXIST] = "DoesNotExist",
};

SelectorOp selector_op_from_string(const char *s)
{
        for (size_t i = 0; i < ELEMENTSOF(op_names); i++)
                if (strcmp(s, op_names[i]) == 0)
                        return (SelectorOp)i;
        return _SELECTOR_OP_INVALID;
}

const char *selector_op_to_string(SelectorOp op)
{
        if (op < 0 || op >= _SELECTOR_OP_MAX)
                return NULL;
        return op_names[op];
}

static bool expr_matches(const SelectorExpr *e, const Labels *l)
{
        const char *v = labels_get(l, e->key);
        bool in = false;

        switch (e->op) {
        case SELECTOR_EXISTS:
                return v != NULL;
        case SELECTOR_DOES_NOT_EXIST:
                return v == NULL;
        case SELECTOR_IN:
        case SELECTOR_NOT_IN:
                for (size_t i = 0; v && i < e->n_values; i++)
                        if (strcmp(v, e->values[i]) == 0)
                                in = true;
                return e->op == SELECTOR_IN ? in : !in;
        default:
                return false;
        }
}

bool selector_matches(const LabelSelector *s, const Labels *l)
{
        for (size_t i = 0; i < s->match_labels.n; i++) {
                const char *v = labels_get(l, s->match_labels.items[i].key);
                if (!v || strcmp(v, s->match_labels.items[i].value) != 0)
                        return false;
        }
        for (size_t i = 0; i < s->n_exprs; i++)
                if (!expr_matches(&s->exprs[i], l))
                        return false;
        return true;
}

bool selectors_match_any(const LabelSelector *s, size_t n, const Labels *l)
{
        if (n == 0)
                return true;
        for (size_t i = 0; i < n; i++)
                if (selector_matches(&s[i], l))
                        return true;
        return false;
}

void selector_clear(LabelSelector *s)
{
        labels_clear(&s->match_labels);
        for (size_t i = 0; i < s->n_exprs; i++) {
                free(s->exprs[i].key);
                for (size_t j = 0; j < s->exprs[i].n_values; j++)
                        free(s->exprs[i].values[j]);
                free(s->exprs[i].values);
        }
        free(s->exprs);
        *s = (LabelSelector){0};
}

void selectors_free(LabelSelector *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                selector_clear(&s[i]);
        free(s);
}
