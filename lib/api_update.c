/* Placeholder until UpdateEndpoint is routed. */
#include "api_private.h"
