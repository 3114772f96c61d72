/* SPDX-License-Identifier: MIT */
/*
 * kubeconfig parser (libyaml document API) and the in-cluster configuration; see
 * kubeconfig.h for what is read and the invariants of the result.
 *
 * Two passes over the document. The first walks every cluster, user and context entry
 * and checks what kubectl's decoder would (types, base64, duplicate keys and names),
 * keeping only each entry's name and node, so memory stays small whatever the number of
 * entries. If that found no error, the selected context, its cluster and its user are
 * walked again to fill the result, and only they get the semantic checks.
 * The walk is driven by the schema: it only descends into nodes it expects, so its depth
 * is fixed; budgets on visits and on decoded bytes (relative to the input's own size) stop
 * aliases from multiplying the work. Scalars of the document are wiped before it is freed
 * (they hold tokens and keys), as are decoded keys and tokens in a KubeConfig.
 */
#include <arpa/inet.h>
#include <sodium.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "kubeconfig.h"
#include "util/fileio.h"
#include "util/textpos.h"
#include "util/yaml-node.h"

typedef struct Pos {
        unsigned line, column;
} Pos;

typedef enum FieldKind {
        F_STRING,      /* a scalar without control characters; "" is unset */
        F_PATH,        /* the same, resolved against the file's directory */
        F_PEM,         /* base64 of PEM */
        F_BOOL,        /* true or false */
        F_LIST,        /* a sequence */
        F_MAP,         /* a mapping */
        F_UNSUPPORTED, /* anything but null: refused when its entry is used */
} FieldKind;

typedef struct FieldSpec {
        const char *key;
        FieldKind kind;
} FieldSpec;

/* One known key of a mapping, as found. Null values leave the field unset (value NULL),
 * as they do for kubectl. */
typedef struct Field {
        const yaml_node_t *key, *raw; /* the key and its value as written */
        const yaml_node_t *value;     /* raw, unless null, empty or refused */
        const char *str;              /* F_STRING, F_PATH */
        uint8_t *bytes;               /* F_PEM, decoded and NUL-terminated */
        size_t len;
        bool b; /* F_BOOL */
} Field;

enum {
        ROOT_API_VERSION,
        ROOT_KIND,
        ROOT_CLUSTERS,
        ROOT_USERS,
        ROOT_CONTEXTS,
        ROOT_CURRENT,
        _ROOT_N
};
static const FieldSpec root_specs[_ROOT_N] = {
    [ROOT_API_VERSION] = {"apiVersion", F_STRING}, [ROOT_KIND] = {"kind", F_STRING},
    [ROOT_CLUSTERS] = {"clusters", F_LIST},        [ROOT_USERS] = {"users", F_LIST},
    [ROOT_CONTEXTS] = {"contexts", F_LIST},        [ROOT_CURRENT] = {"current-context", F_STRING},
};

enum { CL_SERVER, CL_CA, CL_CA_DATA, CL_INSECURE, CL_TLS_NAME, _CL_N };
static const FieldSpec cluster_specs[_CL_N] = {
    [CL_SERVER] = {"server", F_STRING},
    [CL_CA] = {"certificate-authority", F_PATH},
    [CL_CA_DATA] = {"certificate-authority-data", F_PEM},
    [CL_INSECURE] = {"insecure-skip-tls-verify", F_BOOL},
    [CL_TLS_NAME] = {"tls-server-name", F_STRING},
};

enum {
        US_CERT,
        US_CERT_DATA,
        US_KEY,
        US_KEY_DATA,
        US_TOKEN,
        US_TOKEN_FILE,
        US_EXEC,
        US_AUTH_PROVIDER,
        US_USERNAME,
        US_PASSWORD,
        US_AS,
        US_AS_GROUPS,
        US_AS_UID,
        US_AS_EXTRA,
        _US_N,
};
static const FieldSpec user_specs[_US_N] = {
    [US_CERT] = {"client-certificate", F_PATH},
    [US_CERT_DATA] = {"client-certificate-data", F_PEM},
    [US_KEY] = {"client-key", F_PATH},
    [US_KEY_DATA] = {"client-key-data", F_PEM},
    [US_TOKEN] = {"token", F_STRING},
    [US_TOKEN_FILE] = {"tokenFile", F_PATH},
    [US_EXEC] = {"exec", F_UNSUPPORTED},
    [US_AUTH_PROVIDER] = {"auth-provider", F_UNSUPPORTED},
    [US_USERNAME] = {"username", F_UNSUPPORTED},
    [US_PASSWORD] = {"password", F_UNSUPPORTED},
    [US_AS] = {"as", F_UNSUPPORTED},
    [US_AS_GROUPS] = {"as-groups", F_UNSUPPORTED},
    [US_AS_UID] = {"as-uid", F_UNSUPPORTED},
    [US_AS_EXTRA] = {"as-user-extra", F_UNSUPPORTED},
};

enum { CX_CLUSTER, CX_USER, CX_NAMESPACE, _CX_N };
static const FieldSpec context_specs[_CX_N] = {
    [CX_CLUSTER] = {"cluster", F_STRING},
    [CX_USER] = {"user", F_STRING},
    [CX_NAMESPACE] = {"namespace", F_STRING},
};

#define FIELDS_MAX _US_N

enum { ENTRY_NAME, ENTRY_BODY, _ENTRY_N };

/* What the first pass keeps of a cluster, user or context entry. */
typedef struct Entry {
        const char *name;             /* NULL if missing or invalid */
        const yaml_node_t *node;      /* the list item */
        const yaml_node_t *name_node; /* its name's value */
        const yaml_node_t *body;      /* the cluster/user/context mapping, or NULL */
} Entry;

typedef struct EntryList {
        const char *kind; /* "cluster": also the key of the body */
        const FieldSpec *specs;
        size_t n_specs;
        Entry *items;
        size_t n;
} EntryList;

typedef struct Parser {
        const char *file;
        DiagList *diags;
        size_t errors_before; /* diags->n_errors when this parse began */
        Pos end;              /* just after the last character */
        yaml_document_t *doc;
        size_t visits, budget;
        size_t decoded, decode_budget;
        bool over_budget;
        Field root[_ROOT_N];
        EntryList clusters, users, contexts;
} Parser;

/* Each node is visited about once in the first pass; anything far beyond that can only
 * come from aliases re-entering the same subtree. Likewise the scalars decoded cannot add
 * up to more than the input unless aliases repeat them. */
#define VISITS_PER_NODE 4
#define BUDGET_SLACK 1024

static Pos pos_of(const yaml_node_t *n)
{
        return (Pos){(unsigned)MIN(n->start_mark.line + 1, (size_t)UINT32_MAX),
                     (unsigned)MIN(n->start_mark.column + 1, (size_t)UINT32_MAX)};
}

/* "PREFIX: message" at pos; diag_add() keeps counting even when the text cannot be
 * stored. */
_printf_(4, 5) static void say(Parser *p, Pos pos, const char *prefix, const char *fmt, ...)
{
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        /* at the end of the stream libyaml moves its marks to a line that may not exist */
        if (pos.line > p->end.line)
                pos = p->end;
        diag_add(p->diags, DIAG_ERROR, p->file, pos.line, pos.column, "%s%s%s",
                 prefix ? prefix : "", prefix ? ": " : "", msg ? msg : "(out of memory)");
}

#define err(p, node, prefix, ...) say(p, pos_of(node), prefix, __VA_ARGS__)
#define err_file(p, ...) say(p, (Pos){0, 0}, NULL, __VA_ARGS__)

static bool streq(const char *a, const char *b)
{
        return strcmp(a, b) == 0;
}

static const yaml_node_t *node_at(Parser *p, int index)
{
        return yaml_document_get_node(p->doc, index);
}

/* Counts one visit; false once the budget is spent (reported once). */
static bool visit(Parser *p, const yaml_node_t *where)
{
        if (p->over_budget)
                return false;
        if (++p->visits <= p->budget)
                return true;
        p->over_budget = true;
        err(p, where, NULL, "this document is too complex: its aliases expand it beyond %zu nodes",
            p->budget);
        return false;
}

static bool has_control(const char *s, size_t len)
{
        for (size_t i = 0; i < len; i++)
                if ((unsigned char)s[i] < ' ' || s[i] == 0x7f)
                        return true;
        return false;
}

/* Decodes base64 (standard alphabet, padded, whitespace ignored as YAML folds lines) into
 * a NUL-terminated buffer. Returns 0, -EINVAL or -ENOMEM. */
static int decode_base64(const char *s, size_t len, uint8_t **ret, size_t *ret_len)
{
        size_t cap = len / 4 * 3 + 3, n = 0;
        _cleanup_free_ uint8_t *buf = malloc(cap + 1);

        if (!buf)
                return -ENOMEM;
        if (sodium_base642bin(buf, cap, s, len, " \t\r\n", &n, NULL,
                              sodium_base64_VARIANT_ORIGINAL) < 0) {
                sodium_memzero(buf, cap + 1);
                return -EINVAL;
        }
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = n;
        return 0;
}

static bool is_pem(const uint8_t *b, size_t len)
{
        return memmem(b, len, "-----BEGIN ", 11) != NULL;
}

static void field_clear(Field *f)
{
        if (f->bytes) {
                sodium_memzero(f->bytes, f->len);
                free(f->bytes);
        }
        *f = (Field){0};
}

static void fields_clear(Field *f, size_t n)
{
        for (size_t i = 0; i < n; i++)
                field_clear(&f[i]);
}

static int read_scalar(Parser *p, const char *prefix, const char *key, const FieldSpec *spec,
                       const yaml_node_t *v, Field *f)
{
        if (v->type != YAML_SCALAR_NODE) {
                err(p, v, prefix, "%s: expected %s, got %s", key,
                    spec->kind == F_BOOL ? "true or false" : "a string", yaml_node_type_name(v));
                return 0;
        }
        const char *s = (const char *)v->data.scalar.value;
        size_t len = v->data.scalar.length;
        if (strlen(s) != len) {
                err(p, v, prefix, "%s: contains a NUL character", key);
                return 0;
        }
        if (spec->kind != F_PEM && has_control(s, len)) {
                err(p, v, prefix, "%s: contains a control character", key);
                return 0;
        }

        switch (spec->kind) {
        case F_BOOL: {
                static const char *const yes[] = {"true", "True", "TRUE"};
                static const char *const no[] = {"false", "False", "FALSE"};
                if (v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
                        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                                if (streq(s, yes[i]) || streq(s, no[i])) {
                                        f->value = v;
                                        f->b = streq(s, yes[i]);
                                        return 0;
                                }
                err(p, v, prefix, "%s: expected true or false, got \"%s\"", key, s);
                return 0;
        }
        case F_PEM: {
                if (len == 0)
                        return 0;
                p->decoded += len;
                if (p->decoded > p->decode_budget) {
                        if (!p->over_budget)
                                err(p, v, NULL,
                                    "this document is too complex: its aliases repeat more "
                                    "than %zu bytes of base64",
                                    p->decode_budget);
                        p->over_budget = true;
                        return 0;
                }
                int r = decode_base64(s, len, &f->bytes, &f->len);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        err(p, v, prefix, "%s: not valid base64", key);
                        return 0;
                }
                if (!is_pem(f->bytes, f->len)) {
                        err(p, v, prefix, "%s: not PEM (no \"-----BEGIN\" line once decoded)", key);
                        field_clear(f);
                        return 0;
                }
                f->value = v;
                return 0;
        }
        default:
                if (len > 0) {
                        f->value = v;
                        f->str = s;
                }
                return 0;
        }
}

/* Reads the known keys of a mapping into out[] (one per spec); unknown keys are skipped,
 * a known key given twice is an error. */
static int walk_mapping(Parser *p, const yaml_node_t *map, const char *prefix,
                        const FieldSpec *specs, size_t n, Field *out)
{
        for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
             pr++) {
                if (!visit(p, map))
                        return 0;
                const yaml_node_t *k = node_at(p, pr->key), *v = node_at(p, pr->value);
                if (!k || !v || k->type != YAML_SCALAR_NODE)
                        continue;
                const char *key = (const char *)k->data.scalar.value;
                if (strlen(key) != k->data.scalar.length)
                        continue;
                size_t i = 0;
                while (i < n && !streq(key, specs[i].key))
                        i++;
                if (i == n)
                        continue;

                Field *f = &out[i];
                if (f->key) {
                        Pos first = pos_of(f->key);
                        err(p, k, prefix, "duplicate key \"%s\" (first at line %u, column %u)", key,
                            first.line, first.column);
                        continue;
                }
                f->key = k;
                f->raw = v;
                if (yaml_node_is_null(v))
                        continue;
                switch (specs[i].kind) {
                case F_LIST:
                case F_MAP: {
                        yaml_node_type_t want =
                            specs[i].kind == F_LIST ? YAML_SEQUENCE_NODE : YAML_MAPPING_NODE;
                        if (v->type == want)
                                f->value = v;
                        else
                                err(p, v, prefix, "%s: expected %s, got %s", key,
                                    want == YAML_SEQUENCE_NODE ? "a list" : "a mapping",
                                    yaml_node_type_name(v));
                        break;
                }
                case F_UNSUPPORTED:
                        f->value = v;
                        break;
                default: {
                        int r = read_scalar(p, prefix, key, &specs[i], v, f);
                        if (r < 0)
                                return r;
                }
                }
        }
        return 0;
}

/* How an entry is named in messages: `cluster "prod"`, or `clusters[3]` without a name. */
static char *entry_label(const EntryList *l, size_t index, const char *name)
{
        char *s = NULL;
        int r = name ? asprintf(&s, "%s \"%s\"", l->kind, name)
                     : asprintf(&s, "%ss[%zu]", l->kind, index);
        return r < 0 ? NULL : s;
}

/* First pass over one list: checks every entry, keeps names and nodes. */
static int walk_entries(Parser *p, const yaml_node_t *list, EntryList *l)
{
        if (!list)
                return 0;
        size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
        l->items = calloc(n ? n : 1, sizeof(Entry));
        if (!l->items)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                if (!visit(p, list))
                        return 0;
                const yaml_node_t *v = node_at(p, list->data.sequence.items.start[i]);
                if (!v)
                        continue;
                _cleanup_free_ char *idx = entry_label(l, i, NULL);
                if (!idx)
                        return -ENOMEM;
                if (v->type != YAML_MAPPING_NODE) {
                        err(p, v, idx, "expected a mapping, got %s", yaml_node_type_name(v));
                        continue;
                }

                const FieldSpec especs[_ENTRY_N] = {
                    [ENTRY_NAME] = {"name", F_STRING},
                    [ENTRY_BODY] = {l->kind, F_MAP},
                };
                Field ef[_ENTRY_N] = {{0}};
                int r = walk_mapping(p, v, idx, especs, _ENTRY_N, ef);
                if (r < 0)
                        return r;
                Entry *e = &l->items[l->n++];
                *e = (Entry){.node = v, .body = ef[ENTRY_BODY].value};
                if (ef[ENTRY_NAME].str) {
                        e->name = ef[ENTRY_NAME].str;
                        e->name_node = ef[ENTRY_NAME].value;
                } else if (!ef[ENTRY_NAME].key)
                        err(p, v, idx, "no name");
                else if (ef[ENTRY_NAME].raw->type == YAML_SCALAR_NODE &&
                         (yaml_node_is_null(ef[ENTRY_NAME].raw) ||
                          ef[ENTRY_NAME].raw->data.scalar.length == 0))
                        err(p, ef[ENTRY_NAME].key, idx, "the name is empty");

                if (!e->body)
                        continue;
                _cleanup_free_ char *label = entry_label(l, i, e->name);
                if (!label)
                        return -ENOMEM;
                Field f[FIELDS_MAX] = {{0}};
                r = walk_mapping(p, e->body, label, l->specs, l->n_specs, f);
                fields_clear(f, l->n_specs);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int entry_cmp(const void *a, const void *b)
{
        const Entry *x = *(const Entry *const *)a, *y = *(const Entry *const *)b;
        int c = strcmp(x->name, y->name);
        if (c)
                return c;
        return x < y ? -1 : x > y;
}

/* Names must be unique within a list (kubectl refuses duplicates too): O(n log n). */
static int check_duplicates(Parser *p, const EntryList *l)
{
        _cleanup_free_ const Entry **v = calloc(l->n ? l->n : 1, sizeof(*v));
        size_t n = 0;

        if (!v)
                return -ENOMEM;
        for (size_t i = 0; i < l->n; i++)
                if (l->items[i].name)
                        v[n++] = &l->items[i];
        qsort(v, n, sizeof(*v), entry_cmp);
        for (size_t i = 1, first = 0; i < n; i++) {
                if (!streq(v[i]->name, v[first]->name)) {
                        first = i;
                        continue;
                }
                Pos at = pos_of(v[first]->name_node);
                err(p, v[i]->name_node, NULL,
                    "duplicate %s name \"%s\" (first at line %u, column %u)", l->kind, v[i]->name,
                    at.line, at.column);
        }
        return 0;
}

static const Entry *find_entry(const EntryList *l, const char *name)
{
        for (size_t i = 0; i < l->n; i++)
                if (l->items[i].name && streq(l->items[i].name, name))
                        return &l->items[i];
        return NULL;
}

static Pos pos_at_offset(const char *buf, size_t len, size_t offset)
{
        Pos pos;
        text_pos_at(buf, len, offset, &pos.line, &pos.column);
        return pos;
}

static Pos mark_pos(const yaml_mark_t *m)
{
        return (Pos){(unsigned)MIN(m->line + 1, (size_t)UINT32_MAX),
                     (unsigned)MIN(m->column + 1, (size_t)UINT32_MAX)};
}

static void yaml_error(Parser *p, const yaml_parser_t *y, const char *buf, size_t len)
{
        const char *problem = y->problem ? y->problem : "invalid YAML";

        if (y->error == YAML_READER_ERROR) {
                say(p, pos_at_offset(buf, len, y->problem_offset), NULL, "%s", problem);
                return;
        }
        Pos pos = mark_pos(&y->problem_mark);
        if (y->context) {
                Pos c = mark_pos(&y->context_mark);
                say(p, pos, NULL, "YAML syntax error: %s (%s started at line %u, column %u)",
                    problem, y->context, c.line, c.column);
        } else
                say(p, pos, NULL, "YAML syntax error: %s", problem);
}

static bool host_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.' || c == '_';
}

static bool valid_host_name(const char *s, size_t len)
{
        if (len == 0 || len > 253)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!host_char(s[i]))
                        return false;
        return true;
}

static bool valid_ipv6(const char *s, size_t len)
{
        char buf[INET6_ADDRSTRLEN];
        struct in6_addr a;

        if (len == 0 || len >= sizeof(buf))
                return false;
        memcpy(buf, s, len);
        buf[len] = 0;
        return inet_pton(AF_INET6, buf, &a) == 1;
}

static bool valid_port(const char *s, size_t len)
{
        unsigned v = 0;

        if (len == 0 || len > 5)
                return false;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (unsigned)(s[i] - '0');
        }
        return v >= 1 && v <= 65535;
}

/* A DNS-1123 label, as Kubernetes requires of namespace names. */
static bool valid_namespace(const char *s)
{
        size_t len = strlen(s);

        if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-')
                return false;
        for (size_t i = 0; i < len; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
                        return false;
        return true;
}

/* Checks an API server URL and returns it with a lower-case scheme and no trailing '/'.
 * Returns 0, -EINVAL with *why, or -ENOMEM. */
static int normalize_server(const char *s, char **ret, const char **why)
{
        size_t scheme;

        if (has_control(s, strlen(s)) || strchr(s, ' '))
                return *why = "contains a space or control character", -EINVAL;
        if (strncasecmp(s, "https://", 8) == 0)
                scheme = 8;
        else if (strncasecmp(s, "http://", 7) == 0)
                scheme = 7;
        else
                return *why = "expected an https:// or http:// URL", -EINVAL;

        const char *a = s + scheme;
        size_t alen = strcspn(a, "/?#");
        const char *rest = a + alen, *port = NULL;
        if (memchr(a, '@', alen))
                return *why = "user information (user@) is not supported", -EINVAL;
        if (alen == 0)
                return *why = "no host", -EINVAL;
        if (a[0] == '[') {
                const char *close = memchr(a, ']', alen);
                if (!close)
                        return *why = "no ']' after the IPv6 address", -EINVAL;
                if (!valid_ipv6(a + 1, (size_t)(close - a - 1)))
                        return *why = "not an IPv6 address in the brackets", -EINVAL;
                if (close + 1 < rest) {
                        if (close[1] != ':')
                                return *why = "unexpected text after ']'", -EINVAL;
                        port = close + 2;
                }
        } else {
                const char *colon = memchr(a, ':', alen);
                size_t hlen = colon ? (size_t)(colon - a) : alen;
                if (colon && memchr(colon + 1, ':', alen - hlen - 1))
                        return *why = "an IPv6 address must be written in brackets", -EINVAL;
                if (!valid_host_name(a, hlen))
                        return *why = "not a valid host name or address", -EINVAL;
                if (colon)
                        port = colon + 1;
        }
        if (port && !valid_port(port, (size_t)(rest - port)))
                return *why = "the port must be a number from 1 to 65535", -EINVAL;
        if (strpbrk(rest, "?#"))
                return *why = "a query or fragment is not allowed", -EINVAL;

        size_t n = strlen(s);
        while (n > (size_t)(rest - s) && s[n - 1] == '/')
                n--;
        char *out = strndup(s, n);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < scheme; i++)
                out[i] = (char)(out[i] >= 'A' && out[i] <= 'Z' ? out[i] - 'A' + 'a' : out[i]);
        *ret = out;
        return 0;
}

/* A path as kubectl resolves it: relative to the directory of the file it came from. */
static int resolve_path(const char *file, const char *path, char **ret)
{
        const char *slash = file ? strrchr(file, '/') : NULL;

        if (path[0] == '/' || !slash) {
                *ret = strdup(path);
                return *ret ? 0 : -ENOMEM;
        }
        /* "/kubeconfig" lives in "/", not in "" */
        int dir_len = slash == file ? 1 : (int)MIN((size_t)(slash - file), (size_t)INT32_MAX);
        if (asprintf(ret, "%.*s%s%s", dir_len, file, slash == file ? "" : "/", path) < 0) {
                *ret = NULL;
                return -ENOMEM;
        }
        return 0;
}

static int set_str(char **dst, const char *src)
{
        if (!src)
                return 0;
        *dst = strdup(src);
        return *dst ? 0 : -ENOMEM;
}

/* One of a path or data (moved out of the fields). */
static int set_pem(Parser *p, KubePem *dst, Field *path, Field *data)
{
        if (path->str)
                return resolve_path(p->file, path->str, &dst->path);
        if (data->bytes) {
                dst->data = TAKE_PTR(data->bytes);
                dst->len = data->len;
        }
        return 0;
}

static const char *const unsupported_auth = "give a token, tokenFile or client certificate and key";

static int check_user(Parser *p, const char *label, Field *f)
{
        static const struct {
                int field;
                const char *what;
        } refused[] = {
            {US_EXEC, "credential plugins are not supported"},
            {US_AUTH_PROVIDER, "authentication provider plugins are not supported"},
            {US_USERNAME, "basic authentication is not supported"},
            {US_PASSWORD, "basic authentication is not supported"},
            {US_AS, "impersonation is not supported"},
            {US_AS_GROUPS, "impersonation is not supported"},
            {US_AS_UID, "impersonation is not supported"},
            {US_AS_EXTRA, "impersonation is not supported"},
        };

        for (size_t i = 0; i < ELEMENTSOF(refused); i++)
                if (f[refused[i].field].value)
                        err(p, f[refused[i].field].key, label, "%s: %s; %s",
                            user_specs[refused[i].field].key, refused[i].what, unsupported_auth);
        if (f[US_CERT].value && f[US_CERT_DATA].value)
                err(p, f[US_CERT_DATA].key, label,
                    "client-certificate and client-certificate-data are both set");
        if (f[US_KEY].value && f[US_KEY_DATA].value)
                err(p, f[US_KEY_DATA].key, label, "client-key and client-key-data are both set");

        const Field *cert = f[US_CERT].value ? &f[US_CERT] : &f[US_CERT_DATA];
        const Field *key = f[US_KEY].value ? &f[US_KEY] : &f[US_KEY_DATA];
        if (cert->value && !key->value)
                err(p, cert->key, label, "%s without client-key or client-key-data",
                    (const char *)cert->key->data.scalar.value);
        if (key->value && !cert->value)
                err(p, key->key, label, "%s without client-certificate or client-certificate-data",
                    (const char *)key->key->data.scalar.value);
        return 0;
}

static int check_cluster(Parser *p, const Entry *e, const char *label, Field *f, KubeConfig *c)
{
        if (!f[CL_SERVER].value)
                err(p, e->body ? e->body : e->node, label, "no server");
        else {
                const char *why = NULL;
                int r = normalize_server(f[CL_SERVER].str, &c->server, &why);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        err(p, f[CL_SERVER].value, label, "server \"%s\": %s", f[CL_SERVER].str,
                            why);
        }
        if (f[CL_CA].value && f[CL_CA_DATA].value)
                err(p, f[CL_CA_DATA].key, label,
                    "certificate-authority and certificate-authority-data are both set");
        if (f[CL_INSECURE].b && (f[CL_CA].value || f[CL_CA_DATA].value))
                err(p, f[CL_INSECURE].key, label,
                    "insecure-skip-tls-verify cannot be combined with a certificate authority");
        if (f[CL_TLS_NAME].value &&
            !valid_host_name(f[CL_TLS_NAME].str, strlen(f[CL_TLS_NAME].str)))
                err(p, f[CL_TLS_NAME].value, label, "tls-server-name: \"%s\" is not a host name",
                    f[CL_TLS_NAME].str);
        return 0;
}

/* Second pass: walks the selected context, its cluster and its user into c. */
static int build(Parser *p, const char *chosen, KubeConfig *c)
{
        Field cx[FIELDS_MAX] = {{0}}, cl[FIELDS_MAX] = {{0}}, us[FIELDS_MAX] = {{0}};
        const Field *current = &p->root[ROOT_CURRENT];
        const char *name = chosen ? chosen : current->str;
        _cleanup_free_ char *cx_label = NULL, *cl_label = NULL, *us_label = NULL;
        int r = 0;

        p->visits = p->decoded = 0; /* three entries: well within the budgets */
        if (!name) {
                if (current->key)
                        err(p, current->key, NULL, "current-context is empty: choose a context");
                else
                        err_file(p, "no current-context is set: choose a context");
                return 0;
        }
        const Entry *ctx = find_entry(&p->contexts, name);
        if (!ctx) {
                if (chosen)
                        err_file(p, "no context named \"%s\"", chosen);
                else
                        err(p, current->value, NULL, "current-context: no context named \"%s\"",
                            name);
                return 0;
        }
        if (!(cx_label = entry_label(&p->contexts, 0, ctx->name)))
                return -ENOMEM;
        if (ctx->body && (r = walk_mapping(p, ctx->body, cx_label, context_specs, _CX_N, cx)) < 0)
                goto out;

        const Entry *cle = NULL, *use = NULL;
        if (!cx[CX_CLUSTER].value)
                err(p, ctx->body ? ctx->body : ctx->node, cx_label, "no cluster");
        else if (!(cle = find_entry(&p->clusters, cx[CX_CLUSTER].str)))
                err(p, cx[CX_CLUSTER].value, cx_label, "cluster: no cluster named \"%s\"",
                    cx[CX_CLUSTER].str);
        if (cx[CX_USER].value && !(use = find_entry(&p->users, cx[CX_USER].str)))
                err(p, cx[CX_USER].value, cx_label, "user: no user named \"%s\"", cx[CX_USER].str);
        if (cx[CX_NAMESPACE].value && !valid_namespace(cx[CX_NAMESPACE].str))
                err(p, cx[CX_NAMESPACE].value, cx_label,
                    "namespace: \"%s\" is not a valid namespace name (at most 63 lower-case "
                    "letters, digits and '-')",
                    cx[CX_NAMESPACE].str);

        if ((r = set_str(&c->context, ctx->name)) < 0 ||
            (r = set_str(&c->namespace,
                         cx[CX_NAMESPACE].value ? cx[CX_NAMESPACE].str : "default")) < 0)
                goto out;

        if (cle) {
                r = -ENOMEM;
                if (!(cl_label = entry_label(&p->clusters, 0, cle->name)))
                        goto out;
                if (cle->body &&
                    (r = walk_mapping(p, cle->body, cl_label, cluster_specs, _CL_N, cl)) < 0)
                        goto out;
                if ((r = check_cluster(p, cle, cl_label, cl, c)) < 0 ||
                    (r = set_str(&c->cluster, cle->name)) < 0 ||
                    (r = set_str(&c->tls_server_name, cl[CL_TLS_NAME].str)) < 0 ||
                    (r = set_pem(p, &c->ca, &cl[CL_CA], &cl[CL_CA_DATA])) < 0)
                        goto out;
                c->insecure_skip_tls_verify = cl[CL_INSECURE].b;
        }
        if (use) {
                r = -ENOMEM;
                if (!(us_label = entry_label(&p->users, 0, use->name)))
                        goto out;
                if (use->body &&
                    (r = walk_mapping(p, use->body, us_label, user_specs, _US_N, us)) < 0)
                        goto out;
                if ((r = check_user(p, us_label, us)) < 0 ||
                    (r = set_str(&c->user, use->name)) < 0 ||
                    (r = set_str(&c->token, us[US_TOKEN].str)) < 0 ||
                    (r = set_pem(p, &c->client_cert, &us[US_CERT], &us[US_CERT_DATA])) < 0 ||
                    (r = set_pem(p, &c->client_key, &us[US_KEY], &us[US_KEY_DATA])) < 0)
                        goto out;
                if (us[US_TOKEN_FILE].str &&
                    (r = resolve_path(p->file, us[US_TOKEN_FILE].str, &c->token_file)) < 0)
                        goto out;
        }
        r = 0;
out:
        fields_clear(cx, _CX_N);
        fields_clear(cl, _CL_N);
        fields_clear(us, _US_N);
        return r;
}

static int parse_document(Parser *p, const yaml_node_t *root, const char *chosen, KubeConfig *c)
{
        Field *f = p->root;
        int r;

        if (root->type != YAML_MAPPING_NODE) {
                if (yaml_node_is_null(root))
                        err_file(p, "empty kubeconfig");
                else
                        err(p, root, NULL, "expected a mapping at the top, got %s",
                            yaml_node_type_name(root));
                return 0;
        }
        if ((r = walk_mapping(p, root, NULL, root_specs, _ROOT_N, f)) < 0)
                return r;
        if (f[ROOT_API_VERSION].value && !streq(f[ROOT_API_VERSION].str, "v1"))
                err(p, f[ROOT_API_VERSION].value, NULL, "apiVersion: expected \"v1\", got \"%s\"",
                    f[ROOT_API_VERSION].str);
        if (f[ROOT_KIND].value && !streq(f[ROOT_KIND].str, "Config"))
                err(p, f[ROOT_KIND].value, NULL, "kind: expected \"Config\", got \"%s\"",
                    f[ROOT_KIND].str);

        if ((r = walk_entries(p, f[ROOT_CLUSTERS].value, &p->clusters)) < 0 ||
            (r = walk_entries(p, f[ROOT_USERS].value, &p->users)) < 0 ||
            (r = walk_entries(p, f[ROOT_CONTEXTS].value, &p->contexts)) < 0)
                return r;
        if (p->over_budget)
                return 0;
        if ((r = check_duplicates(p, &p->clusters)) < 0 ||
            (r = check_duplicates(p, &p->users)) < 0 || (r = check_duplicates(p, &p->contexts)) < 0)
                return r;
        if (p->diags->n_errors > p->errors_before)
                return 0; /* do not pile consequences on top of the file's own errors */
        return build(p, chosen, c);
}

/* Tokens and keys live in the scalars: wipe them before libyaml frees them. */
static void document_wipe_delete(yaml_document_t *doc)
{
        for (yaml_node_t *n = doc->nodes.start; n < doc->nodes.top; n++)
                if (n->type == YAML_SCALAR_NODE && n->data.scalar.value)
                        sodium_memzero(n->data.scalar.value, n->data.scalar.length);
        yaml_document_delete(doc);
}

static int parse(Parser *p, const char *text, size_t len, const char *chosen, KubeConfig *c)
{
        yaml_parser_t y;
        yaml_document_t doc, extra;
        int r = 0;

        p->end = pos_at_offset(text, len, len);
        if (!yaml_parser_initialize(&y))
                return -ENOMEM;
        yaml_parser_set_input_string(&y, (const unsigned char *)text, len);
        if (!yaml_parser_load(&y, &doc)) {
                if (y.error == YAML_MEMORY_ERROR)
                        r = -ENOMEM;
                else
                        yaml_error(p, &y, text, len);
                yaml_parser_delete(&y);
                return r;
        }
        /* a kubeconfig is one document: look for a second one (and its syntax errors) */
        if (!yaml_parser_load(&y, &extra)) {
                if (y.error == YAML_MEMORY_ERROR)
                        r = -ENOMEM;
                else
                        yaml_error(p, &y, text, len);
        } else {
                /* like kubectl, tolerate an empty one ("---" at the end) */
                const yaml_node_t *second = yaml_document_get_root_node(&extra);
                if (second && !yaml_node_is_null(second))
                        err(p, second, NULL, "a second YAML document: a kubeconfig is one");
                document_wipe_delete(&extra);
        }
        yaml_parser_delete(&y);

        const yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (r >= 0 && !root)
                err_file(p, "empty kubeconfig");
        else if (r >= 0) {
                p->doc = &doc;
                p->budget =
                    (size_t)(doc.nodes.top - doc.nodes.start) * VISITS_PER_NODE + BUDGET_SLACK;
                p->decode_budget = len + BUDGET_SLACK;
                r = parse_document(p, root, chosen, c);
                p->doc = NULL;
        }
        document_wipe_delete(&doc);
        return r;
}

static void pem_done(KubePem *k)
{
        free(k->path);
        if (k->data) {
                sodium_memzero(k->data, k->len);
                free(k->data);
        }
        *k = (KubePem){0};
}

static void str_wipe_free(char *s)
{
        if (s) {
                sodium_memzero(s, strlen(s));
                free(s);
        }
}

KubeConfig *kubeconfig_free(KubeConfig *c)
{
        if (!c)
                return NULL;
        free(c->file);
        free(c->context);
        free(c->cluster);
        free(c->user);
        free(c->server);
        pem_done(&c->ca);
        free(c->tls_server_name);
        pem_done(&c->client_cert);
        pem_done(&c->client_key);
        str_wipe_free(c->token);
        free(c->token_file);
        free(c->namespace);
        free(c);
        return NULL;
}

void kubeconfig_token_free(char *token)
{
        str_wipe_free(token);
}

int kubeconfig_parse(const char *text, size_t len, const char *file, const char *context,
                     KubeConfig **ret, DiagList *diags)
{
        Parser p = {
            .file = file ? file : "-",
            .diags = diags,
            .errors_before = diags->n_errors,
            .clusters = {.kind = "cluster", .specs = cluster_specs, .n_specs = _CL_N},
            .users = {.kind = "user", .specs = user_specs, .n_specs = _US_N},
            .contexts = {.kind = "context", .specs = context_specs, .n_specs = _CX_N},
        };
        _cleanup_(kubeconfig_freep) KubeConfig *c = NULL;
        int r;

        if (len > KUBECONFIG_SIZE_MAX) {
                diag_error(diags, p.file, 0, 0, "larger than %u MiB (%zu bytes)",
                           KUBECONFIG_SIZE_MAX / 1024 / 1024, len);
                return -EINVAL;
        }
        c = calloc(1, sizeof(*c));
        if (!c || !(c->file = strdup(p.file)))
                return -ENOMEM;

        r = parse(&p, text ? text : "", text ? len : 0, context, c);
        free(p.clusters.items);
        free(p.users.items);
        free(p.contexts.items);
        if (r < 0)
                return r;
        if (diags->n_errors > p.errors_before)
                return -EINVAL;
        *ret = TAKE_PTR(c);
        return 0;
}

int kubeconfig_load(const char *path, const char *context, KubeConfig **ret, DiagList *diags)
{
        char *buf = NULL;
        size_t len = 0;
        int r;

        r = read_full_file(path, &buf, &len);
        if (r == -ENOMEM)
                return r;
        if (r == -EFBIG) {
                diag_error(diags, path, 0, 0, "larger than %u MiB",
                           KUBECONFIG_SIZE_MAX / 1024 / 1024);
                return -EINVAL;
        }
        if (r < 0) {
                diag_error(diags, path, 0, 0, "cannot read the kubeconfig: %s", strerror(-r));
                return -EINVAL;
        }
        r = kubeconfig_parse(buf, len, path, context, ret, diags);
        sodium_memzero(buf, len);
        free(buf);
        return r;
}

/* Trims whitespace around a token in place and checks what is left. */
static int token_check(char *s, size_t len, const char **ret)
{
        while (len > 0 && strchr(" \t\r\n\f\v", s[len - 1]))
                len--;
        s[len] = 0;
        size_t start = strspn(s, " \t\r\n\f\v");
        if (start == len)
                return -ENODATA;
        if (has_control(s + start, len - start))
                return -EBADMSG;
        *ret = s + start;
        return 0;
}

int kubeconfig_read_token(const KubeConfig *c, char **ret)
{
        _cleanup_free_ char *buf = NULL;
        const char *t = NULL;
        size_t len = 0;
        int r;

        if (!c->token_file) {
                if (!c->token) {
                        *ret = NULL;
                        return 0;
                }
                *ret = strdup(c->token);
                return *ret ? 1 : -ENOMEM;
        }
        r = read_full_file(c->token_file, &buf, &len);
        if (r < 0)
                return r;
        if (len > KUBECONFIG_TOKEN_MAX)
                r = -EFBIG;
        else if ((r = token_check(buf, len, &t)) >= 0 && !(*ret = strdup(t)))
                r = -ENOMEM;
        sodium_memzero(buf, len);
        return r < 0 ? r : 1;
}

/* Reads one service account file; diagnostics name it. */
static int read_sa_file(const char *path, char **ret, size_t *ret_len, DiagList *diags,
                        const char *what)
{
        int r = read_full_file(path, ret, ret_len);

        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                diag_error(diags, path, 0, 0, "cannot read the service account %s: %s", what,
                           strerror(-r));
                return -EINVAL;
        }
        return 0;
}

static int in_cluster_server(DiagList *diags, char **ret)
{
        const char *host = getenv("KUBERNETES_SERVICE_HOST");
        const char *port = getenv("KUBERNETES_SERVICE_PORT");
        _cleanup_free_ char *url = NULL;
        const char *why = NULL;
        bool bad = false;
        int r;

        if (!host || !*host) {
                diag_error(diags, "$KUBERNETES_SERVICE_HOST", 0, 0,
                           "not set: not running in a pod (give a kubeconfig instead)");
                bad = true;
        } else if (strchr(host, ':') ? !valid_ipv6(host, strlen(host))
                                     : !valid_host_name(host, strlen(host))) {
                diag_error(diags, "$KUBERNETES_SERVICE_HOST", 0, 0,
                           "\"%s\" is not a host name or address", host);
                bad = true;
        }
        if (!port || !*port) {
                diag_error(diags, "$KUBERNETES_SERVICE_PORT", 0, 0,
                           "not set: not running in a pod (give a kubeconfig instead)");
                bad = true;
        } else if (!valid_port(port, strlen(port))) {
                diag_error(diags, "$KUBERNETES_SERVICE_PORT", 0, 0,
                           "\"%s\" is not a port number from 1 to 65535", port);
                bad = true;
        }
        if (bad)
                return -EINVAL;
        if (asprintf(&url, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port) < 0)
                return -ENOMEM;
        r = normalize_server(url, ret, &why);
        if (r == -EINVAL)
                diag_error(diags, "$KUBERNETES_SERVICE_HOST", 0, 0, "%s: %s", url, why);
        return r;
}

int kubeconfig_in_cluster(const char *root, KubeConfig **ret, DiagList *diags)
{
        _cleanup_(kubeconfig_freep) KubeConfig *c = calloc(1, sizeof(KubeConfig));
        _cleanup_free_ char *ns_path = NULL, *buf = NULL;
        const char *t = NULL;
        size_t len = 0;
        int r, bad = 0;

        if (!root)
                root = "";
        if (!c || !(c->file = strdup("in-cluster")))
                return -ENOMEM;
        if (asprintf(&c->token_file, "%s" KUBECONFIG_SA_DIR "/token", root) < 0) {
                c->token_file = NULL;
                return -ENOMEM;
        }
        if (asprintf(&c->ca.path, "%s" KUBECONFIG_SA_DIR "/ca.crt", root) < 0) {
                c->ca.path = NULL;
                return -ENOMEM;
        }
        if (asprintf(&ns_path, "%s" KUBECONFIG_SA_DIR "/namespace", root) < 0) {
                ns_path = NULL;
                return -ENOMEM;
        }

        r = in_cluster_server(diags, &c->server);
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;

        /* the token must be there now; it is re-read on use (the kubelet rotates it) */
        r = read_sa_file(c->token_file, &buf, &len, diags, "token");
        if (r == -ENOMEM)
                return r;
        if (r >= 0) {
                r = len > KUBECONFIG_TOKEN_MAX ? -EFBIG : token_check(buf, len, &t);
                if (r < 0) {
                        diag_error(diags, c->token_file, 0, 0, "%s",
                                   r == -EFBIG     ? "the token is too large"
                                   : r == -ENODATA ? "the token is empty"
                                                   : "the token contains a control character");
                }
                sodium_memzero(buf, len);
                buf = mfree(buf);
        }
        bad |= r < 0;

        r = read_sa_file(c->ca.path, &buf, &len, diags, "CA certificate");
        if (r == -ENOMEM)
                return r;
        if (r >= 0 && !is_pem((const uint8_t *)buf, len)) {
                diag_error(diags, c->ca.path, 0, 0, "not a PEM certificate");
                r = -EINVAL;
        }
        buf = mfree(buf);
        bad |= r < 0;

        r = read_full_file(ns_path, &buf, &len);
        if (r == -ENOENT)
                r = set_str(&c->namespace, "default");
        else if (r >= 0) {
                while (len > 0 && strchr(" \t\r\n", buf[len - 1]))
                        buf[--len] = 0;
                if (strlen(buf) != len || !valid_namespace(buf)) {
                        if (has_control(buf, len))
                                diag_error(diags, ns_path, 0, 0,
                                           "not a valid namespace name (a control character)");
                        else
                                diag_error(diags, ns_path, 0, 0,
                                           "\"%s\" is not a valid namespace name", buf);
                        r = -EINVAL;
                } else
                        c->namespace = TAKE_PTR(buf);
        } else if (r != -ENOMEM) {
                diag_error(diags, ns_path, 0, 0, "cannot read the service account namespace: %s",
                           strerror(-r));
                r = -EINVAL;
        }
        if (r == -ENOMEM)
                return r;
        bad |= r < 0;

        if (bad)
                return -EINVAL;
        *ret = TAKE_PTR(c);
        return 0;
}
