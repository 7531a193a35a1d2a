/*
 * SHA-256 (FIPS 180-4), pure: no I/O, no allocation. Used for token
 * fingerprints, so that a person can compare the token in use with
 * `sha256sum` of its file without the daemon ever showing the token.
 */
#ifndef ZTP_SHA256_H
#define ZTP_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
/* First 8 hex digits of the digest, and a NUL. */
#define SHA256_FP_LEN 9

struct sha256 {
	uint32_t h[8];
	uint64_t total; /* bytes hashed so far */
	uint8_t block[64];
	size_t fill; /* bytes waiting in block */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* Writes the digest and wipes s (it may have held a secret). */
void sha256_final(struct sha256 *s, uint8_t out[SHA256_LEN]);

/* One call: the digest of [data, data + len). */
void sha256(const void *data, size_t len, uint8_t out[SHA256_LEN]);

/* The first 8 lower-case hex digits of the SHA-256 of [data, data + len). */
void sha256_fingerprint(const void *data, size_t len, char out[SHA256_FP_LEN]);

#endif
