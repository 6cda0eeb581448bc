"""Shared helpers of the interop tests: run the `floe` binary, open the
warehouse with PyIceberg, load DuckDB's Iceberg extension, start SeaweedFS."""

import csv
import io
import os
import shutil
import socket
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

FLOE_BIN = os.environ.get("FLOE_BIN", "floe")


def sql_catalog(warehouse):
    """PyIceberg's SqlCatalog on a Floe warehouse's catalog file."""
    from pyiceberg.catalog.sql import SqlCatalog

    return SqlCatalog(
        "floe",
        uri=f"sqlite:///{warehouse}/catalog.db",
        warehouse=f"file://{warehouse}",
    )


def floe(warehouse, *statements, catalog=None, env=None, fmt="csv", check=True):
    """Run statements with `floe sql -c ...` and return the completed process."""
    cmd = [FLOE_BIN, "--warehouse", str(warehouse)]
    if catalog:
        cmd += ["--catalog", catalog]
    cmd += ["sql", "--format", fmt]
    for s in statements:
        cmd += ["-c", s]
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"floe failed ({proc.returncode}): {proc.stderr}")
    return proc


def floe_rows(warehouse, query, **kwargs):
    """Rows of a query as lists of strings (CSV output, header dropped)."""
    out = floe(warehouse, query, **kwargs).stdout
    rows = list(csv.reader(io.StringIO(out)))
    return rows[1:]


def metadata_location(catalog_db, namespace, table):
    with sqlite3.connect(catalog_db) as db:
        (loc,) = db.execute(
            "SELECT metadata_location FROM iceberg_tables "
            "WHERE catalog_name = 'floe' AND table_namespace = ? AND table_name = ?",
            (namespace, table),
        ).fetchone()
    return loc


def duckdb_connection():
    import duckdb
    import duckdb_extension_avro
    import duckdb_extension_httpfs
    import duckdb_extension_iceberg

    def ext(mod, name):
        return (
            Path(mod.__file__).parent
            / "extensions"
            / f"v{duckdb.__version__}"
            / f"{name}.duckdb_extension"
        )

    con = duckdb.connect(config={"autoinstall_known_extensions": False})
    # avro must be loaded before iceberg, which needs it; httpfs is what
    # its REST catalog client speaks HTTP with.
    con.execute(f"LOAD '{ext(duckdb_extension_avro, 'avro')}'")
    con.execute(f"LOAD '{ext(duckdb_extension_iceberg, 'iceberg')}'")
    con.execute(f"LOAD '{ext(duckdb_extension_httpfs, 'httpfs')}'")
    return con


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


S3_KEY = "floeadmin"
S3_SECRET = "floesecret"
S3_BUCKET = "floe"


# SeaweedFS's Iceberg REST catalog serves S3 Tables buckets only: this one.
S3_TABLE_BUCKET = "warehouse"


class SeaweedFS:
    """Where a running SeaweedFS answers: S3, and its Iceberg REST catalog."""

    def __init__(self, s3, iceberg):
        self.s3 = s3
        self.iceberg = iceberg


@pytest.fixture(scope="session")
def seaweedfs(seaweedfs_servers):
    """A SeaweedFS server on loopback with one bucket; its S3 endpoint."""
    return seaweedfs_servers.s3


@pytest.fixture(scope="session")
def seaweedfs_servers(tmp_path_factory):
    """A SeaweedFS server on loopback with one bucket and one S3 Tables
    bucket, which its Iceberg REST catalog serves."""
    weed = shutil.which("weed") or str(Path(os.sys.executable).parent / "weed")
    data = tmp_path_factory.mktemp("seaweedfs")
    ports = free_ports(11)
    names = [
        "s3.port", "s3.port.grpc", "master.port", "master.port.grpc", "volume.port",
        "volume.port.grpc", "filer.port", "filer.port.grpc", "admin.port", "admin.port.grpc",
        "s3.port.iceberg",
    ]
    cmd = [
        weed, "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-admin.ui=false", "-webdav=false", f"-bucket={S3_BUCKET}",
        f"-tableBucket={S3_TABLE_BUCKET}", "-s3.port.lance=0",
    ] + [f"-{name}={port}" for name, port in zip(names, ports)]
    env = dict(os.environ, AWS_ACCESS_KEY_ID=S3_KEY, AWS_SECRET_ACCESS_KEY=S3_SECRET)
    log = open(data / "weed.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{ports[0]}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{endpoint}/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"SeaweedFS did not start: {(data / 'weed.log').read_text()}")
            time.sleep(0.2)
        _wait_for_bucket(endpoint)
        iceberg = f"http://127.0.0.1:{ports[10]}"
        _wait_for_table_bucket(iceberg)
        yield SeaweedFS(endpoint, iceberg)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        Path(f"/tmp/seaweedfs-s3-{ports[0]}.sock").unlink(missing_ok=True)


def _wait_for_bucket(endpoint):
    import pyarrow.fs as pafs

    fs = pafs.S3FileSystem(
        access_key=S3_KEY, secret_key=S3_SECRET, region="us-east-1",
        endpoint_override=endpoint.removeprefix("http://"), scheme="http",
    )
    deadline = time.time() + 60
    while True:
        try:
            if fs.get_file_info(S3_BUCKET).type == pafs.FileType.Directory:
                return
        except OSError:
            pass
        if time.time() > deadline:
            raise RuntimeError("SeaweedFS bucket never became usable")
        time.sleep(0.2)


def seaweedfs_token(iceberg):
    """A bearer token from SeaweedFS's OAuth2 endpoint, for the S3 keys."""
    import json
    import urllib.parse

    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": S3_KEY, "client_secret": S3_SECRET,
    }).encode()
    with urllib.request.urlopen(f"{iceberg}/v1/oauth/tokens", data=form, timeout=5) as r:
        return json.load(r)["access_token"]


def _wait_for_table_bucket(iceberg):
    """The catalog answers before its table bucket exists: wait for both."""
    deadline = time.time() + 60
    while True:
        try:
            request = urllib.request.Request(
                f"{iceberg}/v1/{S3_TABLE_BUCKET}/namespaces",
                headers={"Authorization": f"Bearer {seaweedfs_token(iceberg)}"},
            )
            with urllib.request.urlopen(request, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.time() > deadline:
            raise RuntimeError("SeaweedFS's Iceberg catalog never served its table bucket")
        time.sleep(0.2)


class ServerProcess:
    """A `floe serve` process on a free loopback port: `flag` picks the
    server, `banner` is the start of the line it prints with its address."""

    flag = banner = kind = None

    def __init__(self, warehouse, *args, env=None, log_dir=None):
        self.warehouse = warehouse
        cmd = [FLOE_BIN, "--warehouse", str(warehouse), "serve", self.flag, "127.0.0.1:0", *args]
        log_dir = Path(log_dir) if log_dir else Path(warehouse).parent
        self.log = open(log_dir / f"{self.kind}-{os.getpid()}-{id(self)}.log", "w+")
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=self.log, text=True, env=dict(os.environ, **(env or {}))
        )
        line = self.proc.stdout.readline()
        if self.banner not in line:
            self.stop()
            self.log.seek(0)
            raise RuntimeError(f"floe serve did not start: {line!r} {self.log.read()}")
        self.uri = line.removeprefix(self.banner).split()[0]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class FlightServer(ServerProcess):
    """A `floe serve --flight` process on a free loopback port."""

    flag, banner, kind = "--flight", "Flight SQL on ", "flight"

    def __init__(self, warehouse, *args, env=None):
        super().__init__(warehouse, *args, env=env)
        self.port = int(self.uri.rsplit(":", 1)[1])


class RestServer(ServerProcess):
    """A `floe serve --rest` process on a free loopback port."""

    flag, banner, kind = "--rest", "Iceberg REST catalog on ", "rest"

    def catalog(self, warehouse=None, **props):
        """PyIceberg's RestCatalog on this server (a branch as `warehouse`)."""
        from pyiceberg.catalog.rest import RestCatalog

        if warehouse is not None:
            props["warehouse"] = warehouse
        return RestCatalog("floe", uri=self.uri, **props)
