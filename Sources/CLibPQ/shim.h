#ifndef SEAM_CLIBPQ_SHIM_H
#define SEAM_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
