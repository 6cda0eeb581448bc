"""The Flight SQL figures of bench/REPORT.md, side by side in one run:

- transfer: `SELECT * FROM lineitem` fetched through ADBC into a pyarrow
  Table, against the same query in-process (floe-bench fetch), pyarrow
  reading the Parquet files, and DuckDB's Python client;
- ingest: `adbc_ingest` of lineitem from a pyarrow Table, against Floe's
  own `INSERT ... SELECT` from the Parquet files (rows/s);
- load: N concurrent clients for S seconds, each on its own branch, mixing
  queries, prepared statements and ingests: errors, lost or duplicated
  ingests, p50 / p99 latency, and the server's peak RSS.

Prints one JSON object.
"""

import argparse
import json
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import adbc_driver_flightsql.dbapi as flight_sql
import duckdb
import pyarrow as pa
import pyarrow.flight as fl
import pyarrow.parquet as pq

# The interop tests' few protobuf messages, for the raw pyarrow.flight client.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "interop"))
from flight_proto import any_of, field  # noqa: E402


def table_path(data, table):
    file = Path(data) / f"{table}.parquet"
    return file if file.exists() else Path(data) / table


class Server:
    def __init__(self, floe, warehouse):
        self.proc = subprocess.Popen(
            [floe, "--warehouse", warehouse, "serve", "--flight", "127.0.0.1:0"],
            stdout=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline()
        if "Flight SQL on" not in line:
            raise RuntimeError(f"floe serve did not start: {line!r}")
        self.uri = line.split()[3]
        self.peak_rss = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def rss(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def _sample(self):
        while not self._stop.is_set():
            try:
                self.peak_rss = max(self.peak_rss, self.rss())
            except OSError:
                return
            time.sleep(0.2)

    def reset_peak(self):
        self.peak_rss = self.rss()

    def stop(self):
        self._stop.set()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def timed(fn, runs):
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def transfer(server, data, runs):
    path = str(table_path(data, "lineitem"))

    def adbc():
        with flight_sql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("SELECT * FROM bench.lineitem")
            return cur.fetch_arrow_table()

    flight_times, table = timed(adbc, runs)

    def raw():
        # The same through pyarrow.flight's C++ client: what the server
        # sends, without ADBC's Go client in the way.
        client = fl.connect(server.uri)
        info = client.get_flight_info(fl.FlightDescriptor.for_command(
            any_of("CommandStatementQuery", field(1, "SELECT * FROM bench.lineitem"))))
        return client.do_get(info.endpoints[0].ticket).read_all()

    raw_times, via_raw = timed(raw, runs)
    pyarrow_times, direct = timed(lambda: pq.read_table(path), runs)
    con = duckdb.connect()
    glob = path if path.endswith(".parquet") else f"{path}/*.parquet"
    def via_duckdb():
        result = con.sql(f"SELECT * FROM read_parquet('{glob}')").arrow()
        # DuckDB 1.5 hands back a reader: read it all, as the others do.
        return result.read_all() if hasattr(result, "read_all") else result

    duckdb_times, via_duckdb = timed(via_duckdb, runs)
    assert table.num_rows == via_raw.num_rows == direct.num_rows == via_duckdb.num_rows, (
        table.num_rows, via_raw.num_rows, direct.num_rows, via_duckdb.num_rows)
    return {
        "rows": table.num_rows,
        "flight_seconds": flight_times,
        "pyarrow_flight_seconds": raw_times,
        "pyarrow_parquet_seconds": pyarrow_times,
        "duckdb_seconds": duckdb_times,
        "flight_bytes": table.nbytes,
    }, direct


def ingest(server, lineitem, runs):
    # Batches of 64k rows: gRPC clients send messages of at most 16 MiB.
    lineitem = pa.Table.from_batches(lineitem.to_batches(max_chunksize=65536))
    times = []
    with flight_sql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cur:
        for i in range(runs):
            start = time.perf_counter()
            added = cur.adbc_ingest("lineitem_ingest", lineitem, mode="replace" if i else "create",
                                    db_schema_name="bench")
            times.append(time.perf_counter() - start)
            assert added == lineitem.num_rows, (added, lineitem.num_rows)
        cur.execute("SELECT count(*) FROM bench.lineitem_ingest")
        assert cur.fetchall() == [(lineitem.num_rows,)]
        cur.execute("DROP TABLE bench.lineitem_ingest PURGE")
    # The same through pyarrow.flight's C++ client (CommandStatementIngest
    # by hand: if_not_exist CREATE, if_exists REPLACE).
    raw_times = []
    client = fl.connect(server.uri)
    options = field(1, field(1, 1) + field(2, 3))
    command = any_of("CommandStatementIngest", options + field(2, "lineitem_raw") + field(3, "bench"))
    for _ in range(runs):
        start = time.perf_counter()
        writer, reader = client.do_put(fl.FlightDescriptor.for_command(command), lineitem.schema)
        for batch in lineitem.to_batches():
            writer.write_batch(batch)
        writer.done_writing()
        reader.read()
        writer.close()
        raw_times.append(time.perf_counter() - start)
    with flight_sql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM bench.lineitem_raw")
        assert cur.fetchall() == [(lineitem.num_rows,)]
        cur.execute("DROP TABLE bench.lineitem_raw PURGE")
    return {"rows": lineitem.num_rows, "seconds": times, "pyarrow_flight_seconds": raw_times}


def load(server, clients, seconds):
    """Each client on its own branch: queries, prepared statements, ingests."""
    latencies = {"query": [], "prepared": [], "ingest": []}
    errors, checks = [], []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def client(i):
        rng = random.Random(i)
        ingested = 0
        try:
            with flight_sql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cur:
                cur.execute(f"CREATE BRANCH IF NOT EXISTS load_{i}")
                conn.adbc_current_catalog = f"load_{i}"
                cur.execute(f"CREATE TABLE bench.events_{i} (id BIGINT, k BIGINT)")
                barrier.wait()
                deadline = time.time() + seconds
                next_id = 0
                while time.time() < deadline:
                    op = rng.choice(["query", "prepared", "ingest"])
                    start = time.perf_counter()
                    if op == "query":
                        cur.execute(f"SELECT count(*), sum(k) FROM bench.events_{i}")
                        cur.fetchall()
                    elif op == "prepared":
                        cur.execute(f"SELECT count(*) FROM bench.events_{i} WHERE k = ?", (rng.randrange(10),))
                        cur.fetchall()
                    else:
                        ids = list(range(next_id, next_id + 100))
                        next_id += 100
                        added = cur.adbc_ingest(f"events_{i}", pa.table({"id": ids, "k": [n % 10 for n in ids]}),
                                                mode="append", db_schema_name="bench")
                        assert added == 100
                        ingested += 100
                    with lock:
                        latencies[op].append(time.perf_counter() - start)
                cur.execute(f"SELECT count(*), count(DISTINCT id) FROM bench.events_{i}")
                ((rows, distinct),) = cur.fetchall()
                with lock:
                    checks.append({"client": i, "ingested": ingested, "rows": rows, "distinct": distinct})
        except Exception as e:  # every error is reported, none hidden
            with lock:
                errors.append(f"client {i}: {e}")
            try:
                barrier.abort()
            except threading.BrokenBarrierError:
                pass

    server.reset_peak()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start

    def pct(values, p):
        if not values:
            return None
        values = sorted(values)
        return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]

    lost_or_duplicated = sum(abs(c["rows"] - c["ingested"]) + (c["rows"] - c["distinct"]) for c in checks)
    return {
        "clients": clients,
        "seconds": seconds,
        "elapsed_seconds": elapsed,
        "errors": errors,
        "operations": {op: len(v) for op, v in latencies.items()},
        "p50_ms": {op: (pct(v, 50) or 0) * 1000 for op, v in latencies.items()},
        "p99_ms": {op: (pct(v, 99) or 0) * 1000 for op, v in latencies.items()},
        "ingested_rows": sum(c["ingested"] for c in checks),
        "lost_or_duplicated": lost_or_duplicated,
        "peak_rss_bytes": server.peak_rss,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--floe", required=True)
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    server = Server(args.floe, args.warehouse)
    try:
        import adbc_driver_flightsql
        result = {"bench": "flight", "adbc_version": adbc_driver_flightsql.__version__}
        result["transfer"], lineitem = transfer(server, args.data, args.runs)
        result["ingest"] = ingest(server, lineitem, args.runs)
        del lineitem
        result["load"] = load(server, args.clients, args.seconds)
        result["server_peak_rss_bytes"] = server.peak_rss
    finally:
        server.stop()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
