/* SPDX-License-Identifier: MIT */
/*
 * kube: HTTP requests to the Kubernetes API server on the bridge's one sd-event loop.
 * One libcurl multi handle is driven by sd-event (CURLMOPT_SOCKETFUNCTION and
 * CURLMOPT_TIMERFUNCTION): no threads, no blocking call. HTTP/2 is asked for where the
 * server offers it (ALPN), and requests are multiplexed, so every watch and every write
 * share one TLS connection. TLS is always verified against the configured CA unless the
 * kubeconfig says insecure-skip-tls-verify (a warning is logged once).
 *
 * A request either buffers its whole response body (lists, writes; capped) and hands it
 * to on_done, or streams it to on_data as it arrives (watches) and calls on_done at the
 * end. on_done is called exactly once per request that was not cancelled, with the HTTP
 * status (0 when no response came) and error (0, or -errno: -ETIMEDOUT, -ECONNREFUSED,
 * -EPROTO for TLS and protocol failures, -EFBIG for a body over the cap, -ECANCELED
 * when on_data asked to stop); the request is freed after on_done returns.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <systemd/sd-event.h>

#include "util/macro.h"

typedef struct Kube Kube;
typedef struct KubeRequest KubeRequest;

/* What curl needs to reach and trust the API server. Strings are copied by kube_new. */
typedef struct KubeEndpoint {
        const char *server;  /* https://host:port, no trailing path */
        const char *ca_file; /* PEM file, or NULL */
        const void *ca_data; /* PEM bytes, or NULL */
        size_t ca_len;
        const char *cert_file, *key_file; /* client certificate, or NULL */
        const void *cert_data, *key_data;
        size_t cert_len, key_len;
        const char *tls_server_name; /* or NULL */
        bool insecure;               /* insecure-skip-tls-verify */
        const char *user_agent;      /* e.g. "mlbd-bridge/0.1.0 (node1)" */
} KubeEndpoint;

/* Streamed body bytes; return 0 to go on, < 0 to stop the request (on_done gets
 * -ECANCELED unless the callback already cancelled it). Called once with len 0 when the
 * headers of a 2xx answer have arrived (the stream is established). */
typedef int (*kube_data_fn)(KubeRequest *req, const char *buf, size_t len, void *userdata);
/* The end of a request: status 0 when no HTTP response came; body is the buffered body
 * (NUL-terminated; empty for streamed requests). */
typedef void (*kube_done_fn)(KubeRequest *req, long status, const char *body, size_t len, int error,
                             void *userdata);

int kube_new(Kube **ret, sd_event *e, const KubeEndpoint *ep);
Kube *kube_free(Kube *k);
DEFINE_FREEP(Kube, kube_free)

/* Bearer token sent from now on (NULL: none). Tokens in files are re-read by the caller. */
int kube_set_token(Kube *k, const char *token);

/* Starts METHOD PATH (e.g. "GET", "/api/v1/services?limit=500"). body/content_type may be
 * NULL. timeout_ms 0 = none (watches end on the server's timeoutSeconds); the connection
 * phase is always bounded. ret may be NULL. */
int kube_request(Kube *k, KubeRequest **ret, const char *method, const char *path,
                 const char *content_type, const char *body, long timeout_ms, kube_data_fn on_data,
                 kube_done_fn on_done, void *userdata);
/* The HTTP status of a streaming request once its headers arrived (0 before). */
long kube_request_status(KubeRequest *req);
/* curl's words for the failure of a request, valid in its on_done. */
const char *kube_request_error(KubeRequest *req);
/* Stops and frees the request; its on_done is not called. NULL is fine. Not from the
 * request's own on_done (it is freed when on_done returns). */
void kube_request_cancel(KubeRequest *req);

/* The server's Retry-After (seconds, at most 60) of a request answered 429 or 5xx, in
 * microseconds; 0 when there was none. Valid in its on_done. */
uint64_t kube_request_retry_after_usec(KubeRequest *req);

/* One response header line (n bytes, its CRLF or LF included or not): the seconds of a
 * Retry-After header in delay-seconds form (RFC 9110 10.2.3: optional blanks, digits,
 * optional blanks), at most KUBE_RETRY_AFTER_MAX_S; -1 for any other header, the
 * HTTP-date form (kube-apiserver does not send it) or anything malformed. Pure. */
#define KUBE_RETRY_AFTER_MAX_S 60 /* a Retry-After beyond this is taken as this */
long kube_retry_after_parse(const char *line, size_t n);

/* Called (outside curl, before the request's on_done) whenever an answer is 401
 * Unauthorized: the owner of the credentials may re-read a token file. */
typedef void (*kube_unauthorized_fn)(Kube *k, void *userdata);
void kube_set_unauthorized_callback(Kube *k, kube_unauthorized_fn fn, void *userdata);

/* The Prometheus families mlbd_bridge_api_request_duration_seconds{verb} (histogram of
 * buffered requests) and mlbd_bridge_api_requests_total{verb,code}, with # HELP/# TYPE. */
void kube_metrics(const Kube *k, FILE *f);

/* Requests started / finished with an error, for logs and tests. */
unsigned kube_requests_active(const Kube *k);

/* Percent-encodes s for a URL query value or path segment. */
char *kube_escape(const char *s);
