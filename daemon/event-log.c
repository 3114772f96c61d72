/* SPDX-License-Identifier: MIT */
/* Events with stable journal MESSAGE_IDs and a ring for `mlbctl events`; see event-log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <time.h>

#include "event-log.h"
#include "util/log.h"

static const char *const type_names[_EVENT_TYPE_MAX] = {
    [EVENT_TAKEOVER] = "takeover",           [EVENT_RELEASE] = "release",
    [EVENT_CONFLICT] = "conflict",           [EVENT_FOREIGN_CLAIM] = "foreign_claim",
    [EVENT_RELOAD_FAILED] = "reload_failed", [EVENT_PEER_DEATH] = "peer_death",
};

/* Stable: operators' journalctl filters and alerts use them (docs/metrics.md). */
static const char *const message_ids[_EVENT_TYPE_MAX] = {
    [EVENT_TAKEOVER] = "9c18b52dd1034fc2aea8af06dddde569",
    [EVENT_RELEASE] = "8912d5600dc2499f9867674153973969",
    [EVENT_CONFLICT] = "f61f91a892ff4433b7ca53dacc0bd7b1",
    [EVENT_FOREIGN_CLAIM] = "c9bdaa07e7f84b73ac8ff81f1b8942eb",
    [EVENT_RELOAD_FAILED] = "966a4ce7d4a44463b70d6a62be8e549e",
    [EVENT_PEER_DEATH] = "8598ac8bf67147039e88d665c59d1562",
};

static LogEvent ring[EVENTS_MAX];
static uint64_t n_total;
static int journal_state = -1; /* -1: not checked yet, 0: stderr is not the journal, 1: is */

const char *event_log_type_to_string(LogEventType t)
{
        return t >= 0 && t < _EVENT_TYPE_MAX ? type_names[t] : NULL;
}

const char *event_log_message_id(LogEventType t)
{
        return t >= 0 && t < _EVENT_TYPE_MAX ? message_ids[t] : NULL;
}

/* sd-journal's rule (sd_journal_stream_fd(3), systemd.exec(5)): stderr is the journal when
 * JOURNAL_STREAM names its device and inode. */
static bool stderr_is_journal(void)
{
        if (journal_state < 0) {
                const char *e = getenv("JOURNAL_STREAM");
                unsigned long long dev = 0, ino = 0;
                struct stat st;
                journal_state = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 &&
                                fstat(STDERR_FILENO, &st) == 0 && st.st_dev == (dev_t)dev &&
                                st.st_ino == (ino_t)ino;
        }
        return journal_state > 0;
}

void event_log(LogEventType t, int priority, const u128 *address, const char *peer, const char *fmt,
               ...)
{
        LogEvent *ev = &ring[n_total % EVENTS_MAX];
        char abuf[ADDR_STR_MAX] = "";
        struct timespec ts;
        va_list ap;

        if (t < 0 || t >= _EVENT_TYPE_MAX)
                return;
        clock_gettime(CLOCK_REALTIME, &ts);
        *ev =
            (LogEvent){.type = t,
                       .realtime_usec = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000,
                       .has_address = address != NULL,
                       .address = address ? *address : 0};
        snprintf(ev->peer, sizeof(ev->peer), "%s", peer ? peer : "");
        va_start(ap, fmt);
        vsnprintf(ev->text, sizeof(ev->text), fmt, ap);
        va_end(ap);
        n_total++;
        if (address)
                addr_format(*address, abuf);

        if (priority > log_max_level)
                return;
        if (!stderr_is_journal()) {
                (void)log_internal(priority, 0, "%s", ev->text);
                return;
        }
        /* empty fields are left out: journalctl MLBD_PEER=x must not match "" */
        char f[6][EVENT_TEXT_MAX + 16]; /* the iovecs point into it until the send */
        struct iovec iov[6];
        size_t n = 0;
#define FIELD(...)                                                                                 \
        do {                                                                                       \
                int _k_ = snprintf(f[n], sizeof(f[n]), __VA_ARGS__);                               \
                iov[n] = (struct iovec){f[n], (size_t)MIN(_k_, (int)sizeof(f[n]) - 1)};            \
                n++;                                                                               \
        } while (0)
        FIELD("MESSAGE=%s", ev->text);
        FIELD("PRIORITY=%d", priority);
        FIELD("MESSAGE_ID=%s", message_ids[t]);
        FIELD("MLBD_EVENT=%s", type_names[t]);
        if (abuf[0])
                FIELD("MLBD_ADDRESS=%s", abuf);
        if (ev->peer[0])
                FIELD("MLBD_PEER=%s", ev->peer);
#undef FIELD
        if (sd_journal_sendv(iov, (int)n) < 0)
                (void)log_internal(priority, 0, "%s", ev->text);
}

size_t event_log_get(LogEvent *out, size_t max)
{
        size_t n = n_total < EVENTS_MAX ? (size_t)n_total : EVENTS_MAX;
        uint64_t first = n_total - n;

        if (n > max) {
                first += n - max;
                n = max;
        }
        for (size_t i = 0; i < n; i++)
                out[i] = ring[(first + i) % EVENTS_MAX];
        return n;
}

uint64_t event_log_total(void)
{
        return n_total;
}

void event_log_reset(void)
{
        n_total = 0;
        journal_state = -1;
}
