/* SPDX-License-Identifier: MIT */
/*
 * Unit test of http-server: the listen-string parser (pure), then real servers on
 * loopback inside this process's sd-event loop. The client is a forked child (libcurl
 * easy and raw sockets) so that the parent can run the loop while the child waits for
 * answers; the child sends everything it saw back through a pipe in one struct, and the
 * parent checks it after the child's EOF ends the loop. Covered: 200 with body and
 * content type, HEAD (headers, no body), 404, 405 with Allow, 500 for a failing handler,
 * the query string left out of the path, keep-alive, the connection bound (the 65th
 * waits while 64 are open), the idle timeout, dual-stack ":0", -EINVAL / -EADDRINUSE,
 * and no fd left behind.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http-server.h"
#include "tap.h"

/* ---- the handler ------------------------------------------------------------------------ */

typedef struct Seen {
        unsigned calls;
        char path[64], method[16];
} Seen;

static int handler(const char *path, const char *method, unsigned *status,
                   const char **content_type, char **body, void *userdata)
{
        Seen *seen = userdata;

        seen->calls++;
        (void)snprintf(seen->path, sizeof(seen->path), "%s", path);
        (void)snprintf(seen->method, sizeof(seen->method), "%s", method);
        if (strcmp(path, "/hello") == 0)
                return (*body = strdup("hello\n")) ? 0 : -ENOMEM;
        if (strcmp(path, "/fail") == 0) {
                *body = strdup("never sent\n"); /* must be freed, not leaked or sent */
                return -EIO;
        }
        if (strcmp(path, "/custom") == 0) {
                *status = 503;
                *content_type = "application/x-test";
                return (*body = strdup("busy\n")) ? 0 : -ENOMEM;
        }
        if (strcmp(path, "/empty") == 0)
                return 0;
        return HTTP_HANDLER_NOT_FOUND;
}

/* ---- the child: what it saw ---------------------------------------------------------------- */

typedef struct Result {
        long status;
        long content_length;
        long connects; /* new connections this transfer made (0: kept alive) */
        char type[64], allow[32], body[64];
} Result;

enum { R_GET, R_HEAD, R_404, R_POST, R_FAIL, R_QUERY, R_CUSTOM, R_EMPTY, R_DELETE, _R_MAX };

typedef struct ChildOut {
        Result r[_R_MAX];
        int curl_ok;
        /* the connection bound and the idle timeout */
        int idle_connected;        /* of HTTP_SERVER_MAX_CONNECTIONS idle sockets */
        int extra_answered_early;  /* bytes within 1.5 s on the one past the bound */
        long extra_answered_ms;    /* when it was answered, from the idle ones' connect */
        char extra_first_line[40]; /* its status line */
        int idle_eof;              /* idle sockets the server closed */
        long idle_eof_ms;          /* when the last of them saw EOF */
        /* ":0" */
        Result v4, v6;
        int v6_skipped;
} ChildOut;

static long now_ms(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
        Result *r = userdata;
        size_t have = strlen(r->body), len = size * n;

        if (have + len < sizeof(r->body))
                memcpy(r->body + have, p, len), r->body[have + len] = 0;
        return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *userdata)
{
        Result *r = userdata;
        size_t len = size * n;

        if (len > 6 && strncasecmp(p, "Allow:", 6) == 0) {
                size_t k = len - 6;
                const char *v = p + 6;
                while (k && *v == ' ')
                        v++, k--;
                while (k && (v[k - 1] == '\r' || v[k - 1] == '\n'))
                        k--;
                if (k < sizeof(r->allow))
                        memcpy(r->allow, v, k), r->allow[k] = 0;
        }
        return len;
}

static void fetch(CURL *c, const char *url, const char *method, Result *r)
{
        curl_off_t cl = -1;
        char *type = NULL;

        memset(r, 0, sizeof(*r));
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L); /* resets NOBODY: first */
        curl_easy_setopt(c, CURLOPT_NOBODY, (long)(strcmp(method, "HEAD") == 0));
        if (strcmp(method, "POST") == 0)
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, strcmp(method, "DELETE") == 0 ? method : NULL);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
        if (curl_easy_perform(c) != CURLE_OK) {
                r->status = -1;
                return;
        }
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r->connects);
        curl_easy_getinfo(c, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        r->content_length = (long)cl;
        if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type)
                (void)snprintf(r->type, sizeof(r->type), "%s", type);
}

static int tcp_connect(int family, uint16_t port)
{
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } a = {0};
        socklen_t len;
        int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        if (family == AF_INET) {
                a.in.sin_family = AF_INET;
                a.in.sin_port = htons(port);
                a.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                len = sizeof(a.in);
        } else {
                a.in6.sin6_family = AF_INET6;
                a.in6.sin6_port = htons(port);
                a.in6.sin6_addr = in6addr_loopback;
                len = sizeof(a.in6);
        }
        if (connect(fd, &a.sa, len) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

static void child_main(uint16_t port, ChildOut *out)
{
        static const struct {
                const char *path, *method;
        } req[_R_MAX] = {
            [R_GET] = {"/hello", "GET"},       [R_HEAD] = {"/hello", "HEAD"},
            [R_404] = {"/nope", "GET"},        [R_POST] = {"/hello", "POST"},
            [R_FAIL] = {"/fail", "GET"},       [R_QUERY] = {"/hello?x=1&y", "GET"},
            [R_CUSTOM] = {"/custom", "GET"},   [R_EMPTY] = {"/empty", "GET"},
            [R_DELETE] = {"/hello", "DELETE"},
        };
        int idle[HTTP_SERVER_MAX_CONNECTIONS], extra;
        char url[128], buf[256];
        long t0;
        CURL *c;

        if (curl_global_init(CURL_GLOBAL_DEFAULT) == 0 && (c = curl_easy_init())) {
                out->curl_ok = 1;
                for (int i = 0; i < _R_MAX; i++) {
                        (void)snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port,
                                       req[i].path);
                        fetch(c, url, req[i].method, &out->r[i]);
                }
                curl_easy_cleanup(c); /* closes its kept-alive connection */
        }
        usleep(300 * 1000); /* the server sees that close before the bound is tested */

        /* All at once: the idle ones and the one past the bound, watched together. */
        t0 = now_ms();
        for (int i = 0; i < HTTP_SERVER_MAX_CONNECTIONS; i++)
                if ((idle[i] = tcp_connect(AF_INET, port)) >= 0)
                        out->idle_connected++;
        usleep(300 * 1000);
        extra = tcp_connect(AF_INET, port);
        if (extra >= 0)
                (void)!write(extra, "GET /hello HTTP/1.0\r\n\r\n", 23);
        for (int open = HTTP_SERVER_MAX_CONNECTIONS + 1; open > 0 && now_ms() - t0 < 15000;) {
                struct pollfd p[HTTP_SERVER_MAX_CONNECTIONS + 1];
                ssize_t n;

                for (int i = 0; i < HTTP_SERVER_MAX_CONNECTIONS; i++)
                        p[i] = (struct pollfd){.fd = idle[i], .events = POLLIN};
                p[HTTP_SERVER_MAX_CONNECTIONS] = (struct pollfd){.fd = extra, .events = POLLIN};
                if (poll(p, HTTP_SERVER_MAX_CONNECTIONS + 1, 500) < 0)
                        break;
                for (int i = 0; i <= HTTP_SERVER_MAX_CONNECTIONS; i++) {
                        if (p[i].fd < 0 || !p[i].revents)
                                continue;
                        n = read(p[i].fd, buf, sizeof(buf) - 1);
                        if (i == HTTP_SERVER_MAX_CONNECTIONS) {
                                if (n > 0) {
                                        buf[n] = 0;
                                        buf[strcspn(buf, "\r\n")] = 0;
                                        (void)snprintf(out->extra_first_line,
                                                       sizeof(out->extra_first_line), "%.39s", buf);
                                        out->extra_answered_ms = now_ms() - t0;
                                }
                                if (n > 0 && out->extra_answered_ms < 1500 + 300)
                                        out->extra_answered_early = 1;
                                close(extra);
                                extra = -EBADF;
                        } else {
                                if (n == 0) {
                                        out->idle_eof++;
                                        out->idle_eof_ms = now_ms() - t0;
                                }
                                close(idle[i]);
                                idle[i] = -EBADF;
                        }
                        open--;
                }
        }
        for (int i = 0; i < HTTP_SERVER_MAX_CONNECTIONS; i++)
                if (idle[i] >= 0)
                        close(idle[i]);
        if (extra >= 0)
                close(extra);
}

static void child_dualstack(uint16_t port, ChildOut *out)
{
        CURL *c;
        char url[128];
        int fd;

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || !(c = curl_easy_init()))
                return;
        out->curl_ok = 1;
        (void)snprintf(url, sizeof(url), "http://127.0.0.1:%u/hello", port);
        fetch(c, url, "GET", &out->v4);
        fd = tcp_connect(AF_INET6, port);
        if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL || fd == -ENETUNREACH)
                out->v6_skipped = 1; /* no ::1 here */
        else {
                if (fd >= 0)
                        close(fd);
                (void)snprintf(url, sizeof(url), "http://[::1]:%u/hello", port);
                fetch(c, url, "GET", &out->v6);
        }
        curl_easy_cleanup(c);
}

/* ---- the parent: run the loop until the child is done ------------------------------------------
 */

typedef struct Collect {
        ChildOut out;
        size_t got;
        int done; /* 1: EOF, -ETIMEDOUT: the deadline */
} Collect;

static int on_pipe(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        Collect *c = userdata;
        ssize_t n;

        if (c->got < sizeof(c->out)) {
                n = read(fd, (char *)&c->out + c->got, sizeof(c->out) - c->got);
                if (n > 0) {
                        c->got += (size_t)n;
                        return 0;
                }
                if (n < 0 && errno == EINTR)
                        return 0;
        }
        c->done = 1;
        return sd_event_source_set_enabled(s, SD_EVENT_OFF);
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata)
{
        Collect *c = userdata;
        c->done = -ETIMEDOUT;
        return 0;
}

static int run_child(sd_event *e, uint16_t port, void (*body)(uint16_t, ChildOut *), ChildOut *ret)
{
        sd_event_source *io = NULL, *deadline = NULL;
        Collect c = {0};
        int p[2], r, st;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        fflush(stdout);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                ChildOut out = {0};
                close(p[0]);
                body(port, &out);
                (void)!write(p[1], &out, sizeof(out));
                _exit(0);
        }
        close(p[1]);
        r = sd_event_add_io(e, &io, p[0], EPOLLIN, on_pipe, &c);
        if (r >= 0)
                r = sd_event_add_time_relative(e, &deadline, CLOCK_MONOTONIC, 40 * 1000 * 1000ULL,
                                               0, on_deadline, &c);
        /* sd_event_run(), not sd_event_loop(): a loop that has exited cannot be reused */
        while (r >= 0 && !c.done)
                r = sd_event_run(e, UINT64_MAX);
        if (r >= 0)
                r = c.done < 0 ? c.done : 0;
        sd_event_source_disable_unref(io);
        sd_event_source_disable_unref(deadline);
        close(p[0]);
        if (r < 0)
                kill(pid, SIGKILL);
        (void)waitpid(pid, &st, 0);
        if (r >= 0 && c.got != sizeof(c.out))
                r = -EPROTO;
        *ret = c.out;
        return r;
}

/* ---- the tests ---------------------------------------------------------------------------- */

static void test_parse(void)
{
        static const struct {
                const char *s;
                int family;
                const char *addr;
                unsigned port;
                bool any;
        } good[] = {
            {":7473", AF_INET6, "::", 7473, true},
            {"127.0.0.1:0", AF_INET, "127.0.0.1", 0, false},
            {"0.0.0.0:80", AF_INET, "0.0.0.0", 80, false},
            {"[::1]:65535", AF_INET6, "::1", 65535, false},
            {"[::]:1", AF_INET6, "::", 1, false},
            {"[2001:db8::1]:7473", AF_INET6, "2001:db8::1", 7473, false},
            {"[::ffff:192.0.2.1]:9", AF_INET6, "::ffff:192.0.2.1", 9, false},
        };
        static const struct {
                const char *s, *why;
        } bad[] = {
            {"", "empty"},
            {"7473", "no port"},
            {"localhost:7473", "not an IPv4 address"},
            {"127.0.0.1", "no port"},
            {"127.0.0.1:", "no port after ':'"},
            {"127.0.0.1:65536", "larger than 65535"},
            {"127.0.0.1:99999999999999999999", "larger than 65535"},
            {"127.0.0.1:-1", "not a number"},
            {"127.0.0.1:+1", "not a number"},
            {"127.0.0.1: 80", "not a number"},
            {"127.0.0.1:80 ", "not a number"},
            {"1.2.3:80", "not an IPv4 address"},
            {"::1:7473", "in brackets"},
            {"[::1:7473", "no ']'"},
            {"[::1]7473", "no ':PORT'"},
            {"[]:80", "not an IPv6 address"},
            {"[127.0.0.1]:80", "not an IPv6 address"},
            {"[fe80::1%eth0]:80", "zone"},
            {"[::1]:", "no port after ':'"},
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                HttpListen l;
                char a[INET6_ADDRSTRLEN] = "";
                const char *why = NULL;
                int r = http_listen_parse(good[i].s, &l, &why);
                unsigned port;

                is_int(r, 0, "parse \"%s\"", good[i].s);
                if (r < 0) {
                        printf("#   %s\n", why);
                        continue;
                }
                port = ntohs(l.addr.sa.sa_family == AF_INET ? l.addr.in.sin_port
                                                            : l.addr.in6.sin6_port);
                (void)inet_ntop(l.addr.sa.sa_family,
                                l.addr.sa.sa_family == AF_INET ? (void *)&l.addr.in.sin_addr
                                                               : (void *)&l.addr.in6.sin6_addr,
                                a, sizeof(a));
                ok(l.addr.sa.sa_family == good[i].family && strcmp(a, good[i].addr) == 0 &&
                       port == good[i].port && l.any == good[i].any &&
                       l.len ==
                           (good[i].family == AF_INET ? sizeof(l.addr.in) : sizeof(l.addr.in6)),
                   "\"%s\" is %s port %u%s", good[i].s, good[i].addr, good[i].port,
                   good[i].any ? " (any, dual-stack)" : "");
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                HttpListen l;
                const char *why = NULL;
                int r = http_listen_parse(bad[i].s, &l, &why);

                ok(r == -EINVAL && why && strstr(why, bad[i].why), "\"%s\" is refused: %s",
                   bad[i].s, why ? why : "(no reason)");
        }
        ok(http_listen_parse(NULL, NULL, NULL) == -EINVAL, "NULL is refused, reason optional");
}

static int count_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        int n = 0;

        if (!d)
                return -1;
        while ((de = readdir(d)))
                n += de->d_name[0] != '.';
        closedir(d);
        return n;
}

static void test_server(sd_event *e)
{
        _cleanup_(http_server_freep) HttpServer *s = NULL, *dup = NULL;
        Seen seen = {0};
        ChildOut o;
        char want[64];
        int r;

        r = http_server_new(&s, e, "127.0.0.1:0", handler, &seen);
        is_int(r, 0, "a server on 127.0.0.1:0 starts");
        if (r < 0)
                return;
        ok(http_server_get_port(s) != 0, "port 0: the kernel's port is reported (%u)",
           http_server_get_port(s));
        (void)snprintf(want, sizeof(want), "127.0.0.1:%u", http_server_get_port(s));
        is_str(http_server_get_address(s), want, "the bound address is reported for logs");

        (void)snprintf(want, sizeof(want), "127.0.0.1:%u", http_server_get_port(s));
        is_int(http_server_new(&dup, e, want, handler, &seen), -EADDRINUSE,
               "a second server on the same port: -EADDRINUSE");
        is_int(http_server_new(&dup, e, "localhost:80", handler, &seen), -EINVAL,
               "a bad listen string: -EINVAL");

        r = run_child(e, http_server_get_port(s), child_main, &o);
        is_int(r, 0, "the client child ran while the loop served it");
        if (r < 0)
                return;
        ok(o.curl_ok, "the child's libcurl works");

        is_int(o.r[R_GET].status, 200, "GET /hello: 200");
        is_str(o.r[R_GET].body, "hello\n", "GET /hello: the handler's body");
        is_str(o.r[R_GET].type, HTTP_CONTENT_TYPE_TEXT, "GET /hello: the default content type");
        is_int(o.r[R_GET].content_length, 6, "GET /hello: Content-Length 6");

        is_int(o.r[R_HEAD].status, 200, "HEAD /hello: 200");
        is_str(o.r[R_HEAD].body, "", "HEAD /hello: no body");
        is_int(o.r[R_HEAD].content_length, 6, "HEAD /hello: GET's Content-Length");
        is_int(o.r[R_HEAD].connects, 0, "HEAD after GET: the connection was kept alive");

        is_int(o.r[R_404].status, 404, "GET /nope: 404 (the handler does not know it)");
        is_str(o.r[R_404].body, "not found\n", "404 body");

        is_int(o.r[R_POST].status, 405, "POST: 405");
        is_str(o.r[R_POST].allow, "GET, HEAD", "405 says Allow: GET, HEAD");
        is_int(o.r[R_DELETE].status, 405, "DELETE: 405");
        is_str(o.r[R_DELETE].allow, "GET, HEAD", "its Allow header too");

        is_int(o.r[R_FAIL].status, 500, "a failing handler: 500");
        is_str(o.r[R_FAIL].body, "internal error\n", "its body is not the handler's");

        is_int(o.r[R_QUERY].status, 200, "GET /hello?x=1&y: 200 (the path leaves the query out)");
        is_int(o.r[R_CUSTOM].status, 503, "a status set by the handler (503)");
        is_str(o.r[R_CUSTOM].type, "application/x-test", "a content type set by the handler");
        is_str(o.r[R_CUSTOM].body, "busy\n", "and its body");
        is_int(o.r[R_EMPTY].status, 200, "no body from the handler: 200");
        is_int(o.r[R_EMPTY].content_length, 0, "with Content-Length 0");

        /* GET, HEAD, 404, FAIL, QUERY, CUSTOM, EMPTY reach the handler; POST/DELETE do not;
         * then the one past the bound */
        is_int(seen.calls, 8, "the handler saw GET and HEAD only (7 + 1 raw)");
        is_str(seen.path, "/hello", "the last path");
        is_str(seen.method, "GET", "the last method");
        is_int(http_server_requests(s), 10, "10 requests answered");

        is_int(o.idle_connected, HTTP_SERVER_MAX_CONNECTIONS, "%d idle connections open",
               HTTP_SERVER_MAX_CONNECTIONS);
        ok(!o.extra_answered_early, "one more is not served while %d are open (bounded)",
           HTTP_SERVER_MAX_CONNECTIONS);
        is_str(o.extra_first_line, "HTTP/1.1 200 OK",
               "it is served once the idle ones have timed out");
        ok(o.extra_answered_ms >= (HTTP_SERVER_TIMEOUT_SEC - 1) * 1000 &&
               o.extra_answered_ms <= (HTTP_SERVER_TIMEOUT_SEC + 3) * 1000,
           "after about %d s (%ld ms)", HTTP_SERVER_TIMEOUT_SEC, o.extra_answered_ms);
        printf("# extra: early %d, at %ld ms: \"%s\"; idle EOF %d, the last at %ld ms\n",
               o.extra_answered_early, o.extra_answered_ms, o.extra_first_line, o.idle_eof,
               o.idle_eof_ms);
        is_int(o.idle_eof, HTTP_SERVER_MAX_CONNECTIONS, "every idle connection was closed");
        ok(o.idle_eof_ms >= (HTTP_SERVER_TIMEOUT_SEC - 1) * 1000 &&
               o.idle_eof_ms <= (HTTP_SERVER_TIMEOUT_SEC + 3) * 1000,
           "by the %d s idle timeout (%ld ms)", HTTP_SERVER_TIMEOUT_SEC, o.idle_eof_ms);
}

static void test_dualstack(sd_event *e)
{
        _cleanup_(http_server_freep) HttpServer *s = NULL;
        Seen seen = {0};
        ChildOut o;
        int r;

        r = http_server_new(&s, e, ":0", handler, &seen);
        is_int(r, 0, "a server on \":0\" starts");
        if (r < 0)
                return;
        ok(strncmp(http_server_get_address(s), "[::]:", 5) == 0 ||
               strncmp(http_server_get_address(s), "0.0.0.0:", 8) == 0,
           "it listens on every address (%s)", http_server_get_address(s));
        r = run_child(e, http_server_get_port(s), child_dualstack, &o);
        is_int(r, 0, "the client child ran");
        if (r < 0)
                return;
        is_int(o.v4.status, 200, "\":0\" answers on 127.0.0.1 (dual-stack)");
        if (o.v6_skipped)
                ok(1, "# SKIP no ::1 on this host");
        else
                is_int(o.v6.status, 200, "\":0\" answers on [::1]");
}

int main(void)
{
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        int fds;

        signal(SIGPIPE, SIG_IGN);
        test_parse();
        if (sd_event_new(&e) < 0)
                return ok(0, "sd_event_new"), tap_done();
        {
                /* sd-event keeps a timerfd per clock once used: open it before counting */
                sd_event_source *t = NULL;
                (void)sd_event_add_time(e, &t, CLOCK_MONOTONIC, UINT64_MAX, 0, NULL, NULL);
                sd_event_source_disable_unref(t);
        }
        fds = count_fds();
        test_server(e);
        test_dualstack(e);
        is_int(count_fds(), fds, "every socket and epoll fd is closed after http_server_free");
        return tap_done();
}
