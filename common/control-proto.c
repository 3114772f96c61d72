/* SPDX-License-Identifier: MIT */
/*
 * Control-socket protocol, pure part; see control-proto.h and docs/protocol.md.
 *
 * Decoding walks the JSON with a path (services[2].spec.ports[0].port) so that every
 * error names the field it is about. Every known field is checked for type, length and
 * range before use; fields we do not know are ignored, so objects can be forwarded as
 * the API server sends them. Validation is never stricter than the API server's own:
 * a real object refused here would block every full sync.
 */
#include <stdarg.h>
#include <string.h>

#include "control-proto.h"

/* ---- strings ------------------------------------------------------------------------ */

static const char *const op_names[_CTL_OP_MAX] = {
    [CTL_OP_HELLO] = "hello",   [CTL_OP_SYNC] = "sync",         [CTL_OP_UPSERT] = "upsert",
    [CTL_OP_DELETE] = "delete", [CTL_OP_LEADER] = "leader",     [CTL_OP_STATUS] = "status",
    [CTL_OP_POOLS] = "pools",   [CTL_OP_SERVICES] = "services", [CTL_OP_PEERS] = "peers",
    [CTL_OP_RELOAD] = "reload", [CTL_OP_EVENTS] = "events",
};

static const char *const error_names[_CTL_ERR_MAX] = {
    [CTL_ERR_LINE_TOO_LONG] = "line_too_long",
    [CTL_ERR_BAD_JSON] = "bad_json",
    [CTL_ERR_BAD_MESSAGE] = "bad_message",
    [CTL_ERR_UNKNOWN_OP] = "unknown_op",
    [CTL_ERR_UNKNOWN_KIND] = "unknown_kind",
    [CTL_ERR_DUPLICATE] = "duplicate",
    [CTL_ERR_VERSION_MISMATCH] = "version_mismatch",
    [CTL_ERR_HELLO_REQUIRED] = "hello_required",
    [CTL_ERR_SYNC_IN_PROGRESS] = "sync_in_progress",
    [CTL_ERR_TOO_MANY_OBJECTS] = "too_many_objects",
    [CTL_ERR_RELOAD_FAILED] = "reload_failed",
    [CTL_ERR_INTERNAL] = "internal",
    [CTL_ERR_FORBIDDEN] = "forbidden",
    [CTL_ERR_TOO_MANY_CLIENTS] = "too_many_clients",
};

static const char *const notify_names[_CTL_NOTIFY_MAX] = {
    [CTL_NOTIFY_ALLOCATED] = "allocated",
    [CTL_NOTIFY_ALLOCATION_FAILED] = "allocation_failed",
    [CTL_NOTIFY_NODE_ASSIGNED] = "node_assigned",
    [CTL_NOTIFY_RELEASED] = "released",
};

/* The arrays of a sync, by kind. */
static const char *const sync_arrays[_OBJ_KIND_MAX] = {
    [OBJ_SERVICE] = "services",
    [OBJ_ENDPOINT_SLICE] = "endpointslices",
    [OBJ_NODE] = "nodes",
    [OBJ_NAMESPACE] = "namespaces",
};

static int lookup(const char *const *t, size_t n, const char *s)
{
        for (size_t i = 0; s && i < n; i++)
                if (t[i] && strcmp(t[i], s) == 0)
                        return (int)i;
        return -EINVAL;
}

const char *ctl_op_to_string(CtlOp op)
{
        return op >= 0 && op < _CTL_OP_MAX ? op_names[op] : NULL;
}
CtlOp ctl_op_from_string(const char *s)
{
        return (CtlOp)lookup(op_names, _CTL_OP_MAX, s);
}
const char *ctl_error_code_to_string(CtlErrorCode c)
{
        return c >= 0 && c < _CTL_ERR_MAX ? error_names[c] : NULL;
}
CtlErrorCode ctl_error_code_from_string(const char *s)
{
        return (CtlErrorCode)lookup(error_names, _CTL_ERR_MAX, s);
}
const char *ctl_notify_type_to_string(CtlNotifyType t)
{
        return t >= 0 && t < _CTL_NOTIFY_MAX ? notify_names[t] : NULL;
}
CtlNotifyType ctl_notify_type_from_string(const char *s)
{
        return (CtlNotifyType)lookup(notify_names, _CTL_NOTIFY_MAX, s);
}

/* ---- errors ------------------------------------------------------------------------- */

int ctl_error_set(CtlError *e, CtlErrorCode code, const char *fmt, ...)
{
        va_list ap;

        e->code = code;
        va_start(ap, fmt);
        vsnprintf(e->detail, sizeof(e->detail), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

void ctl_error_clear(CtlError *e)
{
        json_decref(e->id);
        *e = (CtlError){0};
}

/* ---- framing ------------------------------------------------------------------------ */

void ctl_framer_init(CtlFramer *f, size_t max)
{
        *f = (CtlFramer){.max = max ? max : CTL_LINE_MAX};
}

void ctl_framer_deinit(CtlFramer *f)
{
        free(f->buf);
        *f = (CtlFramer){0};
}

int ctl_framer_feed(CtlFramer *f, const void *data, size_t n)
{
        const char *p = data;

        if (f->start > 0) {
                memmove(f->buf, f->buf + f->start, f->len - f->start);
                f->len -= f->start;
                f->start = 0;
        }
        if (f->discarding) {
                /* The buffer is empty here: the overlong part was dropped when reported. */
                const char *nl = n ? memchr(p, '\n', n) : NULL;
                if (!nl)
                        return 0;
                f->line_no++;
                f->discarding = false;
                n -= (size_t)(nl + 1 - p);
                p = nl + 1;
        }
        if (n == 0)
                return 0;
        if (f->len + n + 1 < n || GROW(f->buf, f->cap, f->len + n + 1) < 0)
                return -ENOMEM;
        memcpy(f->buf + f->len, p, n);
        f->len += n;
        return 0;
}

static bool blank(const char *p, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (p[i] != ' ' && p[i] != '\t')
                        return false;
        return true;
}

CtlFrame ctl_framer_next(CtlFramer *f, const char **line, size_t *len, unsigned *line_no)
{
        for (;;) {
                char *p = f->buf + f->start;
                size_t avail = f->len - f->start;
                char *nl = avail ? memchr(p, '\n', avail) : NULL;

                if (!nl) {
                        if (avail > f->max) {
                                f->start = f->len = 0;
                                f->discarding = true;
                                *line_no = f->line_no + 1;
                                return CTL_FRAME_TOO_LONG;
                        }
                        return CTL_FRAME_NONE;
                }
                size_t l = (size_t)(nl - p);
                f->line_no++;
                f->start += l + 1;
                if (l > f->max) {
                        *line_no = f->line_no;
                        return CTL_FRAME_TOO_LONG;
                }
                if (l > 0 && p[l - 1] == '\r')
                        l--;
                p[l] = 0;
                if (blank(p, l))
                        continue;
                *line = p;
                *len = l;
                *line_no = f->line_no;
                return CTL_FRAME_LINE;
        }
}

/* ---- decoder context ---------------------------------------------------------------- */

typedef struct Dec {
        CtlError *err;
        unsigned line;
        char path[256];
        size_t path_len;
} Dec;

static size_t dec_push(Dec *d, const char *fmt, ...) _printf_(2, 3);
static size_t dec_push(Dec *d, const char *fmt, ...)
{
        size_t mark = d->path_len;
        va_list ap;

        if (d->path_len < sizeof(d->path) - 1) {
                va_start(ap, fmt);
                int n = vsnprintf(d->path + d->path_len, sizeof(d->path) - d->path_len, fmt, ap);
                va_end(ap);
                if (n > 0)
                        d->path_len = MIN(d->path_len + (size_t)n, sizeof(d->path) - 1);
        }
        return mark;
}

static void dec_pop(Dec *d, size_t mark)
{
        d->path_len = mark;
        d->path[mark] = 0;
}

/* Pushes ".key", or "key" at the start of the path. */
static size_t dec_field(Dec *d, const char *key)
{
        return dec_push(d, d->path_len ? ".%s" : "%s", key);
}

static int dec_fail(Dec *d, CtlErrorCode code, const char *fmt, ...) _printf_(3, 4);
static int dec_fail(Dec *d, CtlErrorCode code, const char *fmt, ...)
{
        char msg[CTL_DETAIL_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (d->path_len)
                return ctl_error_set(d->err, code, "line %u: %s: %s", d->line, d->path, msg);
        return ctl_error_set(d->err, code, "line %u: %s", d->line, msg);
}

/* A short rendering of a value for "got ..." (JSON text, cut at 40 bytes). */
static const char *show(const json_t *v, char buf[static 64])
{
        if (!v)
                return "nothing";
        if (json_is_object(v))
                return "an object";
        if (json_is_array(v))
                return "an array";
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!s)
                return "a value";
        size_t n = strlen(s);
        if (n > 40)
                snprintf(buf, 64, "%.40s...", s);
        else
                snprintf(buf, 64, "%s", s);
        free(s);
        return buf;
}

static int dec_expected(Dec *d, const char *what, const json_t *got)
{
        char b[64];
        return dec_fail(d, CTL_ERR_BAD_MESSAGE, "expected %s, got %s", what, show(got, b));
}

/* A field; JSON null counts as absent. */
static json_t *field(const json_t *o, const char *key)
{
        json_t *v = json_object_get(o, key);
        return json_is_null(v) ? NULL : v;
}

static int dec_missing(Dec *d, const char *key)
{
        size_t m = dec_field(d, key);
        int r = dec_fail(d, CTL_ERR_BAD_MESSAGE, "missing");
        dec_pop(d, m);
        return r;
}

static bool has_control_chars(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || *s == 0x7f)
                        return true;
        return false;
}

typedef enum StrRule {
        STR_ANY,           /* any text without NUL */
        STR_TEXT,          /* no control characters */
        STR_DNS_LABEL,     /* DNS-1123 label, <= 63 */
        STR_DNS_SUBDOMAIN, /* DNS-1123 subdomain, <= 253 */
} StrRule;

static bool dns_label_ok(const char *s, size_t n)
{
        if (n == 0 || n > K8S_LABEL_NAME_MAX || s[0] == '-' || s[n - 1] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
                        return false;
        return true;
}

static bool dns_subdomain_ok(const char *s, size_t n)
{
        if (n == 0 || n > K8S_NAME_MAX)
                return false;
        for (size_t i = 0, start = 0; i <= n; i++)
                if (i == n || s[i] == '.') {
                        /* each dot-separated part is a label (its own length is bounded by
                         * the total only, as in apimachinery) */
                        if (i == start || s[start] == '-' || s[i - 1] == '-')
                                return false;
                        start = i + 1;
                } else if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
                             s[i] == '-'))
                        return false;
        return true;
}

static const char *rule_words(StrRule rule)
{
        switch (rule) {
        case STR_DNS_LABEL:
                return "a DNS label (lower-case letters, digits and '-', at most 63)";
        case STR_DNS_SUBDOMAIN:
                return "a DNS subdomain (lower-case letters, digits, '-' and '.', at most 253)";
        default:
                return "text";
        }
}

/* Reads a string value at the current path. */
static int dec_string_value(Dec *d, const json_t *v, StrRule rule, size_t min, size_t max,
                            const char **ret)
{
        char b[64];

        if (!json_is_string(v))
                return dec_expected(d, "a string", v);
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (strlen(s) != n)
                return dec_fail(d, CTL_ERR_BAD_MESSAGE, "NUL byte in string");
        if (n < min || n > max) {
                if (min > 0 && n == 0)
                        return dec_fail(d, CTL_ERR_BAD_MESSAGE, "must not be empty");
                return dec_fail(d, CTL_ERR_BAD_MESSAGE, "too long (%zu bytes, at most %zu)", n,
                                max);
        }
        if ((rule == STR_TEXT && has_control_chars(s)) ||
            (rule == STR_DNS_LABEL && !dns_label_ok(s, n)) ||
            (rule == STR_DNS_SUBDOMAIN && !dns_subdomain_ok(s, n)))
                return dec_fail(d, CTL_ERR_BAD_MESSAGE, "expected %s, got %s", rule_words(rule),
                                show(v, b));
        *ret = s;
        return 0;
}

/* Optional string field (absent: *ret untouched, returns 0); required: missing is an
 * error. Returns 1 when present. */
static int dec_string(Dec *d, const json_t *o, const char *key, bool required, StrRule rule,
                      size_t min, size_t max, const char **ret)
{
        json_t *v = field(o, key);
        if (!v)
                return required ? dec_missing(d, key) : 0;
        size_t m = dec_field(d, key);
        int r = dec_string_value(d, v, rule, min, max, ret);
        dec_pop(d, m);
        return r < 0 ? r : 1;
}

static int dec_strdup(Dec *d, const json_t *o, const char *key, bool required, StrRule rule,
                      size_t min, size_t max, char **ret)
{
        const char *s = NULL;
        int r = dec_string(d, o, key, required, rule, min, max, &s);
        if (r <= 0)
                return r;
        char *c = strdup(s);
        if (!c)
                return -ENOMEM;
        free(*ret);
        *ret = c;
        return 1;
}

static int dec_int(Dec *d, const json_t *o, const char *key, bool required, json_int_t min,
                   json_int_t max, json_int_t *ret)
{
        json_t *v = field(o, key);
        if (!v)
                return required ? dec_missing(d, key) : 0;
        size_t m = dec_field(d, key);
        if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
                char what[64];
                snprintf(what, sizeof(what), "an integer %lld-%lld", (long long)min,
                         (long long)max);
                int r = dec_expected(d, what, v);
                dec_pop(d, m);
                return r;
        }
        dec_pop(d, m);
        *ret = json_integer_value(v);
        return 1;
}

static int dec_bool(Dec *d, const json_t *o, const char *key, bool required, bool *ret)
{
        json_t *v = field(o, key);
        if (!v)
                return required ? dec_missing(d, key) : 0;
        if (!json_is_boolean(v)) {
                size_t m = dec_field(d, key);
                int r = dec_expected(d, "true or false", v);
                dec_pop(d, m);
                return r;
        }
        *ret = json_is_true(v);
        return 1;
}

/* Object or array field; absent -> *ret NULL, 0. */
static int dec_container(Dec *d, const json_t *o, const char *key, bool required, bool array,
                         json_t **ret)
{
        json_t *v = field(o, key);
        *ret = NULL;
        if (!v)
                return required ? dec_missing(d, key) : 0;
        if (array ? !json_is_array(v) : !json_is_object(v)) {
                size_t m = dec_field(d, key);
                int r = dec_expected(d, array ? "an array" : "an object", v);
                dec_pop(d, m);
                return r;
        }
        *ret = v;
        return 1;
}

/* An enum given as a string, through a from_string() function. */
static int dec_enum(Dec *d, const json_t *o, const char *key, int (*from)(const char *),
                    const char *words, int *ret)
{
        const char *s = NULL;
        int r = dec_string(d, o, key, false, STR_ANY, 0, CTL_TEXT_MAX, &s);
        if (r <= 0)
                return r;
        int x = from(s);
        if (x < 0) {
                char b[64];
                size_t m = dec_field(d, key);
                r = dec_fail(d, CTL_ERR_BAD_MESSAGE, "expected %s, got %s", words,
                             show(field(o, key), b));
                dec_pop(d, m);
                return r;
        }
        *ret = x;
        return 1;
}

static int from_service_type(const char *s)
{
        return service_type_from_string(s);
}
static int from_ip_family_policy(const char *s)
{
        return ip_family_policy_from_string(s);
}
static int from_port_protocol(const char *s)
{
        return port_protocol_from_string(s);
}
static int from_traffic_policy(const char *s)
{
        return traffic_policy_from_string(s);
}
static int from_address_type(const char *s)
{
        return address_type_from_string(s);
}

/* ---- labels and annotations ----------------------------------------------------------- */

static bool label_name_ok(const char *s, size_t n)
{
        /* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63 */
        if (n == 0 || n > K8S_LABEL_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                bool alnum =
                    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                if (!alnum && ((i == 0 || i == n - 1) || !(c == '-' || c == '_' || c == '.')))
                        return false;
        }
        return true;
}

/* Qualified name: [prefix/]name, the prefix a DNS subdomain. Upper case is accepted in
 * the prefix because the API server lower-cases annotation keys before checking them. */
static bool qualified_name_ok(const char *s, size_t n)
{
        const char *slash = memchr(s, '/', n);
        if (!slash)
                return label_name_ok(s, n);
        size_t pn = (size_t)(slash - s);
        char prefix[K8S_NAME_MAX + 1];
        if (pn == 0 || pn > K8S_NAME_MAX)
                return false;
        for (size_t i = 0; i < pn; i++)
                prefix[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
        return dns_subdomain_ok(prefix, pn) && label_name_ok(slash + 1, n - pn - 1);
}

static bool label_value_ok(const char *s, size_t n)
{
        return n == 0 || label_name_ok(s, n);
}

static int labels_append(Labels *l, const char *key, const char *value)
{
        char *k = strdup(key), *v = strdup(value);
        if (!k || !v || GROW(l->items, l->cap, l->n + 1) < 0) {
                free(k);
                free(v);
                return -ENOMEM;
        }
        l->items[l->n++] = (Label){k, v};
        return 0;
}

/* A map of string to string. Labels (and selectors) follow the label rules; annotations
 * have free values and a total size limit. Keys are unique: the JSON decoder refuses
 * duplicate keys. */
static int dec_map(Dec *d, const json_t *o, const char *key, bool annotations, Labels *ret)
{
        json_t *m, *v;
        const char *k;
        size_t total = 0;
        int r;

        r = dec_container(d, o, key, false, false, &m);
        if (r <= 0)
                return r;
        size_t mark = dec_field(d, key);
        json_object_foreach((json_t *)m, k, v)
        {
                size_t kn = strlen(k), km = dec_push(d, "[\"%.60s\"]", k);
                const char *s = NULL;

                if (!qualified_name_ok(k, kn)) {
                        r = dec_fail(d, CTL_ERR_BAD_MESSAGE,
                                     "key is not a qualified name ([prefix/]name, name at most 63 "
                                     "characters of letters, digits, '-', '_', '.')");
                        break;
                }
                r = dec_string_value(d, v, STR_ANY, 0,
                                     annotations ? K8S_ANNOTATIONS_MAX : K8S_LABEL_NAME_MAX, &s);
                if (r < 0)
                        break;
                if (!annotations && !label_value_ok(s, strlen(s))) {
                        char b[64];
                        r = dec_fail(d, CTL_ERR_BAD_MESSAGE,
                                     "expected a label value (letters, digits, '-', '_', '.', at "
                                     "most 63), got %s",
                                     show(v, b));
                        break;
                }
                total += kn + strlen(s);
                if (annotations && total > K8S_ANNOTATIONS_MAX) {
                        dec_pop(d, km);
                        r = dec_fail(d, CTL_ERR_BAD_MESSAGE, "more than %u bytes in total",
                                     K8S_ANNOTATIONS_MAX);
                        break;
                }
                r = labels_append(ret, k, s);
                if (r < 0)
                        break;
                dec_pop(d, km);
        }
        dec_pop(d, mark);
        return r < 0 ? r : 1;
}

/* ---- objects ------------------------------------------------------------------------ */

static int dec_meta(Dec *d, const json_t *j, ObjKind kind, ObjMeta *meta)
{
        json_t *md;
        const char *ns = NULL, *name = NULL, *k = NULL;
        int r;

        r = dec_string(d, j, "kind", false, STR_ANY, 0, CTL_TEXT_MAX, &k);
        if (r < 0)
                return r;
        if (k && strcmp(k, obj_kind_to_string(kind)) != 0) {
                size_t m = dec_field(d, "kind");
                r = dec_fail(d, CTL_ERR_BAD_MESSAGE, "object of kind \"%s\" where a %s belongs", k,
                             obj_kind_to_string(kind));
                dec_pop(d, m);
                return r;
        }
        r = dec_container(d, j, "metadata", true, false, &md);
        if (r < 0)
                return r;
        size_t mark = dec_field(d, "metadata");
        bool label_name = kind == OBJ_SERVICE || kind == OBJ_NAMESPACE;
        r = dec_string(d, md, "name", true, label_name ? STR_DNS_LABEL : STR_DNS_SUBDOMAIN, 1,
                       label_name ? K8S_LABEL_NAME_MAX : K8S_NAME_MAX, &name);
        if (r >= 0 && obj_kind_namespaced(kind))
                r = dec_string(d, md, "namespace", true, STR_DNS_LABEL, 1, K8S_LABEL_NAME_MAX, &ns);
        if (r >= 0)
                r = dec_strdup(d, md, "uid", kind == OBJ_SERVICE, STR_TEXT, 1, K8S_UID_MAX,
                               &meta->uid);
        if (r >= 0)
                r = dec_map(d, md, "labels", false, &meta->labels);
        if (r >= 0)
                r = dec_map(d, md, "annotations", true, &meta->annotations);
        dec_pop(d, mark);
        if (r < 0)
                return r;
        return obj_set_name(meta, ns, name);
}

static int dec_service(Dec *d, const json_t *j, Service *s)
{
        json_t *spec, *status, *a;
        int r, x;

        r = dec_container(d, j, "spec", false, false, &spec);
        if (r < 0)
                return r;
        s->type = SERVICE_CLUSTER_IP;
        s->ip_family_policy = IP_FAMILY_SINGLE_STACK;
        s->external_traffic_policy = TRAFFIC_CLUSTER;
        if (spec) {
                size_t mark = dec_field(d, "spec");
                x = SERVICE_CLUSTER_IP;
                r = dec_enum(d, spec, "type", from_service_type,
                             "ClusterIP, NodePort, LoadBalancer or ExternalName", &x);
                if (r < 0)
                        return r;
                s->type = x;
                r = dec_strdup(d, spec, "loadBalancerClass", false, STR_TEXT, 1, CTL_TEXT_MAX,
                               &s->load_balancer_class);
                if (r < 0)
                        return r;
                r = dec_strdup(d, spec, "loadBalancerIP", false, STR_TEXT, 0, CTL_TEXT_MAX,
                               &s->load_balancer_ip);
                if (r < 0)
                        return r;
                if (s->load_balancer_ip && !*s->load_balancer_ip) {
                        free(s->load_balancer_ip);
                        s->load_balancer_ip = NULL;
                }

                r = dec_container(d, spec, "ipFamilies", false, true, &a);
                if (r < 0)
                        return r;
                if (a) {
                        size_t m = dec_field(d, "ipFamilies");
                        if (json_array_size(a) > 2)
                                return dec_fail(d, CTL_ERR_BAD_MESSAGE,
                                                "at most 2 families, got %zu", json_array_size(a));
                        for (size_t i = 0; i < json_array_size(a); i++) {
                                const char *f = NULL;
                                size_t mi = dec_push(d, "[%zu]", i);
                                r = dec_string_value(d, json_array_get(a, i), STR_ANY, 0,
                                                     CTL_TEXT_MAX, &f);
                                if (r < 0)
                                        return r;
                                int af = ip_family_from_string(f);
                                char b[64];
                                if (af < 0)
                                        return dec_fail(d, CTL_ERR_BAD_MESSAGE,
                                                        "expected IPv4 or IPv6, got %s",
                                                        show(json_array_get(a, i), b));
                                if (s->n_ip_families == 1 && s->ip_families[0] == af)
                                        return dec_fail(d, CTL_ERR_BAD_MESSAGE, "%s listed twice",
                                                        f);
                                s->ip_families[s->n_ip_families++] = af;
                                dec_pop(d, mi);
                        }
                        dec_pop(d, m);
                }
                x = IP_FAMILY_SINGLE_STACK;
                r = dec_enum(d, spec, "ipFamilyPolicy", from_ip_family_policy,
                             "SingleStack, PreferDualStack or RequireDualStack", &x);
                if (r < 0)
                        return r;
                s->ip_family_policy = x;
                x = TRAFFIC_CLUSTER;
                r = dec_enum(d, spec, "externalTrafficPolicy", from_traffic_policy,
                             "Cluster or Local", &x);
                if (r < 0)
                        return r;
                s->external_traffic_policy = x;
                r = dec_map(d, spec, "selector", false, &s->selector);
                if (r < 0)
                        return r;
                size_t text = 0;
                for (size_t i = 0; i < s->selector.n; i++)
                        text += (i ? 1 : 0) + strlen(s->selector.items[i].key) + 1 +
                                strlen(s->selector.items[i].value);
                if (s->selector.n > CTL_SELECTOR_LABELS_MAX || text > CTL_SELECTOR_TEXT_MAX) {
                        (void)dec_field(d, "selector");
                        return dec_fail(d, CTL_ERR_BAD_MESSAGE,
                                        "%zu labels, %zu bytes as \"k=v,...\"; at most %u labels "
                                        "and %u bytes (the sharing rule compares it whole)",
                                        s->selector.n, text, CTL_SELECTOR_LABELS_MAX,
                                        CTL_SELECTOR_TEXT_MAX);
                }

                r = dec_container(d, spec, "ports", false, true, &a);
                if (r < 0)
                        return r;
                if (a && json_array_size(a) > 0) {
                        size_t m = dec_field(d, "ports");
                        if (json_array_size(a) > CTL_SERVICE_PORTS_MAX)
                                return dec_fail(d, CTL_ERR_BAD_MESSAGE,
                                                "%zu ports; at most %u (the sharing rule compares "
                                                "them all)",
                                                json_array_size(a), CTL_SERVICE_PORTS_MAX);
                        s->ports = calloc(json_array_size(a), sizeof(ServicePort));
                        if (!s->ports)
                                return -ENOMEM;
                        for (size_t i = 0; i < json_array_size(a); i++) {
                                json_t *p = json_array_get(a, i);
                                ServicePort *sp = &s->ports[s->n_ports];
                                json_int_t port = 0;
                                size_t mi = dec_push(d, "[%zu]", i);

                                if (!json_is_object(p))
                                        return dec_expected(d, "an object", p);
                                s->n_ports++;
                                r = dec_strdup(d, p, "name", false, STR_TEXT, 0, K8S_LABEL_NAME_MAX,
                                               &sp->name);
                                if (r < 0)
                                        return r;
                                x = PROTO_TCP;
                                r = dec_enum(d, p, "protocol", from_port_protocol,
                                             "TCP, UDP or SCTP", &x);
                                if (r < 0)
                                        return r;
                                sp->protocol = x;
                                r = dec_int(d, p, "port", true, 1, 65535, &port);
                                if (r < 0)
                                        return r;
                                sp->port = (uint16_t)port;
                                dec_pop(d, mi);
                        }
                        dec_pop(d, m);
                }
                dec_pop(d, mark);
        }

        r = dec_container(d, j, "status", false, false, &status);
        if (r <= 0)
                return r;
        size_t mark = dec_field(d, "status");
        json_t *lb;
        r = dec_container(d, status, "loadBalancer", false, false, &lb);
        if (r <= 0)
                return r;
        dec_field(d, "loadBalancer");
        r = dec_container(d, lb, "ingress", false, true, &a);
        if (r <= 0)
                return r;
        dec_field(d, "ingress");
        if (json_array_size(a) > 0) {
                s->ingress = calloc(json_array_size(a), sizeof(u128));
                if (!s->ingress)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < json_array_size(a); i++) {
                json_t *e = json_array_get(a, i);
                const char *ip = NULL;
                size_t mi = dec_push(d, "[%zu]", i);
                if (!json_is_object(e))
                        return dec_expected(d, "an object", e);
                r = dec_string(d, e, "ip", false, STR_ANY, 0, CTL_TEXT_MAX, &ip);
                if (r < 0)
                        return r;
                if (ip && *ip) {
                        /* The API server's IP parser accepts forms addr_parse() does not
                         * (IPv4-mapped IPv6, leading zeros in old versions); refusing the
                         * object for its status would block every sync, so such an entry
                         * is only counted. It is not an address mlbd handed out. */
                        u128 addr;
                        if (addr_parse(ip, &addr))
                                s->ingress[s->n_ingress++] = addr;
                        else
                                s->n_ingress_invalid++;
                }
                dec_pop(d, mi);
        }
        dec_pop(d, mark);
        return 0;
}

static int dec_endpoint_slice(Dec *d, const json_t *j, EndpointSlice *e)
{
        json_t *a;
        int r, x = ADDRESS_TYPE_IPV4;

        const char *svc = labels_get(&e->meta.labels, "kubernetes.io/service-name");
        if (svc && *svc) {
                e->service_name = strdup(svc);
                if (!e->service_name)
                        return -ENOMEM;
        }
        r = dec_enum(d, j, "addressType", from_address_type, "IPv4, IPv6 or FQDN", &x);
        if (r < 0)
                return r;
        e->address_type = x;
        r = dec_container(d, j, "endpoints", false, true, &a);
        if (r <= 0)
                return r;
        size_t mark = dec_field(d, "endpoints");
        if (json_array_size(a) > 0) {
                e->endpoints = calloc(json_array_size(a), sizeof(Endpoint));
                if (!e->endpoints)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < json_array_size(a); i++) {
                json_t *ep = json_array_get(a, i), *cond;
                Endpoint *out = &e->endpoints[e->n_endpoints];
                size_t mi = dec_push(d, "[%zu]", i);

                if (!json_is_object(ep))
                        return dec_expected(d, "an object", ep);
                e->n_endpoints++;
                out->ready = true;
                r = dec_strdup(d, ep, "nodeName", false, STR_DNS_SUBDOMAIN, 1, K8S_NAME_MAX,
                               &out->node_name);
                if (r < 0)
                        return r;
                r = dec_container(d, ep, "conditions", false, false, &cond);
                if (r < 0)
                        return r;
                if (cond) {
                        size_t mc = dec_field(d, "conditions");
                        r = dec_bool(d, cond, "ready", false, &out->ready);
                        if (r < 0)
                                return r;
                        dec_pop(d, mc);
                }
                dec_pop(d, mi);
        }
        dec_pop(d, mark);
        return 0;
}

static int dec_node(Dec *d, const json_t *j, Node *n)
{
        json_t *status, *a;
        int r;

        r = dec_container(d, j, "status", false, false, &status);
        if (r <= 0)
                return r;
        size_t mark = dec_field(d, "status");
        r = dec_container(d, status, "addresses", false, true, &a);
        if (r < 0)
                return r;
        if (json_array_size(a) > 0) {
                size_t m = dec_field(d, "addresses");
                n->addresses = calloc(json_array_size(a), sizeof(NodeAddress));
                if (!n->addresses)
                        return -ENOMEM;
                for (size_t i = 0; i < json_array_size(a); i++) {
                        json_t *e = json_array_get(a, i);
                        NodeAddress *na = &n->addresses[n->n_addresses];
                        size_t mi = dec_push(d, "[%zu]", i);
                        if (!json_is_object(e))
                                return dec_expected(d, "an object", e);
                        n->n_addresses++;
                        r = dec_strdup(d, e, "type", true, STR_TEXT, 1, CTL_TEXT_MAX, &na->type);
                        if (r < 0)
                                return r;
                        r = dec_strdup(d, e, "address", true, STR_TEXT, 1, CTL_TEXT_MAX,
                                       &na->address);
                        if (r < 0)
                                return r;
                        dec_pop(d, mi);
                }
                dec_pop(d, m);
        }
        r = dec_container(d, status, "conditions", false, true, &a);
        if (r < 0)
                return r;
        size_t m = dec_field(d, "conditions");
        for (size_t i = 0; i < json_array_size(a); i++) {
                json_t *c = json_array_get(a, i);
                const char *type = NULL, *st = NULL;
                size_t mi = dec_push(d, "[%zu]", i);
                if (!json_is_object(c))
                        return dec_expected(d, "an object", c);
                r = dec_string(d, c, "type", true, STR_ANY, 1, CTL_TEXT_MAX, &type);
                if (r < 0)
                        return r;
                r = dec_string(d, c, "status", true, STR_ANY, 1, CTL_TEXT_MAX, &st);
                if (r < 0)
                        return r;
                if (strcmp(type, "Ready") == 0)
                        n->ready = strcmp(st, "True") == 0;
                else if (strcmp(type, "NetworkUnavailable") == 0)
                        n->network_unavailable = strcmp(st, "True") == 0;
                dec_pop(d, mi);
        }
        dec_pop(d, m);
        dec_pop(d, mark);
        return 0;
}

static int dec_object(Dec *d, ObjKind kind, const json_t *j, void **ret)
{
        _cleanup_(obj_freep) void *obj = NULL;
        int r;

        if (!json_is_object(j))
                return dec_expected(d, "an object", j);
        obj = obj_new(kind);
        if (!obj)
                return -ENOMEM;
        r = dec_meta(d, j, kind, obj);
        if (r < 0)
                return r;
        switch (kind) {
        case OBJ_SERVICE:
                r = dec_service(d, j, obj);
                break;
        case OBJ_ENDPOINT_SLICE:
                r = dec_endpoint_slice(d, j, obj);
                break;
        case OBJ_NODE:
                r = dec_node(d, j, obj);
                break;
        default:
                r = 0;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(obj);
        return 0;
}

int ctl_object_from_json(ObjKind kind, const json_t *j, const char *path, unsigned line_no,
                         void **ret, CtlError *err)
{
        Dec d = {.err = err, .line = line_no};
        if (kind < 0 || kind >= _OBJ_KIND_MAX)
                return -EINVAL;
        if (path)
                dec_push(&d, "%s", path);
        return dec_object(&d, kind, j, ret);
}

/* ---- requests ----------------------------------------------------------------------- */

CtlRequest *ctl_request_free(CtlRequest *r)
{
        if (!r)
                return NULL;
        switch (r->op) {
        case CTL_OP_HELLO:
                free(r->hello.client);
                free(r->hello.node);
                break;
        case CTL_OP_SYNC:
                model_free(r->sync.objects);
                break;
        case CTL_OP_UPSERT:
                obj_free(r->upsert.object);
                break;
        case CTL_OP_DELETE:
                free(r->del.namespace);
                free(r->del.name);
                free(r->del.uid);
                break;
        default:
                break;
        }
        json_decref(r->id);
        free(r);
        return NULL;
}

static int dec_kind(Dec *d, const json_t *o, ObjKind *ret)
{
        const char *k = NULL;
        int r = dec_string(d, o, "kind", true, STR_ANY, 1, CTL_TEXT_MAX, &k);
        if (r < 0)
                return r;
        ObjKind kind = obj_kind_from_string(k);
        if (kind < 0) {
                char b[64];
                size_t m = dec_field(d, "kind");
                r = dec_fail(d, CTL_ERR_UNKNOWN_KIND,
                             "unknown kind %s (known: Service, EndpointSlice, Node, Namespace)",
                             show(field(o, "kind"), b));
                dec_pop(d, m);
                return r;
        }
        *ret = kind;
        return 0;
}

/* Index of the first element of arr before `before` whose metadata names key. */
static size_t find_first(const json_t *arr, size_t before, ObjKind kind, const char *key)
{
        for (size_t i = 0; i < before; i++) {
                json_t *md = json_object_get(json_array_get(arr, i), "metadata");
                const char *ns = json_string_value(json_object_get(md, "namespace"));
                const char *name = json_string_value(json_object_get(md, "name"));
                char k[OBJ_KEY_MAX];
                if (name && obj_key(k, sizeof(k), obj_kind_namespaced(kind) ? ns : NULL, name) &&
                    strcmp(k, key) == 0)
                        return i;
        }
        return before;
}

static int dec_sync(Dec *d, const json_t *o, CtlRequest *req)
{
        int r;

        r = dec_bool(d, o, "more", false, &req->sync.more);
        if (r >= 0)
                r = dec_bool(d, o, "continue", false, &req->sync.cont);
        if (r < 0)
                return r;
        r = model_new(&req->sync.objects);
        if (r < 0)
                return r;
        for (ObjKind k = 0; k < _OBJ_KIND_MAX; k++) {
                json_t *a;
                /* The first (or only) message of a sync names every kind, so that leaving
                 * one out by mistake cannot empty it. */
                r = dec_container(d, o, sync_arrays[k], !req->sync.cont, true, &a);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < json_array_size(a); i++) {
                        void *obj = NULL;
                        size_t m = dec_push(d, "%s[%zu]", sync_arrays[k], i);
                        r = dec_object(d, k, json_array_get(a, i), &obj);
                        if (r < 0)
                                return r;
                        char key[OBJ_KEY_MAX];
                        snprintf(key, sizeof(key), "%s", ((ObjMeta *)obj)->key);
                        r = model_add(req->sync.objects, obj);
                        if (r < 0)
                                return r;
                        if (r == MODEL_DUPLICATE)
                                return dec_fail(d, CTL_ERR_DUPLICATE,
                                                "duplicate %s %s (the same as %s[%zu])",
                                                obj_kind_to_string(k), key, sync_arrays[k],
                                                find_first(a, i, k, key));
                        dec_pop(d, m);
                }
        }
        return 0;
}

static int parse_request(const char *line, size_t len, unsigned line_no, CtlRequest **ret,
                         json_t **ret_id, CtlError *err)
{
        _cleanup_(ctl_request_freep) CtlRequest *req = NULL;
        json_t *root;
        json_error_t jerr;
        Dec d = {.err = err, .line = line_no};
        const char *op = NULL, *nul;
        int r;

        if (len > CTL_LINE_MAX)
                return ctl_error_set(err, CTL_ERR_LINE_TOO_LONG, "line %u: longer than %u bytes",
                                     line_no, CTL_LINE_MAX);
        nul = memchr(line, 0, len);
        if (nul)
                return ctl_error_set(err, CTL_ERR_BAD_JSON, "line %u: column %zu: NUL byte",
                                     line_no, (size_t)(nul - line) + 1);
        root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                if (json_error_code(&jerr) == json_error_out_of_memory)
                        return -ENOMEM;
                return ctl_error_set(err, CTL_ERR_BAD_JSON, "line %u: column %d: %s", line_no,
                                     jerr.column, jerr.text);
        }
        _cleanup_(json_decrefp) json_t *j = root;
        if (!json_is_object(j))
                return dec_expected(&d, "a JSON object", j);

        req = calloc(1, sizeof(*req));
        if (!req)
                return -ENOMEM;
        req->op = _CTL_OP_INVALID;
        req->line = line_no;

        json_t *id = field(j, "id");
        if (id) {
                if (!(json_is_integer(id) ||
                      (json_is_string(id) && json_string_length(id) <= CTL_ID_MAX &&
                       strlen(json_string_value(id)) == json_string_length(id)))) {
                        size_t m = dec_field(&d, "id");
                        r = dec_expected(&d, "a string (at most 256 bytes) or an integer", id);
                        dec_pop(&d, m);
                        return r;
                }
                req->id = json_incref(id);
                *ret_id = json_incref(id);
        }

        r = dec_string(&d, j, "op", true, STR_ANY, 1, CTL_TEXT_MAX, &op);
        if (r < 0)
                return r;
        CtlOp o = ctl_op_from_string(op);
        if (o < 0) {
                char b[64];
                size_t m = dec_field(&d, "op");
                r = dec_fail(&d, CTL_ERR_UNKNOWN_OP,
                             "unknown operation %s (known: hello, sync, upsert, delete, leader, "
                             "status, pools, services, peers, reload)",
                             show(field(j, "op"), b));
                dec_pop(&d, m);
                return r;
        }
        req->op = o;

        switch (o) {
        case CTL_OP_HELLO: {
                json_int_t v = 0;
                r = dec_int(&d, j, "version", true, 1, 65535, &v);
                if (r < 0)
                        return r;
                req->hello.version = (unsigned)v;
                r = dec_strdup(&d, j, "client", true, STR_TEXT, 1, CTL_TEXT_MAX,
                               &req->hello.client);
                if (r >= 0)
                        r = dec_strdup(&d, j, "node", false, STR_TEXT, 1, K8S_NAME_MAX,
                                       &req->hello.node);
                if (r >= 0)
                        r = dec_bool(&d, j, "subscribe", false, &req->hello.subscribe);
                break;
        }
        case CTL_OP_SYNC:
                r = dec_sync(&d, j, req);
                break;
        case CTL_OP_UPSERT: {
                json_t *obj;
                r = dec_kind(&d, j, &req->upsert.kind);
                if (r >= 0)
                        r = dec_container(&d, j, "object", true, false, &obj);
                if (r >= 0) {
                        size_t m = dec_field(&d, "object");
                        r = dec_object(&d, req->upsert.kind, obj, &req->upsert.object);
                        dec_pop(&d, m);
                }
                break;
        }
        case CTL_OP_DELETE: {
                ObjKind k;
                r = dec_kind(&d, j, &k);
                if (r < 0)
                        return r;
                req->del.kind = k;
                if (obj_kind_namespaced(k))
                        r = dec_strdup(&d, j, "namespace", true, STR_DNS_LABEL, 1,
                                       K8S_LABEL_NAME_MAX, &req->del.namespace);
                else if (field(j, "namespace")) {
                        size_t m = dec_field(&d, "namespace");
                        r = dec_fail(&d, CTL_ERR_BAD_MESSAGE, "a %s has no namespace",
                                     obj_kind_to_string(k));
                        dec_pop(&d, m);
                }
                bool label = k == OBJ_SERVICE || k == OBJ_NAMESPACE;
                if (r >= 0)
                        r = dec_strdup(&d, j, "name", true,
                                       label ? STR_DNS_LABEL : STR_DNS_SUBDOMAIN, 1,
                                       label ? K8S_LABEL_NAME_MAX : K8S_NAME_MAX, &req->del.name);
                if (r >= 0)
                        r = dec_strdup(&d, j, "uid", false, STR_TEXT, 1, K8S_UID_MAX,
                                       &req->del.uid);
                break;
        }
        case CTL_OP_LEADER:
                r = dec_bool(&d, j, "leader", true, &req->leader.leader);
                break;
        default:
                r = 0; /* queries and reload take no arguments */
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(req);
        return 0;
}

int ctl_request_parse(const char *line, size_t len, unsigned line_no, CtlRequest **ret,
                      CtlError *err)
{
        json_t *id = NULL;

        ctl_error_clear(err);
        int r = parse_request(line, len, line_no, ret, &id, err);
        if (r == -EINVAL)
                err->id = TAKE_PTR(id);
        json_decref(id);
        return r;
}

int ctl_check_version(const CtlRequest *hello, CtlError *err)
{
        unsigned v = hello->hello.version;
        if (v >= CTL_PROTOCOL_VERSION_MIN && v <= CTL_PROTOCOL_VERSION_MAX)
                return 0;
        return ctl_error_set(err, CTL_ERR_VERSION_MISMATCH,
                             "line %u: version: client speaks version %u, this mlbd speaks "
                             "versions %u-%u",
                             hello->line, v, CTL_PROTOCOL_VERSION_MIN, CTL_PROTOCOL_VERSION_MAX);
}

int ctl_sync_gather(Model **pending, CtlRequest *part, CtlError *err)
{
        ObjKind k;
        char key[OBJ_KEY_MAX];
        size_t total = 0;
        int r;

        if (part->op != CTL_OP_SYNC || !part->sync.objects)
                return -EINVAL;
        if (part->sync.cont && !*pending)
                return ctl_error_set(err, CTL_ERR_BAD_MESSAGE,
                                     "line %u: continue: no unfinished sync on this connection",
                                     part->line);
        if (!part->sync.cont && *pending)
                *pending = model_free(*pending); /* a new sync drops an unfinished one */
        if (!*pending) {
                r = model_new(pending);
                if (r < 0)
                        return r;
        }
        for (k = 0; k < _OBJ_KIND_MAX; k++)
                total += model_count(*pending, k) + model_count(part->sync.objects, k);
        if (total > CTL_SYNC_OBJECTS_MAX)
                return ctl_error_set(err, CTL_ERR_TOO_MANY_OBJECTS,
                                     "line %u: sync holds %zu objects, at most %u", part->line,
                                     total, CTL_SYNC_OBJECTS_MAX);
        r = model_merge(*pending, part->sync.objects, &k, key);
        if (r < 0)
                return r;
        if (r == MODEL_DUPLICATE)
                return ctl_error_set(err, CTL_ERR_DUPLICATE,
                                     "line %u: %s %s was already sent in an earlier part of this "
                                     "sync",
                                     part->line, obj_kind_to_string(k), key);
        return 0;
}

/* ---- encoding ----------------------------------------------------------------------- */

int ctl_encode(const json_t *msg, char **ret, size_t *ret_len)
{
        char *s = json_dumps(msg, JSON_COMPACT);
        if (!s)
                return -ENOMEM;
        size_t n = strlen(s);
        char *l = realloc(s, n + 2);
        if (!l) {
                free(s);
                return -ENOMEM;
        }
        l[n] = '\n';
        l[n + 1] = 0;
        *ret = l;
        if (ret_len)
                *ret_len = n + 1;
        return 0;
}

/* A JSON string; text that is not valid UTF-8 (a reason copied from somewhere) has its
 * bytes >= 0x80 replaced by '?' rather than failing the whole message. NULL -> null. */
static json_t *jstr(const char *s)
{
        if (!s)
                return json_null();
        json_t *v = json_string(s);
        if (v)
                return v;
        _cleanup_free_ char *c = strdup(s);
        if (!c)
                return NULL;
        for (char *p = c; *p; p++)
                if ((unsigned char)*p >= 0x80)
                        *p = '?';
        return json_string(c);
}

static json_t *jaddr(u128 a)
{
        char b[ADDR_STR_MAX];
        return json_string(addr_format(a, b));
}

static json_t *jaddrs(const u128 *a, size_t n)
{
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++)
                if (json_array_append_new(arr, jaddr(a[i])) < 0)
                        arr = (json_decref(arr), NULL);
        return arr;
}

static json_t *jcount(const AddrCount *c)
{
        char b[COUNT_STR_MAX];
        if (c->overflow)
                return json_string("340282366920938463463374607431768211456");
        return json_string(u128_format(c->n, b));
}

/* Builder: collects failures so encoders can set fields without checking each one. */
typedef struct Msg {
        json_t *o;
        bool failed;
} Msg;

/* Sets key to v, consuming v in every case (as json_object_set_new() does). */
static void put(Msg *m, const char *key, json_t *v)
{
        if (!m->o) {
                json_decref(v);
                m->failed = true;
        } else if (!v || json_object_set_new(m->o, key, v) < 0)
                m->failed = true;
}

/* Appends a finished entry to arr, consuming it. */
static void append(Msg *m, json_t *arr, Msg *e)
{
        if (e->failed || !arr) {
                json_decref(e->o);
                m->failed = true;
        } else if (json_array_append_new(arr, e->o) < 0)
                m->failed = true;
        e->o = NULL;
}

static Msg msg_begin(const char *op, const json_t *id)
{
        Msg m = {.o = json_object()};
        put(&m, "op", json_string(op));
        if (id)
                put(&m, "id", json_incref((json_t *)id));
        return m;
}

static int msg_end(Msg *m, char **ret, size_t *ret_len)
{
        int r = m->failed ? -ENOMEM : ctl_encode(m->o, ret, ret_len);
        json_decref(m->o);
        m->o = NULL;
        return r;
}

static json_t *jint(uint64_t v)
{
        return json_integer((json_int_t)MIN(v, (uint64_t)INT64_MAX));
}

int ctl_reply_error(const CtlError *e, char *const *diagnostics, size_t n_diagnostics, char **ret,
                    size_t *ret_len)
{
        Msg m = msg_begin("error", e->id);
        const char *code = ctl_error_code_to_string(e->code);
        put(&m, "error", json_string(code ? code : "internal"));
        put(&m, "detail", jstr(e->detail));
        if (e->code == CTL_ERR_VERSION_MISMATCH) {
                put(&m, "min_version", json_integer(CTL_PROTOCOL_VERSION_MIN));
                put(&m, "max_version", json_integer(CTL_PROTOCOL_VERSION_MAX));
        }
        if (n_diagnostics > 0) {
                json_t *a = json_array();
                for (size_t i = 0; a && i < n_diagnostics; i++)
                        if (json_array_append_new(a, jstr(diagnostics[i])) < 0)
                                m.failed = true;
                put(&m, "diagnostics", a);
        }
        return msg_end(&m, ret, ret_len);
}

int ctl_reply_hello(const json_t *id, const CtlHelloReply *h, char **ret, size_t *ret_len)
{
        Msg m = msg_begin("hello", id);
        put(&m, "version", json_integer(h->version));
        put(&m, "min_version", json_integer(CTL_PROTOCOL_VERSION_MIN));
        put(&m, "max_version", json_integer(CTL_PROTOCOL_VERSION_MAX));
        put(&m, "server", json_string("mlbd"));
        put(&m, "server_version", jstr(h->server_version));
        put(&m, "node", jstr(h->node));
        return msg_end(&m, ret, ret_len);
}

int ctl_reply_sync(const json_t *id, const CtlSyncReply *s, char **ret, size_t *ret_len)
{
        Msg m = msg_begin("sync", id);
        put(&m, "pending", json_boolean(s->pending));
        put(&m, "generation", jint(s->generation));
        for (ObjKind k = 0; k < _OBJ_KIND_MAX; k++)
                put(&m, sync_arrays[k], jint(s->counts[k]));
        return msg_end(&m, ret, ret_len);
}

static const char *result_word(int result)
{
        switch (result) {
        case MODEL_CREATED:
                return "created";
        case MODEL_UPDATED:
                return "updated";
        case MODEL_DELETED:
                return "deleted";
        case MODEL_ABSENT:
                return "absent";
        case MODEL_UID_MISMATCH:
                return "uid_mismatch";
        default:
                return NULL;
        }
}

int ctl_reply_change(const json_t *id, CtlOp op, ObjKind kind, const char *key, int result,
                     uint64_t generation, char **ret, size_t *ret_len)
{
        if ((op != CTL_OP_UPSERT && op != CTL_OP_DELETE) || !result_word(result) ||
            !obj_kind_to_string(kind))
                return -EINVAL;
        Msg m = msg_begin(ctl_op_to_string(op), id);
        put(&m, "kind", json_string(obj_kind_to_string(kind)));
        put(&m, "key", jstr(key));
        put(&m, "result", json_string(result_word(result)));
        put(&m, "generation", jint(generation));
        return msg_end(&m, ret, ret_len);
}

int ctl_reply_leader(const json_t *id, bool leader, char **ret, size_t *ret_len)
{
        Msg m = msg_begin("leader", id);
        put(&m, "leader", json_boolean(leader));
        return msg_end(&m, ret, ret_len);
}

static json_t *jstrs(char *const *v, size_t n)
{
        json_t *a = json_array();
        for (size_t i = 0; a && i < n; i++)
                if (json_array_append_new(a, jstr(v[i])) < 0)
                        a = (json_decref(a), NULL);
        return a;
}

int ctl_reply_reload(const json_t *id, const CtlReloadReply *r, char **ret, size_t *ret_len)
{
        Msg m = msg_begin("reload", id);
        put(&m, "pools", jint(r->n_pools));
        put(&m, "addresses", jcount(&r->addresses));
        put(&m, "warnings", jstrs(r->warnings, r->n_warnings));
        return msg_end(&m, ret, ret_len);
}

int ctl_reply_status(const json_t *id, const CtlStatus *s, char **ret, size_t *ret_len)
{
        Msg m = msg_begin("status", id);
        put(&m, "node", jstr(s->node));
        put(&m, "version", jstr(s->version));
        put(&m, "leader", json_boolean(s->leader));
        put(&m, "bridge_connected", json_boolean(s->bridge_connected));
        put(&m, "generation", jint(s->generation));
        json_t *svc = json_object();
        if (svc && (json_object_set_new(svc, "total", jint(s->services)) < 0 ||
                    json_object_set_new(svc, "allocated", jint(s->services_allocated)) < 0 ||
                    json_object_set_new(svc, "failed", jint(s->services_failed)) < 0))
                m.failed = true;
        put(&m, "services", svc);
        put(&m, "owned", jaddrs(s->owned, s->n_owned));
        json_t *peers = json_object();
        if (peers && (json_object_set_new(peers, "alive", jint(s->peers_alive)) < 0 ||
                      json_object_set_new(peers, "total", jint(s->peers_total)) < 0))
                m.failed = true;
        put(&m, "peers", peers);
        return msg_end(&m, ret, ret_len);
}

int ctl_reply_pools(const json_t *id, const CtlPoolInfo *p, size_t n, char **ret, size_t *ret_len)
{
        Msg m = msg_begin("pools", id);
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++) {
                Msg e = {.o = json_object()};
                char b[RANGE_STR_MAX];
                json_t *ranges = json_array();
                for (size_t k = 0; ranges && k < p[i].n_ranges; k++)
                        if (json_array_append_new(
                                ranges, json_string(range_format_cidr(&p[i].ranges[k], b))) < 0)
                                e.failed = true;
                AddrCount used = {.n = p[i].used}, freec = p[i].size;
                /* free = size - used, where size may be 2^128 (overflow set) */
                if (p[i].size.overflow) {
                        freec.n = -p[i].used;
                        freec.overflow = p[i].used == 0;
                } else
                        freec.n = p[i].size.n > p[i].used ? p[i].size.n - p[i].used : 0;
                put(&e, "name", jstr(p[i].name));
                put(&e, "ranges", ranges);
                put(&e, "auto_assign", json_boolean(p[i].auto_assign));
                put(&e, "size", jcount(&p[i].size));
                put(&e, "used", jcount(&used));
                put(&e, "free", jcount(&freec));
                append(&m, arr, &e);
        }
        put(&m, "pools", arr);
        return msg_end(&m, ret, ret_len);
}

int ctl_reply_services(const json_t *id, const CtlServiceInfo *s, size_t n, char **ret,
                       size_t *ret_len)
{
        Msg m = msg_begin("services", id);
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++) {
                Msg e = {.o = json_object()};
                put(&e, "namespace", jstr(s[i].namespace));
                put(&e, "name", jstr(s[i].name));
                put(&e, "uid", jstr(s[i].uid));
                put(&e, "state", jstr(s[i].state));
                put(&e, "addresses", jaddrs(s[i].addresses, s[i].n_addresses));
                put(&e, "pool", jstr(s[i].pool));
                put(&e, "owner", jstr(s[i].owner));
                put(&e, "sharing_key", jstr(s[i].sharing_key));
                put(&e, "reason", jstr(s[i].reason));
                append(&m, arr, &e);
        }
        put(&m, "services", arr);
        return msg_end(&m, ret, ret_len);
}

int ctl_reply_peers(const json_t *id, const CtlPeerInfo *p, size_t n, const CtlCounter *dropped,
                    size_t n_dropped, char **ret, size_t *ret_len)
{
        Msg m = msg_begin("peers", id);
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++) {
                Msg e = {.o = json_object()};
                char inc[17];
                snprintf(inc, sizeof(inc), "%016llx", (unsigned long long)p[i].incarnation);
                put(&e, "name", jstr(p[i].name));
                put(&e, "address", jstr(p[i].address));
                put(&e, "state", jstr(p[i].state));
                put(&e, "self", json_boolean(p[i].self));
                put(&e, "last_seen_ms",
                    p[i].last_seen_ms < 0 ? json_null() : json_integer(p[i].last_seen_ms));
                put(&e, "incarnation", json_string(inc));
                put(&e, "owned", jint(p[i].owned));
                append(&m, arr, &e);
        }
        put(&m, "peers", arr);
        Msg d = {.o = json_object()};
        for (size_t i = 0; i < n_dropped; i++)
                put(&d, dropped[i].name, jint(dropped[i].value));
        if (d.failed) {
                json_decref(d.o);
                d.o = NULL;
        }
        put(&m, "heartbeats_dropped", d.o);
        return msg_end(&m, ret, ret_len);
}

int ctl_reply_events(const json_t *id, const CtlEventInfo *ev, size_t n, char **ret,
                     size_t *ret_len)
{
        Msg m = msg_begin("events", id);
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++) {
                Msg e = {.o = json_object()};
                put(&e, "time", jstr(ev[i].time));
                put(&e, "type", jstr(ev[i].type));
                put(&e, "address", ev[i].address ? jstr(ev[i].address) : json_null());
                put(&e, "peer", ev[i].peer ? jstr(ev[i].peer) : json_null());
                put(&e, "message", jstr(ev[i].message));
                append(&m, arr, &e);
        }
        put(&m, "events", arr);
        return msg_end(&m, ret, ret_len);
}

int ctl_notify_allocated(const char *service, const char *uid, const u128 *addresses, size_t n,
                         const char *pool, char **ret, size_t *ret_len)
{
        Msg m = msg_begin("allocated", NULL);
        put(&m, "service", jstr(service));
        put(&m, "uid", jstr(uid));
        put(&m, "addresses", jaddrs(addresses, n));
        put(&m, "pool", jstr(pool));
        return msg_end(&m, ret, ret_len);
}

int ctl_notify_allocation_failed(const char *service, const char *uid, const char *reason,
                                 char **ret, size_t *ret_len)
{
        Msg m = msg_begin("allocation_failed", NULL);
        put(&m, "service", jstr(service));
        put(&m, "uid", jstr(uid));
        put(&m, "reason", jstr(reason));
        return msg_end(&m, ret, ret_len);
}

int ctl_notify_node_assigned(const char *service, const char *uid, u128 address, const char *node,
                             char **ret, size_t *ret_len)
{
        Msg m = msg_begin("node_assigned", NULL);
        put(&m, "service", jstr(service));
        put(&m, "uid", jstr(uid));
        put(&m, "address", jaddr(address));
        put(&m, "node", jstr(node));
        return msg_end(&m, ret, ret_len);
}

int ctl_notify_released(const char *service, const char *uid, const u128 *addresses, size_t n,
                        char **ret, size_t *ret_len)
{
        Msg m = msg_begin("released", NULL);
        put(&m, "service", jstr(service));
        put(&m, "uid", jstr(uid));
        put(&m, "addresses", jaddrs(addresses, n));
        return msg_end(&m, ret, ret_len);
}

int ctl_request_encode_simple(CtlOp op, const json_t *id, char **ret, size_t *ret_len)
{
        if (op < CTL_OP_STATUS || op > CTL_OP_EVENTS)
                return -EINVAL;
        Msg m = msg_begin(ctl_op_to_string(op), id);
        return msg_end(&m, ret, ret_len);
}

int ctl_request_encode_hello(const json_t *id, unsigned version, const char *client,
                             const char *node, bool subscribe, char **ret, size_t *ret_len)
{
        Msg m = msg_begin("hello", id);
        put(&m, "version", json_integer(version));
        put(&m, "client", jstr(client));
        if (node)
                put(&m, "node", jstr(node));
        put(&m, "subscribe", json_boolean(subscribe));
        return msg_end(&m, ret, ret_len);
}

int ctl_request_encode_leader(const json_t *id, bool leader, char **ret, size_t *ret_len)
{
        Msg m = msg_begin("leader", id);
        put(&m, "leader", json_boolean(leader));
        return msg_end(&m, ret, ret_len);
}

/* ---- client side -------------------------------------------------------------------- */

void ctl_notification_clear(CtlNotification *n)
{
        free(n->service);
        free(n->namespace);
        free(n->name);
        free(n->uid);
        free(n->addresses);
        free(n->pool);
        free(n->node);
        free(n->reason);
        *n = (CtlNotification){0};
}

static int dec_address_value(Dec *d, const json_t *v, u128 *ret)
{
        const char *s = NULL;
        char b[64];
        int r = dec_string_value(d, v, STR_ANY, 1, ADDR_STR_MAX, &s);
        if (r < 0)
                return r;
        if (!addr_parse(s, ret))
                return dec_fail(d, CTL_ERR_BAD_MESSAGE, "expected an IP address, got %s",
                                show(v, b));
        return 0;
}

static int dec_notification(Dec *d, const json_t *j, CtlNotifyType type, CtlNotification *n)
{
        const char *svc = NULL;
        json_t *a;
        int r;

        n->type = type;
        r = dec_string(d, j, "service", true, STR_ANY, 3, OBJ_KEY_MAX, &svc);
        if (r < 0)
                return r;
        const char *slash = strchr(svc, '/');
        if (!slash || !dns_label_ok(svc, (size_t)(slash - svc)) ||
            !dns_label_ok(slash + 1, strlen(slash + 1))) {
                size_t m = dec_field(d, "service");
                r = dec_expected(d, "\"namespace/name\"", field(j, "service"));
                dec_pop(d, m);
                return r;
        }
        n->service = strdup(svc);
        n->namespace = strndup(svc, (size_t)(slash - svc));
        n->name = strdup(slash + 1);
        if (!n->service || !n->namespace || !n->name)
                return -ENOMEM;
        r = dec_strdup(d, j, "uid", false, STR_TEXT, 1, K8S_UID_MAX, &n->uid);
        if (r < 0)
                return r;
        switch (type) {
        case CTL_NOTIFY_ALLOCATED:
        case CTL_NOTIFY_RELEASED:
                r = dec_container(d, j, "addresses", true, true, &a);
                if (r < 0)
                        return r;
                if (json_array_size(a) > 16) {
                        size_t m = dec_field(d, "addresses");
                        r = dec_fail(d, CTL_ERR_BAD_MESSAGE, "more than 16 addresses");
                        dec_pop(d, m);
                        return r;
                }
                n->addresses = calloc(MAX(json_array_size(a), (size_t)1), sizeof(u128));
                if (!n->addresses)
                        return -ENOMEM;
                for (size_t i = 0; i < json_array_size(a); i++) {
                        size_t m = dec_push(d, "addresses[%zu]", i);
                        r = dec_address_value(d, json_array_get(a, i), &n->addresses[i]);
                        if (r < 0)
                                return r;
                        n->n_addresses++;
                        dec_pop(d, m);
                }
                if (type == CTL_NOTIFY_ALLOCATED)
                        r = dec_strdup(d, j, "pool", false, STR_TEXT, 1, CTL_TEXT_MAX, &n->pool);
                return r < 0 ? r : 0;
        case CTL_NOTIFY_ALLOCATION_FAILED:
                r = dec_strdup(d, j, "reason", true, STR_ANY, 1, CTL_TEXT_MAX, &n->reason);
                return r < 0 ? r : 0;
        case CTL_NOTIFY_NODE_ASSIGNED: {
                json_t *v = field(j, "address");
                if (!v)
                        return dec_missing(d, "address");
                n->addresses = calloc(1, sizeof(u128));
                if (!n->addresses)
                        return -ENOMEM;
                size_t m = dec_field(d, "address");
                r = dec_address_value(d, v, &n->addresses[0]);
                if (r < 0)
                        return r;
                dec_pop(d, m);
                n->n_addresses = 1;
                /* null: no live node is eligible to announce it */
                if (json_is_null(json_object_get(j, "node")))
                        return 0;
                r = dec_strdup(d, j, "node", true, STR_TEXT, 1, K8S_NAME_MAX, &n->node);
                return r < 0 ? r : 0;
        }
        default:
                return -EINVAL;
        }
}

int ctl_message_parse(const char *line, size_t len, unsigned line_no, json_t **msg,
                      CtlNotification *ret, bool *is_notification, CtlError *err)
{
        json_error_t jerr;
        Dec d = {.err = err, .line = line_no};
        const char *op = NULL;
        int r;

        ctl_error_clear(err);
        *is_notification = false;
        if (len > CTL_LINE_MAX)
                return ctl_error_set(err, CTL_ERR_LINE_TOO_LONG, "line %u: longer than %u bytes",
                                     line_no, CTL_LINE_MAX);
        const char *nul = memchr(line, 0, len);
        if (nul)
                return ctl_error_set(err, CTL_ERR_BAD_JSON, "line %u: column %zu: NUL byte",
                                     line_no, (size_t)(nul - line) + 1);
        _cleanup_(json_decrefp) json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!j) {
                if (json_error_code(&jerr) == json_error_out_of_memory)
                        return -ENOMEM;
                return ctl_error_set(err, CTL_ERR_BAD_JSON, "line %u: column %d: %s", line_no,
                                     jerr.column, jerr.text);
        }
        if (!json_is_object(j))
                return dec_expected(&d, "a JSON object", j);
        r = dec_string(&d, j, "op", true, STR_ANY, 1, CTL_TEXT_MAX, &op);
        if (r < 0)
                return r;
        CtlNotifyType t = ctl_notify_type_from_string(op);
        if (t >= 0) {
                CtlNotification n = {};
                r = dec_notification(&d, j, t, &n);
                if (r < 0) {
                        ctl_notification_clear(&n);
                        return r;
                }
                *ret = n;
                *is_notification = true;
        }
        *msg = TAKE_PTR(j);
        return 0;
}
