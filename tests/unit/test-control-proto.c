/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the control-socket protocol. The examples of docs/protocol.md live in
 * tests/data/protocol/ (the .json files); this test checks that the document shows each of them
 * verbatim (and shows no JSON example that is not one of them), decodes every request,
 * and rebuilds every reply and notification with the encoders, so the document, the
 * decoder and the encoders cannot drift apart.
 */
#include <dirent.h>
#include <string.h>

#include "control-proto.h"
#include "tap.h"
#include "util/fileio.h"

static char data_dir[4200], top_dir[4096];

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
        if (len)
                *len = n;
        return buf;
}

static json_t *load_json(const char *name)
{
        _cleanup_free_ char *s = read_data(name, NULL);
        json_error_t e;
        json_t *j = s ? json_loads(s, JSON_REJECT_DUPLICATES, &e) : NULL;
        if (s && !j)
                printf("# %s:%d:%d: %s\n", name, e.line, e.column, e.text);
        return j;
}

/* A data file as one wire line (compact JSON, no newline). */
static char *example_line(const char *name)
{
        json_t *j = load_json(name);
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        return s;
}

static int parse(const char *s, unsigned line_no, CtlRequest **req, CtlError *err)
{
        return ctl_request_parse(s, strlen(s), line_no, req, err);
}

/* Parses s, expects failure with code, and (if given) a detail containing want. */
static void bad(const char *what, const char *s, CtlErrorCode code, const char *want)
{
        CtlRequest *req = NULL;
        CtlError err = {};
        int r = parse(s, 1, &req, &err);
        is_int(r, -EINVAL, "%s: refused", what);
        is_str(ctl_error_code_to_string(err.code), ctl_error_code_to_string(code), "%s: error code",
               what);
        if (want && !ok(strstr(err.detail, want) != NULL, "%s: detail names the problem", what))
                printf("#   detail: %s\n#   wanted: %s\n", err.detail, want);
        ctl_request_free(req);
        ctl_error_clear(&err);
}

static void same_json(const char *what, const char *line, const char *file)
{
        json_t *want = load_json(file), *got = line ? json_loads(line, 0, NULL) : NULL;
        if (!ok(want && got && json_equal(want, got), "%s matches %s", what, file))
                printf("#   got: %s", line ? line : "(null)\n");
        ok(line && strchr(line, '\n') == line + strlen(line) - 1,
           "%s is one line ending in a newline", what);
        json_decref(want);
        json_decref(got);
}

/* ---- framing ----------------------------------------------------------------------- */

static void test_framing(void)
{
        CtlFramer f;
        const char *l;
        size_t n;
        unsigned no;

        ctl_framer_init(&f, 16);
        ctl_framer_feed(&f, "{\"a\":1}\n{\"b\"", 12);
        is_int(ctl_framer_next(&f, &l, &n, &no), CTL_FRAME_LINE, "first line");
        ok(n == 7 && memcmp(l, "{\"a\":1}", 7) == 0 && no == 1, "line 1 content");
        is_int(ctl_framer_next(&f, &l, &n, &no), CTL_FRAME_NONE, "partial line waits");
        is_int(ctl_framer_pending(&f), 4, "four bytes pending");
        ctl_framer_feed(&f, ":2}\r\n\n  \n{}\n", 13);
        is_int(ctl_framer_next(&f, &l, &n, &no), CTL_FRAME_LINE, "line split over feeds");
        ok(n == 7 && strcmp(l, "{\"b\":2}") == 0 && no == 2, "CR stripped, NUL-terminated");
        is_int(ctl_framer_next(&f, &l, &n, &no), CTL_FRAME_LINE, "blank lines skipped");
        ok(n == 2 && no == 5, "blank lines still counted (line %u)", no);
        is_int(ctl_framer_next(&f, &l, &n, &no), CTL_FRAME_NONE, "drained");

        /* overlong, complete in one chunk */
        ctl_framer_feed(&f, "0123456789abcdefXYZ\n{}\n", 23);
        is_int(ctl_framer_next(&f, &l, &n, &no), CTL_FRAME_TOO_LONG, "overlong line reported");
        is_int(no, 6, "on its own line number");
        is_int(ctl_framer_next(&f, &l, &n, &no), CTL_FRAME_LINE, "next line still read");
        is_int(no, 7, "numbering continues");

        /* overlong, arriving in pieces: reported once, memory stays bounded */
        int reports = 0;
        for (int i = 0; i < 100; i++) {
                ctl_framer_feed(&f, "xxxxxxxxxx", 10);
                while (ctl_framer_next(&f, &l, &n, &no) == CTL_FRAME_TOO_LONG)
                        reports++;
        }
        is_int(reports, 1, "a streaming overlong line is reported once");
        is_int(no, 8, "as line 8");
        ok(f.cap <= 64, "buffer stays small while discarding (cap %zu)", f.cap);
        ctl_framer_feed(&f, "yyy\n{\"c\":3}\n", 12);
        is_int(ctl_framer_next(&f, &l, &n, &no), CTL_FRAME_LINE, "recovers after the newline");
        ok(strcmp(l, "{\"c\":3}") == 0 && no == 9, "right line after recovery (%u)", no);

        /* exactly the limit is fine */
        ctl_framer_feed(&f, "0123456789abcdef\n", 17);
        is_int(ctl_framer_next(&f, &l, &n, &no), CTL_FRAME_LINE, "a line of exactly max bytes");
        ctl_framer_deinit(&f);

        /* byte-at-a-time feeding gives the same lines */
        ctl_framer_init(&f, 0);
        const char *stream = "{\"op\":\"status\"}\n{\"op\":\"pools\"}\n";
        int lines = 0;
        for (const char *p = stream; *p; p++) {
                ctl_framer_feed(&f, p, 1);
                while (ctl_framer_next(&f, &l, &n, &no) == CTL_FRAME_LINE)
                        lines++;
        }
        is_int(lines, 2, "byte-at-a-time feeding");
        ctl_framer_deinit(&f);
}

/* ---- the documented examples -------------------------------------------------------- */

static void test_doc_has_examples(void)
{
        char path[4400];
        _cleanup_free_ char *doc = NULL;
        size_t doc_len = 0, n_files = 0, missing = 0;
        DIR *d;
        struct dirent *de;

        snprintf(path, sizeof(path), "%s/docs/protocol.md", top_dir);
        if (!ok(read_full_file(path, &doc, &doc_len) == 0, "read docs/protocol.md"))
                return;
        d = opendir(data_dir);
        if (!ok(d != NULL, "open %s", data_dir))
                return;
        while ((de = readdir(d))) {
                size_t l = strlen(de->d_name);
                if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0)
                        continue;
                _cleanup_free_ char *s = read_data(de->d_name, NULL);
                n_files++;
                if (!s || !strstr(doc, s)) {
                        missing++;
                        printf("# docs/protocol.md lacks the example %s verbatim\n", de->d_name);
                }
        }
        closedir(d);
        ok(n_files >= 30, "found %zu example files", n_files);
        is_int(missing, 0, "the document shows every example file verbatim");

        /* And every ```json block of the document is one of the files. */
        size_t blocks = 0, stray = 0;
        for (const char *p = doc; (p = strstr(p, "```json\n"));) {
                p += 8;
                const char *end = strstr(p, "```");
                if (!end)
                        break;
                blocks++;
                bool found = false;
                d = opendir(data_dir);
                while (d && (de = readdir(d)) && !found) {
                        size_t l = strlen(de->d_name);
                        if (l < 6 || strcmp(de->d_name + l - 5, ".json") != 0)
                                continue;
                        size_t n = 0;
                        _cleanup_free_ char *s = read_data(de->d_name, &n);
                        found = s && n == (size_t)(end - p) && memcmp(s, p, n) == 0;
                }
                if (d)
                        closedir(d);
                if (!found) {
                        stray++;
                        printf("# a json block at offset %zu is not a test example\n",
                               (size_t)(p - doc));
                }
                p = end + 3;
        }
        ok(blocks == n_files, "as many json blocks (%zu) as examples (%zu)", blocks, n_files);
        is_int(stray, 0, "no json example in the document is untested");
}

static CtlRequest *parse_example(const char *name, CtlOp want)
{
        _cleanup_free_ char *line = example_line(name);
        CtlRequest *req = NULL;
        CtlError err = {};
        int r = line ? parse(line, 1, &req, &err) : -EIO;
        if (!ok(r == 0 && req && req->op == want, "%s decodes as %s", name, ctl_op_to_string(want)))
                printf("#   r=%d detail: %s\n", r, err.detail);
        ctl_error_clear(&err);
        return r == 0 ? req : NULL;
}

static void test_request_examples(void)
{
        CtlRequest *req;
        CtlError err = {};

        req = parse_example("req-hello.json", CTL_OP_HELLO);
        if (req) {
                ok(req->hello.version == 1 && strcmp(req->hello.client, "mlbd-bridge") == 0 &&
                       strcmp(req->hello.node, "node1") == 0 && req->hello.subscribe,
                   "hello fields");
                ok(json_integer_value(req->id) == 1, "hello id");
                is_int(ctl_check_version(req, &err), 0, "version 1 accepted");
                req->hello.version = 2;
                is_int(ctl_check_version(req, &err), -EINVAL, "version 2 refused");
                is_int(err.code, CTL_ERR_VERSION_MISMATCH, "version mismatch code");
                err.id = json_incref(req->id);
                char *line = NULL;
                ctl_reply_error(&err, NULL, 0, &line, NULL);
                same_json("version mismatch error", line, "rep-error-version.json");
                free(line);
                ctl_error_clear(&err);
        }
        ctl_request_free(req);

        req = parse_example("req-sync.json", CTL_OP_SYNC);
        if (req) {
                Model *m = req->sync.objects;
                ok(!req->sync.more && !req->sync.cont, "single-part sync");
                is_int(model_count(m, OBJ_SERVICE), 2, "two services");
                is_int(model_count(m, OBJ_ENDPOINT_SLICE), 1, "one slice");
                is_int(model_count(m, OBJ_NODE), 2, "two nodes");
                is_int(model_count(m, OBJ_NAMESPACE), 1, "one namespace");
                const Service *s = model_service(m, "demo", "web");
                ok(s && s->type == SERVICE_LOAD_BALANCER && s->n_ports == 1 &&
                       s->ports[0].port == 80 && s->ports[0].protocol == PROTO_TCP &&
                       strcmp(s->ports[0].name, "http") == 0,
                   "web: type and ports");
                ok(s && s->external_traffic_policy == TRAFFIC_LOCAL && s->n_ip_families == 1 &&
                       s->ip_families[0] == AF_INET &&
                       s->ip_family_policy == IP_FAMILY_SINGLE_STACK,
                   "web: policy and families");
                ok(s && s->n_ingress == 1 && s->ingress[0] == addr_from_v4(0xc000020a),
                   "web: status ingress 192.0.2.10");
                ok(s && strcmp(labels_get(&s->selector, "app"), "web") == 0 &&
                       strcmp(labels_get(&s->meta.labels, "app"), "web") == 0,
                   "web: selector and labels");
                ok(s && strcmp(s->meta.uid, "6b0c1e0a-8d6f-4c1e-9a53-2f4f2a1d9c01") == 0,
                   "web: uid");
                s = model_service(m, "demo", "dns");
                ok(s && s->ports[0].protocol == PROTO_UDP && s->n_ip_families == 2 &&
                       s->ip_family_policy == IP_FAMILY_REQUIRE_DUAL_STACK && s->n_ingress == 0,
                   "dns: UDP, dual stack, no ingress yet");
                ServiceRequest sr;
                char e[256];
                ok(s && service_resolve_request(s, &sr, e, sizeof(e)) == 0 && sr.n_addresses == 2 &&
                       strcmp(sr.sharing_key, "web-and-dns") == 0,
                   "dns: requested addresses and sharing key from metallb.io annotations");
                const EndpointSlice *es = model_endpoint_slice(m, "demo", "web-7xk2p");
                ok(es && strcmp(es->service_name, "web") == 0 && es->n_endpoints == 2 &&
                       es->endpoints[0].ready && !es->endpoints[1].ready &&
                       strcmp(es->endpoints[1].node_name, "node2") == 0 &&
                       es->address_type == ADDRESS_TYPE_IPV4,
                   "slice: service name, endpoints, readiness");
                const Node *n1 = model_node(m, "node1"), *n2 = model_node(m, "node2");
                ok(n1 && n1->ready && n1->n_addresses == 2 &&
                       strcmp(n1->addresses[0].type, "InternalIP") == 0 &&
                       strcmp(n1->addresses[0].address, "198.51.100.11") == 0,
                   "node1: ready, addresses");
                ok(n2 && !n2->ready, "node2: Ready=Unknown is not ready");
                const Namespace *ns = model_namespace(m, "demo");
                ok(ns && strcmp(labels_get(&ns->meta.labels, "team"), "a") == 0,
                   "namespace labels");
        }
        ctl_request_free(req);

        req = parse_example("req-sync-part1.json", CTL_OP_SYNC);
        ok(req && req->sync.more && !req->sync.cont, "part 1 says more");
        CtlRequest *p2 = parse_example("req-sync-part2.json", CTL_OP_SYNC);
        ok(p2 && !p2->sync.more && p2->sync.cont, "part 2 continues and ends");
        if (req && p2) {
                _cleanup_(model_freep) Model *pending = NULL;
                is_int(ctl_sync_gather(&pending, req, &err), 0, "gather part 1");
                is_int(ctl_sync_gather(&pending, p2, &err), 0, "gather part 2");
                ok(model_count(pending, OBJ_SERVICE) == 2 && model_count(pending, OBJ_NODE) == 2 &&
                       model_count(pending, OBJ_NAMESPACE) == 1 &&
                       model_count(pending, OBJ_ENDPOINT_SLICE) == 1,
                   "the parts add up to the single-message sync");
        }
        ctl_request_free(req);
        ctl_request_free(p2);

        static const struct {
                const char *file;
                ObjKind kind;
                const char *key;
        } ups[] = {
            {"req-upsert-service.json", OBJ_SERVICE, "demo/web"},
            {"req-upsert-endpointslice.json", OBJ_ENDPOINT_SLICE, "demo/web-7xk2p"},
            {"req-upsert-node.json", OBJ_NODE, "node1"},
            {"req-upsert-namespace.json", OBJ_NAMESPACE, "demo"},
        };
        for (size_t i = 0; i < ELEMENTSOF(ups); i++) {
                req = parse_example(ups[i].file, CTL_OP_UPSERT);
                ok(req && req->upsert.kind == ups[i].kind &&
                       strcmp(((ObjMeta *)req->upsert.object)->key, ups[i].key) == 0,
                   "%s: kind and key %s", ups[i].file, ups[i].key);
                ctl_request_free(req);
        }

        req = parse_example("req-delete-service.json", CTL_OP_DELETE);
        ok(req && req->del.kind == OBJ_SERVICE && strcmp(req->del.namespace, "demo") == 0 &&
               strcmp(req->del.name, "web") == 0 && req->del.uid,
           "delete service fields");
        ctl_request_free(req);
        req = parse_example("req-delete-node.json", CTL_OP_DELETE);
        ok(req && req->del.kind == OBJ_NODE && !req->del.namespace && !req->del.uid,
           "delete node fields");
        ctl_request_free(req);
        req = parse_example("req-leader.json", CTL_OP_LEADER);
        ok(req && req->leader.leader, "leader true");
        ctl_request_free(req);

        static const struct {
                const char *file;
                CtlOp op;
        } queries[] = {
            {"req-status.json", CTL_OP_STATUS},     {"req-pools.json", CTL_OP_POOLS},
            {"req-services.json", CTL_OP_SERVICES}, {"req-peers.json", CTL_OP_PEERS},
            {"req-reload.json", CTL_OP_RELOAD},     {"req-events.json", CTL_OP_EVENTS},
        };
        for (size_t i = 0; i < ELEMENTSOF(queries); i++) {
                req = parse_example(queries[i].file, queries[i].op);
                char *line = NULL;
                /* mlbctl's encoder produces the documented request */
                if (req)
                        ctl_request_encode_simple(queries[i].op, req->id, &line, NULL);
                same_json("encoded query", line, queries[i].file);
                free(line);
                ctl_request_free(req);
        }
        char *line = NULL;
        json_t *id = json_integer(1);
        ctl_request_encode_hello(id, 1, "mlbd-bridge", "node1", true, &line, NULL);
        same_json("encoded hello", line, "req-hello.json");
        free(line);
        json_decref(id);
        id = json_integer(9);
        ctl_request_encode_leader(id, true, &line, NULL);
        same_json("encoded leader", line, "req-leader.json");
        free(line);
        json_decref(id);
}

static void test_reply_examples(void)
{
        char *line = NULL;
        json_t *id;

        id = json_integer(1);
        ctl_reply_hello(id, &(CtlHelloReply){1, "0.1.0", "node1"}, &line, NULL);
        same_json("hello reply", line, "rep-hello.json");
        free(line);
        json_decref(id);

        id = json_integer(2);
        ctl_reply_sync(id, &(CtlSyncReply){.generation = 1, .counts = {2, 1, 2, 1}}, &line, NULL);
        same_json("sync reply", line, "rep-sync.json");
        free(line);
        json_decref(id);
        id = json_integer(10);
        ctl_reply_sync(id, &(CtlSyncReply){.pending = true, .counts = {1, 1, 1, 0}}, &line, NULL);
        same_json("pending sync reply", line, "rep-sync-pending.json");
        free(line);
        json_decref(id);

        id = json_integer(3);
        ctl_reply_change(id, CTL_OP_UPSERT, OBJ_SERVICE, "demo/web", MODEL_UPDATED, 2, &line, NULL);
        same_json("upsert reply", line, "rep-upsert.json");
        free(line);
        json_decref(id);
        id = json_integer(7);
        ctl_reply_change(id, CTL_OP_DELETE, OBJ_SERVICE, "demo/web", MODEL_DELETED, 3, &line, NULL);
        same_json("delete reply", line, "rep-delete.json");
        free(line);
        json_decref(id);
        is_int(ctl_reply_change(NULL, CTL_OP_SYNC, OBJ_SERVICE, "x", MODEL_DELETED, 3, &line, NULL),
               -EINVAL, "change reply only for upsert/delete");

        id = json_integer(9);
        ctl_reply_leader(id, true, &line, NULL);
        same_json("leader reply", line, "rep-leader.json");
        free(line);
        json_decref(id);

        u128 web, dns4;
        addr_parse("192.0.2.10", &web);
        addr_parse("192.0.2.10", &dns4);
        id = json_string("mlbctl-1");
        ctl_reply_status(id,
                         &(CtlStatus){.node = "node1",
                                      .version = "0.1.0",
                                      .leader = true,
                                      .bridge_connected = true,
                                      .generation = 3,
                                      .services = 2,
                                      .services_allocated = 1,
                                      .services_failed = 1,
                                      .owned = &web,
                                      .n_owned = 1,
                                      .peers_alive = 2,
                                      .peers_total = 3},
                         &line, NULL);
        same_json("status reply", line, "rep-status.json");
        free(line);
        json_decref(id);

        AddrRange r1[2], r2[1];
        char e[128];
        size_t eo;
        range_parse("192.0.2.0/28", false, &r1[0], e, sizeof(e), &eo);
        range_parse("198.51.100.150-198.51.100.200", false, &r1[1], e, sizeof(e), &eo);
        range_parse("2001:db8:1::/64", false, &r2[0], e, sizeof(e), &eo);
        CtlPoolInfo pools[2] = {
            {.name = "cheap", .ranges = r1, .n_ranges = 2, .auto_assign = true, .used = 1},
            {.name = "v6", .ranges = r2, .n_ranges = 1, .auto_assign = false, .used = 0},
        };
        for (size_t i = 0; i < 2; i++)
                for (size_t k = 0; k < pools[i].n_ranges; k++)
                        addr_count_add_range(&pools[i].size, &pools[i].ranges[k]);
        id = json_string("mlbctl-2");
        ctl_reply_pools(id, pools, 2, &line, NULL);
        same_json("pools reply", line, "rep-pools.json");
        free(line);
        json_decref(id);

        /* a ::/0 pool: size and free are 2^128, spelled out */
        AddrRange all = {0, ~(u128)0};
        CtlPoolInfo huge = {.name = "all", .ranges = &all, .n_ranges = 1, .used = 5};
        addr_count_add_range(&huge.size, &all);
        ctl_reply_pools(NULL, &huge, 1, &line, NULL);
        ok(line && strstr(line, "\"size\":\"340282366920938463463374607431768211456\"") &&
               strstr(line, "\"free\":\"340282366920938463463374607431768211451\""),
           "2^128 pool size and free in decimal");
        free(line);

        CtlServiceInfo svcs[2] = {
            {.namespace = "demo",
             .name = "dns",
             .uid = "0d6a3f55-1b7e-4a0b-8c2d-55e1c1f0a7b2",
             .state = "failed",
             .sharing_key = "web-and-dns",
             .reason = "192.0.2.10 is shared with demo/web, which uses another "
                       "externalTrafficPolicy"},
            {.namespace = "demo",
             .name = "web",
             .uid = "6b0c1e0a-8d6f-4c1e-9a53-2f4f2a1d9c01",
             .state = "allocated",
             .addresses = &web,
             .n_addresses = 1,
             .pool = "cheap",
             .owner = "node1",
             .sharing_key = "web-and-dns"},
        };
        id = json_string("mlbctl-3");
        ctl_reply_services(id, svcs, 2, &line, NULL);
        same_json("services reply", line, "rep-services.json");
        free(line);
        json_decref(id);

        CtlPeerInfo peers[3] = {
            {"node1", "198.51.100.11", "alive", true, -1, 0x5e1d0c9b7a2f4403ull, 1},
            {"node2", "198.51.100.12", "alive", false, 40, 0x0b6e2d17c4a98f10ull, 0},
            {"node3", "198.51.100.13", "dead", false, 73400, 0x9f00aa11c2d3e4f5ull, 0},
        };
        id = json_string("mlbctl-4");
        CtlCounter dropped[] = {{"truncated", 0},    {"oversize", 0},  {"forged", 2},
                                {"version", 0},      {"malformed", 0}, {"replay", 5},
                                {"unknown_peer", 0}, {"self", 0}};
        ctl_reply_peers(id, peers, 3, dropped, ELEMENTSOF(dropped), &line, NULL);
        same_json("peers reply", line, "rep-peers.json");
        free(line);
        json_decref(id);

        CtlReloadReply rr = {.n_pools = 2};
        addr_count_add_range(&rr.addresses, &r1[0]);
        addr_count_add_range(&rr.addresses, &r1[1]);
        addr_count_add_range(&rr.addresses, &r2[0]);
        id = json_string("mlbctl-5");
        ctl_reply_reload(id, &rr, &line, NULL);
        same_json("reload reply", line, "rep-reload.json");
        free(line);

        {
                json_t *eid = json_string("mlbctl-6");
                CtlEventInfo ev[] = {
                    {"2026-12-02T21:14:07.512Z", "peer_death", NULL, "node2",
                     "peer node2: alive -> dead (no heartbeat for 400 ms)"},
                    {"2026-12-02T21:14:07.513Z", "takeover", "192.0.2.150", "node2",
                     "192.0.2.150: taking it over from node2 (peer_dead)"},
                };
                ctl_reply_events(eid, ev, ELEMENTSOF(ev), &line, NULL);
                same_json("events reply", line, "rep-events.json");
                free(line);
                json_decref(eid);
        }

        CtlError err = {.code = CTL_ERR_RELOAD_FAILED, .id = id};
        snprintf(err.detail, sizeof(err.detail), "/etc/mlbd/pools.yaml: 1 error, nothing changed");
        char *diag = (char *)"/etc/mlbd/pools.yaml:5:9: range end 198.51.100.20 is below its "
                             "start 198.51.100.150";
        ctl_reply_error(&err, &diag, 1, &line, NULL);
        same_json("reload error", line, "rep-error-reload.json");
        free(line);
        ctl_error_clear(&err);

        /* errors produced by real bad input */
        CtlRequest *req = NULL;
        _cleanup_free_ char *badsync = read_data("bad-sync-port.jsonl", NULL);
        if (badsync) {
                is_int(ctl_request_parse(badsync, strlen(badsync) - 1, 3, &req, &err), -EINVAL,
                       "bad sync refused");
                ctl_reply_error(&err, NULL, 0, &line, NULL);
                same_json("bad_message error", line, "rep-error-bad-message.json");
                free(line);
                ctl_error_clear(&err);
        }
        _cleanup_free_ char *badjson = read_data("bad-json.jsonl", NULL);
        if (badjson) {
                is_int(ctl_request_parse(badjson, strlen(badjson) - 1, 4, &req, &err), -EINVAL,
                       "malformed JSON refused");
                ctl_reply_error(&err, NULL, 0, &line, NULL);
                same_json("bad_json error", line, "rep-error-bad-json.json");
                free(line);
                ctl_error_clear(&err);
        }
}

static void check_notification(const char *file, CtlNotifyType type)
{
        _cleanup_free_ char *line = example_line(file);
        json_t *msg = NULL;
        CtlNotification n = {};
        CtlError err = {};
        bool is_n = false;
        int r = line ? ctl_message_parse(line, strlen(line), 1, &msg, &n, &is_n, &err) : -EIO;
        if (!ok(r == 0 && is_n && n.type == type, "%s decodes as a notification", file))
                printf("#   %s\n", err.detail);
        ok(n.namespace && strcmp(n.namespace, "demo") == 0 && n.uid, "%s: service and uid", file);
        char *re = NULL;
        switch (type) {
        case CTL_NOTIFY_ALLOCATED:
                ctl_notify_allocated(n.service, n.uid, n.addresses, n.n_addresses, n.pool, &re,
                                     NULL);
                break;
        case CTL_NOTIFY_ALLOCATION_FAILED:
                ctl_notify_allocation_failed(n.service, n.uid, n.reason, &re, NULL);
                break;
        case CTL_NOTIFY_NODE_ASSIGNED:
                if (n.n_addresses == 1)
                        ctl_notify_node_assigned(n.service, n.uid, n.addresses[0], n.node, &re,
                                                 NULL);
                break;
        case CTL_NOTIFY_RELEASED:
                ctl_notify_released(n.service, n.uid, n.addresses, n.n_addresses, &re, NULL);
                break;
        default:
                break;
        }
        same_json("re-encoded notification", re, file);
        free(re);
        json_decref(msg);
        ctl_notification_clear(&n);
        ctl_error_clear(&err);
}

static void test_notifications(void)
{
        check_notification("ntf-allocated.json", CTL_NOTIFY_ALLOCATED);
        check_notification("ntf-allocation-failed.json", CTL_NOTIFY_ALLOCATION_FAILED);
        check_notification("ntf-node-assigned.json", CTL_NOTIFY_NODE_ASSIGNED);
        check_notification("ntf-released.json", CTL_NOTIFY_RELEASED);

        /* replies are messages too, left to the caller */
        _cleanup_free_ char *line = example_line("rep-status.json");
        json_t *msg = NULL;
        CtlNotification n = {};
        CtlError err = {};
        bool is_n = true;
        is_int(ctl_message_parse(line, strlen(line), 1, &msg, &n, &is_n, &err), 0,
               "a reply parses");
        ok(!is_n && msg && strcmp(json_string_value(json_object_get(msg, "op")), "status") == 0,
           "... and is not a notification");
        json_decref(msg);

        static const char nobody[] = "{\"op\":\"node_assigned\",\"service\":\"demo/web\","
                                     "\"uid\":\"u1\",\"address\":\"192.0.2.1\",\"node\":null}";
        msg = NULL;
        is_int(ctl_message_parse(nobody, strlen(nobody), 1, &msg, &n, &is_n, &err), 0,
               "node_assigned with \"node\": null (nobody eligible) parses");
        ok(is_n && n.type == CTL_NOTIFY_NODE_ASSIGNED && !n.node, "... as node_assigned, no node");
        json_decref(msg);
        ctl_notification_clear(&n);
        char *enc = NULL;
        ok(ctl_notify_node_assigned("demo/web", "u1", addr_from_v4(0xc0000201u), NULL, &enc,
                                    NULL) >= 0 &&
               enc && strstr(enc, "\"node\":null"),
           "and is encoded so: %s", enc ? enc : "(null)");
        free(enc);

        static const char *bad_ntf[] = {
            "{\"op\":\"allocated\",\"service\":\"web\",\"addresses\":[\"192.0.2.1\"]}",
            "{\"op\":\"allocated\",\"service\":\"demo/web\",\"addresses\":[\"nope\"]}",
            "{\"op\":\"allocated\",\"service\":\"demo/web\"}",
            "{\"op\":\"node_assigned\",\"service\":\"demo/web\",\"address\":\"192.0.2.1\"}",
            "{\"op\":\"allocation_failed\",\"service\":\"demo/web\",\"reason\":7}",
            "[1,2]",
            "{\"op\":\"released\",\"service\":\"demo/web\",\"addresses\":[\"192.0.2.1\"",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad_ntf); i++) {
                msg = NULL;
                is_int(ctl_message_parse(bad_ntf[i], strlen(bad_ntf[i]), 1, &msg, &n, &is_n, &err),
                       -EINVAL, "bad notification %zu refused: %s", i, err.detail);
                json_decref(msg);
        }
        ctl_error_clear(&err);
}

/* ---- bad input ---------------------------------------------------------------------- */

#define SVC_HEAD "{\"op\":\"upsert\",\"kind\":\"Service\",\"object\":"
#define SVC_META "\"metadata\":{\"namespace\":\"demo\",\"name\":\"web\",\"uid\":\"u1\"}"

static void test_bad_input(void)
{
        bad("malformed JSON", "{\"op\":", CTL_ERR_BAD_JSON, "line 1: column");
        bad("trailing garbage", "{\"op\":\"status\"} x", CTL_ERR_BAD_JSON, "end of file expected");
        bad("not an object", "[\"status\"]", CTL_ERR_BAD_MESSAGE,
            "line 1: expected a JSON object, got an array");
        bad("invalid UTF-8", "{\"op\":\"st\xff\"}", CTL_ERR_BAD_JSON, "unable to decode byte 0xff");
        bad("duplicate JSON key", "{\"op\":\"status\",\"op\":\"pools\"}", CTL_ERR_BAD_JSON,
            "duplicate object key");
        bad("escaped NUL", "{\"op\":\"status\",\"id\":\"a\\u0000b\"}", CTL_ERR_BAD_JSON,
            "\\u0000 is not allowed");
        {
                CtlRequest *req = NULL;
                CtlError err = {};
                const char raw[] = "{\"op\":\"st\0atus\"}";
                is_int(ctl_request_parse(raw, sizeof(raw) - 1, 5, &req, &err), -EINVAL,
                       "raw NUL byte refused");
                is_str(err.detail, "line 5: column 10: NUL byte", "raw NUL names its column");
                ctl_error_clear(&err);
        }
        {
                size_t n = CTL_LINE_MAX + 1;
                char *big = malloc(n);
                memset(big, ' ', n);
                CtlRequest *req = NULL;
                CtlError err = {};
                is_int(ctl_request_parse(big, n, 2, &req, &err), -EINVAL, "overlong line");
                is_int(err.code, CTL_ERR_LINE_TOO_LONG, "overlong line code");
                ctl_error_clear(&err);
                free(big);
        }
        bad("missing op", "{\"id\":1}", CTL_ERR_BAD_MESSAGE, "line 1: op: missing");
        bad("op not a string", "{\"op\":5}", CTL_ERR_BAD_MESSAGE, "op: expected a string, got 5");
        bad("unknown op", "{\"op\":\"frobnicate\"}", CTL_ERR_UNKNOWN_OP,
            "op: unknown operation \"frobnicate\"");
        bad("id of a wrong type", "{\"op\":\"status\",\"id\":[1]}", CTL_ERR_BAD_MESSAGE,
            "id: expected a string (at most 256 bytes) or an integer, got an array");
        bad("hello without version", "{\"op\":\"hello\",\"client\":\"x\"}", CTL_ERR_BAD_MESSAGE,
            "version: missing");
        bad("hello version as string", "{\"op\":\"hello\",\"version\":\"1\",\"client\":\"x\"}",
            CTL_ERR_BAD_MESSAGE, "version: expected an integer 1-65535, got \"1\"");
        bad("hello client with control chars",
            "{\"op\":\"hello\",\"version\":1,\"client\":\"a\\nb\"}", CTL_ERR_BAD_MESSAGE,
            "client: expected text");
        bad("leader not bool", "{\"op\":\"leader\",\"leader\":1}", CTL_ERR_BAD_MESSAGE,
            "leader: expected true or false, got 1");
        bad("unknown kind", "{\"op\":\"upsert\",\"kind\":\"Pod\",\"object\":{}}",
            CTL_ERR_UNKNOWN_KIND, "kind: unknown kind \"Pod\"");
        bad("delete unknown kind", "{\"op\":\"delete\",\"kind\":\"Ingress\",\"name\":\"x\"}",
            CTL_ERR_UNKNOWN_KIND, "unknown kind \"Ingress\"");
        bad("upsert without object", "{\"op\":\"upsert\",\"kind\":\"Node\"}", CTL_ERR_BAD_MESSAGE,
            "object: missing");
        bad("delete namespace of a node",
            "{\"op\":\"delete\",\"kind\":\"Node\",\"namespace\":\"x\",\"name\":\"n\"}",
            CTL_ERR_BAD_MESSAGE, "namespace: a Node has no namespace");
        bad("delete service without namespace",
            "{\"op\":\"delete\",\"kind\":\"Service\",\"name\":\"n\"}", CTL_ERR_BAD_MESSAGE,
            "namespace: missing");
        bad("object without metadata", SVC_HEAD "{\"spec\":{}}}", CTL_ERR_BAD_MESSAGE,
            "object.metadata: missing");
        bad("service without uid",
            SVC_HEAD "{\"metadata\":{\"namespace\":\"demo\",\"name\":\"web\"}}}",
            CTL_ERR_BAD_MESSAGE, "object.metadata.uid: missing");
        bad("upper-case name",
            SVC_HEAD "{\"metadata\":{\"namespace\":\"demo\",\"name\":\"Web\",\"uid\":\"u\"}}}",
            CTL_ERR_BAD_MESSAGE, "object.metadata.name: expected a DNS label");
        bad("64-char service name",
            SVC_HEAD "{\"metadata\":{\"namespace\":\"demo\",\"name\":\""
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                     "\",\"uid\":\"u\"}}}",
            CTL_ERR_BAD_MESSAGE, "object.metadata.name: too long (64 bytes, at most 63)");
        bad("name with a slash",
            "{\"op\":\"upsert\",\"kind\":\"Node\",\"object\":{\"metadata\":{\"name\":\"a/b\"}}}",
            CTL_ERR_BAD_MESSAGE, "object.metadata.name: expected a DNS subdomain");
        bad("empty name",
            "{\"op\":\"upsert\",\"kind\":\"Node\",\"object\":{\"metadata\":{\"name\":\"\"}}}",
            CTL_ERR_BAD_MESSAGE, "object.metadata.name: must not be empty");
        bad("kind mismatch inside the object",
            "{\"op\":\"upsert\",\"kind\":\"Node\",\"object\":{\"kind\":\"Service\",\"metadata\":{"
            "\"name\":\"n\"}}}",
            CTL_ERR_BAD_MESSAGE, "object.kind: object of kind \"Service\" where a Node belongs");
        bad("port as string", SVC_HEAD "{" SVC_META ",\"spec\":{\"ports\":[{\"port\":\"http\"}]}}}",
            CTL_ERR_BAD_MESSAGE,
            "object.spec.ports[0].port: expected an integer 1-65535, got \"http\"");
        bad("port zero", SVC_HEAD "{" SVC_META ",\"spec\":{\"ports\":[{\"port\":0}]}}}",
            CTL_ERR_BAD_MESSAGE, "ports[0].port: expected an integer 1-65535, got 0");
        bad("port as real", SVC_HEAD "{" SVC_META ",\"spec\":{\"ports\":[{\"port\":80.0}]}}}",
            CTL_ERR_BAD_MESSAGE, "ports[0].port: expected an integer 1-65535, got 80.0");
        bad("port missing", SVC_HEAD "{" SVC_META ",\"spec\":{\"ports\":[{\"name\":\"x\"}]}}}",
            CTL_ERR_BAD_MESSAGE, "object.spec.ports[0].port: missing");
        bad("bad protocol",
            SVC_HEAD "{" SVC_META ",\"spec\":{\"ports\":[{\"port\":1,\"protocol\":\"ICMP\"}]}}}",
            CTL_ERR_BAD_MESSAGE, "ports[0].protocol: expected TCP, UDP or SCTP, got \"ICMP\"");
        bad("ports not an array", SVC_HEAD "{" SVC_META ",\"spec\":{\"ports\":{}}}}",
            CTL_ERR_BAD_MESSAGE, "object.spec.ports: expected an array, got an object");
        bad("bad type", SVC_HEAD "{" SVC_META ",\"spec\":{\"type\":\"Balancer\"}}}",
            CTL_ERR_BAD_MESSAGE, "object.spec.type: expected ClusterIP, NodePort");
        bad("bad family", SVC_HEAD "{" SVC_META ",\"spec\":{\"ipFamilies\":[\"IPv5\"]}}}",
            CTL_ERR_BAD_MESSAGE, "object.spec.ipFamilies[0]: expected IPv4 or IPv6, got \"IPv5\"");
        bad("family twice",
            SVC_HEAD "{" SVC_META ",\"spec\":{\"ipFamilies\":[\"IPv4\",\"IPv4\"]}}}",
            CTL_ERR_BAD_MESSAGE, "ipFamilies[1]: IPv4 listed twice");
        bad("three families",
            SVC_HEAD "{" SVC_META ",\"spec\":{\"ipFamilies\":[\"IPv4\",\"IPv6\",\"IPv4\"]}}}",
            CTL_ERR_BAD_MESSAGE, "ipFamilies: at most 2 families, got 3");
        bad("bad policy", SVC_HEAD "{" SVC_META ",\"spec\":{\"externalTrafficPolicy\":\"local\"}}}",
            CTL_ERR_BAD_MESSAGE, "externalTrafficPolicy: expected Cluster or Local");
        bad("selector value too long",
            SVC_HEAD "{" SVC_META ",\"spec\":{\"selector\":{\"app\":\""
                     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}}}",
            CTL_ERR_BAD_MESSAGE, "object.spec.selector[\"app\"]: too long (64 bytes, at most 63)");
        bad("label value not a string",
            SVC_HEAD "{\"metadata\":{\"namespace\":\"demo\",\"name\":\"web\",\"uid\":\"u\","
                     "\"labels\":{\"app\":1}}}}",
            CTL_ERR_BAD_MESSAGE, "object.metadata.labels[\"app\"]: expected a string, got 1");
        bad("label key invalid",
            SVC_HEAD "{\"metadata\":{\"namespace\":\"demo\",\"name\":\"web\",\"uid\":\"u\","
                     "\"labels\":{\"-app\":\"x\"}}}}",
            CTL_ERR_BAD_MESSAGE, "labels[\"-app\"]: key is not a qualified name");
        bad("label value with a space",
            SVC_HEAD "{\"metadata\":{\"namespace\":\"demo\",\"name\":\"web\",\"uid\":\"u\","
                     "\"labels\":{\"app\":\"a b\"}}}}",
            CTL_ERR_BAD_MESSAGE, "expected a label value");
        bad("annotations not a map",
            SVC_HEAD "{\"metadata\":{\"namespace\":\"demo\",\"name\":\"web\",\"uid\":\"u\","
                     "\"annotations\":[]}}}",
            CTL_ERR_BAD_MESSAGE, "object.metadata.annotations: expected an object, got an array");
        bad("ingress ip not a string",
            SVC_HEAD "{" SVC_META ",\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":5}]}}}}",
            CTL_ERR_BAD_MESSAGE,
            "object.status.loadBalancer.ingress[0].ip: expected a string, got 5");
        bad("endpoint ready not bool",
            "{\"op\":\"upsert\",\"kind\":\"EndpointSlice\",\"object\":{\"metadata\":{\"namespace\":"
            "\"demo\",\"name\":\"s\"},\"endpoints\":[{\"conditions\":{\"ready\":\"yes\"}}]}}",
            CTL_ERR_BAD_MESSAGE,
            "object.endpoints[0].conditions.ready: expected true or false, got \"yes\"");
        bad("endpoint not an object",
            "{\"op\":\"upsert\",\"kind\":\"EndpointSlice\",\"object\":{\"metadata\":{\"namespace\":"
            "\"demo\",\"name\":\"s\"},\"endpoints\":[7]}}",
            CTL_ERR_BAD_MESSAGE, "object.endpoints[0]: expected an object, got 7");
        bad("node condition without status",
            "{\"op\":\"upsert\",\"kind\":\"Node\",\"object\":{\"metadata\":{\"name\":\"n\"},"
            "\"status\":{\"conditions\":[{\"type\":\"Ready\"}]}}}",
            CTL_ERR_BAD_MESSAGE, "object.status.conditions[0].status: missing");
        bad("node address without address",
            "{\"op\":\"upsert\",\"kind\":\"Node\",\"object\":{\"metadata\":{\"name\":\"n\"},"
            "\"status\":{\"addresses\":[{\"type\":\"InternalIP\"}]}}}",
            CTL_ERR_BAD_MESSAGE, "object.status.addresses[0].address: missing");
        bad("sync without nodes",
            "{\"op\":\"sync\",\"services\":[],\"endpointslices\":[],\"namespaces\":[]}",
            CTL_ERR_BAD_MESSAGE, "line 1: nodes: missing");
        bad("sync with services not an array",
            "{\"op\":\"sync\",\"services\":{},\"endpointslices\":[],\"nodes\":[],"
            "\"namespaces\":[]}",
            CTL_ERR_BAD_MESSAGE, "services: expected an array, got an object");
        bad("sync with a duplicate",
            "{\"op\":\"sync\",\"services\":[],\"endpointslices\":[],\"namespaces\":[],"
            "\"nodes\":[{\"metadata\":{\"name\":\"a\"}},{\"metadata\":{\"name\":\"b\"}},"
            "{\"metadata\":{\"name\":\"a\"}}]}",
            CTL_ERR_DUPLICATE, "line 1: nodes[2]: duplicate Node a (the same as nodes[0])");
        bad("sync more not bool",
            "{\"op\":\"sync\",\"more\":\"yes\",\"services\":[],\"endpointslices\":[],\"nodes\":[],"
            "\"namespaces\":[]}",
            CTL_ERR_BAD_MESSAGE, "more: expected true or false");

        /* the id is echoed even when the rest is wrong */
        CtlRequest *req = NULL;
        CtlError err = {};
        parse("{\"op\":\"leader\",\"id\":\"abc\"}", 1, &req, &err);
        ok(json_is_string(err.id) && strcmp(json_string_value(err.id), "abc") == 0,
           "error carries the request id");
        ctl_error_clear(&err);

        /* a status ip mlbd cannot parse is counted, not fatal: the API server accepts
         * forms addr_parse() refuses, and one such Service must not block every sync */
        const char *odd = SVC_HEAD "{" SVC_META ",\"status\":{\"loadBalancer\":{\"ingress\":["
                                   "{\"ip\":\"::ffff:192.0.2.1\"},{\"hostname\":\"lb.example\"},"
                                   "{\"ip\":\"192.0.2.2\"}]}}}}";
        is_int(parse(odd, 1, &req, &err), 0, "odd ingress ip accepted");
        ok(req && ((Service *)req->upsert.object)->n_ingress == 1 &&
               ((Service *)req->upsert.object)->n_ingress_invalid == 1,
           "one address kept, one counted as invalid, hostname skipped");
        req = ctl_request_free(req);
        ctl_error_clear(&err);

        /* unknown fields are ignored, null counts as absent */
        const char *lenient =
            SVC_HEAD "{\"apiVersion\":\"v1\",\"metadata\":{\"namespace\":\"demo\",\"name\":"
                     "\"web\",\"uid\":\"u\",\"annotations\":null,\"managedFields\":[{}]},"
                     "\"spec\":{\"ports\":null,\"clusterIPs\":[\"10.0.0.1\"],\"future\":{"
                     "\"x\":1}}},\"extra\":true}";
        is_int(parse(lenient, 1, &req, &err), 0, "unknown fields ignored, nulls absent");
        ok(req && ((Service *)req->upsert.object)->type == SERVICE_CLUSTER_IP,
           "defaults: ClusterIP");
        ctl_request_free(req);
        ctl_error_clear(&err);
}

/* ---- applying to a model: atomicity -------------------------------------------------- */

static size_t total(const Model *m)
{
        size_t n = 0;
        for (ObjKind k = 0; k < _OBJ_KIND_MAX; k++)
                n += model_count(m, k);
        return n;
}

static void test_atomic_sync(void)
{
        _cleanup_(model_freep) Model *m = NULL, *pending = NULL;
        _cleanup_free_ char *good = example_line("req-sync.json");
        _cleanup_free_ char *badsync = read_data("bad-sync-port.jsonl", NULL);
        _cleanup_free_ char *up = example_line("req-upsert-service.json");
        _cleanup_free_ char *p1 = example_line("req-sync-part1.json");
        _cleanup_free_ char *p2 = example_line("req-sync-part2.json");
        CtlRequest *req = NULL, *req2 = NULL;
        CtlError err = {};

        if (!good || !badsync || !up || !p1 || !p2)
                return;
        model_new(&m);
        is_int(parse(good, 1, &req, &err), 0, "good sync decodes");
        model_replace(m, &req->sync.objects);
        req = ctl_request_free(req);
        is_int(m->generation, 1, "one change");
        is_int(total(m), 6, "six objects");

        is_int(ctl_request_parse(badsync, strlen(badsync) - 1, 2, &req, &err), -EINVAL,
               "a sync with one bad object is refused whole");
        ok(req == NULL, "and yields no request to apply");
        is_int(m->generation, 1, "generation unchanged after the bad sync");
        is_int(total(m), 6, "model unchanged after the bad sync");
        ctl_error_clear(&err);

        const char *bad_up = SVC_HEAD "{" SVC_META ",\"spec\":{\"ports\":[{\"port\":-1}]}}}";
        is_int(parse(bad_up, 3, &req, &err), -EINVAL, "bad upsert refused");
        is_int(m->generation, 1, "generation unchanged after a bad upsert");
        ctl_error_clear(&err);

        is_int(parse(up, 4, &req, &err), 0, "good upsert");
        is_int(model_upsert(m, TAKE_PTR(req->upsert.object)), MODEL_UPDATED, "replaces demo/web");
        req = ctl_request_free(req);
        is_int(m->generation, 2, "generation 2");

        const char *del = "{\"op\":\"delete\",\"kind\":\"Service\",\"namespace\":\"demo\","
                          "\"name\":\"web\",\"uid\":\"someone-else\"}";
        is_int(parse(del, 5, &req, &err), 0, "delete decodes");
        is_int(model_delete(m, req->del.kind, req->del.namespace, req->del.name, req->del.uid),
               MODEL_UID_MISMATCH, "a stale uid deletes nothing");
        req = ctl_request_free(req);

        /* multi-part: a duplicate across parts refuses the whole sync */
        is_int(parse(p1, 6, &req, &err), 0, "part 1");
        is_int(ctl_sync_gather(&pending, req, &err), 0, "gathered part 1");
        req = ctl_request_free(req);
        _cleanup_free_ char *p1c = NULL;
        {
                json_t *j = json_loads(p1, 0, NULL);
                json_object_del(j, "more");
                json_object_set_new(j, "continue", json_true());
                p1c = json_dumps(j, JSON_COMPACT);
                json_decref(j);
        }
        is_int(parse(p1c, 8, &req2, &err), 0, "a continuation repeating part 1");
        is_int(ctl_sync_gather(&pending, req2, &err), -EINVAL, "duplicate across parts refused");
        is_int(err.code, CTL_ERR_DUPLICATE, "duplicate code");
        is_str(err.detail,
               "line 8: Service demo/web was already sent in an earlier part of this sync",
               "names the object and the line");
        req2 = ctl_request_free(req2);
        ctl_error_clear(&err);
        pending = model_free(pending);
        is_int(m->generation, 2, "model untouched by the refused multi-part sync");

        /* a good multi-part sync ends in one replace */
        is_int(parse(p1, 9, &req, &err), 0, "part 1 again");
        is_int(parse(p2, 10, &req2, &err), 0, "part 2");
        ctl_sync_gather(&pending, req, &err);
        ctl_sync_gather(&pending, req2, &err);
        model_replace(m, &pending);
        is_int(m->generation, 3, "one generation for the whole multi-part sync");
        is_int(total(m), 6, "same objects as the single-message sync");
        req = ctl_request_free(req);
        req2 = ctl_request_free(req2);

        /* a continuation with nothing pending; a new sync dropping an unfinished one */
        is_int(parse(p2, 11, &req2, &err), 0, "part 2 alone decodes");
        is_int(ctl_sync_gather(&pending, req2, &err), -EINVAL, "but continues nothing");
        is_str(err.detail, "line 11: continue: no unfinished sync on this connection", "says so");
        ok(pending == NULL, "nothing pending");
        ctl_error_clear(&err);
        req2 = ctl_request_free(req2);
        is_int(parse(p1, 12, &req, &err), 0, "part 1");
        ctl_sync_gather(&pending, req, &err);
        req = ctl_request_free(req);
        is_int(parse(good, 13, &req, &err), 0, "a fresh single-message sync");
        is_int(ctl_sync_gather(&pending, req, &err), 0, "starts over");
        is_int(total(pending), 6, "the unfinished part 1 was dropped");
        req = ctl_request_free(req);
}

int main(void)
{
        const char *top = getenv("top_srcdir");
        snprintf(top_dir, sizeof(top_dir), "%s", top ? top : "..");
        snprintf(data_dir, sizeof(data_dir), "%s/tests/data/protocol", top_dir);

        test_framing();
        test_doc_has_examples();
        test_request_examples();
        test_reply_examples();
        test_notifications();
        test_bad_input();
        test_atomic_sync();
        return tap_done();
}
