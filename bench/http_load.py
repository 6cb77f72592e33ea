"""A small HTTP/1.1 load generator for bench/serving_bench.py, run as its own process.

Why not httpx: at a thousand requests a second a Python HTTP client spends more CPU per request than the
server under test, and on two cores that CPU is taken from the server. Here each client is one keep-alive
connection on an asyncio stream that writes a pre-encoded request and reads status line, headers and a
Content-Length (or chunked) body: a few tens of microseconds per request.

Reads a JSON list of cells on stdin, writes a JSON list of results on stdout. A cell is
{"host", "port", "path", "headers", "body" (str), "clients", "seconds", "pids"}; a result holds every
latency (ms), the requests completed, the wall time, the CPU seconds the server processes (``pids``) used
meanwhile, and the count and first status of non-200 answers.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


class Connection:
    """One keep-alive connection sending the same request again and again."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> None:
        self.reader, self.writer, self.request = reader, writer, request

    async def call(self) -> int:
        """Send the request once and read the whole answer; return its status code."""
        self.writer.write(self.request)
        status = int((await self.reader.readline()).split(b" ", 2)[1])
        length, chunked = 0, False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                await self.reader.readexactly(size + 2)
            await self.reader.readline()
        else:
            await self.reader.readexactly(length)
        return status


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes (all their threads), from /proc/<pid>/stat."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / TICKS


def encode_request(cell: dict) -> bytes:
    body = cell["body"].encode()
    head = [f"POST {cell['path']} HTTP/1.1", f"Host: {cell['host']}:{cell['port']}",
            "Content-Type: application/json", f"Content-Length: {len(body)}",
            *(f"{k}: {v}" for k, v in cell["headers"].items())]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def run_cell(cell: dict) -> dict:
    """``clients`` connections each sending back to back for ``seconds`` (after one warm-up call each)."""
    request = encode_request(cell)
    connections = [Connection(*await asyncio.open_connection(cell["host"], cell["port"]), request)
                   for _ in range(cell["clients"])]
    for connection in connections:
        await connection.call()
    latencies: list[float] = []
    errors: list[int] = []
    cpu_before = cpu_seconds(cell["pids"])
    started = time.perf_counter()
    deadline = started + cell["seconds"]

    async def client(connection: Connection) -> None:
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            status = await connection.call()
            latencies.append(1000 * (time.perf_counter() - sent))
            if status != 200:
                errors.append(status)

    await asyncio.gather(*(client(c) for c in connections))
    wall = time.perf_counter() - started
    server_cpu = cpu_seconds(cell["pids"]) - cpu_before
    for connection in connections:
        connection.writer.close()
    return {"latencies_ms": latencies, "requests": len(latencies), "wall_s": wall, "server_cpu_s": server_cpu,
            "errors": len(errors), "first_error": errors[0] if errors else None}


async def run_all(cells: list[dict]) -> list[dict]:
    return [await run_cell(cell) for cell in cells]


if __name__ == "__main__":
    json.dump(asyncio.run(run_all(json.load(sys.stdin))), sys.stdout)
