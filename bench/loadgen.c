/*
 * loadgen: a closed-loop udpkit load generator in C, so that the servers in
 * BENCHMARKS.md are measured with a client that is not itself the limit.
 * It keeps INFLIGHT DATA messages (120 bytes, a fresh message ID each)
 * outstanding and answers each reply with a new request, for SECONDS, then
 * prints replies (ACKs and PONGs) per second and their round-trip p50/p99 in
 * microseconds, and how many NACKs came (they keep the loop going but are
 * not counted as replies: a server that refuses is not acknowledging).
 *
 * Build: cc -O2 -o loadgen bench/loadgen.c
 * Run:   ./loadgen 127.0.0.1 9797 64 5
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define RING 65536
#define MAXSAMPLES (1 << 24)

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv) {
	if (argc != 5) {
		fprintf(stderr, "usage: loadgen ADDR PORT INFLIGHT SECONDS\n");
		return 2;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		fprintf(stderr, "bad IPv4 address %s\n", argv[1]);
		return 2;
	}
	int inflight = atoi(argv[3]);
	double seconds = atof(argv[4]);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror("connect");
		return 1;
	}
	struct timeval tv = {0, 200000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	static double sent_at[RING];
	static float samples[MAXSAMPLES];
	long nsamples = 0, replies = 0, lost = 0, nacks = 0;
	unsigned char req[120] = {0xFA, 0x4B, 1, 0x01}, buf[2048];
	uint64_t id = ((uint64_t)time(NULL) << 32);
	for (int i = 0; i < inflight; i++, id++) {
		for (int b = 0; b < 8; b++)
			req[8 + b] = id >> (56 - 8 * b);
		sent_at[id % RING] = now();
		send(fd, req, sizeof req, 0);
	}
	double start = now(), end = start + seconds;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		double t = now();
		if (t > end)
			break;
		if (n < 16) { /* timeout: the window was lost; refill it */
			lost += inflight;
			for (int i = 0; i < inflight; i++, id++) {
				for (int b = 0; b < 8; b++)
					req[8 + b] = id >> (56 - 8 * b);
				sent_at[id % RING] = now();
				send(fd, req, sizeof req, 0);
			}
			continue;
		}
		uint64_t rid = 0;
		for (int b = 0; b < 8; b++)
			rid = rid << 8 | buf[8 + b];
		if (buf[3] == 0x03) { /* NACK: answered, but not acknowledged */
			nacks++;
		} else {
			replies++;
			if (nsamples < MAXSAMPLES)
				samples[nsamples++] = (float)((t - sent_at[rid % RING]) * 1e6);
		}
		for (int b = 0; b < 8; b++)
			req[8 + b] = id >> (56 - 8 * b);
		sent_at[id % RING] = t;
		id++;
		send(fd, req, sizeof req, 0);
	}
	double el = now() - start;
	qsort(samples, nsamples, sizeof samples[0], cmp);
	printf("%.0f replies/s  p50 %.1f us  p99 %.1f us  lost %ld  nacks %ld  (%d in flight, %.1f s)\n", replies / el,
	       nsamples ? samples[nsamples / 2] : 0, nsamples ? samples[nsamples * 99 / 100] : 0, lost, nacks, inflight, el);
	return replies ? 0 : 1;
}
