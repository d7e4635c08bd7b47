/* Placeholder: the encoder is written on its own branch. */
#include "eventstream.h"
