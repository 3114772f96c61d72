/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the control protocol: the input is a byte stream as a client
 * would send it. It goes through the line framer (small limit, chunk sizes taken from
 * the input, so overlong lines and split lines are exercised), every line is decoded as
 * a request and as a daemon message, and decoded requests are applied to a model the
 * way the daemon applies them (sync parts gathered then replaced, upserts, deletes), with
 * replies encoded. Invariant checked: a refused line never changes the model.
 */
#include <string.h>

#include "control-proto.h"

#define FUZZ_INPUT_MAX (256u * 1024)
#define FUZZ_LINE_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void drop(char *s)
{
        free(s);
}

static void apply(Model *m, Model **pending, CtlRequest *req)
{
        char *out = NULL;
        CtlError err = {};
        uint64_t gen = m->generation;

        if (*pending && req->op != CTL_OP_SYNC)
                *pending = model_free(*pending);
        switch (req->op) {
        case CTL_OP_HELLO:
                if (ctl_check_version(req, &err) < 0) {
                        err.id = req->id ? json_incref(req->id) : NULL;
                        ctl_reply_error(&err, NULL, 0, &out, NULL);
                } else
                        ctl_reply_hello(req->id, &(CtlHelloReply){req->hello.version, "0", "n"},
                                        &out, NULL);
                break;
        case CTL_OP_SYNC:
                if (ctl_sync_gather(pending, req, &err) < 0) {
                        *pending = model_free(*pending);
                        ctl_reply_error(&err, NULL, 0, &out, NULL);
                        if (m->generation != gen)
                                abort();
                } else if (!req->sync.more)
                        model_replace(m, pending);
                break;
        case CTL_OP_UPSERT: {
                ObjKind k = req->upsert.kind;
                char key[OBJ_KEY_MAX];
                snprintf(key, sizeof(key), "%s", ((ObjMeta *)req->upsert.object)->key);
                int r = model_upsert(m, TAKE_PTR(req->upsert.object));
                if (r > 0 && !model_get_key(m, k, key))
                        abort();
                if (r > 0)
                        ctl_reply_change(req->id, req->op, k, key, r, m->generation, &out, NULL);
                break;
        }
        case CTL_OP_DELETE: {
                char key[OBJ_KEY_MAX];
                int r =
                    model_delete(m, req->del.kind, req->del.namespace, req->del.name, req->del.uid);
                if (r == MODEL_DELETED &&
                    model_get(m, req->del.kind, req->del.namespace, req->del.name))
                        abort();
                if (r > 0 && obj_key(key, sizeof(key), req->del.namespace, req->del.name))
                        ctl_reply_change(req->id, req->op, req->del.kind, key, r, m->generation,
                                         &out, NULL);
                break;
        }
        case CTL_OP_LEADER:
                ctl_reply_leader(req->id, req->leader.leader, &out, NULL);
                break;
        default:
                ctl_request_encode_simple(req->op, req->id, &out, NULL);
                break;
        }
        drop(out);
        ctl_error_clear(&err);
}

static void check_services(const Model *m)
{
        ModelIter it = {};
        const Service *s;
        while ((s = model_next(m, OBJ_SERVICE, &it))) {
                ServiceRequest req;
                char err[256];
                if (service_resolve_request(s, &req, err, sizeof(err)) == 0 && req.n_addresses > 2)
                        abort();
                (void)model_service_has_ready_endpoint(m, s->meta.namespace, s->meta.name, "n");
        }
        const void **v = NULL;
        size_t n = 0;
        if (model_list_sorted(m, OBJ_NODE, &v, &n) == 0)
                free(v);
}

static void client_side(const char *line, size_t len, unsigned line_no)
{
        json_t *msg = NULL;
        CtlNotification n = {};
        CtlError err = {};
        bool is_n = false;
        char *out = NULL;

        if (ctl_message_parse(line, len, line_no, &msg, &n, &is_n, &err) == 0 && is_n) {
                switch (n.type) {
                case CTL_NOTIFY_ALLOCATED:
                        ctl_notify_allocated(n.service, n.uid, n.addresses, n.n_addresses, n.pool,
                                             &out, NULL);
                        break;
                case CTL_NOTIFY_RELEASED:
                        ctl_notify_released(n.service, n.uid, n.addresses, n.n_addresses, &out,
                                            NULL);
                        break;
                case CTL_NOTIFY_ALLOCATION_FAILED:
                        ctl_notify_allocation_failed(n.service, n.uid, n.reason, &out, NULL);
                        break;
                case CTL_NOTIFY_NODE_ASSIGNED:
                        ctl_notify_node_assigned(n.service, n.uid, n.addresses[0], n.node, &out,
                                                 NULL);
                        break;
                default:
                        abort();
                }
        }
        drop(out);
        json_decref(msg);
        ctl_notification_clear(&n);
        ctl_error_clear(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_(model_freep) Model *m = NULL, *pending = NULL;
        CtlFramer f;
        size_t chunk, pos = 0;

        if (size < 1 || size > FUZZ_INPUT_MAX)
                return 0;
        /* The first byte picks the read size: 1..255 bytes, or everything at once. */
        chunk = data[0] ? data[0] : size;
        data++;
        size--;
        if (model_new(&m) < 0)
                return 0;
        ctl_framer_init(&f, FUZZ_LINE_MAX);
        while (pos < size) {
                size_t n = MIN(chunk, size - pos);
                const char *line;
                size_t len;
                unsigned no;
                CtlFrame fr;

                if (ctl_framer_feed(&f, data + pos, n) < 0)
                        break;
                pos += n;
                while ((fr = ctl_framer_next(&f, &line, &len, &no)) != CTL_FRAME_NONE) {
                        if (fr == CTL_FRAME_TOO_LONG)
                                continue;
                        if (len > FUZZ_LINE_MAX || strlen(line) > len)
                                abort();
                        CtlRequest *req = NULL;
                        CtlError err = {};
                        uint64_t gen = m->generation;
                        if (ctl_request_parse(line, len, no, &req, &err) == 0) {
                                apply(m, &pending, req);
                                ctl_request_free(req);
                        } else {
                                char *out = NULL;
                                if (req || m->generation != gen || !err.detail[0])
                                        abort();
                                ctl_reply_error(&err, NULL, 0, &out, NULL);
                                drop(out);
                        }
                        ctl_error_clear(&err);
                        client_side(line, len, no);
                }
                if (chunk <= 255 && f.cap > 2 * (FUZZ_LINE_MAX + 256 + 1))
                        abort(); /* the framer must not hoard an overlong line */
        }
        check_services(m);
        ctl_framer_deinit(&f);
        return 0;
}
