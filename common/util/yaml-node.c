/* SPDX-License-Identifier: MIT */
/* yaml-node: see yaml-node.h. */
#include <string.h>

#include "util/yaml-node.h"

bool yaml_node_is_null(const yaml_node_t *n)
{
        const char *v;

        if (n->type != YAML_SCALAR_NODE)
                return false;
        if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
            n->data.scalar.style != YAML_ANY_SCALAR_STYLE)
                return false;
        v = (const char *)n->data.scalar.value;
        return n->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
               strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

const char *yaml_node_type_name(const yaml_node_t *n)
{
        switch (n->type) {
        case YAML_SCALAR_NODE:
                return yaml_node_is_null(n) ? "an empty value" : "a string";
        case YAML_SEQUENCE_NODE:
                return "a list";
        case YAML_MAPPING_NODE:
                return "a mapping";
        default:
                return "nothing";
        }
}
