#!/usr/bin/env python3
"""udpkit_send.py [--key-file FILE] HOST PORT MESSAGE: send one udpkit DATA message and wait for its ACK or NACK.

Written from PROTOCOL.md alone, with the Python 3 standard library only. The message is sent with a random
64-bit message ID; the identical datagram is retransmitted with exponential back-off (200 ms times a jitter
factor in [1, 1.5), doubling, capped at 4 s, 6 transmissions in all) until an ACK or NACK with the same ID
arrives. A NACK "busy" or "rate limited" is not final: the client keeps retransmitting within those 6
transmissions (PROTOCOL.md section 2).

Cookies (PROTOCOL.md section 3.1, without a key only): a server under a flood may answer with a NACK "rate
limited" that carries an 8-byte cookie (flag COOKIE) to check that this client receives at its address. The client
then sends the same message at once with flag COOKIE and the cookie after the body, and so every further
transmission, so that datagrams forged with this device's address cannot lock it out.

With a key file (--key-file FILE, or $UDPKIT_KEY_FILE), every datagram is authenticated (PROTOCOL.md section 5):
sealed with the file's current key under a random sender ID, counter 1, 2, ... (a retransmission is sealed
again), and only replies authenticated with one of the file's keys, fresh within 30 s of this machine's clock, are
accepted. "udpkit_send.py --key-file FILE --vector ID:SENDER:COUNTER:TIME MESSAGE" prints the first datagram it
would send with those values (hex; ID and SENDER in hex, COUNTER and TIME in decimal, TIME in ms since 1970) and
exits: compare it with testdata/auth/vectors.txt. "--id HEX" fixes the message ID instead of drawing it (tests
compare the datagrams with testdata/vectors.txt).

Prints one line on stdout: "acked (N attempts)", "rejected: NAME (code C): TEXT" (for busy and rate limited:
"rejected: NAME (code C) after N attempts: TEXT"), "timed out after N attempts"
or "refused" (ICMP port unreachable: nothing listens on HOST PORT).
Exit status: 0 acked; 1 rejected, timed out or refused; 2 usage or local error.
"""

import base64
import binascii
import hashlib
import hmac
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
AUTH = 0x01  # flags bit 0
COOKIE = 0x02  # flags bit 1: an 8-byte cookie ends the datagram (PROTOCOL.md section 3.1)
COOKIE_LEN = 8
RATE_LIMITED = 5
TRAILER = struct.Struct(">QQQ")  # sender, counter, time (ms); the 16-byte tag follows
TAG = 16
SKEW = 30.0  # seconds a reply's time may be from this machine's clock
FIRST_TIMEOUT = 0.200  # seconds, times a jitter factor in [1, 1.5)
MAX_TIMEOUT = 4.0  # back-off cap, seconds


class KeyFileError(Exception):
    pass


def load_keys(path):
    """Read a udpkit key file ("ROLE ID SECRET" lines). Return (current key ID, {key ID: secret})."""
    keys, current = {}, None
    with open(path) as f:
        for n, line in enumerate(f, 1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            try:
                role, kid, secret = fields
                kid = int(kid, 10)
                if role not in ("current", "previous", "next") or not 0 <= kid <= 65535 or kid in keys:
                    raise ValueError
                if len(secret) == 64:
                    key = bytes.fromhex(secret)
                else:
                    key = base64.b64decode(secret.replace("-", "+").replace("_", "/") + "=" * (-len(secret) % 4), validate=True)
                if len(key) != 32 or (role == "current" and current is not None):
                    raise ValueError
            except (ValueError, binascii.Error):
                raise KeyFileError("%s:%d: want ROLE ID SECRET (current, previous or next; 0-65535; 32 bytes in hex "
                                   "or base64), one current key" % (path, n))
            keys[kid] = key
            if role == "current":
                current = kid
    if current is None:
        raise KeyFileError("%s: no current key" % path)
    return current, keys


def seal(plain, key_id, secret, sender, counter, time_ms):
    """Authenticate the datagram plain (PROTOCOL.md section 5): the AUTH flag and the key ID in the header, sender,
    counter and time after the body, then the first 16 bytes of HMAC-SHA-256(secret, all of that)."""
    b = bytearray(plain)
    b[4] |= AUTH
    b[6:8] = key_id.to_bytes(2, "big")
    b += TRAILER.pack(sender, counter, time_ms)
    return bytes(b + hmac.new(secret, b, hashlib.sha256).digest()[:TAG])


def opened(b, keys):
    """Return the body of the authenticated reply b when its key, tag and time are right, otherwise None."""
    if len(b) < HEADER.size + TRAILER.size + TAG or b[4] != AUTH:
        return None
    secret = keys.get(int.from_bytes(b[6:8], "big"))
    if secret is None:
        return None
    if not hmac.compare_digest(hmac.new(secret, b[:-TAG], hashlib.sha256).digest()[:TAG], b[-TAG:]):
        return None
    _, _, t = TRAILER.unpack_from(b, len(b) - TAG - TRAILER.size)
    if abs(t / 1000.0 - time.time()) > SKEW:
        return None
    return b[HEADER.size:len(b) - TAG - TRAILER.size]


def parse_reply(b, msg_id, keys):
    """Return (type, code, body) when b is a well-formed ACK or NACK for msg_id, otherwise None. With keys, only an
    authentic fresh reply counts; without, flags and key ID must be 0 (an AUTH reply cannot be checked)."""
    if len(b) < HEADER.size:
        return None
    magic, ver, typ, flags, code, key_id, mid = HEADER.unpack_from(b)
    if magic != MAGIC or ver != VERSION or mid != msg_id:
        return None
    if keys:
        body = opened(b, keys)
        if body is None:
            return None
    elif flags == COOKIE and typ == NACK and code == RATE_LIMITED and key_id == 0 and len(b) == HEADER.size + COOKIE_LEN:
        return "cookie", code, b[HEADER.size:]  # the server wants it echoed (section 3.1)
    elif flags != 0 or key_id != 0:
        return None
    else:
        body = b[HEADER.size:]
    if typ == ACK and code == 0 and not body:
        return typ, code, body
    if typ == NACK and code != 0:
        return typ, code, body
    return None


TRANSIENT = (4, 5)  # NACK "busy" and "rate limited" are not final (PROTOCOL.md section 2)


def exchange(sock, plain, msg_id, key):
    """Send datagram plain until it is answered; with key (current ID, keys, sender ID) seal each transmission
    with the next counter. Without a key, a cookie NACK (PROTOCOL.md section 3.1) is answered at once by the same
    message with the cookie echoed, and so is every later transmission; a message too short to draw a cookie asks
    for one with the placeholder on every second transmission (at once after a NACK "busy" or "rate limited"). A NACK "busy" or "rate limited" without a
    cookie is a sign of congestion, not an answer: wait the current timeout again and retransmit; report it only
    when the transmissions are spent. Return (outcome, attempts, code, text)."""
    timeout = FIRST_TIMEOUT * (1.0 + 0.5 * random.random())
    message, cookie, nack = plain, None, None
    for attempt in range(1, ATTEMPTS + 1):
        if cookie is not None:  # echo the server's cookie: flag COOKIE, the cookie after the body
            plain = message[:4] + bytes([COOKIE]) + message[5:] + cookie
        elif key is None and len(message) < HEADER.size + COOKIE_LEN:
            # Too short to draw a cookie (section 3.1, "Short messages"): every second transmission asks for one
            # with the placeholder, 8 zero bytes; the others stay plain, for a server that predates cookies.
            plain = message[:4] + bytes([COOKIE]) + message[5:] + bytes(COOKIE_LEN) if attempt % 2 == 0 else message
        datagram = plain
        if key:
            current, keys, sender = key
            datagram = seal(plain, current, keys[current], sender, attempt, int(time.time() * 1000))
        try:
            sock.send(datagram)
        except ConnectionRefusedError:
            return "refused", attempt, 0, b""
        deadline = time.monotonic() + timeout
        resend = nacked_now = False
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
            reply = parse_reply(b, msg_id, key[1] if key else None)
            if reply is None:
                continue  # not ours, a late duplicate or malformed: ignore it, never answer it
            typ, code, body = reply
            if typ == "cookie":
                if key is None and body != cookie and len(message) + COOKIE_LEN <= MAX_DATAGRAM:
                    cookie, resend = body, True  # resend at once, with it
                    break
                continue  # the same cookie again (or no room for it): wait as after a loss
            if typ == ACK:
                return "acked", attempt, 0, b""
            if code not in TRANSIENT or attempt == ATTEMPTS:
                return "rejected", attempt, code, body
            if key is None and cookie is None and len(message) < HEADER.size + COOKIE_LEN and attempt % 2 == 1:
                resend = True  # the next transmission, with the placeholder, at once
                break
            if not nacked_now:  # once per transmission, so that repeated NACKs cannot hold the client forever
                deadline = time.monotonic() + timeout  # retransmit no sooner than the timeout after the NACK
            nack, nacked_now = (code, body), True
        if not resend:
            timeout = min(timeout * 2, MAX_TIMEOUT)
    if nack is not None:
        return "rejected", ATTEMPTS, nack[0], nack[1]
    return "timed out", ATTEMPTS, 0, b""


USAGE = """usage: udpkit_send.py [--key-file FILE] [--id HEX] HOST PORT MESSAGE
       udpkit_send.py --key-file FILE --vector ID:SENDER:COUNTER:TIME MESSAGE"""


def main(argv):
    args, keyfile, vector, fixed_id = argv[1:], os.environ.get("UDPKIT_KEY_FILE") or None, None, None
    while len(args) >= 2 and args[0].startswith("--"):
        if args[0] == "--key-file":
            keyfile = args[1]
        elif args[0] == "--vector":
            vector = args[1]
        elif args[0] == "--id":
            fixed_id = args[1]
        else:
            break
        args = args[2:]
    if (vector is None and len(args) != 3) or (vector is not None and (len(args) != 1 or keyfile is None)):
        print(USAGE, file=sys.stderr)
        return 2
    key = None
    if keyfile:
        try:
            current, keys = load_keys(keyfile)
        except (OSError, KeyFileError) as e:
            print("udpkit_send: %s" % e, file=sys.stderr)
            return 2
        # A new sender ID for every run: its counters start again at 1.
        key = (current, keys, int.from_bytes(os.urandom(8), "big") or 1)
    message = os.fsencode(args[-1])
    room = MAX_DATAGRAM - HEADER.size - (TRAILER.size + TAG if key else 0)
    if len(message) > room:
        print("udpkit_send: message longer than %d bytes" % room, file=sys.stderr)
        return 2
    if vector is not None:
        try:
            vid, vsender, vcounter, vtime = vector.split(":")
            plain = HEADER.pack(MAGIC, VERSION, DATA, 0, 0, 0, int(vid, 16)) + message
            print(seal(plain, current, keys[current], int(vsender, 16), int(vcounter, 10), int(vtime, 10)).hex())
        except (ValueError, struct.error):
            print(USAGE, file=sys.stderr)
            return 2
        return 0
    host, port = args[0], args[1]
    try:
        addrs = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as e:
        print("udpkit_send: %s %s: %s" % (host, port, e), file=sys.stderr)
        return 2

    msg_id = int.from_bytes(os.urandom(8), "big")
    if fixed_id is not None:
        # --id HEX: a fixed message ID (1 to 16 hex digits), for tests against golden vectors.
        if not 1 <= len(fixed_id) <= 16 or any(c not in "0123456789abcdefABCDEF" for c in fixed_id):
            print(USAGE, file=sys.stderr)
            return 2
        msg_id = int(fixed_id, 16)
    datagram = HEADER.pack(MAGIC, VERSION, DATA, 0, 0, 0, msg_id) + message
    outcome, err = None, None
    for i, (family, kind, proto, _, addr) in enumerate(addrs):
        try:
            # A connected socket only sees datagrams from the server and reports ICMP port unreachable.
            with socket.socket(family, kind, proto) as sock:
                sock.connect(addr)
                outcome, attempts, code, text = exchange(sock, datagram, msg_id, key)
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
        if code in TRANSIENT:  # not final: it came after the last transmission
            line += " after %d attempts" % attempts
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
