#ifndef SEAM_CLZ4_SHIM_H
#define SEAM_CLZ4_SHIM_H
#include <lz4.h>
#endif
