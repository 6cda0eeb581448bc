"""Floe's Flight SQL server, driven by the real clients: ADBC's DB-API
driver (`adbc_driver_flightsql`) and raw `pyarrow.flight`."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi as flight_sql
import adbc_driver_manager
import pyarrow as pa
import pyarrow.flight as fl
import pytest

from conftest import FLOE_BIN, FlightServer, floe, floe_rows
from flight_proto import any_of, field, parse, unpack_any


def make_warehouse(tmp_path):
    wh = tmp_path / "wh"
    floe(
        wh,
        "CREATE TABLE t (id BIGINT NOT NULL, name STRING)",
        "INSERT INTO t VALUES (1, 'a'), (2, 'b')",
        "ALTER TABLE t SET IDENTIFIER FIELDS id",
    )
    return wh


@pytest.fixture
def server(tmp_path):
    wh = make_warehouse(tmp_path)
    with FlightServer(wh) as s:
        yield s


def head(wh, table="t", branch="main"):
    """The snapshot id a branch of a table points at."""
    (row,) = floe_rows(wh, f"SELECT snapshot_id FROM default.\"{table}$refs\" WHERE name = '{branch}'")
    return int(row[0])


def snapshots(wh, table="t"):
    """Every snapshot of a table (of every branch), oldest first."""
    rows = floe_rows(
        wh, f'SELECT snapshot_id, operation FROM default."{table}$snapshots" ORDER BY committed_at'
    )
    return [(int(r[0]), r[1]) for r in rows]


def status(client):
    (result,) = client.do_action(fl.Action("floe.status", b""))
    return json.loads(result.body.to_pybytes())


# ADBC DB-API


def test_adbc_queries_to_arrow_and_pandas_with_parameters(server):
    with flight_sql.connect(server.uri) as conn, conn.cursor() as cur:
        cur.execute("SELECT id, name FROM t ORDER BY id")
        table = cur.fetch_arrow_table()
        assert table.to_pydict() == {"id": [1, 2], "name": ["a", "b"]}
        assert table.schema.field("id").type == pa.int64()
        assert table.schema.field("name").type == pa.string()

        cur.execute("SELECT name FROM t WHERE id = ?", (2,))
        assert cur.fetchall() == [("b",)]
        cur.execute("SELECT name FROM t WHERE id = $1 OR name = $2 ORDER BY name", (1, "b"))
        assert cur.fetchall() == [("a",), ("b",)]

        cur.execute("SELECT id * 10 AS x FROM t ORDER BY id")
        frame = cur.fetch_df()
        assert list(frame["x"]) == [10, 20]


def test_adbc_commit_rollback_and_executemany(server):
    wh = server.warehouse
    before = snapshots(wh)
    with flight_sql.connect(server.uri) as conn, conn.cursor() as cur:
        # DB-API: autocommit off, every statement inside a transaction.
        cur.execute("INSERT INTO t VALUES (3, 'c')")
        assert cur.rowcount == 1
        # Not visible outside the transaction yet.
        assert floe_rows(wh, "SELECT count(*) FROM t") == [["2"]]
        cur.execute("SELECT count(*) FROM t")
        assert cur.fetchall() == [(3,)]
        conn.rollback()
        cur.execute("SELECT count(*) FROM t")
        assert cur.fetchall() == [(2,)]

        cur.executemany("INSERT INTO t VALUES (?, ?)", [(4, "d"), (5, "e"), (6, "f")])
        assert cur.rowcount == 3
        conn.commit()
    assert floe_rows(wh, "SELECT id, name FROM t ORDER BY id") == [
        ["1", "a"], ["2", "b"], ["4", "d"], ["5", "e"], ["6", "f"],
    ]
    # The rolled-back insert left nothing; one snapshot per statement committed.
    after = snapshots(wh)
    assert after[: len(before)] == before
    assert [op for _, op in after[len(before):]] == ["append"] * 3


def test_adbc_autocommit_executemany_is_all_or_nothing(server):
    wh = server.warehouse
    before = snapshots(wh)
    with flight_sql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO t VALUES (?, ?)", [(7, "g"), (8, "h")])
        assert cur.rowcount == 2
        assert len(snapshots(wh)) == len(before) + 2
        # The third row cannot be inserted: none of the three are.
        with pytest.raises(adbc_driver_manager.Error, match="NULL|null"):
            cur.executemany("INSERT INTO t VALUES (?, ?)", [(9, "i"), (10, "j"), (None, "k")])
    assert floe_rows(wh, "SELECT id FROM t ORDER BY id") == [["1"], ["2"], ["7"], ["8"]]
    assert len(snapshots(wh)) == len(before) + 2


def test_adbc_ingest_on_a_branch_leaves_main_unchanged(server):
    wh = server.warehouse
    main_before = head(wh)
    with flight_sql.connect(server.uri) as conn, conn.cursor() as cur:
        cur.execute("CREATE BRANCH feat")
        conn.commit()
        assert conn.adbc_current_catalog == "main"
        conn.adbc_current_catalog = "feat"
        assert conn.adbc_current_catalog == "feat"
        rows = cur.adbc_ingest("t", pa.table({"id": [10, 11, 12], "name": ["x", "y", "z"]}), mode="append")
        assert rows == 3
        import pandas as pd

        frame = pd.DataFrame({"id": [1, 2], "score": [0.5, 1.5]})
        assert cur.adbc_ingest("features", frame, mode="create") == 2
        cur.execute("SELECT count(*) FROM t")
        assert cur.fetchall() == [(5,)]
        cur.execute("SELECT sum(score) FROM features")
        assert cur.fetchall() == [(2.0,)]
        conn.commit()

    assert head(wh) == main_before
    assert floe_rows(wh, "SELECT count(*) FROM t") == [["2"]]
    assert floe_rows(wh, "SELECT count(*) FROM t.branch_feat") == [["5"]]
    # One append snapshot for the whole ingest.
    branch = floe_rows(
        wh, "SELECT s.operation, s.summary['added-records'] FROM default.\"t$snapshots\" s "
        "JOIN default.\"t$refs\" r ON r.snapshot_id = s.snapshot_id WHERE r.name = 'feat'"
    )
    assert branch == [["append", "3"]]
    missing = floe(wh, "SELECT * FROM features", check=False)
    assert missing.returncode == 1
    assert "features" in missing.stderr
    assert floe_rows(wh, "SELECT id, score FROM features.branch_feat ORDER BY id") == [
        ["1", "0.5"], ["2", "1.5"],
    ]


def test_adbc_ingest_modes(server):
    with flight_sql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cur:
        data = pa.table({"k": [1, 2]})
        assert cur.adbc_ingest("m", data, mode="create") == 2
        with pytest.raises(adbc_driver_manager.Error, match="ALREADY_EXISTS.*exists already"):
            cur.adbc_ingest("m", data, mode="create")
        assert cur.adbc_ingest("m", data, mode="create_append") == 2
        assert cur.adbc_ingest("m", pa.table({"k": [9]}), mode="replace") == 1
        cur.execute("SELECT k FROM m")
        assert cur.fetchall() == [(9,)]
        with pytest.raises(adbc_driver_manager.Error, match="NOT_FOUND.*no such table"):
            cur.adbc_ingest("nope", data, mode="append")


def test_adbc_get_objects_lists_branches_as_catalogs(server):
    floe(server.warehouse, "CREATE BRANCH dev", "USE BRANCH dev", "CREATE TABLE only_dev (v DOUBLE)")
    with flight_sql.connect(server.uri) as conn:
        objects = conn.adbc_get_objects().read_all().to_pylist()
        catalogs = {c["catalog_name"]: c for c in objects}
        assert sorted(catalogs) == ["dev", "main"]

        def tables(catalog):
            (schema,) = [s for s in catalogs[catalog]["catalog_db_schemas"] if s["db_schema_name"] == "default"]
            return {t["table_name"]: [c["column_name"] for c in t["table_columns"]] for t in schema["db_schema_tables"]}

        assert tables("main") == {"t": ["id", "name"]}
        assert tables("dev") == {"only_dev": ["v"], "t": ["id", "name"]}
        schema = conn.adbc_get_table_schema("t")
        assert schema.names == ["id", "name"]
        assert schema.field("id").nullable is False
        assert conn.adbc_get_table_types() == ["TABLE"]


def test_results_carry_the_snapshots_they_read(server):
    wh = server.warehouse
    (head, _), = snapshots(wh)[-1:]
    with flight_sql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM t")
        result = cur.fetch_arrow_table()
        meta = result.schema.metadata
        assert json.loads(meta[b"floe.snapshots"]) == {"default.t": head}
        assert meta[b"floe.branch"] == b"main"
        cur.execute("INSERT INTO t VALUES (3, 'c')")
        # Pinned: the same rows again, whatever was written since.
        cur.execute(f"SELECT count(*) FROM t VERSION AS OF {head}")
        assert cur.fetchall() == [(2,)]
        cur.execute("SELECT count(*) FROM t")
        assert cur.fetchall() == [(3,)]


def test_primary_keys_are_identifier_fields(server):
    client = fl.connect(server.uri)
    command = any_of("CommandGetPrimaryKeys", field(3, "t"))
    info = client.get_flight_info(fl.FlightDescriptor.for_command(command))
    table = client.do_get(info.endpoints[0].ticket).read_all()
    assert table.to_pylist() == [{
        "catalog_name": "main", "db_schema_name": "default", "table_name": "t",
        "column_name": "id", "key_name": None, "key_sequence": 1,
    }]
    assert info.schema == table.schema


def test_idle_sessions_expire_and_roll_back(tmp_path):
    wh = make_warehouse(tmp_path)
    with FlightServer(wh, "--idle-timeout", "1s") as server:
        conn = flight_sql.connect(server.uri)
        cur = conn.cursor()
        cur.execute("INSERT INTO t VALUES (3, 'c')")
        client = fl.connect(server.uri)
        assert status(client)["sessions"] == 2
        time.sleep(3)
        # The idle session (and the transaction) are gone; this call makes a new one.
        assert status(client)["sessions"] == 1
        assert floe_rows(wh, "SELECT count(*) FROM t") == [["2"]]
        with pytest.raises(adbc_driver_manager.Error, match="not open in this session"):
            cur.execute("SELECT 1")
        cur.close()
        conn.close()


# Auth and transport


def test_static_token_two_connections_are_two_sessions(tmp_path):
    wh = make_warehouse(tmp_path)
    floe(wh, "CREATE BRANCH feat")
    with FlightServer(wh, "--auth-token", "s3cr3t") as server:
        kwargs = {adbc_driver_flightsql.DatabaseOptions.AUTHORIZATION_HEADER.value: "Bearer s3cr3t"}
        with flight_sql.connect(server.uri, db_kwargs=kwargs) as one, \
                flight_sql.connect(server.uri, db_kwargs=kwargs) as two:
            one.adbc_current_catalog = "feat"
            assert one.adbc_current_catalog == "feat"
            assert two.adbc_current_catalog == "main"
        bad = {adbc_driver_flightsql.DatabaseOptions.AUTHORIZATION_HEADER.value: "Bearer wrong"}
        with pytest.raises(adbc_driver_manager.Error, match="UNAUTHENTICATED|not valid"):
            with flight_sql.connect(server.uri, db_kwargs=bad) as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")


def test_basic_auth_users_file(tmp_path):
    wh = make_warehouse(tmp_path)
    hashed = subprocess.run(
        [FLOE_BIN, "hash-password"], input="pa55\n", capture_output=True, text=True, check=True
    ).stdout.strip()
    users = tmp_path / "users"
    users.write_text(f"# who may call\nana:{hashed}\n")
    with FlightServer(wh, "--users-file", str(users)) as server:
        kwargs = {"username": "ana", "password": "pa55"}
        with flight_sql.connect(server.uri, db_kwargs=kwargs) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM t")
            assert cur.fetchall() == [(2,)]
        with pytest.raises(adbc_driver_manager.Error, match="wrong user name or password"):
            flight_sql.connect(server.uri, db_kwargs={"username": "ana", "password": "nope"})

        client = fl.connect(server.uri)
        descriptor = fl.FlightDescriptor.for_command(any_of("CommandGetCatalogs"))
        for call in (
            lambda: list(client.list_actions()),
            lambda: client.get_flight_info(descriptor),
            lambda: client.do_get(fl.Ticket(any_of("CommandGetCatalogs"))).read_all(),
            lambda: list(client.do_action(fl.Action("floe.status", b""))),
        ):
            with pytest.raises(fl.FlightUnauthenticatedError, match="authentication required"):
                call()
        header = client.authenticate_basic_token("ana", "pa55")
        assert header[0] == b"authorization" and header[1].startswith(b"Bearer ")
        options = fl.FlightCallOptions(headers=[header])
        info = client.get_flight_info(descriptor, options)
        catalogs = client.do_get(info.endpoints[0].ticket, options).read_all()
        assert catalogs.column("catalog_name").to_pylist() == ["main"]


def test_tls(tmp_path):
    wh = make_warehouse(tmp_path)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    with FlightServer(wh, "--tls-cert", str(cert), "--tls-key", str(key)) as server:
        assert server.uri.startswith("grpc+tls://")
        opts = {adbc_driver_flightsql.DatabaseOptions.TLS_ROOT_CERTS.value: cert.read_text()}
        with flight_sql.connect(server.uri, db_kwargs=opts) as conn, conn.cursor() as cur:
            cur.execute("SELECT name FROM t ORDER BY id")
            assert cur.fetchall() == [("a",), ("b",)]
        plain = fl.connect(f"grpc://127.0.0.1:{server.port}")
        with pytest.raises(fl.FlightError):
            list(plain.list_actions(fl.FlightCallOptions(timeout=5)))


# Raw pyarrow.flight


EXPECTED_SQL_INFO = {
    0, 1, 2, 3, 4, 5, 8, 9, 10, 11,
    *range(500, 577),
}


def test_unfiltered_sql_info(server):
    client = fl.connect(server.uri)
    info = client.get_flight_info(fl.FlightDescriptor.for_command(any_of("CommandGetSqlInfo")))
    table = client.do_get(info.endpoints[0].ticket).read_all()
    assert info.schema == table.schema
    values = {row["info_name"]: row["value"] for row in table.to_pylist()}
    assert set(values) == EXPECTED_SQL_INFO
    assert values[0] == "Floe"
    assert values[8] == 1  # FLIGHT_SQL_SERVER_TRANSACTION: transactions
    assert values[504] == '"'  # SQL_IDENTIFIER_QUOTE_CHAR
    assert values[563] is True  # SQL_TRANSACTIONS_SUPPORTED
    assert values[565] is True  # DDL commits the transaction first
    assert {"SELECT", "MERGE", "BRANCH"} <= set(values[508])
    assert {"abs", "sqrt"} <= set(values[509])
    assert {"upper", "concat"} <= set(values[510])
    assert {"now", "date_trunc"} <= set(values[512])


def test_large_results_stream_in_messages_well_under_16_mib(server):
    client = fl.connect(server.uri)
    # About 60 MB: streamed as it is made, in messages of at most 8 MiB.
    query = any_of("CommandStatementQuery", field(1, "SELECT value, repeat('x', 1000) AS pad FROM generate_series(1, 60000)"))
    info = client.get_flight_info(fl.FlightDescriptor.for_command(query))
    reader = client.do_get(info.endpoints[0].ticket)
    chunks = [chunk.data for chunk in reader]
    assert sum(c.num_rows for c in chunks) == 60000
    assert len(chunks) >= 8
    assert max(c.nbytes for c in chunks) <= 8 * 1024 * 1024
    assert reader.schema == info.schema


def test_cancelled_stream_stops_the_query(server):
    client = fl.connect(server.uri)
    query = any_of(
        "CommandStatementQuery",
        field(1, "SELECT a.value * b.value AS v FROM generate_series(1, 100000) a, generate_series(1, 100000) b"),
    )
    info = client.get_flight_info(fl.FlightDescriptor.for_command(query))
    reader = client.do_get(info.endpoints[0].ticket)
    reader.read_chunk()
    assert status(client)["running_queries"] == 1
    reader.cancel()
    deadline = time.time() + 10
    while status(client)["running_queries"] and time.time() < deadline:
        time.sleep(0.1)
    assert status(client)["running_queries"] == 0
    # The server goes on serving.
    info = client.get_flight_info(fl.FlightDescriptor.for_command(any_of("CommandStatementQuery", field(1, "SELECT 42 AS x"))))
    assert client.do_get(info.endpoints[0].ticket).read_all().to_pydict() == {"x": [42]}


# Bad input: a clear error, and nothing changes.


def test_malformed_ticket_and_unknown_prepared_statement(server):
    client = fl.connect(server.uri)
    # arrow-flight decodes the ticket before Floe sees it.
    with pytest.raises(pa.ArrowInvalid, match="invalid argument error.*DecodeError"):
        client.do_get(fl.Ticket(b"\xff\x00garbage")).read_all()
    ticket = any_of("TicketStatementQuery", field(1, "nosuch/ticket"))
    with pytest.raises(pa.ArrowKeyError, match="not found.*not open: its session was closed or expired"):
        client.do_get(fl.Ticket(ticket)).read_all()
    ticket = any_of("TicketStatementQuery", field(1, "garbage"))
    with pytest.raises(pa.ArrowInvalid, match="malformed ticket"):
        client.do_get(fl.Ticket(ticket)).read_all()

    # A prepared statement used after it is closed.
    (result,) = client.do_action(fl.Action(
        "CreatePreparedStatement", any_of("ActionCreatePreparedStatementRequest", field(1, "SELECT 1"))))
    payload, _ = unpack_any(result.body.to_pybytes())
    handle = parse(payload)[1][0]
    query = any_of("CommandPreparedStatementQuery", field(1, handle))
    info = client.get_flight_info(fl.FlightDescriptor.for_command(query))
    assert client.do_get(info.endpoints[0].ticket).read_all().num_rows == 1
    list(client.do_action(fl.Action(
        "ClosePreparedStatement", any_of("ActionClosePreparedStatementRequest", field(1, handle)))))
    with pytest.raises(pa.ArrowKeyError, match="is not open: it was closed"):
        client.get_flight_info(fl.FlightDescriptor.for_command(query))


def test_parameters_that_do_not_fit(server):
    with flight_sql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.Error, match="parameter 1 is .*takes Int64"):
            cur.execute("SELECT name FROM t WHERE id = ?", ("one",))
        with pytest.raises(adbc_driver_manager.Error, match="takes 2 parameters"):
            cur.execute("INSERT INTO t VALUES (?, ?)", (5,))
    assert floe_rows(server.warehouse, "SELECT count(*) FROM t") == [["2"]]


def test_ingest_that_does_not_fit(server):
    wh = server.warehouse
    floe(wh, "ALTER TABLE t CREATE TAG v1")
    before = snapshots(wh)
    with flight_sql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cur:
        with pytest.raises(adbc_driver_manager.Error, match="id"):
            cur.adbc_ingest("t", pa.table({"name": ["e"]}), mode="append")
        with pytest.raises(adbc_driver_manager.Error, match="extra"):
            cur.adbc_ingest("t", pa.table({"id": [5], "name": ["e"], "extra": [1]}), mode="append")
        with pytest.raises(adbc_driver_manager.Error, match="id"):
            cur.adbc_ingest("t", pa.table({"id": ["five"], "name": ["e"]}), mode="append")
        with pytest.raises(adbc_driver_manager.Error, match="tag 'v1'.*read-only"):
            cur.adbc_ingest("t", pa.table({"id": [5], "name": ["e"]}), mode="append", catalog_name="v1")
    assert snapshots(wh) == before


def test_second_begin_transaction(server):
    client = fl.connect(server.uri)
    begin = fl.Action("BeginTransaction", any_of("ActionBeginTransactionRequest"))
    (first,) = client.do_action(begin)
    payload, name = unpack_any(first.body.to_pybytes())
    assert name.endswith("ActionBeginTransactionResult")
    with pytest.raises(pa.ArrowInvalid, match="precondition failed.*a transaction is open in this session already"):
        list(client.do_action(begin))


def test_oversized_message(tmp_path):
    wh = make_warehouse(tmp_path)
    before = snapshots(wh)
    with FlightServer(wh, "--max-message-size", "1MiB") as server:
        with flight_sql.connect(server.uri, autocommit=True) as conn, conn.cursor() as cur:
            big = pa.table({"id": list(range(3)), "name": ["x" * 1_000_000] * 3})
            with pytest.raises(adbc_driver_manager.Error, match="(?i)message length too large|RESOURCE_EXHAUSTED"):
                cur.adbc_ingest("t", big, mode="append")
            cur.execute("SELECT count(*) FROM t")
            assert cur.fetchall() == [(2,)]
    assert snapshots(wh) == before


def test_client_killed_mid_ingest_leaves_the_table_as_it_was(server):
    wh = server.warehouse
    before = snapshots(wh)
    script = textwrap.dedent(f"""
        import sys, time
        import pyarrow as pa, pyarrow.flight as fl
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from flight_proto import any_of, field
        options = field(1, field(1, 2) + field(2, 2))  # if_not_exist FAIL, if_exists APPEND
        command = any_of("CommandStatementIngest", options + field(2, "t"))
        client = fl.connect({server.uri!r})
        schema = pa.schema([("id", pa.int64()), ("name", pa.string())])
        writer, _ = client.do_put(fl.FlightDescriptor.for_command(command), schema)
        for i in range(1000):
            writer.write_batch(pa.record_batch([pa.array([i] * 1000), pa.array(["z"] * 1000)], schema=schema))
            if i == 2:
                print("sent", flush=True)
            time.sleep(0.05)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "sent"
    child.send_signal(signal.SIGKILL)
    child.wait()
    # The server sees the stream break and commits nothing.
    time.sleep(1)
    client = fl.connect(server.uri)
    assert status(client)["running_queries"] == 0
    assert snapshots(wh) == before
    assert floe_rows(wh, "SELECT count(*) FROM t") == [["2"]]


class CookieJar(fl.ClientMiddlewareFactory):
    """Keeps the server's cookies and sends them back, as ADBC's and JDBC's
    cookie middleware do; one jar can be shared by several clients."""

    def __init__(self):
        self.cookies = {}

    def start_call(self, info):
        jar = self

        class Middleware(fl.ClientMiddleware):
            def sending_headers(self):
                if not jar.cookies:
                    return {}
                return {"cookie": "; ".join(f"{k}={v}" for k, v in jar.cookies.items())}

            def received_headers(self, headers):
                for value in headers.get("set-cookie", []):
                    name, _, rest = value.partition("=")
                    jar.cookies[name] = rest.split(";")[0]

        return Middleware()


def session_options(client):
    (result,) = client.do_action(fl.Action("GetSessionOptions", b""))
    options = {}
    for entry in parse(result.body.to_pybytes()).get(1, []):
        fields = parse(entry)
        options[fields[1][0].decode()] = parse(fields[2][0])[1][0].decode()
    return options


def update(client, sql):
    command = any_of("CommandStatementUpdate", field(1, sql))
    writer, reader = client.do_put(fl.FlightDescriptor.for_command(command), pa.schema([]))
    writer.done_writing()
    result = reader.read()
    writer.close()
    return parse(result.to_pybytes()).get(1, [0])[0] if result is not None else None


def test_the_session_cookie_keys_the_session_across_connections(server):
    floe(server.warehouse, "CREATE BRANCH feat")
    jar = CookieJar()
    first = fl.connect(server.uri, middleware=[jar])
    assert session_options(first) == {"catalog": "main", "schema": "default"}
    assert list(jar.cookies) == ["arrow_flight_session_id"]
    update(first, "USE BRANCH feat")
    # A second connection with the same cookie is the same session.
    second = fl.connect(server.uri, middleware=[jar])
    assert session_options(second) == {"catalog": "feat", "schema": "default"}
    # Without it, a connection is a session of its own.
    assert session_options(fl.connect(server.uri)) == {"catalog": "main", "schema": "default"}
    sessions = status(second)["sessions"]
    (closed,) = second.do_action(fl.Action("CloseSession", b""))
    assert parse(closed.body.to_pybytes()) == {1: [1]}  # CLOSED
    assert status(fl.connect(server.uri))["sessions"] == sessions
    # The closed session's cookie names nothing now: a new session, a new cookie.
    old = jar.cookies["arrow_flight_session_id"]
    assert session_options(first) == {"catalog": "main", "schema": "default"}
    assert jar.cookies["arrow_flight_session_id"] != old


def test_set_session_options_reports_what_it_could_not_set(server):
    client = fl.connect(server.uri)
    entry = lambda k, v: field(1, field(1, k) + field(2, field(1, v)))  # noqa: E731
    body = entry("catalog", "nosuch") + entry("flavour", "x") + entry("schema", "default")
    (result,) = client.do_action(fl.Action("SetSessionOptions", body))
    errors = {}
    for item in parse(result.body.to_pybytes()).get(1, []):
        fields = parse(item)
        errors[fields[1][0].decode()] = parse(fields[2][0]).get(1, [0])[0]
    assert errors == {"catalog": 2, "flavour": 1}  # INVALID_VALUE, INVALID_NAME
    assert session_options(client) == {"catalog": "main", "schema": "default"}


def test_xdbc_type_info_and_table_types(server):
    client = fl.connect(server.uri)
    info = client.get_flight_info(fl.FlightDescriptor.for_command(any_of("CommandGetXdbcTypeInfo")))
    types = client.do_get(info.endpoints[0].ticket).read_all()
    assert info.schema == types.schema
    # Ordered by XDBC data type, as the spec asks.
    assert types.column("type_name").to_pylist() == [
        "BOOLEAN", "BIGINT", "BINARY", "DECIMAL", "INT", "FLOAT", "DOUBLE", "STRING", "DATE",
        "TIME", "TIMESTAMP", "TIMESTAMPTZ",
    ]
    info = client.get_flight_info(fl.FlightDescriptor.for_command(any_of("CommandGetTableTypes")))
    assert client.do_get(info.endpoints[0].ticket).read_all().to_pylist() == [{"table_type": "TABLE"}]
