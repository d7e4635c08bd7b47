/* Placeholder until alarms are evaluated. */
#include "alarm.h"

#include <stddef.h>

enum alarm_state alarm_evaluate(const struct config_alarm *a, const char *endpoint, double now,
				char **ret_reason)
{
	*ret_reason = NULL;
	return ALARM_STATE_OK;
}
