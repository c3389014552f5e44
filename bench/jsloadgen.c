/*
 * jsloadgen: bench/loadgen.c with batched system calls, for bench/jsbench.sh.
 * It keeps INFLIGHT DATA messages (120 bytes, a fresh message ID each)
 * outstanding, as loadgen does, but reads the replies with one recvmmsg
 * (MSG_WAITFORONE: whatever has arrived, up to 64) and sends the same number
 * of new requests with one sendmmsg. The generator stands in for devices on
 * other machines; on the 2 vCPUs it shares with the broker and udpserver,
 * loadgen's recv and send per message take CPU the broker needs, and nats
 * bench, which it is compared with, batches its writes too (BENCHMARKS.md).
 * Output: the same line as loadgen's.
 *
 * Build: cc -O2 -o jsloadgen bench/jsloadgen.c
 * Run:   ./jsloadgen 127.0.0.1 9797 256 5
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define RING 65536
#define MAXSAMPLES (1 << 24)
#define BATCH 64

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

static unsigned char reqs[BATCH][120], bufs[BATCH][2048];
static struct mmsghdr out[BATCH], in[BATCH];
static struct iovec outv[BATCH], inv[BATCH];
static double sent_at[RING];
static float samples[MAXSAMPLES];
static uint64_t id;

/* sendn sends n fresh requests (n <= BATCH) at time t. */
static void sendn(int fd, int n, double t) {
	for (int i = 0; i < n; i++, id++) {
		for (int b = 0; b < 8; b++)
			reqs[i][8 + b] = id >> (56 - 8 * b);
		sent_at[id % RING] = t;
	}
	for (int done = 0; done < n;) {
		int k = sendmmsg(fd, out + done, n - done, 0);
		if (k < 0 && errno == ECONNREFUSED)
			continue; /* an earlier datagram found no server: keep offering the load */
		if (k <= 0) {
			perror("sendmmsg");
			exit(1);
		}
		done += k;
	}
}

int main(int argc, char **argv) {
	if (argc != 5) {
		fprintf(stderr, "usage: jsloadgen ADDR PORT INFLIGHT SECONDS\n");
		return 2;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		fprintf(stderr, "bad IPv4 address %s\n", argv[1]);
		return 2;
	}
	int inflight = atoi(argv[3]);
	double seconds = atof(argv[4]);
	if (inflight < 1) {
		fprintf(stderr, "bad INFLIGHT %s\n", argv[3]);
		return 2;
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror("connect");
		return 1;
	}
	struct timeval tv = {0, 200000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	for (int i = 0; i < BATCH; i++) {
		reqs[i][0] = 0xFA, reqs[i][1] = 0x4B, reqs[i][2] = 1, reqs[i][3] = 0x01;
		outv[i] = (struct iovec){reqs[i], sizeof reqs[i]};
		out[i].msg_hdr = (struct msghdr){.msg_iov = &outv[i], .msg_iovlen = 1};
		inv[i] = (struct iovec){bufs[i], sizeof bufs[i]};
		in[i].msg_hdr = (struct msghdr){.msg_iov = &inv[i], .msg_iovlen = 1};
	}
	long nsamples = 0, replies = 0, lost = 0, nacks = 0;
	id = ((uint64_t)time(NULL) << 32);
	for (int left = inflight; left > 0; left -= BATCH)
		sendn(fd, left < BATCH ? left : BATCH, now());
	double start = now(), end = start + seconds;
	for (;;) {
		int n = recvmmsg(fd, in, BATCH, MSG_WAITFORONE, NULL);
		double t = now();
		if (t > end)
			break;
		if (n <= 0) { /* timeout: the window was lost; refill it */
			lost += inflight;
			for (int left = inflight; left > 0; left -= BATCH)
				sendn(fd, left < BATCH ? left : BATCH, now());
			continue;
		}
		for (int i = 0; i < n; i++) {
			unsigned char *buf = bufs[i];
			if (in[i].msg_len < 16)
				continue; /* not a reply: still answered with a new request */
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
		}
		sendn(fd, n, t);
	}
	double el = now() - start;
	qsort(samples, nsamples, sizeof samples[0], cmp);
	printf("%.0f replies/s  p50 %.1f us  p99 %.1f us  lost %ld  nacks %ld  (%d in flight, %.1f s)\n", replies / el,
	       nsamples ? samples[nsamples / 2] : 0, nsamples ? samples[nsamples * 99 / 100] : 0, lost, nacks, inflight, el);
	return replies ? 0 : 1;
}
