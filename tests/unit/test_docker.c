/*
 * The Docker client on the Engine's own replies, kept in tests/data/docker/
 * (captured from docker.io 20.10, API 1.41; see README there).  The parsers
 * are fed the files directly; the asynchronous client talks to a fake engine:
 * an evhttp server on a Unix socket that answers with the same files, in
 * small pieces where the real engine streams.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "docker.h"
#include "fake_engine.h"
#include "httpc.h"
#include "util.h"

/* Reads tests/data/docker/<name>. */
static char *fixture(const char *name, size_t *ret_len)
{
	return fake_engine_fixture("docker", name, ret_len);
}

/* Line n (1-based) of a fixture. */
static char *fixture_line(const char *name, int n)
{
	_cleanup_free_ char *all = fixture(name, NULL);
	char *p = all, *nl;

	for (int i = 1; i < n; i++) {
		p = strchr(p, '\n');
		cr_assert_not_null(p);
		p++;
	}
	nl = strchr(p, '\n');
	return xstrndup(p, nl ? (size_t)(nl - p) : strlen(p));
}

/* Parsers. */

Test(docker_parse, times_in_rfc3339_become_epoch_seconds)
{
	cr_assert_float_eq(docker_parse_time("2026-11-26T18:25:46Z"), 1795717546.0, 1e-9);
	cr_assert_float_eq(docker_parse_time("2026-11-26T18:25:46.5Z"), 1795717546.5, 1e-9);
	cr_assert_float_eq(docker_parse_time("2026-11-26T19:25:46+01:00"), 1795717546.0, 1e-9);
	cr_assert_float_eq(docker_parse_time("0001-01-01T00:00:00Z"), 0.0, 1e-9);
	cr_assert_float_eq(docker_parse_time("not a time"), 0.0, 1e-9);
}

Test(docker_parse, times_with_a_bad_offset_or_fraction_do_not_parse)
{
	/* Minutes of an offset this large overflowed an int. */
	cr_assert_float_eq(docker_parse_time("2026-11-26T18:25:46+02:570123456"), 0.0, 1e-9);
	cr_assert_float_eq(docker_parse_time("2026-11-26T18:25:46+24:00"), 0.0, 1e-9);
	/* strtod() read an exponent: an infinite time. */
	cr_assert_float_eq(docker_parse_time("2026-11-26T18:25:46.5e999Z"), 1795717546.5, 1e-9);
}

Test(docker_parse, inspect_of_a_running_container_gives_state_labels_and_port)
{
	size_t len;
	_cleanup_free_ char *json = fixture("container-inspect-running.json", &len);
	struct docker_container c = {0};

	cr_assert_eq(docker_parse_container(json, len, &c), 0);
	cr_assert_str_eq(c.id, "05d290a9c91b285fca4468ff5ae5da542d14c0133dace884ce037d7021166ce0");
	cr_assert_str_eq(c.name, "fixture-running");
	cr_assert_str_eq(c.image, "fixture-prog:latest");
	cr_assert_str_eq(c.image_id,
	                 "sha256:d007573b2bcc1fe881250d701592d971ef63aa7940a34a394fea859de5bd81af");
	cr_assert_str_eq(c.state, "running");
	cr_assert(c.running);
	cr_assert_not(c.oom_killed);
	cr_assert_eq(c.exit_code, 0);
	cr_assert_null(c.error);
	cr_assert_str_eq(c.started_at, "2026-11-26T18:25:46.736493756Z");
	cr_assert_float_eq(c.created, 1795717546.537917503, 1e-3);
	cr_assert_str_eq(json_string_value(json_object_get(c.labels, "io.endpointd.role")),
	                 "running");
	cr_assert_eq(c.n_ports, 1);
	cr_assert_eq(c.ports[0].container_port, 8080);
	cr_assert_str_eq(c.ports[0].host_ip, "127.0.0.1");
	cr_assert_eq(docker_container_host_port(&c, 8080), 32769);
	docker_container_clear(&c);
}

Test(docker_parse, inspect_of_an_exited_container_gives_its_exit_code)
{
	size_t len;
	_cleanup_free_ char *json = fixture("container-inspect-exited.json", &len);
	struct docker_container c = {0};

	cr_assert_eq(docker_parse_container(json, len, &c), 0);
	cr_assert_str_eq(c.name, "fixture-exited");
	cr_assert_str_eq(c.state, "exited");
	cr_assert_not(c.running);
	cr_assert_eq(c.exit_code, 7);
	cr_assert_null(c.error, "an empty State.Error is no error");
	cr_assert_eq(c.n_ports, 0);
	cr_assert_eq(docker_container_host_port(&c, 8080), 0);
	docker_container_clear(&c);
}

Test(docker_parse, list_entries_give_names_states_exit_codes_and_ports)
{
	size_t len;
	_cleanup_free_ char *json = fixture("containers-list.json", &len);
	json_t *arr = json_loadb(json, len, 0, NULL);
	struct docker_container c[2] = {{0}};

	cr_assert_eq(json_array_size(arr), 2);
	for (size_t i = 0; i < 2; i++)
		cr_assert_eq(docker_parse_container_json(json_array_get(arr, i), &c[i]), 0);
	cr_assert_str_eq(c[0].name, "fixture-exited");
	cr_assert_str_eq(c[0].state, "exited");
	cr_assert_eq(c[0].exit_code, 7);
	cr_assert_float_eq(c[0].created, 1795717546.0, 1e-9);
	cr_assert_str_eq(c[0].image, "fixture-prog:latest");
	cr_assert(str_has_prefix(c[0].image_id, "sha256:"));
	cr_assert_str_eq(c[1].name, "fixture-running");
	cr_assert(c[1].running);
	cr_assert_str_eq(json_string_value(json_object_get(c[1].labels, "io.endpointd.fixture")),
	                 "1");
	cr_assert_eq(docker_container_host_port(&c[1], 8080), 32769);
	for (size_t i = 0; i < 2; i++)
		docker_container_clear(&c[i]);
	json_decref(arr);
}

Test(docker_parse, container_parser_refuses_what_is_not_a_container_and_leaves_ret_alone)
{
	const char *bad[] = {"",   "not json",       "[]",
	                     "{}", "{\"Id\":\"x\"}", "{\"Id\":\"x\",\"Config\":{}}"};
	struct docker_container c = {.exit_code = 42};

	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		cr_assert_eq(docker_parse_container(bad[i], strlen(bad[i]), &c), -EINVAL, "%s",
		             bad[i]);
		cr_assert_eq(c.exit_code, 42);
		cr_assert_null(c.id);
	}
}

Test(docker_parse, host_port_prefers_the_loopback_binding)
{
	struct docker_port ports[] = {
	    {.container_port = 8080, .host_ip = "0.0.0.0", .host_port = 1000},
	    {.container_port = 9090, .host_ip = "127.0.0.1", .host_port = 3000},
	    {.container_port = 8080, .host_ip = "127.0.0.1", .host_port = 2000},
	};
	struct docker_container c = {.ports = ports, .n_ports = ELEMENTSOF(ports)};

	cr_assert_eq(docker_container_host_port(&c, 8080), 2000);
	cr_assert_eq(docker_container_host_port(&c, 9090), 3000);
	cr_assert_eq(docker_container_host_port(&c, 7070), 0);
	c.n_ports = 1;
	cr_assert_eq(docker_container_host_port(&c, 8080), 1000);
}

Test(docker_parse, image_inspect_gives_id_and_tags)
{
	size_t len;
	_cleanup_free_ char *json = fixture("image-inspect.json", &len);
	struct docker_image img = {0};

	cr_assert_eq(docker_parse_image(json, len, &img), 0);
	cr_assert_str_eq(img.id,
	                 "sha256:d007573b2bcc1fe881250d701592d971ef63aa7940a34a394fea859de5bd81af");
	cr_assert_eq(img.n_repo_tags, 1);
	cr_assert_str_eq(img.repo_tags[0], "fixture-prog:latest");
	cr_assert_eq(img.n_repo_digests, 0, "an imported image has no digest");
	docker_image_clear(&img);
}

Test(docker_parse, image_inspect_gives_repo_digests_of_a_pulled_image)
{
	const char *json = "{\"Id\":\"sha256:aa\",\"RepoTags\":null,"
	                   "\"RepoDigests\":[\"registry.local/resnet@sha256:bb\"]}";
	struct docker_image img = {0};

	cr_assert_eq(docker_parse_image(json, strlen(json), &img), 0);
	cr_assert_eq(img.n_repo_tags, 0);
	cr_assert_eq(img.n_repo_digests, 1);
	cr_assert_str_eq(img.repo_digests[0], "registry.local/resnet@sha256:bb");
	docker_image_clear(&img);
	cr_assert_eq(docker_parse_image("{\"RepoTags\":[]}", 15, &img), -EINVAL);
}

Test(docker_parse, die_event_gives_exit_code_and_attributes)
{
	_cleanup_free_ char *line = fixture_line("events.jsonl", 5);
	struct docker_event ev;

	cr_assert_eq(docker_parse_event(line, strlen(line), &ev), 0);
	cr_assert_str_eq(ev.type, "container");
	cr_assert_str_eq(ev.action, "die");
	cr_assert_str_eq(ev.id, "cabf61d016f587fbabe00ac6ff00a5278e90a8db4c0d937c7a49d5bdd6778a9d");
	cr_assert_eq(ev.exit_code, 7);
	cr_assert_str_eq(json_string_value(json_object_get(ev.attributes, "name")),
	                 "fixture-exited");
	cr_assert_str_eq(json_string_value(json_object_get(ev.attributes, "io.endpointd.role")),
	                 "exited");
	cr_assert_float_eq(ev.time, 1795717546.926788489, 1e-3);
	docker_event_clear(&ev);
}

Test(docker_parse, every_captured_event_parses_and_only_die_has_an_exit_code)
{
	size_t len;
	_cleanup_free_ char *all = fixture("events.jsonl", &len);
	int n = 0, starts = 0, dies = 0, destroys = 0;

	for (char *p = all, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
		struct docker_event ev;

		cr_assert_eq(docker_parse_event(p, (size_t)(nl - p), &ev), 0);
		n++;
		starts += !strcmp(ev.action, "start");
		destroys += !strcmp(ev.action, "destroy");
		if (!strcmp(ev.action, "die")) {
			dies++;
			cr_assert_geq(ev.exit_code, 0);
		} else {
			cr_assert_eq(ev.exit_code, -1, "%s", ev.action);
		}
		docker_event_clear(&ev);
	}
	cr_assert_eq(n, 15);
	cr_assert_eq(starts, 3);
	cr_assert_eq(dies, 3);
	cr_assert_eq(destroys, 3);
}

Test(docker_parse, event_parser_refuses_lines_that_are_not_events)
{
	struct docker_event ev = {.exit_code = 99};

	cr_assert_eq(docker_parse_event("{}", 2, &ev), -EINVAL);
	cr_assert_eq(docker_parse_event("garbage", 7, &ev), -EINVAL);
	cr_assert_eq(docker_parse_event("[1]", 3, &ev), -EINVAL);
	cr_assert_eq(ev.exit_code, 99);
}

Test(docker_parse, error_message_is_the_engines_own_words)
{
	size_t len;
	_cleanup_free_ char *conflict = fixture("error-conflict.json", &len);
	_cleanup_free_ char *m1 = docker_parse_error_message(conflict, len);
	_cleanup_free_ char *noimg = fixture("error-no-such-image.json", &len);
	_cleanup_free_ char *m2 = docker_parse_error_message(noimg, len);

	cr_assert(str_has_prefix(
	              m1, "Conflict. The container name \"/fixture-running\" is already in use"),
	          "%s", m1);
	cr_assert_str_eq(m2, "No such image: nonexistent:latest");
}

Test(docker_parse, error_message_of_a_body_that_is_not_json_is_the_body_trimmed)
{
	_cleanup_free_ char *m1 = docker_parse_error_message("  page not found\r\n", 18);
	_cleanup_free_ char *m2 = docker_parse_error_message("", 0);
	_cleanup_free_ char *m3 = docker_parse_error_message("{\"other\":1}", 11);

	cr_assert_str_eq(m1, "page not found");
	cr_assert_str_eq(m2, "");
	cr_assert_str_eq(m3, "{\"other\":1}");
}

Test(docker_parse, pull_error_inside_a_200_progress_stream_is_found)
{
	size_t len;
	_cleanup_free_ char *stream = fixture("pull-error-stream.jsonl", &len);
	_cleanup_free_ char *e = docker_parse_pull_error(stream, len);

	cr_assert_str_eq(e, "unknown blob");
}

Test(docker_parse, pull_error_from_error_detail_alone_is_found)
{
	const char *s = "{\"status\":\"Pulling\"}\n{\"errorDetail\":{\"message\":\"denied\"}}";
	_cleanup_free_ char *e = docker_parse_pull_error(s, strlen(s));

	cr_assert_str_eq(e, "denied");
}

Test(docker_parse, pull_progress_without_error_has_none)
{
	const char *s = "{\"status\":\"Pulling from library/x\",\"id\":\"latest\"}\n"
	                "{\"status\":\"Digest: sha256:aa\"}\n"
	                "{\"status\":\"Status: Downloaded newer image for x:latest\"}\n";

	cr_assert_null(docker_parse_pull_error(s, strlen(s)));
}

Test(docker_parse, pull_refused_before_progress_is_a_plain_error_body)
{
	size_t len;
	_cleanup_free_ char *body = fixture("pull-error.jsonl", &len);
	_cleanup_free_ char *m = docker_parse_error_message(body, len);

	/* The Engine answers HTTP 500 with {"message"} here, not a stream. */
	cr_assert_null(docker_parse_pull_error(body, len));
	cr_assert(strstr(m, "nonexistent.invalid") && strstr(m, "no such host"), "%s", m);
}

Test(docker_parse, logs_are_demultiplexed_into_stdout_and_stderr_text)
{
	size_t len;
	_cleanup_free_ char *raw = fixture("logs-multiplexed.bin", &len);
	_cleanup_free_ char *text = docker_demux_logs(raw, len);

	cr_assert_str_eq(
	    text, "hello from stdout\nwarning on stderr\nsecond stdout line\nexiting with 7\n");
}

Test(docker_parse, logs_cut_inside_a_frame_give_what_arrived)
{
	size_t len;
	_cleanup_free_ char *raw = fixture("logs-multiplexed.bin", &len);
	/* 8 + 18 bytes of frame 1, then 8 + 5 of frame 2's 18. */
	_cleanup_free_ char *cut_payload = docker_demux_logs(raw, 8 + 18 + 8 + 5);
	/* ... and in the middle of frame 2's header. */
	_cleanup_free_ char *cut_header = docker_demux_logs(raw, 8 + 18 + 3);

	cr_assert_str_eq(cut_payload, "hello from stdout\nwarni");
	cr_assert_str_eq(cut_header, "hello from stdout\n");
}

Test(docker_parse, logs_of_a_tty_container_come_as_they_are)
{
	size_t len;
	_cleanup_free_ char *raw = fixture("logs-tty.bin", &len);
	_cleanup_free_ char *text = docker_demux_logs(raw, len);

	cr_assert_eq(strlen(text), len);
	cr_assert_str_eq(text, raw);
	cr_assert(str_has_prefix(text, "hello from stdout\r\n"));
}

Test(docker_parse, empty_and_tiny_logs_are_kept)
{
	_cleanup_free_ char *empty = docker_demux_logs("", 0);
	_cleanup_free_ char *tiny = docker_demux_logs("ok\n", 3);

	cr_assert_str_eq(empty, "");
	cr_assert_str_eq(tiny, "ok\n");
}

Test(docker_parse, a_list_reply_gives_every_container_in_order)
{
	size_t len, n = 0;
	_cleanup_free_ char *json = fixture("containers-list.json", &len);
	struct docker_container *cs = NULL;

	cr_assert_eq(docker_parse_container_list(json, len, &cs, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(cs[0].name, "fixture-exited");
	cr_assert_str_eq(cs[1].name, "fixture-running");
	for (size_t i = 0; i < n; i++)
		docker_container_clear(&cs[i]);
	free(cs);
}

Test(docker_parse, a_list_reply_with_one_bad_entry_is_refused_whole)
{
	struct docker_container *cs = NULL;
	size_t n = 7;
	const char *bad = "[{\"Id\":\"a\",\"State\":\"running\"},{\"Id\":\"b\"}]";

	cr_assert_eq(docker_parse_container_list(bad, strlen(bad), &cs, &n), -EINVAL);
	cr_assert_null(cs);
	cr_assert_eq(n, 7);
	cr_assert_eq(docker_parse_container_list("{}", 2, &cs, &n), -EINVAL);
}

/* Counts the events fed to it. */
static void count_event(const struct docker_event *ev, bool ended, void *userdata)
{
	(*(size_t *)userdata)++;
}

Test(docker_parse, an_event_stream_fed_a_byte_at_a_time_gives_the_same_events)
{
	size_t len, whole = 0, bytes = 0;
	_cleanup_free_ char *stream = fixture("events.jsonl", &len);

	cr_assert_eq(docker_feed_events(stream, len, 0, count_event, &whole), 0);
	cr_assert_eq(docker_feed_events(stream, len, 1, count_event, &bytes), 0);
	cr_assert_gt(whole, 0);
	cr_assert_eq(bytes, whole);
}

Test(docker_parse, a_pull_stream_cut_anywhere_reports_its_error)
{
	size_t len;
	_cleanup_free_ char *stream = fixture("pull-error-stream.jsonl", &len);
	_cleanup_free_ char *whole = docker_feed_pull(stream, len, 0);
	_cleanup_free_ char *cut = docker_feed_pull(stream, len, 3);
	_cleanup_free_ char *none = docker_feed_pull("{\"status\":\"ok\"}\n", 16, 1);

	cr_assert_not_null(whole);
	cr_assert_str_eq(cut, whole);
	cr_assert_null(none);
}

Test(docker_parse, logs_fed_in_pieces_keep_the_tail_from_a_line_start)
{
	static const char text[] = "one\ntwo\nthree\n";
	_cleanup_free_ char *all = docker_feed_logs(text, strlen(text), 2, 0);
	_cleanup_free_ char *tail = docker_feed_logs(text, strlen(text), 1, 7);

	cr_assert_str_eq(all, text);
	cr_assert_str_eq(tail, "three\n");
}

Test(docker_parse, a_logs_tail_trimmed_on_its_last_piece_still_starts_a_line)
{
	/* Trimmed to the last 3 bytes, "\ngh", the text used to start with the
	 * end of the line before. */
	_cleanup_free_ char *whole = docker_feed_logs("abcde\ngh", 8, 0, 3);
	_cleanup_free_ char *bytes = docker_feed_logs("abcde\ngh", 8, 1, 3);

	cr_assert_str_eq(whole, "gh");
	cr_assert_str_eq(bytes, "gh");
}

Test(docker_version, picks_ours_when_the_engine_is_newer)
{
	_cleanup_free_ char *v = NULL;

	cr_assert_eq(docker_pick_version("1.43", "1.12", &v), 0);
	cr_assert_str_eq(v, "1.41");
}

Test(docker_version, picks_the_engines_when_it_is_older)
{
	_cleanup_free_ char *v = NULL;

	cr_assert_eq(docker_pick_version("1.40", "1.12", &v), 0);
	cr_assert_str_eq(v, "1.40");
}

Test(docker_version, refuses_an_engine_below_1_25)
{
	char *v = NULL;

	cr_assert_eq(docker_pick_version("1.12", NULL, &v), -ENOTSUP);
	cr_assert_eq(docker_pick_version("1.24", "1.12", &v), -ENOTSUP);
	cr_assert_null(v);
}

Test(docker_version, refuses_an_engine_that_dropped_our_version)
{
	char *v = NULL;

	cr_assert_eq(docker_pick_version("1.50", "1.44", &v), -ENOTSUP);
	cr_assert_null(v);
}

Test(docker_version, refuses_garbage)
{
	char *v = NULL;

	cr_assert_eq(docker_pick_version(NULL, NULL, &v), -EINVAL);
	cr_assert_eq(docker_pick_version("1.4x", NULL, &v), -EINVAL);
	cr_assert_eq(docker_pick_version("", NULL, &v), -EINVAL);
	cr_assert_null(v);
}

Test(docker_version, captured_engine_is_pinned_to_1_41)
{
	size_t len;
	_cleanup_free_ char *json = fixture("version.json", &len);
	json_t *obj = json_loadb(json, len, 0, NULL);
	_cleanup_free_ char *v = NULL;

	cr_assert_eq(docker_pick_version(json_string_value(json_object_get(obj, "ApiVersion")),
	                                 json_string_value(json_object_get(obj, "MinAPIVersion")),
	                                 &v),
	             0);
	cr_assert_str_eq(v, "1.41");
	json_decref(obj);
}

static void check_split(const char *image, const char *repo, const char *tag)
{
	_cleanup_free_ char *r = NULL, *t = NULL;

	docker_split_image(image, &r, &t);
	cr_assert_str_eq(r, repo, "%s", image);
	cr_assert_str_eq(t, tag, "%s", image);
}

Test(docker_image_name, splits_into_repo_and_tag_for_the_pull)
{
	check_split("busybox", "busybox", "latest");
	check_split("busybox:1.36", "busybox", "1.36");
	check_split("registry.local/resnet:1.2", "registry.local/resnet", "1.2");
	check_split("host:5000/repo", "host:5000/repo", "latest");
	check_split("host:5000/team/repo:v2", "host:5000/team/repo", "v2");
	check_split("repo@sha256:abcd", "repo", "sha256:abcd");
	check_split("host:5000/repo@sha256:abcd", "host:5000/repo", "sha256:abcd");
	check_split("repo:1.0@sha256:abcd", "repo", "sha256:abcd");
}

/*
 * The fake engine.
 */

static struct event_base *base;
static struct evhttp *engine;
static struct httpc *hc;
static struct docker *dk;
static char sockdir[64];
static char sockpath[100];
static const char *engine_api = "1.41";
static int n_event_streams;

/* Sends body in pieces of `piece` bytes, 2 ms apart, as a chunked reply. */
struct dribble {
	struct evhttp_request *req;
	char *data;
	size_t len, off, piece;
	bool end; /* end the reply when done (else leave the stream open) */
	struct event *ev;
};
static struct dribble *dribbles[16];
static size_t n_dribbles;

static void dribble_next(evutil_socket_t fd, short what, void *arg)
{
	struct dribble *d = arg;
	struct timeval tv = {0, 2000};
	struct evbuffer *out;
	size_t n;

	(void)fd;
	(void)what;
	if (d->off == d->len) {
		if (d->end)
			evhttp_send_reply_end(d->req);
		return;
	}
	n = d->len - d->off < d->piece ? d->len - d->off : d->piece;
	out = evbuffer_new();
	evbuffer_add(out, d->data + d->off, n);
	d->off += n;
	evhttp_send_reply_chunk(d->req, out);
	evbuffer_free(out);
	evtimer_add(d->ev, &tv);
}

static void dribble(struct evhttp_request *req, int code, char *data, size_t len, size_t piece,
                    bool end)
{
	struct dribble *d = xcalloc(1, sizeof(*d));

	cr_assert_lt(n_dribbles, ELEMENTSOF(dribbles));
	dribbles[n_dribbles++] = d;
	d->req = req;
	d->data = data;
	d->len = len;
	d->piece = piece;
	d->end = end;
	d->ev = evtimer_new(base, dribble_next, d);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "application/json");
	evhttp_send_reply_start(req, code, "X");
	dribble_next(-1, 0, d);
}

static void reply(struct evhttp_request *req, int code, const char *body, size_t len)
{
	fake_engine_reply(req, code, body, len);
}

static void reply_str(struct evhttp_request *req, int code, const char *body)
{
	reply(req, code, body, strlen(body));
}

static void reply_fixture(struct evhttp_request *req, int code, const char *name)
{
	size_t len;
	_cleanup_free_ char *body = fixture(name, &len);

	reply(req, code, body, len);
}

static void on_engine(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);
	_cleanup_free_ char *prefix = xasprintf("/v%s/", engine_api);
	const char *p;

	(void)arg;
	fake_engine_record(req);
	if (!strcmp(uri, "/_ping"))
		return reply_str(req, 200, "OK");
	if (!strcmp(uri, "/version")) {
		_cleanup_free_ char *v = xasprintf(
		    "{\"ApiVersion\":\"%s\",\"MinAPIVersion\":\"1.12\",\"Version\":\"fake\"}",
		    engine_api);
		return reply_str(req, 200, v);
	}
	if (!str_has_prefix(uri, prefix))
		return reply_str(req, 400, "{\"message\":\"client version not pinned\"}");
	p = uri + strlen(prefix) - 1;

	if (str_has_prefix(p, "/containers/create?name=fixture-running"))
		return reply_fixture(req, 409, "error-conflict.json");
	if (str_has_prefix(p, "/containers/create"))
		return reply_str(req, 201, "{\"Id\":\"0123abcd\",\"Warnings\":[]}");
	if (!strcmp(p, "/containers/started/start") || !strcmp(p, "/containers/stopped/stop?t=1"))
		return reply_str(req, 304, "");
	if (!strcmp(p, "/containers/running/exec"))
		return reply_str(req, 201, "{\"Id\":\"e1ec\"}");
	if (str_has_prefix(p, "/containers/missing"))
		return reply_str(req, 404, "{\"message\":\"No such container: missing\"}");
	if (str_has_prefix(p, "/containers/broken"))
		return reply_str(req, 500, "");
	if (str_has_suffix(p, "/start") || str_has_prefix(p, "/containers/running/stop") ||
	    evhttp_request_get_command(req) == EVHTTP_REQ_DELETE)
		return reply_str(req, 204, "");
	if (!strcmp(p, "/containers/running/json"))
		return reply_fixture(req, 200, "container-inspect-running.json");
	if (str_has_prefix(p, "/containers/json"))
		return reply_fixture(req, 200, "containers-list.json");
	if (str_has_prefix(p, "/containers/exited/logs") || str_has_prefix(p, "/tasks/ended/logs")) {
		size_t len;
		char *raw = fixture("logs-multiplexed.bin", &len);

		/* 5-byte pieces split headers and payloads alike. */
		return dribble(req, 200, raw, len, 5, true);
	}
	if (str_has_prefix(p, "/containers/chatty/logs")) {
		struct buf b = {0};

		/* 2,000 framed lines, about 140 KiB of text. */
		for (int i = 0; i < 2000; i++) {
			_cleanup_free_ char *line = xasprintf(
			    "line %04d "
			    "..............................................................\n",
			    i);
			unsigned char hdr[8] = {1 + i % 2, 0, 0, 0,
			                        0,         0, 0, (unsigned char)strlen(line)};

			buf_append(&b, hdr, sizeof(hdr));
			buf_append(&b, line, strlen(line));
		}
		return dribble(req, 200, b.data, b.len, 4096, true);
	}
	if (!strcmp(p, "/images/fixture-prog%3Alatest/json"))
		return reply_fixture(req, 200, "image-inspect.json");
	if (str_has_prefix(p, "/images/") && str_has_suffix(p, "/json"))
		return reply_fixture(req, 404, "error-no-such-image-inspect.json");
	if (str_has_prefix(
	        p, "/images/create?fromImage=127.0.0.1%3A5999%2Ffixture-broken&tag=latest")) {
		size_t len;
		char *raw = fixture("pull-error-stream.jsonl", &len);

		return dribble(req, 200, raw, len, 7, true);
	}
	if (str_has_prefix(p, "/images/create?fromImage=nonexistent.invalid%2Ffoo"))
		return reply_fixture(req, 500, "pull-error.jsonl");
	if (str_has_prefix(p, "/images/create?fromImage=fixture-prog&tag=latest")) {
		char *progress = xstrdup(
		    "{\"status\":\"Pulling from fixture-prog\"}\r\n{\"status\":\"ok\"}\r\n");

		return dribble(req, 200, progress, strlen(progress), 9, true);
	}
	if (str_has_prefix(p, "/events?filters=")) {
		size_t len;
		char *raw = fixture("events.jsonl", &len);

		/* The first stream ends after its events; the next stays open. */
		n_event_streams++;
		return dribble(req, 200, raw, len, 333, n_event_streams == 1);
	}
	reply_str(req, 404, "{\"message\":\"page not found\"}");
}

/* Starts the fake engine's listener on sockpath. */
static void engine_listen(void)
{
	fake_engine_listen(base, engine, sockpath);
}

static void engine_setup(void)
{
	snprintf(sockdir, sizeof(sockdir), "/tmp/docker-test-XXXXXX");
	cr_assert_not_null(mkdtemp(sockdir));
	snprintf(sockpath, sizeof(sockpath), "%s/docker.sock", sockdir);
	base = event_base_new();
	engine = evhttp_new(base);
	evhttp_set_gencb(engine, on_engine, NULL);
	hc = httpc_new(base);
}

static void engine_teardown(void)
{
	dk = docker_free(dk);
	hc = httpc_free(hc);
	for (size_t i = 0; i < n_dribbles; i++) {
		event_free(dribbles[i]->ev);
		free(dribbles[i]->data);
		free(dribbles[i]);
	}
	evhttp_free(engine);
	event_base_free(base);
	fake_engine_forget();
	unlink(sockpath);
	rmdir(sockdir);
}

TestSuite(docker_client, .init = engine_setup, .fini = engine_teardown, .timeout = 30);

static bool seen_request(const char *what)
{
	return fake_engine_seen(what);
}

/* Runs the loop until *count reaches want, or for at most ms. */
static void run_until_or(const int *count, int want, uint64_t ms)
{
	fake_engine_run_until(base, count, want, ms);
}

static void run_until(const int *count, int want)
{
	run_until_or(count, want, 10000);
}

/* What each kind of callback got. */
struct got {
	int calls;
	int err;
	long status;
	char message[512];
	char text[512];
	size_t n;
	struct docker_container c;
	bool has_c;
	char image_id[128];
	char version[16];
};

static void got_result(struct got *g, const struct docker_result *r)
{
	g->calls++;
	g->err = r->err;
	g->status = r->status;
	snprintf(g->message, sizeof(g->message), "%s", r->message ? r->message : "");
	cr_assert(r->err ? r->message != NULL : r->message == NULL, "message iff error");
}

static void on_ready(int err, const char *api_version, void *userdata)
{
	struct got *g = userdata;

	g->calls++;
	g->err = err;
	snprintf(g->version, sizeof(g->version), "%s", api_version ? api_version : "");
}

static void on_done(const struct docker_result *r, void *userdata)
{
	got_result(userdata, r);
}

static void on_create(const struct docker_result *r, const char *id, void *userdata)
{
	struct got *g = userdata;

	got_result(g, r);
	snprintf(g->text, sizeof(g->text), "%s", id ? id : "");
}

static void on_inspect(const struct docker_result *r, const struct docker_container *c,
                       void *userdata)
{
	struct got *g = userdata;

	got_result(g, r);
	if (c) {
		g->has_c = true;
		g->c.exit_code = c->exit_code;
		g->c.running = c->running;
		g->c.n_ports = c->n_ports;
		snprintf(g->text, sizeof(g->text), "%s %u", c->name,
		         docker_container_host_port(c, 8080));
	}
}

static void on_list(const struct docker_result *r, const struct docker_container *cs, size_t n,
                    void *userdata)
{
	struct got *g = userdata;

	got_result(g, r);
	g->n = n;
	if (n)
		snprintf(g->text, sizeof(g->text), "%s,%s", cs[0].name, n > 1 ? cs[1].name : "");
}

static void on_logs(const struct docker_result *r, const char *text, void *userdata)
{
	struct got *g = userdata;

	got_result(g, r);
	snprintf(g->text, sizeof(g->text), "%s", text ? text : "(null)");
}

static void on_image(const struct docker_result *r, const struct docker_image *img, void *userdata)
{
	struct got *g = userdata;

	got_result(g, r);
	snprintf(g->image_id, sizeof(g->image_id), "%s", img ? img->id : "");
}

/* Starts the engine and the client, and waits for the negotiation. */
static void connect_client(void)
{
	static struct got ready;

	engine_listen();
	dk = docker_new(base, hc, sockpath, on_ready, &ready);
	run_until(&ready.calls, 1);
	cr_assert_eq(ready.err, 0);
	cr_assert_str_eq(ready.version, engine_api);
}

Test(docker_client, negotiates_and_pins_requests_to_1_41)
{
	struct got g = {0};

	connect_client();
	cr_assert_str_eq(docker_api_version(dk), "1.41");
	docker_container_start(dk, "abc", on_done, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, 0, "%s", g.message);
	cr_assert(seen_request("GET /_ping"));
	cr_assert(seen_request("GET /version"));
	cr_assert(seen_request("POST /v1.41/containers/abc/start"));
}

Test(docker_client, pins_an_older_engines_version)
{
	struct got g = {0};

	engine_api = "1.40";
	connect_client();
	docker_container_start(dk, "abc", on_done, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, 0, "%s", g.message);
	cr_assert(seen_request("POST /v1.40/containers/abc/start"));
}

Test(docker_client, refuses_an_engine_that_is_too_old)
{
	struct got ready = {0}, g = {0};

	engine_api = "1.12";
	engine_listen();
	dk = docker_new(base, hc, sockpath, on_ready, &ready);
	run_until(&ready.calls, 1);
	cr_assert_eq(ready.err, -ENOTSUP);
	cr_assert_null(docker_api_version(dk));
	docker_container_start(dk, "abc", on_done, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, -ENOTSUP);
	cr_assert(strstr(g.message, "1.12"), "%s", g.message);
}

Test(docker_client, operations_wait_for_negotiation)
{
	struct got g = {0};

	engine_listen();
	dk = docker_new(base, hc, sockpath, NULL, NULL);
	docker_container_start(dk, "abc", on_done, &g);
	cr_assert_eq(g.calls, 0, "never from inside the call");
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, 0, "%s", g.message);
	cr_assert(seen_request("POST /v1.41/containers/abc/start"));
}

Test(docker_client, an_engine_that_is_down_fails_ready_and_is_retried_by_later_operations)
{
	struct got ready = {0}, g1 = {0}, g2 = {0};

	dk = docker_new(base, hc, sockpath, on_ready, &ready);
	run_until(&ready.calls, 1);
	cr_assert_eq(ready.err, -ENOENT, "%d", ready.err);
	docker_container_start(dk, "abc", on_done, &g1);
	run_until(&g1.calls, 1);
	cr_assert_eq(g1.err, -ENOENT);
	cr_assert(strstr(g1.message, sockpath), "%s", g1.message);
	cr_assert_eq(g1.status, 0);

	engine_listen();
	docker_container_start(dk, "abc", on_done, &g2);
	run_until(&g2.calls, 1);
	cr_assert_eq(g2.err, 0, "%s", g2.message);
	cr_assert_eq(ready.calls, 1, "ready is called once");
	cr_assert_str_eq(docker_api_version(dk), "1.41");
}

Test(docker_client, create_sends_the_spec_and_escaped_name_and_returns_the_id)
{
	struct got g = {0};
	json_t *spec = json_pack("{s:s, s:[s]}", "Image", "fixture-prog:latest", "Cmd", "serve");

	connect_client();
	docker_container_create(dk, "a b&c", spec, on_create, &g);
	json_decref(spec);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, 0);
	cr_assert_eq(g.status, 201);
	cr_assert_str_eq(g.text, "0123abcd");
	cr_assert(seen_request("POST /v1.41/containers/create?name=a%20b%26c"));
	cr_assert_str_eq(fake_engine_last_body(),
	                 "{\"Image\":\"fixture-prog:latest\",\"Cmd\":[\"serve\"]}");
}

Test(docker_client, exec_create_passes_env_beside_the_command_not_in_it)
{
	struct got g = {0};
	static const char *const argv[] = {"/bin/dialer", "sock", NULL};
	static const char *const env[] = {"TOKEN=0f", "B=x y", NULL};

	connect_client();
	docker_exec_create(dk, "running", argv, env, on_create, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, 0, "%s", g.message);
	cr_assert_str_eq(g.text, "e1ec");
	cr_assert(seen_request("POST /v1.41/containers/running/exec"));
	cr_assert_str_eq(fake_engine_last_body(),
	                 "{\"Cmd\":[\"/bin/dialer\",\"sock\"],\"AttachStdin\":false,"
	                 "\"AttachStdout\":false,\"AttachStderr\":false,\"Tty\":false,"
	                 "\"Env\":[\"TOKEN=0f\",\"B=x y\"]}");
}

Test(docker_client, exec_create_without_env_sends_no_env)
{
	struct got g = {0};
	static const char *const argv[] = {"/bin/true", NULL};

	connect_client();
	docker_exec_create(dk, "running", argv, NULL, on_create, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, 0, "%s", g.message);
	cr_assert_null(strstr(fake_engine_last_body(), "Env"), "%s", fake_engine_last_body());
}

Test(docker_client, create_with_a_taken_name_is_eexist_with_the_engines_message)
{
	struct got g = {0};
	json_t *spec = json_pack("{s:s}", "Image", "fixture-prog:latest");

	connect_client();
	docker_container_create(dk, "fixture-running", spec, on_create, &g);
	json_decref(spec);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, -EEXIST);
	cr_assert_eq(g.status, 409);
	cr_assert(str_has_prefix(g.message, "Conflict. The container name"), "%s", g.message);
	cr_assert_str_eq(g.text, "");
}

Test(docker_client, create_without_a_spec_fails_from_the_loop)
{
	struct got g = {0};

	connect_client();
	docker_container_create(dk, "x", NULL, on_create, &g);
	cr_assert_eq(g.calls, 0);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, -EINVAL);
}

Test(docker_client, start_and_stop_of_what_already_is_so_succeed)
{
	struct got g1 = {0}, g2 = {0};

	connect_client();
	docker_container_start(dk, "started", on_done, &g1);
	docker_container_stop(dk, "stopped", 1, on_done, &g2);
	run_until(&g1.calls, 1);
	run_until(&g2.calls, 1);
	cr_assert_eq(g1.err, 0);
	cr_assert_eq(g1.status, 304);
	cr_assert_eq(g2.err, 0);
	cr_assert_eq(g2.status, 304);
}

Test(docker_client, missing_container_is_enoent_except_for_remove)
{
	struct got g1 = {0}, g2 = {0}, g3 = {0};

	connect_client();
	docker_container_start(dk, "missing", on_done, &g1);
	docker_container_inspect(dk, "missing", on_inspect, &g2);
	docker_container_remove(dk, "missing", true, on_done, &g3);
	run_until(&g1.calls, 1);
	run_until(&g2.calls, 1);
	run_until(&g3.calls, 1);
	cr_assert_eq(g1.err, -ENOENT);
	cr_assert_str_eq(g1.message, "No such container: missing");
	cr_assert_eq(g2.err, -ENOENT);
	cr_assert_not(g2.has_c);
	cr_assert_eq(g3.err, 0, "removing what is gone is done");
	cr_assert(seen_request("DELETE /v1.41/containers/missing?force=true&v=true"));
}

Test(docker_client, server_error_without_a_body_is_eio_with_the_status)
{
	struct got g = {0};

	connect_client();
	docker_container_start(dk, "broken", on_done, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, -EIO);
	cr_assert_str_eq(g.message, "Docker engine answered HTTP 500");
}

Test(docker_client, inspect_gives_the_parsed_container)
{
	struct got g = {0};

	connect_client();
	docker_container_inspect(dk, "running", on_inspect, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, 0, "%s", g.message);
	cr_assert(g.has_c);
	cr_assert(g.c.running);
	cr_assert_str_eq(g.text, "fixture-running 32769");
}

Test(docker_client, list_filters_by_label_as_escaped_json)
{
	struct got g = {0};

	connect_client();
	docker_container_list(dk, "io.endpointd.fixture=1", on_list, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, 0, "%s", g.message);
	cr_assert_eq(g.n, 2);
	cr_assert_str_eq(g.text, "fixture-exited,fixture-running");
	cr_assert(seen_request("GET /v1.41/containers/json?all=true&filters="
	                       "%7B%22label%22%3A%5B%22io.endpointd.fixture%3D1%22%5D%7D"));
}

Test(docker_client, logs_are_demultiplexed_across_split_frames)
{
	struct got g = {0};

	connect_client();
	docker_container_logs(dk, "exited", 50, on_logs, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, 0, "%s", g.message);
	cr_assert_str_eq(
	    g.text, "hello from stdout\nwarning on stderr\nsecond stdout line\nexiting with 7\n");
	cr_assert(seen_request("GET /v1.41/containers/exited/logs?stdout=1&stderr=1&tail=50"));
}

Test(docker_client, a_swarm_tasks_logs_are_read_as_a_containers_are)
{
	struct got g = {0};

	connect_client();
	docker_task_logs(dk, "ended", 50, on_logs, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, 0, "%s", g.message);
	cr_assert_str_eq(
	    g.text, "hello from stdout\nwarning on stderr\nsecond stdout line\nexiting with 7\n");
	cr_assert(seen_request("GET /v1.41/tasks/ended/logs?stdout=1&stderr=1&tail=50"));
}

static char *long_text;

static void on_long_logs(const struct docker_result *r, const char *text, void *userdata)
{
	got_result(userdata, r);
	long_text = xstrdup(text);
}

Test(docker_client, logs_keep_the_last_64_kib_in_whole_lines)
{
	struct got g = {0};

	connect_client();
	docker_container_logs(dk, "chatty", 5000, on_long_logs, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, 0, "%s", g.message);
	cr_assert_leq(strlen(long_text), 64 * 1024);
	cr_assert_gt(strlen(long_text), 60 * 1024);
	cr_assert(str_has_prefix(long_text, "line "), "%.20s", long_text);
	cr_assert(str_has_suffix(
	    long_text,
	    "line 1999 ..............................................................\n"));
	free(long_text);
}

Test(docker_client, logs_of_a_missing_container_are_enoent)
{
	struct got g = {0};

	connect_client();
	docker_container_logs(dk, "missing", 50, on_logs, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, -ENOENT);
	cr_assert_str_eq(g.message, "No such container: missing");
	cr_assert_str_eq(g.text, "(null)");
}

Test(docker_client, image_inspect_finds_the_image_or_says_enoent)
{
	struct got g1 = {0}, g2 = {0};

	connect_client();
	docker_image_inspect(dk, "fixture-prog:latest", on_image, &g1);
	docker_image_inspect(dk, "nonexistent:latest", on_image, &g2);
	run_until(&g1.calls, 1);
	run_until(&g2.calls, 1);
	cr_assert_eq(g1.err, 0);
	cr_assert(str_has_prefix(g1.image_id, "sha256:d007573b"));
	cr_assert_eq(g2.err, -ENOENT);
	cr_assert(strstr(g2.message, "No such image: nonexistent:latest"), "%s", g2.message);
}

Test(docker_client, pull_fails_on_an_error_line_inside_a_200)
{
	struct got g = {0};

	connect_client();
	docker_image_pull(dk, "127.0.0.1:5999/fixture-broken", on_done, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, -EIO);
	cr_assert_eq(g.status, 200);
	cr_assert_str_eq(g.message, "unknown blob");
}

Test(docker_client, pull_refused_up_front_carries_the_engines_message)
{
	struct got g = {0};

	connect_client();
	docker_image_pull(dk, "nonexistent.invalid/foo", on_done, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, -EIO);
	cr_assert_eq(g.status, 500);
	cr_assert(strstr(g.message, "no such host"), "%s", g.message);
}

Test(docker_client, pull_that_streams_progress_only_succeeds)
{
	struct got g = {0};

	connect_client();
	docker_image_pull(dk, "fixture-prog", on_done, &g);
	run_until(&g.calls, 1);
	cr_assert_eq(g.err, 0, "%s", g.message);
}

struct watch_log {
	int connects;
	int events;
	int dies;
	int ended;
	int after_end;
	int last_exit;
	uint64_t connect_at[4];
	bool free_on_first_event;
};

static void on_event(const struct docker_event *ev, bool ended, void *userdata)
{
	struct watch_log *w = userdata;

	if (w->ended)
		w->after_end++;
	if (ended) {
		w->ended++;
		return;
	}
	if (!ev) {
		if (w->connects < 4)
			w->connect_at[w->connects] = now_monotonic_ms();
		w->connects++;
		return;
	}
	w->events++;
	if (!strcmp(ev->action, "die")) {
		w->dies++;
		w->last_exit = ev->exit_code;
	}
	if (w->free_on_first_event)
		dk = docker_free(dk);
}

Test(docker_client, events_are_parsed_and_the_stream_reconnects_with_backoff)
{
	struct watch_log w = {0};

	connect_client();
	docker_events_watch(dk, "io.endpointd.fixture=1", on_event, &w);
	/* The first stream ends after 15 events; the second one stays. */
	run_until(&w.events, 30);
	cr_assert_eq(w.events, 30);
	cr_assert_eq(w.dies, 6);
	cr_assert_eq(w.last_exit, 137, "the last die in the file is the stopped container's");
	cr_assert_eq(w.connects, 2);
	cr_assert_geq(w.connect_at[1] - w.connect_at[0], 240, "reconnected after %llu ms",
	              (unsigned long long)(w.connect_at[1] - w.connect_at[0]));
	cr_assert(seen_request("GET /v1.41/events?filters="
	                       "%7B%22label%22%3A%5B%22io.endpointd.fixture%3D1%22%5D%2C%22type%22%"
	                       "3A%5B%22container%22%5D%7D"));
	dk = docker_free(dk);
	cr_assert_eq(w.ended, 1);
	cr_assert_eq(w.after_end, 0);
}

Test(docker_client, free_from_inside_an_event_callback_ends_the_watch_once)
{
	struct watch_log w = {.free_on_first_event = true};
	int spin = 0;

	connect_client();
	docker_events_watch(dk, NULL, on_event, &w);
	run_until(&w.ended, 1);
	cr_assert_null(dk);
	cr_assert_eq(w.events, 1);
	cr_assert_eq(w.ended, 1);
	/* Give a stray callback a chance to show up. */
	run_until_or(&spin, 1, 300);
	cr_assert_eq(w.after_end, 0);
}

Test(docker_client, free_completes_running_operations_with_ecanceled)
{
	struct got g1 = {0}, g2 = {0}, ready = {0};
	struct watch_log w = {0};

	engine_listen();
	dk = docker_new(base, hc, sockpath, on_ready, &ready);
	docker_container_start(dk, "abc", on_done, &g1);
	docker_container_logs(dk, "exited", 10, on_logs, &g2);
	docker_events_watch(dk, NULL, on_event, &w);
	dk = docker_free(dk);
	cr_assert_eq(ready.calls, 1);
	cr_assert_eq(ready.err, -ECANCELED);
	cr_assert_eq(g1.calls, 1);
	cr_assert_eq(g1.err, -ECANCELED);
	cr_assert_eq(g2.calls, 1);
	cr_assert_eq(g2.err, -ECANCELED);
	cr_assert_eq(w.ended, 1);
	cr_assert_eq(httpc_active(hc), 0);
}
