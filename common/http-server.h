/* SPDX-License-Identifier: MIT */
/*
 * http-server: a small read-only HTTP/1.1 server on sd-event, for health probes and
 * Prometheus scrapes (mlbd-bridge's --listen; mlbd's metrics endpoint). libmicrohttpd does
 * the protocol in its "external epoll" mode: no thread of its own; its epoll fd is one
 * sd-event I/O source and MHD_get_timeout() drives one timer, so every request is answered
 * from the owner's loop and the handler may read the owner's state without locks.
 *
 * Invariants: only GET and HEAD reach the handler (anything else is answered 405 with
 * `Allow: GET, HEAD`; HEAD gets GET's headers without the body); at most
 * HTTP_SERVER_MAX_CONNECTIONS connections at once (more wait in the listen backlog); a
 * connection idle for HTTP_SERVER_TIMEOUT_SEC is closed. The listen string is parsed
 * purely (http_listen_parse), so a command line can reject it before anything starts.
 */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "util/macro.h"

#define HTTP_SERVER_MAX_CONNECTIONS 64
#define HTTP_SERVER_TIMEOUT_SEC 5
#define HTTP_CONTENT_TYPE_TEXT "text/plain; charset=utf-8"
/* The Prometheus text exposition format, version 0.0.4. */
#define HTTP_CONTENT_TYPE_PROMETHEUS "text/plain; version=0.0.4; charset=utf-8"

/* A parsed listen string: "ADDR:PORT" (IPv4), "[ADDR]:PORT" (IPv6) or ":PORT" (every
 * address, IPv6 dual-stack, else IPv4). Port 0 asks the kernel for a free one. */
typedef struct HttpListen {
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } addr;
        socklen_t len;
        bool any; /* ":PORT": addr is [::] (IPv6, dual-stack) */
} HttpListen;

/* 0, or -EINVAL with *reason (if given) set to a static one-line explanation. Pure. */
int http_listen_parse(const char *s, HttpListen *ret, const char **reason);

/* What the handler returns besides 0 (an answer in *status, *content_type, *body). */
enum {
        HTTP_HANDLER_NOT_FOUND = 1, /* unknown path: the server answers 404 */
};

/*
 * Called for every GET and HEAD; path excludes the query string. On entry *status is 200,
 * *content_type HTTP_CONTENT_TYPE_TEXT (a static string; the handler may point it at
 * another static one) and *body NULL; the handler may set *body to a malloc'd
 * NUL-terminated string, which the server frees. Returns 0 (answer as set),
 * HTTP_HANDLER_NOT_FOUND (404) or -errno (500, logged; *body is freed and not sent).
 */
typedef int (*HttpHandler)(const char *path, const char *method, unsigned *status,
                           const char **content_type, char **body, void *userdata);

typedef struct HttpServer HttpServer;

/* Binds and listens on `listen` (see HttpListen) and serves from e. -EINVAL for a bad
 * listen string (see http_listen_parse for why), -errno of socket/bind/listen, -ENOMEM or
 * -EIO when libmicrohttpd refuses to start. */
int http_server_new(HttpServer **ret, sd_event *e, const char *listen, HttpHandler handler,
                    void *userdata);
/* Closes the listening socket and every connection. */
HttpServer *http_server_free(HttpServer *s);
DEFINE_FREEP(HttpServer, http_server_free)

/* The bound port (the kernel's choice when asked for port 0). */
uint16_t http_server_get_port(const HttpServer *s);
/* The bound address for logs: "127.0.0.1:7473", "[::]:7473". */
const char *http_server_get_address(const HttpServer *s);
/* Requests answered (any status), for logs and tests. */
uint64_t http_server_requests(const HttpServer *s);
