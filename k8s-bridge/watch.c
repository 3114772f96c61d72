/* SPDX-License-Identifier: MIT */
/*
 * Kubernetes watch streams, list bodies and Status bodies; see watch.h.
 *
 * The stream is cut into events by a small scanner that follows only what decides where
 * a JSON object ends: nesting depth and whether it is inside a string (and after a
 * backslash there). jansson then decodes each complete object on its own, so a syntax
 * error is reported once, at its own offset. An event that arrives whole inside one chunk
 * is decoded straight from the caller's buffer; only the part of an event that a chunk
 * boundary cuts is copied, and never more than the cap.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "watch.h"

#define BUF_SHRINK_ABOVE (1024u * 1024) /* keep at most this much memory between events */

static const char *const event_type_names[_WATCH_EVENT_TYPE_MAX] = {
    [WATCH_ADDED] = "ADDED",       [WATCH_MODIFIED] = "MODIFIED", [WATCH_DELETED] = "DELETED",
    [WATCH_BOOKMARK] = "BOOKMARK", [WATCH_ERROR] = "ERROR",
};

const char *watch_event_type_to_string(WatchEventType t)
{
        return t >= 0 && t < _WATCH_EVENT_TYPE_MAX ? event_type_names[t] : NULL;
}

WatchEventType watch_event_type_from_string(const char *s)
{
        for (size_t i = 0; s && i < _WATCH_EVENT_TYPE_MAX; i++)
                if (strcmp(event_type_names[i], s) == 0)
                        return (WatchEventType)i;
        return _WATCH_EVENT_TYPE_INVALID;
}

struct WatchParser {
        size_t max;
        char *buf; /* the start of an event cut by a chunk boundary */
        size_t len, cap;
        uint64_t offset;      /* stream bytes consumed before the current chunk */
        uint64_t event_start; /* stream offset of the current event's '{' */
        uint64_t n_events;    /* events delivered */
        size_t depth;         /* open objects and arrays; 0 = between events */
        bool in_string, escape;
        int failed; /* 0, or the error every later feed returns */
        bool described;
        WatchError error;
};

_printf_(4, 5) static int fail(WatchParser *p, uint64_t event, uint64_t offset, const char *fmt,
                               ...)
{
        va_list ap;
        int n;

        p->failed = -EINVAL;
        p->described = true;
        p->error.event = event;
        p->error.offset = offset;
        n = snprintf(p->error.detail, sizeof(p->error.detail),
                     "event %" PRIu64 " at byte %" PRIu64 ": ", event, offset);
        if (n < 0 || (size_t)n >= sizeof(p->error.detail))
                return -EINVAL;
        va_start(ap, fmt);
        vsnprintf(p->error.detail + n, sizeof(p->error.detail) - (size_t)n, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

_printf_(3, 4) static int body_fail(WatchError *e, uint64_t offset, const char *fmt, ...)
{
        va_list ap;

        if (!e)
                return -EINVAL;
        e->event = 0;
        e->offset = offset;
        va_start(ap, fmt);
        vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static const char *json_type_name(const json_t *j)
{
        switch (json_typeof(j)) {
        case JSON_OBJECT:
                return "an object";
        case JSON_ARRAY:
                return "an array";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
                return "an integer";
        case JSON_REAL:
                return "a number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "a boolean";
        case JSON_NULL:
        default:
                return "null";
        }
}

void watch_status_clear(WatchStatus *s)
{
        free(s->status);
        free(s->reason);
        free(s->message);
        *s = (WatchStatus){0};
}

/* Reads an optional string member; null counts as absent. why names the problem. */
static int get_string(const json_t *o, const char *key, const char *path, const char **ret,
                      char *why, size_t why_len)
{
        const json_t *v = json_object_get(o, key);

        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v)) {
                snprintf(why, why_len, "%s%s: expected a string, got %s", path, key,
                         json_type_name(v));
                return -EINVAL;
        }
        *ret = json_string_value(v);
        return 0;
}

static int get_int(const json_t *o, const char *key, const char *path, int *ret, char *why,
                   size_t why_len)
{
        const json_t *v = json_object_get(o, key);

        *ret = 0;
        if (!v || json_is_null(v))
                return 0;
        /* metav1.Status uses int32 for both code and retryAfterSeconds */
        if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
            json_integer_value(v) > INT32_MAX) {
                snprintf(why, why_len, "%s%s: expected a 32-bit integer, got %s", path, key,
                         json_type_name(v));
                return -EINVAL;
        }
        *ret = (int)json_integer_value(v);
        return 0;
}

static int strdup_opt(const char *s, char **ret)
{
        *ret = NULL;
        if (s && !(*ret = strdup(s)))
                return -ENOMEM;
        return 0;
}

/* Fills ret from a Status object; path prefixes field names in messages ("object."). */
static int status_from_json(const json_t *o, const char *path, WatchStatus *ret, char *why,
                            size_t why_len)
{
        _cleanup_(watch_status_clear) WatchStatus s = {0};
        const char *status, *reason, *message;
        const json_t *details;
        char dpath[64];
        int r;

        r = get_int(o, "code", path, &s.code, why, why_len);
        if (r >= 0)
                r = get_string(o, "status", path, &status, why, why_len);
        if (r >= 0)
                r = get_string(o, "reason", path, &reason, why, why_len);
        if (r >= 0)
                r = get_string(o, "message", path, &message, why, why_len);
        if (r < 0)
                return r;
        details = json_object_get(o, "details");
        if (details && !json_is_null(details)) {
                if (!json_is_object(details)) {
                        snprintf(why, why_len, "%sdetails: expected an object, got %s", path,
                                 json_type_name(details));
                        return -EINVAL;
                }
                snprintf(dpath, sizeof(dpath), "%sdetails.", path);
                r = get_int(details, "retryAfterSeconds", dpath, &s.retry_after_sec, why, why_len);
                if (r < 0)
                        return r;
        }
        if (strdup_opt(status, &s.status) < 0 || strdup_opt(reason, &s.reason) < 0 ||
            strdup_opt(message, &s.message) < 0)
                return -ENOMEM;
        *ret = s;
        s = (WatchStatus){0};
        return 0;
}

/* ---- watch stream ------------------------------------------------------------------ */

int watch_parser_new(WatchParser **ret, size_t max)
{
        WatchParser *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        p->max = max ? max : WATCH_EVENT_MAX_DEFAULT;
        *ret = p;
        return 0;
}

WatchParser *watch_parser_free(WatchParser *p)
{
        if (p)
                free(p->buf);
        return mfree(p);
}

void watch_parser_reset(WatchParser *p)
{
        size_t max = p->max;
        char *buf = p->buf;
        size_t cap = p->cap;

        *p = (WatchParser){.max = max, .buf = buf, .cap = cap};
}

const WatchError *watch_parser_error(const WatchParser *p)
{
        return p->described ? &p->error : NULL;
}

uint64_t watch_parser_events(const WatchParser *p)
{
        return p->n_events;
}

size_t watch_parser_pending(const WatchParser *p)
{
        return p->len;
}

/* Appends to the held part of the current event; the caller has checked the cap. */
static int hold(WatchParser *p, const char *data, size_t n)
{
        if (n == 0)
                return 0;
        if (p->len + n > p->cap) {
                size_t cap = MAX(MAX(p->cap * 2, (size_t)4096), p->len + n);
                cap = MIN(cap, p->max);
                char *b = realloc(p->buf, cap);
                if (!b)
                        return -ENOMEM;
                p->buf = b;
                p->cap = cap;
        }
        memcpy(p->buf + p->len, data, n);
        p->len += n;
        return 0;
}

/* Decodes one complete event text and hands it to the callback. */
static int deliver(WatchParser *p, const char *text, size_t n, WatchEventHandler cb, void *userdata)
{
        uint64_t number = p->n_events + 1, start = p->event_start;
        _cleanup_(watch_status_clear) WatchStatus status = {0};
        json_t *type, *object, *md, *rv;
        json_error_t e;
        char why[256];
        int r;

        _cleanup_(json_decrefp) json_t *j = json_loadb(text, n, 0, &e);
        if (!j) {
                if (json_error_code(&e) == json_error_out_of_memory)
                        return p->failed = -ENOMEM;
                return fail(p, number, start + (uint64_t)MAX(e.position, 0), "bad JSON: %s",
                            e.text);
        }

        type = json_object_get(j, "type");
        if (!type)
                return fail(p, number, start, "no \"type\"");
        if (!json_is_string(type))
                return fail(p, number, start, "type: expected a string, got %s",
                            json_type_name(type));
        WatchEventType t = watch_event_type_from_string(json_string_value(type));
        if (t < 0)
                return fail(p, number, start,
                            "unknown type \"%.64s\" (expected ADDED, MODIFIED, DELETED, "
                            "BOOKMARK or ERROR)",
                            json_string_value(type));
        object = json_object_get(j, "object");
        if (!object || json_is_null(object))
                return fail(p, number, start, "%s event without \"object\"",
                            watch_event_type_to_string(t));
        if (!json_is_object(object))
                return fail(p, number, start, "object: expected an object, got %s",
                            json_type_name(object));

        rv = NULL;
        md = json_object_get(object, "metadata");
        if (md && !json_is_null(md)) {
                if (!json_is_object(md))
                        return fail(p, number, start, "object.metadata: expected an object, got %s",
                                    json_type_name(md));
                rv = json_object_get(md, "resourceVersion");
                if (rv && json_is_null(rv))
                        rv = NULL;
                if (rv && !json_is_string(rv))
                        return fail(p, number, start,
                                    "object.metadata.resourceVersion: expected a string, got %s",
                                    json_type_name(rv));
        }
        if (t == WATCH_ERROR) {
                r = status_from_json(object, "object.", &status, why, sizeof(why));
                if (r == -ENOMEM)
                        return p->failed = r;
                if (r < 0)
                        return fail(p, number, start, "%s", why);
        }

        WatchEvent ev = {
            .type = t,
            .object = object,
            .resource_version = rv ? json_string_value(rv) : NULL,
            .number = number,
            .offset = start,
            .status = status,
        };
        p->n_events++;
        r = cb(&ev, userdata);
        if (r < 0)
                p->failed = r;
        return r;
}

static bool is_space(char c)
{
        /* JSON's whitespace (RFC 8259 section 2) */
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int watch_parser_feed(WatchParser *p, const char *buf, size_t len, WatchEventHandler cb,
                      void *userdata)
{
        size_t seg = 0; /* where the part of the current event inside buf starts */
        int r;

        if (p->failed)
                return p->failed;

        for (size_t i = 0; i < len; i++) {
                char c = buf[i];

                if (p->depth == 0) {
                        if (is_space(c))
                                continue;
                        if (c != '{')
                                return fail(p, p->n_events + 1, p->offset + i,
                                            "expected '{' to start an event, got %s0x%02x",
                                            c >= 0x20 && c < 0x7f ? "" : "byte ",
                                            (unsigned)(unsigned char)c);
                        p->depth = 1;
                        p->event_start = p->offset + i;
                        p->in_string = p->escape = false;
                        seg = i;
                        continue;
                }

                /* bytes of this event so far, counting c */
                if (p->offset + i - p->event_start + 1 > p->max)
                        return fail(p, p->n_events + 1, p->offset + i,
                                    "event larger than the limit of %zu bytes", p->max);

                if (p->in_string) {
                        if (p->escape)
                                p->escape = false;
                        else if (c == '\\')
                                p->escape = true;
                        else if (c == '"')
                                p->in_string = false;
                        continue;
                }
                switch (c) {
                case '"':
                        p->in_string = true;
                        continue;
                case '{':
                case '[':
                        p->depth++;
                        continue;
                case '}':
                case ']':
                        if (--p->depth > 0)
                                continue;
                        break;
                default:
                        continue;
                }

                /* the event ends at buf[i] */
                if (p->len == 0)
                        r = deliver(p, buf + seg, i + 1 - seg, cb, userdata);
                else {
                        r = hold(p, buf + seg, i + 1 - seg);
                        if (r < 0)
                                return p->failed = r;
                        r = deliver(p, p->buf, p->len, cb, userdata);
                        p->len = 0;
                        if (p->cap > BUF_SHRINK_ABOVE) {
                                p->buf = mfree(p->buf);
                                p->cap = 0;
                        }
                }
                if (r < 0)
                        return r;
        }

        if (p->depth > 0) {
                r = hold(p, buf + seg, len - seg);
                if (r < 0)
                        return p->failed = r;
        }
        p->offset += len;
        return 0;
}

int watch_parser_finish(WatchParser *p)
{
        if (p->failed)
                return p->failed;
        if (p->depth > 0)
                return fail(p, p->n_events + 1, p->event_start,
                            "the stream ended inside the event (%zu bytes of it received)", p->len);
        return 0;
}

/* ---- list and Status bodies -------------------------------------------------------- */

void watch_list_clear(WatchList *l)
{
        json_decref(l->items);
        free(l->resource_version);
        free(l->continue_token);
        *l = (WatchList){.remaining_items = -1};
}

static int load_body(const char *body, size_t len, json_t **ret, WatchError *err)
{
        json_error_t e;
        json_t *j = json_loadb(body, len, 0, &e);

        if (!j) {
                if (json_error_code(&e) == json_error_out_of_memory)
                        return -ENOMEM;
                return body_fail(err, (uint64_t)MAX(e.position, 0), "byte %d: bad JSON: %s",
                                 MAX(e.position, 0), e.text);
        }
        if (!json_is_object(j)) {
                int r = body_fail(err, 0, "expected an object, got %s", json_type_name(j));
                json_decref(j);
                return r;
        }
        *ret = j;
        return 0;
}

/* The list's metadata into l (resource_version, continue_token, remaining_items). */
static int list_meta(const json_t *md, WatchList *l, WatchError *err)
{
        const char *rv, *cont;
        const json_t *v;
        char why[256];
        int r;

        if (!md || !json_is_object(md))
                return body_fail(err, 0, "metadata: expected an object, got %s",
                                 md ? json_type_name(md) : "nothing");
        r = get_string(md, "resourceVersion", "metadata.", &rv, why, sizeof(why));
        if (r >= 0)
                r = get_string(md, "continue", "metadata.", &cont, why, sizeof(why));
        if (r < 0)
                return body_fail(err, 0, "%s", why);
        if (!rv || !*rv)
                return body_fail(err, 0, "metadata.resourceVersion: missing");
        v = json_object_get(md, "remainingItemCount");
        if (v && !json_is_null(v)) {
                if (!json_is_integer(v) || json_integer_value(v) < 0)
                        return body_fail(err, 0,
                                         "metadata.remainingItemCount: expected a count, got %s",
                                         json_type_name(v));
                l->remaining_items = json_integer_value(v);
        }
        if (strdup_opt(rv, &l->resource_version) < 0 ||
            strdup_opt(cont && *cont ? cont : NULL, &l->continue_token) < 0)
                return -ENOMEM;
        return 0;
}

int watch_parse_list(const char *body, size_t len, WatchList *ret, WatchError *err)
{
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_(watch_list_clear) WatchList l = {.remaining_items = -1};
        json_t *items;
        int r;

        r = load_body(body, len, &j, err);
        if (r < 0)
                return r;

        items = json_object_get(j, "items");
        if (!items || json_is_null(items))
                items = NULL;
        else if (!json_is_array(items))
                return body_fail(err, 0, "items: expected an array, got %s", json_type_name(items));
        for (size_t i = 0; i < json_array_size(items); i++)
                if (!json_is_object(json_array_get(items, i)))
                        return body_fail(err, 0, "items[%zu]: expected an object, got %s", i,
                                         json_type_name(json_array_get(items, i)));
        l.items = items ? json_incref(items) : json_array();
        if (!l.items)
                return -ENOMEM;

        r = list_meta(json_object_get(j, "metadata"), &l, err);
        if (r < 0)
                return r;
        *ret = l;
        l = (WatchList){.remaining_items = -1};
        return 0;
}

/* ---- a list body item by item -------------------------------------------------------- */

static bool str_is(const char *a, const char *b)
{
        return a && strcmp(a, b) == 0;
}

static size_t skip_space(const char *b, size_t i, size_t len)
{
        while (i < len && is_space(b[i]))
                i++;
        return i;
}

/* One past the end of the JSON value that starts at b[i], found by nesting and strings
 * alone (jansson then decodes exactly that much, so it is validated all the same);
 * SIZE_MAX when the body ends first. */
static size_t value_end(const char *b, size_t i, size_t len)
{
        size_t depth = 0;
        bool in_string = false, escape = false;

        if (i >= len)
                return SIZE_MAX;
        if (b[i] != '{' && b[i] != '[' && b[i] != '"') {
                while (i < len && !is_space(b[i]) && b[i] != ',' && b[i] != ']' && b[i] != '}')
                        i++;
                return i;
        }
        for (; i < len; i++) {
                char c = b[i];
                if (in_string) {
                        if (escape)
                                escape = false;
                        else if (c == '\\')
                                escape = true;
                        else if (c == '"') {
                                in_string = false;
                                if (depth == 0)
                                        return i + 1;
                        }
                } else if (c == '"')
                        in_string = true;
                else if (c == '{' || c == '[')
                        depth++;
                else if ((c == '}' || c == ']') && --depth == 0)
                        return i + 1;
        }
        return SIZE_MAX;
}

/* Decodes the value at b[i, end); NULL with *r set (and err filled) on failure. */
static json_t *load_value(const char *b, size_t i, size_t end, size_t flags, WatchError *err,
                          int *r)
{
        json_error_t e;
        json_t *j = json_loadb(b + i, end - i, flags, &e);

        if (!j)
                *r = json_error_code(&e) == json_error_out_of_memory
                         ? -ENOMEM
                         : body_fail(err, i + (uint64_t)MAX(e.position, 0),
                                     "byte %" PRIu64 ": bad JSON: %s",
                                     i + (uint64_t)MAX(e.position, 0), e.text);
        return j;
}

int watch_parse_list_each(const char *body, size_t len, WatchListItemFn fn, void *userdata,
                          WatchList *ret, WatchError *err)
{
        _cleanup_(watch_list_clear) WatchList l = {.remaining_items = -1};
        _cleanup_(json_decrefp) json_t *md = NULL;
        bool seen_items = false;
        size_t i, n_items = 0;
        int r = 0;

        i = skip_space(body, 0, len);
        if (i >= len || body[i] != '{')
                return i >= len ? body_fail(err, i, "byte %zu: bad JSON: no object", i)
                                : body_fail(err, i, "byte %zu: expected an object", i);
        i = skip_space(body, i + 1, len);
        if (i < len && body[i] == '}')
                i++;
        else
                for (;;) {
                        _cleanup_(json_decrefp) json_t *key = NULL, *v = NULL;
                        size_t end;
                        const char *k;

                        if (i >= len || body[i] != '"')
                                return body_fail(err, i, "byte %zu: bad JSON: expected a key", i);
                        end = value_end(body, i, len);
                        if (end == SIZE_MAX)
                                return body_fail(err, len, "byte %zu: bad JSON: unexpected end",
                                                 len);
                        if (!(key = load_value(body, i, end, JSON_DECODE_ANY, err, &r)))
                                return r;
                        k = json_string_value(key);
                        i = skip_space(body, end, len);
                        if (i >= len || body[i] != ':')
                                return body_fail(err, i, "byte %zu: bad JSON: expected ':'", i);
                        i = skip_space(body, i + 1, len);
                        if ((str_is(k, "items") && seen_items) || (str_is(k, "metadata") && md))
                                return body_fail(err, i, "byte %zu: %s given twice", i, k);
                        if (str_is(k, "items") && i < len && body[i] == '[') {
                                /* each item decoded, handed over and freed on its own */
                                seen_items = true;
                                i = skip_space(body, i + 1, len);
                                if (i < len && body[i] == ']')
                                        i++;
                                else
                                        for (;;) {
                                                json_t *item;
                                                end = value_end(body, i, len);
                                                if (end == SIZE_MAX)
                                                        return body_fail(err, len,
                                                                         "byte %zu: bad JSON: "
                                                                         "unexpected end",
                                                                         len);
                                                if (!(item = load_value(body, i, end,
                                                                        JSON_DECODE_ANY, err, &r)))
                                                        return r;
                                                if (!json_is_object(item)) {
                                                        r = body_fail(
                                                            err, i,
                                                            "items[%zu]: expected an object, "
                                                            "got %s",
                                                            n_items, json_type_name(item));
                                                        json_decref(item);
                                                        return r;
                                                }
                                                r = fn(item, userdata);
                                                json_decref(item);
                                                if (r < 0)
                                                        return r;
                                                n_items++;
                                                i = skip_space(body, end, len);
                                                if (i < len && body[i] == ',') {
                                                        i = skip_space(body, i + 1, len);
                                                        continue;
                                                }
                                                if (i < len && body[i] == ']') {
                                                        i++;
                                                        break;
                                                }
                                                return body_fail(err, i,
                                                                 "byte %zu: bad JSON: expected "
                                                                 "',' or ']'",
                                                                 i);
                                        }
                        } else {
                                end = value_end(body, i, len);
                                if (end == SIZE_MAX || end == i)
                                        return body_fail(err, MIN(i, len),
                                                         "byte %zu: bad JSON: expected a value",
                                                         MIN(i, len));
                                if (!(v = load_value(body, i, end, JSON_DECODE_ANY, err, &r)))
                                        return r;
                                if (str_is(k, "items")) {
                                        seen_items = true;
                                        if (!json_is_null(v))
                                                return body_fail(err, 0,
                                                                 "items: expected an array, got %s",
                                                                 json_type_name(v));
                                } else if (str_is(k, "metadata"))
                                        md = TAKE_PTR(v);
                                i = end;
                        }
                        i = skip_space(body, i, len);
                        if (i < len && body[i] == ',') {
                                i = skip_space(body, i + 1, len);
                                continue;
                        }
                        if (i < len && body[i] == '}') {
                                i++;
                                break;
                        }
                        return body_fail(err, i, "byte %zu: bad JSON: expected ',' or '}'", i);
                }
        i = skip_space(body, i, len);
        if (i < len)
                return body_fail(err, i, "byte %zu: bad JSON: end of file expected", i);
        r = list_meta(md, &l, err);
        if (r < 0)
                return r;
        *ret = l;
        l = (WatchList){.remaining_items = -1};
        return 0;
}

int watch_parse_status(const char *body, size_t len, WatchStatus *ret, WatchError *err)
{
        _cleanup_(json_decrefp) json_t *j = NULL;
        const char *kind;
        char why[256];
        int r;

        r = load_body(body, len, &j, err);
        if (r < 0)
                return r;
        r = get_string(j, "kind", "", &kind, why, sizeof(why));
        if (r < 0)
                return body_fail(err, 0, "%s", why);
        if (!kind || strcmp(kind, "Status") != 0)
                return body_fail(err, 0, "kind: expected \"Status\", got %s%.64s%s",
                                 kind ? "\"" : "", kind ? kind : "nothing", kind ? "\"" : "");
        r = status_from_json(j, "", ret, why, sizeof(why));
        if (r == -EINVAL)
                return body_fail(err, 0, "%s", why);
        return r;
}
