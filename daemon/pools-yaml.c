/* SPDX-License-Identifier: MIT */
/*
 * pools.yaml parser (libyaml document API). Reads either form described in spec.md:
 *   - native: one mapping with a `pools:` list;
 *   - MetalLB: one or more documents of kind IPAddressPool / L2Advertisement
 *     (metallb.io/v1beta1, v1beta2 accepted), a `kind: List` of them as printed by
 *     `kubectl get -o yaml`; any other kind is skipped with a notice.
 * The walk is driven by the schema, never by the shape of the input: it only descends
 * into nodes it expects, so its depth is bounded whatever the nesting of the file, and a
 * budget on node visits (relative to the document's own size) stops alias bombs.
 * Ranges that reach into loopback, link-local, multicast, broadcast or reserved space are
 * refused (pool_range_is_special()).
 * Every problem becomes a diagnostic at the line:column of the node it concerns and the
 * walk carries on, so one run reports every error. Cross-checks (duplicate names,
 * overlapping addresses in O(n log n), L2Advertisement matching, the allocation order)
 * run once every document is read. Pure: no I/O outside pools_load(), no globals.
 */
#include <dirent.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <strings.h>
#include <yaml.h>

#include "pools.h"
#include "util/fileio.h"
#include "util/textpos.h"
#include "util/yaml-node.h"

enum {
        FORM_NONE,
        FORM_NATIVE,
        FORM_METALLB,
};

/* An L2Advertisement as written; pools are resolved once every document is read. */
typedef struct L2Pending {
        Advert adv; /* adv.file: where it is written */
        char **pool_names;
        SourcePos *pool_name_pos;
        size_t n_pool_names;
        LabelSelector *pool_selectors;
        size_t n_pool_selectors;
} L2Pending;

typedef struct Parser {
        const char *file; /* the file being read */
        size_t file_index;
        SourcePos end;      /* just after the file's last character */
        bool *file_metallb; /* per file: read in the MetalLB form */
        DiagList *diags;
        yaml_document_t *doc;
        PoolSet *set;
        size_t cap_pools, cap_adverts;
        L2Pending *l2;
        size_t n_l2, cap_l2;
        int form;
        SourcePos form_pos;
        size_t n_pool_entries; /* pool entries seen, valid or not */
        size_t visits, budget;
        bool over_budget, any_over_budget;
} Parser;

/* Each node of a document is visited about twice (duplicate-key check, then the walk);
 * anything far beyond that can only come from aliases re-entering the same subtree. */
#define VISITS_PER_NODE 4
#define VISITS_SLACK 1024

/* At the end of the stream libyaml moves its mark to a new line that may not exist in
 * the file (an empty value there starts on it): such a place is reported just after the
 * last character instead. */
static SourcePos clamp_pos(const Parser *p, size_t line, size_t column)
{
        if (line + 1 > p->end.line)
                return p->end;
        return (SourcePos){(unsigned)MIN(line + 1, (size_t)UINT32_MAX),
                           (unsigned)MIN(column + 1, (size_t)UINT32_MAX)};
}

static SourcePos pos_of(const Parser *p, const yaml_node_t *n)
{
        return clamp_pos(p, n->start_mark.line, n->start_mark.column);
}

_printf_(5, 0) static void vsay_in(Parser *p, DiagLevel level, const char *file, SourcePos pos,
                                   const char *fmt, va_list ap)
{
        _cleanup_free_ char *msg = NULL;

        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        /* diag_add() keeps counting even when the text cannot be stored */
        diag_add(p->diags, level, file, pos.line, pos.column, "%s", msg ? msg : "(out of memory)");
}

_printf_(4, 5) static void say(Parser *p, DiagLevel level, SourcePos pos, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsay_in(p, level, p->file, pos, fmt, ap);
        va_end(ap);
}

/* The same, at a place in file number `file` (for the checks across files). */
_printf_(5, 6) static void say_in(Parser *p, DiagLevel level, size_t file, SourcePos pos,
                                  const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsay_in(p, level, p->set->files[file], pos, fmt, ap);
        va_end(ap);
}

#define err(p, node, ...) say(p, DIAG_ERROR, pos_of(p, node), __VA_ARGS__)
#define warn(p, node, ...) say(p, DIAG_WARNING, pos_of(p, node), __VA_ARGS__)
#define notice(p, node, ...) say(p, DIAG_NOTICE, pos_of(p, node), __VA_ARGS__)

static yaml_node_t *get(Parser *p, int index, const yaml_node_t *parent)
{
        yaml_node_t *n = yaml_document_get_node(p->doc, index);

        if (++p->visits > p->budget && !p->over_budget) {
                p->over_budget = p->any_over_budget = true;
                err(p, parent,
                    "this document is too complex: its aliases expand it beyond %zu nodes",
                    p->budget);
        }
        return n;
}

static bool streq(const char *a, const char *b)
{
        return strcmp(a, b) == 0;
}

static bool expect(Parser *p, const yaml_node_t *n, yaml_node_type_t type, const char *what)
{
        static const char *const names[] = {
            [YAML_SCALAR_NODE] = "a string",
            [YAML_SEQUENCE_NODE] = "a list",
            [YAML_MAPPING_NODE] = "a mapping",
        };

        if (n->type == type && !yaml_node_is_null(n))
                return true;
        err(p, n, "%s: expected %s, got %s", what, names[type], yaml_node_type_name(n));
        return false;
}

static size_t seq_len(const yaml_node_t *n)
{
        return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

/* A scalar as a C string; NUL bytes (possible through "\0" escapes) are refused. */
static const char *get_str(Parser *p, const yaml_node_t *n, const char *what)
{
        if (!expect(p, n, YAML_SCALAR_NODE, what))
                return NULL;
        const char *v = (const char *)n->data.scalar.value;
        if (strlen(v) != n->data.scalar.length) {
                err(p, n, "%s: contains a NUL character", what);
                return NULL;
        }
        return v;
}

/* Names, namespaces and label values end up in messages and on the control socket. */
static const char *get_name(Parser *p, const yaml_node_t *n, const char *what)
{
        const char *v = get_str(p, n, what);
        if (!v)
                return NULL;
        if (strlen(v) > 253) {
                err(p, n, "%s: longer than 253 characters", what);
                return NULL;
        }
        for (const unsigned char *c = (const unsigned char *)v; *c; c++)
                if (*c <= ' ' || *c == 0x7f) {
                        err(p, n, "%s: \"%s\" contains a space or control character", what, v);
                        return NULL;
                }
        return v;
}

static bool get_bool(Parser *p, const yaml_node_t *n, const char *what, bool *ret)
{
        static const char *const yes[] = {"true", "True", "TRUE"};
        static const char *const no[] = {"false", "False", "FALSE"};

        if (!expect(p, n, YAML_SCALAR_NODE, what))
                return false;
        const char *v = (const char *)n->data.scalar.value;
        if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
                for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                        if (streq(v, yes[i]))
                                return (*ret = true);
                        if (streq(v, no[i]))
                                return !(*ret = false);
                }
        }
        err(p, n, "%s: expected true or false, got \"%s\"", what, v);
        return false;
}

static bool get_priority(Parser *p, const yaml_node_t *n, const char *what, int *ret)
{
        if (!expect(p, n, YAML_SCALAR_NODE, what))
                return false;
        const char *v = (const char *)n->data.scalar.value;
        const char *d = v + (*v == '+' || *v == '-');
        bool digits = *d && strspn(d, "0123456789") == strlen(d);

        if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || !digits) {
                err(p, n, "%s: expected a whole number, got \"%s\"", what, v);
                return false;
        }
        /* compare as text first: no overflow whatever the length */
        while (d[0] == '0' && d[1])
                d++;
        if (*v == '-' || strlen(d) > 10 || (strlen(d) == 10 && strcmp(d, "2147483647") > 0)) {
                err(p, n, "%s: %s is out of range (0-2147483647)", what, v);
                return false;
        }
        *ret = (int)strtol(d, NULL, 10);
        return true;
}

/* Reports keys that occur twice in one mapping, at the later one. O(n log n). */
typedef struct KeyRef {
        const char *key;
        const yaml_node_t *node;
        size_t i;
} KeyRef;

static int keyref_cmp(const void *a, const void *b)
{
        const KeyRef *x = a, *y = b;
        int r = strcmp(x->key, y->key);
        return r ? r : x->i < y->i ? -1 : x->i > y->i;
}

static int check_dup_keys(Parser *p, const yaml_node_t *map, const char *what)
{
        size_t n = (size_t)(map->data.mapping.pairs.top - map->data.mapping.pairs.start), k = 0;

        if (n < 2)
                return 0;
        _cleanup_free_ KeyRef *refs = calloc(n, sizeof(*refs));
        if (!refs)
                return -ENOMEM;
        for (size_t i = 0; i < n && !p->over_budget; i++) {
                const yaml_node_t *key = get(p, map->data.mapping.pairs.start[i].key, map);
                if (key->type == YAML_SCALAR_NODE)
                        refs[k++] = (KeyRef){(const char *)key->data.scalar.value, key, i};
        }
        qsort(refs, k, sizeof(*refs), keyref_cmp);
        for (size_t i = 1; i < k; i++)
                if (streq(refs[i].key, refs[i - 1].key)) {
                        SourcePos first = pos_of(p, refs[i - 1].node);
                        err(p, refs[i].node, "duplicate key \"%s\" in %s (first at %s:%u:%u)",
                            refs[i].key, what, p->file, first.line, first.column);
                }
        return 0;
}

/* The key of a mapping pair as a string, or NULL (reported) if it is not a scalar. */
static const char *key_of(Parser *p, const yaml_node_t *key, const char *what)
{
        if (key->type != YAML_SCALAR_NODE ||
            strlen((const char *)key->data.scalar.value) != key->data.scalar.length) {
                err(p, key, "%s: keys must be plain strings, got %s", what,
                    yaml_node_type_name(key));
                return NULL;
        }
        return (const char *)key->data.scalar.value;
}

static void unknown_key(Parser *p, const yaml_node_t *key, const char *name, const char *what,
                        const char *const *known)
{
        for (size_t i = 0; known && known[i]; i++)
                if (strcasecmp(name, known[i]) == 0) {
                        err(p, key, "unknown key \"%s\" in %s; did you mean \"%s\"?", name, what,
                            known[i]);
                        return;
                }
        err(p, key, "unknown key \"%s\" in %s", name, what);
}

/* Iterate over the pairs of a mapping node: K and V are the key and value nodes. */
#define FOREACH_PAIR(p, map, pair, K, V)                                                           \
        for (yaml_node_pair_t *pair = (map)->data.mapping.pairs.start;                             \
             pair < (map)->data.mapping.pairs.top && !(p)->over_budget; pair++)                    \
                for (yaml_node_t *K = get(p, pair->key, map), *V = get(p, pair->value, map); K;    \
                     K = NULL, (void)V)

#define FOREACH_ITEM(p, seq, item, N)                                                              \
        for (yaml_node_item_t *item = (seq)->data.sequence.items.start;                            \
             item < (seq)->data.sequence.items.top && !(p)->over_budget; item++)                   \
                for (yaml_node_t *N = get(p, *item, seq); N; N = NULL)

static int parse_label_map(Parser *p, const yaml_node_t *n, const char *what, Labels *ret)
{
        int r;

        if (!expect(p, n, YAML_MAPPING_NODE, what))
                return 0;
        r = check_dup_keys(p, n, what);
        if (r < 0)
                return r;
        FOREACH_PAIR(p, n, pair, k, v)
        {
                const char *key = get_name(p, k, what), *value = "";
                if (!key)
                        continue;
                if (!yaml_node_is_null(v)) {
                        value = get_str(p, v, key);
                        if (!value)
                                continue;
                }
                if (labels_get(ret, key))
                        continue; /* duplicate, reported above */
                r = labels_set(ret, key, value);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* A list of distinct strings; on error nothing is stored. */
static int parse_str_list(Parser *p, const yaml_node_t *n, const char *what, bool names,
                          char ***ret, size_t *ret_n, SourcePos **ret_pos)
{
        if (!expect(p, n, YAML_SEQUENCE_NODE, what))
                return 0;
        /* a key given twice was reported; keep the last value only */
        for (size_t i = 0; i < *ret_n; i++)
                free((*ret)[i]);
        free(*ret);
        *ret = NULL;
        *ret_n = 0;
        if (ret_pos) {
                free(*ret_pos);
                *ret_pos = NULL;
        }
        size_t len = seq_len(n), k = 0;
        char **v = calloc(len + 1, sizeof(*v));
        _cleanup_free_ SourcePos *pos = calloc(len + 1, sizeof(*pos));
        if (!v || !pos) {
                free(v);
                return -ENOMEM;
        }
        FOREACH_ITEM(p, n, item, s)
        {
                const char *str = names ? get_name(p, s, what) : get_str(p, s, what);
                if (!str)
                        continue;
                bool dup = false;
                /* lists here are short (namespaces, interfaces, pool names) */
                for (size_t i = 0; i < k && !dup; i++)
                        if (streq(v[i], str)) {
                                err(p, s, "%s: \"%s\" is listed twice (first at %s:%u:%u)", what,
                                    str, p->file, pos[i].line, pos[i].column);
                                dup = true;
                        }
                if (dup)
                        continue;
                pos[k] = pos_of(p, s);
                if (!(v[k++] = strdup(str))) {
                        for (size_t i = 0; i < k; i++)
                                free(v[i]);
                        free(v);
                        return -ENOMEM;
                }
        }
        *ret = v;
        *ret_n = k;
        if (ret_pos)
                *ret_pos = TAKE_PTR(pos);
        return 0;
}

static int parse_expr(Parser *p, const yaml_node_t *n, SelectorExpr *e)
{
        static const char *const known[] = {"key", "operator", "values", NULL};
        const yaml_node_t *values = NULL;
        bool have_op = false;
        int r;

        if (!expect(p, n, YAML_MAPPING_NODE, "matchExpressions"))
                return 0;
        r = check_dup_keys(p, n, "matchExpressions");
        if (r < 0)
                return r;
        FOREACH_PAIR(p, n, pair, k, v)
        {
                const char *key = key_of(p, k, "matchExpressions");
                if (!key)
                        continue;
                if (streq(key, "key")) {
                        const char *s = get_name(p, v, "key");
                        if (s && !e->key && !(e->key = strdup(s)))
                                return -ENOMEM;
                } else if (streq(key, "operator")) {
                        const char *s = get_str(p, v, "operator");
                        if (!s)
                                continue;
                        SelectorOp op = selector_op_from_string(s);
                        if (op < 0)
                                err(p, v,
                                    "operator: unknown operator \"%s\" (expected In, NotIn, Exists "
                                    "or DoesNotExist)",
                                    s);
                        else {
                                e->op = op;
                                have_op = true;
                        }
                } else if (streq(key, "values")) {
                        if (yaml_node_is_null(v))
                                continue;
                        values = v;
                        r = parse_str_list(p, v, "values", false, &e->values, &e->n_values, NULL);
                        if (r < 0)
                                return r;
                } else
                        unknown_key(p, k, key, "a label selector expression", known);
        }
        if (!e->key)
                err(p, n, "label selector expression has no key");
        if (!have_op)
                err(p, n, "label selector expression has no operator");
        else if ((e->op == SELECTOR_IN || e->op == SELECTOR_NOT_IN) && e->n_values == 0)
                err(p, values ? values : n, "operator %s needs at least one value",
                    selector_op_to_string(e->op));
        else if ((e->op == SELECTOR_EXISTS || e->op == SELECTOR_DOES_NOT_EXIST) && e->n_values > 0)
                err(p, values, "operator %s takes no values", selector_op_to_string(e->op));
        return 0;
}

static void exprs_clear(LabelSelector *s)
{
        for (size_t i = 0; i < s->n_exprs; i++) {
                free(s->exprs[i].key);
                for (size_t j = 0; j < s->exprs[i].n_values; j++)
                        free(s->exprs[i].values[j]);
                free(s->exprs[i].values);
        }
        free(s->exprs);
        s->exprs = NULL;
        s->n_exprs = 0;
}

static int parse_selector(Parser *p, const yaml_node_t *n, const char *what, LabelSelector *s)
{
        static const char *const known[] = {"matchLabels", "matchExpressions", NULL};
        int r;

        if (yaml_node_is_null(n))
                return 0; /* an empty selector matches everything */
        if (!expect(p, n, YAML_MAPPING_NODE, what))
                return 0;
        r = check_dup_keys(p, n, what);
        if (r < 0)
                return r;
        FOREACH_PAIR(p, n, pair, k, v)
        {
                const char *key = key_of(p, k, what);
                if (!key)
                        continue;
                if (streq(key, "matchLabels")) {
                        if (yaml_node_is_null(v))
                                continue;
                        r = parse_label_map(p, v, "matchLabels", &s->match_labels);
                } else if (streq(key, "matchExpressions")) {
                        if (yaml_node_is_null(v) ||
                            !expect(p, v, YAML_SEQUENCE_NODE, "matchExpressions"))
                                continue;
                        exprs_clear(s);
                        s->exprs = calloc(seq_len(v) + 1, sizeof(*s->exprs));
                        if (!s->exprs)
                                return -ENOMEM;
                        FOREACH_ITEM(p, v, item, e)
                        {
                                r = parse_expr(p, e, &s->exprs[s->n_exprs++]);
                                if (r < 0)
                                        return r;
                                /* an expression without a key was reported; selector
                                 * matching must never see it */
                                SelectorExpr *x = &s->exprs[s->n_exprs - 1];
                                if (!x->key) {
                                        for (size_t j = 0; j < x->n_values; j++)
                                                free(x->values[j]);
                                        free(x->values);
                                        *x = (SelectorExpr){0};
                                        s->n_exprs--;
                                }
                        }
                } else
                        unknown_key(p, k, key, what, known);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_selector_list(Parser *p, const yaml_node_t *n, const char *what,
                               LabelSelector **ret, size_t *ret_n)
{
        int r;

        if (yaml_node_is_null(n) || !expect(p, n, YAML_SEQUENCE_NODE, what))
                return 0;
        selectors_free(*ret, *ret_n);
        *ret_n = 0;
        *ret = calloc(seq_len(n) + 1, sizeof(**ret));
        if (!*ret)
                return -ENOMEM;
        FOREACH_ITEM(p, n, item, s)
        {
                r = parse_selector(p, s, what, &(*ret)[(*ret_n)++]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* MetalLB preferredNodeSelectors (design/preferred-node-l2.md, after the Kubernetes
 * PreferredSchedulingTerm): a list of {weight: 1..100, preference: LabelSelector}, both
 * required. */
static int parse_preferred_list(Parser *p, const yaml_node_t *n, Advert *adv)
{
        static const char *const known[] = {"weight", "preference", NULL};
        const char *what = "preferredNodeSelectors";
        int r;

        if (yaml_node_is_null(n) || !expect(p, n, YAML_SEQUENCE_NODE, what))
                return 0;
        selectors_free(adv->preferred_node_selectors, adv->n_preferred_node_selectors);
        free(adv->preferred_weights);
        adv->n_preferred_node_selectors = 0;
        adv->preferred_node_selectors = calloc(seq_len(n) + 1, sizeof(LabelSelector));
        adv->preferred_weights = calloc(seq_len(n) + 1, sizeof(unsigned));
        if (!adv->preferred_node_selectors || !adv->preferred_weights)
                return -ENOMEM;
        FOREACH_ITEM(p, n, item, e)
        {
                const yaml_node_t *weight = NULL, *pref = NULL;
                if (!expect(p, e, YAML_MAPPING_NODE, "preferredNodeSelectors entry"))
                        continue;
                r = check_dup_keys(p, e, "preferredNodeSelectors entry");
                if (r < 0)
                        return r;
                FOREACH_PAIR(p, e, pair, k, v)
                {
                        const char *key = key_of(p, k, "preferredNodeSelectors entry");
                        if (!key)
                                continue;
                        if (streq(key, "weight"))
                                weight = v;
                        else if (streq(key, "preference"))
                                pref = v;
                        else
                                unknown_key(p, k, key, "preferredNodeSelectors entry", known);
                }
                int w = 0;
                bool ok = true;
                if (!weight) {
                        err(p, e, "preferredNodeSelectors entry has no weight (1-100)");
                        ok = false;
                } else if (!get_priority(p, weight, "weight", &w))
                        ok = false;
                else if (w < 1 || w > 100) {
                        err(p, weight, "weight: %d is out of range (1-100)", w);
                        ok = false;
                }
                if (!pref) {
                        err(p, e, "preferredNodeSelectors entry has no preference");
                        ok = false;
                }
                LabelSelector *sel =
                    &adv->preferred_node_selectors[adv->n_preferred_node_selectors];
                if (pref) {
                        r = parse_selector(p, pref, "preference", sel);
                        if (r < 0)
                                return r;
                }
                if (!ok) {
                        selector_clear(sel);
                        continue;
                }
                adv->preferred_weights[adv->n_preferred_node_selectors++] = (unsigned)w;
        }
        return 0;
}

/* A native label map (`service_selector: {app: nginx}`) as a one-selector list. */
static int parse_native_selector(Parser *p, const yaml_node_t *n, const char *what,
                                 LabelSelector **ret, size_t *ret_n)
{
        if (yaml_node_is_null(n) || !expect(p, n, YAML_MAPPING_NODE, what))
                return 0;
        selectors_free(*ret, *ret_n);
        *ret_n = 0;
        *ret = calloc(1, sizeof(**ret));
        if (!*ret)
                return -ENOMEM;
        *ret_n = 1;
        return parse_label_map(p, n, what, &(*ret)[0].match_labels);
}

static int parse_addresses(Parser *p, const yaml_node_t *n, Pool *pool, bool metallb)
{
        if (!expect(p, n, YAML_SEQUENCE_NODE, "addresses"))
                return 0;
        size_t len = seq_len(n);
        if (len == 0)
                return 0; /* "no addresses", reported by the caller */
        free(pool->ranges);
        free(pool->range_pos);
        pool->n_ranges = 0;
        pool->ranges = calloc(len, sizeof(*pool->ranges));
        pool->range_pos = calloc(len, sizeof(*pool->range_pos));
        if (!pool->ranges || !pool->range_pos)
                return -ENOMEM;
        FOREACH_ITEM(p, n, item, a)
        {
                char msg[256];
                size_t ofs = 0;
                AddrRange rg;
                const char *s = get_str(p, a, "addresses");
                if (!s)
                        continue;
                /* MetalLB masks a CIDR with host bits set (net.ParseCIDR); the native form
                 * refuses it as the typo it usually is. */
                int r = range_parse(s, metallb, &rg, msg, sizeof(msg), &ofs);
                if (r < 0) {
                        err(p, a, "%s", msg);
                        continue;
                }
                if (r == RANGE_MASKED)
                        warn(p, a, "%s", msg);
                if (pool_range_is_special(&rg, msg, sizeof(msg))) {
                        err(p, a, "%s", msg);
                        continue;
                }
                pool->ranges[pool->n_ranges] = rg;
                pool->range_pos[pool->n_ranges++] = pos_of(p, a);
        }
        return 0;
}

static bool valid_ifname(const char *s)
{
        size_t n = strlen(s);
        return n > 0 && n < 16 && !streq(s, ".") && !streq(s, "..") && !strchr(s, '/') &&
               !strchr(s, ':');
}

static int parse_interfaces(Parser *p, const yaml_node_t *n, char ***ret, size_t *ret_n)
{
        _cleanup_free_ SourcePos *pos = NULL;
        int r;

        if (yaml_node_is_null(n))
                return 0;
        r = parse_str_list(p, n, "interfaces", true, ret, ret_n, &pos);
        if (r < 0)
                return r;
        for (size_t i = 0; i < *ret_n; i++)
                if (!valid_ifname((*ret)[i]))
                        say(p, DIAG_ERROR, pos[i],
                            "interfaces: \"%s\" is not a valid interface name (1-15 characters, no "
                            "'/' or ':')",
                            (*ret)[i]);
        return 0;
}

/* Appends a pool (taking what it owns) and returns its index. */
static int add_pool(Parser *p, Pool *pool, size_t *ret)
{
        if (GROW(p->set->pools, p->cap_pools, p->set->n_pools + 1) < 0)
                return -ENOMEM;
        *ret = p->set->n_pools;
        pool->file = p->file_index;
        p->set->pools[p->set->n_pools++] = *pool;
        *pool = (Pool){0};
        return 0;
}

static int add_advert(Parser *p, Advert *adv)
{
        if (GROW(p->set->adverts, p->cap_adverts, p->set->n_adverts + 1) < 0)
                return -ENOMEM;
        p->set->adverts[p->set->n_adverts++] = *adv;
        *adv = (Advert){0};
        return 0;
}

/* `addresses` is the value node of the addresses key, NULL if there was none. A list
 * whose every entry was bad, or a value of the wrong type, has already been reported. */
static void check_pool_complete(Parser *p, const yaml_node_t *n, const Pool *pool,
                                const yaml_node_t *addresses, bool has_name)
{
        if (!has_name)
                err(p, n, "pool has no name");
        if (pool->n_ranges > 0)
                return;
        if (!addresses)
                err(p, n, "pool \"%s\" has no addresses", pool->name ? pool->name : "");
        else if (addresses->type == YAML_SEQUENCE_NODE && seq_len(addresses) == 0)
                err(p, addresses, "pool \"%s\" has no addresses", pool->name ? pool->name : "");
}

static int parse_native_pool_fields(Parser *p, const yaml_node_t *n, Pool *pool, Advert *adv)
{
        static const char *const known[] = {
            "name",       "addresses",        "auto_assign",        "avoid_buggy_ips", "interface",
            "namespaces", "service_selector", "namespace_selector", "node_selector",   "priority",
            NULL,
        };
        const yaml_node_t *addresses = NULL;
        bool name_seen = false;
        int r;

        r = check_dup_keys(p, n, "pool");
        if (r < 0)
                return r;
        FOREACH_PAIR(p, n, pair, k, v)
        {
                const char *key = key_of(p, k, "pool"), *s;
                r = 0;
                if (!key)
                        continue;
                if (streq(key, "name")) {
                        name_seen = true;
                        if ((s = get_name(p, v, "name")) && !pool->name &&
                            !(pool->name = strdup(s)))
                                return -ENOMEM;
                } else if (streq(key, "addresses")) {
                        addresses = v;
                        r = parse_addresses(p, v, pool, false);
                } else if (streq(key, "auto_assign"))
                        get_bool(p, v, "auto_assign", &pool->auto_assign);
                else if (streq(key, "avoid_buggy_ips"))
                        get_bool(p, v, "avoid_buggy_ips", &pool->avoid_buggy_ips);
                else if (streq(key, "interface")) {
                        if (yaml_node_is_null(v) || !(s = get_name(p, v, "interface")))
                                continue;
                        if (!valid_ifname(s))
                                err(p, v,
                                    "interface: \"%s\" is not a valid interface name (1-15 "
                                    "characters, no '/' or ':')",
                                    s);
                        else if (!pool->interface && !(pool->interface = strdup(s)))
                                return -ENOMEM;
                } else if (streq(key, "namespaces")) {
                        if (yaml_node_is_null(v))
                                continue;
                        r = parse_str_list(p, v, "namespaces", true, &pool->namespaces,
                                           &pool->n_namespaces, NULL);
                } else if (streq(key, "service_selector"))
                        r = parse_native_selector(p, v, "service_selector",
                                                  &pool->service_selectors,
                                                  &pool->n_service_selectors);
                else if (streq(key, "namespace_selector"))
                        r = parse_native_selector(p, v, "namespace_selector",
                                                  &pool->namespace_selectors,
                                                  &pool->n_namespace_selectors);
                else if (streq(key, "node_selector"))
                        r = parse_native_selector(p, v, "node_selector", &adv->node_selectors,
                                                  &adv->n_node_selectors);
                else if (streq(key, "priority")) {
                        if (get_priority(p, v, "priority", &pool->priority))
                                pool->has_service_allocation = true;
                } else
                        unknown_key(p, k, key, "pool", known);
                if (r < 0)
                        return r;
        }
        if (pool->n_namespaces || pool->n_service_selectors || pool->n_namespace_selectors)
                pool->has_service_allocation = true;
        check_pool_complete(p, n, pool, addresses, name_seen);
        return 0;
}

static int parse_native_pool(Parser *p, const yaml_node_t *n)
{
        Pool pool = {.auto_assign = true, .pos = pos_of(p, n)};
        Advert adv = {.pos = pos_of(p, n), .file = p->file_index};
        size_t idx;
        int r;

        p->n_pool_entries++;
        if (!expect(p, n, YAML_MAPPING_NODE, "pools"))
                return 0;
        r = parse_native_pool_fields(p, n, &pool, &adv);
        if (r >= 0 && pool.interface) {
                adv.interfaces = calloc(1, sizeof(char *));
                if (!adv.interfaces || !(adv.interfaces[0] = strdup(pool.interface)))
                        r = -ENOMEM;
                else
                        adv.n_interfaces = 1;
        }
        if (r >= 0 && pool.name && !(adv.name = strdup(pool.name)))
                r = -ENOMEM;
        if (r >= 0 && !(adv.pools = calloc(1, sizeof(size_t))))
                r = -ENOMEM;
        if (r >= 0)
                r = add_pool(p, &pool, &idx);
        if (r >= 0) {
                adv.pools[0] = idx;
                adv.n_pools = 1;
                r = add_advert(p, &adv);
        }
        pool_clear(&pool);
        advert_clear(&adv);
        return r;
}

static int parse_native(Parser *p, const yaml_node_t *root)
{
        static const char *const known[] = {"pools", NULL};
        const yaml_node_t *pools = NULL;
        int r;

        r = check_dup_keys(p, root, "the top level");
        if (r < 0)
                return r;
        FOREACH_PAIR(p, root, pair, k, v)
        {
                const char *key = key_of(p, k, "the top level");
                if (!key)
                        continue;
                if (streq(key, "pools")) {
                        if (!pools)
                                pools = v;
                } else
                        unknown_key(p, k, key, "the top level (expected \"pools\")", known);
        }
        if (!pools || !expect(p, pools, YAML_SEQUENCE_NODE, "pools"))
                return 0;
        if (seq_len(pools) == 0) {
                warn(p, pools, "no pools defined: mlbd runs but hands out no address");
                p->n_pool_entries++; /* reported here, not again at the end */
                return 0;
        }
        FOREACH_ITEM(p, pools, item, n)
        {
                r = parse_native_pool(p, n);
                if (r < 0)
                        return r;
        }
        return 0;
}

typedef struct Meta {
        const char *name;
        const yaml_node_t *name_node;
} Meta;

/* metadata: name and labels are used, every other key (namespace, annotations, uid,
 * resourceVersion, managedFields...) is tolerated so that `kubectl get -o yaml` loads. */
static int parse_metadata(Parser *p, const yaml_node_t *n, const char *kind, Meta *m,
                          Labels *labels)
{
        int r;

        if (!expect(p, n, YAML_MAPPING_NODE, "metadata"))
                return 0;
        r = check_dup_keys(p, n, "metadata");
        if (r < 0)
                return r;
        FOREACH_PAIR(p, n, pair, k, v)
        {
                const char *key = key_of(p, k, "metadata");
                if (!key)
                        continue;
                if (streq(key, "name")) {
                        m->name = get_name(p, v, "metadata.name");
                        m->name_node = v;
                } else if (streq(key, "namespace")) {
                        if (!yaml_node_is_null(v))
                                get_name(p, v, "metadata.namespace");
                } else if (streq(key, "labels") && labels) {
                        if (yaml_node_is_null(v))
                                continue;
                        r = parse_label_map(p, v, "metadata.labels", labels);
                        if (r < 0)
                                return r;
                }
        }
        if (!m->name && !m->name_node)
                err(p, n, "%s has no metadata.name", kind);
        return 0;
}

static int parse_service_allocation(Parser *p, const yaml_node_t *n, Pool *pool)
{
        static const char *const known[] = {"priority", "namespaces", "namespaceSelectors",
                                            "serviceSelectors", NULL};
        int r;

        if (yaml_node_is_null(n))
                return 0; /* `serviceAllocation:` with nothing is a nil pointer in Go */
        if (!expect(p, n, YAML_MAPPING_NODE, "serviceAllocation"))
                return 0;
        pool->has_service_allocation = true;
        r = check_dup_keys(p, n, "serviceAllocation");
        if (r < 0)
                return r;
        FOREACH_PAIR(p, n, pair, k, v)
        {
                const char *key = key_of(p, k, "serviceAllocation");
                r = 0;
                if (!key)
                        continue;
                if (streq(key, "priority")) {
                        if (!yaml_node_is_null(v))
                                get_priority(p, v, "priority", &pool->priority);
                } else if (streq(key, "namespaces")) {
                        if (!yaml_node_is_null(v))
                                r = parse_str_list(p, v, "namespaces", true, &pool->namespaces,
                                                   &pool->n_namespaces, NULL);
                } else if (streq(key, "namespaceSelectors"))
                        r = parse_selector_list(p, v, "namespaceSelectors",
                                                &pool->namespace_selectors,
                                                &pool->n_namespace_selectors);
                else if (streq(key, "serviceSelectors"))
                        r = parse_selector_list(p, v, "serviceSelectors", &pool->service_selectors,
                                                &pool->n_service_selectors);
                else
                        unknown_key(p, k, key, "serviceAllocation", known);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_pool_spec(Parser *p, const yaml_node_t *spec, Pool *pool,
                           const yaml_node_t **addresses)
{
        static const char *const known[] = {"addresses", "autoAssign", "avoidBuggyIPs",
                                            "serviceAllocation", NULL};
        int r;

        r = check_dup_keys(p, spec, "IPAddressPool spec");
        if (r < 0)
                return r;
        FOREACH_PAIR(p, spec, pair, k, v)
        {
                const char *key = key_of(p, k, "spec");
                r = 0;
                if (!key)
                        continue;
                if (streq(key, "addresses")) {
                        *addresses = v;
                        r = parse_addresses(p, v, pool, true);
                } else if (streq(key, "autoAssign"))
                        get_bool(p, v, "autoAssign", &pool->auto_assign);
                else if (streq(key, "avoidBuggyIPs"))
                        get_bool(p, v, "avoidBuggyIPs", &pool->avoid_buggy_ips);
                else if (streq(key, "serviceAllocation"))
                        r = parse_service_allocation(p, v, pool);
                else
                        unknown_key(p, k, key, "IPAddressPool spec", known);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_ipaddresspool(Parser *p, const yaml_node_t *root, const yaml_node_t *metadata,
                               const yaml_node_t *spec)
{
        Pool pool = {.auto_assign = true, .pos = pos_of(p, root)};
        const yaml_node_t *addresses = NULL;
        Meta m = {0};
        size_t idx;
        int r = 0;

        p->n_pool_entries++;
        if (metadata)
                r = parse_metadata(p, metadata, "IPAddressPool", &m, &pool.labels);
        else
                err(p, root, "IPAddressPool has no metadata.name");
        if (r >= 0 && m.name) {
                pool.pos = pos_of(p, m.name_node);
                if (!(pool.name = strdup(m.name)))
                        r = -ENOMEM;
        }
        bool spec_ok = !spec || expect(p, spec, YAML_MAPPING_NODE, "spec");
        if (r >= 0 && spec && spec_ok)
                r = parse_pool_spec(p, spec, &pool, &addresses);
        if (r >= 0) {
                if (spec_ok)
                        check_pool_complete(p, root, &pool, addresses, true);
                r = add_pool(p, &pool, &idx);
        }
        pool_clear(&pool);
        return r;
}

static void l2_pending_clear(L2Pending *l)
{
        advert_clear(&l->adv);
        for (size_t i = 0; i < l->n_pool_names; i++)
                free(l->pool_names[i]);
        free(l->pool_names);
        free(l->pool_name_pos);
        selectors_free(l->pool_selectors, l->n_pool_selectors);
        *l = (L2Pending){0};
}

static int parse_l2_spec(Parser *p, const yaml_node_t *spec, L2Pending *l)
{
        static const char *const known[] = {"ipAddressPools",
                                            "ipAddressPoolSelectors",
                                            "nodeSelectors",
                                            "interfaces",
                                            "serviceSelectors",
                                            "preferredNodeSelectors",
                                            NULL};
        const yaml_node_t *pref_key = NULL, *svc_key = NULL;
        int r;

        r = check_dup_keys(p, spec, "L2Advertisement spec");
        if (r < 0)
                return r;
        FOREACH_PAIR(p, spec, pair, k, v)
        {
                const char *key = key_of(p, k, "spec");
                r = 0;
                if (!key)
                        continue;
                if (streq(key, "ipAddressPools")) {
                        if (!yaml_node_is_null(v))
                                r = parse_str_list(p, v, "ipAddressPools", true, &l->pool_names,
                                                   &l->n_pool_names, &l->pool_name_pos);
                } else if (streq(key, "ipAddressPoolSelectors"))
                        r = parse_selector_list(p, v, "ipAddressPoolSelectors", &l->pool_selectors,
                                                &l->n_pool_selectors);
                else if (streq(key, "nodeSelectors"))
                        r = parse_selector_list(p, v, "nodeSelectors", &l->adv.node_selectors,
                                                &l->adv.n_node_selectors);
                else if (streq(key, "preferredNodeSelectors")) {
                        r = parse_preferred_list(p, v, &l->adv);
                        pref_key = k;
                } else if (streq(key, "serviceSelectors")) {
                        r = parse_selector_list(p, v, "serviceSelectors", &l->adv.service_selectors,
                                                &l->adv.n_service_selectors);
                        svc_key = k;
                } else if (streq(key, "interfaces"))
                        r = parse_interfaces(p, v, &l->adv.interfaces, &l->adv.n_interfaces);
                else
                        unknown_key(p, k, key, "L2Advertisement spec", known);
                if (r < 0)
                        return r;
        }
        /* MetalLB refuses this pair: election is pool-wide, so a preference scoped to some
         * Services would move the announcer of every Service of the pool */
        if (pref_key && svc_key && l->adv.n_preferred_node_selectors > 0 &&
            l->adv.n_service_selectors > 0)
                err(p, pref_key,
                    "an L2Advertisement cannot set both serviceSelectors and "
                    "preferredNodeSelectors (the preference would apply to every Service of the "
                    "pool); give those Services a pool of their own");
        return 0;
}

static int parse_l2adv(Parser *p, const yaml_node_t *root, const yaml_node_t *metadata,
                       const yaml_node_t *spec)
{
        L2Pending l = {.adv.pos = pos_of(p, root), .adv.file = p->file_index};
        Meta m = {0};
        int r = 0;

        if (metadata)
                r = parse_metadata(p, metadata, "L2Advertisement", &m, NULL);
        else
                err(p, root, "L2Advertisement has no metadata.name");
        if (r >= 0 && m.name) {
                l.adv.pos = pos_of(p, m.name_node);
                if (!(l.adv.name = strdup(m.name)))
                        r = -ENOMEM;
        }
        /* no spec at all is valid: every pool, every node, every interface */
        if (r >= 0 && spec && !yaml_node_is_null(spec) &&
            expect(p, spec, YAML_MAPPING_NODE, "spec"))
                r = parse_l2_spec(p, spec, &l);
        if (r >= 0 && GROW(p->l2, p->cap_l2, p->n_l2 + 1) < 0)
                r = -ENOMEM;
        if (r >= 0) {
                p->l2[p->n_l2++] = l;
                l = (L2Pending){0};
        }
        l2_pending_clear(&l);
        return r;
}

static int parse_object(Parser *p, const yaml_node_t *root, unsigned depth);

/* `kubectl get ipaddresspools,l2advertisements -o yaml` prints one v1 List. */
static int parse_list(Parser *p, const yaml_node_t *items, unsigned depth)
{
        if (!items || yaml_node_is_null(items) || !expect(p, items, YAML_SEQUENCE_NODE, "items"))
                return 0;
        FOREACH_ITEM(p, items, item, n)
        {
                int r = parse_object(p, n, depth + 1);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_object(Parser *p, const yaml_node_t *root, unsigned depth)
{
        const yaml_node_t *api = NULL, *kind = NULL, *metadata = NULL, *spec = NULL, *items = NULL;
        const char *api_s = NULL, *kind_s = NULL;
        int r;

        if (!expect(p, root, YAML_MAPPING_NODE, "document"))
                return 0;
        r = check_dup_keys(p, root, "the document");
        if (r < 0)
                return r;
        FOREACH_PAIR(p, root, pair, k, v)
        {
                const char *key = key_of(p, k, "the document");
                if (!key)
                        continue;
                if (streq(key, "apiVersion"))
                        api = v;
                else if (streq(key, "kind"))
                        kind = v;
                else if (streq(key, "metadata"))
                        metadata = v;
                else if (streq(key, "spec"))
                        spec = v;
                else if (streq(key, "items"))
                        items = v;
                /* status and anything else of other kinds: not ours */
        }
        if (!api)
                err(p, root, "document has no apiVersion (expected metallb.io/v1beta1)");
        else
                api_s = get_str(p, api, "apiVersion");
        if (!kind)
                err(p, root, "document has no kind (expected IPAddressPool or L2Advertisement)");
        else
                kind_s = get_str(p, kind, "kind");
        if (!api_s || !kind_s)
                return 0;

        if (streq(kind_s, "List") && streq(api_s, "v1") && depth == 0)
                return parse_list(p, items, depth);
        bool ours = streq(kind_s, "IPAddressPool") || streq(kind_s, "L2Advertisement");
        if (!ours || strncmp(api_s, "metallb.io/", 11) != 0) {
                notice(p, kind,
                       "ignoring %s (%s): mlbd only reads IPAddressPool and "
                       "L2Advertisement (metallb.io)",
                       kind_s, api_s);
                return 0;
        }
        if (!streq(api_s, "metallb.io/v1beta1") && !streq(api_s, "metallb.io/v1beta2")) {
                err(p, api, "apiVersion %s is not supported for %s (expected metallb.io/v1beta1)",
                    api_s, kind_s);
                return 0;
        }
        if (streq(kind_s, "IPAddressPool"))
                return parse_ipaddresspool(p, root, metadata, spec);
        return parse_l2adv(p, root, metadata, spec);
}

static int parse_document(Parser *p, const yaml_node_t *root)
{
        int form = FORM_METALLB;

        if (yaml_node_is_null(root))
                return 0; /* empty document, e.g. between two "---" */
        if (root->type != YAML_MAPPING_NODE) {
                err(p, root, "expected a mapping (a \"pools:\" list or a MetalLB object), got %s",
                    yaml_node_type_name(root));
                return 0;
        }
        FOREACH_PAIR(p, root, pair, k, v)
        {
                if (k->type == YAML_SCALAR_NODE &&
                    streq((const char *)k->data.scalar.value, "pools"))
                        form = FORM_NATIVE;
        }
        if (p->form != FORM_NONE && p->form != form) {
                err(p, root,
                    "this document uses the %s form but the one at %s:%u:%u uses the %s form; "
                    "use one form per file",
                    form == FORM_NATIVE ? "native" : "MetalLB", p->file, p->form_pos.line,
                    p->form_pos.column, p->form == FORM_NATIVE ? "native" : "MetalLB");
                return 0;
        }
        if (p->form == FORM_NONE) {
                p->form = form;
                p->form_pos = pos_of(p, root);
        }
        return form == FORM_NATIVE ? parse_native(p, root) : parse_object(p, root, 0);
}

static SourcePos pos_at_offset(const char *buf, size_t len, size_t offset)
{
        SourcePos pos;
        text_pos_at(buf, len, offset, &pos.line, &pos.column);
        return pos;
}

static void yaml_error(Parser *p, const yaml_parser_t *y, const char *buf, size_t len)
{
        SourcePos pos;

        if (y->error == YAML_READER_ERROR) {
                pos = pos_at_offset(buf, len, y->problem_offset);
                say(p, DIAG_ERROR, pos, "%s", y->problem ? y->problem : "cannot read the input");
                return;
        }
        pos = clamp_pos(p, y->problem_mark.line, y->problem_mark.column);
        if (y->context)
                say(p, DIAG_ERROR, pos, "YAML syntax error: %s (%s started at line %u, column %u)",
                    y->problem ? y->problem : "invalid YAML", y->context,
                    (unsigned)MIN(y->context_mark.line + 1, (size_t)UINT32_MAX),
                    (unsigned)MIN(y->context_mark.column + 1, (size_t)UINT32_MAX));
        else
                say(p, DIAG_ERROR, pos, "YAML syntax error: %s",
                    y->problem ? y->problem : "invalid YAML");
}

static int read_documents(Parser *p, const char *buf, size_t len)
{
        yaml_parser_t y;
        int r = 0;

        if (!yaml_parser_initialize(&y))
                return -ENOMEM;
        p->end = pos_at_offset(buf, len, len);
        yaml_parser_set_input_string(&y, (const unsigned char *)buf, len);
        for (;;) {
                yaml_document_t doc;
                if (!yaml_parser_load(&y, &doc)) {
                        if (y.error == YAML_MEMORY_ERROR)
                                r = -ENOMEM;
                        else
                                yaml_error(p, &y, buf, len);
                        break;
                }
                yaml_node_t *root = yaml_document_get_root_node(&doc);
                if (!root) { /* end of the stream */
                        yaml_document_delete(&doc);
                        break;
                }
                p->doc = &doc;
                p->visits = 0;
                p->over_budget = false;
                p->budget =
                    (size_t)(doc.nodes.top - doc.nodes.start) * VISITS_PER_NODE + VISITS_SLACK;
                r = parse_document(p, root);
                p->doc = NULL;
                yaml_document_delete(&doc);
                if (r < 0)
                        break;
        }
        yaml_parser_delete(&y);
        return r;
}

static SourcePos pool_pos(const PoolSet *s, size_t i)
{
        return s->pools[i].pos;
}

static int name_cmp(const void *a, const void *b, void *userdata)
{
        const PoolSet *s = userdata;
        size_t i = *(const size_t *)a, j = *(const size_t *)b;
        int r = strcmp(s->pools[i].name, s->pools[j].name);
        return r ? r : i < j ? -1 : i > j;
}

static int check_duplicate_names(Parser *p)
{
        PoolSet *s = p->set;
        size_t n = 0;

        _cleanup_free_ size_t *idx = calloc(s->n_pools + 1, sizeof(*idx));
        if (!idx)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_pools; i++)
                if (s->pools[i].name)
                        idx[n++] = i;
        qsort_r(idx, n, sizeof(*idx), name_cmp, s);
        for (size_t i = 1; i < n; i++) {
                const Pool *a = &s->pools[idx[i - 1]], *b = &s->pools[idx[i]];
                if (!streq(a->name, b->name))
                        continue;
                /* compare against the first of a run so every later one names it */
                size_t first = i - 1;
                while (first > 0 && streq(s->pools[idx[first - 1]].name, b->name))
                        first--;
                SourcePos fp = pool_pos(s, idx[first]);
                say_in(p, DIAG_ERROR, b->file, b->pos,
                       "duplicate pool name \"%s\" (first defined at %s:%u:%u)", b->name,
                       s->files[s->pools[idx[first]].file], fp.line, fp.column);
        }
        return 0;
}

typedef struct RangeRef {
        AddrRange r;
        size_t pool, index; /* (pool, index) is also the written order */
} RangeRef;

static int rangeref_cmp(const void *a, const void *b)
{
        const RangeRef *x = a, *y = b;

        if (x->r.first != y->r.first)
                return x->r.first < y->r.first ? -1 : 1;
        if (x->pool != y->pool)
                return x->pool < y->pool ? -1 : 1;
        return x->index < y->index ? -1 : x->index > y->index;
}

static bool written_before(const RangeRef *a, const RangeRef *b)
{
        return a->pool < b->pool || (a->pool == b->pool && a->index < b->index);
}

/* Sort every range by its start and sweep, remembering the range reaching furthest:
 * a range overlaps an earlier-sorted one iff it starts at or before that furthest end.
 * O(n log n) for n ranges; each overlap is reported at whichever of the two entries
 * comes later in the file, naming the other one. */
static int check_overlaps(Parser *p)
{
        PoolSet *s = p->set;
        size_t n = 0, k = 0;

        for (size_t i = 0; i < s->n_pools; i++)
                n += s->pools[i].n_ranges;
        if (n < 2)
                return 0;
        _cleanup_free_ RangeRef *refs = calloc(n, sizeof(*refs));
        if (!refs)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_pools; i++)
                for (size_t j = 0; j < s->pools[i].n_ranges; j++)
                        refs[k++] = (RangeRef){s->pools[i].ranges[j], i, j};
        qsort(refs, n, sizeof(*refs), rangeref_cmp);

        size_t reach = 0;
        for (size_t i = 1; i < n; i++) {
                const RangeRef *cur = &refs[i], *far = &refs[reach];
                if (cur->r.first <= far->r.last) {
                        const RangeRef *later = written_before(far, cur) ? cur : far;
                        const RangeRef *other = later == cur ? far : cur;
                        const Pool *lp = &s->pools[later->pool], *op = &s->pools[other->pool];
                        SourcePos at = lp->range_pos[later->index];
                        SourcePos opos = op->range_pos[other->index];
                        char a[RANGE_STR_MAX], b[RANGE_STR_MAX];
                        say_in(p, DIAG_ERROR, lp->file, at,
                               "%s overlaps %s of pool \"%s\" at %s:%u:%u",
                               range_format_cidr(&later->r, a), range_format_cidr(&other->r, b),
                               op->name ? op->name : "", s->files[op->file], opos.line,
                               opos.column);
                }
                if (cur->r.last > far->r.last)
                        reach = i;
        }
        return 0;
}

static bool pool_selected(const PoolSet *s, size_t i, const L2Pending *l)
{
        for (size_t j = 0; j < l->n_pool_names; j++)
                if (s->pools[i].name && streq(s->pools[i].name, l->pool_names[j]))
                        return true;
        for (size_t j = 0; j < l->n_pool_selectors; j++)
                if (selector_matches(&l->pool_selectors[j], &s->pools[i].labels))
                        return true;
        return false;
}

static bool pool_metallb(const Parser *p, size_t i)
{
        return p->file_metallb[p->set->pools[i].file];
}

/* MetalLB (internal/config/config.go, setL2AdvertisementsToPools): an L2Advertisement
 * with neither ipAddressPools nor ipAddressPoolSelectors applies to every pool; otherwise
 * to the named pools plus those whose labels match a selector. A name that matches no
 * pool is skipped silently there; here it gets a notice. Only pools of MetalLB-form files
 * take part (native pools carry their own announcement rule), whatever file the
 * L2Advertisement is in. */
static int resolve_l2(Parser *p)
{
        PoolSet *s = p->set;
        size_t n_metallb = 0;
        int r;

        for (size_t i = 0; i < s->n_pools; i++)
                n_metallb += pool_metallb(p, i);
        if (p->n_l2 == 0) {
                if (n_metallb == 0)
                        return 0;
                Advert adv = {0};
                adv.name = strdup("(implicit)");
                adv.pools = calloc(s->n_pools + 1, sizeof(size_t));
                if (!adv.name || !adv.pools) {
                        advert_clear(&adv);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < s->n_pools; i++)
                        if (pool_metallb(p, i))
                                adv.pools[adv.n_pools++] = i;
                r = add_advert(p, &adv);
                advert_clear(&adv);
                if (r < 0)
                        return r;
                say_in(p, DIAG_NOTICE, 0, (SourcePos){0, 0},
                       "no L2Advertisement %s: every pool is announced (mlbd announces in layer 2 "
                       "only)",
                       s->n_files > 1 ? "in any file" : "in the file");
                return 0;
        }

        for (size_t i = 0; i < p->n_l2; i++) {
                L2Pending *l = &p->l2[i];
                bool all = l->n_pool_names == 0 && l->n_pool_selectors == 0;

                for (size_t j = 0; j < l->n_pool_names; j++) {
                        const Pool *named = pool_set_find(s, l->pool_names[j]);
                        if (!named || !pool_metallb(p, (size_t)(named - s->pools)))
                                say_in(p, DIAG_NOTICE, l->adv.file, l->pool_name_pos[j],
                                       "L2Advertisement \"%s\" names pool \"%s\", which is not "
                                       "defined %s; it matches nothing",
                                       l->adv.name ? l->adv.name : "", l->pool_names[j],
                                       !named ? (s->n_files > 1 ? "in any file" : "here")
                                              : "as an IPAddressPool");
                }
                l->adv.pools = calloc(s->n_pools + 1, sizeof(size_t));
                if (!l->adv.pools)
                        return -ENOMEM;
                for (size_t j = 0; j < s->n_pools; j++)
                        if (pool_metallb(p, j) && (all || pool_selected(s, j, l)))
                                l->adv.pools[l->adv.n_pools++] = j;
                r = add_advert(p, &l->adv);
                if (r < 0)
                        return r;
        }

        /* MetalLB: at most one L2Advertisement with preferredNodeSelectors per pool, so
         * that all the weights of a pool are in one object */
        for (size_t j = 0; j < s->n_pools; j++) {
                const Advert *first = NULL;
                for (size_t i = 0; i < s->n_adverts; i++) {
                        const Advert *a = &s->adverts[i];
                        bool covers = false;
                        for (size_t k = 0; k < a->n_pools && !covers; k++)
                                covers = a->pools[k] == j;
                        if (!covers || a->n_preferred_node_selectors == 0)
                                continue;
                        if (!first) {
                                first = a;
                                continue;
                        }
                        say_in(p, DIAG_ERROR, a->file, a->pos,
                               "L2Advertisement \"%s\" sets preferredNodeSelectors for pool "
                               "\"%s\", which L2Advertisement \"%s\" at %s:%u:%u already does; "
                               "a pool takes its preferences from one L2Advertisement",
                               a->name ? a->name : "", s->pools[j].name ? s->pools[j].name : "",
                               first->name ? first->name : "", s->files[first->file],
                               first->pos.line, first->pos.column);
                }
        }

        _cleanup_free_ bool *covered = calloc(s->n_pools + 1, sizeof(bool));
        if (!covered)
                return -ENOMEM;
        for (size_t i = 0; i < s->n_adverts; i++)
                for (size_t j = 0; j < s->adverts[i].n_pools; j++)
                        covered[s->adverts[i].pools[j]] = true;
        for (size_t i = 0; i < s->n_pools; i++)
                if (!covered[i] && s->pools[i].name)
                        say_in(p, DIAG_WARNING, s->pools[i].file, s->pools[i].pos,
                               "pool %s is not announced by any L2Advertisement; its addresses "
                               "are allocated but not announced",
                               s->pools[i].name);
        return 0;
}

static void parser_done(Parser *p)
{
        for (size_t i = 0; i < p->n_l2; i++)
                l2_pending_clear(&p->l2[i]);
        free(p->l2);
        free(p->file_metallb);
        pool_set_free(p->set);
}

static int parse(Parser *p, const PoolSource *src, size_t n)
{
        size_t errors = p->diags->n_errors;
        bool any_metallb = false;
        int r;

        for (size_t i = 0; i < n; i++) {
                p->file = p->set->files[i];
                p->file_index = i;
                p->form = FORM_NONE;
                r = read_documents(p, src[i].buf ? src[i].buf : "", src[i].buf ? src[i].len : 0);
                if (r < 0)
                        return r;
                p->file_metallb[i] = p->form == FORM_METALLB;
                any_metallb = any_metallb || p->form == FORM_METALLB;
        }
        /* MetalLB users keep IPAddressPools and L2Advertisements in separate objects and
         * files: a file without pools is valid, and so is a configuration without any */
        if (p->n_pool_entries == 0 && p->diags->n_errors == errors) {
                if (n > 1)
                        say_in(p, DIAG_WARNING, 0, (SourcePos){1, 1},
                               "no pool in any of the %zu pools files: mlbd runs but hands out "
                               "no address",
                               n);
                else
                        say_in(p, DIAG_WARNING, 0, (SourcePos){1, 1}, "%s",
                               p->form == FORM_METALLB
                                   ? "no IPAddressPool in the file: mlbd runs but hands out no "
                                     "address"
                                   : "no pools defined (expected a \"pools:\" list or MetalLB "
                                     "IPAddressPool documents): mlbd runs but hands out no "
                                     "address");
        }
        p->set->metallb = any_metallb;
        if (p->any_over_budget)
                return 0; /* the cross-checks would only repeat the expansion */
        r = check_duplicate_names(p);
        if (r >= 0)
                r = check_overlaps(p);
        if (r >= 0)
                r = resolve_l2(p);
        if (r >= 0)
                r = pools_order(p->set);
        return r;
}

int pools_parse_many(const PoolSource *src, size_t n, PoolSet **ret, DiagList *diags)
{
        static const PoolSource none = {"-", "", 0};
        Parser p = {.diags = diags};
        size_t errors = diags->n_errors;
        int r;

        if (n == 0) {
                src = &none;
                n = 1;
        }
        p.set = calloc(1, sizeof(*p.set));
        p.file_metallb = calloc(n, sizeof(bool));
        if (!p.set || !p.file_metallb || !(p.set->files = calloc(n, sizeof(char *)))) {
                parser_done(&p);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                if (!(p.set->files[i] = strdup(src[i].file ? src[i].file : "-"))) {
                        parser_done(&p);
                        return -ENOMEM;
                }
                p.set->n_files++;
        }
        if (!(p.set->file = strdup(p.set->files[0]))) {
                parser_done(&p);
                return -ENOMEM;
        }
        r = parse(&p, src, n);
        if (r >= 0 && diags->n_errors > errors)
                r = -EINVAL;
        if (r >= 0) {
                p.set->file_metallb = TAKE_PTR(p.file_metallb);
                *ret = TAKE_PTR(p.set);
        }
        parser_done(&p);
        return r;
}

int pools_parse(const char *file, const char *buf, size_t len, PoolSet **ret, DiagList *diags)
{
        PoolSource src = {file ? file : "-", buf, len};
        return pools_parse_many(&src, 1, ret, diags);
}

int pools_load(const char *path, PoolSet **ret, DiagList *diags)
{
        _cleanup_free_ char *buf = NULL;
        size_t len = 0;
        int r;

        r = read_full_file(path, &buf, &len);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                diag_error(diags, path, 0, 0, "cannot read the pools file: %s", strerror(-r));
                return -EINVAL;
        }
        return pools_parse(path, buf, len, ret, diags);
}

static void names_free(char **v, size_t n)
{
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static int str_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the regular *.yaml files of dir (not hidden), sorted; a missing dir is none. */
static int list_yaml(const char *dir, char ***ret, size_t *ret_n, DiagList *diags)
{
        DIR *d;
        char **names = NULL;
        size_t n = 0, cap = 0;

        *ret = NULL;
        *ret_n = 0;
        if (!dir)
                return 0;
        d = opendir(dir);
        if (!d) {
                if (errno == ENOENT)
                        return 0;
                diag_error(diags, dir, 0, 0, "cannot read the pools directory: %s",
                           strerror(errno));
                return -EINVAL;
        }
        for (struct dirent *de; (errno = 0, de = readdir(d));) {
                size_t l = strlen(de->d_name);
                if (de->d_name[0] == '.' || l <= 5 || strcmp(de->d_name + l - 5, ".yaml") != 0)
                        continue;
                char *path = NULL;
                struct stat st;
                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0)
                        path = NULL;
                if (!path || GROW(names, cap, n + 1) < 0) {
                        free(path);
                        names_free(names, n);
                        closedir(d);
                        return -ENOMEM;
                }
                if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
                        free(path); /* a dangling link or a directory: not a pools file */
                        continue;
                }
                names[n++] = path;
        }
        int e = errno;
        closedir(d);
        if (e != 0) {
                diag_error(diags, dir, 0, 0, "cannot read the pools directory: %s", strerror(e));
                names_free(names, n);
                return -EINVAL;
        }
        if (n > 1)
                qsort(names, n, sizeof(*names), str_cmp);
        *ret = names;
        *ret_n = n;
        return 0;
}

int pools_load_all(const char *path, const char *dir, PoolSet **ret, DiagList *diags)
{
        char **names = NULL;
        size_t n = 0;
        int r;

        r = list_yaml(dir, &names, &n, diags);
        if (r < 0)
                return r;
        _cleanup_free_ PoolSource *src = calloc(n + 1, sizeof(*src));
        _cleanup_free_ char **bufs = calloc(n + 1, sizeof(char *));
        bool bad = false;
        if (!src || !bufs) {
                names_free(names, n);
                return -ENOMEM;
        }
        for (size_t i = 0; i <= n && r >= 0; i++) {
                const char *file = i == 0 ? path : names[i - 1];
                size_t len = 0;
                r = read_full_file(file, &bufs[i], &len);
                if (r < 0 && r != -ENOMEM) {
                        diag_error(diags, file, 0, 0, "cannot read the pools file: %s",
                                   strerror(-r));
                        bad = true;
                        r = 0;
                }
                src[i] = (PoolSource){file, bufs[i], len};
        }
        if (r >= 0 && !bad)
                r = pools_parse_many(src, n + 1, ret, diags);
        else if (r >= 0)
                r = -EINVAL;
        for (size_t i = 0; i <= n; i++)
                free(bufs[i]);
        names_free(names, n);
        return r;
}
