/* SPDX-License-Identifier: MIT */
/*
 * kube: libcurl's multi interface on sd-event (see kube.h). curl tells us which sockets
 * to watch (socket_cb) and when to call it back (timer_cb); we never call into curl from
 * one of its own callbacks: requests started or cancelled while curl runs a callback
 * (a watch's on_data deciding to re-list) are queued and applied once curl returns.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <time.h>

#include "kube.h"
#include "util/log.h"

#define KUBE_BODY_MAX (256u << 20) /* a buffered response body: lists are paginated */
#define KUBE_CONNECT_TIMEOUT_MS 10000

/* Buckets of the request duration histogram: client-go's rest_client_request_duration. */
static const double latency_buckets[] = {0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60};
#define N_BUCKETS ELEMENTSOF(latency_buckets)
static const char *const verbs[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "other"};
#define N_VERBS ELEMENTSOF(verbs)
#define N_CODES 24 /* distinct (verb, code) pairs counted; more are folded into "other" */

typedef struct Latency {
        uint64_t buckets[N_BUCKETS]; /* non-cumulative counts; summed when printed */
        uint64_t count;
        double sum;
} Latency;

typedef struct CodeCount {
        unsigned verb;
        long code; /* 0: no response (a transport error) */
        uint64_t n;
} CodeCount;

struct KubeRequest {
        Kube *kube;
        CURL *easy;
        struct curl_slist *headers;
        char *body_out; /* what we send */
        char *buf;      /* what we received (buffered requests and error bodies) */
        size_t len, cap;
        kube_data_fn on_data;
        kube_done_fn on_done;
        void *userdata;
        bool added;     /* in the multi handle */
        bool cancelled; /* removed by the caller: no on_done */
        bool stopped;   /* on_data asked to stop */
        unsigned verb;  /* index into verbs[] */
        uint64_t started_usec;
        long retry_after_s; /* the response's Retry-After in seconds, -1 if none */
        char error[CURL_ERROR_SIZE];
        KubeRequest *next, *prev;
};

struct Kube {
        sd_event *event;
        CURLM *multi;
        sd_event_source *timer;
        char *server, *ca_file, *cert_file, *key_file, *user_agent, *auth;
        void *ca_data, *cert_data, *key_data;
        size_t ca_len, cert_len, key_len;
        bool insecure;
        unsigned in_curl;  /* depth of calls into curl */
        KubeRequest *reqs; /* every live request */
        unsigned n_active;
        kube_unauthorized_fn on_unauthorized;
        void *unauthorized_userdata;
        Latency latency[N_VERBS];
        CodeCount codes[N_CODES];
        size_t n_codes;
};

static uint64_t mono_usec_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;
}

/* One finished request: its duration (buffered requests only: a watch lasts minutes by
 * design) and its status code. */
static void account(Kube *k, const KubeRequest *r, long status)
{
        size_t i;

        if (!r->on_data) {
                Latency *l = &k->latency[r->verb];
                double s = (double)(mono_usec_now() - r->started_usec) / 1e6;
                for (i = 0; i < N_BUCKETS && s > latency_buckets[i]; i++)
                        ;
                if (i < N_BUCKETS)
                        l->buckets[i]++;
                l->count++;
                l->sum += s;
        }
        for (i = 0; i < k->n_codes; i++)
                if (k->codes[i].verb == r->verb && k->codes[i].code == status)
                        break;
        if (i == k->n_codes) {
                if (k->n_codes == N_CODES)
                        i = N_CODES - 1; /* the last slot takes the rest */
                else
                        k->codes[k->n_codes++] = (CodeCount){.verb = r->verb, .code = status};
        }
        k->codes[i].n++;
}

static void request_free(KubeRequest *r)
{
        Kube *k = r->kube;

        if (r->added)
                curl_multi_remove_handle(k->multi, r->easy);
        if (r->prev)
                r->prev->next = r->next;
        else if (k->reqs == r)
                k->reqs = r->next;
        if (r->next)
                r->next->prev = r->prev;
        k->n_active--;
        curl_easy_cleanup(r->easy);
        curl_slist_free_all(r->headers);
        free(r->body_out);
        free(r->buf);
        free(r);
}

static int errno_of(CURLcode c)
{
        switch (c) {
        case CURLE_OK:
                return 0;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_COULDNT_RESOLVE_HOST:
                return -EHOSTUNREACH;
        case CURLE_WRITE_ERROR:
                return -ECANCELED;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_FILESIZE_EXCEEDED:
                return -EFBIG;
        case CURLE_GOT_NOTHING:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_PARTIAL_FILE:
                return -ECONNRESET;
        default:
                return -EPROTO;
        }
}

/* Finished transfers: hand each to its owner, outside any curl callback. While owners
 * run, cancels and new requests are deferred (in_curl), then applied. */
static void reap(Kube *k)
{
        CURLMsg *msg;
        int left;

        k->in_curl++;
        while ((msg = curl_multi_info_read(k->multi, &left))) {
                KubeRequest *r = NULL;
                long status = 0;
                int error;

                if (msg->msg != CURLMSG_DONE)
                        continue;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&r);
                curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
                error = r->stopped ? -ECANCELED : errno_of(msg->data.result);
                if (r->len > KUBE_BODY_MAX)
                        error = -EFBIG;
                if (error && !r->error[0])
                        snprintf(r->error, sizeof(r->error), "%s",
                                 curl_easy_strerror(msg->data.result));
                curl_multi_remove_handle(k->multi, r->easy);
                r->added = false;
                account(k, r, error < 0 && !status ? 0 : status);
                if (status == 401 && k->on_unauthorized)
                        k->on_unauthorized(k, k->unauthorized_userdata);
                if (!r->cancelled && r->on_done)
                        r->on_done(r, status, r->buf ? r->buf : "", r->len, error, r->userdata);
                r->cancelled = true; /* freed below */
        }
again:
        for (KubeRequest *r = k->reqs, *next; r; r = next) {
                next = r->next;
                if (r->cancelled)
                        request_free(r);
                else if (!r->added) {
                        CURLMcode mc = curl_multi_add_handle(k->multi, r->easy);
                        r->added = mc == CURLM_OK;
                        if (!r->added) {
                                snprintf(r->error, sizeof(r->error), "%s", curl_multi_strerror(mc));
                                if (r->on_done)
                                        r->on_done(r, 0, "", 0, -ENOMEM, r->userdata);
                                r->cancelled = true;
                                goto again; /* on_done may have cancelled others */
                        }
                }
        }
        k->in_curl--;
}

static void drive(Kube *k, curl_socket_t fd, int flags)
{
        int running;

        k->in_curl++;
        (void)curl_multi_socket_action(k->multi, fd, flags, &running);
        k->in_curl--;
        if (!k->in_curl)
                reap(k);
}

static int io_cb(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        int flags = 0;

        if (revents & EPOLLIN)
                flags |= CURL_CSELECT_IN;
        if (revents & EPOLLOUT)
                flags |= CURL_CSELECT_OUT;
        if (revents & (EPOLLERR | EPOLLHUP))
                flags |= CURL_CSELECT_ERR;
        drive(userdata, fd, flags);
        return 0;
}

static int timer_fired(sd_event_source *s, uint64_t usec, void *userdata)
{
        drive(userdata, CURL_SOCKET_TIMEOUT, 0);
        return 0;
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
        Kube *k = userp;
        sd_event_source *s = socketp;
        uint32_t events = 0;

        if (what == CURL_POLL_REMOVE) {
                if (s) {
                        sd_event_source_disable_unref(s);
                        curl_multi_assign(k->multi, fd, NULL);
                }
                return 0;
        }
        if (what & CURL_POLL_IN)
                events |= EPOLLIN;
        if (what & CURL_POLL_OUT)
                events |= EPOLLOUT;
        if (s)
                return sd_event_source_set_io_events(s, events) < 0 ? -1 : 0;
        if (sd_event_add_io(k->event, &s, fd, events, io_cb, k) < 0)
                return -1;
        curl_multi_assign(k->multi, fd, s);
        return 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
        Kube *k = userp;
        uint64_t now;

        if (timeout_ms < 0)
                return sd_event_source_set_enabled(k->timer, SD_EVENT_OFF) < 0 ? -1 : 0;
        (void)sd_event_now(k->event, CLOCK_MONOTONIC, &now);
        if (sd_event_source_set_time(k->timer, now + (uint64_t)timeout_ms * 1000) < 0)
                return -1;
        return sd_event_source_set_enabled(k->timer, SD_EVENT_ONESHOT) < 0 ? -1 : 0;
}

static int dup_blob(void **dst, size_t *dst_len, const void *src, size_t len)
{
        if (!src)
                return 0;
        *dst = malloc(len ? len : 1);
        if (!*dst)
                return -ENOMEM;
        memcpy(*dst, src, len);
        *dst_len = len;
        return 0;
}

static int dup_str(char **dst, const char *src)
{
        if (!src)
                return 0;
        *dst = strdup(src);
        return *dst ? 0 : -ENOMEM;
}

int kube_new(Kube **ret, sd_event *e, const KubeEndpoint *ep)
{
        _cleanup_(kube_freep) Kube *k = NULL;
        int r;

        if (!ep->server || !ep->server[0])
                return -EINVAL;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return -ENOMEM;
        k = calloc(1, sizeof(Kube));
        if (!k)
                return -ENOMEM;
        k->event = sd_event_ref(e);
        k->multi = curl_multi_init();
        if (!k->multi)
                return -ENOMEM;
        size_t n = strlen(ep->server);
        while (n > 0 && ep->server[n - 1] == '/')
                n--;
        k->server = strndup(ep->server, n);
        if (!k->server)
                return -ENOMEM;
        if ((r = dup_str(&k->ca_file, ep->ca_file)) < 0 ||
            (r = dup_str(&k->cert_file, ep->cert_file)) < 0 ||
            (r = dup_str(&k->key_file, ep->key_file)) < 0 ||
            (r = dup_str(&k->user_agent, ep->user_agent ? ep->user_agent : "mlbd-bridge")) < 0 ||
            (r = dup_blob(&k->ca_data, &k->ca_len, ep->ca_data, ep->ca_len)) < 0 ||
            (r = dup_blob(&k->cert_data, &k->cert_len, ep->cert_data, ep->cert_len)) < 0 ||
            (r = dup_blob(&k->key_data, &k->key_len, ep->key_data, ep->key_len)) < 0)
                return r;
        k->insecure = ep->insecure;
        if (k->insecure)
                log_warning("TLS verification of %s is off (insecure-skip-tls-verify): anyone "
                            "on the path can pose as the API server",
                            k->server);
        if (ep->tls_server_name)
                log_warning("tls-server-name %s is not supported; the name in %s is verified",
                            ep->tls_server_name, k->server);
        /* accuracy 1 us: curl asks for 0 ms whenever a request can go on at once (a new
         * request, a finished TLS read); 1 ms of slack there was up to 1 ms per request */
        r = sd_event_add_time(e, &k->timer, CLOCK_MONOTONIC, UINT64_MAX, 1, timer_fired, k);
        if (r < 0)
                return r;
        (void)sd_event_source_set_enabled(k->timer, SD_EVENT_OFF);
        (void)sd_event_source_set_description(k->timer, "kube-curl-timer");
        curl_multi_setopt(k->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
        curl_multi_setopt(k->multi, CURLMOPT_SOCKETDATA, k);
        curl_multi_setopt(k->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
        curl_multi_setopt(k->multi, CURLMOPT_TIMERDATA, k);
        curl_multi_setopt(k->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
        *ret = TAKE_PTR(k);
        return 0;
}

Kube *kube_free(Kube *k)
{
        if (!k)
                return NULL;
        while (k->reqs)
                request_free(k->reqs);
        if (k->multi)
                curl_multi_cleanup(k->multi); /* calls socket_cb with REMOVE */
        sd_event_source_disable_unref(k->timer);
        sd_event_unref(k->event);
        free(k->server);
        free(k->ca_file);
        free(k->cert_file);
        free(k->key_file);
        free(k->user_agent);
        free(k->auth);
        free(k->ca_data);
        free(k->cert_data);
        free(k->key_data);
        free(k);
        return NULL;
}

int kube_set_token(Kube *k, const char *token)
{
        char *a = NULL;

        if (token && asprintf(&a, "Authorization: Bearer %s", token) < 0)
                return -ENOMEM;
        free(k->auth);
        k->auth = a;
        return 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        KubeRequest *r = userdata;
        size_t n = size * nmemb;
        long status = 0;

        if (r->cancelled)
                return 0;
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        if (r->on_data && status >= 200 && status < 300) {
                if (r->on_data(r, ptr, n, r->userdata) < 0) {
                        r->stopped = true;
                        return 0;
                }
                return n;
        }
        if (r->len + n > KUBE_BODY_MAX) {
                r->len = KUBE_BODY_MAX + 1;
                return 0;
        }
        if (r->len + n + 1 > r->cap) {
                size_t cap = MAX(r->cap * 2, r->len + n + 1);
                char *b = realloc(r->buf, MAX(cap, 4096));
                if (!b)
                        return 0;
                r->buf = b;
                r->cap = MAX(cap, 4096);
        }
        memcpy(r->buf + r->len, ptr, n);
        r->len += n;
        r->buf[r->len] = 0;
        return n;
}

/* Response headers: only Retry-After (delay-seconds; the HTTP-date form is not sent by
 * kube-apiserver and is ignored). A new status line (a redirect, 100 Continue) resets it. */
static size_t header_cb(char *buf, size_t size, size_t nitems, void *userdata)
{
        KubeRequest *r = userdata;
        size_t n = size * nitems;

        if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0)
                r->retry_after_s = -1;
        else if ((n == 2 && buf[0] == '\r') || (n == 1 && buf[0] == '\n')) {
                /* the end of the headers: a streamed 2xx answer is under way */
                long status = 0;
                curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
                if (r->on_data && status >= 200 && status < 300 && !r->cancelled &&
                    r->on_data(r, "", 0, r->userdata) < 0) {
                        r->stopped = true;
                        return 0;
                }
        } else {
                long v = kube_retry_after_parse(buf, n);
                if (v >= 0)
                        r->retry_after_s = v;
        }
        return n;
}

long kube_retry_after_parse(const char *line, size_t n)
{
        static const char name[] = "retry-after:";
        size_t i = sizeof(name) - 1;
        long v = 0;

        if (n < i || strncasecmp(line, name, i) != 0)
                return -1;
        while (i < n && (line[i] == ' ' || line[i] == '\t'))
                i++;
        if (i >= n || line[i] < '0' || line[i] > '9')
                return -1; /* not delay-seconds: the HTTP-date form, or nothing */
        for (; i < n && line[i] >= '0' && line[i] <= '9'; i++)
                v = MIN(v * 10 + (line[i] - '0'), (long)KUBE_RETRY_AFTER_MAX_S);
        while (i < n && (line[i] == ' ' || line[i] == '\t'))
                i++;
        if (i < n && line[i] == '\r')
                i++;
        if (i < n && line[i] == '\n')
                i++;
        return i == n ? v : -1;
}

static int add_header(KubeRequest *r, const char *h)
{
        struct curl_slist *l = curl_slist_append(r->headers, h);
        if (!l)
                return -ENOMEM;
        r->headers = l;
        return 0;
}

int kube_request(Kube *k, KubeRequest **ret, const char *method, const char *path,
                 const char *content_type, const char *body, long timeout_ms, kube_data_fn on_data,
                 kube_done_fn on_done, void *userdata)
{
        _cleanup_free_ char *url = NULL, *ct = NULL;
        KubeRequest *r;
        CURL *c;

        if (asprintf(&url, "%s%s", k->server, path) < 0)
                return -ENOMEM;
        r = calloc(1, sizeof(KubeRequest));
        if (!r)
                return -ENOMEM;
        r->kube = k;
        r->on_data = on_data;
        r->on_done = on_done;
        r->userdata = userdata;
        r->retry_after_s = -1;
        r->started_usec = mono_usec_now();
        r->verb = N_VERBS - 1;
        for (unsigned i = 0; i + 1 < N_VERBS; i++)
                if (strcmp(method, verbs[i]) == 0)
                        r->verb = i;
        r->easy = c = curl_easy_init();
        r->next = k->reqs;
        if (k->reqs)
                k->reqs->prev = r;
        k->reqs = r;
        k->n_active++;
        if (!c)
                goto oom;
        if (body && !(r->body_out = strdup(body)))
                goto oom;
        if (add_header(r, "Accept: application/json") < 0 ||
            (k->auth && add_header(r, k->auth) < 0))
                goto oom;
        if (content_type &&
            (asprintf(&ct, "Content-Type: %s", content_type) < 0 || add_header(r, ct) < 0))
                goto oom;
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_PRIVATE, r);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->error);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
        curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        curl_easy_setopt(c, CURLOPT_PIPEWAIT, 1L);
        curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 30L);
        curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 10L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)KUBE_CONNECT_TIMEOUT_MS);
        if (timeout_ms > 0)
                curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt(c, CURLOPT_USERAGENT, k->user_agent);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->headers);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (strcmp(method, "GET") != 0)
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body_out ? r->body_out : "");
        if (k->insecure) {
                curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (k->ca_file)
                curl_easy_setopt(c, CURLOPT_CAINFO, k->ca_file);
        if (k->ca_data) {
                struct curl_blob b = {
                    .data = k->ca_data, .len = k->ca_len, .flags = CURL_BLOB_NOCOPY};
                curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &b);
        }
        if (k->cert_file)
                curl_easy_setopt(c, CURLOPT_SSLCERT, k->cert_file);
        if (k->cert_data) {
                struct curl_blob b = {
                    .data = k->cert_data, .len = k->cert_len, .flags = CURL_BLOB_NOCOPY};
                curl_easy_setopt(c, CURLOPT_SSLCERT_BLOB, &b);
        }
        if (k->key_file)
                curl_easy_setopt(c, CURLOPT_SSLKEY, k->key_file);
        if (k->key_data) {
                struct curl_blob b = {
                    .data = k->key_data, .len = k->key_len, .flags = CURL_BLOB_NOCOPY};
                curl_easy_setopt(c, CURLOPT_SSLKEY_BLOB, &b);
        }
        if (!k->in_curl) {
                CURLMcode mc = curl_multi_add_handle(k->multi, c);
                if (mc != CURLM_OK) {
                        request_free(r);
                        return -ENOMEM;
                }
                r->added = true;
        } /* else: reap() adds it when curl returns */
        if (ret)
                *ret = r;
        return 0;
oom:
        request_free(r);
        return -ENOMEM;
}

long kube_request_status(KubeRequest *req)
{
        long status = 0;
        curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
        return status;
}

void kube_request_cancel(KubeRequest *req)
{
        if (!req)
                return;
        req->cancelled = true;
        if (!req->kube->in_curl)
                request_free(req);
}

unsigned kube_requests_active(const Kube *k)
{
        return k->n_active;
}

const char *kube_request_error(KubeRequest *req)
{
        return req->error;
}

uint64_t kube_request_retry_after_usec(KubeRequest *req)
{
        long status = kube_request_status(req);

        if (req->retry_after_s < 0 || !(status == 429 || (status >= 500 && status <= 599)))
                return 0;
        return (uint64_t)req->retry_after_s * 1000000ULL;
}

void kube_set_unauthorized_callback(Kube *k, kube_unauthorized_fn fn, void *userdata)
{
        k->on_unauthorized = fn;
        k->unauthorized_userdata = userdata;
}

void kube_metrics(const Kube *k, FILE *f)
{
        fputs("# HELP mlbd_bridge_api_request_duration_seconds Time from sending a request to "
              "the API server to the end of its answer, by HTTP method (watches are not "
              "counted: they last minutes by design).\n"
              "# TYPE mlbd_bridge_api_request_duration_seconds histogram\n",
              f);
        for (size_t v = 0; v < N_VERBS; v++) {
                const Latency *l = &k->latency[v];
                uint64_t cum = 0;
                for (size_t i = 0; i < N_BUCKETS; i++) {
                        cum += l->buckets[i];
                        fprintf(f,
                                "mlbd_bridge_api_request_duration_seconds_bucket{verb=\"%s\","
                                "le=\"%g\"} %" PRIu64 "\n",
                                verbs[v], latency_buckets[i], cum);
                }
                fprintf(f,
                        "mlbd_bridge_api_request_duration_seconds_bucket{verb=\"%s\",le=\"+Inf\"} "
                        "%" PRIu64 "\n"
                        "mlbd_bridge_api_request_duration_seconds_sum{verb=\"%s\"} %.6f\n"
                        "mlbd_bridge_api_request_duration_seconds_count{verb=\"%s\"} %" PRIu64 "\n",
                        verbs[v], l->count, verbs[v], l->sum, verbs[v], l->count);
        }
        fputs("# HELP mlbd_bridge_api_requests_total Requests to the API server that ended, by "
              "HTTP method and status code (code 0: no answer, e.g. refused or timed out).\n"
              "# TYPE mlbd_bridge_api_requests_total counter\n",
              f);
        for (size_t i = 0; i < k->n_codes; i++)
                fprintf(f, "mlbd_bridge_api_requests_total{verb=\"%s\",code=\"%ld\"} %" PRIu64 "\n",
                        verbs[k->codes[i].verb], k->codes[i].code, k->codes[i].n);
}

char *kube_escape(const char *s)
{
        static const char hex[] = "0123456789ABCDEF";
        char *out = malloc(strlen(s) * 3 + 1), *p = out;

        if (!out)
                return NULL;
        for (; *s; s++) {
                unsigned char c = (unsigned char)*s;
                if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~')
                        *p++ = (char)c;
                else {
                        *p++ = '%';
                        *p++ = hex[c >> 4];
                        *p++ = hex[c & 15];
                }
        }
        *p = 0;
        return out;
}
