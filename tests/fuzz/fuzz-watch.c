/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the watch-stream parser, and on the same bytes the list and Status
 * parsers and the translation of every decoded object.
 *
 * Input: byte 0 picks the cap (64 bytes to 8 KiB) and the number of cuts (0-7), then two
 * bytes per cut give its position; the rest is the stream. The stream is parsed whole and
 * again cut at those positions: both runs must give the same events and the same error,
 * the parser must never hold more than the cap, every event must point into the stream,
 * and a spent parser must refuse input. translate_object() must give an object no larger
 * than its input. watch_parse_list_each() must agree with watch_parse_list().
 */
#include <string.h>

#include "translate.h"
#include "watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_EVENTS 4096

typedef struct Run {
        size_t n;
        WatchEventType type[MAX_EVENTS];
        uint64_t offset[MAX_EVENTS];
        char *dump[MAX_EVENTS]; /* type, resourceVersion, status and object as text */
        uint64_t stream_len;
        bool oom;
} Run;

static void check_translate(const json_t *obj)
{
        _cleanup_free_ char *in = json_dumps(obj, JSON_COMPACT);
        static const char *const addrs[] = {"192.0.2.1", "2001:db8::1"};

        for (int k = 0; k < _OBJ_KIND_MAX; k++) {
                json_t *t = NULL;
                char key[OBJ_KEY_MAX];
                int r = translate_object(k, obj, k == OBJ_SERVICE ? "x" : NULL, &t);
                if (r == -ENOMEM)
                        continue;
                if (r != 0 && r != -EINVAL)
                        __builtin_trap();
                if (r == 0) {
                        char *out = json_dumps(t, JSON_COMPACT);
                        if (!json_is_object(t) || (in && out && strlen(out) > strlen(in)))
                                __builtin_trap();
                        free(out);
                        json_decref(t);
                }
                r = translate_object_key(k, obj, key);
                if (r != 0 && r != -EINVAL)
                        __builtin_trap();
        }
        (void)translate_ingress_equal(obj, addrs, 2);
        (void)translate_ingress_equal(obj, NULL, 0);
}

static int on_event(const WatchEvent *e, void *userdata)
{
        Run *run = userdata;

        if (e->type < 0 || e->type >= _WATCH_EVENT_TYPE_MAX || !json_is_object(e->object) ||
            e->number != run->n + 1 || e->offset >= run->stream_len)
                __builtin_trap();
        if (e->type != WATCH_ERROR && (e->status.code || e->status.reason || e->status.message))
                __builtin_trap();
        if (run->n >= MAX_EVENTS)
                return -E2BIG;
        char *obj = json_dumps(e->object, JSON_COMPACT | JSON_SORT_KEYS);
        char *d = NULL;
        if (!obj || asprintf(&d, "%d|%s|%d|%d|%s|%s|%s|%s", e->type,
                             e->resource_version ? e->resource_version : "-", e->status.code,
                             e->status.retry_after_sec, e->status.status ? e->status.status : "-",
                             e->status.reason ? e->status.reason : "-",
                             e->status.message ? e->status.message : "-", obj) < 0) {
                free(obj);
                run->oom = true;
                return -ENOMEM;
        }
        free(obj);
        run->type[run->n] = e->type;
        run->offset[run->n] = e->offset;
        run->dump[run->n++] = d;
        if (run->n == 1)
                check_translate(e->object);
        return 0;
}

static void run_clear(Run *run)
{
        for (size_t i = 0; i < run->n; i++)
                free(run->dump[i]);
        run->n = 0;
}

/* Feeds the stream cut at cuts[] (ascending); returns the result and the error text. */
static int run_stream(const char *s, size_t len, size_t max, const size_t *cuts, size_t n_cuts,
                      Run *run, char *detail, size_t detail_len)
{
        _cleanup_(watch_parser_freep) WatchParser *p = NULL;
        size_t at = 0;
        int r;

        *detail = 0;
        run->stream_len = len;
        r = watch_parser_new(&p, max);
        if (r < 0)
                return r;
        for (size_t i = 0; i <= n_cuts; i++) {
                size_t end = cuts && i < n_cuts ? cuts[i] : len;
                r = watch_parser_feed(p, s + at, end - at, on_event, run);
                if (watch_parser_pending(p) > max)
                        __builtin_trap();
                if (r < 0)
                        break;
                at = end;
        }
        if (r >= 0)
                r = watch_parser_finish(p);
        if (r == -EINVAL) {
                const WatchError *e = watch_parser_error(p);
                if (!e || e->offset > len || e->event != watch_parser_events(p) + 1)
                        __builtin_trap();
                snprintf(detail, detail_len, "%s", e->detail);
                /* spent: refuses input and calls nothing */
                size_t n = run->n;
                if (watch_parser_feed(p, "{}", 2, on_event, run) != -EINVAL || run->n != n ||
                    watch_parser_finish(p) != -EINVAL)
                        __builtin_trap();
        } else if (r != 0 && r != -ENOMEM && r != -E2BIG)
                __builtin_trap();
        return r;
}

static int cmp_size(const void *a, const void *b)
{
        size_t x = *(const size_t *)a, y = *(const size_t *)b;
        return x < y ? -1 : x > y;
}

typedef struct Items {
        json_t *a;
        bool oom;
} Items;

static int take_item(json_t *item, void *userdata)
{
        Items *it = userdata;
        if (!json_is_object(item))
                __builtin_trap();
        if (json_array_append(it->a, item) < 0) {
                it->oom = true;
                return -ENOMEM;
        }
        return 0;
}

/* watch_parse_list_each() against watch_parse_list() on the same body: what the tree
 * parser takes, the item parser takes too, with the same items and metadata; what it
 * refuses the item parser refuses too, but for nesting deeper than jansson's limit inside
 * the tree (an item is decoded two levels higher). A key given twice is refused only by
 * the item parser. */
static void check_each(const char *s, size_t len, int r_tree, const WatchList *tree)
{
        Items it = {.a = json_array()};
        WatchList l = {.remaining_items = -7};
        WatchError e = {0};
        int r;

        if (!it.a)
                return;
        r = watch_parse_list_each(s, len, take_item, &it, &l, &e);
        if (it.oom || r == -ENOMEM || r_tree == -ENOMEM) {
                if (r == 0)
                        watch_list_clear(&l);
                json_decref(it.a);
                return;
        }
        if (r != 0 && r != -EINVAL)
                __builtin_trap();
        if (r == -EINVAL && (!e.detail[0] || e.offset > len || l.remaining_items != -7))
                __builtin_trap();
        if (r_tree == 0 && r != 0 && !strstr(e.detail, "given twice"))
                __builtin_trap();
        if (r == 0 && r_tree != 0) {
                /* only depth: the tree parser nests the items two levels deeper */
                WatchError e2 = {0};
                WatchList l2 = {0};
                if (watch_parse_list(s, len, &l2, &e2) == 0 || !strstr(e2.detail, "depth"))
                        __builtin_trap();
        }
        if (r == 0 && r_tree == 0) {
                if (l.items || !json_equal(it.a, tree->items) ||
                    strcmp(l.resource_version, tree->resource_version) != 0 ||
                    !l.continue_token != !tree->continue_token ||
                    (l.continue_token && strcmp(l.continue_token, tree->continue_token) != 0) ||
                    l.remaining_items != tree->remaining_items)
                        __builtin_trap();
        }
        if (r == 0)
                watch_list_clear(&l);
        json_decref(it.a);
}

static void check_bodies(const char *s, size_t len)
{
        WatchList l = {0};
        WatchStatus st = {0};
        WatchError e = {0};
        int r;

        r = watch_parse_list(s, len, &l, &e);
        check_each(s, len, r, &l);
        if (r == 0) {
                if (!json_is_array(l.items) || !l.resource_version || !*l.resource_version ||
                    (l.continue_token && !*l.continue_token) || l.remaining_items < -1)
                        __builtin_trap();
                for (size_t i = 0; i < json_array_size(l.items) && i < 4; i++)
                        check_translate(json_array_get(l.items, i));
                watch_list_clear(&l);
        } else if (r != -EINVAL && r != -ENOMEM)
                __builtin_trap();
        else if (r == -EINVAL && (!e.detail[0] || e.offset > len))
                __builtin_trap();

        r = watch_parse_status(s, len, &st, &e);
        if (r == 0)
                watch_status_clear(&st);
        else if (r != -EINVAL && r != -ENOMEM)
                __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static Run whole, cut;
        char d1[WATCH_DETAIL_MAX], d2[WATCH_DETAIL_MAX];
        size_t cuts[7], n_cuts, max, len;
        const char *s;

        if (size < 1 || size > 65536)
                return 0;
        max = 64u << (data[0] & 7); /* 64 B - 8 KiB */
        n_cuts = (data[0] >> 4) & 7;
        if (size < 1 + 2 * n_cuts)
                return 0;
        s = (const char *)data + 1 + 2 * n_cuts;
        len = size - 1 - 2 * n_cuts;
        for (size_t i = 0; i < n_cuts; i++) {
                size_t v = (size_t)data[1 + 2 * i] << 8 | data[2 + 2 * i];
                cuts[i] = len ? v % (len + 1) : 0;
        }
        qsort(cuts, n_cuts, sizeof(cuts[0]), cmp_size);

        int r1 = run_stream(s, len, max, NULL, 0, &whole, d1, sizeof(d1));
        int r2 = run_stream(s, len, max, cuts, n_cuts, &cut, d2, sizeof(d2));
        if (!whole.oom && !cut.oom && r1 != -ENOMEM && r2 != -ENOMEM) {
                if (r1 != r2 || strcmp(d1, d2) != 0 || whole.n != cut.n)
                        __builtin_trap();
                for (size_t i = 0; i < whole.n; i++)
                        if (whole.type[i] != cut.type[i] || whole.offset[i] != cut.offset[i] ||
                            strcmp(whole.dump[i], cut.dump[i]) != 0)
                                __builtin_trap();
        }
        whole.oom = cut.oom = false;
        run_clear(&whole);
        run_clear(&cut);

        check_bodies(s, len);
        return 0;
}
