/* SPDX-License-Identifier: MIT */
/*
 * condition: the Service condition mlbd.io/Announced (spec.md "Service semantics"), a
 * metav1.Condition in status.conditions: True (reason Announced, the message naming the
 * node that announces each address), or False (reason AllocationFailed with mlbd's words,
 * NoEligibleNode, or Released once the addresses are gone). Pure: the status writer decides when,
 * this module what the list looks like.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define CONDITION_ANNOUNCED "mlbd.io/Announced"

typedef struct Condition {
        bool status; /* True / False */
        const char *reason;
        const char *message;
} Condition;

/* The message of the True condition: for each address of announced ({"ADDR": "NODE"}), in
 * the order of the keys, `ADDR announced by node "NODE"`, joined by "; ". NULL when
 * announced is empty (or out of memory). */
char *condition_announced_message(const json_t *announced);

/* The Service (translated or raw) shows c already: a condition of our type with the same
 * status, reason and message. */
bool condition_shown(const json_t *service, const Condition *c);

/* The Service has a condition of our type. */
bool condition_present(const json_t *service);

/* The whole new status.conditions: the Service's own list with ours set to c (appended
 * when missing). lastTransitionTime is now (RFC 3339, whole seconds, as metav1.Time) when
 * ours is new or its status changes; else the old one is kept. Other conditions are kept
 * as they are. *ret is a new array. 0, -EINVAL (reason not a CamelCase word, message not
 * UTF-8) or -ENOMEM. */
int condition_list(const json_t *service, const Condition *c, uint64_t wall_usec, json_t **ret);
