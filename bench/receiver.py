"""A local webhook receiver for the benchmarks: answers every POST with 200 after a fixed delay.

    python -m bench.receiver --delay 0.05        # prints "port <n>" once it listens

It is a small asyncio HTTP/1.1 server (keep-alive, Content-Length bodies), cheap enough to share
the machine with the workers it measures. It counts each (path, event id) it receives, so a
duplicate delivery shows up, and whether the request carried a `Stripe-Signature`.
`GET /stats` answers with the counts as JSON; `GET /reset` clears them.
"""

import argparse
import asyncio
import json
import sys
import time
from collections import Counter


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.unsigned = 0
        self.unparsed = 0
        self.seen: Counter[tuple[str, str]] = Counter()
        self.in_flight = 0
        self.max_in_flight = 0
        self.first = self.last = 0.0

    def as_dict(self) -> dict:
        duplicates = sum(n - 1 for n in self.seen.values() if n > 1)
        return {
            "requests": self.requests, "unique": len(self.seen), "duplicates": duplicates,
            "unsigned": self.unsigned, "unparsed": self.unparsed, "max_in_flight": self.max_in_flight,
            "first": self.first, "last": self.last,
        }  # fmt: skip


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stats: Stats, delay: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            headers = {}
            for line in header_lines:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", 0)))
            if method == "GET":
                payload = b"{}"
                if path == "/reset":
                    stats.reset()
                elif path == "/stats":
                    payload = json.dumps(stats.as_dict()).encode()
                await _answer(writer, 200, payload)
                continue
            now = time.time()
            stats.requests += 1
            stats.first = stats.first or now
            stats.last = now
            if "stripe-signature" not in headers:
                stats.unsigned += 1
            try:
                stats.seen[(path, json.loads(body)["id"])] += 1
            except (ValueError, KeyError, TypeError):
                stats.unparsed += 1
            stats.in_flight += 1
            stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
            try:
                await asyncio.sleep(delay)
            finally:
                stats.in_flight -= 1
            await _answer(writer, 200, b'{"received":true}')
            if headers.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _answer(writer: asyncio.StreamWriter, code: int, payload: bytes) -> None:
    writer.write(
        f"HTTP/1.1 {code} OK\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    await writer.drain()


async def serve(host: str, port: int, delay: float) -> None:
    stats = Stats()
    server = await asyncio.start_server(lambda r, w: _handle(r, w, stats, delay), host, port, backlog=1024)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds before each answer (default 0.05)")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.host, args.port, args.delay))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
