/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the watch-stream, list and Status parsers. The streams in
 * tests/data/watch/ are shaped as kube-apiserver 1.26 writes them (one compact event per
 * line, objects with managedFields, BOOKMARKs with only a resourceVersion, an ERROR 410).
 * Each stream is parsed whole once to get the reference events, whose objects are checked
 * against the stream's lines decoded one by one; then it is fed split at every byte
 * position, in 1-byte chunks and (a short one) split at every pair of positions, and must
 * give the same events every time.
 */
#include <inttypes.h>
#include <string.h>

#include "tap.h"
#include "util/fileio.h"
#include "watch.h"

static char data_dir[4200];

static char *read_data(const char *name, size_t *len)
{
        char path[4400];
        char *buf = NULL;
        size_t n = 0;

        snprintf(path, sizeof(path), "%s/%s", data_dir, name);
        if (read_full_file(path, &buf, &n) < 0) {
                printf("# cannot read %s\n", path);
                return NULL;
        }
        *len = n;
        return buf;
}

/* ---- recording events ---------------------------------------------------------------- */

typedef struct Rec {
        WatchEventType type;
        char *rv;
        uint64_t number, offset;
        json_t *object;
        int code, retry;
        char *reason, *message, *status;
} Rec;

typedef struct Recorder {
        Rec ev[64];
        size_t n;
        size_t fail_at; /* 1-based event number whose callback fails; 0 = never */
        int fail_with;
} Recorder;

static char *dup_or_null(const char *s)
{
        return s ? strdup(s) : NULL;
}

static int record(const WatchEvent *e, void *userdata)
{
        Recorder *r = userdata;

        if (r->fail_at && e->number == r->fail_at)
                return r->fail_with;
        if (r->n >= ELEMENTSOF(r->ev))
                return -E2BIG;
        r->ev[r->n++] = (Rec){
            .type = e->type,
            .rv = dup_or_null(e->resource_version),
            .number = e->number,
            .offset = e->offset,
            .object = json_incref(e->object),
            .code = e->status.code,
            .retry = e->status.retry_after_sec,
            .reason = dup_or_null(e->status.reason),
            .message = dup_or_null(e->status.message),
            .status = dup_or_null(e->status.status),
        };
        return 0;
}

static void recorder_clear(Recorder *r)
{
        for (size_t i = 0; i < r->n; i++) {
                free(r->ev[i].rv);
                free(r->ev[i].reason);
                free(r->ev[i].message);
                free(r->ev[i].status);
                json_decref(r->ev[i].object);
        }
        r->n = 0;
}

static bool str_eq(const char *a, const char *b)
{
        return a && b ? strcmp(a, b) == 0 : a == b;
}

/* Same events as the reference; prints the first difference. */
static bool same_events(const Recorder *got, const Recorder *want, const char *what)
{
        if (got->n != want->n) {
                printf("# %s: %zu events, want %zu\n", what, got->n, want->n);
                return false;
        }
        for (size_t i = 0; i < got->n; i++) {
                const Rec *g = &got->ev[i], *w = &want->ev[i];
                if (g->type != w->type || !str_eq(g->rv, w->rv) || g->number != w->number ||
                    g->offset != w->offset || !json_equal(g->object, w->object) ||
                    g->code != w->code || g->retry != w->retry || !str_eq(g->reason, w->reason) ||
                    !str_eq(g->message, w->message) || !str_eq(g->status, w->status)) {
                        printf("# %s: event %zu differs\n", what, i + 1);
                        return false;
                }
        }
        return true;
}

/* Feeds data in pieces cut at cuts[0..n_cuts) (ascending), then finishes. */
static int feed_cut(WatchParser *p, const char *data, size_t len, const size_t *cuts, size_t n_cuts,
                    Recorder *rec)
{
        size_t at = 0;
        int r;

        for (size_t i = 0; i <= n_cuts; i++) {
                size_t end = cuts && i < n_cuts ? cuts[i] : len;
                r = watch_parser_feed(p, data + at, end - at, record, rec);
                if (r < 0)
                        return r;
                at = end;
        }
        return watch_parser_finish(p);
}

static int feed_all(const char *data, size_t len, size_t max, Recorder *rec, WatchParser **keep)
{
        _cleanup_(watch_parser_freep) WatchParser *p = NULL;
        int r = watch_parser_new(&p, max);
        if (r < 0)
                return r;
        r = feed_cut(p, data, len, NULL, 0, rec);
        if (keep)
                *keep = TAKE_PTR(p);
        return r;
}

/* ---- real streams ---------------------------------------------------------------------- */

/* The reference events must match the lines of the file, decoded one at a time. */
static void check_against_lines(const char *name, const char *data, size_t len, const Recorder *ref)
{
        size_t line = 0, start = 0;
        bool good = true;

        for (size_t i = 0; i < len && good; i++) {
                if (data[i] != '\n')
                        continue;
                json_error_t e;
                json_t *j = json_loadb(data + start, i - start, 0, &e);
                good = j && line < ref->n && ref->ev[line].offset == start &&
                       ref->ev[line].number == line + 1 &&
                       json_equal(json_object_get(j, "object"), ref->ev[line].object) &&
                       str_eq(json_string_value(json_object_get(j, "type")),
                              watch_event_type_to_string(ref->ev[line].type));
                if (!good)
                        printf("# %s: line %zu does not match event %zu\n", name, line + 1,
                               line + 1);
                json_decref(j);
                line++;
                start = i + 1;
        }
        ok(good && line == ref->n, "%s: %zu events, each its line's object, type and offset", name,
           line);
}

static void check_splits(const char *name, const char *data, size_t len, const Recorder *ref)
{
        size_t bad = 0, first_bad = SIZE_MAX;

        for (size_t k = 0; k <= len; k++) {
                _cleanup_(watch_parser_freep) WatchParser *p = NULL;
                Recorder rec = {0};
                if (watch_parser_new(&p, 0) < 0 || feed_cut(p, data, len, &k, 1, &rec) != 0 ||
                    !same_events(&rec, ref, name)) {
                        bad++;
                        first_bad = MIN(first_bad, k);
                }
                recorder_clear(&rec);
        }
        if (!ok(bad == 0, "%s: split at each of its %zu positions, same events", name, len + 1))
                printf("#   %zu splits wrong, first at %zu\n", bad, first_bad);

        /* 1-byte chunks; the parser never holds more than the current event */
        _cleanup_(watch_parser_freep) WatchParser *p = NULL;
        Recorder rec = {0};
        size_t held_max = 0;
        int r = watch_parser_new(&p, 0);
        for (size_t i = 0; r >= 0 && i < len; i++) {
                r = watch_parser_feed(p, data + i, 1, record, &rec);
                held_max = MAX(held_max, watch_parser_pending(p));
        }
        if (r >= 0)
                r = watch_parser_finish(p);
        ok(r == 0 && same_events(&rec, ref, name), "%s: in 1-byte chunks, same events", name);
        ok(held_max < len && watch_parser_pending(p) == 0 && watch_parser_events(p) == ref->n,
           "%s: held at most %zu bytes, nothing at the end", name, held_max);
        recorder_clear(&rec);
}

static void test_services_stream(void)
{
        size_t len = 0;
        _cleanup_free_ char *data = read_data("services.watch", &len);
        Recorder ref = {0};

        is_int(feed_all(data, len, 0, &ref, NULL), 0, "services.watch parses");
        check_against_lines("services.watch", data, len, &ref);
        if (ref.n != 6) {
                ok(false, "services.watch: want 6 events, got %zu", ref.n);
                recorder_clear(&ref);
                return;
        }
        static const WatchEventType types[] = {WATCH_ADDED,    WATCH_MODIFIED, WATCH_ADDED,
                                               WATCH_BOOKMARK, WATCH_DELETED,  WATCH_ERROR};
        static const char *const rvs[] = {"81234", "81240", "81250", "81260", "81262", NULL};
        bool good = true;
        for (size_t i = 0; i < 6; i++)
                good = good && ref.ev[i].type == types[i] && str_eq(ref.ev[i].rv, rvs[i]);
        ok(good, "types and resourceVersions in order");
        is_str(json_string_value(
                   json_object_get(json_object_get(ref.ev[0].object, "metadata"), "name")),
               "web", "first object is demo/web");
        ok(json_object_get(json_object_get(ref.ev[3].object, "metadata"), "name") == NULL,
           "the BOOKMARK carries no name, only its resourceVersion");
        const Rec *e = &ref.ev[5];
        is_int(e->code, 410, "ERROR: code 410");
        is_str(e->reason, "Expired", "ERROR: reason");
        is_str(e->message, "too old resource version: 1 (5)", "ERROR: message");
        is_str(e->status, "Failure", "ERROR: status");
        ok(ref.ev[0].code == 0 && !ref.ev[0].reason, "no status for an ADDED event");

        check_splits("services.watch", data, len, &ref);
        recorder_clear(&ref);
}

static void test_endpointslices_stream(void)
{
        size_t len = 0;
        _cleanup_free_ char *data = read_data("endpointslices.watch", &len);
        Recorder ref = {0};

        is_int(feed_all(data, len, 0, &ref, NULL), 0, "endpointslices.watch parses");
        check_against_lines("endpointslices.watch", data, len, &ref);
        ok(ref.n == 3 && ref.ev[0].type == WATCH_ADDED && ref.ev[1].type == WATCH_MODIFIED &&
               ref.ev[2].type == WATCH_BOOKMARK && str_eq(ref.ev[2].rv, "81300"),
           "ADDED, MODIFIED, BOOKMARK 81300");
        ok(ref.n == 3 && json_array_size(json_object_get(ref.ev[0].object, "endpoints")) == 3 &&
               json_is_null(json_object_get(ref.ev[2].object, "endpoints")),
           "3 endpoints, then a bookmark with \"endpoints\": null");
        check_splits("endpointslices.watch", data, len, &ref);
        recorder_clear(&ref);
}

/* A short stream cut at every pair of positions (three pieces, empty ones included). */
static void test_pair_splits(void)
{
        static const char s[] =
            "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Service\",\"apiVersion\":\"v1\","
            "\"metadata\":{\"resourceVersion\":\"12\",\"creationTimestamp\":null},\"spec\":{},"
            "\"status\":{\"loadBalancer\":{}}}}\n"
            "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
            "\"metadata\":"
            "{},\"status\":\"Failure\",\"message\":\"too old resource version: 1 (5)\",\"reason\":"
            "\"Expired\",\"code\":410}}\n";
        size_t len = sizeof(s) - 1, bad = 0;
        Recorder ref = {0};

        is_int(feed_all(s, len, 0, &ref, NULL), 0, "bookmark + error parses");
        ok(ref.n == 2 && str_eq(ref.ev[0].rv, "12") && ref.ev[1].code == 410 &&
               ref.ev[1].offset == (uint64_t)(strchr(s, '\n') - s + 1),
           "bookmark rv 12, then 410 at the second line's offset");
        for (size_t a = 0; a <= len; a++)
                for (size_t b = a; b <= len; b++) {
                        _cleanup_(watch_parser_freep) WatchParser *p = NULL;
                        Recorder rec = {0};
                        size_t cuts[2] = {a, b};
                        if (watch_parser_new(&p, 0) < 0 ||
                            feed_cut(p, s, len, cuts, 2, &rec) != 0 ||
                            !same_events(&rec, &ref, "pairs"))
                                bad++;
                        recorder_clear(&rec);
                }
        is_int(bad, 0, "split at all %zu pairs of positions, same events",
               (len + 1) * (len + 2) / 2);
        recorder_clear(&ref);
}

/* ---- whitespace and tricky text ------------------------------------------------------- */

static int parse_text(const char *s, size_t max, Recorder *rec, WatchParser **keep)
{
        return feed_all(s, strlen(s), max, rec, keep);
}

static void test_whitespace(void)
{
        Recorder rec = {0};
        const char *s =
            "\r\n  \t{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":"
            "\"1\"}}}\r\n\n\n"
            "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"resourceVersion\":\"2\"}}}"
            "{\"type\" : \"MODIFIED\" ,\n \"object\" : {\"metadata\":{}}}  \t ";

        is_int(parse_text(s, 0, &rec, NULL), 0, "whitespace around and between events, none too");
        ok(rec.n == 3 && rec.ev[0].offset == 5 && str_eq(rec.ev[0].rv, "1") &&
               rec.ev[1].type == WATCH_DELETED && rec.ev[2].type == WATCH_MODIFIED &&
               rec.ev[2].rv == NULL,
           "three events, offsets from the '{', metadata without resourceVersion gives NULL");
        recorder_clear(&rec);

        is_int(parse_text("", 0, &rec, NULL), 0, "an empty stream is a clean end");
        is_int(parse_text(" \n\r\n\t", 0, &rec, NULL), 0, "whitespace only is a clean end");
        is_int(rec.n, 0, "and no event");

        /* braces, brackets and quotes inside strings, escapes right before a quote */
        s = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\\\\\",\"resourceVersion\":"
            "\"3\"},\"x\":\"}{][\\\"\\\\\",\"y\":[[{\"z\":\"\\u007d\"}],[]]}}\n";
        is_int(parse_text(s, 0, &rec, NULL), 0, "structure characters in strings are text");
        ok(rec.n == 1 && str_eq(rec.ev[0].rv, "3") &&
               str_eq(json_string_value(json_object_get(rec.ev[0].object, "x")), "}{][\"\\"),
           "one event with the string intact");
        recorder_clear(&rec);

        /* the same, byte by byte */
        _cleanup_(watch_parser_freep) WatchParser *p = NULL;
        int r = watch_parser_new(&p, 0);
        for (size_t i = 0; r >= 0 && s[i]; i++)
                r = watch_parser_feed(p, s + i, 1, record, &rec);
        ok(r == 0 && rec.n == 1 && watch_parser_finish(p) == 0, "and byte by byte");
        recorder_clear(&rec);
}

/* ---- errors --------------------------------------------------------------------------- */

#define GOOD "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"1\"}}}\n"

/* Parses s[0..n) (after one good event), expects -EINVAL at event 2 with this detail. */
static void bad_n(const char *what, const char *s, size_t n, const char *detail)
{
        _cleanup_free_ char *text = malloc(strlen(GOOD) + n);
        _cleanup_(watch_parser_freep) WatchParser *p = NULL;
        Recorder rec = {0};
        const WatchError *e;

        if (!text)
                return;
        memcpy(text, GOOD, strlen(GOOD));
        memcpy(text + strlen(GOOD), s, n);
        int r = feed_all(text, strlen(GOOD) + n, 0, &rec, &p);
        e = p ? watch_parser_error(p) : NULL;
        if (!ok(r == -EINVAL && e && rec.n == 1 && e->event == 2 && strcmp(e->detail, detail) == 0,
                "%s", what))
                printf("#   r=%d events=%zu detail \"%s\"\n#   want \"%s\"\n", r, rec.n,
                       e ? e->detail : "(none)", detail);
        recorder_clear(&rec);
}

static void bad(const char *what, const char *s, const char *detail)
{
        bad_n(what, s, strlen(s), detail);
}

static void test_errors(void)
{
        const size_t g = strlen(GOOD);
        char want[256];

        snprintf(want, sizeof(want), "event 2 at byte %zu: bad JSON: invalid token near 'tru'",
                 g + 33);
        bad("bad JSON names the byte", "{\"type\":\"ADDED\",\"object\":{\"a\":tru}}\n", want);
        snprintf(want, sizeof(want),
                 "event 2 at byte %zu: expected '{' to start an event, got 0x78", g + 1);
        bad("stray text between events", " x{}", want);
        snprintf(want, sizeof(want),
                 "event 2 at byte %zu: expected '{' to start an event, got 0x5b", g);
        bad("an array is not an event", "[]", want);
        snprintf(want, sizeof(want),
                 "event 2 at byte %zu: expected '{' to start an event, got byte 0x00", g);
        bad_n("a NUL byte between events", "\0", 1, want);
        snprintf(want, sizeof(want), "event 2 at byte %zu: no \"type\"", g);
        bad("missing type", "{\"object\":{}}", want);
        snprintf(want, sizeof(want), "event 2 at byte %zu: type: expected a string, got an integer",
                 g);
        bad("type not a string", "{\"type\":1,\"object\":{}}", want);
        snprintf(want, sizeof(want),
                 "event 2 at byte %zu: unknown type \"DELETE\" (expected ADDED, MODIFIED, DELETED, "
                 "BOOKMARK or ERROR)",
                 g);
        bad("unknown type", "{\"type\":\"DELETE\",\"object\":{}}", want);
        snprintf(want, sizeof(want),
                 "event 2 at byte %zu: unknown type \"added\" (expected ADDED, "
                 "MODIFIED, DELETED, BOOKMARK or ERROR)",
                 g);
        bad("types are case-sensitive", "{\"type\":\"added\",\"object\":{}}", want);
        snprintf(want, sizeof(want), "event 2 at byte %zu: MODIFIED event without \"object\"", g);
        bad("missing object", "{\"type\":\"MODIFIED\"}", want);
        bad("null object", "{\"type\":\"MODIFIED\",\"object\":null}", want);
        snprintf(want, sizeof(want),
                 "event 2 at byte %zu: object: expected an object, got an array", g);
        bad("object not an object", "{\"type\":\"ADDED\",\"object\":[]}", want);
        snprintf(want, sizeof(want),
                 "event 2 at byte %zu: object.metadata.resourceVersion: expected a string, got an "
                 "integer",
                 g);
        bad("resourceVersion not a string",
            "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":5}}}", want);
        snprintf(want, sizeof(want),
                 "event 2 at byte %zu: object.code: expected a 32-bit integer, got a string", g);
        bad("ERROR with a string code", "{\"type\":\"ERROR\",\"object\":{\"code\":\"410\"}}", want);
        snprintf(want, sizeof(want),
                 "event 2 at byte %zu: bad JSON: \\u0000 is not allowed without "
                 "JSON_ALLOW_NUL near '\"a\\u0000\"'",
                 g + 54);
        bad("\\u0000 in a string",
            "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\\u0000\"}}}", want);
        snprintf(want, sizeof(want),
                 "event 2 at byte %zu: bad JSON: unable to decode byte 0xff near '\"'", g + 9);
        bad("invalid UTF-8", "{\"type\":\"\xff\"}", want);
        snprintf(want, sizeof(want), "event 2 at byte %zu: bad JSON: '}' expected near ']'",
                 g + 12);
        bad("mismatched brackets", "{\"type\":[1]]", want);

        /* after an error: nothing more is read, the same error comes back */
        _cleanup_(watch_parser_freep) WatchParser *p = NULL;
        Recorder rec = {0};
        is_int(parse_text(GOOD "x" GOOD, 0, &rec, &p), -EINVAL, "error in the middle of a chunk");
        is_int(rec.n, 1, "the event before it was delivered, none after");
        is_int(watch_parser_feed(p, GOOD, strlen(GOOD), record, &rec), -EINVAL,
               "a spent parser refuses input");
        is_int(rec.n, 1, "and calls nothing");
        is_int(watch_parser_finish(p), -EINVAL, "finish says so too");
        ok(watch_parser_error(p) && watch_parser_error(p)->offset == g, "error offset %zu", g);

        /* reset starts a new stream */
        watch_parser_reset(p);
        recorder_clear(&rec);
        ok(watch_parser_error(p) == NULL, "reset clears the error");
        is_int(feed_cut(p, GOOD GOOD, 2 * g, NULL, 0, &rec), 0, "reset parser reads again");
        ok(rec.n == 2 && rec.ev[0].number == 1 && rec.ev[1].offset == g,
           "numbers and offsets start over");
        recorder_clear(&rec);
}

static void test_truncated(void)
{
        _cleanup_(watch_parser_freep) WatchParser *p = NULL;
        Recorder rec = {0};
        const size_t g = strlen(GOOD);

        is_int(watch_parser_new(&p, 0), 0, "new");
        is_int(watch_parser_feed(p, GOOD GOOD, g + 10, record, &rec), 0, "an event and a part");
        is_int(watch_parser_pending(p), 10, "10 bytes held");
        is_int(watch_parser_finish(p), -EINVAL, "ending there is an error");
        char want[128];
        snprintf(want, sizeof(want),
                 "event 2 at byte %zu: the stream ended inside the event (10 bytes of it received)",
                 g);
        is_str(watch_parser_error(p) ? watch_parser_error(p)->detail : NULL, want, "names it");
        is_int(rec.n, 1, "the complete event was delivered");
        recorder_clear(&rec);

        watch_parser_reset(p);
        is_int(watch_parser_feed(p, GOOD "\n  ", g + 3, record, &rec), 0, "an event and spaces");
        is_int(watch_parser_finish(p), 0, "ending between events is clean");
        recorder_clear(&rec);
}

static void test_cap(void)
{
        /* exactly 64 bytes */
        const char *ev64 =
            "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"abcdefghijklmn\"}}}";
        Recorder rec = {0};
        _cleanup_(watch_parser_freep) WatchParser *p = NULL;

        is_int(strlen(ev64), 64, "test event is 64 bytes");
        is_int(parse_text(ev64, 64, &rec, NULL), 0, "an event of exactly the cap passes");
        recorder_clear(&rec);

        char big[80];
        snprintf(big, sizeof(big), "\n\n%.*s\"x\":1,%s", 26, ev64, ev64 + 26);
        is_int(strlen(big), 72, "a 70-byte event after 2 newlines");
        is_int(parse_text(big, 64, &rec, &p), -EINVAL, "an event over the cap is an error");
        is_str(p && watch_parser_error(p) ? watch_parser_error(p)->detail : NULL,
               "event 1 at byte 66: event larger than the limit of 64 bytes",
               "names the byte that passed the cap");
        p = watch_parser_free(p);

        /* byte by byte: never more than the cap held */
        size_t held = 0;
        int r = watch_parser_new(&p, 64);
        for (size_t i = 0; r >= 0 && big[i]; i++) {
                r = watch_parser_feed(p, big + i, 1, record, &rec);
                held = MAX(held, watch_parser_pending(p));
        }
        ok(r == -EINVAL && held <= 64, "in 1-byte chunks: error, at most %zu bytes held", held);
        p = watch_parser_free(p);

        /* a large unfinished event in one chunk is refused before its end */
        size_t n = 1u << 20;
        _cleanup_free_ char *huge = malloc(n);
        if (huge) {
                memset(huge, ' ', n);
                memcpy(huge, "{\"type\":\"", 9);
                r = watch_parser_new(&p, 1000);
                if (r >= 0)
                        r = watch_parser_feed(p, huge, n, record, &rec);
                ok(r == -EINVAL && watch_parser_pending(p) == 0 &&
                       watch_parser_error(p)->offset == 1000,
                   "1 MiB chunk with cap 1000: refused at byte 1000, nothing held");
                p = watch_parser_free(p);
        }

        /* the default cap */
        is_int(watch_parser_new(&p, 0), 0, "default cap");
        huge = mfree(huge);
        n = WATCH_EVENT_MAX_DEFAULT + 1;
        huge = malloc(n);
        if (huge) {
                memset(huge, '1', n);
                memcpy(huge, "{\"type\":\"ADDED\",\"object\":{},\"x\":[", 33);
                size_t half = n / 2;
                r = watch_parser_feed(p, huge, half, record, &rec);
                ok(r == 0 && watch_parser_pending(p) == half, "8 MiB of an event held");
                r = watch_parser_feed(p, huge + half, n - half, record, &rec);
                ok(r == -EINVAL && watch_parser_error(p)->offset == WATCH_EVENT_MAX_DEFAULT,
                   "refused at byte 16 MiB");
        }
        recorder_clear(&rec);
}

static void test_callback_error(void)
{
        _cleanup_(watch_parser_freep) WatchParser *p = NULL;
        Recorder rec = {.fail_at = 2, .fail_with = -ECANCELED};

        is_int(parse_text(GOOD GOOD GOOD, 0, &rec, &p), -ECANCELED,
               "a callback's error is passed up");
        is_int(rec.n, 1, "one event before it");
        ok(p && watch_parser_error(p) == NULL, "the parser does not describe it");
        is_int(watch_parser_feed(p, GOOD, strlen(GOOD), record, &rec), -ECANCELED, "and is spent");
        is_int(rec.n, 1, "nothing more delivered");
        recorder_clear(&rec);
}

static void test_type_table(void)
{
        bool good = true;
        for (int t = 0; t < _WATCH_EVENT_TYPE_MAX; t++)
                good = good && watch_event_type_from_string(watch_event_type_to_string(t)) == t;
        ok(good, "every event type round-trips through its name");
        is_str(watch_event_type_to_string(WATCH_BOOKMARK), "BOOKMARK", "BOOKMARK");
        is_int(watch_event_type_from_string("Added"), _WATCH_EVENT_TYPE_INVALID, "Added: invalid");
        is_int(watch_event_type_from_string(NULL), _WATCH_EVENT_TYPE_INVALID, "NULL: invalid");
        ok(watch_event_type_to_string(_WATCH_EVENT_TYPE_MAX) == NULL &&
               watch_event_type_to_string(_WATCH_EVENT_TYPE_INVALID) == NULL,
           "no name out of range");
}

/* ---- list and Status bodies ---------------------------------------------------------- */

static int count_item(json_t *item, void *userdata)
{
        (*(size_t *)userdata)++;
        return 0;
}

static int collect_item(json_t *item, void *userdata)
{
        return json_array_append(userdata, item);
}

static int stop_item(json_t *item, void *userdata)
{
        return -ECANCELED;
}

/* watch_parse_list_each() gives what watch_parse_list() gives, item by item. */
static void same_list(const char *what, const char *body, size_t len)
{
        WatchList a = {0}, b = {0};
        _cleanup_(json_decrefp) json_t *items = json_array();
        int ra = watch_parse_list(body, len, &a, NULL);
        int rb = watch_parse_list_each(body, len, collect_item, items, &b, NULL);

        ok(ra == 0 && rb == 0 && b.items == NULL && json_equal(a.items, items) &&
               str_eq(a.resource_version, b.resource_version) &&
               (a.continue_token ? str_eq(a.continue_token, b.continue_token)
                                 : !b.continue_token) &&
               a.remaining_items == b.remaining_items,
           "item by item: %s as a whole", what);
        watch_list_clear(&a);
        watch_list_clear(&b);
}

static void bad_list(const char *what, const char *body, const char *detail)
{
        WatchList l = {.remaining_items = -7};
        WatchError e = {0};
        int r = watch_parse_list(body, strlen(body), &l, &e);
        if (!ok(r == -EINVAL && strcmp(e.detail, detail) == 0 && l.items == NULL &&
                    l.remaining_items == -7,
                "list: %s", what))
                printf("#   r=%d detail \"%s\"\n#   want \"%s\"\n", r, e.detail, detail);
        size_t n = 0;
        e = (WatchError){0};
        r = watch_parse_list_each(body, strlen(body), count_item, &n, &l, &e);
        if (!ok(r == -EINVAL && e.detail[0] && l.items == NULL && l.remaining_items == -7,
                "list item by item: %s", what))
                printf("#   r=%d detail \"%s\"\n", r, e.detail);
}

static void test_list(void)
{
        WatchList l = {0};
        WatchError e = {0};
        size_t len = 0;
        _cleanup_free_ char *svc = read_data("services.list", &len);

        is_int(watch_parse_list(svc, len, &l, &e), 0, "ServiceList parses");
        is_int(json_array_size(l.items), 2, "2 items");
        is_str(l.resource_version, "81255", "resourceVersion");
        is_str(l.continue_token,
               "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6ODEyNTUsInN0YXJ0IjoiZGVtby93ZWJcdTAwMDAifQ",
               "continue token");
        is_int(l.remaining_items, 1, "remainingItemCount");
        json_t *first = json_array_get(l.items, 0);
        ok(!json_object_get(first, "kind") && !json_object_get(first, "apiVersion") &&
               str_eq(
                   json_string_value(json_object_get(json_object_get(first, "metadata"), "name")),
                   "web"),
           "items have no kind/apiVersion; the first is web");
        watch_list_clear(&l);
        ok(l.items == NULL && l.remaining_items == -1, "clear empties it");
        same_list("ServiceList", svc, len);
        {
                size_t n = 0;
                is_int(watch_parse_list_each(svc, len, stop_item, &n, &l, NULL), -ECANCELED,
                       "item by item: the callback's error stops it");
                const char *sp = " {\"kind\" : \"X\" , \"items\" : [ {\"a\":\"]}\\\"\"} , { } ] ,"
                                 "\"metadata\":{\"resourceVersion\":\"5\"}} \n";
                is_int(watch_parse_list_each(sp, strlen(sp), count_item, &n, &l, NULL), 0,
                       "item by item: spaces, brackets and escapes inside strings");
                ok(n == 2 && str_eq(l.resource_version, "5"), "2 items, rv 5");
                watch_list_clear(&l);
                same_list("spaces and escapes", sp, strlen(sp));
                const char *twice = "{\"items\":[],\"items\":[{}],\"metadata\":"
                                    "{\"resourceVersion\":\"5\"}}";
                is_int(watch_parse_list_each(twice, strlen(twice), count_item, &n, &l, NULL),
                       -EINVAL, "item by item: items given twice is an error");
        }

        _cleanup_free_ char *nodes = read_data("nodes.list", &len);
        is_int(watch_parse_list(nodes, len, &l, NULL), 0, "NodeList parses");
        same_list("NodeList", nodes, len);
        ok(json_array_size(l.items) == 1 && l.continue_token == NULL && l.remaining_items == -1 &&
               str_eq(l.resource_version, "81300"),
           "1 item, last page, rv 81300");
        watch_list_clear(&l);

        _cleanup_free_ char *empty = read_data("namespaces-empty.list", &len);
        is_int(watch_parse_list(empty, len, &l, NULL), 0, "empty NamespaceList parses");
        same_list("empty NamespaceList", empty, len);
        ok(json_is_array(l.items) && json_array_size(l.items) == 0 &&
               str_eq(l.resource_version, "81301"),
           "no items, rv 81301");
        watch_list_clear(&l);

        const char *s =
            "{\"metadata\":{\"resourceVersion\":\"9\",\"continue\":\"\"},\"items\":null}";
        is_int(watch_parse_list(s, strlen(s), &l, NULL), 0, "null items, empty continue");
        same_list("null items", s, strlen(s));
        ok(json_is_array(l.items) && json_array_size(l.items) == 0 && l.continue_token == NULL,
           "an empty array and no continue token");
        watch_list_clear(&l);

        bad_list("bad JSON", "{\"items\":[}", "byte 11: bad JSON: unexpected token near '}'");
        bad_list("not an object", "[]", "expected an object, got an array");
        bad_list("items not an array", "{\"items\":{},\"metadata\":{\"resourceVersion\":\"1\"}}",
                 "items: expected an array, got an object");
        bad_list("an item not an object",
                 "{\"items\":[{},3],\"metadata\":{\"resourceVersion\":\"1\"}}",
                 "items[1]: expected an object, got an integer");
        bad_list("no metadata", "{\"items\":[]}", "metadata: expected an object, got nothing");
        bad_list("no resourceVersion", "{\"items\":[],\"metadata\":{}}",
                 "metadata.resourceVersion: missing");
        bad_list("resourceVersion not a string",
                 "{\"items\":[],\"metadata\":{\"resourceVersion\":1}}",
                 "metadata.resourceVersion: expected a string, got an integer");
        bad_list("continue not a string",
                 "{\"items\":[],\"metadata\":{\"resourceVersion\":\"1\",\"continue\":true}}",
                 "metadata.continue: expected a string, got a boolean");
        bad_list(
            "negative remainingItemCount",
            "{\"items\":[],\"metadata\":{\"resourceVersion\":\"1\",\"remainingItemCount\":-1}}",
            "metadata.remainingItemCount: expected a count, got an integer");
        bad_list("trailing text", "{\"items\":[],\"metadata\":{\"resourceVersion\":\"1\"}} x",
                 "byte 49: bad JSON: end of file expected near 'x'");
}

static void test_status(void)
{
        WatchStatus s = {0};
        WatchError e = {0};
        size_t len = 0;

        _cleanup_free_ char *b410 = read_data("status-410.json", &len);
        is_int(watch_parse_status(b410, len, &s, &e), 0, "410 Status parses");
        ok(s.code == 410 && str_eq(s.reason, "Expired") && str_eq(s.status, "Failure") &&
               str_eq(s.message, "The resourceVersion for the provided list is too old.") &&
               s.retry_after_sec == 0,
           "410 Expired, its message, no retry");
        watch_status_clear(&s);

        _cleanup_free_ char *b429 = read_data("status-429.json", &len);
        is_int(watch_parse_status(b429, len, &s, &e), 0, "429 Status parses");
        ok(s.code == 429 && str_eq(s.reason, "TooManyRequests") && s.retry_after_sec == 1,
           "429 TooManyRequests, retry after 1 s");
        watch_status_clear(&s);

        _cleanup_free_ char *b403 = read_data("status-403.json", &len);
        is_int(watch_parse_status(b403, len, &s, &e), 0, "403 Status parses");
        ok(s.code == 403 && str_eq(s.reason, "Forbidden") && s.message &&
               strstr(s.message, "cannot watch resource \"endpointslices\""),
           "403 Forbidden with its message");
        watch_status_clear(&s);

        const char *g = "{\"kind\":\"Status\",\"code\":410,\"reason\":\"Gone\",\"message\":null}";
        is_int(watch_parse_status(g, strlen(g), &s, NULL), 0, "410 Gone, null message");
        ok(s.code == 410 && str_eq(s.reason, "Gone") && !s.message && !s.status, "fields");
        watch_status_clear(&s);

        static const struct {
                const char *what, *body, *detail;
        } bads[] = {
            {"not a Status", "{\"kind\":\"ServiceList\",\"items\":[]}",
             "kind: expected \"Status\", got \"ServiceList\""},
            {"no kind", "{\"code\":500}", "kind: expected \"Status\", got nothing"},
            {"HTML from a proxy", "<html>502 Bad Gateway</html>",
             "byte 1: bad JSON: '[' or '{' expected near '<'"},
            {"code as text", "{\"kind\":\"Status\",\"code\":\"410\"}",
             "code: expected a 32-bit integer, got a string"},
            {"code out of range", "{\"kind\":\"Status\",\"code\":4294967296}",
             "code: expected a 32-bit integer, got an integer"},
            {"details not an object", "{\"kind\":\"Status\",\"details\":[]}",
             "details: expected an object, got an array"},
            {"retryAfterSeconds as text",
             "{\"kind\":\"Status\",\"details\":{\"retryAfterSeconds\":\"1\"}}",
             "details.retryAfterSeconds: expected a 32-bit integer, got a string"},
        };
        for (size_t i = 0; i < ELEMENTSOF(bads); i++) {
                s = (WatchStatus){.code = -7};
                int r = watch_parse_status(bads[i].body, strlen(bads[i].body), &s, &e);
                if (!ok(r == -EINVAL && strcmp(e.detail, bads[i].detail) == 0 && s.code == -7,
                        "status: %s", bads[i].what))
                        printf("#   r=%d detail \"%s\"\n", r, e.detail);
        }
}

int main(void)
{
        const char *top = getenv("top_srcdir");
        snprintf(data_dir, sizeof(data_dir), "%s/tests/data/watch", top ? top : "..");

        test_services_stream();
        test_endpointslices_stream();
        test_pair_splits();
        test_whitespace();
        test_errors();
        test_truncated();
        test_cap();
        test_callback_error();
        test_type_table();
        test_list();
        test_status();
        return tap_done();
}
