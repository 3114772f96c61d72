/* SPDX-License-Identifier: MIT */
/* The state file: round trip, atomic replacement, corrupt input refused. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "state.h"
#include "util/fileio.h"
#include "tap.h"

static int parse(const char *text, State **s, char *err)
{
        return state_parse(text, strlen(text), s, err, 256);
}

int main(void)
{
        char dir[] = "/tmp/mlbd-test-state-XXXXXX";
        char err[256], path[128];
        State *s = calloc(1, sizeof(*s)), *t = NULL;
        u128 a[2];
        struct stat st;

        ok(mkdtemp(dir) != NULL, "temp dir");
        addr_parse("192.0.2.150", &a[0]);
        addr_parse("2001:db8::10", &a[1]);
        s->node = strdup("node1");
        state_add_alloc(s, "demo/nginx", "uid-1", a, 2);
        state_add_alloc(s, "demo/other", NULL, a, 1);
        state_add_owned(s, a[0], "veth0");
        is_int(state_add_owned(s, a[1], "an-interface-name-far-too-long"), -EINVAL,
               "an over-long interface name is refused");

        is_int(state_load(dir, &t), -ENOENT, "no state file yet: -ENOENT");
        is_int(state_save(dir, s), 0, "state_save");
        snprintf(path, sizeof(path), "%s/state.json", dir);
        ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "state.json is mode 0600");
        is_int(state_load(dir, &t), 0, "state_load");
        ok(t && t->n_allocs == 2 && t->n_owned == 1, "two allocations and one owned address");
        if (t && t->n_allocs == 2) {
                is_str(t->node, "node1", "node name kept");
                is_str(t->allocs[0].service, "demo/nginx", "service key kept");
                is_str(t->allocs[0].uid, "uid-1", "uid kept");
                ok(t->allocs[0].n_addrs == 2 && t->allocs[0].addrs[0] == a[0] &&
                       t->allocs[0].addrs[1] == a[1],
                   "both addresses kept");
                ok(t->allocs[1].uid == NULL, "absent uid stays absent");
                ok(t->owned[0].addr == a[0] && strcmp(t->owned[0].ifname, "veth0") == 0,
                   "owned address and interface kept");
        }
        t = state_free(t);
        is_int(state_load_node(dir, "node1", &t), 0, "state_load_node, same node");
        ok(t && t->n_allocs == 2 && t->n_owned == 1, "same node: owned list kept");
        t = state_free(t);
        is_int(state_load_node(dir, "node2", &t), 0, "state_load_node, another node");
        ok(t && t->n_allocs == 2 && t->n_owned == 0,
           "written by node1, loaded by node2: allocations kept, owned list dropped");
        t = state_free(t);

        /* Rewriting replaces atomically and leaves no temp file behind. */
        s->n_allocs = 1;
        is_int(state_save(dir, s), 0, "second save");
        is_int(state_load(dir, &t), 0, "reload");
        ok(t && t->n_allocs == 1, "the second save replaced the first");
        t = state_free(t);
        s->n_allocs = 2;

        is_int(parse("{", &t, err), -EBADMSG, "truncated JSON refused");
        is_int(parse("{\"version\":2}", &t, err), -EBADMSG, "unknown version refused");
        is_str(err, "not a version 1 state file", "version error says why");
        is_int(parse("{\"version\":1,\"allocations\":{}}", &t, err), -EBADMSG,
               "allocations must be a list");
        is_int(parse("{\"version\":1,\"allocations\":[{\"service\":\"a/b\",\"addresses\":"
                     "[\"192.0.2.300\"]}]}",
                     &t, err),
               -EBADMSG, "malformed address refused");
        is_int(parse("{\"version\":1,\"allocations\":[{\"service\":\"a/b\",\"addresses\":"
                     "[\"192.0.2.1\",\"192.0.2.2\",\"192.0.2.3\"]}]}",
                     &t, err),
               -EBADMSG, "more than two addresses refused");
        is_int(parse("{\"version\":1,\"version\":1}", &t, err), -EBADMSG, "duplicate keys refused");
        is_int(parse("{\"version\":1}", &t, err), 0, "minimal file accepted");
        t = state_free(t);

        FILE *f = fopen(path, "w");
        fputs("{\"version\":1,\"owned\":[{\"address\":\"nope\",\"interface\":\"x\"}]}", f);
        fclose(f);
        is_int(state_load(dir, &t), -EBADMSG, "a corrupt state file is reported, not used");

        unlink(path);
        rmdir(dir);
        state_free(s);
        return tap_done();
}
