#include "err.h"

const char *zt_strerror(enum zt_err err)
{
	switch (err) {
	case ZT_OK:
		return "success";
	case ZT_ERR_NOMEM:
		return "out of memory";
	case ZT_ERR_NOENT:
		return "not found";
	case ZT_ERR_ACCESS:
		return "permission denied";
	case ZT_ERR_IO:
		return "input/output error";
	case ZT_ERR_INVALID:
		return "invalid input";
	case ZT_ERR_TOOBIG:
		return "too large";
	case ZT_ERR_CONFIG:
		return "configuration error";
	case ZT_ERR_UNSUPPORTED:
		return "not supported";
	}
	return "unknown error";
}
