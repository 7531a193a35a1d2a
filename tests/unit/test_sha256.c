#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sha256.h"

static void hex(const uint8_t *d, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < SHA256_LEN; i++) {
		out[2 * i] = digits[d[i] >> 4];
		out[2 * i + 1] = digits[d[i] & 15];
	}
	out[2 * SHA256_LEN] = '\0';
}

static const char *digest_of(const char *s, size_t len)
{
	static char out[2 * SHA256_LEN + 1];
	uint8_t d[SHA256_LEN];

	sha256(s, len, d);
	hex(d, out);
	return out;
}

/* FIPS 180-2, appendix B.1 and B.2. */
static void fips_one_and_two_blocks(void)
{
	static const char two[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	CHECK_STR(digest_of("abc", 3),
	          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	CHECK_STR(digest_of(two, strlen(two)),
	          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

/* FIPS 180-2, appendix B.3: one million 'a', fed in uneven pieces. */
static void fips_million_a(void)
{
	char *buf = malloc(1000000);
	struct sha256 s;
	uint8_t d[SHA256_LEN];
	char out[2 * SHA256_LEN + 1];
	size_t off = 0, step = 1;

	CHECK(buf != NULL);
	if (buf == NULL)
		return;
	memset(buf, 'a', 1000000);
	CHECK_STR(digest_of(buf, 1000000),
	          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	sha256_init(&s);
	while (off < 1000000) {
		size_t n = step < 1000000 - off ? step : 1000000 - off;

		sha256_update(&s, buf + off, n);
		off += n;
		step = step * 3 + 1; /* 1, 4, 13, 40, ...: crosses block edges at odd places */
	}
	sha256_final(&s, d);
	hex(d, out);
	CHECK_STR(out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(buf);
}

/* Lengths around the padding boundary (55, 56, 64 bytes) and empty input (digests from Python's hashlib). */
static void padding_edges(void)
{
	char buf[65];

	memset(buf, 'x', sizeof(buf));
	CHECK_STR(digest_of("", 0),
	          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	CHECK_STR(digest_of(buf, 55),
	          "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072");
	CHECK_STR(digest_of(buf, 56),
	          "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e");
	CHECK_STR(digest_of(buf, 64),
	          "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c");
}

static void fingerprint(void)
{
	char fp[SHA256_FP_LEN];

	sha256_fingerprint("abc", 3, fp);
	CHECK_STR(fp, "ba7816bf");
	sha256_fingerprint("", 0, fp);
	CHECK_STR(fp, "e3b0c442");
}

int main(void)
{
	RUN(fips_one_and_two_blocks);
	RUN(fips_million_a);
	RUN(padding_edges);
	RUN(fingerprint);
	return CHECK_DONE();
}
