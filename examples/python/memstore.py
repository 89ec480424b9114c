#!/usr/bin/python3
"""memstore.py: the memstore key-value node, in Python, on the ringraft binding.

The state machine is a Python dict; the HTTP API (asyncio and the standard
library only) has the routes of the C++ memstore (examples/memstore):

    PUT    /store/{key}            value in the body
    PUT    /store/{key}/{value}
    GET    /store/{key}            linearizable; ?stale=true reads locally
    DELETE /store/{key}
    GET    /leader, GET /peers, GET /status, GET /metrics
    POST   /leave, POST /snapshot, POST /transfer_leader/{id}

Writes on a follower are forwarded to the leader by the runtime
(forward_to_leader). Errors answer with the status code of the outcome:
refused 421 (not leader, with the hint) / 429 / 503, unknown 504, failed
4xx/500, and a JSON body naming it.

    memstore.py --id 1 --address 127.0.0.1:7001 --data-dir /tmp/n1 \\
        --peers 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 --http 127.0.0.1:8001
    memstore.py --config n1.toml --http 127.0.0.1:8001
"""

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import urllib.parse

import ringraft

GROUP = 1


class KvMachine(ringraft.StateMachine):
    """Commands: b"P" key b"\\0" value (put), b"D" key (delete). Results:
    created / updated / deleted / absent."""

    def __init__(self):
        self.data = {}

    def apply(self, index, data):
        op, body = data[:1], data[1:]
        if op == b"P":
            key, _, value = body.partition(b"\0")
            created = key not in self.data
            self.data[key] = value
            return b"created" if created else b"updated"
        if op == b"D":
            return b"deleted" if self.data.pop(body, None) is not None else b"absent"
        return b"error: unknown command"

    def query(self, key):
        return self.data[key]

    def snapshot(self, writer):
        chunk = bytearray()
        for k, v in self.data.items():
            chunk += len(k).to_bytes(4, "little") + k + len(v).to_bytes(4, "little") + v
            if len(chunk) >= 1 << 20:
                writer.write(bytes(chunk))
                chunk.clear()
        writer.write(bytes(chunk))

    def restore(self, reader):
        buf = bytearray()
        while True:
            b = reader.read(1 << 20)
            if not b:
                break
            buf += b
        data, pos = {}, 0
        while pos < len(buf):
            n = int.from_bytes(buf[pos:pos + 4], "little")
            k = bytes(buf[pos + 4:pos + 4 + n])
            pos += 4 + n
            n = int.from_bytes(buf[pos:pos + 4], "little")
            data[k] = bytes(buf[pos + 4:pos + 4 + n])
            pos += 4 + n
        self.data = data


def error_reply(e):
    """(status, body) of a RaftError, by outcome first."""
    body = {"error": e.message, "outcome": e.outcome}
    if isinstance(e, ringraft.NotLeaderError) and e.leader_id:
        return 421, {"error": "not leader", "leader_id": e.leader_id,
                     "leader_address": e.leader_address, "outcome": e.outcome}
    if e.outcome == "refused":
        return (429 if e.code == "RESOURCE_EXHAUSTED" else 503), body
    if e.outcome == "unknown":
        return 504, body
    return {"INVALID_ARGUMENT": 400, "OUT_OF_RANGE": 400, "NOT_FOUND": 404,
            "FAILED_PRECONDITION": 409, "ALREADY_EXISTS": 409,
            "ABORTED": 409}.get(e.code, 500), body


class Api:
    def __init__(self, node):
        self.node = node

    async def handle(self, method, path, query, body):
        seg = [urllib.parse.unquote(s) for s in path.strip("/").split("/") if s]
        try:
            return await self.route(method, seg, query, body)
        except ringraft.RaftError as e:
            return error_reply(e)

    async def route(self, method, seg, query, body):
        node = self.node
        if seg and seg[0] == "store" and len(seg) >= 2:
            key = seg[1].encode()
            if method == "PUT":
                if len(seg) > 3:
                    return 400, {"error": "usage: PUT /store/{key}[/{value}]"}
                value = seg[2].encode() if len(seg) == 3 else body
                return self.write_reply(seg[1], await node.propose(GROUP, b"P" + key + b"\0" + value))
            if len(seg) != 2:
                return 404, {"error": "no such route"}
            if method == "GET":
                stale = query.get("stale", ["false"])[0] == "true"
                try:
                    value = await node.read(GROUP, key, linearizable=not stale)
                except ringraft.FailedError as e:
                    if e.code == "NOT_FOUND":
                        return 404, {"error": "not found", "key": seg[1]}
                    raise
                return 200, value
            if method == "DELETE":
                return self.write_reply(seg[1], await node.propose(GROUP, b"D" + key))
            return 405, {"error": "method not allowed"}
        route = seg[0] if seg else ""
        if method == "GET" and len(seg) == 1:
            if route == "leader":
                leader_id, address = node.leader(GROUP)
                if not leader_id:
                    return 503, {"error": "no leader", "outcome": "refused"}
                return 200, {"leader_id": leader_id, "leader_address": address, "self": node.id}
            if route == "peers":
                g = node.group_status(GROUP)
                cs = g["conf_state"]
                return 200, {"peers": [
                    {"id": int(i), "address": a,
                     "role": "voter" if int(i) in cs["voters"] else "learner"}
                    for i, a in sorted(g["peers"].items(), key=lambda x: int(x[0]))]}
            if route == "status":
                return 200, node.status()
            if route == "metrics":
                return 200, node.metrics_text().encode()
        if method == "POST":
            if route == "leave" and len(seg) == 1:
                cs = await node.leave(GROUP)
                return 200, {"left": node.id, "conf_state": cs}
            if route == "snapshot" and len(seg) == 1:
                return 200, {"snapshot_index": await node.snapshot(GROUP)}
            if route == "transfer_leader" and len(seg) == 2 and seg[1].isdigit():
                await node.transfer_leader(GROUP, int(seg[1]))
                return 200, {"leader_id": int(seg[1])}
        return 404, {"error": "no such route"}

    @staticmethod
    def write_reply(key, result):
        text = result.decode(errors="replace")
        if text.startswith("error"):
            return 400, {"error": text}
        status = {"created": 201, "absent": 404}.get(text, 200)
        return status, {"key": key, "result": text}


async def serve_http(api, host, port):
    async def client(reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                url = urllib.parse.urlsplit(target)
                status, payload = await api.handle(method, url.path,
                                                   urllib.parse.parse_qs(url.query), body)
                if isinstance(payload, (bytes, bytearray)):
                    data, ctype = bytes(payload), "text/plain"
                else:
                    data, ctype = (json.dumps(payload) + "\n").encode(), "application/json"
                close = headers.get("connection", "").lower() == "close"
                writer.write(b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n"
                             % (status, ctype.encode(), len(data),
                                b"Connection: close\r\n" if close else b"") + data)
                await writer.drain()
                if close:
                    break
        except (ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(client, host, port)
    return server


def parse_args(argv):
    p = argparse.ArgumentParser(description="memstore in Python (ringraft binding)")
    p.add_argument("--config", help="TOML file of the node (as the C++ node's)")
    p.add_argument("--id", type=int)
    p.add_argument("--address")
    p.add_argument("--data-dir")
    p.add_argument("--peers", help="id=host:port,... (this node included)")
    p.add_argument("--join", help="address of a member to join through")
    p.add_argument("--http", required=True, help="host:port of the HTTP API")
    p.add_argument("--tick-ms", type=int, default=0)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.config:
        config = args.config
    else:
        node = {"address": args.address, "data_dir": args.data_dir}
        if args.id:
            node["id"] = args.id
        if args.join:
            node["join"] = args.join
        config = {"node": node}
        if args.peers:
            config["peers"] = [{"id": int(i), "address": a} for i, a in
                               (p.split("=", 1) for p in args.peers.split(","))]
        if args.tick_ms:
            config["raft"] = {"tick_interval_ms": args.tick_ms}
    node = ringraft.Node.start(config, lambda group: KvMachine())
    host, _, port = args.http.rpartition(":")

    async def run():
        server = await serve_http(Api(node), host, int(port))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        print(f"memstore.py: node {node.id} raft {node.address} http "
              f"{server.sockets[0].getsockname()[0]}:{server.sockets[0].getsockname()[1]}",
              flush=True)
        await stop.wait()
        server.close()

    try:
        asyncio.run(run())
    finally:
        node.stop()


if __name__ == "__main__":
    sys.exit(main())
