/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for condition.c: the condition mlbd.io/Announced in a Service's
 * status.conditions, as the leader bridge writes it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "condition.h"
#include "tap.h"

static const char *field(const json_t *list, size_t i, const char *key)
{
        return json_string_value(json_object_get(json_array_get(list, i), key));
}

int main(void)
{
        json_t *svc = json_loads("{\"status\":{\"conditions\":[{\"type\":\"example.com/Other\","
                                 "\"status\":\"True\",\"reason\":\"X\",\"message\":\"m\","
                                 "\"lastTransitionTime\":\"2026-01-01T00:00:00Z\"}]}}",
                                 0, NULL);
        json_t *ann = json_pack("{s:s, s:s}", "192.0.2.10", "node1", "2001:db8::5", "node-2");
        json_t *list = NULL, *svc2;
        char *msg = condition_announced_message(ann);
        Condition c = {.status = true, .reason = "Announced", .message = msg};
        /* 2026-12-02T10:00:00Z */
        uint64_t t1 = 1796205600ULL * 1000000, t2 = t1 + 3600ULL * 1000000;

        is_str(msg,
               "192.0.2.10 announced by node \"node1\"; 2001:db8::5 announced by node \"node-2\"",
               "the message names the node of each address");
        json_t *empty = json_object();
        ok(condition_announced_message(empty) == NULL, "nothing announced: no message");
        json_decref(empty);
        ok(!condition_present(svc) && !condition_shown(svc, &c), "not there yet");
        is_int(condition_list(svc, &c, t1, &list), 0, "a list with ours");
        is_int((int)json_array_size(list), 2, "the other condition is kept, ours appended");
        is_str(field(list, 0, "type"), "example.com/Other", "the other first, unchanged");
        is_str(field(list, 1, "type"), CONDITION_ANNOUNCED, "ours");
        is_str(field(list, 1, "status"), "True", "status True");
        is_str(field(list, 1, "reason"), "Announced", "reason");
        is_str(field(list, 1, "lastTransitionTime"), "2026-12-02T10:00:00Z", "transition time now");

        svc2 = json_pack("{s{sO}}", "status", "conditions", list);
        json_decref(list);
        ok(condition_present(svc2) && condition_shown(svc2, &c), "now it shows c");
        Condition moved = {.status = true,
                           .reason = "Announced",
                           .message = "192.0.2.10 announced by node \"node3\""};
        ok(!condition_shown(svc2, &moved), "another message is not shown");
        is_int(condition_list(svc2, &moved, t2, &list), 0, "the node changes");
        is_int((int)json_array_size(list), 2, "ours replaced in place");
        is_str(field(list, 1, "message"), moved.message, "new message");
        is_str(field(list, 1, "lastTransitionTime"), "2026-12-02T10:00:00Z",
               "the status stayed True: the transition time is kept");
        json_decref(list);
        Condition failed = {.status = false, .reason = "AllocationFailed", .message = "in no pool"};
        is_int(condition_list(svc2, &failed, t2, &list), 0, "turns False");
        is_str(field(list, 1, "status"), "False", "status False");
        is_str(field(list, 1, "lastTransitionTime"), "2026-12-02T11:00:00Z",
               "a new transition time");
        json_decref(list);

        const char *bad[] = {"", "Not-Camel", "9lives", "Trailing:", "has space"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                Condition b = {.status = false, .reason = bad[i], .message = "x"};
                list = NULL;
                is_int(condition_list(svc, &b, t1, &list), -EINVAL, "reason \"%s\" is refused",
                       bad[i]);
                ok(list == NULL, "and nothing is made");
        }
        Condition good = {.status = false, .reason = "A_b,c:D9", .message = NULL};
        is_int(condition_list(svc, &good, t1, &list), 0, "reason A_b,c:D9 is a valid one");
        is_str(field(list, 1, "message"), "", "no message: empty");
        json_decref(list);
        Condition notutf8 = {.status = true, .reason = "Announced", .message = "\xff"};
        is_int(condition_list(svc, &notutf8, t1, &list), -EINVAL,
               "a message that is not UTF-8 is refused");

        free(msg);
        json_decref(ann);
        json_decref(svc);
        json_decref(svc2);
        return tap_done();
}
