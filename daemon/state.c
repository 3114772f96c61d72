/* SPDX-License-Identifier: MIT */
/* The state file; see state.h. */
#include <jansson.h>
#include <string.h>

#include "state.h"
#include "util/fileio.h"
#include "util/log.h"

#define STATE_VERSION 1
#define STATE_FILE "state.json"

State *state_free(State *s)
{
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_allocs; i++) {
                free(s->allocs[i].service);
                free(s->allocs[i].uid);
        }
        free(s->allocs);
        free(s->owned);
        free(s->node);
        free(s);
        return NULL;
}

int state_add_alloc(State *s, const char *service, const char *uid, const u128 *addrs, size_t n)
{
        if (n > 2)
                return -EINVAL;
        if (GROW(s->allocs, s->cap_allocs, s->n_allocs + 1) < 0)
                return -ENOMEM;
        StateAlloc a = {.service = strdup(service), .uid = strdup_or_null(uid), .n_addrs = n};
        if (!a.service || (uid && !a.uid)) {
                free(a.service);
                free(a.uid);
                return -ENOMEM;
        }
        memcpy(a.addrs, addrs, n * sizeof(u128));
        s->allocs[s->n_allocs++] = a;
        return 0;
}

int state_add_owned(State *s, u128 addr, const char *ifname)
{
        if (strlen(ifname) >= IF_NAMESIZE)
                return -EINVAL;
        if (GROW(s->owned, s->cap_owned, s->n_owned + 1) < 0)
                return -ENOMEM;
        StateOwned *o = &s->owned[s->n_owned++];
        o->addr = addr;
        snprintf(o->ifname, sizeof(o->ifname), "%s", ifname);
        return 0;
}

static int bad(char *err, size_t err_len, const char *what)
{
        snprintf(err, err_len, "%s", what);
        return -EBADMSG;
}

static bool json_addr(json_t *j, u128 *ret)
{
        return json_is_string(j) && addr_parse(json_string_value(j), ret);
}

int state_parse(const char *buf, size_t len, State **ret, char *err, size_t err_len)
{
        _cleanup_(state_freep) State *s = NULL;
        json_error_t jerr;
        json_t *root, *v, *item;
        size_t i;
        int r = 0;

        root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                snprintf(err, err_len, "line %d column %d: %s", jerr.line, jerr.column, jerr.text);
                return -EBADMSG;
        }
        s = calloc(1, sizeof(*s));
        if (!s) {
                json_decref(root);
                return -ENOMEM;
        }
        v = json_object_get(root, "version");
        if (!json_is_object(root) || !json_is_integer(v) ||
            json_integer_value(v) != STATE_VERSION) {
                r = bad(err, err_len, "not a version 1 state file");
                goto out;
        }
        v = json_object_get(root, "node");
        if (v && !json_is_string(v)) {
                r = bad(err, err_len, "\"node\" is not a string");
                goto out;
        }
        if (v && !(s->node = strdup(json_string_value(v)))) {
                r = -ENOMEM;
                goto out;
        }

        v = json_object_get(root, "allocations");
        if (v && !json_is_array(v)) {
                r = bad(err, err_len, "\"allocations\" is not a list");
                goto out;
        }
        json_array_foreach(v, i, item)
        {
                json_t *svc = json_object_get(item, "service"), *uid = json_object_get(item, "uid");
                json_t *addrs = json_object_get(item, "addresses"), *a;
                u128 av[2];
                size_t j, n = json_array_size(addrs);

                if (!json_is_string(svc) || (uid && !json_is_string(uid)) ||
                    !json_is_array(addrs) || n == 0 || n > 2) {
                        r = bad(err, err_len, "malformed entry in \"allocations\"");
                        goto out;
                }
                json_array_foreach(addrs, j, a)
                {
                        if (!json_addr(a, &av[j])) {
                                r = bad(err, err_len, "malformed address in \"allocations\"");
                                goto out;
                        }
                }
                r = state_add_alloc(s, json_string_value(svc), uid ? json_string_value(uid) : NULL,
                                    av, n);
                if (r < 0)
                        goto out;
        }

        v = json_object_get(root, "owned");
        if (v && !json_is_array(v)) {
                r = bad(err, err_len, "\"owned\" is not a list");
                goto out;
        }
        json_array_foreach(v, i, item)
        {
                json_t *ifn = json_object_get(item, "interface");
                u128 a;

                if (!json_addr(json_object_get(item, "address"), &a) || !json_is_string(ifn) ||
                    strlen(json_string_value(ifn)) >= IF_NAMESIZE) {
                        r = bad(err, err_len, "malformed entry in \"owned\"");
                        goto out;
                }
                r = state_add_owned(s, a, json_string_value(ifn));
                if (r < 0)
                        goto out;
        }
        *ret = TAKE_PTR(s);
out:
        json_decref(root);
        return r;
}

char *state_format(const State *s)
{
        json_t *root = json_pack("{s:i}", "version", STATE_VERSION);
        json_t *allocs = json_array(), *owned = json_array();
        char buf[ADDR_STR_MAX];
        char *text = NULL;

        if (!root || !allocs || !owned)
                goto out;
        if (s->node)
                json_object_set_new(root, "node", json_string(s->node));
        for (size_t i = 0; i < s->n_allocs; i++) {
                const StateAlloc *a = &s->allocs[i];
                json_t *addrs = json_array();
                for (size_t j = 0; addrs && j < a->n_addrs; j++)
                        json_array_append_new(addrs, json_string(addr_format(a->addrs[j], buf)));
                json_t *o = json_pack("{s:s,s:o}", "service", a->service, "addresses", addrs);
                if (o && a->uid)
                        json_object_set_new(o, "uid", json_string(a->uid));
                if (!o || json_array_append_new(allocs, o) < 0)
                        goto out;
        }
        for (size_t i = 0; i < s->n_owned; i++) {
                json_t *o = json_pack("{s:s,s:s}", "address", addr_format(s->owned[i].addr, buf),
                                      "interface", s->owned[i].ifname);
                if (!o || json_array_append_new(owned, o) < 0)
                        goto out;
        }
        json_object_set(root, "allocations", allocs);
        json_object_set(root, "owned", owned);
        text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
out:
        json_decref(allocs);
        json_decref(owned);
        json_decref(root);
        return text;
}

int state_load(const char *dir, State **ret)
{
        _cleanup_free_ char *path = NULL, *buf = NULL;
        char err[256];
        size_t len;
        int r;

        if (asprintf(&path, "%s/%s", dir, STATE_FILE) < 0)
                return -ENOMEM;
        r = read_full_file(path, &buf, &len);
        if (r == -ENOENT)
                return r;
        if (r < 0)
                return log_error_errno(r, "Cannot read %s: %m", path);
        r = state_parse(buf, len, ret, err, sizeof(err));
        if (r == -EBADMSG)
                log_error("%s: %s; ignoring the state file", path, err);
        return r;
}

int state_save(const char *dir, const State *s)
{
        _cleanup_free_ char *path = NULL, *text = state_format(s);
        int r;

        if (!text || asprintf(&path, "%s/%s", dir, STATE_FILE) < 0)
                return -ENOMEM;
        r = write_file_atomic(path, text, strlen(text), 0600);
        if (r < 0)
                return log_error_errno(r, "Cannot write %s: %m", path);
        return 0;
}

int state_load_node(const char *dir, const char *node, State **ret)
{
        _cleanup_(state_freep) State *s = NULL;
        int r = state_load(dir, &s);

        if (r < 0)
                return r;
        if (s->node && strcmp(s->node, node) != 0) {
                log_warning("%s/%s was written by node %s, not by this node (%s): its %zu owned "
                            "address(es) are not taken as ours but probed first (a copied "
                            "state_dir or a renamed node?)",
                            dir, STATE_FILE, s->node, node, s->n_owned);
                s->n_owned = 0;
        }
        *ret = TAKE_PTR(s);
        return 0;
}
