/*
 * endpointd: the SageMaker hosting API on this host.  Arguments, the event
 * base, signals, sd_notify and the wiring of lib/; all logic lives in lib/.
 *
 * systemd integration (all of it a no-op outside systemd):
 *   READY=1      once the listeners are bound and the journal is replayed;
 *                again after each reload
 *   STATUS=      "3 InService, 1 Creating, 0 Failed", updated through the
 *                endpoint observer, at most DAEMON_STATUS_MIN_MS apart
 *   WATCHDOG=1   from a loop timer at half of WatchdogSec=, so that a stuck
 *                loop is restarted
 *   RELOADING=1  on SIGHUP, with MONOTONIC_USEC= (Type=notify-reload wants
 *                it, systemd >= 253), then READY=1 whether the new config
 *                was taken or refused
 *   STOPPING=1   on SIGTERM/SIGINT, with STATUS= counting what is still
 *                being answered while the daemon drains
 *   sockets      fds passed by socket activation (LISTEN_FDS) are served
 *                instead of the config's listen: addresses; a passed socket
 *                bound to the address of a listen: entry with tls gets that
 *                entry's TLS
 *
 * TLS: each TLS listener has a struct tls_server of the daemon's, by the
 * listen: address it was made for.  A certificate that cannot be loaded
 * stops the start; SIGHUP loads every listener's pair again (the new
 * config's files when its listen: has the same address with tls, else the
 * files in use), and a pair that fails to load leaves the running one.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "catalog.h"
#include "config.h"
#include "docker.h"
#include "endpoint.h"
#include "gpu.h"
#include "httpc.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "tls.h"
#include "util.h"

#define ENDPOINTD_DEFAULT_CONFIG SYSCONFDIR "/endpointd/endpointd.yaml"

/* STATUS= is sent at most this often, however fast endpoints change. */
#define DAEMON_STATUS_MIN_MS 250
/* At the end, how long the answers to calls cut short may take to go out. */
#define DAEMON_FLUSH_MS 1000
/* How long a start waits for the Engine before it serves anyway: restored
 * endpoints route again once their containers are listed and adopted. */
#define DAEMON_SYNC_WAIT_MS 5000

/* A TLS listener's certificate holder (the listener has a reference too). */
struct daemon_tls {
	char *address; /* the listen: address it serves, as written */
	struct tls_server *tls;
};

struct daemon {
	struct event_base *base;
	const char *config_path;
	struct config *config;
	char *docker_socket;     /* the one the Docker client was made with */
	bool socket_activated;   /* serving LISTEN_FDS; listen: is ignored */
	bool stopping;           /* SIGTERM came: draining, then the loop ends */
	bool serving;            /* the listeners accept (after the first sync) */
	bool reloading;          /* between SIGHUP and the end of the reload */
	struct event *ev_sync_wait; /* serve anyway when the Engine is slow */
	struct event *ev_drain;     /* the drain's deadline, then its progress */
	uint64_t drain_deadline_ms;
	struct event *ev_reload; /* runs the reload on the loop turn after SIGHUP */
	struct event *ev_status; /* coalesces STATUS= updates */
	uint64_t status_sent_ms;
	struct event *ev_watchdog;
	struct httpc *httpc;
	struct docker *docker;
	struct endpoint_manager *manager;
	struct proxy *proxy;
	struct api *api;
	struct journal *journal;
	struct catalog *catalog; /* models and endpoint configs created through the API */
	json_t *records; /* what the journal held at start, until restored */
	struct daemon_tls *tls; /* one per TLS listener */
	size_t n_tls;
	char owner[17];
};

/* Usage text. */
static void usage(FILE *f)
{
	fprintf(f,
		"Usage: endpointd [--config PATH] [--log-level LEVEL]\n"
		"\n"
		"Serves the SageMaker hosting API (CreateEndpoint, DescribeEndpoint, …) on this\n"
		"host and runs the model containers through the Docker Engine.\n"
		"\n"
		"  -c, --config PATH      daemon config (default %s)\n"
		"  -l, --log-level LEVEL  err, warning, notice, info (default) or debug\n"
		"      --check-config     load and validate the config, then exit\n"
		"      --check-state      report what the state directory holds, then exit\n"
		"      --list-gpus        list the GPUs the NVIDIA driver sees, then exit\n"
		"  -h, --help             this text\n"
		"      --version          print the version\n",
		ENDPOINTD_DEFAULT_CONFIG);
}

/* --list-gpus: one line per GPU, as containers would be given them. */
static int daemon_list_gpus(void)
{
	_cleanup_free_ struct gpu *gpus = NULL;
	_cleanup_free_ char *error = NULL;
	size_t n = 0;

	if (gpu_discover(NULL, &gpus, &n, &error) < 0) {
		fprintf(stderr, "endpointd: no GPUs: %s\n", error);
		return 1;
	}
	if (n == 0)
		printf("no GPUs\n");
	for (size_t i = 0; i < n; i++)
		printf("%u %s %s %.1f GiB\n", gpus[i].index, gpus[i].uuid, gpus[i].name,
		       (double)gpus[i].memory / (1024.0 * 1024.0 * 1024.0));
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}

/* Find the host's GPUs for the manager to hand out, once, before the loop
 * runs (NVML blocks while the driver initialises). */
static void daemon_discover_gpus(struct daemon *d)
{
	struct gpu *gpus = NULL;
	_cleanup_free_ char *error = NULL;
	size_t n = 0;

	if (gpu_discover(d->config->nvml_library, &gpus, &n, &error) < 0) {
		log_info("no GPUs: %s", error);
		endpoint_manager_set_gpus(d->manager, NULL, 0, error);
		return;
	}
	for (size_t i = 0; i < n; i++)
		log_info("GPU %u: %s, %s, %.1f GiB", gpus[i].index, gpus[i].uuid, gpus[i].name,
			 (double)gpus[i].memory / (1024.0 * 1024.0 * 1024.0));
	endpoint_manager_set_gpus(d->manager, gpus, n, n ? NULL : "NVML lists no GPU");
}

/* mkdir -p for the state directory. */
static int daemon_mkdir_p(const char *path, mode_t mode)
{
	_cleanup_free_ char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return -errno;
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * This daemon's identity, kept in the state directory so that it survives
 * restarts: it labels our containers, so that daemons sharing one Engine
 * never adopt or remove each other's.
 */
static int daemon_load_owner(struct daemon *d)
{
	_cleanup_free_ char *path = xasprintf("%s/daemon-id", d->config->state_dir);
	FILE *f = fopen(path, "re");
	if (f) {
		bool ok = fscanf(f, "%16[0-9a-f]", d->owner) == 1 && strlen(d->owner) == 16;
		fclose(f);
		if (ok)
			return 0;
		log_error("%s: not a daemon id (16 hex digits); remove it to get a new one", path);
		return -EINVAL;
	}
	if (errno != ENOENT) {
		log_error("%s: %s", path, strerror(errno));
		return -errno;
	}
	unsigned char b[8];
	if (getrandom(b, sizeof(b), 0) != sizeof(b))
		return -EIO;
	for (size_t i = 0; i < sizeof(b); i++)
		snprintf(d->owner + 2 * i, 3, "%02x", b[i]);
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || dprintf(fd, "%s\n", d->owner) < 0 || fsync(fd) < 0 || close(fd) < 0 ||
	    rename(tmp, path) < 0) {
		int e = errno;
		log_error("%s: %s", path, strerror(e));
		return -e;
	}
	int dfd = open(d->config->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* Keep each record the journal holds, to restore once everything is wired. */
static int daemon_collect_record(const char *key, json_t *value, void *userdata)
{
	struct daemon *d = userdata;
	json_object_set(d->records, key, value);
	return 0;
}

/* Rebuild endpoints, API tags and the API's models and endpoint configs
 * from the records; the config new calls see is the YAML's plus those. */
static int daemon_restore(struct daemon *d)
{
	const char *key;
	json_t *value;
	json_object_foreach(d->records, key, value)
	{
		_cleanup_free_ char *error = NULL;
		int r = 0;
		if (catalog_owns_key(key))
			r = catalog_restore(d->catalog, key, value, &error);
		else if (str_has_prefix(key, "endpoint/"))
			r = endpoint_manager_restore(d->manager, value, &error);
		else if (str_has_prefix(key, API_TAGS_KEY_PREFIX))
			r = api_restore_tags(d->api, key, value);
		else
			log_warning("journal: ignoring record %s of an unknown kind", key);
		if (r < 0) {
			log_error("%s/journal: record %s cannot be restored: %s", d->config->state_dir,
				  key, error ? error : strerror(-r));
			return r;
		}
	}
	_cleanup_free_ char *error = NULL;
	if (catalog_rebuild(d->catalog, NULL, &error) < 0) {
		log_error("%s/journal: the models and endpoint configs created through the API "
			  "no longer fit %s: %s",
			  d->config->state_dir, d->config_path, error);
		return -EINVAL;
	}
	endpoint_manager_set_config(d->manager, catalog_config(d->catalog));
	return 0;
}

/* The Engine answered (or did not) at start. */
static void daemon_docker_ready(int err, const char *api_version, void *userdata)
{
	struct daemon *d = userdata;
	if (err)
		log_warning("Docker Engine at %s does not answer (%s); will retry on use",
			    d->docker_socket, strerror(-err));
	else
		log_info("Docker Engine at %s, API v%s", d->docker_socket, api_version);
}

/* "3 InService, 1 Creating, 0 Failed", then the other statuses that some
 * endpoint is in. */
static char *daemon_status_text(struct daemon *d)
{
	static const enum endpoint_state always[] = {ENDPOINT_IN_SERVICE, ENDPOINT_CREATING,
						     ENDPOINT_FAILED};
	static const enum endpoint_state others[] = {
		ENDPOINT_UPDATING, ENDPOINT_SYSTEM_UPDATING,        ENDPOINT_ROLLING_BACK,
		ENDPOINT_DELETING, ENDPOINT_UPDATE_ROLLBACK_FAILED, ENDPOINT_OUT_OF_SERVICE,
	};
	unsigned count[ENDPOINT_STATE_MAX] = {0};
	struct endpoint **eps = NULL;
	size_t n = endpoint_list(d->manager, &eps);
	for (size_t i = 0; i < n; i++)
		if (eps[i]->state < ENDPOINT_STATE_MAX)
			count[eps[i]->state]++;
	free(eps);

	struct buf b = {.max = 512};
	for (size_t i = 0; i < ELEMENTSOF(always); i++)
		buf_printf(&b, "%s%u %s", i ? ", " : "", count[always[i]],
			   endpoint_state_to_string(always[i]));
	for (size_t i = 0; i < ELEMENTSOF(others); i++)
		if (count[others[i]])
			buf_printf(&b, ", %u %s", count[others[i]],
				   endpoint_state_to_string(others[i]));
	return buf_steal(&b);
}

/* Tell the service manager; extra is more assignments ("READY=1") or NULL. */
static void daemon_notify_status(struct daemon *d, const char *extra)
{
	_cleanup_free_ char *status = daemon_status_text(d);
	sd_notifyf(0, "%s%sSTATUS=%s", extra ? extra : "", extra ? "\n" : "", status);
	d->status_sent_ms = now_monotonic_ms();
}

/* The coalescing timer: one STATUS= for however many changes came before. */
static void daemon_status_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	if (!d->stopping && !d->reloading)
		daemon_notify_status(d, NULL);
}

/* The endpoint observer: some endpoint changed status (or was created or
 * dropped).  Runs inside endpoint_set_state(), so it only arms a timer. */
static void daemon_endpoint_changed(struct endpoint *ep, enum endpoint_state old,
				    enum endpoint_state new_state, const char *reason,
				    void *userdata)
{
	struct daemon *d = userdata;
	if (d->stopping || evtimer_pending(d->ev_status, NULL))
		return;
	uint64_t now = now_monotonic_ms(), due = d->status_sent_ms + DAEMON_STATUS_MIN_MS;
	uint64_t delay = due > now ? due - now : 0;
	struct timeval tv = {.tv_sec = (time_t)(delay / 1000),
			     .tv_usec = (suseconds_t)(delay % 1000) * 1000};
	evtimer_add(d->ev_status, &tv);
}

/* WatchdogSec=: if the loop stops turning, these stop and systemd restarts us. */
static void daemon_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	sd_notify(0, "WATCHDOG=1");
}

/* Arms the watchdog timer when systemd asked for one (WATCHDOG_USEC, and
 * WATCHDOG_PID naming this process when set). */
static void daemon_start_watchdog(struct daemon *d)
{
	uint64_t usec = 0;
	int r = sd_watchdog_enabled(0, &usec);
	if (r < 0)
		log_warning("ignoring the watchdog settings: %s", strerror(-r));
	if (r <= 0 || usec == 0)
		return;
	uint64_t half = usec / 2 ? usec / 2 : 1;
	struct timeval tv = {.tv_sec = (time_t)(half / 1000000),
			     .tv_usec = (suseconds_t)(half % 1000000)};
	d->ev_watchdog = event_new(d->base, -1, EV_PERSIST, daemon_watchdog_cb, d);
	evtimer_add(d->ev_watchdog, &tv);
	log_info("watchdog: every %llu ms (WatchdogSec=%llu ms)",
		 (unsigned long long)(half / 1000), (unsigned long long)(usec / 1000));
}

/* The drain is over: no connection left, or its time is up. */
static void daemon_drained(void *arg)
{
	struct daemon *d = arg;
	size_t open = api_connections(d->api);
	if (open)
		log_warning("drain_timeout_s passed with %zu connection%s still open: closing them",
			    open, open == 1 ? "" : "s");
	else
		log_info("every call answered; stopping");
	event_base_loopexit(d->base, NULL);
}

/* The drain's timer: every second a STATUS= line, until the deadline. */
static void daemon_drain_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	if (now_monotonic_ms() >= d->drain_deadline_ms) {
		daemon_drained(d);
		return;
	}
	sd_notifyf(0, "STATUS=Stopping: answering the calls of %zu connection%s",
		   api_connections(d->api), api_connections(d->api) == 1 ? "" : "s");
	struct timeval tv = {1, 0};
	evtimer_add(d->ev_drain, &tv);
}

/*
 * SIGTERM, SIGINT: stop accepting and answer what was begun, within
 * drain_timeout_s, then exit (see httpd_drain).  Under socket activation the
 * calls that come meanwhile wait in systemd's socket for the next daemon.  A
 * second signal stops at once.
 */
static void daemon_stop_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	if (d->stopping) {
		log_notice("caught %s again, stopping now", strsignal((int)sig));
		event_base_loopexit(d->base, NULL);
		return;
	}
	d->stopping = true;
	evtimer_del(d->ev_status);
	evtimer_del(d->ev_sync_wait);
	size_t open = api_connections(d->api);
	log_notice("caught %s, stopping: answering the calls of %zu connection%s first "
		   "(at most %u s)",
		   strsignal((int)sig), open, open == 1 ? "" : "s", d->config->drain_timeout_s);
	sd_notifyf(0, "STOPPING=1\nSTATUS=Stopping: answering the calls of %zu connection%s",
		   open, open == 1 ? "" : "s");
	d->drain_deadline_ms = now_monotonic_ms() + (uint64_t)d->config->drain_timeout_s * 1000;
	struct timeval tv = {1, 0};
	evtimer_add(d->ev_drain, &tv);
	api_drain(d->api, daemon_drained, d);
}

/* Why new cannot replace old while running, or NULL when it can. */
static char *daemon_reload_refusal(const struct config *old, const struct config *new_config)
{
	if (strcmp(old->state_dir, new_config->state_dir) != 0)
		return xasprintf("state_dir changed from %s to %s: the journal cannot move "
				 "while endpointd runs; restart it instead",
				 old->state_dir, new_config->state_dir);
	/* Containers and services are not each other's: a change of backend
	 * would orphan every instance. */
	if (old->docker_mode != new_config->docker_mode)
		return xasprintf("docker mode changed: the instances of one mode cannot be "
				 "adopted by the other; restart endpointd instead");
	return NULL;
}

/* Whether two configs listen on the same addresses. */
static bool daemon_same_listen(const struct config *a, const struct config *b)
{
	if (a->n_listen != b->n_listen)
		return false;
	for (size_t i = 0; i < a->n_listen; i++) {
		const struct config_listen *x = &a->listen[i], *y = &b->listen[i];
		if (x->port != y->port || !x->host != !y->host || !x->unix_path != !y->unix_path ||
		    (x->host && strcmp(x->host, y->host) != 0) ||
		    (x->unix_path && strcmp(x->unix_path, y->unix_path) != 0))
			return false;
	}
	return true;
}

/* The listen: entry of c with TLS on address, or NULL. */
static const struct config_listen *daemon_tls_entry(const struct config *c, const char *address)
{
	for (size_t i = 0; i < c->n_listen; i++)
		if (c->listen[i].tls && strcmp(c->listen[i].address, address) == 0)
			return &c->listen[i];
	return NULL;
}

/* SIGHUP: every TLS listener loads its certificate and key again, from c's
 * files when c still has its address with tls; a failure keeps the old pair. */
static void daemon_reload_tls(struct daemon *d, const struct config *c)
{
	for (size_t i = 0; i < d->n_tls; i++) {
		struct daemon_tls *t = &d->tls[i];
		const struct config_listen *l = daemon_tls_entry(c, t->address);
		_cleanup_free_ char *cert = xstrdup(l ? l->tls->certificate
		                                      : tls_server_certificate(t->tls));
		_cleanup_free_ char *key = xstrdup(l ? l->tls->key : tls_server_key(t->tls));
		_cleanup_free_ char *error = NULL;
		if (tls_server_reload(t->tls, cert, key, &error) < 0)
			log_error("%s (TLS): the certificate was not reloaded, the running one "
				  "stays: %s",
				  t->address, error);
		else
			log_notice("%s (TLS): certificate reloaded from %s", t->address, cert);
	}
}

/*
 * The reload itself, one loop turn after SIGHUP: parse and validate the file
 * again and swap the new config in only when it is valid.  Endpoints keep
 * the config they were created from (a reference each); new calls see the
 * new one.  What cannot change under a running daemon (listeners, the Docker
 * socket) is kept, with a line saying a restart applies it.
 */
static void daemon_reload_run(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct config *c = NULL;
	_cleanup_free_ char *error = NULL, *refusal = NULL;

	if (d->stopping) {
		d->reloading = false;
		return;
	}
	if (config_load(d->config_path, &c, &error) < 0) {
		log_error("reload refused, keeping the running config: %s", error);
	} else if ((refusal = daemon_reload_refusal(d->config, c))) {
		log_error("reload refused, keeping the running config: %s: %s", d->config_path,
			  refusal);
		config_unref(c);
	} else if (catalog_rebuild(d->catalog, c, &error) < 0) {
		/* The YAML now contradicts what the API created (a name
		 * taken twice, an image no longer allowed…). */
		log_error("reload refused, keeping the running config: %s", error);
		config_unref(c);
	} else {
		if (!d->socket_activated && !daemon_same_listen(d->config, c))
			log_warning("%s: listen changed; the running listeners stay until "
				    "endpointd is restarted",
				    d->config_path);
		if (strcmp(d->docker_socket, c->docker_socket) != 0)
			log_warning("%s: the Docker socket changed to %s; %s stays in use until "
				    "endpointd is restarted",
				    d->config_path, c->docker_socket, d->docker_socket);
		endpoint_manager_set_config(d->manager, catalog_config(d->catalog));
		config_unref(d->config);
		d->config = c;
		log_notice("reloaded %s: %zu models, %zu endpoint configs", d->config_path,
			   c->n_models, c->n_endpoint_configs);
	}
	/* A renewed certificate is taken even when the rest was refused:
	 * renewals signal SIGHUP and expect it. */
	daemon_reload_tls(d, d->config);
	d->reloading = false;
	daemon_notify_status(d, "READY=1");
}

/* SIGHUP: announce the reload and run it on the next loop turn; one at a time. */
static void daemon_reload_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	if (d->stopping)
		return;
	if (d->reloading) {
		/* The pending reload reads the files after this signal anyway. */
		log_warning("caught SIGHUP while a reload is running; ignoring it");
		return;
	}
	d->reloading = true;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	unsigned long long usec =
		(unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000;
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=Reloading %s", usec,
		   d->config_path);
	log_info("caught SIGHUP, reloading %s", d->config_path);
	event_active(d->ev_reload, EV_TIMEOUT, 0);
}

/* The daemon's TLS holder for a listen: address, or NULL. */
static struct tls_server *daemon_tls_holder(const struct daemon *d, const char *address)
{
	for (size_t i = 0; i < d->n_tls; i++)
		if (strcmp(d->tls[i].address, address) == 0)
			return d->tls[i].tls;
	return NULL;
}

/* Load l's certificate and key for its listener; NULL after logging why. */
static struct tls_server *daemon_tls_new(struct daemon *d, const struct config_listen *l)
{
	struct tls_server *tls = NULL;
	_cleanup_free_ char *error = NULL;
	const struct config_origin *o = &l->tls->origin;
	if (tls_server_new(l->tls->certificate, l->tls->key, &tls, &error) < 0) {
		log_error("%s:%u:%u: cannot listen on %s with TLS: %s", o->file, o->line, o->column,
			  l->address, error);
		return NULL;
	}
	d->tls = xreallocarray(d->tls, d->n_tls + 1, sizeof(*d->tls));
	d->tls[d->n_tls++] = (struct daemon_tls){.address = xstrdup(l->address), .tls = tls};
	return tls;
}

/* The listen: entry with TLS whose address the passed socket fd is bound to. */
static const struct config_listen *daemon_tls_entry_for_fd(const struct config *c, int fd)
{
	for (size_t i = 0; i < c->n_listen; i++)
		if (c->listen[i].tls && api_listen_matches_fd(&c->listen[i], fd))
			return &c->listen[i];
	return NULL;
}

/* Bind the listeners: the ones systemd passed, or the configured ones. */
static int daemon_listen(struct daemon *d)
{
	int n = sd_listen_fds(1);
	if (n < 0) {
		log_error("socket activation: %s", strerror(-n));
		return n;
	}
	if (n > 0) {
		for (int i = 0; i < n; i++) {
			int fd = SD_LISTEN_FDS_START + i;
			if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
				log_error("socket activation: fd %d is not a listening stream "
					  "socket (use ListenStream= with Accept=no)",
					  fd);
				return -EINVAL;
			}
			/* The rule the config applies to listen: holds for what
			 * a ListenStream= drop-in binds as well. */
			if (!config_socket_is_local(fd) && !d->config->auth_keys &&
			    !d->config->allow_remote_without_auth) {
				log_error("socket activation: fd %d is not bound to loopback and no "
					  "credentials are configured, so anyone who reaches it could "
					  "create, delete and invoke endpoints: name a credentials file "
					  "(auth: { credentials: ... }) in %s, or set "
					  "allow_remote_without_auth: true",
					  fd, d->config_path);
				return -EPERM;
			}
			const struct config_listen *l = daemon_tls_entry_for_fd(d->config, fd);
			struct tls_server *tls = l ? daemon_tls_new(d, l) : NULL;
			if (l && !tls)
				return -EINVAL;
			if (api_listen_fd_tls(d->api, fd, tls) < 0) {
				log_error("cannot serve socket-activated fd %d", fd);
				return -EINVAL;
			}
			if (l)
				log_info("serving socket-activated fd %d as %s (TLS)", fd, l->address);
		}
		d->socket_activated = true;
		log_info("serving %d socket-activated listener%s; listen: in %s is not used", n,
			 n == 1 ? "" : "s", d->config_path);
		/* A tls: that no passed socket takes would leave its traffic in
		 * clear text on whatever the socket unit binds instead. */
		for (size_t i = 0; i < d->config->n_listen; i++)
			if (d->config->listen[i].tls &&
			    !daemon_tls_holder(d, d->config->listen[i].address))
				log_warning("socket activation: no passed socket is bound to %s, so "
					    "its tls: is not used",
					    d->config->listen[i].address);
		return 0;
	}
	for (size_t i = 0; i < d->config->n_listen; i++) {
		const struct config_listen *l = &d->config->listen[i];
		_cleanup_free_ char *error = NULL;
		struct tls_server *tls = l->tls ? daemon_tls_new(d, l) : NULL;
		if (l->tls && !tls)
			return -EINVAL;
		int r = api_listen(d->api, l, tls, &error);
		if (r < 0) {
			log_error("cannot listen on %s", error);
			return r;
		}
		if (l->unix_path)
			log_info("listening on unix:%s", l->unix_path);
		else
			log_info("listening on %s:%u%s", l->host, (unsigned)l->port,
				 tls ? " (TLS)" : "");
	}
	return 0;
}

/* Accept what waits in the listeners' backlog: once, when restored
 * endpoints have their containers again (or the Engine is late). */
static void daemon_serve(void *arg)
{
	struct daemon *d = arg;
	if (d->serving || d->stopping)
		return;
	d->serving = true;
	evtimer_del(d->ev_sync_wait);
	api_hold(d->api, false);
	/* Listeners bound, the journal replayed, containers adopted. */
	daemon_notify_status(d, "READY=1");
	log_notice("endpointd %s ready: %zu models, %zu endpoint configs", PACKAGE_VERSION,
		   d->config->n_models, d->config->n_endpoint_configs);
}

/* The last answer went out at the end: stop turning the loop. */
static void daemon_flushed(void *arg)
{
	struct daemon *d = arg;
	event_base_loopbreak(d->base);
}

/* The Engine has not listed our containers in time: serve anyway. */
static void daemon_sync_wait_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	log_warning("the Docker Engine has not listed the containers in %d ms; serving "
		    "anyway: restored endpoints answer ServiceUnavailable until it does",
		    DAEMON_SYNC_WAIT_MS);
	daemon_serve(d);
}

/* Everything between start and stop. */
static int daemon_run(struct daemon *d)
{
	int r = daemon_mkdir_p(d->config->state_dir, 0750);
	if (r < 0) {
		log_error("cannot create state_dir %s: %s", d->config->state_dir, strerror(-r));
		return r;
	}
	r = daemon_load_owner(d);
	if (r < 0)
		return r;
	d->base = event_base_new();
	if (!d->base) {
		log_error("cannot create the event base");
		return -ENOMEM;
	}
	uint64_t t0 = now_monotonic_ms();
	_cleanup_free_ char *jerr = NULL;
	sd_notifyf(0, "STATUS=Recovering state from %s", d->config->state_dir);
	d->records = json_object();
	r = journal_open(d->base, d->config->state_dir, NULL, daemon_collect_record, d, &d->journal,
			 &jerr);
	if (r < 0) {
		log_error("%s", jerr ? jerr : strerror(-r));
		json_decref(d->records);
		event_base_free(d->base);
		return r;
	}
	d->httpc = httpc_new(d->base);
	d->docker_socket = xstrdup(d->config->docker_socket);
	d->docker = docker_new(d->base, d->httpc, d->docker_socket, daemon_docker_ready, d);
	d->manager = endpoint_manager_new(d->base, d->httpc, d->docker, d->config, d->journal,
					  d->owner);
	daemon_discover_gpus(d);
	d->proxy = proxy_new(d->base, d->manager);
	d->api = api_new(d->base, d->manager, d->journal, d->proxy);
	d->catalog = catalog_new(d->config, d->journal);
	api_set_catalog(d->api, d->catalog);
	r = daemon_restore(d);
	size_t restored = json_object_size(d->records);
	d->records = (json_decref(d->records), NULL);
	if (r == 0)
		log_info("state: %zu records restored from %s in %llu ms (daemon id %s)", restored,
			 d->config->state_dir, (unsigned long long)(now_monotonic_ms() - t0),
			 d->owner);

	struct event *ev_term = evsignal_new(d->base, SIGTERM, daemon_stop_cb, d);
	struct event *ev_int = evsignal_new(d->base, SIGINT, daemon_stop_cb, d);
	struct event *ev_hup = evsignal_new(d->base, SIGHUP, daemon_reload_cb, d);
	evsignal_add(ev_term, NULL);
	evsignal_add(ev_int, NULL);
	evsignal_add(ev_hup, NULL);
	d->ev_reload = event_new(d->base, -1, 0, daemon_reload_run, d);
	d->ev_status = evtimer_new(d->base, daemon_status_cb, d);
	d->ev_sync_wait = evtimer_new(d->base, daemon_sync_wait_cb, d);
	d->ev_drain = evtimer_new(d->base, daemon_drain_timer_cb, d);
	endpoint_manager_set_observer(d->manager, daemon_endpoint_changed, d);

	/* Bound now, so that a bad address fails the start; accepting waits
	 * until restored endpoints can route (the backlog holds callers). */
	api_hold(d->api, true);
	if (r == 0)
		r = daemon_listen(d);
	if (r == 0) {
		endpoint_manager_start(d->manager);
		daemon_start_watchdog(d);
		if (endpoint_manager_endpoints(d->manager) == 0) {
			daemon_serve(d);
		} else {
			sd_notify(0, "STATUS=Adopting the containers of restored endpoints");
			struct timeval tv = {DAEMON_SYNC_WAIT_MS / 1000,
					     (DAEMON_SYNC_WAIT_MS % 1000) * 1000};
			evtimer_add(d->ev_sync_wait, &tv);
			endpoint_manager_when_synced(d->manager, daemon_serve, d);
		}
		event_base_dispatch(d->base);
	}
	d->stopping = true;
	endpoint_manager_set_observer(d->manager, NULL, NULL);

	/*
	 * Stop accepting and probing; the loop turns until the journal's
	 * writer has synced what is staged and the calls that waited for it
	 * are answered; then the clients complete what is in flight (with -ECANCELED: invocations still
	 * running get a 503 while their connections are open) and everything
	 * is freed.  Containers keep running: the next start adopts them.
	 */
	api_close_listeners(d->api);
	endpoint_manager_shutdown(d->manager);
	event_base_loop(d->base, EVLOOP_NONBLOCK);
	event_base_loop(d->base, EVLOOP_NONBLOCK);
	/* The journal's writer thread may still be syncing: wait for it. */
	while (journal_busy(d->journal) && event_base_loop(d->base, EVLOOP_ONCE) == 0)
		;
	/* Calls still in flight are answered 503: let those answers out. */
	proxy_stop(d->proxy);
	if (api_connections(d->api) > 0) {
		struct timeval tv = {DAEMON_FLUSH_MS / 1000, (DAEMON_FLUSH_MS % 1000) * 1000};
		api_drain(d->api, daemon_flushed, d);
		event_base_loopexit(d->base, &tv);
		event_base_dispatch(d->base);
	}
	d->journal = journal_free(d->journal);
	d->docker = docker_free(d->docker);
	d->httpc = httpc_free(d->httpc);
	d->proxy = proxy_free(d->proxy);
	d->api = api_free(d->api);
	for (size_t i = 0; i < d->n_tls; i++) {
		tls_server_unref(d->tls[i].tls);
		free(d->tls[i].address);
	}
	free(d->tls);
	d->catalog = catalog_free(d->catalog);
	event_base_loop(d->base, EVLOOP_NONBLOCK);
	d->manager = endpoint_manager_free(d->manager);
	event_base_loop(d->base, EVLOOP_NONBLOCK);
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	event_free(d->ev_reload);
	event_free(d->ev_status);
	event_free(d->ev_sync_wait);
	event_free(d->ev_drain);
	if (d->ev_watchdog)
		event_free(d->ev_watchdog);
	event_base_free(d->base);
	free(d->docker_socket);
	return r;
}

/*
 * --check-config: the config, and whether it still fits the models and
 * endpoint configs created through the API that state_dir holds (a YAML
 * that now declares one of their names would stop the next start).  A state
 * directory that is not there, or cannot be read, is only mentioned.
 */
static int daemon_check_with_state(struct daemon *d)
{
	json_t *records = NULL;
	_cleanup_free_ char *error = NULL;
	struct catalog *cat = catalog_new(d->config, NULL);
	size_t n_api = 0;
	int r = journal_read(d->config->state_dir, &records, &error);
	if (r == -ENOENT) {
		r = 0;
	} else if (r < 0) {
		fprintf(stderr, "endpointd: not checked against what the API created: %s\n", error);
		r = 0;
	} else {
		const char *key;
		json_t *value;
		json_object_foreach(records, key, value)
		{
			if (r == 0 && catalog_owns_key(key)) {
				r = catalog_restore(cat, key, value, &error);
				n_api++;
			}
		}
		if (r == 0)
			r = catalog_rebuild(cat, NULL, &error);
		if (r < 0)
			fprintf(stderr,
				"endpointd: %s: the models and endpoint configs created through the "
				"API in %s would not fit: %s\n",
				d->config_path, d->config->state_dir, error);
	}
	/* The certificates a start would load (as this user: the daemon's may
	 * differ). */
	for (size_t i = 0; r == 0 && i < d->config->n_listen; i++) {
		const struct config_listen *l = &d->config->listen[i];
		struct tls_server *tls = NULL;
		_cleanup_free_ char *tls_error = NULL;
		if (!l->tls)
			continue;
		r = tls_server_new(l->tls->certificate, l->tls->key, &tls, &tls_error);
		if (r < 0)
			fprintf(stderr, "endpointd: %s:%u:%u: cannot listen on %s with TLS: %s\n",
				l->tls->origin.file, l->tls->origin.line, l->tls->origin.column,
				l->address, tls_error);
		tls_server_unref(tls);
	}
	if (r == 0) {
		_cleanup_free_ char *keys =
		    d->config->auth_keys ? xasprintf("%zu access keys", d->config->auth_keys->n_keys)
		                         : xstrdup("no credentials");
		printf("%s: OK (%zu models, %zu endpoint configs, %zu alarms, %s; %zu created "
		       "through the API)\n",
		       d->config_path, d->config->n_models, d->config->n_endpoint_configs,
		       d->config->n_alarms, keys, n_api);
	}
	json_decref(records);
	catalog_free(cat);
	return r;
}

/* Entry point. */
int main(int argc, char **argv)
{
	static const struct option options[] = {
		{"config", required_argument, NULL, 'c'},
		{"log-level", required_argument, NULL, 'l'},
		{"check-config", no_argument, NULL, 'C'},
		{"check-state", no_argument, NULL, 'S'},
		{"list-gpus", no_argument, NULL, 'G'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	struct daemon d = {.config_path = ENDPOINTD_DEFAULT_CONFIG};
	int level = LOG_INFO;
	bool check_only = false, check_state = false, list_gpus = false;
	int c;

	while ((c = getopt_long(argc, argv, "c:l:h", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.config_path = optarg;
			break;
		case 'l':
			level = log_level_from_string(optarg);
			if (level < 0) {
				fprintf(stderr, "endpointd: unknown log level \"%s\"\n", optarg);
				return 2;
			}
			break;
		case 'C':
			check_only = true;
			break;
		case 'S':
			check_state = true;
			break;
		case 'G':
			list_gpus = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("endpointd %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "endpointd: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (list_gpus)
		return daemon_list_gpus();

	log_open("endpointd", level, -1);
	signal(SIGPIPE, SIG_IGN);

	_cleanup_free_ char *error = NULL;
	if (config_load(d.config_path, &d.config, &error) < 0) {
		fprintf(stderr, "endpointd: %s\n", error);
		return 1;
	}
	if (check_state) {
		int r = journal_check(d.config->state_dir, stdout);
		config_unref(d.config);
		return r < 0 ? 1 : 0;
	}
	if (check_only) {
		int r = daemon_check_with_state(&d);
		config_unref(d.config);
		return r < 0 ? 1 : 0;
	}

		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "endpointd: libcurl failed to initialise\n");
		return 1;
	}
	int r = daemon_run(&d);
	if (r < 0)
		sd_notifyf(0, "STATUS=Failed to start (see the log)\nERRNO=%d", -r);
	config_unref(d.config);
	metrics_free();
	curl_global_cleanup();
	return r < 0 ? 1 : 0;
}
