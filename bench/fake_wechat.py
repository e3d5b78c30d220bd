#!/usr/bin/env python3
"""A fake WeChat `jscode2session` for the benchmarks: standard library only.

    python3 bench/fake_wechat.py --port 9100 --latency-ms 100

Answers `GET /sns/jscode2session?...&js_code=CODE` after a fixed delay, like
WeChat does when all goes well. The code is `USER.NONCE`: the same USER always
gets the same openid and unionid (so a code names a returning user), and every
code gets a new session_key. `GET /healthz` answers at once. A path under `/latN/`
(e.g. `/lat100/sns/jscode2session`) is answered after N ms, so one fake
serves several latencies.

It is an asyncio Protocol with keep-alive and a timer per request (no task,
no thread), so one core serves thousands of requests a second at any delay:
at 500 connections and 100 ms it has to answer 5,000 a second.
"""

import argparse
import asyncio
import base64
import hashlib
import json
import os
import signal
import sys
from urllib.parse import parse_qs, urlsplit


def ident(prefix: str, user: str) -> str:
    """28 URL-safe characters, `o` and a shared prefix first, like WeChat's."""
    digest = base64.urlsafe_b64encode(hashlib.sha256((prefix + user).encode()).digest())
    return prefix + digest.decode()[: 28 - len(prefix)]


def answer(target: str):
    """The answer and its delay in seconds. A path under `/latN/` is answered
    after N ms instead of the default latency."""
    url = urlsplit(target)
    path, delay = url.path, Http.latency
    if path.startswith("/lat"):
        head, _, rest = path[4:].partition("/")
        if head.isdigit():
            path, delay = "/" + rest, int(head) / 1000
    return respond(path, url.query), delay


def respond(path: str, query: str) -> bytes:
    if path == "/healthz":
        return response(200, b'{"status":"ok"}')
    if path != "/sns/jscode2session":
        return response(404, b'{"errcode":404,"errmsg":"not found"}')
    query = parse_qs(query)
    code = query.get("js_code", [""])[0]
    if not code:
        body = {"errcode": 40029, "errmsg": "invalid code"}
    else:
        user = code.rsplit(".", 1)[0]
        body = {
            "openid": ident("oBENCH", user),
            "unionid": ident("oUNION", user),
            "session_key": base64.b64encode(os.urandom(16)).decode(),
        }
    return response(200, json.dumps(body).encode())


def response(status: int, body: bytes) -> bytes:
    reason = {200: "OK", 404: "Not Found", 400: "Bad Request"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Http(asyncio.Protocol):
    latency = 0.0

    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""
        self.closed = False

    def connection_lost(self, exc):
        self.closed = True

    def data_received(self, data):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > 65536:
                    self.transport.close()
                return
            head = self.buffer[:end].decode("latin-1")
            self.buffer = self.buffer[end + 4 :]
            # GET requests only: no bodies to skip.
            parts = head.split("\r\n", 1)[0].split(" ")
            out, delay = answer(parts[1]) if len(parts) == 3 else (response(400, b"{}"), 0)
            if delay > 0:
                asyncio.get_running_loop().call_later(delay, self.send, out)
            else:
                self.send(out)

    def send(self, out):
        if not self.closed:
            self.transport.write(out)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    Http.latency = args.latency_ms / 1000
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Http, args.host, args.port, backlog=4096, reuse_address=True)
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set_result, None)
    print(f"fake WeChat on {args.host}:{args.port}, latency {args.latency_ms} ms", file=sys.stderr, flush=True)
    async with server:
        await stop


if __name__ == "__main__":
    asyncio.run(main())
