/*
 * API field validation and ARNs.  Every check here is pure: it takes a value
 * and answers whether the API accepts it, so the protocol layer can word the
 * error the way SageMaker does.
 */
#ifndef ENDPOINTD_NAMES_H
#define ENDPOINTD_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#define NAMES_MAX_LEN 63
#define NAMES_PATTERN "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
/* The same names, as SageMaker words the pattern of a ModelName. */
#define NAMES_MODEL_PATTERN "^[a-zA-Z0-9]([\\-a-zA-Z0-9]*[a-zA-Z0-9])?"
#define NAMES_MAX_TAGS 50
#define NAMES_TAG_KEY_MAX 128
#define NAMES_TAG_VALUE_MAX 256
#define NAMES_TAG_PATTERN "^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$"
#define NAMES_ARN_MAX 2048

/* EndpointName, EndpointConfigName, ModelName, VariantName. */
bool names_valid_resource(const char *s);
/* Environment keys: [a-zA-Z_][a-zA-Z0-9_]* (not empty). */
bool names_valid_env_key(const char *s);
/* Tag keys: 1-128 characters of letters, digits, spaces and _.:/=+-@. */
bool names_valid_tag_key(const char *s);
/* Tag values: 0-256 characters of the same set. */
bool names_valid_tag_value(const char *s);
/* Length in characters (UTF-8 code points), or -1 when s is not valid UTF-8. */
long names_utf8_length(const char *s);

/* kind is "endpoint", "endpoint-config" or "model". */
char *names_arn(const char *region, const char *account, const char *kind, const char *name);
/* Splits an ARN into its kind and name; -EINVAL when it is not a SageMaker ARN
 * of region and account.  ret_* untouched on failure. */
int names_parse_arn(const char *arn, const char *region, const char *account, char **ret_kind,
		    char **ret_name);

#endif
