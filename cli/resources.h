/*
 * endpointctl's commands for models and endpoint configs made through the
 * API: create-model and create-config from a YAML or JSON file in the API's
 * own shape, delete-model and delete-config.
 */
#ifndef ENDPOINTCTL_RESOURCES_H
#define ENDPOINTCTL_RESOURCES_H

struct ctl;

int resources_cmd_create_model(struct ctl *ctl, int argc, char **argv);
int resources_cmd_create_config(struct ctl *ctl, int argc, char **argv);
int resources_cmd_delete_model(struct ctl *ctl, int argc, char **argv);
int resources_cmd_delete_config(struct ctl *ctl, int argc, char **argv);

#endif
