/* SPDX-License-Identifier: MIT */
/*
 * http-server: libmicrohttpd driven from sd-event (see http-server.h). We bind the
 * listening socket ourselves (the listen string's rules, port 0, dual-stack) and hand it
 * to MHD, which then owns it. MHD runs in external epoll mode: its epoll fd is readable
 * whenever one of its sockets is ready, and MHD_get_timeout() says when it must run even
 * without I/O (idle connections to time out, data it has read but not yet processed: then
 * the timeout is 0). Every dispatch is MHD_run() followed by re-arming that timer.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "http-server.h"
#include "util/log.h"

struct HttpServer {
        sd_event *event;
        struct MHD_Daemon *mhd;
        sd_event_source *io, *timer;
        HttpHandler handler;
        void *userdata;
        HttpListen bound;
        char address[INET6_ADDRSTRLEN + 8];
        uint64_t n_requests;
        bool started; /* MHD's messages are warnings while it starts, debug after */
};

/* ---- the listen string (pure) -------------------------------------------------------- */

static int parse_port(const char *s, uint16_t *ret)
{
        unsigned v = 0;
        size_t n = 0;

        for (; s[n] >= '0' && s[n] <= '9'; n++) {
                v = v * 10 + (unsigned)(s[n] - '0');
                if (v > 65535)
                        return -ERANGE;
        }
        if (n == 0 || s[n])
                return -EINVAL;
        *ret = (uint16_t)v;
        return 0;
}

#define LISTEN_FORMS "expected ADDR:PORT, [IPV6-ADDR]:PORT or :PORT"

int http_listen_parse(const char *s, HttpListen *ret, const char **reason)
{
        const char *why = NULL, *port;
        char host[INET6_ADDRSTRLEN];
        HttpListen l = {0};
        uint16_t p;
        size_t n;

        if (!s || !*s) {
                why = "empty: " LISTEN_FORMS;
                goto fail;
        }
        if (s[0] == '[') {
                const char *end = strchr(s, ']');
                if (!end) {
                        why = "no ']' after the IPv6 address: " LISTEN_FORMS;
                        goto fail;
                }
                if (end[1] != ':') {
                        why = "no ':PORT' after ']': " LISTEN_FORMS;
                        goto fail;
                }
                n = (size_t)(end - s - 1);
                port = end + 2;
                if (n == 0 || n >= sizeof(host)) {
                        why = "not an IPv6 address between [ and ]";
                        goto fail;
                }
                memcpy(host, s + 1, n);
                host[n] = 0;
                l.addr.in6.sin6_family = AF_INET6;
                if (inet_pton(AF_INET6, host, &l.addr.in6.sin6_addr) != 1) {
                        why = strchr(host, '%') ? "an IPv6 zone (%IFACE) is not supported"
                                                : "not an IPv6 address between [ and ]";
                        goto fail;
                }
                l.len = sizeof(l.addr.in6);
        } else {
                const char *colon = strrchr(s, ':');
                if (!colon) {
                        why = "no port: " LISTEN_FORMS;
                        goto fail;
                }
                n = (size_t)(colon - s);
                port = colon + 1;
                if (memchr(s, ':', n)) {
                        why = "an IPv6 address goes in brackets: [ADDR]:PORT";
                        goto fail;
                }
                if (n == 0) {
                        l.any = true;
                        l.addr.in6.sin6_family = AF_INET6;
                        l.addr.in6.sin6_addr = in6addr_any;
                        l.len = sizeof(l.addr.in6);
                } else {
                        if (n >= sizeof(host)) {
                                why = "not an IPv4 address (host names are not accepted)";
                                goto fail;
                        }
                        memcpy(host, s, n);
                        host[n] = 0;
                        l.addr.in.sin_family = AF_INET;
                        if (inet_pton(AF_INET, host, &l.addr.in.sin_addr) != 1) {
                                why = "not an IPv4 address (host names are not accepted)";
                                goto fail;
                        }
                        l.len = sizeof(l.addr.in);
                }
        }
        switch (parse_port(port, &p)) {
        case 0:
                break;
        case -ERANGE:
                why = "the port is larger than 65535";
                goto fail;
        default:
                why = *port ? "the port is not a number (0-65535)" : "no port after ':'";
                goto fail;
        }
        if (l.addr.sa.sa_family == AF_INET)
                l.addr.in.sin_port = htons(p);
        else
                l.addr.in6.sin6_port = htons(p);
        if (ret)
                *ret = l;
        return 0;
fail:
        if (reason)
                *reason = why;
        return -EINVAL;
}

/* ---- the socket ---------------------------------------------------------------------- */

static void format_address(HttpServer *s)
{
        char a[INET6_ADDRSTRLEN] = "?";

        if (s->bound.addr.sa.sa_family == AF_INET) {
                (void)inet_ntop(AF_INET, &s->bound.addr.in.sin_addr, a, sizeof(a));
                (void)snprintf(s->address, sizeof(s->address), "%s:%u", a,
                               ntohs(s->bound.addr.in.sin_port));
        } else {
                (void)inet_ntop(AF_INET6, &s->bound.addr.in6.sin6_addr, a, sizeof(a));
                (void)snprintf(s->address, sizeof(s->address), "[%s]:%u", a,
                               ntohs(s->bound.addr.in6.sin6_port));
        }
}

static int open_socket(const HttpListen *l, HttpListen *bound)
{
        _cleanup_close_ int fd = -EBADF;
        HttpListen v4 = {0};
        int one = 1, v6only;

        fd = socket(l->addr.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP);
        if (fd < 0 && l->any && errno == EAFNOSUPPORT) {
                /* a kernel without IPv6: ":PORT" still means every (IPv4) address */
                v4.addr.in.sin_family = AF_INET;
                v4.addr.in.sin_addr.s_addr = htonl(INADDR_ANY);
                v4.addr.in.sin_port = l->addr.in6.sin6_port;
                v4.len = sizeof(v4.addr.in);
                l = &v4;
                fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_TCP);
        }
        if (fd < 0)
                return -errno;
        /* a restart must not wait for the last run's TIME_WAIT connections */
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
                return -errno;
        if (l->addr.sa.sa_family == AF_INET6) {
                /* ":PORT" takes IPv4 too (as mapped addresses), whatever bindv6only says */
                v6only = !l->any;
                if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0)
                        return -errno;
        }
        if (bind(fd, &l->addr.sa, l->len) < 0 || listen(fd, HTTP_SERVER_MAX_CONNECTIONS) < 0)
                return -errno;
        *bound = *l;
        bound->len = sizeof(bound->addr);
        if (getsockname(fd, &bound->addr.sa, &bound->len) < 0)
                return -errno;
        return TAKE_FD(fd);
}

/* ---- libmicrohttpd --------------------------------------------------------------------- */

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
        HttpServer *s = cls;
        _cleanup_free_ char *m = NULL;
        size_t n;

        if (vasprintf(&m, fmt, ap) < 0)
                return;
        n = strlen(m);
        while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == '\r'))
                m[--n] = 0;
        if (s->started)
                log_debug("http %s: %s", s->address, m);
        else
                log_warning("http %s: %s", s->address, m);
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type,
                               const char *body, const char *allow)
{
        struct MHD_Response *r;
        enum MHD_Result ret;

        r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
        if (!r)
                return MHD_NO; /* MHD closes the connection */
        if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES ||
            (allow && MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow) != MHD_YES)) {
                MHD_destroy_response(r);
                return MHD_NO;
        }
        ret = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
        HttpServer *s = cls;
        _cleanup_free_ char *body = NULL;
        const char *type = HTTP_CONTENT_TYPE_TEXT;
        unsigned status = MHD_HTTP_OK;
        int r;

        /* MHD calls this once when the headers are in (*req_cls still NULL), then for the
         * body, then once more with nothing: answering on that last call keeps the
         * connection alive (an answer before the whole request is read closes it). Other
         * methods are refused at once: their connection may close. A body is dropped. */
        if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
                s->n_requests++;
                return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, HTTP_CONTENT_TYPE_TEXT,
                               "method not allowed\n", "GET, HEAD");
        }
        if (!*req_cls) {
                *req_cls = s;
                return MHD_YES;
        }
        if (*upload_data_size) {
                *upload_data_size = 0;
                return MHD_YES;
        }
        s->n_requests++;
        r = s->handler(url, method, &status, &type, &body, s->userdata);
        if (r == HTTP_HANDLER_NOT_FOUND)
                return respond(c, MHD_HTTP_NOT_FOUND, HTTP_CONTENT_TYPE_TEXT, "not found\n", NULL);
        if (r < 0) {
                log_warning_errno(r, "http %s: %s %s: %m", s->address, method, url);
                return respond(c, MHD_HTTP_INTERNAL_SERVER_ERROR, HTTP_CONTENT_TYPE_TEXT,
                               "internal error\n", NULL);
        }
        if (status < 100 || status > 599)
                status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        return respond(c, status, type ? type : HTTP_CONTENT_TYPE_TEXT, body ? body : "", NULL);
}

static void arm(HttpServer *s)
{
        MHD_UNSIGNED_LONG_LONG ms = 0;
        uint64_t now = 0;

        if (MHD_get_timeout(s->mhd, &ms) != MHD_YES) {
                (void)sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
                return;
        }
        (void)sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        if (ms > UINT64_MAX / 2000)
                ms = UINT64_MAX / 2000;
        (void)sd_event_source_set_time(s->timer, now + (uint64_t)ms * 1000);
        (void)sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
}

static unsigned connections(const HttpServer *s)
{
        const union MHD_DaemonInfo *info =
            MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        return info ? info->num_connections : 0;
}

static void run(HttpServer *s)
{
        /* At the connection limit MHD takes the listening socket out of its epoll set and
         * puts it back only at the start of its next run. When this run closed connections
         * (timed out, done) that were holding the limit, nothing would wake us for that
         * next run, and clients waiting in the backlog would wait for an unrelated event:
         * so run once more at once. */
        for (int i = 0; i < 2; i++) {
                unsigned before = connections(s);
                if (MHD_run(s->mhd) != MHD_YES)
                        log_warning("http %s: libmicrohttpd failed to run", s->address);
                if (before < HTTP_SERVER_MAX_CONNECTIONS ||
                    connections(s) >= HTTP_SERVER_MAX_CONNECTIONS)
                        break;
        }
        arm(s);
}

static int on_io(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
        run(userdata);
        return 0;
}

static int on_timer(sd_event_source *es, uint64_t usec, void *userdata)
{
        run(userdata);
        return 0;
}

/* ---- life ------------------------------------------------------------------------------ */

int http_server_new(HttpServer **ret, sd_event *e, const char *listen, HttpHandler handler,
                    void *userdata)
{
        _cleanup_(http_server_freep) HttpServer *s = NULL;
        _cleanup_close_ int fd = -EBADF;
        const union MHD_DaemonInfo *info;
        HttpListen l;
        int r;

        r = http_listen_parse(listen, &l, NULL);
        if (r < 0)
                return r;
        if (!(s = calloc(1, sizeof(*s))))
                return -ENOMEM;
        s->event = sd_event_ref(e);
        s->handler = handler;
        s->userdata = userdata;
        s->bound = l;
        format_address(s);
        fd = open_socket(&l, &s->bound);
        if (fd < 0)
                return fd;
        format_address(s);

        s->mhd = MHD_start_daemon(
            MHD_USE_ERROR_LOG | MHD_USE_EPOLL, 0, NULL, NULL, on_request, s,
            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
            MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_SERVER_MAX_CONNECTIONS,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_SERVER_TIMEOUT_SEC, MHD_OPTION_END);
        if (!s->mhd)
                return -EIO; /* the reason was logged through mhd_log */
        TAKE_FD(fd);         /* MHD_stop_daemon() closes it */
        s->started = true;

        info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info || info->epoll_fd < 0)
                return -EIO;
        r = sd_event_add_io(e, &s->io, info->epoll_fd, EPOLLIN, on_io, s);
        if (r < 0)
                return r;
        r = sd_event_add_time(e, &s->timer, CLOCK_MONOTONIC, UINT64_MAX, 0, on_timer, s);
        if (r < 0)
                return r;
        (void)sd_event_source_set_description(s->io, "http-server-io");
        (void)sd_event_source_set_description(s->timer, "http-server-timer");
        arm(s);
        *ret = TAKE_PTR(s);
        return 0;
}

HttpServer *http_server_free(HttpServer *s)
{
        if (!s)
                return NULL;
        /* off the loop before MHD closes the epoll fd the I/O source watches */
        sd_event_source_disable_unref(s->io);
        sd_event_source_disable_unref(s->timer);
        if (s->mhd)
                MHD_stop_daemon(s->mhd);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

uint16_t http_server_get_port(const HttpServer *s)
{
        return ntohs(s->bound.addr.sa.sa_family == AF_INET ? s->bound.addr.in.sin_port
                                                           : s->bound.addr.in6.sin6_port);
}

const char *http_server_get_address(const HttpServer *s)
{
        return s->address;
}

uint64_t http_server_requests(const HttpServer *s)
{
        return s->n_requests;
}
