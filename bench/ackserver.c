/*
 * ackserver: the practical limit that udpkit's server is measured against
 * (BENCHMARKS.md). A C recvmmsg/sendmmsg loop that answers every udpkit DATA
 * datagram with its 16-byte ACK and every PING with its PONG, with no
 * de-duplication, no handler and no checks beyond the header's magic,
 * version and type: what a server without any of udpkit's guarantees costs.
 *
 * Build: cc -O2 -o ackserver bench/ackserver.c
 * Run:   ./ackserver 127.0.0.1 9797
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BATCH 64
#define BUFSZ 2048

int main(int argc, char **argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: ackserver ADDR PORT\n");
		return 2;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		fprintf(stderr, "bad IPv4 address %s\n", argv[1]);
		return 2;
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		perror("bind");
		return 1;
	}
	static char bufs[BATCH][BUFSZ];
	static struct sockaddr_in peers[BATCH];
	struct iovec iov[BATCH], oiov[BATCH];
	struct mmsghdr in[BATCH], out[BATCH];
	for (;;) {
		for (int i = 0; i < BATCH; i++) {
			iov[i] = (struct iovec){bufs[i], BUFSZ};
			in[i].msg_hdr = (struct msghdr){.msg_name = &peers[i], .msg_namelen = sizeof peers[i],
			                                .msg_iov = &iov[i], .msg_iovlen = 1};
		}
		int n = recvmmsg(fd, in, BATCH, MSG_WAITFORONE, NULL);
		if (n < 0) {
			perror("recvmmsg");
			continue;
		}
		int m = 0;
		for (int i = 0; i < n; i++) {
			unsigned char *b = (unsigned char *)bufs[i];
			unsigned len = in[i].msg_len;
			if (len < 16 || b[0] != 0xFA || b[1] != 0x4B || b[2] != 1)
				continue;
			size_t rlen;
			if (b[3] == 0x01) { /* DATA -> ACK, header only */
				b[3] = 0x02;
				rlen = 16;
			} else if (b[3] == 0x04) { /* PING -> PONG, same body */
				b[3] = 0x05;
				rlen = len;
			} else {
				continue;
			}
			oiov[m] = (struct iovec){b, rlen};
			out[m].msg_hdr = (struct msghdr){.msg_name = &peers[i], .msg_namelen = in[i].msg_hdr.msg_namelen,
			                                 .msg_iov = &oiov[m], .msg_iovlen = 1};
			m++;
		}
		for (int sent = 0; sent < m;) {
			int k = sendmmsg(fd, out + sent, m - sent, 0);
			if (k <= 0)
				break;
			sent += k;
		}
	}
}
