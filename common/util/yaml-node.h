/* SPDX-License-Identifier: MIT */
/*
 * yaml-node: what the libyaml document parsers (daemon/pools-yaml.c, k8s-bridge/kubeconfig.c)
 * both ask of a node: is it YAML's null, and how to name its type in an error message.
 */
#pragma once

#include <stdbool.h>
#include <yaml.h>

/* A plain scalar that YAML 1.1/1.2 reads as null: empty, ~, null, Null, NULL. */
bool yaml_node_is_null(const yaml_node_t *n);
/* "an empty value", "a string", "a list", "a mapping" or "nothing", for errors. */
const char *yaml_node_type_name(const yaml_node_t *n);
