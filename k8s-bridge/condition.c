/* SPDX-License-Identifier: MIT */
/*
 * condition: mlbd.io/Announced in a Service's status.conditions (see condition.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "condition.h"
#include "util/macro.h"

static const json_t *conditions_of(const json_t *service)
{
        const json_t *c = json_object_get(json_object_get(service, "status"), "conditions");
        return json_is_array(c) ? c : NULL;
}

static const json_t *ours(const json_t *service)
{
        const json_t *list = conditions_of(service), *e;
        size_t i;

        json_array_foreach(list, i, e)
        {
                const char *t = json_string_value(json_object_get(e, "type"));
                if (t && strcmp(t, CONDITION_ANNOUNCED) == 0)
                        return e;
        }
        return NULL;
}

static bool str_is(const json_t *j, const char *s)
{
        const char *v = json_string_value(j);
        return v && s && strcmp(v, s) == 0;
}

bool condition_present(const json_t *service)
{
        return ours(service) != NULL;
}

bool condition_shown(const json_t *service, const Condition *c)
{
        const json_t *e = ours(service);

        return e && str_is(json_object_get(e, "status"), c->status ? "True" : "False") &&
               str_is(json_object_get(e, "reason"), c->reason) &&
               str_is(json_object_get(e, "message"), c->message ? c->message : "");
}

char *condition_announced_message(const json_t *announced)
{
        char *buf = NULL;
        size_t size = 0;
        const char *addr;
        json_t *node;
        bool first = true;
        FILE *f;

        if (!json_is_object(announced) || json_object_size(announced) == 0)
                return NULL;
        if (!(f = open_memstream(&buf, &size)))
                return NULL;
        json_object_foreach((json_t *)announced, addr, node)
        {
                if (!json_is_string(node))
                        continue;
                fprintf(f, "%s%s announced by node \"%s\"", first ? "" : "; ", addr,
                        json_string_value(node));
                first = false;
        }
        if (fclose(f) != 0 || first) {
                free(buf);
                return NULL;
        }
        return buf;
}

/* metav1.Condition's reason: ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$, 1..1024 bytes. */
static bool reason_valid(const char *r)
{
        size_t n = r ? strlen(r) : 0;

        if (n == 0 || n > 1024 || !((r[0] >= 'A' && r[0] <= 'Z') || (r[0] >= 'a' && r[0] <= 'z')))
                return false;
        for (size_t i = 1; i < n; i++) {
                char ch = r[i];
                bool word = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                            (ch >= '0' && ch <= '9') || ch == '_';
                if (!word && !((ch == ',' || ch == ':') && i + 1 < n))
                        return false;
        }
        return true;
}

int condition_list(const json_t *service, const Condition *c, uint64_t wall_usec, json_t **ret)
{
        const json_t *old = ours(service), *list = conditions_of(service), *e;
        json_t *out, *mine, *msg;
        char when[32];
        time_t secs = (time_t)(wall_usec / 1000000);
        struct tm tm;
        size_t i;

        if (!reason_valid(c->reason))
                return -EINVAL;
        msg = json_string(c->message ? c->message : ""); /* NULL: not UTF-8 */
        if (!msg)
                return -EINVAL;
        if (old && str_is(json_object_get(old, "status"), c->status ? "True" : "False") &&
            json_is_string(json_object_get(old, "lastTransitionTime")))
                snprintf(when, sizeof(when), "%s",
                         json_string_value(json_object_get(old, "lastTransitionTime")));
        else if (!gmtime_r(&secs, &tm) ||
                 !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm)) {
                json_decref(msg);
                return -EINVAL;
        }
        mine = json_pack("{s:s, s:s, s:s, s:o, s:s}", "type", CONDITION_ANNOUNCED, "status",
                         c->status ? "True" : "False", "reason", c->reason, "message", msg,
                         "lastTransitionTime", when);
        if (!mine)
                return -ENOMEM;
        if (!(out = json_array())) {
                json_decref(mine);
                return -ENOMEM;
        }
        json_array_foreach(list, i, e)
        {
                /* ours keeps its place, so nothing else in the list moves */
                if (json_array_append(out, e == old ? mine : (json_t *)e) < 0)
                        goto oom;
        }
        if (!old && json_array_append(out, mine) < 0)
                goto oom;
        json_decref(mine);
        *ret = out;
        return 0;
oom:
        json_decref(mine);
        json_decref(out);
        return -ENOMEM;
}
