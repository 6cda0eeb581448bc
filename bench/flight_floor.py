"""The floor of Arrow Flight transfer between two processes on loopback.

No Floe is involved: a bare pyarrow.flight server in a child process serves
a TPC-H-lineitem-shaped table, and the parent, as the client, times

- do_get: `client.do_get(ticket).read_all()` into a pyarrow Table, for
  several record batch sizes (default ~8 MiB batches, 65536 rows, 8192 rows);
- do_put: `writer.write_table(table, max_chunksize=...)` of the whole table
  in ~8 MiB messages, which the server reads and discards (its row count is
  checked afterwards);

against two in-process references in the parent:

- copy: a real copy of every column (`combine_chunks` of the table cut into
  ~8 MiB chunks, since on a one-chunk table it is a no-op), plus a raw
  memcpy of every buffer, as the memory-bandwidth reference;
- ipc: IPC stream serialisation of the table into a BufferOutputStream, and
  reading it back (zero-copy) into a Table.

Each figure is the median (and the minimum) of 3 timed runs after one
warm-up; ipc_write's first timed runs can still be page-faulting its growing
output buffer, so read its min_s too. Prints one JSON object (seconds, rows,
bytes, pyarrow version).

The table is synthetic by default (6,001,215 rows, ~970 MiB in memory,
generated with numpy in a couple of seconds, the same in both processes
from the same seed), or every *.parquet file of DIR with `--parquet DIR`.

    python -m venv /tmp/floorvenv && /tmp/floorvenv/bin/pip install pyarrow numpy
    /tmp/floorvenv/bin/python bench/flight_floor.py [--parquet DIR]
        [--rows N] [--batches 8MiB,65536,8192] [--reps 3]
        [--server-cpu 0 --client-cpu 1]

`--server-cpu` / `--client-cpu` pin each process (all its threads) to one
CPU with sched_setaffinity. The server binds to 127.0.0.1 only, on a port
the OS picks, and is shut down at the end.

Each timing also reports the client's and the server's CPU seconds and the
client's minor page faults. With messages of ~2 MiB or more, gRPC's receive
buffers come from glibc malloc's mmap / trimmed heap, so every do_get
touches ~1 GiB of memory fresh from the OS (~250k faults, ~0.5 s of CPU
here); keeping glibc from returning that memory shows the transfer itself:

    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=17179869184 \
        /tmp/floorvenv/bin/python bench/flight_floor.py
"""

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import statistics
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.flight as fl
import pyarrow.parquet as pq

LINEITEM_ROWS = 6_001_215  # TPC-H SF1
MIB = 1 << 20
# Neither side should cap message sizes (Arrow's own defaults are already
# unlimited on the client's receive side; this makes it explicit).
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", -1),
    ("grpc.max_send_message_length", -1),
]


# --------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------

def _decimal(values, precision=15, scale=2):
    """A decimal128 array from int64 unscaled values (all >= 0)."""
    raw = np.zeros((len(values), 2), dtype=np.int64)  # little-endian int128
    raw[:, 0] = values
    return pa.Array.from_buffers(
        pa.decimal128(precision, scale), len(values), [None, pa.py_buffer(raw)]
    )


def _chars(rng, choices, n):
    """A utf8 array of n one-character strings drawn from `choices`."""
    pool = np.frombuffer(choices.encode(), dtype=np.uint8)
    data = pool[rng.integers(0, len(pool), n)]
    return _chars_of(data)


def _chars_of(data):
    """A utf8 array whose i-th string is the single byte data[i]."""
    offsets = np.arange(len(data) + 1, dtype=np.int32)
    return pa.StringArray.from_buffers(
        len(data), pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data))
    )


def _random_text(rng, n, lo, hi):
    """n random strings of lo..hi-1 bytes, letters and spaces, built straight
    from an offsets buffer and one random data buffer (no Python loop)."""
    lengths = rng.integers(lo, hi, n, dtype=np.int32)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    alphabet = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz     ", dtype=np.uint8)
    data = alphabet[rng.integers(0, len(alphabet), int(offsets[-1]), dtype=np.uint8)]
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def synthetic_lineitem(rows=LINEITEM_ROWS, seed=42):
    """A table shaped like TPC-H lineitem, one chunk per column."""
    rng = np.random.default_rng(seed)

    # Orders of 1..7 lines, with TPC-H's sparse order keys.
    counts = rng.integers(1, 8, rows // 4 + 8)
    while counts.sum() < rows:
        counts = np.concatenate([counts, rng.integers(1, 8, rows // 16 + 8)])
    counts = counts[: np.searchsorted(np.cumsum(counts), rows) + 1]
    order = np.arange(len(counts), dtype=np.int64)
    orderkey = np.repeat(order // 8 * 32 + order % 8 + 1, counts)[:rows]
    starts = np.repeat(np.cumsum(counts) - counts, counts)[:rows]
    linenumber = (np.arange(rows) - starts + 1).astype(np.int32)

    # Dates (days since the epoch): 1992-01-01 is 8035, 1995-06-17 is 9298.
    orderdate = np.repeat(rng.integers(8035, 8035 + 2406 - 151, len(counts)), counts)[:rows]
    shipdate = (orderdate + rng.integers(1, 122, rows)).astype(np.int32)
    commitdate = (orderdate + rng.integers(30, 91, rows)).astype(np.int32)
    receiptdate = (shipdate + rng.integers(1, 31, rows)).astype(np.int32)
    current = 9298
    returned = np.frombuffer(b"RA", dtype=np.uint8)[rng.integers(0, 2, rows)]
    returnflag = np.where(receiptdate <= current, returned, np.uint8(ord("N")))
    linestatus = np.where(shipdate > current, np.uint8(ord("O")), np.uint8(ord("F")))

    quantity = rng.integers(1, 51, rows)
    retailprice = rng.integers(90_000, 200_000, rows)  # cents
    instructs = pa.array(["DELIVER IN PERSON", "COLLECT COD", "NONE", "TAKE BACK RETURN"])
    modes = pa.array(["REG AIR", "AIR", "RAIL", "SHIP", "TRUCK", "MAIL", "FOB"])

    def date(days):
        return pa.Array.from_buffers(pa.date32(), rows, [None, pa.py_buffer(days)])

    return pa.table({
        "l_orderkey": orderkey,
        "l_partkey": rng.integers(1, 200_001, rows),
        "l_suppkey": rng.integers(1, 10_001, rows),
        "l_linenumber": linenumber,
        "l_quantity": _decimal(quantity * 100),
        "l_extendedprice": _decimal(quantity * retailprice),
        "l_discount": _decimal(rng.integers(0, 11, rows)),
        "l_tax": _decimal(rng.integers(0, 9, rows)),
        "l_returnflag": _chars_of(returnflag),
        "l_linestatus": _chars_of(linestatus),
        "l_shipdate": date(shipdate),
        "l_commitdate": date(commitdate),
        "l_receiptdate": date(receiptdate),
        "l_shipinstruct": instructs.take(pa.array(rng.integers(0, 4, rows))),
        "l_shipmode": modes.take(pa.array(rng.integers(0, 7, rows))),
        "l_comment": _random_text(rng, rows, 10, 44),
    })


def load_table(parquet, rows, seed):
    """Every *.parquet file of `parquet` as one table, or the synthetic one."""
    if parquet:
        path = Path(parquet)
        files = [path] if path.is_file() else sorted(path.glob("*.parquet"))
        if not files:
            raise SystemExit(f"no *.parquet file in {parquet}")
        table = pa.concat_tables(pq.read_table(f) for f in files)
        # String views as plain strings, as Floe sends them: tpchgen-cli
        # writes views, and a slice of a view column carries its whole
        # data buffers into every IPC message (21 GB for SF1 lineitem).
        schema = pa.schema([
            f.with_type(pa.string()) if f.type == pa.string_view() else f for f in table.schema])
        return table.cast(schema).combine_chunks()
    return synthetic_lineitem(rows, seed)


def rows_for(table, spec):
    """Rows per batch for a batch size spec: '8MiB' (bytes) or '65536' (rows)."""
    if spec.lower().endswith("mib"):
        target = float(spec[:-3]) * MIB
        return max(1, int(table.num_rows * target / max(1, table.nbytes)))
    return int(spec)


# --------------------------------------------------------------------------
# The server (child process)
# --------------------------------------------------------------------------

class FloorServer(fl.FlightServerBase):
    """do_get(b'<spec>') streams the table in batches of that spec;
    do_put reads and discards every batch; actions: 'put_rows' (rows of the
    last do_put), 'cpu' (this process's CPU seconds so far) and 'shutdown'."""

    def __init__(self, table):
        super().__init__("grpc://127.0.0.1:0")
        self.table = table
        self.put_rows = 0

    def do_get(self, context, ticket):
        rows = rows_for(self.table, ticket.ticket.decode())
        # Zero-copy slices; RecordBatchStream writes them from C++.
        batches = self.table.to_batches(max_chunksize=rows)
        return fl.RecordBatchStream(pa.Table.from_batches(batches, self.table.schema))

    def do_put(self, context, descriptor, reader, writer):
        rows = 0
        while True:
            try:
                chunk = reader.read_chunk()
            except StopIteration:
                break
            rows += chunk.data.num_rows
            del chunk
        self.put_rows = rows

    def do_action(self, context, action):
        if action.type == "put_rows":
            yield fl.Result(str(self.put_rows).encode())
        elif action.type == "cpu":
            yield fl.Result(repr(time.process_time()).encode())
        elif action.type == "shutdown":
            # shutdown() waits for in-flight calls, this one included.
            threading.Thread(target=self.shutdown, daemon=True).start()
            yield fl.Result(b"ok")
        else:
            raise fl.FlightServerError(f"unknown action {action.type}")


def serve(conn, parquet, rows, seed, cpu):
    """Child process: build the table, start the server, report its port."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    try:
        table = load_table(parquet, rows, seed)
        server = FloorServer(table)
        conn.send({"port": server.port, "rows": table.num_rows, "nbytes": table.nbytes})
    except BaseException as e:  # let the parent fail fast, not hang
        conn.send({"error": repr(e)})
        raise
    finally:
        conn.close()
    server.serve()  # returns once shutdown() is called


# --------------------------------------------------------------------------
# Timing (parent process)
# --------------------------------------------------------------------------

def timed(fn, reps, warmup=1, server_cpu=None):
    """Median and all runs of fn() after `warmup` untimed runs: wall seconds,
    CPU seconds (all threads) and minor page faults of this process, and,
    given `server_cpu` (a function returning the server's CPU seconds so
    far), the server's CPU seconds. On a shared machine the CPU figures are
    the steadier ones."""
    for _ in range(warmup):
        fn()
    wall, cpu, srv, faults = [], [], [], []
    for _ in range(reps):
        s0 = server_cpu() if server_cpu else 0.0
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
        if server_cpu:
            srv.append(server_cpu() - s0)
    out = {"median_s": round(statistics.median(wall), 5),
           "min_s": round(min(wall), 5),
           "runs_s": [round(r, 5) for r in wall],
           "client_cpu_s": round(statistics.median(cpu), 4),
           # Page faults: first touches of memory fresh from the OS.
           "client_minor_faults": int(statistics.median(faults))}
    if server_cpu:
        out["server_cpu_s"] = round(statistics.median(srv), 4)
    return out


def memcpy_buffers(table):
    """Copy every buffer of every column once (pure memory bandwidth)."""
    for column in table.columns:
        for chunk in column.chunks:
            for buf in chunk.buffers():
                if buf is not None:
                    np.frombuffer(buf, dtype=np.uint8).copy()


def ipc_write(table, rows):
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=rows)
    return sink.getvalue()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parquet", help="read a Parquet file, or every *.parquet of DIR, instead of synthetic data")
    ap.add_argument("--rows", type=int, default=LINEITEM_ROWS, help="synthetic rows")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--batches", default="8MiB,65536,8192",
                    help="do_get batch sizes: NMiB (bytes) or N (rows), comma-separated")
    ap.add_argument("--put-batch", default="8MiB", help="do_put message size")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--server-cpu", type=int, help="pin the server process to this CPU")
    ap.add_argument("--client-cpu", type=int, help="pin this (client) process to this CPU")
    args = ap.parse_args()

    ctx = mp.get_context("spawn")
    parent_conn, child_conn = ctx.Pipe()
    child = ctx.Process(target=serve, daemon=True, args=(
        child_conn, args.parquet, args.rows, args.seed, args.server_cpu))
    child.start()
    child_conn.close()
    if args.client_cpu is not None:
        os.sched_setaffinity(0, {args.client_cpu})

    start = time.perf_counter()
    table = load_table(args.parquet, args.rows, args.seed)
    load_s = time.perf_counter() - start
    info = parent_conn.recv()
    if "error" in info:
        raise SystemExit(f"server failed: {info['error']}")
    assert (info["rows"], info["nbytes"]) == (table.num_rows, table.nbytes), info

    out = {
        "pyarrow": pa.__version__,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "affinity": {"server": args.server_cpu, "client": args.client_cpu},
        "source": args.parquet or f"synthetic(seed={args.seed})",
        "rows": table.num_rows,
        "nbytes": table.nbytes,
        "nbytes_mib": round(table.nbytes / MIB, 1),
        "load_s": round(load_s, 3),
        "reps": args.reps,
    }
    client = fl.FlightClient(f"grpc://127.0.0.1:{info['port']}", generic_options=GRPC_OPTIONS)

    def server_cpu():
        return float(next(iter(client.do_action(fl.Action("cpu", b"")))).body.to_pybytes())
    try:
        # do_get: the whole table into one pyarrow Table, per batch size.
        out["do_get"] = {}
        for spec in args.batches.split(","):
            got = {}

            def fetch():
                got["t"] = None  # free the previous result first
                got["t"] = client.do_get(fl.Ticket(spec.encode())).read_all()

            res = timed(fetch, args.reps, server_cpu=server_cpu)
            assert got["t"].num_rows == table.num_rows
            res["rows_per_batch"] = rows_for(table, spec)
            res["batches"] = -(-table.num_rows // res["rows_per_batch"])
            res["gib_per_s"] = round(table.nbytes / res["median_s"] / (1 << 30), 2)
            got.clear()
            out["do_get"][spec] = res

        # do_put: the whole table, server reads and discards.
        put_rows = rows_for(table, args.put_batch)

        def put():
            descriptor = fl.FlightDescriptor.for_path("floor")
            writer, _ = client.do_put(descriptor, table.schema)
            writer.write_table(table, max_chunksize=put_rows)
            writer.close()  # waits for the server to finish the call

        res = timed(put, args.reps, server_cpu=server_cpu)
        counted = int(next(iter(client.do_action(fl.Action("put_rows", b"")))).body.to_pybytes())
        assert counted == table.num_rows, counted
        res.update(batch=args.put_batch, rows_per_batch=put_rows,
                   gib_per_s=round(table.nbytes / res["median_s"] / (1 << 30), 2))
        out["do_put"] = res
    finally:
        try:
            list(client.do_action(fl.Action("shutdown", b"")))
        finally:
            client.close()
            child.join(30)
            if child.is_alive():
                child.terminate()
                child.join(5)

    # In-process references, with the server gone.
    rows8 = rows_for(table, "8MiB")
    chunked = pa.Table.from_batches(table.to_batches(max_chunksize=rows8), table.schema)
    keep = {}

    def copy():
        keep["t"] = None
        keep["t"] = chunked.combine_chunks()

    out["copy_combine_chunks"] = timed(copy, args.reps)
    # combine_chunks must really have copied: first data buffer moved.
    assert keep["t"].column(0).chunk(0).buffers()[1].address != \
        chunked.column(0).chunk(0).buffers()[1].address
    keep.clear()
    out["copy_memcpy_buffers"] = timed(lambda: memcpy_buffers(table), args.reps)

    ser = {}
    out["ipc_write"] = timed(lambda: ser.update(b=ipc_write(table, rows8)), args.reps)
    out["ipc_bytes"] = ser["b"].size
    out["ipc_read"] = timed(lambda: pa.ipc.open_stream(ser["b"]).read_all(), args.reps)
    ser.clear()

    def roundtrip():
        assert pa.ipc.open_stream(ipc_write(table, rows8)).read_all().num_rows == table.num_rows

    out["ipc_roundtrip"] = timed(roundtrip, args.reps)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
