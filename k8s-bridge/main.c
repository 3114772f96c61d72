/* SPDX-License-Identifier: MIT */
/*
 * mlbd-bridge entry point: command line, credentials (kubeconfig or in-cluster), the
 * event loop, signals, the token re-read a minute (a projected service-account token
 * is replaced in its file before it expires, as client-go expects), and the --listen
 * endpoint: /healthz (the loop runs), /readyz (bridge_is_ready) and /metrics.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>

#include "bridge.h"
#include "http-server.h"
#include "kube.h"
#include "kubeconfig.h"
#include "util/diag.h"
#include "util/log.h"

#define TOKEN_REREAD_USEC (60 * 1000 * 1000ULL)

static void help(void)
{
        printf("Usage: mlbd-bridge [OPTIONS]\n"
               "Feeds the local mlbd with the cluster's Services, EndpointSlices, Nodes and\n"
               "Namespaces, and (one bridge at a time, by a Lease) writes Service status and "
               "Events.\n\n"
               "      --kubeconfig FILE      credentials (default: in-cluster service account)\n"
               "      --context NAME         kubeconfig context (default: current-context)\n"
               "      --node-name NAME       this node (default: $NODE_NAME)\n"
               "      --socket PATH          mlbd's control socket (default /run/mlbd/mlbd.sock)\n"
               "      --lease-namespace NS   where the Lease lives (default mlbd-system)\n"
               "      --lease-name NAME      the Lease (default mlbd-bridge)\n"
               "      --lease-duration S     seconds (15), --renew-deadline S (10), --retry-period "
               "S (2)\n"
               "      --lb-class CLASS       also handle Services of this loadBalancerClass\n"
               "      --listen ADDR:PORT     serve /healthz, /readyz, /metrics (default :7473)\n"
               "                             ADDR: IPv4, [IPv6], none = all (dual-stack)\n"
               "                             PORT 0: the kernel picks one (logged)\n"
               "      --log-level LEVEL      err, warning, notice, info (default), debug\n"
               "  -h, --help                 this text\n"
               "      --version              the version\n");
}

typedef struct TokenReader {
        Kube *kube;
        KubeConfig *conf;
        sd_event_source *timer;
        uint64_t last_401_read; /* CLOCK_MONOTONIC of the last re-read after a 401 */
        bool unauthorized;      /* a 401 was said and no new token read since */
        char *last_token;       /* the token in use (wiped when freed) */
} TokenReader;

static void token_keep(TokenReader *t, const char *token)
{
        kubeconfig_token_free(t->last_token);
        t->last_token = token ? strdup(token) : NULL;
}

static int load_token(TokenReader *t, bool first)
{
        _cleanup_(kubeconfig_token_freep) char *token = NULL;
        int r = kubeconfig_read_token(t->conf, &token);

        if (r < 0) {
                if (first)
                        return log_error_errno(r, "Cannot read the token %s: %m",
                                               t->conf->token_file ? t->conf->token_file : "");
                log_warning_errno(r, "Cannot re-read the token %s: %m; keeping the old one",
                                  t->conf->token_file ? t->conf->token_file : "");
                return 0;
        }
        if (!first && t->last_token && token && strcmp(t->last_token, token) != 0) {
                log_info("read a new token from %s", t->conf->token_file);
                t->unauthorized = false;
        }
        token_keep(t, token);
        return kube_set_token(t->kube, token);
}

/* An answer was 401: the token may have been replaced in its file (a projected token
 * rotated early, or revoked). Read it again now, at most once a second; the request's
 * owner retries with its own backoff. Said once per run of 401s. */
static void on_unauthorized(Kube *k, void *userdata)
{
        TokenReader *t = userdata;
        struct timespec ts;
        uint64_t now;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        now = (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
        if (!t->unauthorized) {
                log_warning("the API server answered 401 Unauthorized%s",
                            t->conf->token_file ? "; reading the token file again" : "");
                t->unauthorized = true;
        }
        if (!t->conf->token_file || (t->last_401_read && now - t->last_401_read < 1000000))
                return;
        t->last_401_read = now;
        _cleanup_(kubeconfig_token_freep) char *token = NULL;
        if (kubeconfig_read_token(t->conf, &token) < 0)
                return;
        if (!t->last_token || strcmp(t->last_token, token) != 0) {
                log_info("read a new token from %s", t->conf->token_file);
                t->unauthorized = false;
                token_keep(t, token);
                (void)kube_set_token(t->kube, token);
        }
}

static int token_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        TokenReader *t = userdata;

        (void)load_token(t, false);
        (void)sd_event_source_set_time(s, usec + TOKEN_REREAD_USEC);
        return sd_event_source_set_enabled(s, SD_EVENT_ON);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        log_info("Stopping (signal %u)", si->ssi_signo);
        bridge_stop(userdata);
        return 0;
}

/* /healthz answers while the loop runs; /readyz once every kind is listed and mlbd is
 * connected (else 503 and why); /metrics the bridge's counters. */
static int on_http(const char *path, const char *method, unsigned *status,
                   const char **content_type, char **body, void *userdata)
{
        Bridge *b = userdata;
        _cleanup_free_ char *line = NULL;
        int r;

        if (strcmp(path, "/healthz") == 0)
                return (*body = strdup("ok\n")) ? 0 : -ENOMEM;
        if (strcmp(path, "/readyz") == 0) {
                r = bridge_readiness(b, &line);
                if (r < 0)
                        return r;
                *status = r ? 200 : 503;
                return asprintf(body, "%s\n", line) < 0 ? -ENOMEM : 0;
        }
        if (strcmp(path, "/metrics") == 0) {
                *content_type = HTTP_CONTENT_TYPE_PROMETHEUS;
                return bridge_metrics(b, body);
        }
        return HTTP_HANDLER_NOT_FOUND;
}

static int parse_seconds(const char *s, uint64_t *ret)
{
        char *end;
        double v = strtod(s, &end);

        if (end == s || *end || !(v > 0) || v > 3600)
                return -EINVAL;
        *ret = (uint64_t)(v * 1e6);
        return 0;
}

int main(int argc, char **argv)
{
        enum {
                ARG_KUBECONFIG = 0x100,
                ARG_CONTEXT,
                ARG_NODE,
                ARG_SOCKET,
                ARG_LEASE_NS,
                ARG_LEASE_NAME,
                ARG_LEASE_DURATION,
                ARG_RENEW,
                ARG_RETRY,
                ARG_LB_CLASS,
                ARG_LISTEN,
                ARG_LOG_LEVEL,
                ARG_VERSION,
        };
        static const struct option options[] = {
            {"kubeconfig", required_argument, NULL, ARG_KUBECONFIG},
            {"context", required_argument, NULL, ARG_CONTEXT},
            {"node-name", required_argument, NULL, ARG_NODE},
            {"socket", required_argument, NULL, ARG_SOCKET},
            {"lease-namespace", required_argument, NULL, ARG_LEASE_NS},
            {"lease-name", required_argument, NULL, ARG_LEASE_NAME},
            {"lease-duration", required_argument, NULL, ARG_LEASE_DURATION},
            {"renew-deadline", required_argument, NULL, ARG_RENEW},
            {"retry-period", required_argument, NULL, ARG_RETRY},
            {"lb-class", required_argument, NULL, ARG_LB_CLASS},
            {"listen", required_argument, NULL, ARG_LISTEN},
            {"log-level", required_argument, NULL, ARG_LOG_LEVEL},
            {"help", no_argument, NULL, 'h'},
            {"version", no_argument, NULL, ARG_VERSION},
            {},
        };
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(kube_freep) Kube *kube = NULL;
        _cleanup_(bridge_freep) Bridge *bridge = NULL;
        _cleanup_(http_server_freep) HttpServer *http = NULL; /* before the bridge it reads */
        _cleanup_(kubeconfig_freep) KubeConfig *conf = NULL;
        const char *kubeconfig = NULL, *context = NULL, *listen = ":7473", *why = NULL;
        BridgeConfig bc = {
            .node = getenv("NODE_NAME"),
            .socket = "/run/mlbd/mlbd.sock",
            .lease_namespace = "mlbd-system",
            .lease_name = "mlbd-bridge",
        };
        DiagList diags = {0};
        TokenReader tr = {0};
        _cleanup_free_ char *agent = NULL;
        sigset_t mask;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                uint64_t *dst = NULL;
                switch (c) {
                case ARG_KUBECONFIG:
                        kubeconfig = optarg;
                        break;
                case ARG_CONTEXT:
                        context = optarg;
                        break;
                case ARG_NODE:
                        bc.node = optarg;
                        break;
                case ARG_SOCKET:
                        bc.socket = optarg;
                        break;
                case ARG_LEASE_NS:
                        bc.lease_namespace = optarg;
                        break;
                case ARG_LEASE_NAME:
                        bc.lease_name = optarg;
                        break;
                case ARG_LEASE_DURATION:
                        dst = &bc.lease_duration_usec;
                        break;
                case ARG_RENEW:
                        dst = &bc.renew_deadline_usec;
                        break;
                case ARG_RETRY:
                        dst = &bc.retry_period_usec;
                        break;
                case ARG_LB_CLASS:
                        bc.lb_class = optarg;
                        break;
                case ARG_LISTEN:
                        if (http_listen_parse(optarg, NULL, &why) < 0) {
                                fprintf(stderr, "mlbd-bridge: --listen: \"%s\": %s\n", optarg, why);
                                return 2;
                        }
                        listen = optarg;
                        break;
                case ARG_LOG_LEVEL:
                        r = log_level_from_string(optarg);
                        if (r < 0) {
                                fprintf(stderr, "mlbd-bridge: --log-level: unknown level \"%s\"\n",
                                        optarg);
                                return 2;
                        }
                        log_max_level = r;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("mlbd-bridge %s\n", PACKAGE_VERSION);
                        return 0;
                default:
                        return 2;
                }
                if (dst && parse_seconds(optarg, dst) < 0) {
                        fprintf(stderr,
                                "mlbd-bridge: %s: \"%s\" is not a number of seconds (0-3600]\n",
                                argv[optind - 2 >= 0 ? optind - 2 : 0], optarg);
                        return 2;
                }
        }
        if (optind < argc) {
                fprintf(stderr, "mlbd-bridge: unexpected argument \"%s\"\n", argv[optind]);
                return 2;
        }
        if (!bc.node || !bc.node[0]) {
                fprintf(stderr, "mlbd-bridge: no node name: give --node-name or set NODE_NAME\n");
                return 2;
        }

        r = kubeconfig ? kubeconfig_load(kubeconfig, context, &conf, &diags)
                       : kubeconfig_in_cluster("", &conf, &diags);
        diag_print(&diags, stderr, DIAG_WARNING);
        diag_list_clear(&diags);
        if (r < 0)
                return 1;

        if (asprintf(&agent, "mlbd-bridge/%s (%s)", PACKAGE_VERSION, bc.node) < 0)
                return log_oom(), 1;
        KubeEndpoint ep = {
            .server = conf->server,
            .ca_file = conf->ca.path,
            .ca_data = conf->ca.data,
            .ca_len = conf->ca.len,
            .cert_file = conf->client_cert.path,
            .cert_data = conf->client_cert.data,
            .cert_len = conf->client_cert.len,
            .key_file = conf->client_key.path,
            .key_data = conf->client_key.data,
            .key_len = conf->client_key.len,
            .tls_server_name = conf->tls_server_name,
            .insecure = conf->insecure_skip_tls_verify,
            .user_agent = agent,
        };

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);
        srandom((unsigned)getpid() ^ (unsigned)time(NULL));

        if ((r = sd_event_default(&e)) < 0 || (r = kube_new(&kube, e, &ep)) < 0)
                return log_error_errno(r, "Cannot set up the API client: %m"), 1;
        tr.kube = kube;
        tr.conf = conf;
        if (load_token(&tr, true) < 0)
                return 1;
        kube_set_unauthorized_callback(kube, on_unauthorized, &tr);
        if (conf->token_file &&
            (r = sd_event_add_time_relative(e, &tr.timer, CLOCK_MONOTONIC, TOKEN_REREAD_USEC,
                                            1000 * 1000, token_timer, &tr)) < 0)
                return log_error_errno(r, "Cannot set up the token timer: %m"), 1;
        if (tr.timer)
                (void)sd_event_source_set_enabled(tr.timer, SD_EVENT_ON);

        r = bridge_new(&bridge, e, kube, &bc);
        if (r < 0)
                return log_error_errno(r, "Cannot start: %m"), 1;
        r = http_server_new(&http, e, listen, on_http, bridge);
        if (r < 0)
                return log_error_errno(r, "Cannot serve --listen %s: %m", listen), 1;
        log_info("serving /healthz, /readyz and /metrics on %s", http_server_get_address(http));
        if ((r = sd_event_add_signal(e, NULL, SIGTERM, on_signal, bridge)) < 0 ||
            (r = sd_event_add_signal(e, NULL, SIGINT, on_signal, bridge)) < 0)
                return log_error_errno(r, "Cannot watch signals: %m"), 1;
        log_info("mlbd-bridge %s on node %s: API server %s (%s), mlbd at %s, Lease %s/%s%s%s",
                 PACKAGE_VERSION, bc.node, conf->server, conf->file, bc.socket, bc.lease_namespace,
                 bc.lease_name, bc.lb_class ? ", loadBalancerClass " : "",
                 bc.lb_class ? bc.lb_class : "");
        (void)bridge_start(bridge);
        r = sd_event_loop(e);
        sd_event_source_disable_unref(tr.timer);
        http = http_server_free(http);
        bridge = bridge_free(bridge);
        token_keep(&tr, NULL);
        return r < 0 ? 1 : 0;
}
