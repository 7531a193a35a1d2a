/* One error type for the whole daemon, and a strerror for it. */
#ifndef ZTP_ERR_H
#define ZTP_ERR_H

#define ZT_WUR __attribute__((warn_unused_result))
/* printf-style checks; mingw-w64 (C99 printf, %zu) names them gnu_printf. */
#ifdef __MINGW32__
#define ZT_PRINTF(fmt, args) __attribute__((format(gnu_printf, fmt, args)))
#else
#define ZT_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#endif

enum zt_err {
	ZT_OK = 0,
	ZT_ERR_NOMEM,       /* allocation failed */
	ZT_ERR_NOENT,       /* a file or variable does not exist */
	ZT_ERR_ACCESS,      /* permission denied */
	ZT_ERR_IO,          /* any other system call failure; errno says more */
	ZT_ERR_INVALID,     /* malformed input */
	ZT_ERR_TOOBIG,      /* input over its cap */
	ZT_ERR_CONFIG,      /* the configuration has errors (already reported) */
	ZT_ERR_UNSUPPORTED, /* not available on this platform or build */
};

const char *zt_strerror(enum zt_err err);

#endif
