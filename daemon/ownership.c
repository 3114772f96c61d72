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

bool node_eligible(const PoolSet *ps, size_t pool, const Model *model, const Service *s,
                   const char *node)
{
        const Labels *labels = node_labels(model, node);
        bool selected = false;

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

/* A node some rule for this pool and Service prefers (preferredNodeSelectors). */
static bool node_preferred(const PoolSet *ps, size_t pool, const Model *model, const Service *s,
                           const char *node)
{
        const Labels *labels = node_labels(model, node);

        for (size_t i = 0; ps && i < ps->n_adverts; i++) {
                const Advert *a = &ps->adverts[i];
                if (a->n_preferred_node_selectors > 0 && advert_covers(a, pool) &&
                    advert_selects_service(a, s) &&
                    selectors_match_any(a->preferred_node_selectors, a->n_preferred_node_selectors,
                                        labels))
                        return true;
        }
        return false;
}

ssize_t address_owner(const PoolSet *ps, size_t pool, const Model *model, const Service *s,
                      u128 addr, const OwnerView *v)
{
        bool *eligible = calloc(v->n + 1, sizeof(bool));
        bool any_preferred = false;
        ssize_t owner;

        if (!eligible)
                return -1;
        for (size_t i = 0; i < v->n; i++) {
                eligible[i] = v->live[i] && node_eligible(ps, pool, model, s, v->names[i]);
                any_preferred |= eligible[i] && node_preferred(ps, pool, model, s, v->names[i]);
        }
        for (size_t i = 0; any_preferred && i < v->n; i++)
                eligible[i] = eligible[i] && node_preferred(ps, pool, model, s, v->names[i]);
        owner = rdv_owner(addr, v->names, eligible, v->n);
        free(eligible);
        return owner;
}
