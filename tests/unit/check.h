/*
 * A tiny TAP producer for unit tests: each TEST is one TAP line, each CHECK
 * a diagnostic when it fails. meson runs the binaries with protocol 'tap'.
 */
#ifndef ZTP_CHECK_H
#define ZTP_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
/* The environment calls the tests use, in the C runtime's spelling. */
static inline int setenv(const char *name, const char *value, int overwrite)
{
	(void)overwrite;
	return _putenv_s(name, value);
}

static inline int unsetenv(const char *name)
{
	return _putenv_s(name, "");
}
#endif

static int check_failed_in_test;
static int check_test_number;
static int check_any_failed;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			printf("# %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);          \
			check_failed_in_test = 1;                                                  \
		}                                                                                  \
	} while (0)

#define CHECK_STR(got, want)                                                                       \
	do {                                                                                       \
		const char *check_g_ = (got), *check_w_ = (want);                                  \
		if (check_g_ == NULL || strcmp(check_g_, check_w_) != 0) {                         \
			printf("# %s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__,           \
			       check_g_ ? check_g_ : "(null)", check_w_);                          \
			check_failed_in_test = 1;                                                  \
		}                                                                                  \
	} while (0)

#define RUN(fn)                                                                                    \
	do {                                                                                       \
		check_failed_in_test = 0;                                                          \
		fn();                                                                              \
		printf("%s %d - %s\n", check_failed_in_test ? "not ok" : "ok",                     \
		       ++check_test_number, #fn);                                                  \
		check_any_failed |= check_failed_in_test;                                          \
	} while (0)

#define CHECK_DONE() (printf("1..%d\n", check_test_number), fflush(stdout), check_any_failed)

#endif
