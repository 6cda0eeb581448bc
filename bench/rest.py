"""The Iceberg REST catalog's figures: PyIceberg single-row appends through
`floe serve --rest` against PyIceberg on a SqlCatalog over the same disk,
the commit request alone, the HTTP round trip, a load of a table with 1,000
snapshots, and 16 concurrent clients committing to 16 tables and to one.
Prints one JSON object."""

import argparse
import json
import logging
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pyarrow as pa


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summary(ms):
    return {"p50_ms": statistics.median(ms), "p99_ms": pct(ms, 99), "n": len(ms)}


class Server:
    def __init__(self, floe, warehouse):
        self.proc = subprocess.Popen([floe, "--warehouse", str(warehouse), "serve", "--rest", "127.0.0.1:0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if "Iceberg REST catalog on" not in line:
            raise RuntimeError(f"floe serve did not start: {line!r}")
        self.uri = line.split()[4]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)


def floe_sql(floe, warehouse, *statements, stdin=None):
    cmd = [floe, "--warehouse", str(warehouse), "sql"]
    for s in statements:
        cmd += ["-c", s]
    subprocess.run(cmd, check=True, capture_output=True, text=True, input=stdin)


ROW = pa.table({"id": pa.array([1], pa.int64())})


def appends(table_of, n):
    """Wall time (ms) of `n` single-row appends."""
    out = []
    for _ in range(n):
        table = table_of()
        start = time.perf_counter()
        table.append(ROW)
        out.append((time.perf_counter() - start) * 1000)
    return out


def timed_commits(catalog):
    """Record the wall time of every commit request the catalog's HTTP
    session sends (POST to a table)."""
    times = []
    session = catalog._session
    original = session.post

    def post(url, *args, **kwargs):
        start = time.perf_counter()
        response = original(url, *args, **kwargs)
        if "/tables/" in url and not url.endswith("/metrics"):
            times.append((time.perf_counter() - start) * 1000)
        return response

    session.post = post
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--floe", required=True)
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--history", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--commits-per-client", type=int, default=20)
    args = parser.parse_args()
    from pyiceberg.catalog.rest import RestCatalog
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.exceptions import CommitFailedException

    shutil.rmtree(args.work, ignore_errors=True)
    wh = args.work / "wh"
    floe_sql(args.floe, wh, "CREATE SCHEMA db", "CREATE TABLE db.rest (id BIGINT)",
             "CREATE TABLE db.sql (id BIGINT)", "CREATE TABLE db.floe (id BIGINT)")
    out = {"n": args.n}

    # Floe's own local commit: single-row INSERTs in one process, per statement.
    script = "".join(f"INSERT INTO db.floe VALUES ({i});\n" for i in range(args.n))
    start = time.perf_counter()
    floe_sql(args.floe, wh, stdin=script)
    out["floe_local_insert_mean_ms"] = (time.perf_counter() - start) * 1000 / args.n

    server = Server(args.floe, wh)
    try:
        rest = RestCatalog("floe", uri=server.uri)
        commit_ms = timed_commits(rest)
        out["rest_append"] = summary(appends(lambda: rest.load_table("db.rest"), args.n))
        out["rest_commit_request"] = summary(commit_ms)
        rtt = []
        for _ in range(200):
            start = time.perf_counter()
            urllib.request.urlopen(f"{server.uri}/v1/config").read()
            rtt.append((time.perf_counter() - start) * 1000)
        out["http_round_trip"] = summary(rtt)
    finally:
        server.stop()
    sql = SqlCatalog("floe", uri=f"sqlite:///{wh}/catalog.db", warehouse=f"file://{wh}")
    out["sqlcatalog_append"] = summary(appends(lambda: sql.load_table("db.sql"), args.n))

    # A table with a long history: single-row INSERTs, then loads of it.
    script = "".join(f"INSERT INTO db.history VALUES ({i});\n" for i in range(args.history))
    floe_sql(args.floe, wh, "CREATE TABLE db.history (id BIGINT)")
    floe_sql(args.floe, wh, stdin=script)
    server = Server(args.floe, wh)
    try:
        loads = []
        url = f"{server.uri}/v1/main/namespaces/db/tables/history"
        for i in range(30):
            start = time.perf_counter()
            body = urllib.request.urlopen(url).read()
            if i > 0:  # the first is a cold read of the metadata file
                loads.append((time.perf_counter() - start) * 1000)
        out["load_history"] = {**summary(loads), "snapshots": args.history,
                               "metadata_bytes": len(body)}

        # Concurrent clients: to one table each, then all to one table.
        for shared in (False, True):
            tables = ["db.shared"] if shared else [f"db.c{i}" for i in range(args.clients)]
            setup = RestCatalog("floe", uri=server.uri)
            for t in tables:
                setup.create_table(t, schema=ROW.schema)
            retries, lost = [0], []
            # PyIceberg retries a 409 itself, and logs each retry.
            class Count(logging.Handler):
                def emit(self, record):
                    if "concurrent update" in record.getMessage():
                        retries[0] += 1
            counter = Count()
            logging.getLogger().addHandler(counter)

            def client(i):
                catalog = RestCatalog("floe", uri=server.uri)
                name = tables[0] if shared else tables[i]
                for _ in range(args.commits_per_client):
                    for _attempt in range(100):
                        try:
                            catalog.load_table(name).append(ROW)
                            break
                        except CommitFailedException:
                            retries[0] += 1
                    else:
                        lost.append(i)

            threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
            start = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - start
            logging.getLogger().removeHandler(counter)
            rows = sum(len(setup.load_table(t).scan().to_arrow()) for t in tables)
            expected = args.clients * args.commits_per_client
            out["concurrent_shared" if shared else "concurrent_separate"] = {
                "clients": args.clients, "commits": expected, "seconds": elapsed,
                "commits_per_s": expected / elapsed, "retries": retries[0],
                "rows": rows, "lost": expected - rows, "gave_up": len(lost),
            }
    finally:
        server.stop()
    json.dump(out, sys.stdout, indent=2)


if __name__ == "__main__":
    main()
