/* SPDX-License-Identifier: MIT */
/*
 * Pool sets built by hand for the allocator test and benchmark (no YAML parser involved),
 * and a small request builder. Header-only; each user is one program.
 */
#pragma once

#include <netinet/in.h>
#include <string.h>

#include "alloc.h"

#define TPOOLS_MAX 8

static inline u128 A(const char *s)
{
        u128 a = 0;
        if (!addr_parse(s, &a)) {
                fprintf(stderr, "bad address %s\n", s);
                abort();
        }
        return a;
}

static inline PoolSet *tset_new(void)
{
        PoolSet *s = calloc(1, sizeof(*s));
        if (!s || !(s->pools = calloc(TPOOLS_MAX, sizeof(Pool))))
                abort();
        return s;
}

/* Adds a pool with the given ranges (NULL-terminated list of range strings). */
static inline Pool *tset_add(PoolSet *s, const char *name, const char *const *ranges)
{
        if (s->n_pools >= TPOOLS_MAX)
                abort();
        Pool *p = &s->pools[s->n_pools++];
        *p = (Pool){.name = strdup(name), .auto_assign = true};
        size_t n = 0;
        while (ranges[n])
                n++;
        p->ranges = calloc(n, sizeof(AddrRange));
        if (!p->name || !p->ranges)
                abort();
        for (size_t i = 0; i < n; i++) {
                char err[256];
                if (range_parse(ranges[i], false, &p->ranges[i], err, sizeof(err), NULL) < 0) {
                        fprintf(stderr, "bad range %s: %s\n", ranges[i], err);
                        abort();
                }
        }
        p->n_ranges = n;
        return p;
}

static inline void tpool_namespace(Pool *p, const char *ns)
{
        p->namespaces = realloc(p->namespaces, (p->n_namespaces + 1) * sizeof(char *));
        if (!p->namespaces || !(p->namespaces[p->n_namespaces++] = strdup(ns)))
                abort();
        p->has_service_allocation = true;
}

/* Adds one selector {key: value} to a selector list. */
static inline void tsel_add(LabelSelector **list, size_t *n, const char *key, const char *value)
{
        *list = realloc(*list, (*n + 1) * sizeof(LabelSelector));
        if (!*list)
                abort();
        (*list)[*n] = (LabelSelector){};
        if (labels_set(&(*list)[*n].match_labels, key, value) < 0)
                abort();
        (*n)++;
}

static inline void tset_order(PoolSet *s, const size_t *order)
{
        free(s->order);
        s->order = malloc(s->n_pools * sizeof(size_t));
        if (!s->order)
                abort();
        memcpy(s->order, order, s->n_pools * sizeof(size_t));
}

static inline void tset_free(PoolSet *s)
{
        if (!s)
                return;
        for (size_t i = 0; i < s->n_pools; i++) {
                Pool *p = &s->pools[i];
                free(p->name);
                free(p->ranges);
                for (size_t j = 0; j < p->n_namespaces; j++)
                        free(p->namespaces[j]);
                free(p->namespaces);
                selectors_free(p->namespace_selectors, p->n_namespace_selectors);
                selectors_free(p->service_selectors, p->n_service_selectors);
        }
        free(s->pools);
        free(s->order);
        free(s);
}

/* A request whose buffers live with it; do not copy a TReq after treq_init(). */
typedef struct TReq {
        AllocRequest r;
        char key[64], ns[64];
        AllocPort ports[4];
} TReq;

static inline void treq_init(TReq *t, const char *key)
{
        *t = (TReq){};
        snprintf(t->key, sizeof(t->key), "%s", key);
        snprintf(t->ns, sizeof(t->ns), "%.*s", (int)strcspn(key, "/"), key);
        t->r.key = t->key;
        t->r.namespace = t->ns;
        t->r.policy = ALLOC_SINGLE_STACK;
        t->r.families[0] = AF_INET;
        t->r.n_families = 1;
        t->r.ports = t->ports;
}

static inline void treq_port(TReq *t, uint8_t proto, uint16_t port)
{
        t->ports[t->r.n_ports++] = (AllocPort){proto, port};
}

static inline void treq_families(TReq *t, AllocFamilyPolicy policy, int f0, int f1)
{
        t->r.policy = policy;
        t->r.families[0] = f0;
        t->r.families[1] = f1;
        t->r.n_families = f1 ? 2 : 1;
}
