/* SPDX-License-Identifier: MIT */
/*
 * An ordered set of 128-bit addresses kept as disjoint maximal runs [first, last] in an AVL
 * tree keyed by run start. It answers "lowest non-member at or after X" with at most three
 * tree descents, so the cost depends on the number of runs (log n), never on the size of
 * the address range: a /28 and an IPv6 /64 cost the same.
 *
 * With avoid_buggy set, IPv4 addresses ending in .0 or .255 ("buggy": some CPE firmware
 * drops traffic to them) can never be members, and a run may span them: runs are maximal
 * over members plus buggy addresses, and both ends of a run are always members. This keeps
 * the free-address search bounded when every usable address of many /24s is taken.
 *
 * Invariants (checked by ordset_check()):
 *   - runs are disjoint and sorted; first <= last;
 *   - between two runs lies at least one address that is neither a member nor buggy;
 *   - without avoid_buggy, no two runs touch (a.last + 1 < b.first);
 *   - the tree is an AVL tree (heights of siblings differ by at most one).
 *
 * Mutations allocate at most one node each; ordset_reserve() sets nodes aside so that the
 * following mutations cannot fail (the allocator prepares everything, then commits).
 */
#pragma once

#include "addr.h"

typedef struct OrdSetNode OrdSetNode;

typedef struct OrdSet {
        OrdSetNode *root;
        OrdSetNode *spare; /* reserved nodes, chained through their left pointer */
        size_t n_spare;
        size_t n_runs;
        u128 n_members;
        bool avoid_buggy;
} OrdSet;

static inline bool addr_is_buggy(u128 a)
{
        return addr_is_v4(a) && ((a & 0xff) == 0 || (a & 0xff) == 0xff);
}

void ordset_init(OrdSet *s, bool avoid_buggy);
/* Frees every node; the set is empty (and still initialised) afterwards. */
void ordset_done(OrdSet *s);

/* Sets n nodes aside so that the next n ordset_add()/ordset_remove() calls cannot fail. */
int ordset_reserve(OrdSet *s, size_t n);

bool ordset_contains(const OrdSet *s, u128 a);
/* 0 when added; -EEXIST if already a member; -EINVAL for a buggy address in an avoid_buggy
 * set; -ENOMEM (never after a matching ordset_reserve()). */
int ordset_add(OrdSet *s, u128 a);
/* 0 when removed; -ENOENT if not a member; -ENOMEM (never after ordset_reserve()). */
int ordset_remove(OrdSet *s, u128 a);

/* Lowest address in [lo, hi] that is not a member (and not buggy with avoid_buggy). */
bool ordset_first_free(const OrdSet *s, u128 lo, u128 hi, u128 *ret);

/* Copies up to max runs in order into out; returns the number of runs. */
size_t ordset_runs(const OrdSet *s, AddrRange *out, size_t max);
/* 0 if every invariant above holds, else -EUCLEAN (for tests). */
int ordset_check(const OrdSet *s);
