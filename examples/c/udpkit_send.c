/*
 * udpkit_send HOST PORT MESSAGE: send one udpkit DATA message and wait for its ACK or NACK.
 *
 * Written from PROTOCOL.md alone: C99 + POSIX, libc only.
 *
 *   cc -std=c99 -O2 -Wall -o udpkit_send udpkit_send.c
 *
 * The message goes out with a random 64-bit message ID; the identical datagram is retransmitted with
 * exponential back-off (200 ms times a jitter factor in [1, 1.5), doubling, capped at 4 s, 6 transmissions
 * in all) until an ACK or NACK with the same ID arrives.
 *
 * Prints one line on stdout: "acked (N attempts)", "rejected: NAME (code C): TEXT",
 * "timed out after N attempts" or "refused" (ICMP port unreachable: nothing listens on HOST PORT).
 * Exit status: 0 acked; 1 rejected, timed out or refused; 2 usage or local error.
 */
#define _POSIX_C_SOURCE 200809L

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

/*
 * exchange sends the datagram dg (whose bytes 8..15 are the message ID) on the connected socket fd until an
 * ACK or NACK with the same ID arrives. It sets *attempts, and *code and text for a NACK.
 */
static enum outcome exchange(int fd, const unsigned char *dg, size_t n, int *attempts, int *code, char *text,
			     size_t textcap)
{
	static unsigned char buf[65536];
	long long timeout = FIRST_TIMEOUT_MS * (1000 + (long long)(rnd64() % 500)) / 1000; /* x [1, 1.5) */

	for (int a = 1; a <= ATTEMPTS; a++) {
		*attempts = a;
		if (send(fd, dg, n, 0) < 0)
			return errno == ECONNREFUSED ? REFUSED : FAILED;
		long long deadline = now_ms() + timeout;
		for (;;) {
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
			 * magic, version 1, flags 0 (no AUTH: we have no key), key ID 0, same message ID. */
			if (m < HDR || buf[0] != 0xFA || buf[1] != 0x4B || buf[2] != 1 || buf[4] != 0 || buf[6] != 0 ||
			    buf[7] != 0 || memcmp(buf + 8, dg + 8, 8) != 0)
				continue;
			if (buf[3] == T_ACK && buf[5] == 0 && m == HDR)
				return ACKED;
			if (buf[3] == T_NACK && buf[5] != 0) {
				size_t k = (size_t)m - HDR < textcap - 1 ? (size_t)m - HDR : textcap - 1;
				for (size_t i = 0; i < k; i++) /* keep the terminal safe */
					text[i] = buf[HDR + i] < 0x20 || buf[HDR + i] == 0x7f ? '?' : (char)buf[HDR + i];
				text[k] = '\0';
				*code = buf[5];
				return REJECTED;
			}
		}
		timeout = timeout * 2 > MAX_TIMEOUT_MS ? MAX_TIMEOUT_MS : timeout * 2;
	}
	return TIMED_OUT;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: udpkit_send HOST PORT MESSAGE\n");
		return 2;
	}
	size_t len = strlen(argv[3]);
	if (HDR + len > MAX_DATAGRAM) {
		fprintf(stderr, "udpkit_send: message longer than %d bytes\n", MAX_DATAGRAM - HDR);
		return 2;
	}

	/* Header: magic FA 4B, version 1, type DATA, flags 0, code 0, key ID 0, message ID (big-endian). */
	unsigned char dg[MAX_DATAGRAM] = { 0xFA, 0x4B, 1, T_DATA, 0, 0, 0, 0 };
	uint64_t id = rnd64();
	for (int i = 0; i < 8; i++)
		dg[8 + i] = (unsigned char)(id >> (56 - 8 * i));
	memcpy(dg + HDR, argv[3], len);

	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM }, *res;
	int gai = getaddrinfo(argv[1], argv[2], &hints, &res);
	if (gai != 0) {
		fprintf(stderr, "udpkit_send: %s %s: %s\n", argv[1], argv[2], gai_strerror(gai));
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
		out = exchange(fd, dg, HDR + len, &attempts, &code, text, sizeof text);
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
		printf("rejected: %s (code %d)%s%s\n", code_name(code), code, text[0] ? ": " : "", text);
		return 1;
	case TIMED_OUT:
		printf("timed out after %d attempts\n", attempts);
		return 1;
	case REFUSED:
		printf("refused\n");
		return 1;
	default:
		fprintf(stderr, "udpkit_send: %s %s: %s\n", argv[1], argv[2], strerror(err));
		return 2;
	}
}
