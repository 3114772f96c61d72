/* SPDX-License-Identifier: MIT */
/*
 * Kubernetes objects <-> what mlbd gets and what the bridge writes back, pure part (no
 * I/O, no globals).
 *
 * mlbd takes objects in their Kubernetes JSON shape (docs/protocol.md section 4) and
 * ignores what it does not read, but a line holds at most 1 MiB, and a real object
 * carries much mlbd never looks at (managedFields alone is often larger than the rest).
 * translate_object() therefore builds a new object holding only the fields of the
 * protocol's tables, copied unchanged, so mlbd still does all validation itself:
 *   metadata   namespace, name, uid, resourceVersion, labels; annotations for Services
 *              only (the only kind whose annotations mlbd reads), without kubectl's
 *              kubectl.kubernetes.io/last-applied-configuration (a copy of the object)
 *   Service    spec.{type, loadBalancerClass, loadBalancerIP, ipFamilies, ipFamilyPolicy,
 *              ports[].{name, protocol, port}, externalTrafficPolicy, selector},
 *              status.loadBalancer.ingress[].{ip, hostname}
 *   EndpointSlice  addressType, endpoints[].{addresses, nodeName, conditions.ready}
 *   Node       status.addresses[].{type, address}, status.conditions[].{type, status}
 *   Namespace  metadata only
 * kind and apiVersion are dropped (a list's items do not have them; the message names
 * the kind). A member of the wrong JSON type is copied whole, so mlbd's decoder reports
 * it as it would for the untranslated object.
 *
 * The kinds are mlbd's own ObjKind (model.h), whose string table gives "Service",
 * "EndpointSlice", "Node" and "Namespace".
 *
 * Errors: 0 or -ENOMEM; -EINVAL for an object without the metadata that makes it one.
 */
#pragma once

#include <jansson.h>

#include "model.h"

/* "/api/v1/services", "/apis/discovery.k8s.io/v1/endpointslices", "/api/v1/nodes",
 * "/api/v1/namespaces": the cluster-wide collection, for list and watch. NULL for an
 * invalid kind. */
const char *translate_kind_path(ObjKind kind);
/* "v1" or "discovery.k8s.io/v1". */
const char *translate_kind_api_version(ObjKind kind);

/*
 * Builds in *ret a new object with only what mlbd reads of obj (see above). lb_class is
 * the bridge's --lb-class, or NULL: a Service whose spec.loadBalancerClass equals it is
 * forwarded without the class, because mlbd handles exactly the LoadBalancer Services
 * that have none; a Service of any other class is forwarded with it (mlbd skips it).
 * -EINVAL when obj is not an object or its metadata is not an object.
 */
int translate_object(ObjKind kind, const json_t *obj, const char *lb_class, json_t **ret);

/* The object's key, "namespace/name" (Service, EndpointSlice) or "name" (Node, Namespace),
 * as mlbd keys it. -EINVAL when a part is missing, empty or the key is too long. */
int translate_object_key(ObjKind kind, const json_t *obj, char ret[static OBJ_KEY_MAX]);
/* metadata.uid and metadata.resourceVersion, borrowed from obj; NULL when absent. */
const char *translate_object_uid(const json_t *obj);
const char *translate_object_resource_version(const json_t *obj);

/*
 * The JSON merge patch (RFC 7386, Content-Type application/merge-patch+json) for
 * PATCH /api/v1/namespaces/NS/services/NAME/status that sets status.loadBalancer.ingress
 * to [{"ip":A},...] in the order given. n == 0 gives "ingress": null, which removes the
 * field (a merge patch replaces arrays whole and deletes members set to null). Each
 * address must be a non-empty string (-EINVAL otherwise).
 */
int translate_status_patch(const char *const *addresses, size_t n, json_t **ret);

/*
 * Whether service's status.loadBalancer.ingress already lists exactly these addresses,
 * each as often as given, in any order, and nothing else (an entry without an ip, e.g.
 * a hostname, makes it differ). Other members of an entry (ipMode, ports) are not
 * compared: they are not ours. Addresses are compared as addresses when both sides
 * parse ("2001:db8::1" equals "2001:DB8:0::1"), else as text. Absent, null and empty
 * ingress all equal n == 0.
 */
bool translate_ingress_equal(const json_t *service, const char *const *addresses, size_t n);
