/*
 * endpointctl's commands that change a running endpoint: update (a new
 * endpoint config, UpdateEndpoint with its DeploymentConfig) and
 * update-weights (UpdateEndpointWeightsAndCapacities).
 */
#ifndef ENDPOINTCTL_UPDATE_H
#define ENDPOINTCTL_UPDATE_H

struct ctl;

int update_cmd_update(struct ctl *ctl, int argc, char **argv);
int update_cmd_update_weights(struct ctl *ctl, int argc, char **argv);

#endif
