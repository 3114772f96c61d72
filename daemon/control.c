/* SPDX-License-Identifier: MIT */
/* Control socket transport; see control.h. */
#include <fcntl.h>
#include <grp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "control.h"
#include "fair-defer.h"
#include "util/log.h"

struct ControlClient {
        ControlServer *server;
        ControlClient *prev, *next;
        sd_event_source *io;
        int fd;
        unsigned id;
        struct ucred cred;
        gid_t *groups; /* supplementary groups of the peer (SO_PEERGROUPS) */
        size_t n_groups;
        sd_event_source *more; /* defer: complete lines wait in `in` (backlog) */
        bool backlog;
        char *in;
        size_t in_len, in_cap;
        char *out;
        size_t out_len, out_cap, out_ofs;
        void *data;
        bool dead; /* dropped while a callback runs; freed when it returns */
        unsigned busy;
};

struct ControlServer {
        sd_event *event;
        sd_event_source *io;
        sd_event_source *accept_timer; /* re-enables io after an accept() out of resources */
        bool accept_failing;           /* logged; quiet until an accept() succeeds again */
        int fd;
        char *path;
        size_t max_line;
        ControlCallbacks cb;
        void *userdata;
        ControlClient *clients;
        size_t n_clients;
        unsigned next_id;
};

static void client_free(ControlClient *c)
{
        ControlServer *s = c->server;

        if (s->cb.gone)
                s->cb.gone(c, s->userdata);
        if (c->prev)
                c->prev->next = c->next;
        else
                s->clients = c->next;
        if (c->next)
                c->next->prev = c->prev;
        s->n_clients--;
        sd_event_source_disable_unref(c->io);
        sd_event_source_disable_unref(c->more);
        if (c->fd >= 0)
                close(c->fd);
        free(c->groups);
        free(c->in);
        free(c->out);
        free(c);
}

/* Drops a client now, or once the callback that is using it returns. */
static void client_drop(ControlClient *c, const char *why)
{
        if (c->dead)
                return;
        log_debug("control: client %u (pid %d) dropped: %s", c->id, (int)c->cred.pid, why);
        c->dead = true;
        if (c->busy == 0)
                client_free(c);
        else {
                sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
                sd_event_source_set_enabled(c->more, SD_EVENT_OFF);
        }
}

/* While complete lines wait (backlog), the socket is not read: input stays bounded and
 * the client waits in the kernel's queue, not in ours. */
static int client_update_events(ControlClient *c)
{
        uint32_t ev = c->backlog ? 0 : EPOLLIN | EPOLLRDHUP;
        int r;

        if (c->out_len > c->out_ofs)
                ev |= EPOLLOUT;
        r = sd_event_source_set_io_events(c->io, ev);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->io, SD_EVENT_ON);
        return r;
}

static int client_flush(ControlClient *c)
{
        while (c->out_len > c->out_ofs) {
                ssize_t n = send(c->fd, c->out + c->out_ofs, c->out_len - c->out_ofs,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                break;
                        return -errno;
                }
                c->out_ofs += (size_t)n;
        }
        if (c->out_ofs == c->out_len)
                c->out_ofs = c->out_len = 0;
        return client_update_events(c);
}

int control_client_send(ControlClient *c, const char *text)
{
        size_t len = strlen(text);

        if (c->dead)
                return -ECONNRESET;
        if (c->out_ofs > 0 && c->out_ofs == c->out_len)
                c->out_ofs = c->out_len = 0;
        if (c->out_len - c->out_ofs + len + 1 > CONTROL_OUTQ_MAX) {
                client_drop(c, "it does not read its replies");
                return -ECONNRESET;
        }
        if (c->out_ofs > 0) { /* compact before growing */
                memmove(c->out, c->out + c->out_ofs, c->out_len - c->out_ofs);
                c->out_len -= c->out_ofs;
                c->out_ofs = 0;
        }
        if (GROW(c->out, c->out_cap, c->out_len + len + 1) < 0) {
                client_drop(c, "out of memory");
                return -ECONNRESET;
        }
        memcpy(c->out + c->out_len, text, len);
        c->out[c->out_len + len] = '\n';
        c->out_len += len + 1;
        int r = client_flush(c);
        if (r < 0) {
                client_drop(c, "write failed");
                return -ECONNRESET;
        }
        return 0;
}

/* Hands the complete lines in the input buffer to the owner, at most
 * CONTROL_LINES_PER_WAKEUP (the rest waits for the `more` source); drops the client if
 * the line being received is over the limit. */
static void client_process_lines(ControlClient *c)
{
        ControlServer *s = c->server;
        size_t start = 0;
        unsigned n = 0;
        bool more = false;
        char *nl;

        c->busy++;
        while (!c->dead && (nl = memchr(c->in + start, '\n', c->in_len - start))) {
                size_t len = (size_t)(nl - (c->in + start));
                if (len > s->max_line)
                        break;
                if (n++ == CONTROL_LINES_PER_WAKEUP) {
                        more = true;
                        break;
                }
                *nl = 0;
                if (s->cb.line(c, c->in + start, len, s->userdata) == CONTROL_LINE_AGAIN) {
                        *nl = '\n';
                        more = true;
                        break;
                }
                start += len + 1;
        }
        if (!c->dead) {
                memmove(c->in, c->in + start, c->in_len - start);
                c->in_len -= start;
                c->backlog = more;
                if (more) {
                        if (fair_defer_arm(c->more) < 0)
                                client_drop(c, "cannot schedule its next lines");
                        else
                                (void)client_update_events(c);
                } else if (client_update_events(c) < 0)
                        client_drop(c, "cannot watch its socket");
                nl = c->dead ? NULL : memchr(c->in, '\n', c->in_len);
                if (!c->dead && (nl ? (size_t)(nl - c->in) : c->in_len) > s->max_line) {
                        _cleanup_free_ char *reply =
                            s->cb.overflow_reply ? s->cb.overflow_reply(c, s->max_line, s->userdata)
                                                 : NULL;
                        if (reply)
                                control_client_send(c, reply);
                        client_drop(c, "line too long");
                }
        }
        c->busy--;
        if (c->dead)
                client_free(c);
}

static int client_more(sd_event_source *source, void *userdata)
{
        client_process_lines(userdata);
        return 0;
}

static int client_io(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
        ControlClient *c = userdata;

        if (revents & EPOLLOUT) {
                if (client_flush(c) < 0) {
                        client_drop(c, "write failed");
                        return 0;
                }
        }
        if (c->backlog) {
                /* a hangup is reported whatever the events asked for: look again once
                 * the waiting lines are done (client_update_events turns it back on) */
                if (revents & (EPOLLHUP | EPOLLERR))
                        (void)sd_event_source_set_enabled(c->io, SD_EVENT_OFF);
                return 0;
        }
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLRDHUP | EPOLLERR)) {
                if (GROW(c->in, c->in_cap, c->in_len + 65536) < 0) {
                        client_drop(c, "out of memory");
                        return 0;
                }
                ssize_t n = recv(fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        return 0;
                if (n <= 0) {
                        client_drop(c, n == 0 ? "disconnected" : "read failed");
                        return 0;
                }
                c->in_len += (size_t)n;
                client_process_lines(c);
        }
        return 0;
}

static int accept_resume(sd_event_source *source, uint64_t usec, void *userdata)
{
        ControlServer *s = userdata;

        s->accept_timer = sd_event_source_disable_unref(s->accept_timer);
        (void)sd_event_source_set_enabled(s->io, SD_EVENT_ON);
        return 0;
}

/* accept() cannot get what a connection needs: the connection stays in the backlog and
 * the socket stays readable, so watching it now would spin; look again a little later. */
static void accept_pause(ControlServer *s, int error)
{
        int r;

        log_full_errno(s->accept_failing ? LOG_DEBUG : LOG_WARNING, error,
                       "control: cannot accept a connection (%m); not accepting for %u ms",
                       (unsigned)(CONTROL_ACCEPT_PAUSE_USEC / 1000));
        s->accept_failing = true;
        r = sd_event_add_time_relative(s->event, &s->accept_timer, CLOCK_MONOTONIC,
                                       CONTROL_ACCEPT_PAUSE_USEC, 10 * 1000, accept_resume, s);
        if (r < 0)
                return (void)log_error_errno(r, "control: cannot arm the accept timer: %m");
        (void)sd_event_source_set_enabled(s->io, SD_EVENT_OFF);
}

/* Over CONTROL_CLIENTS_MAX: one error line (best effort, never blocking), then close. */
static void refuse_full(ControlServer *s, int cfd)
{
        _cleanup_free_ char *text =
            s->cb.full_reply ? s->cb.full_reply(CONTROL_CLIENTS_MAX, s->userdata) : NULL;

        log_warning("control: %zu clients connected; refusing another", s->n_clients);
        if (text) {
                struct iovec iov[2] = {{text, strlen(text)}, {(char *)"\n", 1}};
                struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
                (void)sendmsg(cfd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
}

static void peer_groups(ControlClient *c, int fd)
{
        socklen_t len = 0;

        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, NULL, &len) < 0 && errno != ERANGE)
                return;
        if (len == 0 || !(c->groups = malloc(len)))
                return;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, c->groups, &len) < 0) {
                free(c->groups);
                c->groups = NULL;
                return;
        }
        c->n_groups = len / sizeof(gid_t);
}

static int server_accept(sd_event_source *source, int fd, uint32_t revents, void *userdata)
{
        ControlServer *s = userdata;
        _cleanup_close_ int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        socklen_t len = sizeof(struct ucred);
        ControlClient *c;

        if (cfd < 0) {
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                        accept_pause(s, -errno);
                else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                        log_warning_errno(-errno, "control: accept failed: %m");
                return 0;
        }
        s->accept_failing = false;
        if (s->n_clients >= CONTROL_CLIENTS_MAX) {
                refuse_full(s, cfd);
                return 0;
        }
        c = calloc(1, sizeof(*c));
        if (!c)
                return log_oom(), 0;
        c->server = s;
        c->fd = -EBADF;
        c->id = ++s->next_id;
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0)
                c->cred = (struct ucred){.pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1};
        peer_groups(c, cfd);
        if (sd_event_add_io(s->event, &c->io, cfd, EPOLLIN | EPOLLRDHUP, client_io, c) < 0 ||
            fair_defer_new(s->event, &c->more, client_more, c) < 0) {
                sd_event_source_disable_unref(c->io);
                sd_event_source_disable_unref(c->more);
                free(c->groups);
                free(c);
                return log_oom(), 0;
        }
        c->fd = TAKE_FD(cfd);
        c->next = s->clients;
        if (s->clients)
                s->clients->prev = c;
        s->clients = c;
        s->n_clients++;
        log_debug("control: client %u connected (pid %d, uid %d)", c->id, (int)c->cred.pid,
                  (int)c->cred.uid);
        return 0;
}

int control_server_new(ControlServer **ret, sd_event *e, const char *path, const char *group,
                       size_t max_line, const ControlCallbacks *cb, void *userdata)
{
        _cleanup_(control_server_freep) ControlServer *s = NULL;
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return log_error_errno(-ENAMETOOLONG, "control: socket path %s is too long", path);
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->fd = -EBADF;
        s->event = sd_event_ref(e);
        s->max_line = max_line;
        s->cb = *cb;
        s->userdata = userdata;
        s->path = strdup(path);
        if (!s->path)
                return -ENOMEM;

        s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->fd < 0)
                return log_error_errno(-errno, "control: socket failed: %m");
        memcpy(sa.sun_path, path, strlen(path));
        (void)unlink(path);
        /* Created owner-only, then opened up to the group: no window where others connect. */
        mode_t old = umask(0077);
        r = bind(s->fd, (struct sockaddr *)&sa, sizeof(sa));
        umask(old);
        if (r < 0)
                return log_error_errno(-errno, "control: cannot bind %s: %m", path);
        if (group && *group) {
                struct group *g = getgrnam(group);
                if (!g)
                        log_warning("control: group \"%s\" does not exist; only root may use %s",
                                    group, path);
                else if (chown(path, (uid_t)-1, g->gr_gid) < 0)
                        return log_error_errno(-errno, "control: cannot chown %s: %m", path);
        }
        if (chmod(path, 0660) < 0)
                return log_error_errno(-errno, "control: cannot chmod %s: %m", path);
        if (listen(s->fd, 64) < 0)
                return log_error_errno(-errno, "control: listen failed: %m");
        r = sd_event_add_io(e, &s->io, s->fd, EPOLLIN, server_accept, s);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

ControlServer *control_server_free(ControlServer *s)
{
        if (!s)
                return NULL;
        while (s->clients)
                client_free(s->clients);
        sd_event_source_disable_unref(s->accept_timer);
        sd_event_source_disable_unref(s->io);
        if (s->fd >= 0) {
                close(s->fd);
                (void)unlink(s->path);
        }
        free(s->path);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

void control_server_broadcast(ControlServer *s, const char *text,
                              bool (*filter)(ControlClient *c, void *userdata))
{
        ControlClient *c = s->clients, *next;

        for (; c; c = next) {
                next = c->next;
                if (!c->dead && (!filter || filter(c, s->userdata)))
                        control_client_send(c, text);
        }
}

size_t control_server_n_clients(const ControlServer *s)
{
        return s->n_clients;
}

void control_client_set_data(ControlClient *c, void *data)
{
        c->data = data;
}

void *control_client_get_data(const ControlClient *c)
{
        return c->data;
}

uid_t control_client_uid(const ControlClient *c)
{
        return c->cred.uid;
}

bool control_client_in_group(const ControlClient *c, gid_t gid)
{
        if (c->cred.gid == gid)
                return true;
        for (size_t i = 0; i < c->n_groups; i++)
                if (c->groups[i] == gid)
                        return true;
        return false;
}

pid_t control_client_pid(const ControlClient *c)
{
        return c->cred.pid;
}

unsigned control_client_id(const ControlClient *c)
{
        return c->id;
}
