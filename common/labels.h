/* SPDX-License-Identifier: MIT */
/*
 * Kubernetes labels and label selectors (matchLabels + matchExpressions), as used by
 * MetalLB's namespaceSelectors, serviceSelectors, nodeSelectors and
 * ipAddressPoolSelectors. An empty selector matches everything; a list of selectors
 * matches when any one of them does, and an empty list matches everything.
 */
#pragma once

#include "util/macro.h"

typedef struct Label {
        char *key, *value;
} Label;

typedef struct Labels {
        Label *items;
        size_t n, cap;
} Labels;

typedef enum SelectorOp {
        SELECTOR_IN,
        SELECTOR_NOT_IN,
        SELECTOR_EXISTS,
        SELECTOR_DOES_NOT_EXIST,
        _SELECTOR_OP_MAX,
        _SELECTOR_OP_INVALID = -EINVAL,
} SelectorOp;

typedef struct SelectorExpr {
        char *key;
        SelectorOp op;
        char **values;
        size_t n_values;
} SelectorExpr;

typedef struct LabelSelector {
        Labels match_labels;
        SelectorExpr *exprs;
        size_t n_exprs;
} LabelSelector;

/* Sets key=value (replacing an existing key); 0 or -ENOMEM. */
int labels_set(Labels *l, const char *key, const char *value);
const char *labels_get(const Labels *l, const char *key);
int labels_copy(Labels *dst, const Labels *src);
void labels_clear(Labels *l);

SelectorOp selector_op_from_string(const char *s);
const char *selector_op_to_string(SelectorOp op);

bool selector_matches(const LabelSelector *s, const Labels *l);
bool selectors_match_any(const LabelSelector *s, size_t n, const Labels *l);
void selector_clear(LabelSelector *s);
void selectors_free(LabelSelector *s, size_t n);
