/*
 * SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104), small and portable C99, for the udpkit device example.
 *
 * Written for udpkit from FIPS 180-4 and RFC 2104; tested against the FIPS 180-2 examples and RFC 4231.
 * Public domain: to the extent possible under law, the authors waive all copyright and related rights to
 * hmac_sha256.h and hmac_sha256.c (CC0 1.0, https://creativecommons.org/publicdomain/zero/1.0/). Copy them
 * into a device firmware freely. A device SDK's own SHA-256 (mbedTLS, wolfSSL, ESP-IDF, ...) works as well.
 */
#ifndef UDPKIT_HMAC_SHA256_H
#define UDPKIT_HMAC_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_SIZE 32
#define SHA256_BLOCK 64

struct sha256 {
	uint32_t h[8];
	uint64_t len; /* bytes hashed so far */
	unsigned char buf[SHA256_BLOCK];
	size_t n; /* bytes in buf */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
void sha256_final(struct sha256 *s, unsigned char out[SHA256_SIZE]);

/* hmac_sha256 computes HMAC-SHA-256(key, msg) into out. */
void hmac_sha256(const unsigned char *key, size_t keylen, const unsigned char *msg, size_t len,
		 unsigned char out[SHA256_SIZE]);

/* ct_equal compares n bytes in constant time: 1 if equal, 0 if not. */
int ct_equal(const unsigned char *a, const unsigned char *b, size_t n);

#endif
