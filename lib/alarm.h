/*
 * Alarms for UpdateEndpoint's AutoRollbackConfiguration, declared in the
 * resource YAML in CloudWatch's PutMetricAlarm shape and evaluated on the
 * figures metrics keeps per endpoint and variant.
 */
#ifndef ENDPOINTD_ALARM_H
#define ENDPOINTD_ALARM_H

struct config_alarm;

enum alarm_state {
	ALARM_STATE_OK,
	ALARM_STATE_ALARM,
	ALARM_STATE_INSUFFICIENT_DATA,
};

/*
 * The state of alarm a at now (wall-clock seconds).  An alarm without an
 * EndpointName dimension watches endpoint.  *ret_reason (owned; may be NULL
 * on OK) says why, as CloudWatch's StateReason does.
 */
enum alarm_state alarm_evaluate(const struct config_alarm *a, const char *endpoint, double now,
				char **ret_reason);

#endif
