/* SPDX-License-Identifier: MIT */
/*
 * mlbd.conf: the daemon's own settings (INI, parsed with inih by conf-ini.c). Every key
 * of spec.md with its default; every value range-checked; unknown sections and keys are
 * errors. Relative paths are resolved against the directory of mlbd.conf.
 */
#pragma once

#include "addr.h"
#include "util/diag.h"

#define MLBD_DEFAULT_CONF SYSCONFDIR "/mlbd/mlbd.conf"
#define MLBD_DEFAULT_POOLS SYSCONFDIR "/mlbd/pools.yaml"
#define MLBD_DEFAULT_POOLS_DIR SYSCONFDIR "/mlbd/pools.d"
#define MLBD_DEFAULT_KEY_FILE SYSCONFDIR "/mlbd/cluster.key"
#define MLBD_DEFAULT_SOCKET "/run/mlbd/mlbd.sock"
#define MLBD_DEFAULT_SOCKET_GROUP "mlbd"
#define MLBD_DEFAULT_STATE_DIR "/var/lib/mlbd"
#define MLBD_DEFAULT_CLUSTER_PORT 7947
#define MLBD_DEFAULT_METRICS_PORT 7472
#define NODE_NAME_MAX 253 /* Kubernetes node names are DNS-1123 subdomains */
#define HOSTPORT_STR_MAX (ADDR_STR_MAX + 2 + 1 + 5 + 1) /* "[v6]:65535" */

typedef struct HostPort {
        bool set;  /* false: empty value (feature off / not configured) */
        u128 addr; /* 0.0.0.0 / :: mean "any" of that family */
        uint16_t port;
} HostPort;

typedef struct Peer {
        char *name;
        u128 addr;
} Peer;

typedef struct Conf {
        char *file; /* path read, for messages */
        /* [mlbd] */
        char *node_name;    /* default: gethostname() */
        char *pools;        /* default /etc/mlbd/pools.yaml */
        char *pools_dir;    /* default /etc/mlbd/pools.d: every *.yaml read after pools */
        char *socket;       /* default /run/mlbd/mlbd.sock */
        char *socket_group; /* default "mlbd"; NULL (empty value): leave the group alone */
        /* may send state-changing requests; NULL (default): only root and mlbd's user */
        char *admin_group;
        char *state_dir; /* default /var/lib/mlbd */
        int log_level;   /* LOG_DEBUG..LOG_ERR */
        /* [announce] */
        char *announce_interface;  /* NULL: choose per address */
        unsigned garp_count;       /* 0..100, default 3 */
        unsigned garp_interval_ms; /* 1..60000, default 250 */
        unsigned garp_refresh_s;   /* 0..86400, default 0 (off) */
        /* [cluster] */
        HostPort cluster_listen; /* default 0.0.0.0:7947 */
        Peer *peers;
        size_t n_peers;
        unsigned heartbeat_interval_ms; /* 5..10000, default 100 */
        unsigned dead_after_ms;         /* >= 2*heartbeat_interval_ms, <= 600000; default 400 */
        unsigned drain_ms; /* 0..60000, default 2000: a handover keeps TCP connections that long */
        char *key_file;    /* default /etc/mlbd/cluster.key */
        bool ignore_exclude_lb; /* the exclude-from-external-load-balancers label is ignored */
        bool exclude_not_ready; /* a Node that is not Ready announces nothing */
        /* [metrics] */
        HostPort metrics_listen; /* default 127.0.0.1:7472; empty = off */
} Conf;

/*
 * Parses mlbd.conf held in memory; `file` names it in messages and gives the directory
 * for relative paths. Returns 0 with *ret set, -EINVAL if diags received errors,
 * -ENOMEM.
 */
int conf_parse(const char *file, const char *buf, size_t len, Conf **ret, DiagList *diags);
int conf_load(const char *path, Conf **ret, DiagList *diags);
Conf *conf_free(Conf *c);
DEFINE_FREEP(Conf, conf_free)

/* "host:port" / "[v6]:port" -> HostPort; empty string -> set=false. The host is an IP
 * literal (names are not resolved), the port 1..65535 in decimal. */
bool hostport_parse(const char *s, HostPort *ret);
/* "a.b.c.d:port" / "[v6]:port", "" when !set; NULL if len is too small (use
 * HOSTPORT_STR_MAX). */
const char *hostport_format(const HostPort *hp, char *buf, size_t len);

/* NULL if s is a valid Kubernetes node name (DNS-1123 subdomain: lowercase letters,
 * digits, '-' and '.', each dot-separated part starting and ending with a letter or
 * digit, 1..253 characters); otherwise the reason, with the byte offset it refers to. */
const char *node_name_invalid(const char *s, size_t *ret_ofs);
