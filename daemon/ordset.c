/* SPDX-License-Identifier: MIT */
/* Ordered set of address runs in an AVL tree; see ordset.h for the invariants. */
#include "ordset.h"

struct OrdSetNode {
        u128 first, last;
        OrdSetNode *left, *right;
        int height;
};

#define U128_MAX (~(u128)0)

void ordset_init(OrdSet *s, bool avoid_buggy)
{
        *s = (OrdSet){.avoid_buggy = avoid_buggy};
}

static void free_tree(OrdSetNode *n)
{
        while (n) {
                free_tree(n->left);
                OrdSetNode *r = n->right;
                free(n);
                n = r;
        }
}

void ordset_done(OrdSet *s)
{
        free_tree(s->root);
        while (s->spare) {
                OrdSetNode *n = s->spare;
                s->spare = n->left;
                free(n);
        }
        ordset_init(s, s->avoid_buggy);
}

int ordset_reserve(OrdSet *s, size_t n)
{
        while (s->n_spare < n) {
                OrdSetNode *node = malloc(sizeof(*node));
                if (!node)
                        return -ENOMEM;
                node->left = s->spare;
                s->spare = node;
                s->n_spare++;
        }
        return 0;
}

static OrdSetNode *node_get(OrdSet *s, u128 first, u128 last)
{
        OrdSetNode *n;

        if (s->spare) {
                n = s->spare;
                s->spare = n->left;
                s->n_spare--;
        } else if (!(n = malloc(sizeof(*n))))
                return NULL;
        *n = (OrdSetNode){.first = first, .last = last, .height = 1};
        return n;
}

/* Freed nodes go back to the spare list (bounded: one mutation frees at most one node, and
 * the list is trimmed to a few nodes so a shrinking set returns its memory). */
static void node_put(OrdSet *s, OrdSetNode *n)
{
        if (s->n_spare >= 4) {
                free(n);
                return;
        }
        n->left = s->spare;
        s->spare = n;
        s->n_spare++;
}

static int height(const OrdSetNode *n)
{
        return n ? n->height : 0;
}

static void update(OrdSetNode *n)
{
        n->height = 1 + MAX(height(n->left), height(n->right));
}

static OrdSetNode *rotate_right(OrdSetNode *n)
{
        OrdSetNode *l = n->left;
        n->left = l->right;
        l->right = n;
        update(n);
        update(l);
        return l;
}

static OrdSetNode *rotate_left(OrdSetNode *n)
{
        OrdSetNode *r = n->right;
        n->right = r->left;
        r->left = n;
        update(n);
        update(r);
        return r;
}

static OrdSetNode *rebalance(OrdSetNode *n)
{
        update(n);
        int bal = height(n->left) - height(n->right);
        if (bal > 1) {
                if (height(n->left->left) < height(n->left->right))
                        n->left = rotate_left(n->left);
                return rotate_right(n);
        }
        if (bal < -1) {
                if (height(n->right->right) < height(n->right->left))
                        n->right = rotate_right(n->right);
                return rotate_left(n);
        }
        return n;
}

static OrdSetNode *insert_node(OrdSetNode *root, OrdSetNode *n)
{
        if (!root)
                return n;
        if (n->first < root->first)
                root->left = insert_node(root->left, n);
        else
                root->right = insert_node(root->right, n);
        return rebalance(root);
}

/* Detaches the leftmost node of the subtree into *min. */
static OrdSetNode *remove_min(OrdSetNode *root, OrdSetNode **min)
{
        if (!root->left) {
                *min = root;
                return root->right;
        }
        root->left = remove_min(root->left, min);
        return rebalance(root);
}

/* Detaches the node whose run starts at first into *gone. */
static OrdSetNode *remove_node(OrdSetNode *root, u128 first, OrdSetNode **gone)
{
        if (!root)
                return NULL;
        if (first < root->first)
                root->left = remove_node(root->left, first, gone);
        else if (first > root->first)
                root->right = remove_node(root->right, first, gone);
        else {
                *gone = root;
                if (!root->left)
                        return root->right;
                if (!root->right)
                        return root->left;
                OrdSetNode *m;
                OrdSetNode *right = remove_min(root->right, &m);
                m->left = root->left;
                m->right = right;
                return rebalance(m);
        }
        return rebalance(root);
}

static OrdSetNode *find(const OrdSet *s, u128 a)
{
        OrdSetNode *n = s->root;
        while (n) {
                if (a < n->first)
                        n = n->left;
                else if (a > n->last)
                        n = n->right;
                else
                        return n;
        }
        return NULL;
}

/* The nearest address below a that could be a member (a - 1, skipping buggy ones). */
static bool prev_candidate(const OrdSet *s, u128 a, u128 *ret)
{
        do {
                if (a == 0)
                        return false;
                a--;
        } while (s->avoid_buggy && addr_is_buggy(a));
        *ret = a;
        return true;
}

static bool next_candidate(const OrdSet *s, u128 a, u128 *ret)
{
        do {
                if (a == U128_MAX)
                        return false;
                a++;
        } while (s->avoid_buggy && addr_is_buggy(a));
        *ret = a;
        return true;
}

bool ordset_contains(const OrdSet *s, u128 a)
{
        if (s->avoid_buggy && addr_is_buggy(a))
                return false;
        return find(s, a) != NULL;
}

int ordset_add(OrdSet *s, u128 a)
{
        u128 p, q;
        OrdSetNode *prev = NULL, *next = NULL;

        if (s->avoid_buggy && addr_is_buggy(a))
                return -EINVAL;
        if (find(s, a))
                return -EEXIST;
        if (prev_candidate(s, a, &p))
                prev = find(s, p);
        if (next_candidate(s, a, &q))
                next = find(s, q);

        if (prev && next) {
                /* a fills the last gap between two runs: merge them into prev. */
                u128 last = next->last;
                OrdSetNode *gone = NULL;
                s->root = remove_node(s->root, next->first, &gone);
                node_put(s, gone);
                prev->last = last;
                s->n_runs--;
        } else if (prev)
                prev->last = a;
        else if (next)
                next->first = a; /* still above every run on its left: order is kept */
        else {
                OrdSetNode *n = node_get(s, a, a);
                if (!n)
                        return -ENOMEM;
                s->root = insert_node(s->root, n);
                s->n_runs++;
        }
        s->n_members++;
        return 0;
}

int ordset_remove(OrdSet *s, u128 a)
{
        if (!ordset_contains(s, a))
                return -ENOENT;
        OrdSetNode *r = find(s, a);
        u128 lf = r->first, ll = 0, rf = 0, rl = r->last;
        /* Both halves are trimmed so that their ends are members again. */
        bool left = a > r->first && prev_candidate(s, a, &ll) && ll >= lf;
        bool right = a < r->last && next_candidate(s, a, &rf) && rf <= rl;

        if (left && right) {
                OrdSetNode *n = node_get(s, rf, rl);
                if (!n)
                        return -ENOMEM;
                r->last = ll;
                s->root = insert_node(s->root, n);
                s->n_runs++;
        } else if (left)
                r->last = ll;
        else if (right)
                r->first = rf;
        else {
                OrdSetNode *gone = NULL;
                s->root = remove_node(s->root, lf, &gone);
                node_put(s, gone);
                s->n_runs--;
        }
        s->n_members--;
        return 0;
}

bool ordset_first_free(const OrdSet *s, u128 lo, u128 hi, u128 *ret)
{
        u128 c = lo;

        /* At most: skip a buggy lo, jump over one run, skip buggy addresses after it; the
         * address reached then is free because runs are maximal. The bound is a guard. */
        for (unsigned i = 0; i < 8; i++) {
                if (c > hi)
                        return false;
                if (s->avoid_buggy && addr_is_buggy(c)) {
                        if (!next_candidate(s, c, &c))
                                return false;
                        continue;
                }
                const OrdSetNode *r = find(s, c);
                if (!r) {
                        *ret = c;
                        return true;
                }
                if (r->last >= hi)
                        return false;
                c = r->last + 1;
        }
        return false;
}

static void collect(const OrdSetNode *n, AddrRange *out, size_t max, size_t *i)
{
        if (!n)
                return;
        collect(n->left, out, max, i);
        if (*i < max)
                out[*i] = (AddrRange){n->first, n->last};
        (*i)++;
        collect(n->right, out, max, i);
}

size_t ordset_runs(const OrdSet *s, AddrRange *out, size_t max)
{
        size_t i = 0;
        collect(s->root, out, max, &i);
        return i;
}

static int check_node(const OrdSet *s, const OrdSetNode *n, const OrdSetNode **prev, size_t *count,
                      u128 *members)
{
        if (!n)
                return 0;
        if (check_node(s, n->left, prev, count, members) < 0)
                return -EUCLEAN;
        if (n->first > n->last)
                return -EUCLEAN;
        if (s->avoid_buggy && (addr_is_buggy(n->first) || addr_is_buggy(n->last)))
                return -EUCLEAN;
        if (*prev) {
                u128 gap;
                if ((*prev)->last >= n->first)
                        return -EUCLEAN;
                /* some non-member, non-buggy address must separate the two runs */
                if (!next_candidate(s, (*prev)->last, &gap) || gap >= n->first)
                        return -EUCLEAN;
        }
        int hl = height(n->left), hr = height(n->right);
        if (n->height != 1 + MAX(hl, hr) || hl - hr > 1 || hr - hl > 1)
                return -EUCLEAN;
        u128 m = n->last - n->first + 1;
        if (s->avoid_buggy) {
                /* subtract the buggy addresses inside the IPv4 part of the run */
                u128 v4_last = ADDR_V4_BASE | 0xffffffffu;
                u128 a = MAX(n->first, ADDR_V4_BASE), end = MIN(n->last, v4_last);
                while (a <= end) {
                        u128 block_end = MIN(a | 0xff, end);
                        if ((a & 0xff) == 0)
                                m--;
                        if ((block_end & 0xff) == 0xff)
                                m--;
                        a = block_end + 1;
                }
        }
        *members += m;
        (*count)++;
        *prev = n;
        return check_node(s, n->right, prev, count, members);
}

int ordset_check(const OrdSet *s)
{
        const OrdSetNode *prev = NULL;
        size_t count = 0;
        u128 members = 0;

        if (check_node(s, s->root, &prev, &count, &members) < 0)
                return -EUCLEAN;
        if (count != s->n_runs || members != s->n_members)
                return -EUCLEAN;
        return 0;
}
