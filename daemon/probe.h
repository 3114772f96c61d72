/* SPDX-License-Identifier: MIT */
/*
 * Conflict probe before the first announcement of an address, one engine for both
 * families (the wire differences live in l2.c):
 *   IPv4: RFC 5227 §2.1 ARP probes (sender IP 0.0.0.0), then ANNOUNCE_WAIT;
 *   IPv6: RFC 4862 §5.4 style Neighbour Solicitations from :: , then a wait.
 * A reply, or a competing probe, from a hardware address that is not ours gives
 * PROBE_RESULT_CONFLICT with that MAC; silence gives PROBE_RESULT_FREE.
 *
 * States: init -> waiting (random initial delay) -> probing (probe_num probes, random
 * gaps) -> announce-wait -> done. Every transition is logged by probe_set_state().
 * Failures inside event handlers end the probe with PROBE_RESULT_ERROR through the
 * callback and never propagate to the event loop. The callback runs last in a handler,
 * so it may free the Probe. mac is NULL unless the result is a conflict.
 */
#pragma once

#include <systemd/sd-event.h>

#include "addr.h"
#include "arp.h"

/* RFC 5227 §1.1 constants (IPv4). */
#define PROBE_WAIT_USEC (1 * 1000000ULL)    /* initial random delay, 0..1 s */
#define PROBE_NUM 3                         /* number of probe packets */
#define PROBE_MIN_USEC (1 * 1000000ULL)     /* minimum delay until repeated probe */
#define PROBE_MAX_USEC (2 * 1000000ULL)     /* maximum delay until repeated probe */
#define ANNOUNCE_WAIT_USEC (2 * 1000000ULL) /* delay before announcing */

/* RFC 4862 §5.1 DupAddrDetectTransmits default 1; RFC 4861 §10 RETRANS_TIMER 1 s and
 * MAX_RTR_SOLICITATION_DELAY 1 s (the random delay before the first NS, §5.4.2). */
#define ND_DAD_TRANSMITS 1
#define ND_RETRANS_TIMER_USEC (1 * 1000000ULL)
#define ND_MAX_DELAY_USEC (1 * 1000000ULL)

typedef struct ProbeConfig {
        unsigned probe_num;       /* 0: no probe, only the final wait */
        uint64_t probe_wait_usec; /* first probe after a random delay in [0, this] */
        uint64_t probe_min_usec;  /* gap between probes: random in [min, max] */
        uint64_t probe_max_usec;
        uint64_t announce_wait_usec; /* silence needed after the last probe */
} ProbeConfig;

/* RFC defaults for the family of addr (see the constants above). */
void probe_config_default(u128 addr, ProbeConfig *ret);
/* -EINVAL if min > max or probe_num > 100 or any delay above one minute. */
int probe_config_validate(const ProbeConfig *c);

typedef enum ProbeState {
        PROBE_STATE_INIT,
        PROBE_STATE_WAITING,
        PROBE_STATE_PROBING,
        PROBE_STATE_ANNOUNCE_WAIT,
        PROBE_STATE_DONE,
        _PROBE_STATE_MAX,
        _PROBE_STATE_INVALID = -EINVAL,
} ProbeState;

typedef enum ProbeResult {
        PROBE_RESULT_FREE = 1,
        PROBE_RESULT_CONFLICT = 2, /* mac = the other host */
        PROBE_RESULT_ERROR = 3,    /* error = -errno */
} ProbeResult;

const char *probe_state_to_string(ProbeState s);
const char *probe_result_to_string(ProbeResult r);

typedef struct Probe Probe;
typedef void (*probe_cb_t)(Probe *p, ProbeResult result, const uint8_t mac[ETH_ALEN], int error,
                           void *userdata);

/* cfg NULL means probe_config_default(addr). mac is our interface's MAC. */
int probe_new(Probe **ret, int ifindex, const uint8_t mac[static ETH_ALEN], u128 addr,
              const ProbeConfig *cfg);
int probe_attach_event(Probe *p, sd_event *e, int64_t priority);
/* Opens the socket and arms the first timer; the result comes through cb. */
int probe_start(Probe *p, probe_cb_t cb, void *userdata);
/* Stops without a result (back to init). */
void probe_stop(Probe *p);
ProbeState probe_get_state(const Probe *p);
u128 probe_get_address(const Probe *p);
Probe *probe_free(Probe *p);
DEFINE_FREEP(Probe, probe_free)

/* Random value in [lo, hi] from getrandom(); used for the RFC's random delays. */
uint64_t random_range(uint64_t lo, uint64_t hi);
