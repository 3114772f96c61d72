/* SPDX-License-Identifier: MIT */
/*
 * mlbd entry point: command line, --check-config, --flush, --gen-key, --version, --help; the daemon
 * itself is manager.c.
 */
#include <getopt.h>
#include <string.h>

#include "conf.h"
#include "handover-rules.h"
#include "heartbeat.h"
#include "manager.h"
#include "netlink.h"
#include "pools.h"
#include "state.h"
#include "util/log.h"

typedef enum Action {
        ACTION_RUN,
        ACTION_CHECK_CONFIG,
        ACTION_FLUSH,
        ACTION_GEN_KEY,
        ACTION_VERSION,
        ACTION_HELP,
} Action;

static void help(void)
{
        printf("Usage: mlbd [OPTIONS]\n"
               "\n"
               "Bare-metal LoadBalancer address daemon: hands out addresses from pools,\n"
               "puts each on exactly one live node and announces it with ARP/NDP.\n"
               "\n"
               "  -c, --config FILE   configuration file (default %s)\n"
               "      --check-config  validate mlbd.conf and the pools file, print a summary\n"
               "      --flush         remove every address mlbd added, then exit\n"
               "                      (before Linux 5.18: those state.json lists as owned)\n"
               "      --gen-key FILE  write a new random cluster key to FILE (mode 0600;\n"
               "                      an existing file is never overwritten)\n"
               "      --version       print the version and exit\n"
               "  -h, --help          print this help and exit\n"
               "\n"
               "See mlbd(8), mlbd.conf(5) and mlbd-pools.yaml(5).\n",
               MLBD_DEFAULT_CONF);
}

static int parse_argv(int argc, char **argv, Action *action, const char **config,
                      const char **key_file)
{
        enum { ARG_CHECK_CONFIG = 0x100, ARG_FLUSH, ARG_GEN_KEY, ARG_VERSION };
        static const struct option options[] = {
            {"config", required_argument, NULL, 'c'},
            {"check-config", no_argument, NULL, ARG_CHECK_CONFIG},
            {"flush", no_argument, NULL, ARG_FLUSH},
            {"gen-key", required_argument, NULL, ARG_GEN_KEY},
            {"version", no_argument, NULL, ARG_VERSION},
            {"help", no_argument, NULL, 'h'},
            {},
        };
        int c;

        *action = ACTION_RUN;
        *config = MLBD_DEFAULT_CONF;
        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0) {
                switch (c) {
                case 'c':
                        *config = optarg;
                        break;
                case ARG_CHECK_CONFIG:
                        *action = ACTION_CHECK_CONFIG;
                        break;
                case ARG_FLUSH:
                        *action = ACTION_FLUSH;
                        break;
                case ARG_GEN_KEY:
                        *action = ACTION_GEN_KEY;
                        *key_file = optarg;
                        break;
                case ARG_VERSION:
                        *action = ACTION_VERSION;
                        break;
                case 'h':
                        *action = ACTION_HELP;
                        break;
                default:
                        fprintf(stderr, "Try 'mlbd --help'.\n");
                        return -EINVAL;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "mlbd: unexpected argument \"%s\". Try 'mlbd --help'.\n",
                        argv[optind]);
                return -EINVAL;
        }
        return 0;
}

static void print_pool(const PoolSet *set, size_t idx)
{
        const Pool *p = &set->pools[idx];
        AddrCount v4 = {0}, v6 = {0};
        char c4[COUNT_STR_MAX], c6[COUNT_STR_MAX], rb[RANGE_STR_MAX];

        pool_count(p, &v4, &v6);
        printf("  pool %s:", p->name);
        if (v4.n || v4.overflow)
                printf(" %s IPv4", addr_count_format(&v4, c4));
        if ((v4.n || v4.overflow) && (v6.n || v6.overflow))
                printf(" +");
        if (v6.n || v6.overflow)
                printf(" %s IPv6", addr_count_format(&v6, c6));
        printf(" addresses (");
        for (size_t i = 0; i < p->n_ranges; i++)
                printf("%s%s", i ? ", " : "", range_format_cidr(&p->ranges[i], rb));
        printf(")");
        if (!p->auto_assign)
                printf(", on request only");
        if (p->avoid_buggy_ips)
                printf(", avoiding .0/.255");
        if (p->priority)
                printf(", priority %d", p->priority);
        if (!pool_is_announced(set, idx))
                printf(", not announced");
        printf("\n");
}

static int gen_key(const char *path)
{
        _cleanup_free_ char *error = NULL;
        int r = hb_key_generate(path, &error);

        if (r < 0) {
                fprintf(stderr, "mlbd: %s\n", error ? error : strerror(-r));
                return r;
        }
        printf("%s: new cluster key written; copy it to every node (mode 0600)\n", path);
        return 0;
}

/* The addresses state_dir/state.json says this node owned, as (ifindex, addr); those on
 * an interface that no longer exists are left out (their addresses went with it). */
static int state_owned(const char *config, NlAddr **ret, size_t *ret_n)
{
        _cleanup_(conf_freep) Conf *conf = NULL;
        _cleanup_(state_freep) State *s = NULL;
        _cleanup_free_ NlAddr *owned = NULL;
        DiagList diags = {0};
        size_t n = 0;
        int r;

        r = conf_load(config, &conf, &diags);
        diag_print(&diags, stderr, DIAG_ERROR);
        diag_list_clear(&diags);
        if (r < 0)
                return log_error_errno(r, "%s: not valid, so its state_dir is unknown: %m", config);
        r = state_load(conf->state_dir, &s);
        if (r == -ENOENT) {
                log_info("%s/state.json: none, so nothing untagged is mlbd's", conf->state_dir);
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (r < 0)
                return r; /* logged */
        if (!s->node || strcmp(s->node, conf->node_name) != 0)
                return log_error_errno(-EPERM,
                                       "%s/state.json was written by node \"%s\", this is \"%s\": "
                                       "not removing the addresses it lists",
                                       conf->state_dir, s->node ? s->node : "", conf->node_name);
        owned = calloc(s->n_owned ? s->n_owned : 1, sizeof(*owned));
        if (!owned)
                return log_oom();
        for (size_t i = 0; i < s->n_owned; i++) {
                unsigned ifindex = if_nametoindex(s->owned[i].ifname);

                if (ifindex == 0)
                        continue;
                owned[n++] = (NlAddr){.ifindex = (int)ifindex, .addr = s->owned[i].addr};
        }
        *ret = TAKE_PTR(owned);
        *ret_n = n;
        return 0;
}

/*
 * mlbd --flush. Where the kernel keeps IFA_PROTO the tag alone says what mlbd added, and
 * the configuration is not even read (a broken one must not block ExecStopPost). Where it
 * does not (before Linux 5.18, or MLBD_TEST_NO_IFA_PROTO=1), mlbd's addresses are
 * untagged and state_dir/state.json is the only record: what it says this node owned
 * goes, nothing else. A state file that cannot be used removes nothing untagged and
 * makes flush fail.
 */
static int flush(const char *config)
{
        _cleanup_(netlink_freep) Netlink *nl = NULL;
        _cleanup_free_ NlAddr *owned = NULL;
        size_t n_owned = 0;
        int r, error = 0;

        r = netlink_new(&nl);
        if (r < 0)
                return log_error_errno(r, "Cannot open rtnetlink: %m");
        if (!netlink_has_ifa_proto())
                error = state_owned(config, &owned, &n_owned);
        r = netlink_flush(nl, owned, n_owned);
        if (r < 0)
                return log_error_errno(r, "Flushing addresses failed: %m");
        log_info("Removed %d address%s added by mlbd", r, r == 1 ? "" : "es");
        (void)handover_rules_delete_all(); /* a failure is logged; the addresses are gone */
        return error < 0 ? error : r;
}

static int check_config(const char *path)
{
        _cleanup_(conf_freep) Conf *conf = NULL;
        _cleanup_(pool_set_freep) PoolSet *pools = NULL;
        DiagList diags = {0};
        int r;

        r = conf_load(path, &conf, &diags);
        if (r >= 0)
                r = pools_load_all(conf->pools, conf->pools_dir, &pools, &diags);
        else if (r != -ENOMEM)
                fprintf(stderr, "%s: the pools file was not checked because of the errors above\n",
                        path);
        diag_sort(&diags);
        diag_print(&diags, stderr, DIAG_NOTICE);
        if (r < 0 || diags.n_errors > 0) {
                fprintf(stderr, "%zu error%s found; configuration not valid\n", diags.n_errors,
                        diags.n_errors == 1 ? "" : "s");
                diag_list_clear(&diags);
                return r == -ENOMEM ? log_oom() : -EINVAL;
        }
        diag_list_clear(&diags);

        printf("%s: OK (node %s, socket %s)\n", conf->file, conf->node_name, conf->socket);
        /* one line per pools file (pools, then each of pools_dir), its pools below it */
        for (size_t f = 0; f < pools->n_files; f++) {
                AddrCount t4 = {0}, t6 = {0};
                char c4[COUNT_STR_MAX], c6[COUNT_STR_MAX];
                size_t n = 0, n_l2 = 0;
                for (size_t i = 0; i < pools->n_pools; i++) {
                        if (pools->pools[i].file != f)
                                continue;
                        n++;
                        for (size_t j = 0; j < pools->pools[i].n_ranges; j++) {
                                const AddrRange *rg = &pools->pools[i].ranges[j];
                                addr_count_add_range(addr_is_v4(rg->first) ? &t4 : &t6, rg);
                        }
                }
                bool metallb = pools->file_metallb && pools->file_metallb[f];
                for (size_t i = 0; metallb && i < pools->n_adverts; i++)
                        n_l2 += pools->adverts[i].file == f && pools->adverts[i].pos.line > 0;
                printf("%s: OK, %zu pool%s%s", pools->files[f], n, n == 1 ? "" : "s",
                       metallb ? " (MetalLB form)" : "");
                if (n_l2 > 0)
                        printf(", %zu L2Advertisement%s", n_l2, n_l2 == 1 ? "" : "s");
                if (n > 0)
                        printf(":");
                if (t4.n || t4.overflow)
                        printf(" %s IPv4", addr_count_format(&t4, c4));
                if ((t4.n || t4.overflow) && (t6.n || t6.overflow))
                        printf(" and");
                if (t6.n || t6.overflow)
                        printf(" %s IPv6", addr_count_format(&t6, c6));
                printf("%s\n", n > 0 ? " addresses" : "");
                for (size_t i = 0; i < pools->n_pools; i++) {
                        size_t k = pools->order ? pools->order[i] : i;
                        if (pools->pools[k].file == f)
                                print_pool(pools, k);
                }
        }
        if (pools->n_files > 1)
                printf("%zu pool%s from %zu files\n", pools->n_pools,
                       pools->n_pools == 1 ? "" : "s", pools->n_files);
        return 0;
}

int main(int argc, char **argv)
{
        const char *config, *key_file = NULL;
        Action action;

        if (parse_argv(argc, argv, &action, &config, &key_file) < 0)
                return 2;

        switch (action) {
        case ACTION_HELP:
                help();
                return 0;
        case ACTION_VERSION:
                printf("mlbd %s\n", PACKAGE_VERSION);
                return 0;
        case ACTION_CHECK_CONFIG:
                return check_config(config) < 0 ? 1 : 0;
        case ACTION_FLUSH:
                return flush(config) < 0 ? 1 : 0;
        case ACTION_GEN_KEY:
                return gen_key(key_file) < 0 ? 1 : 0;
        default: {
                _cleanup_(manager_freep) Manager *m = NULL;
                if (manager_new(&m, config) < 0)
                        return 1;
                return manager_run(m) < 0 ? 1 : 0;
        }
        }
}
