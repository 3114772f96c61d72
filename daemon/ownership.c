/* SPDX-License-Identifier: MIT */
/* Owner of an address: rendezvous hashing over the live, eligible nodes; see ownership.h. */
#include <stdlib.h>

#include "ownership.h"
#include "rendezvous.h"

static const Labels no_labels;

static const Labels *node_labels(const Model *model, const char *node)
{
        const Node *n = model ? model_node(model, node) : NULL;
        return n ? &n->meta.labels : &no_labels;
}

static bool advert_covers(const Advert *a, size_t pool)
{
        for (size_t i = 0; i < a->n_pools; i++)
                if (a->pools[i] == pool)
                        return true;
        return false;
}

static bool advert_selects_service(const Advert *a, const Service *s)
{
        return !s ||
               selectors_match_any(a->service_selectors, a->n_service_selectors, &s->meta.labels);
}

bool node_excluded(const Model *model, const char *node, unsigned exclusion)
{
        const Node *n = model ? model_node(model, node) : NULL;

        if (!n)
                return false;
        /* the label counts whatever its value, as for Kubernetes' service controller */
        if (!(exclusion & OWNERSHIP_IGNORE_EXCLUDE_LB) &&
            labels_get(&n->meta.labels, NODE_EXCLUDE_LB_LABEL))
                return true;
        return n->network_unavailable || ((exclusion & OWNERSHIP_EXCLUDE_NOT_READY) && !n->ready);
}

bool node_eligible(const PoolSet *ps, size_t pool, const Model *model, const Service *s,
                   const char *node)
{
        return node_eligible_ex(ps, pool, model, s, node, 0);
}

bool node_eligible_ex(const PoolSet *ps, size_t pool, const Model *model, const Service *s,
                      const char *node, unsigned exclusion)
{
        const Labels *labels = node_labels(model, node);
        bool selected = false;

        if (node_excluded(model, node, exclusion))
                return false;

        for (size_t i = 0; ps && i < ps->n_adverts && !selected; i++) {
                const Advert *a = &ps->adverts[i];
                selected = advert_covers(a, pool) && advert_selects_service(a, s) &&
                           selectors_match_any(a->node_selectors, a->n_node_selectors, labels);
        }
        if (!selected)
                return false;
        if (s && s->external_traffic_policy == TRAFFIC_LOCAL)
                return model && model_service_has_ready_endpoint(model, s->meta.namespace,
                                                                 s->meta.name, node);
        return true;
}

/* The node's score for this pool: the sum of the weights of the preferredNodeSelectors
 * it matches (MetalLB design/preferred-node-l2.md; the parser allows one
 * preference-bearing L2Advertisement per pool, so the sum is that one's). */
static unsigned node_score(const PoolSet *ps, size_t pool, const Model *model, const char *node)
{
        const Labels *labels = node_labels(model, node);
        unsigned score = 0;

        for (size_t i = 0; ps && i < ps->n_adverts; i++)
                if (advert_covers(&ps->adverts[i], pool))
                        score += advert_node_score(&ps->adverts[i], labels);
        return score;
}

ssize_t address_owner(const PoolSet *ps, size_t pool, const Model *model, const Service *s,
                      u128 addr, const OwnerView *v)
{
        _cleanup_free_ bool *eligible = calloc(v->n + 1, sizeof(bool));
        _cleanup_free_ unsigned *score = calloc(v->n + 1, sizeof(unsigned));
        unsigned best = 0;

        if (!eligible || !score)
                return -1;
        for (size_t i = 0; i < v->n; i++) {
                eligible[i] =
                    v->live[i] && node_eligible_ex(ps, pool, model, s, v->names[i], v->exclusion);
                if (eligible[i] && (score[i] = node_score(ps, pool, model, v->names[i])) > best)
                        best = score[i];
        }
        /* the highest-scoring eligible live nodes; rendezvous hashing among them */
        for (size_t i = 0; i < v->n; i++)
                eligible[i] = eligible[i] && score[i] == best;
        return rdv_owner(addr, v->names, eligible, v->n);
}
