/* Placeholder until the rollout executor is written. */
#include <errno.h>

#include "endpoint.h"

int endpoint_update(struct endpoint *ep, const struct endpoint_update *u, const char **ret_alarm)
{
	return -ENOSYS;
}

int endpoint_update_capacities(struct endpoint *ep, const struct endpoint_capacity *c, size_t n,
			       const char **ret_variant)
{
	return -ENOSYS;
}
