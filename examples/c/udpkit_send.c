/*
 * udpkit_send [--key-file FILE] HOST PORT MESSAGE: send one udpkit DATA message and wait for its ACK or NACK.
 *
 * Written from PROTOCOL.md alone: C99 + POSIX, libc only (SHA-256 and HMAC from hmac_sha256.c, public domain).
 *
 *   cc -std=c99 -O2 -Wall -o udpkit_send udpkit_send.c hmac_sha256.c
 *
 * With a key file (--key-file FILE, or $UDPKIT_KEY_FILE), every datagram is authenticated (PROTOCOL.md
 * section 5): sealed with the file's current key under a random sender ID, counter 1, 2, ... (a retransmission
 * is sealed again), and only replies authenticated with one of the file's keys, fresh within 30 s of this
 * machine's clock, are accepted. "udpkit_send --key-file FILE --vector ID:SENDER:COUNTER:TIME MESSAGE" prints
 * the first datagram it would send with those values (hex; ID and SENDER in hex, COUNTER and TIME in
 * decimal, TIME in ms since 1970) and exits: compare it with testdata/auth/vectors.txt. "--id HEX" fixes the
 * message ID instead of drawing it (tests compare the datagrams with testdata/vectors.txt).
 *
 * The message goes out with a random 64-bit message ID; the identical datagram is retransmitted with
 * exponential back-off (200 ms times a jitter factor in [1, 1.5), doubling, capped at 4 s, 6 transmissions
 * in all) until an ACK or NACK with the same ID arrives. A NACK "busy" or "rate limited" is not final: the
 * client keeps retransmitting within those 6 transmissions (PROTOCOL.md section 2).
 *
 * Cookies (PROTOCOL.md section 3.1, without a key only): a server under a flood may answer with a NACK
 * "rate limited" that carries an 8-byte cookie (flag COOKIE) to check that this client receives at its
 * address. The client then sends the same message at once with flag COOKIE and the cookie after the body,
 * and so every further transmission, so that datagrams forged with this device's address cannot lock it out.
 *
 * Prints one line on stdout: "acked (N attempts)", "rejected: NAME (code C): TEXT" (for busy and rate
 * limited: "rejected: NAME (code C) after N attempts: TEXT"),
 * "timed out after N attempts" or "refused" (ICMP port unreachable: nothing listens on HOST PORT).
 * Exit status: 0 acked; 1 rejected, timed out or refused; 2 usage or local error.
 */
#define _POSIX_C_SOURCE 200809L

#include "hmac_sha256.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

enum { HDR = 16, MAX_DATAGRAM = 1472, ATTEMPTS = 6, FIRST_TIMEOUT_MS = 200, MAX_TIMEOUT_MS = 4000 };
enum { F_AUTH = 0x01, F_COOKIE = 0x02, COOKIE_LEN = 8, TRAILER = 40, TAG = 16, SECRET = 32, MAX_KEYS = 3, SKEW_MS = 30000 };
enum { T_DATA = 0x01, T_ACK = 0x02, T_NACK = 0x03 };
enum outcome { ACKED, REJECTED, TIMED_OUT, REFUSED, FAILED };

static const char *code_name(int code)
{
	static const char *names[] = { "?", "rejected", "too large", "unsupported", "busy", "rate limited" };
	return code >= 1 && code <= 5 ? names[code] : "unknown";
}

/* rnd64 returns 64 random bits from /dev/urandom, or a weaker clock-and-pid mix if it cannot be read. */
static uint64_t rnd64(void)
{
	uint64_t v = 0;
	FILE *f = fopen("/dev/urandom", "rb");
	if (f == NULL || fread(&v, sizeof v, 1, f) != 1) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		v = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16);
		v *= 0x9E3779B97F4A7C15u;
	}
	if (f != NULL)
		fclose(f);
	return v;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* wall_ms is the time field of PROTOCOL.md section 5: milliseconds since 1970 UTC. */
static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (56 - 8 * i));
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The keys of a udpkit key file: "ROLE ID SECRET" lines; the current key signs, all of them verify. */
struct key {
	unsigned id;
	unsigned char secret[SECRET];
};
struct keyring {
	struct key keys[MAX_KEYS];
	int n, current;
};

/* unhex decodes 64 hex digits into 32 bytes. */
static int unhex(const char *s, unsigned char *out)
{
	if (strlen(s) != 2 * SECRET)
		return -1;
	for (int i = 0; i < SECRET; i++) {
		unsigned v = 0;
		for (int j = 0; j < 2; j++) {
			int c = tolower((unsigned char)s[2 * i + j]);
			if (!isxdigit(c))
				return -1;
			v = v << 4 | (unsigned)(isdigit(c) ? c - '0' : c - 'a' + 10);
		}
		out[i] = (unsigned char)v;
	}
	return 0;
}

/* unbase64 decodes base64 (standard or URL alphabet, padding optional) of exactly 32 bytes. */
static int unbase64(const char *s, unsigned char *out)
{
	size_t len = strlen(s), n = 0;
	uint32_t acc = 0;
	int bits = 0;
	while (len > 0 && s[len - 1] == '=')
		len--;
	if (len != 43)
		return -1; /* 32 bytes are 43 characters without padding */
	for (size_t i = 0; i < len; i++) {
		const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
		const char *p = strchr(tab, s[i]);
		int v = p && s[i] ? (int)(p - tab) : s[i] == '+' || s[i] == '-' ? 62 : s[i] == '/' || s[i] == '_' ? 63 : -1;
		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	return n == SECRET ? 0 : -1;
}

/* load_keys reads a key file; on error it prints why on stderr and returns -1. */
static int load_keys(const char *path, struct keyring *kr)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, "udpkit_send: %s: %s\n", path, strerror(errno));
		return -1;
	}
	char line[512];
	int lineno = 0, err = 0;
	kr->n = 0;
	kr->current = -1;
	while (!err && fgets(line, sizeof line, f) != NULL) {
		lineno++;
		char *hash = strchr(line, '#'), role[16], id[16], secret[128], extra[2];
		if (hash != NULL)
			*hash = '\0';
		int k = sscanf(line, "%15s %15s %127s %1s", role, id, secret, extra);
		if (k <= 0)
			continue; /* blank or comment */
		char *end;
		unsigned long v = strtoul(id, &end, 10);
		struct key *key = &kr->keys[kr->n];
		int is_current = strcmp(role, "current") == 0;
		if (k != 3 || (!is_current && strcmp(role, "previous") != 0 && strcmp(role, "next") != 0) ||
		    !isdigit((unsigned char)id[0]) || *end != '\0' || v > 65535 || kr->n == MAX_KEYS ||
		    (is_current && kr->current >= 0) || (unhex(secret, key->secret) != 0 && unbase64(secret, key->secret) != 0)) {
			fprintf(stderr, "udpkit_send: %s:%d: want ROLE ID SECRET (current, previous or next; 0-65535; "
					"32 bytes in hex or base64), one current key, at most %d keys\n",
				path, lineno, MAX_KEYS);
			err = 1;
			break;
		}
		key->id = (unsigned)v;
		if (is_current)
			kr->current = kr->n;
		kr->n++;
	}
	fclose(f);
	if (!err && kr->current < 0) {
		fprintf(stderr, "udpkit_send: %s: no current key\n", path);
		err = 1;
	}
	return err ? -1 : 0;
}

static const struct key *find_key(const struct keyring *kr, unsigned id)
{
	for (int i = 0; i < kr->n; i++)
		if (kr->keys[i].id == id)
			return &kr->keys[i];
	return NULL;
}

/*
 * seal authenticates the n-byte datagram plain into out (PROTOCOL.md section 5): the AUTH flag and the key ID in
 * the header, then sender, counter and time after the body, then the first 16 bytes of
 * HMAC-SHA-256(secret, all of that). It returns the length, n + 40.
 */
static size_t seal(unsigned char *out, const unsigned char *plain, size_t n, const struct key *k, uint64_t sender,
		   uint64_t counter, uint64_t time_ms)
{
	unsigned char mac[SHA256_SIZE];
	memcpy(out, plain, n);
	out[4] |= F_AUTH;
	out[6] = (unsigned char)(k->id >> 8);
	out[7] = (unsigned char)k->id;
	put64(out + n, sender);
	put64(out + n + 8, counter);
	put64(out + n + 16, time_ms);
	hmac_sha256(k->secret, SECRET, out, n + 24, mac);
	memcpy(out + n + 24, mac, TAG);
	return n + TRAILER;
}

/*
 * opened checks an authenticated reply of m bytes: a key of kr, the tag (in constant time) and the time within
 * SKEW_MS of this machine's clock. It returns the length of the body, or -1 to ignore the datagram.
 */
static long opened(const struct keyring *kr, const unsigned char *b, size_t m)
{
	unsigned char mac[SHA256_SIZE];
	if (m < HDR + TRAILER || b[4] != F_AUTH)
		return -1;
	const struct key *k = find_key(kr, (unsigned)b[6] << 8 | b[7]);
	if (k == NULL)
		return -1;
	hmac_sha256(k->secret, SECRET, b, m - TAG, mac);
	if (!ct_equal(mac, b + m - TAG, TAG))
		return -1;
	uint64_t t = get64(b + m - 24), now = wall_ms();
	if (t + SKEW_MS < now || t > now + SKEW_MS)
		return -1;
	return (long)(m - HDR - TRAILER);
}

/* A NACK "busy" or "rate limited" is not final (PROTOCOL.md section 2): the client retransmits after it. */
static int transient(int code)
{
	return code == 4 || code == 5;
}

/*
 * exchange sends the datagram plain (whose bytes 8..15 are the message ID) on the connected socket fd until an
 * ACK or NACK with the same ID arrives. With a keyring kr, each transmission is sealed again with the next counter
 * of sender, and only authenticated replies count. Without one, a cookie NACK (PROTOCOL.md section 3.1) is
 * answered at once by the same message with the cookie echoed, and so is every later transmission; a message too
 * short to draw a cookie asks for one with the placeholder on every second transmission (at once after a NACK "busy" or "rate limited"). A NACK "busy"
 * or "rate limited" without a cookie is a sign of congestion, not an answer: the client waits its current timeout
 * again and retransmits, and reports that NACK only when its 6 transmissions are spent. It sets *attempts, and
 * *code and text for a NACK.
 */
static enum outcome exchange(int fd, const unsigned char *plain, size_t n, const struct keyring *kr, uint64_t sender,
			     int *attempts, int *code, char *text, size_t textcap)
{
	static unsigned char buf[65536], dg[MAX_DATAGRAM];
	unsigned char cookie[COOKIE_LEN];
	int have_cookie = 0, nacked = 0;
	long long timeout = FIRST_TIMEOUT_MS * (1000 + (long long)(rnd64() % 500)) / 1000; /* x [1, 1.5) */

	for (int a = 1; a <= ATTEMPTS; a++) {
		int resend = 0, nacked_now = 0;
		*attempts = a;
		size_t dn = n;
		memcpy(dg, plain, n);
		if (kr != NULL) {
			dn = seal(dg, plain, n, &kr->keys[kr->current], sender, (uint64_t)a, wall_ms());
		} else if (have_cookie) {
			/* Echo: flag COOKIE, the body unchanged, the newest cookie after it (section 3.1). */
			dg[4] = F_COOKIE;
			memcpy(dg + n, cookie, COOKIE_LEN);
			dn = n + COOKIE_LEN;
		} else if (n < HDR + COOKIE_LEN && a % 2 == 0) {
			/* Too short to draw a cookie (section 3.1, "Short messages"): every second transmission asks
			 * for one with the placeholder, 8 zero bytes; the others stay plain, for a server that
			 * predates cookies. */
			dg[4] = F_COOKIE;
			memset(dg + n, 0, COOKIE_LEN);
			dn = n + COOKIE_LEN;
		}
		if (send(fd, dg, dn, 0) < 0)
			return errno == ECONNREFUSED ? REFUSED : FAILED;
		long long deadline = now_ms() + timeout;
		while (!resend) {
			long long left = deadline - now_ms();
			if (left <= 0)
				break;
			struct pollfd p = { .fd = fd, .events = POLLIN };
			int r = poll(&p, 1, (int)left);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return FAILED;
			if (r == 0)
				break;
			ssize_t m = recv(fd, buf, sizeof buf, 0);
			if (m < 0) {
				if (errno == ECONNREFUSED)
					return REFUSED;
				if (errno == EINTR || errno == EAGAIN)
					continue;
				return FAILED;
			}
			/* Ignore anything that is not a well-formed reply to this message (never answer it):
			 * magic, version 1, same message ID; without a key flags 0 and key ID 0 (an AUTH reply cannot
			 * be checked) or a cookie NACK, with keys an authentic, fresh reply (PROTOCOL.md section 5;
			 * a cookie NACK is never authenticated, so a keyed client ignores it). */
			if (m < HDR || buf[0] != 0xFA || buf[1] != 0x4B || buf[2] != 1 || memcmp(buf + 8, plain + 8, 8) != 0)
				continue;
			long body = (long)m - HDR;
			if (kr != NULL) {
				body = opened(kr, buf, (size_t)m);
			} else if (buf[3] == T_NACK && buf[4] == F_COOKIE && buf[5] == 5 && buf[6] == 0 && buf[7] == 0 &&
				   m == HDR + COOKIE_LEN) {
				/* Cookie NACK: the whole body is the cookie. A new one is echoed at once (that retry
				 * replaces the wait after a NACK "rate limited"); the same one again proved nothing
				 * new, so wait as after a loss. No room for it after the body: the same. */
				if ((!have_cookie || memcmp(cookie, buf + HDR, COOKIE_LEN) != 0) && n + COOKIE_LEN <= MAX_DATAGRAM) {
					memcpy(cookie, buf + HDR, COOKIE_LEN);
					have_cookie = resend = 1;
				}
				continue;
			} else if (buf[4] != 0 || buf[6] != 0 || buf[7] != 0) {
				body = -1;
			}
			if (body < 0)
				continue;
			if (buf[3] == T_ACK && buf[5] == 0 && body == 0)
				return ACKED;
			if (buf[3] == T_NACK && buf[5] != 0) {
				size_t k = (size_t)body < textcap - 1 ? (size_t)body : textcap - 1;
				for (size_t i = 0; i < k; i++) /* keep the terminal safe */
					text[i] = buf[HDR + i] < 0x20 || buf[HDR + i] == 0x7f ? '?' : (char)buf[HDR + i];
				text[k] = '\0';
				*code = buf[5];
				if (!transient(*code) || a == ATTEMPTS)
					return REJECTED;
				if (kr == NULL && !have_cookie && n < HDR + COOKIE_LEN && a % 2 == 1) {
					resend = 1; /* the next transmission, with the placeholder, at once */
					continue;
				}
				/* Retransmit no sooner than the current timeout after this NACK (once per transmission,
				 * so that repeated NACKs cannot hold the client forever). */
				if (!nacked_now)
					deadline = now_ms() + timeout;
				nacked = nacked_now = 1;
			}
		}
		if (!resend)
			timeout = timeout * 2 > MAX_TIMEOUT_MS ? MAX_TIMEOUT_MS : timeout * 2;
	}
	return nacked ? REJECTED : TIMED_OUT;
}

static int usage(void)
{
	fprintf(stderr, "usage: udpkit_send [--key-file FILE] [--id HEX] HOST PORT MESSAGE\n"
			"       udpkit_send --key-file FILE --vector ID:SENDER:COUNTER:TIME MESSAGE\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *keyfile = getenv("UDPKIT_KEY_FILE"), *vector = NULL, *fixed_id = NULL;
	int i = 1;
	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--key-file") == 0)
			keyfile = argv[i + 1];
		else if (strcmp(argv[i], "--vector") == 0)
			vector = argv[i + 1];
		else if (strcmp(argv[i], "--id") == 0)
			fixed_id = argv[i + 1];
		else
			return usage();
	}
	if (keyfile != NULL && keyfile[0] == '\0')
		keyfile = NULL;
	if ((vector == NULL && argc - i != 3) || (vector != NULL && (argc - i != 1 || keyfile == NULL)))
		return usage();
	const char *message = argv[argc - 1];
	struct keyring keys, *kr = NULL;
	if (keyfile != NULL) {
		if (load_keys(keyfile, &keys) != 0)
			return 2;
		kr = &keys;
	}
	size_t len = strlen(message), room = MAX_DATAGRAM - HDR - (kr != NULL ? TRAILER : 0);
	if (len > room) {
		fprintf(stderr, "udpkit_send: message longer than %zu bytes\n", room);
		return 2;
	}

	/* Header: magic FA 4B, version 1, type DATA, flags 0, code 0, key ID 0, message ID (big-endian). */
	unsigned char dg[MAX_DATAGRAM] = { 0xFA, 0x4B, 1, T_DATA, 0, 0, 0, 0 };
	uint64_t id = rnd64(), sender = 0;
	if (fixed_id != NULL) {
		/* --id HEX: a fixed message ID (1 to 16 hex digits), for tests against golden vectors. */
		char *end;
		errno = 0;
		unsigned long long v = strtoull(fixed_id, &end, 16);
		if (!isxdigit((unsigned char)fixed_id[0]) || *end != '\0' || errno != 0 || strlen(fixed_id) > 16)
			return usage();
		id = v;
	}
	while (sender == 0)
		sender = rnd64(); /* a new sender ID for every run: its counters start again at 1 */
	if (vector != NULL) {
		unsigned long long vid, vsender, vcounter, vtime;
		char extra;
		if (sscanf(vector, "%llx:%llx:%llu:%llu%c", &vid, &vsender, &vcounter, &vtime, &extra) != 4)
			return usage();
		put64(dg + 8, vid);
		memcpy(dg + HDR, message, len);
		unsigned char out[MAX_DATAGRAM];
		size_t n = seal(out, dg, HDR + len, &kr->keys[kr->current], vsender, vcounter, vtime);
		for (size_t j = 0; j < n; j++)
			printf("%02x", out[j]);
		printf("\n");
		return 0;
	}
	put64(dg + 8, id);
	memcpy(dg + HDR, message, len);
	const char *host = argv[i], *port = argv[i + 1];

	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM }, *res;
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0) {
		fprintf(stderr, "udpkit_send: %s %s: %s\n", host, port, gai_strerror(gai));
		return 2;
	}
	enum outcome out = FAILED;
	int attempts = 0, code = 0, err = 0;
	char text[MAX_DATAGRAM];
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		/* A connected socket only sees the server's datagrams and reports ICMP port unreachable. */
		int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			err = errno;
			if (fd >= 0)
				close(fd);
			continue;
		}
		out = exchange(fd, dg, HDR + len, kr, sender, &attempts, &code, text, sizeof text);
		err = errno;
		close(fd);
		if (out != REFUSED && out != FAILED)
			break; /* on "refused", try the next address of HOST (localhost: ::1, then 127.0.0.1) */
	}
	freeaddrinfo(res);

	switch (out) {
	case ACKED:
		printf("acked (%d attempt%s)\n", attempts, attempts == 1 ? "" : "s");
		return 0;
	case REJECTED:
		if (transient(code)) /* not final: it came after the last of the 6 transmissions */
			printf("rejected: %s (code %d) after %d attempts%s%s\n", code_name(code), code, attempts,
			       text[0] ? ": " : "", text);
		else
			printf("rejected: %s (code %d)%s%s\n", code_name(code), code, text[0] ? ": " : "", text);
		return 1;
	case TIMED_OUT:
		printf("timed out after %d attempts\n", attempts);
		return 1;
	case REFUSED:
		printf("refused\n");
		return 1;
	default:
		fprintf(stderr, "udpkit_send: %s %s: %s\n", host, port, strerror(err));
		return 2;
	}
}
