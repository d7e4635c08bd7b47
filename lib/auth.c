/* Placeholder until signatures are checked. */
#include "auth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct auth_keys *auth_keys_ref(struct auth_keys *k)
{
	return k;
}

struct auth_keys *auth_keys_unref(struct auth_keys *k)
{
	return NULL;
}

const struct auth_key *auth_keys_find(const struct auth_keys *k, const char *access_key_id)
{
	return NULL;
}

int auth_verify(const struct auth_keys *keys, const struct auth_request *req, const char *region,
		const char *service, double now, struct auth_verdict *ret)
{
	*ret = (struct auth_verdict){.error = AUTH_MISSING};
	return -EACCES;
}

void auth_verdict_clear(struct auth_verdict *v)
{
	free(v->message);
	v->message = NULL;
}

const char *auth_error_code(enum auth_error e)
{
	return "MissingAuthenticationTokenException";
}

int auth_error_status(enum auth_error e)
{
	return 403;
}

bool auth_allowed(const struct auth_key *key, const char *action, const char *resource)
{
	return false;
}

void auth_sha256_evbuffer(struct evbuffer *body, char out[65])
{
	memset(out, '0', 64);
	out[64] = '\0';
}
