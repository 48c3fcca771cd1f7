#!/usr/bin/env python3
"""The loopback lab that produced the captures in docs/anatomy.md and
docs/trace.md. Everything listens on 127.0.0.1 or ::1; nothing leaves the
machine.

    python3 docs/lab.py OUTDIR          # needs dnsmasq and openssl

then, in another shell (see docs/anatomy.md for the full commands):

    roundtrip --events --waterfall --dns-servers 127.0.0.1:15300 \
        --cacert OUTDIR/pki/ca.pem https://demo.test:18444/chunked

What runs (stop it all with Ctrl-C):

  15353/udp  dnsmasq: demo.test and he.test have AAAA ::1 and A 127.0.0.1
  15300/udp  DNS recorder: forwards to dnsmasq, logs every datagram to
             OUTDIR/dns.jsonl (hex)
  18443/tcp  HTTPS origin (Python ssl, ALPN http/1.1, certificate for
             demo.test from OUTDIR/pki): logs the plaintext it reads and
             writes to OUTDIR/http.jsonl; answers with a chunked body and
             a trailer, one chunk per write
  18444/tcp  TLS relay on [::1] and 127.0.0.1 in front of 18443: logs every
             TLS record to OUTDIR/tls.jsonl, decoding ClientHello and
             ServerHello (the rest of a TLS 1.3 handshake is encrypted)
  18501/tcp  redirect: /old answers 301 Location: /new
  18502/tcp  answers Expect: 100-continue with 100 Continue
  18503/tcp  answers the first request on a connection, then reads the
             second and closes without answering (once): a retry
  18504/tcp  CONNECT proxy (to loopback targets only)
  18505/tcp  plain HTTP on 127.0.0.1 only: ::1 is refused (fallback)
  18506/tcp  plain HTTP on 127.0.0.1; on ::1 a listener whose accept queue
             is full, so the SYN is dropped and the IPv6 attempt hangs
             until Happy Eyeballs starts IPv4 and cancels it

Every server socket sets TCP_NODELAY: without it, Nagle's algorithm holds a
small write behind an unacknowledged one, the client delays its ACK, and a
loopback response waits about 40 ms (see docs/anatomy.md).
"""

import atexit
import json
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

if len(sys.argv) != 2:
    sys.exit(__doc__)
OUT = os.path.abspath(sys.argv[1])
PKI = os.path.join(OUT, "pki")
DNS_PORT, UPSTREAM_DNS, ORIGIN_PORT, RELAY_PORT = 15300, 15353, 18443, 18444
T0 = time.monotonic()
lock = threading.Lock()


def now_us():
    return int((time.monotonic() - T0) * 1e6)


def log(name, record):
    record = {"t_us": now_us(), **record}
    with lock, open(os.path.join(OUT, name), "a") as f:
        f.write(json.dumps(record) + "\n")


def nodelay(s):
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def listener(host, port, backlog=16):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((host, port))
    s.listen(backlog)
    return s


def serve(ls, handler):
    while True:
        c, _ = ls.accept()
        threading.Thread(target=handler, args=(nodelay(c),), daemon=True).start()


def read_head(c):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(65536)
        if not d:
            return None, b""
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    return head + b"\r\n\r\n", rest


# ----- setup: certificates and dnsmasq ---------------------------------------

def run(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


def mint():
    if os.path.exists(os.path.join(PKI, "leaf.pem")):
        return
    os.makedirs(PKI, exist_ok=True)
    p = lambda n: os.path.join(PKI, n)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("openssl", "req", "-x509", *ec, "-keyout", p("ca.key"), "-out", p("ca.pem"),
        "-days", "3650", "-subj", "/CN=roundtrip docs CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    run("openssl", "req", *ec, "-keyout", p("leaf.key"), "-out", p("leaf.csr"), "-subj", "/CN=demo.test")
    with open(p("ext.cnf"), "w") as f:
        f.write("subjectAltName=DNS:demo.test\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", p("leaf.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
        "-CAcreateserial", "-out", p("leaf.pem"), "-days", "825", "-extfile", p("ext.cnf"))


def start_dnsmasq():
    proc = subprocess.Popen([
        "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
        "--listen-address=127.0.0.1", "--bind-interfaces", "--port=%d" % UPSTREAM_DNS,
        "--host-record=demo.test,127.0.0.1,::1", "--host-record=he.test,127.0.0.1,::1",
        "--local-ttl=60", "--pid-file=", "--log-facility=" + os.path.join(OUT, "dnsmasq.log"),
        "--log-queries"])
    atexit.register(proc.terminate)


# ----- 15300: DNS recorder ---------------------------------------------------

def dns_recorder():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", DNS_PORT))
    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up.connect(("127.0.0.1", UPSTREAM_DNS))
    clients = {}
    while True:
        ready, _, _ = select.select([s, up], [], [])
        if s in ready:
            data, client = s.recvfrom(65535)
            clients[data[:2]] = client
            log("dns.jsonl", {"dir": "query", "from": "%s:%d" % client, "hex": data.hex()})
            up.send(data)
        if up in ready:
            data = up.recv(65535)
            client = clients.pop(data[:2], None)
            log("dns.jsonl", {"dir": "answer", "hex": data.hex()})
            if client:
                s.sendto(data, client)


# ----- 18443: HTTPS origin ---------------------------------------------------

HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        b"Transfer-Encoding: chunked\r\nTrailer: X-Chunk-Count\r\n\r\n")
CHUNKS = [b"This body ", b"arrives in ", b"three chunks.\n"]


def origin_conn(conn):
    try:
        while True:
            head, _ = read_head(conn)
            if head is None:
                return
            log("http.jsonl", {"dir": "read", "bytes": head.decode("latin-1")})
            parts = [b"%x\r\n%s\r\n" % (len(c), c) for c in CHUNKS]
            writes = [HEAD + parts[0]] + parts[1:] + [b"0\r\nX-Chunk-Count: 3\r\n\r\n"]
            for w in writes:
                conn.sendall(w)
                log("http.jsonl", {"dir": "wrote", "bytes": w.decode("latin-1")})
                time.sleep(0.002)
    except OSError as e:
        log("http.jsonl", {"dir": "error", "error": str(e)})
    finally:
        conn.close()


def origin():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(PKI, "leaf.pem"), os.path.join(PKI, "leaf.key"))
    ctx.set_alpn_protocols(["http/1.1"])
    ls = listener("127.0.0.1", ORIGIN_PORT)
    while True:
        c, _ = ls.accept()
        try:
            t = ctx.wrap_socket(nodelay(c), server_side=True)
        except OSError as e:
            log("http.jsonl", {"dir": "error", "error": str(e)})
            c.close()
            continue
        threading.Thread(target=origin_conn, args=(t,), daemon=True).start()


# ----- 18444: TLS record relay -----------------------------------------------

RECORD = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data"}
HANDSHAKE = {1: "ClientHello", 2: "ServerHello", 4: "NewSessionTicket"}
SUITES = {0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384",
          0x1303: "TLS_CHACHA20_POLY1305_SHA256",
          0xc02b: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
          0xc02c: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
          0xcca9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
          0xc02f: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
          0xc030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
          0xcca8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
          0x00ff: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"}
GROUPS = {0x001d: "x25519", 0x0017: "secp256r1", 0x0018: "secp384r1", 0x11ec: "X25519MLKEM768"}
EXTENSIONS = {0: "server_name", 5: "status_request", 10: "supported_groups", 11: "ec_point_formats",
              13: "signature_algorithms", 16: "application_layer_protocol_negotiation",
              23: "extended_master_secret", 35: "session_ticket", 41: "pre_shared_key",
              43: "supported_versions", 45: "psk_key_exchange_modes", 51: "key_share",
              0xff01: "renegotiation_info"}
VERSIONS = {0x0304: "TLS 1.3", 0x0303: "TLS 1.2"}


def u16(b, i):
    return int.from_bytes(b[i:i + 2], "big")


def extensions(b):
    out, i = [], 0
    while i + 4 <= len(b):
        t, n = u16(b, i), u16(b, i + 2)
        d, i = b[i + 4:i + 4 + n], i + 4 + n
        e = {"type": EXTENSIONS.get(t, t), "len": n}
        if t == 0:
            e["value"] = d[5:5 + u16(d, 3)].decode()
        elif t == 16:
            j, protos = 2, []
            while j < len(d):
                protos.append(d[j + 1:j + 1 + d[j]].decode())
                j += 1 + d[j]
            e["value"] = protos
        elif t == 43:
            vs = [d[0:2]] if len(d) == 2 else [d[1 + k:3 + k] for k in range(0, d[0], 2)]
            e["value"] = [VERSIONS.get(u16(v, 0), hex(u16(v, 0))) for v in vs]
        elif t == 10:
            e["value"] = [GROUPS.get(u16(d, 2 + k), hex(u16(d, 2 + k))) for k in range(0, u16(d, 0), 2)]
        elif t == 51:
            j = 2 if u16(d, 0) + 2 == len(d) else 0
            shares = []
            while j + 4 <= len(d):
                shares.append("%s, %d-byte key" % (GROUPS.get(u16(d, j), hex(u16(d, j))), u16(d, j + 2)))
                j += 4 + u16(d, j + 2)
            e["value"] = shares
        out.append(e)
    return out


def hello(kind, body):
    i = 2 + 32
    info = {"legacy_version": hex(u16(body, 0)), "legacy_session_id_len": body[i]}
    i += 1 + body[i]
    if kind == 1:
        n = u16(body, i)
        info["cipher_suites"] = [SUITES.get(u16(body, i + 2 + k), hex(u16(body, i + 2 + k)))
                                 for k in range(0, n, 2)]
        i += 2 + n
        i += 1 + body[i]
    else:
        info["cipher_suite"] = SUITES.get(u16(body, i), hex(u16(body, i)))
        i += 3
    info["extensions"] = extensions(body[i + 2:i + 2 + u16(body, i)])
    return info


class Records:
    def __init__(self, direction):
        self.direction, self.buf, self.encrypted = direction, b"", False

    def feed(self, data):
        self.buf += data
        while len(self.buf) >= 5 and len(self.buf) >= 5 + u16(self.buf, 3):
            ct, n = self.buf[0], u16(self.buf, 3)
            header, body, self.buf = self.buf[:5], self.buf[5:5 + n], self.buf[5 + n:]
            e = {"dir": self.direction, "record": RECORD.get(ct, ct), "len": n, "header": header.hex()}
            if ct == 22 and not self.encrypted:
                e["handshake"] = HANDSHAKE.get(body[0], body[0])
                if body[0] in (1, 2):
                    e["hello"] = hello(body[0], body[4:])
            self.encrypted |= ct == 20
            log("tls.jsonl", e)


def pipe(client, server):
    sides = {client: (server, Records("client->server")), server: (client, Records("server->client"))}
    try:
        while True:
            ready, _, _ = select.select(list(sides), [], [])
            for s in ready:
                data = s.recv(65536)
                other, records = sides[s]
                if not data:
                    log("tls.jsonl", {"dir": records.direction, "eof": True})
                    return
                records.feed(data)
                other.sendall(data)
    except OSError as e:
        log("tls.jsonl", {"error": str(e)})
    finally:
        client.close()
        server.close()


def relay(host):
    ls = listener(host, RELAY_PORT)
    while True:
        c, peer = ls.accept()
        log("tls.jsonl", {"accepted": str(peer[:2])})
        up = nodelay(socket.create_connection(("127.0.0.1", ORIGIN_PORT)))
        threading.Thread(target=pipe, args=(nodelay(c), up), daemon=True).start()


# ----- 18501-18506: the rarer events -----------------------------------------

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"


def redirect(c):
    with c:
        while True:
            head, _ = read_head(c)
            if head is None:
                return
            if head.split()[1] == b"/old":
                c.sendall(b"HTTP/1.1 301 Moved Permanently\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n")
            else:
                c.sendall(OK)


def expect(c):
    with c:
        while True:
            head, rest = read_head(c)
            if head is None:
                return
            lines = head.decode("latin-1").lower().split("\r\n")
            length = next((int(l.split(":", 1)[1]) for l in lines if l.startswith("content-length:")), 0)
            if "expect: 100-continue" in lines:
                c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            while len(rest) < length:
                rest += c.recv(65536)
            c.sendall(OK)


retried = threading.Event()


def retry(c):
    with c:
        served = 0
        while True:
            head, _ = read_head(c)
            if head is None:
                return
            if served == 1 and not retried.is_set():
                retried.set()
                return  # the second request on this connection: close, no answer
            c.sendall(OK)
            served += 1


def proxy(c):
    head, rest = read_head(c)
    target = head.split()[1].decode() if head and head.startswith(b"CONNECT ") else ""
    host, _, port = target.rpartition(":")
    if host.strip("[]") not in ("127.0.0.1", "::1", "demo.test"):
        c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        c.close()
        return
    up = nodelay(socket.create_connection(("127.0.0.1", int(port))))
    c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    if rest:
        up.sendall(rest)
    sides = {c: up, up: c}
    try:
        while True:
            ready, _, _ = select.select(list(sides), [], [])
            for s in ready:
                data = s.recv(65536)
                if not data:
                    return
                sides[s].sendall(data)
    finally:
        c.close()
        up.close()


def plain(c):
    with c:
        while read_head(c)[0] is not None:
            c.sendall(OK)


def main():
    os.makedirs(OUT, exist_ok=True)
    mint()
    start_dnsmasq()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    jobs = [(dns_recorder, ()), (origin, ()), (relay, ("::1",)), (relay, ("127.0.0.1",))]
    for port, handler in [(18501, redirect), (18502, expect), (18503, retry),
                          (18504, proxy), (18505, plain), (18506, plain)]:
        jobs.append((serve, (listener("127.0.0.1", port), handler)))
    for target, args in jobs:
        threading.Thread(target=target, args=args, daemon=True).start()
    # [::1]:18506 accepts nothing: its queue is filled, so later SYNs are dropped.
    slow = listener("::1", 18506, backlog=0)
    fillers = []
    for _ in range(3):
        f = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        f.setblocking(False)
        f.connect_ex(("::1", 18506))
        fillers.append(f)
    print("lab ready; logs in", OUT, flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
