#!/usr/bin/env python3
"""udpkit_send.py HOST PORT MESSAGE: send one udpkit DATA message and wait for its ACK or NACK.

Written from PROTOCOL.md alone, with the Python 3 standard library only. The message is sent with a random
64-bit message ID; the identical datagram is retransmitted with exponential back-off (200 ms times a jitter
factor in [1, 1.5), doubling, capped at 4 s, 6 transmissions in all) until an ACK or NACK with the same ID
arrives.

Prints one line on stdout: "acked (N attempts)", "rejected: NAME (code C): TEXT", "timed out after N attempts"
or "refused" (ICMP port unreachable: nothing listens on HOST PORT).
Exit status: 0 acked; 1 rejected, timed out or refused; 2 usage or local error.
"""

import os
import random
import socket
import struct
import sys
import time

MAGIC = b"\xfa\x4b"
VERSION = 1
DATA, ACK, NACK = 0x01, 0x02, 0x03
# magic, version, type, flags, code, key ID, message ID; big-endian, 16 bytes.
HEADER = struct.Struct(">2sBBBBHQ")
CODES = {1: "rejected", 2: "too large", 3: "unsupported", 4: "busy", 5: "rate limited"}

MAX_DATAGRAM = 1472  # default maximum datagram (PROTOCOL.md section 8)
ATTEMPTS = 6  # 1 transmission + 5 retransmissions
FIRST_TIMEOUT = 0.200  # seconds, times a jitter factor in [1, 1.5)
MAX_TIMEOUT = 4.0  # back-off cap, seconds


def parse_reply(b, msg_id):
    """Return (type, code, body) when b is a well-formed ACK or NACK for msg_id, otherwise None."""
    if len(b) < HEADER.size:
        return None
    magic, ver, typ, flags, code, key_id, mid = HEADER.unpack_from(b)
    body = b[HEADER.size:]
    # flags must be 0: we have no key, and an AUTH reply is dropped (PROTOCOL.md section 5).
    if magic != MAGIC or ver != VERSION or flags != 0 or key_id != 0 or mid != msg_id:
        return None
    if typ == ACK and code == 0 and not body:
        return typ, code, body
    if typ == NACK and code != 0:
        return typ, code, body
    return None


def exchange(sock, datagram, msg_id):
    """Send datagram until it is answered. Return (outcome, attempts, code, text)."""
    timeout = FIRST_TIMEOUT * (1.0 + 0.5 * random.random())
    for attempt in range(1, ATTEMPTS + 1):
        try:
            sock.send(datagram)
        except ConnectionRefusedError:
            return "refused", attempt, 0, b""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                b = sock.recv(65535)
            except socket.timeout:
                break
            except ConnectionRefusedError:
                return "refused", attempt, 0, b""
            reply = parse_reply(b, msg_id)
            if reply is None:
                continue  # not ours, a late duplicate or malformed: ignore it, never answer it
            typ, code, body = reply
            if typ == ACK:
                return "acked", attempt, 0, b""
            return "rejected", attempt, code, body
        timeout = min(timeout * 2, MAX_TIMEOUT)
    return "timed out", ATTEMPTS, 0, b""


def main(argv):
    if len(argv) != 4:
        print("usage: udpkit_send.py HOST PORT MESSAGE", file=sys.stderr)
        return 2
    host, port, message = argv[1], argv[2], os.fsencode(argv[3])
    if HEADER.size + len(message) > MAX_DATAGRAM:
        print("udpkit_send: message longer than %d bytes" % (MAX_DATAGRAM - HEADER.size), file=sys.stderr)
        return 2
    try:
        addrs = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as e:
        print("udpkit_send: %s %s: %s" % (host, port, e), file=sys.stderr)
        return 2

    msg_id = int.from_bytes(os.urandom(8), "big")
    datagram = HEADER.pack(MAGIC, VERSION, DATA, 0, 0, 0, msg_id) + message
    outcome, err = None, None
    for i, (family, kind, proto, _, addr) in enumerate(addrs):
        try:
            # A connected socket only sees datagrams from the server and reports ICMP port unreachable.
            with socket.socket(family, kind, proto) as sock:
                sock.connect(addr)
                outcome, attempts, code, text = exchange(sock, datagram, msg_id)
        except OSError as e:
            err = e
            continue
        if outcome != "refused" or i == len(addrs) - 1:
            break  # on "refused", try the next address of HOST (localhost: ::1, then 127.0.0.1)
    if outcome is None:
        print("udpkit_send: %s %s: %s" % (host, port, err), file=sys.stderr)
        return 2

    if outcome == "acked":
        print("acked (%d attempt%s)" % (attempts, "" if attempts == 1 else "s"))
        return 0
    if outcome == "rejected":
        name = CODES.get(code, "unknown")
        line = "rejected: %s (code %d)" % (name, code)
        if text:
            line += ": " + text.decode("utf-8", "replace")
        print(line)
    elif outcome == "timed out":
        print("timed out after %d attempts" % attempts)
    else:
        print("refused")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
