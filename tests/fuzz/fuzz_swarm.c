/*
 * The Engine's Swarm replies (lib/swarm.c): GET /info, /nodes, /services,
 * /services/{id}, /tasks, and placement constraints as the daemon config
 * gives them.  Every field of what parses is read, so that a bad pointer or
 * a string without its NUL shows; a service that parses must build a spec
 * with another replica count.
 *
 * Input: one byte picks the parser, the rest is the reply.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "swarm.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

/* strlen of a string that may be NULL. */
static size_t len0(const char *s)
{
	return s ? strlen(s) : 0;
}

static size_t touch_service(const struct swarm_service *s)
{
	json_t *scaled = swarm_spec_with_replicas(s->spec, s->replicas + 1);
	size_t n = strlen(s->id) + strlen(s->name) + json_object_size(s->labels) +
	           json_object_size(scaled);

	json_decref(scaled);
	return n;
}

static size_t touch_task(const struct swarm_task *t)
{
	size_t n = strlen(t->id) + strlen(t->service_id) + len0(t->node_id) + strlen(t->state) +
	           strlen(t->desired_state) + len0(t->message) + len0(t->err) +
	           len0(t->container_id) + t->slot;

	for (size_t i = 0; i < t->n_ports; i++)
		n += swarm_task_published_port(t, t->ports[i].target_port);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *p = (const char *)data + 1;
	size_t len = size - 1;
	volatile size_t sink = 0;

	switch (data[0] % 6) {
	case 0: {
		struct swarm_info info;
		if (swarm_parse_info(p, len, &info) == 0) {
			sink += strlen(info.state) + len0(info.node_id) + len0(info.node_addr) +
			        len0(info.error) + info.manager;
			swarm_info_clear(&info);
		}
		break;
	}
	case 1: {
		struct swarm_node *ns;
		size_t n;
		if (swarm_parse_nodes(p, len, &ns, &n) == 0) {
			for (size_t i = 0; i < n; i++) {
				sink += strlen(ns[i].id) + len0(ns[i].hostname) + len0(ns[i].role) +
				        strlen(ns[i].state) + strlen(ns[i].availability) +
				        len0(ns[i].addr) + json_object_size(ns[i].labels) +
				        ns[i].gpus;
				swarm_node_clear(&ns[i]);
			}
			free(ns);
		}
		break;
	}
	case 2: {
		struct swarm_service s;
		if (swarm_parse_service(p, len, &s) == 0) {
			sink += touch_service(&s);
			swarm_service_clear(&s);
		}
		break;
	}
	case 3: {
		struct swarm_service *ss;
		size_t n;
		if (swarm_parse_services(p, len, &ss, &n) == 0) {
			for (size_t i = 0; i < n; i++) {
				sink += touch_service(&ss[i]);
				swarm_service_clear(&ss[i]);
			}
			free(ss);
		}
		break;
	}
	case 4: {
		struct swarm_task *ts;
		size_t n;
		if (swarm_parse_tasks(p, len, &ts, &n) == 0) {
			for (size_t i = 0; i < n; i++) {
				sink += touch_task(&ts[i]);
				swarm_task_clear(&ts[i]);
			}
			free(ts);
		}
		break;
	}
	case 5: {
		char *s = malloc(len + 1);
		const char *why = NULL;
		memcpy(s, p, len);
		s[len] = '\0';
		if (swarm_constraint_check(s, &why) < 0) {
			sink += strlen(why);
		} else {
			/* What a node is matched on, for a constraint that passed. */
			json_t *labels = json_pack("{s:s}", "gpu", "h100");
			struct swarm_node n = {.id = (char *)"n1",
			                       .hostname = (char *)"gpu-1",
			                       .role = (char *)"worker",
			                       .labels = labels};
			sink += swarm_node_meets(&n, s);
			json_decref(labels);
		}
		free(s);
		break;
	}
	}
	(void)sink;
	return 0;
}
