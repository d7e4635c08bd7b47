/*
 * create-model, create-config, delete-model and delete-config: models and
 * endpoint configs made through the API (CreateModel and friends).
 *
 * A create command reads a CreateModelInput or CreateEndpointConfigInput
 * object from a file (or stdin), in YAML or in JSON, which YAML reads too,
 * with lib/'s YAML reader (config_yaml.c): its bounds on size, depth and node
 * count, its refusal of anchors, aliases and duplicate keys, and its
 * file:line:column messages.  The tree becomes the request's JSON by one rule
 * (resources_scalar):
 *
 *   - a quoted scalar is a string, always;
 *   - a plain scalar that YAML reads as null (empty, ~, null) is null;
 *   - a plain scalar under one of the members the API types as a number
 *     (InitialInstanceCount, InitialVariantWeight, VolumeSizeInGB, the
 *     *InSeconds timeouts, ...) is a number when it is written as one, and
 *     under one it types as a boolean (EnableNetworkIsolation,
 *     EnableSSMAccess, EnableCapture) a boolean when it is true or false;
 *   - every other scalar is a string: Environment: {THREADS: 4} sends "4",
 *     and Tags' values stay text.
 *
 * A member is known by its key, except under Environment, whose keys are
 * the model's variable names.  A value of the wrong type is sent as it is
 * and the daemon's validation says what is wrong with it, in SageMaker's
 * words; only what cannot be a request at all (not YAML, not a mapping,
 * not UTF-8 text JSON can hold) is refused here, with its position.
 */
#define _GNU_SOURCE
#include "resources.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_yaml.h"
#include "ctl.h"
#include "text.h"
#include "util.h"

/* The daemon takes control-plane bodies of up to 1 MiB; a file larger than
 * that cannot become one. */
#define RESOURCES_MAX_FILE (1024u * 1024u)

/* What one of the create commands makes. */
struct resources_kind {
	const char *op;        /* CreateModel */
	const char *name_key;  /* ModelName */
	const char *arn_key;   /* ModelArn */
	const char *what;      /* "a CreateModel request", for messages */
	const char *delete_op; /* DeleteModel */
};

static const struct resources_kind resources_model = {
    "CreateModel", "ModelName", "ModelArn", "a CreateModel request", "DeleteModel",
};
static const struct resources_kind resources_config = {
    "CreateEndpointConfig",           "EndpointConfigName",   "EndpointConfigArn",
    "a CreateEndpointConfig request", "DeleteEndpointConfig",
};

/* Members of CreateModelInput and CreateEndpointConfigInput (and of what
 * they hold) that the API types as numbers. */
static const char *const resources_number_members[] = {
    "ContainerStartupHealthCheckTimeoutInSeconds",
    "InitialInstanceCount",
    "InitialSamplingPercentage",
    "InitialVariantWeight",
    "MaxConcurrency",
    "MaxConcurrentInvocationsPerInstance",
    "MaxInstanceCount",
    "MemorySizeInMB",
    "MinInstanceCount",
    "ModelDataDownloadTimeoutInSeconds",
    "ProvisionedConcurrency",
    "VariantInstanceProvisionTimeoutInSeconds",
    "VolumeSizeInGB",
    NULL,
};

/* And those it types as booleans. */
static const char *const resources_boolean_members[] = {
    "EnableCapture",
    "EnableNetworkIsolation",
    "EnableSSMAccess",
    NULL,
};

/* How a plain scalar is read: by the member it is the value of. */
enum resources_type {
	RESOURCES_STRING,
	RESOURCES_NUMBER,
	RESOURCES_BOOLEAN,
};

/* The type the API gives the member key names; NULL key: an element of a
 * list, or a value under Environment. */
static enum resources_type resources_member_type(const char *key)
{
	if (key && cy_in(resources_number_members, key))
		return RESOURCES_NUMBER;
	if (key && cy_in(resources_boolean_members, key))
		return RESOURCES_BOOLEAN;
	return RESOURCES_STRING;
}

/* A JSON number for a decimal scalar: an integer when it has neither a
 * fraction nor an exponent and fits, else a double; NULL if not finite. */
static json_t *resources_number(const char *s)
{
	if (!strpbrk(s, ".eE")) {
		char *end;
		errno = 0;
		long long v = strtoll(s, &end, 10);
		if (errno == 0 && *end == '\0')
			return json_integer((json_int_t)v);
	}
	double d = strtod(s, NULL);
	return isfinite(d) ? json_real(d) : NULL;
}

/* The JSON of one scalar, by the rule in the comment at the top. */
static json_t *resources_scalar(const struct cy_node *n, enum resources_type type)
{
	static const char *const yes[] = {"true", "True", "TRUE", NULL};
	static const char *const no[] = {"false", "False", "FALSE", NULL};

	if (n->plain) {
		if (cy_is_null(n))
			return json_null();
		if (type == RESOURCES_NUMBER && cy_is_decimal(n->value)) {
			json_t *v = resources_number(n->value);
			if (v)
				return v;
		}
		if (type == RESOURCES_BOOLEAN && cy_in(yes, n->value))
			return json_true();
		if (type == RESOURCES_BOOLEAN && cy_in(no, n->value))
			return json_false();
	}
	/* libyaml passes only valid UTF-8 on; NULL here would be a bug there. */
	return json_string(n->value);
}

/*
 * The JSON of a node: key is the member it is the value of (NULL for a list
 * element or a variable under Environment).  Returns NULL with *ret_error
 * set for what JSON cannot hold.  Recursion is bounded by CY_MAX_DEPTH.
 */
static json_t *resources_to_json(const char *file, const struct cy_node *n, const char *key,
                                 char **ret_error)
{
	json_t *v = NULL;

	switch (n->type) {
	case CY_SCALAR:
		v = resources_scalar(n, resources_member_type(key));
		break;
	case CY_SEQUENCE:
		v = json_array();
		for (size_t i = 0; i < n->n_items; i++) {
			json_t *item = resources_to_json(file, n->items[i], NULL, ret_error);
			if (!item)
				goto fail;
			json_array_append_new(v, item);
		}
		break;
	case CY_MAPPING: {
		bool variables = key && strcmp(key, "Environment") == 0;
		v = json_object();
		for (size_t i = 0; i < cy_map_size(n); i++) {
			const struct cy_node *k = cy_map_key(n, i);
			json_t *item = resources_to_json(file, cy_map_value(n, i),
			                                 variables ? NULL : k->value, ret_error);
			if (!item)
				goto fail;
			if (json_object_set_new(v, k->value, item) < 0) {
				*ret_error = xasprintf("%s:%u:%u: a key JSON cannot hold", file,
				                       k->line, k->column);
				goto fail;
			}
		}
		break;
	}
	}
	if (!v)
		*ret_error =
		    xasprintf("%s:%u:%u: a value JSON cannot hold", file, n->line, n->column);
	return v;
fail:
	json_decref(v);
	return NULL;
}

/* The text of path, or of stdin for "-"; 0, or -errno with *ret_error. */
static int resources_read(const char *path, char **ret_text, size_t *ret_len, char **ret_error)
{
	if (strcmp(path, "-") != 0) {
		double mtime;
		return cy_read_file(path, RESOURCES_MAX_FILE, ret_text, ret_len, &mtime, ret_error);
	}

	struct buf b = {0};
	int r = ctl_read_stdin(&b, RESOURCES_MAX_FILE);
	if (r < 0) {
		*ret_error = xasprintf("reading stdin: %s", strerror(-r));
		buf_reset(&b);
		return r;
	}
	if (b.len > RESOURCES_MAX_FILE) {
		*ret_error = xasprintf("stdin: larger than %u MiB", RESOURCES_MAX_FILE >> 20);
		buf_reset(&b);
		return -EINVAL;
	}
	*ret_len = b.len;
	*ret_text = buf_steal(&b);
	return 0;
}

/*
 * Reads path ("-": stdin) as a request of kind: a mapping, as JSON.  0 and
 * *ret_params, or -errno with *ret_error ("file:line:column: what").
 */
static int resources_load(const struct resources_kind *kind, const char *path, json_t **ret_params,
                          char **ret_error)
{
	const char *file = strcmp(path, "-") == 0 ? "<stdin>" : path;
	_cleanup_free_ char *text = NULL;
	struct cy_node *root = NULL;
	size_t len = 0;
	int r;

	r = resources_read(path, &text, &len, ret_error);
	if (r < 0) {
		if (!*ret_error)
			*ret_error = xasprintf("%s: %s", file, strerror(-r));
		return r;
	}
	r = cy_parse(file, text, len, &root, ret_error);
	if (r < 0)
		return r;
	if (!root) {
		*ret_error = xasprintf("%s: no YAML or JSON in it: expected %s", file, kind->what);
		return -EINVAL;
	}
	if (root->type != CY_MAPPING) {
		*ret_error = xasprintf("%s:%u:%u: expected %s (a mapping), found %s", file,
		                       root->line, root->column, kind->what, cy_describe(root));
		cy_free(root);
		return -EINVAL;
	}
	json_t *params = resources_to_json(file, root, NULL, ret_error);
	cy_free(root);
	if (!params)
		return -EINVAL;
	*ret_params = params;
	return 0;
}

/* create-model / create-config FILE [--name NAME] */
static int resources_create(struct ctl *ctl, int argc, char **argv,
                            const struct resources_kind *kind)
{
	static const struct option opts[] = {
	    CTL_COMMON_LONG,
	    {"name", required_argument, NULL, 'n'},
	    {0},
	};
	const char *name = NULL;
	_cleanup_free_ char *error = NULL;
	json_t *params = NULL, *answer = NULL;
	int c, ex = CTL_EXIT_OK;

	while ((c = ctl_next_option(ctl, argc, argv, CTL_COMMON_SHORT "n:", opts, &ex)) != -1) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		default:
			return ex;
		}
	}
	if ((ex = ctl_want_operands(ctl, argc, argv, 1, 1)) != 0)
		return ex;
	if (!ctl_client(ctl, &ex))
		return ex;

	if (resources_load(kind, argv[optind], &params, &error) < 0) {
		_cleanup_free_ char *shown = text_escape(error);
		fprintf(stderr, "endpointctl: %s\n", shown);
		return CTL_EXIT_FAILURE;
	}
	if (name && json_object_set_new(params, kind->name_key, json_string(name)) < 0) {
		json_decref(params);
		return ctl_usage_error(ctl, "--name: not UTF-8 text");
	}
	answer = ctl_call(ctl, kind->op, params);
	json_decref(params);
	if (!answer)
		return CTL_EXIT_FAILURE;
	if (ctl->output == CTL_OUTPUT_JSON) {
		ctl_print_json(answer);
	} else {
		const char *arn = ctl_str(answer, kind->arn_key);
		_cleanup_free_ char *shown = text_escape(arn ? arn : "-");
		printf("%s\n", shown);
	}
	json_decref(answer);
	return CTL_EXIT_OK;
}

/* delete-model / delete-config NAME */
static int resources_delete(struct ctl *ctl, int argc, char **argv,
                            const struct resources_kind *kind)
{
	int ex = CTL_EXIT_OK;

	if (!ctl_common_options_only(ctl, argc, argv, &ex))
		return ex;
	if ((ex = ctl_want_operands(ctl, argc, argv, 1, 1)) != 0)
		return ex;
	if (!ctl_client(ctl, &ex))
		return ex;

	json_t *params = json_pack("{s:s}", kind->name_key, argv[optind]);
	if (!params)
		return ctl_usage_error(ctl, "%s: the name is not UTF-8 text", ctl->command->name);
	json_t *answer = ctl_call(ctl, kind->delete_op, params);
	json_decref(params);
	if (!answer)
		return CTL_EXIT_FAILURE;
	if (ctl->output == CTL_OUTPUT_JSON)
		ctl_print_json(answer);
	json_decref(answer);
	return CTL_EXIT_OK;
}

/* create-model FILE [--name NAME] */
int resources_cmd_create_model(struct ctl *ctl, int argc, char **argv)
{
	return resources_create(ctl, argc, argv, &resources_model);
}

/* create-config FILE [--name NAME] */
int resources_cmd_create_config(struct ctl *ctl, int argc, char **argv)
{
	return resources_create(ctl, argc, argv, &resources_config);
}

/* delete-model NAME */
int resources_cmd_delete_model(struct ctl *ctl, int argc, char **argv)
{
	return resources_delete(ctl, argc, argv, &resources_model);
}

/* delete-config NAME */
int resources_cmd_delete_config(struct ctl *ctl, int argc, char **argv)
{
	return resources_delete(ctl, argc, argv, &resources_config);
}
