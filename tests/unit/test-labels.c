/* SPDX-License-Identifier: MIT */
/* Label selectors: matchLabels, each matchExpressions operator, lists. */
#include "labels.h"
#include "tap.h"

int main(void)
{
        Labels l = {0};
        LabelSelector s = {0};
        SelectorExpr e = {.key = "tier", .op = SELECTOR_IN};
        char *vals[] = {"web", "api"};

        labels_set(&l, "app", "nginx");
        labels_set(&l, "tier", "web");
        labels_set(&l, "tier", "web"); /* replace, not duplicate */
        is_int(l.n, 2, "labels_set replaces an existing key");

        ok(selector_matches(&s, &l), "empty selector matches everything");
        ok(selectors_match_any(NULL, 0, &l), "empty selector list matches everything");

        labels_set(&s.match_labels, "app", "nginx");
        ok(selector_matches(&s, &l), "matchLabels app=nginx matches");
        labels_set(&s.match_labels, "app", "redis");
        ok(!selector_matches(&s, &l), "matchLabels app=redis does not match");
        labels_clear(&s.match_labels);

        e.values = vals;
        e.n_values = 2;
        s.exprs = &e;
        s.n_exprs = 1;
        ok(selector_matches(&s, &l), "In matches");
        e.op = SELECTOR_NOT_IN;
        ok(!selector_matches(&s, &l), "NotIn refuses");
        e.op = SELECTOR_EXISTS;
        ok(selector_matches(&s, &l), "Exists matches");
        e.op = SELECTOR_DOES_NOT_EXIST;
        ok(!selector_matches(&s, &l), "DoesNotExist refuses");
        e.key = "zone";
        ok(selector_matches(&s, &l), "DoesNotExist on absent key matches");
        e.op = SELECTOR_NOT_IN;
        ok(selector_matches(&s, &l), "NotIn on absent key matches (as Kubernetes does)");

        is_int(selector_op_from_string("Exists"), SELECTOR_EXISTS, "op from string");
        is_int(selector_op_from_string("exists"), _SELECTOR_OP_INVALID, "ops are case sensitive");
        labels_clear(&l);
        return tap_done();
}
