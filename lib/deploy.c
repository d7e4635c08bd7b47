/* Placeholder until the planner is written. */
#include "deploy.h"

#include <stdlib.h>

void deploy_policy_clear(struct deploy_policy *p)
{
	for (size_t i = 0; i < p->n_alarms; i++)
		free(p->alarms[i]);
	p->n_alarms = 0;
}
