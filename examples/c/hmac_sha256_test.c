/*
 * Tests of hmac_sha256.c: the SHA-256 examples of FIPS 180-2 appendix B and the HMAC-SHA-256 test cases of
 * RFC 4231 section 4 (1 to 4, 6 and 7; case 5 tests truncation). Prints "ok" and exits 0 when all pass.
 * Public domain (CC0 1.0).
 */
#include "hmac_sha256.h"

#include <stdio.h>
#include <string.h>

static int hexeq(const unsigned char *got, size_t n, const char *want)
{
	char buf[2 * SHA256_SIZE + 1];
	for (size_t i = 0; i < n; i++)
		sprintf(buf + 2 * i, "%02x", got[i]);
	return strcmp(buf, want) == 0;
}

int main(void)
{
	int fail = 0;
	unsigned char out[SHA256_SIZE];
	struct sha256 s;
	static const struct { const char *msg; const char *want; } sha[] = {
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	for (size_t i = 0; i < sizeof sha / sizeof sha[0]; i++) {
		sha256_init(&s);
		/* byte by byte, to test the buffering too */
		for (const char *p = sha[i].msg; *p; p++)
			sha256_update(&s, p, 1);
		sha256_final(&s, out);
		if (!hexeq(out, SHA256_SIZE, sha[i].want)) {
			printf("sha256 %zu failed\n", i);
			fail = 1;
		}
	}
	/* A million 'a' (FIPS 180-2 B.3). */
	unsigned char a[1000];
	memset(a, 'a', sizeof a);
	sha256_init(&s);
	for (int i = 0; i < 1000; i++)
		sha256_update(&s, a, sizeof a);
	sha256_final(&s, out);
	if (!hexeq(out, SHA256_SIZE, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")) {
		printf("sha256 million a failed\n");
		fail = 1;
	}

	unsigned char k20[20], kaa[131], d50[50], k25[25], dcd[50];
	memset(k20, 0x0b, 20);
	memset(kaa, 0xaa, sizeof kaa);
	memset(d50, 0xdd, sizeof d50);
	for (int i = 0; i < 25; i++)
		k25[i] = (unsigned char)(i + 1);
	memset(dcd, 0xcd, sizeof dcd);
	static const char m6[] = "Test Using Larger Than Block-Size Key - Hash Key First";
	static const char m7[] = "This is a test using a larger than block-size key and a larger than block-size data. "
				 "The key needs to be hashed before being used by the HMAC algorithm.";
	struct { const unsigned char *key; size_t keylen; const unsigned char *msg; size_t len; const char *want; } h[] = {
		{ k20, 20, (const unsigned char *)"Hi There", 8,
		  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
		{ (const unsigned char *)"Jefe", 4, (const unsigned char *)"what do ya want for nothing?", 28,
		  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
		{ kaa, 20, d50, 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
		{ k25, 25, dcd, 50, "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
		{ kaa, 131, (const unsigned char *)m6, sizeof m6 - 1,
		  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
		{ kaa, 131, (const unsigned char *)m7, sizeof m7 - 1,
		  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
	};
	for (size_t i = 0; i < sizeof h / sizeof h[0]; i++) {
		hmac_sha256(h[i].key, h[i].keylen, h[i].msg, h[i].len, out);
		if (!hexeq(out, SHA256_SIZE, h[i].want)) {
			printf("hmac case %zu failed\n", i);
			fail = 1;
		}
	}
	if (!ct_equal((const unsigned char *)"abc", (const unsigned char *)"abc", 3) ||
	    ct_equal((const unsigned char *)"abc", (const unsigned char *)"abd", 3)) {
		printf("ct_equal failed\n");
		fail = 1;
	}
	if (!fail)
		printf("ok\n");
	return fail;
}
