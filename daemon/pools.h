/* SPDX-License-Identifier: MIT */
/*
 * The pool model: what pools.yaml says, in either of its two forms (native `pools:` or
 * MetalLB IPAddressPool/L2Advertisement documents), after validation. Produced by
 * pools-yaml.c, read by the allocator and (later) the announcer.
 *
 * Invariants once pools_parse() returned without errors:
 *   - pool names are unique and non-empty;
 *   - every pool has at least one range; ranges of all pools are pairwise disjoint;
 *   - pool->ranges keep the order they were written in (MetalLB hands addresses out
 *     in that order, lowest first within each entry);
 *   - PoolSet.order lists pool indexes in the order the allocator tries them.
 */
#pragma once

#include "addr.h"
#include "labels.h"
#include "util/diag.h"

typedef struct SourcePos {
        unsigned line, column; /* 1-based; 0 = unknown */
} SourcePos;

/* One L2 announcement rule: which nodes and interfaces announce the pools it covers.
 * Native pools get one implicit Advert each (interface from the pool). */
typedef struct Advert {
        char *name;                    /* L2Advertisement metadata.name, or pool name */
        LabelSelector *node_selectors; /* any matches; none = every node */
        size_t n_node_selectors;
        /* MetalLB preferredNodeSelectors: {weight 1..100, preference}; a node scores the sum
         * of the weights of the preferences it matches (advert_node_score()) */
        LabelSelector *preferred_node_selectors;
        unsigned *preferred_weights; /* parallel to preferred_node_selectors */
        size_t n_preferred_node_selectors;
        char **interfaces; /* none = the default interface choice */
        size_t n_interfaces;
        LabelSelector *service_selectors; /* any matches; none = every Service */
        size_t n_service_selectors;
        size_t *pools; /* indexes into PoolSet.pools this advert applies to */
        size_t n_pools;
        size_t file; /* index into PoolSet.files */
        SourcePos pos;
} Advert;

typedef struct Pool {
        char *name;
        Labels labels; /* metadata.labels (MetalLB), for ipAddressPoolSelectors */
        AddrRange *ranges;
        size_t n_ranges;
        SourcePos *range_pos; /* where each range was written */
        bool auto_assign;     /* default true */
        bool avoid_buggy_ips; /* skip IPv4 x.x.x.0 and x.x.x.255 when allocating */
        /* serviceAllocation (MetalLB) or the native equivalents */
        bool has_service_allocation;
        int priority; /* lower first; 0 = unset (tried after every set priority) */
        char **namespaces;
        size_t n_namespaces;
        LabelSelector *namespace_selectors;
        size_t n_namespace_selectors;
        LabelSelector *service_selectors;
        size_t n_service_selectors;
        char *interface; /* native `interface:`; NULL if unset */
        size_t file;     /* index into PoolSet.files: where the pool is written */
        SourcePos pos;
} Pool;

typedef struct PoolSet {
        char *file;         /* first (or only) path the set was read from, for messages */
        char **files;       /* every file read, in reading order (file first) */
        bool *file_metallb; /* per file: in the MetalLB form */
        size_t n_files;
        Pool *pools;
        size_t n_pools;
        Advert *adverts;
        size_t n_adverts;
        size_t *order; /* allocation order: indexes into pools (see pools_order()) */
        bool metallb;  /* read from MetalLB documents */
} PoolSet;

/*
 * Parses a pools file held in memory. `file` is only used in messages. Every error and
 * warning goes to diags as FILE:LINE:COLUMN; returns 0 and a PoolSet when there was no
 * error, -EINVAL when diags holds at least one error (and *ret is untouched), -ENOMEM.
 */
int pools_parse(const char *file, const char *buf, size_t len, PoolSet **ret, DiagList *diags);
/* Reads the file and calls pools_parse(); a read error is a diagnostic too. */
int pools_load(const char *path, PoolSet **ret, DiagList *diags);

/* One file of a configuration spread over several (pools, then pools_dir). */
typedef struct PoolSource {
        const char *file;
        const char *buf;
        size_t len;
} PoolSource;

/*
 * Parses several files as one configuration (a MetalLB stream split over files): each
 * file has one form of its own; names and addresses are checked across files; an
 * L2Advertisement may name or select a pool of another file (MetalLB-form files only);
 * every diagnostic names its own FILE:LINE:COLUMN. "No pool at all" is one warning for the
 * whole set. Same results as pools_parse().
 */
int pools_parse_many(const PoolSource *src, size_t n, PoolSet **ret, DiagList *diags);

/*
 * Reads `path`, then every regular `*.yaml` file of `dir` (not starting with '.'), in
 * strcmp() name order, and parses them with pools_parse_many(). A missing dir (or NULL)
 * means no extra files; any other read error is a diagnostic.
 */
int pools_load_all(const char *path, const char *dir, PoolSet **ret, DiagList *diags);

PoolSet *pool_set_free(PoolSet *s);
DEFINE_FREEP(PoolSet, pool_set_free)
/* Free what a Pool / Advert owns (not the struct itself) and zero it. */
void pool_clear(Pool *p);
void advert_clear(Advert *a);

/*
 * (Re)computes s->order: pools with service allocation first, by priority (1, 2, ... and
 * 0 = unset last among them), then pools without it; ties keep file order. Returns 0 or
 * -ENOMEM. pools_parse() calls it; exposed for sets built by hand (tests, reload).
 */
int pools_order(PoolSet *s);

const Pool *pool_set_find(const PoolSet *s, const char *name);
/* True if some advert covers the pool (MetalLB: a pool without an L2Advertisement is
 * allocated from but not announced). */
bool pool_is_announced(const PoolSet *s, size_t pool_index);
/* Sum of the weights of a's preferredNodeSelectors whose preference matches the labels
 * (0 when it has none). */
unsigned advert_node_score(const Advert *a, const Labels *node_labels);
/* Address totals of one pool per family. */
void pool_count(const Pool *p, AddrCount *v4, AddrCount *v6);

/*
 * Whether r reaches into a range that can never be a service address: 0.0.0.0/8,
 * 127.0.0.0/8, 169.254.0.0/16, 224.0.0.0/4 (multicast), 240.0.0.0/4 (reserved, with
 * 255.255.255.255), ::, ::1, ::ffff:0:0/96 (IPv4-mapped), fe80::/10, ff00::/8. If so,
 * writes e.g. "127.0.0.1 is in 127.0.0.0/8 (loopback); a pool cannot hold these
 * addresses" to why and returns true.
 */
bool pool_range_is_special(const AddrRange *r, char *why, size_t len);
