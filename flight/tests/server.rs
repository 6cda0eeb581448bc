//! The server in-process, driven by arrow-flight's own Flight SQL client.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow_flight::FlightInfo;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandStatementIngest, EndTransaction, TableDefinitionOptions};
use floe_flight::{FlightSqlListener, ServerConfig};
use futures::TryStreamExt;
use tonic::transport::Channel;

struct Running {
    _dir: tempfile::TempDir,
    engine: floe_engine::Engine,
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn start() -> Running {
    let dir = tempfile::tempdir().unwrap();
    let engine = floe_engine::Engine::open(dir.path().to_str().unwrap())
        .await
        .unwrap();
    let session = engine.session();
    session
        .sql("CREATE TABLE t (id BIGINT NOT NULL, name STRING)")
        .await
        .unwrap();
    session
        .sql("INSERT INTO t VALUES (1, 'a'), (2, 'b')")
        .await
        .unwrap();
    let listener = FlightSqlListener::bind(engine.clone(), "127.0.0.1:0", ServerConfig::default())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(listener.serve(async {
        let _ = stopped.await;
    }));
    Running {
        _dir: dir,
        engine,
        addr,
        stop: Some(stop),
    }
}

async fn client(server: &Running) -> FlightSqlServiceClient<Channel> {
    let channel = Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    FlightSqlServiceClient::new(channel)
}

async fn read(
    client: &mut FlightSqlServiceClient<Channel>,
    info: FlightInfo,
) -> (Schema, Vec<RecordBatch>) {
    let announced = info.clone().try_decode_schema().unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let mut stream = client.do_get(ticket).await.unwrap();
    let mut batches = Vec::new();
    while let Some(batch) = stream.try_next().await.unwrap() {
        batches.push(batch);
    }
    // The stream has exactly the schema the FlightInfo announced.
    assert_eq!(
        stream.schema().map(|s| s.as_ref().clone()),
        Some(announced.clone())
    );
    (announced, batches)
}

/// The gRPC code and message of a client error.
fn code(error: arrow_flight::error::FlightError) -> (tonic::Code, String) {
    match error {
        arrow_flight::error::FlightError::Tonic(status) => {
            (status.code(), status.message().to_string())
        }
        other => panic!("not a gRPC status: {other}"),
    }
}

fn text(batches: &[RecordBatch]) -> String {
    arrow::util::pretty::pretty_format_batches(batches)
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_schema_is_the_stream_schema_with_the_snapshots_read() {
    let server = start().await;
    let mut client = client(&server).await;
    let info = client
        .execute("SELECT id, name FROM t ORDER BY id".into(), None)
        .await
        .unwrap();
    let (schema, batches) = read(&mut client, info).await;
    assert_eq!(schema.field(0), &Field::new("id", DataType::Int64, false));
    assert_eq!(schema.field(1), &Field::new("name", DataType::Utf8, true));
    let head = server
        .engine
        .session()
        .table("t")
        .await
        .unwrap()
        .snapshot_id()
        .unwrap();
    assert_eq!(
        schema.metadata()[floe_flight::SNAPSHOTS_KEY],
        format!("{{\"default.t\":{head}}}")
    );
    assert_eq!(schema.metadata()[floe_flight::BRANCH_KEY], "main");
    assert_eq!(
        text(&batches),
        "+----+------+\n| id | name |\n+----+------+\n| 1  | a    |\n| 2  | b    |\n+----+------+"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_bind_parameters() {
    let server = start().await;
    let mut client = client(&server).await;
    let mut insert = client
        .prepare("INSERT INTO t VALUES (?, ?)".into(), None)
        .await
        .unwrap();
    assert_eq!(insert.dataset_schema().unwrap().fields().len(), 0);
    assert_eq!(
        insert
            .parameter_schema()
            .unwrap()
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect::<Vec<_>>(),
        [DataType::Int64, DataType::Utf8View]
    );
    let params = Arc::new(Schema::new(vec![
        Field::new("0", DataType::Int64, true),
        Field::new("1", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        params,
        vec![
            Arc::new(Int64Array::from(vec![3, 4])),
            Arc::new(StringArray::from(vec!["c", "d"])),
        ],
    )
    .unwrap();
    insert.set_parameters(batch).unwrap();
    assert_eq!(insert.execute_update().await.unwrap(), 2);

    let mut query = client
        .prepare("SELECT name FROM t WHERE id > $1 ORDER BY id".into(), None)
        .await
        .unwrap();
    assert_eq!(query.dataset_schema().unwrap().field(0).name(), "name");
    let bound = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("0", DataType::Int64, true)])),
        vec![Arc::new(Int64Array::from(vec![2]))],
    )
    .unwrap();
    query.set_parameters(bound).unwrap();
    let info = query.execute().await.unwrap();
    let (_, batches) = read(&mut client, info).await;
    assert_eq!(
        text(&batches),
        "+------+\n| name |\n+------+\n| c    |\n| d    |\n+------+"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_commit_or_roll_back_and_errors_keep_their_kind() {
    let server = start().await;
    let mut client = client(&server).await;
    let count = |engine: floe_engine::Engine| async move {
        let rows = engine
            .session()
            .sql("SELECT count(*) AS n FROM t")
            .await
            .unwrap();
        text(&rows.collect().await.unwrap())
    };
    let txn = client.begin_transaction().await.unwrap();
    let added = client
        .execute_update("INSERT INTO t VALUES (5, 'e')".into(), Some(txn.clone()))
        .await
        .unwrap();
    assert_eq!(added, 1);
    assert_eq!(
        count(server.engine.clone()).await,
        "+---+\n| n |\n+---+\n| 2 |\n+---+"
    );
    client
        .end_transaction(txn, EndTransaction::Rollback)
        .await
        .unwrap();
    assert_eq!(
        count(server.engine.clone()).await,
        "+---+\n| n |\n+---+\n| 2 |\n+---+"
    );

    let txn = client.begin_transaction().await.unwrap();
    client
        .execute_update("INSERT INTO t VALUES (6, 'f')".into(), Some(txn.clone()))
        .await
        .unwrap();
    // A failed statement rolls the transaction back: COMMIT then refuses.
    let (missing, message) = code(
        client
            .execute_update("INSERT INTO nope VALUES (1)".into(), Some(txn.clone()))
            .await
            .unwrap_err(),
    );
    assert_eq!(missing, tonic::Code::NotFound);
    assert_eq!(
        message,
        "INSERT INTO 'default.nope': table 'floe.default.nope' not found. The open transaction \
         was rolled back: nothing it wrote was committed"
    );
    let (refused, message) = code(
        client
            .end_transaction(txn, EndTransaction::Commit)
            .await
            .unwrap_err(),
    );
    assert_eq!(refused, tonic::Code::Aborted);
    assert!(
        message.starts_with("nothing was committed: the transaction was rolled back"),
        "{message}"
    );
    assert_eq!(
        count(server.engine.clone()).await,
        "+---+\n| n |\n+---+\n| 2 |\n+---+"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_creates_a_table_in_one_snapshot() {
    let server = start().await;
    let mut client = client(&server).await;
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    let batches: Vec<arrow_flight::error::Result<RecordBatch>> = (0..3)
        .map(|i| {
            Ok(RecordBatch::try_new(
                Arc::clone(&schema),
                vec![Arc::new(Int64Array::from(vec![i, i + 10]))],
            )
            .unwrap())
        })
        .collect();
    let command = CommandStatementIngest {
        table_definition_options: Some(TableDefinitionOptions {
            if_not_exist: 1, // CREATE
            if_exists: 1,    // FAIL
        }),
        table: "ingested".into(),
        schema: None,
        catalog: None,
        temporary: false,
        transaction_id: None,
        options: Default::default(),
    };
    let rows = client
        .execute_ingest(command, futures::stream::iter(batches))
        .await
        .unwrap();
    assert_eq!(rows, 6);
    let snapshots = server
        .engine
        .session()
        .sql("SELECT operation, summary['added-records'] AS added FROM \"ingested$snapshots\"")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(
        text(&snapshots),
        "+-----------+-------+\n| operation | added |\n+-----------+-------+\n| append    | 6     |\n+-----------+-------+"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_that_do_not_fit_end_the_transaction_cleanly() {
    let server = start().await;
    let mut client = client(&server).await;
    let txn = client.begin_transaction().await.unwrap();
    client
        .execute_update("INSERT INTO t VALUES (7, 'g')".into(), Some(txn.clone()))
        .await
        .unwrap();
    let mut query = client
        .prepare("SELECT name FROM t WHERE id = ?".into(), Some(txn.clone()))
        .await
        .unwrap();
    let wrong = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("0", DataType::Utf8, true)])),
        vec![Arc::new(StringArray::from(vec!["seven"]))],
    )
    .unwrap();
    query.set_parameters(wrong).unwrap();
    let (bad, message) = code(query.execute().await.unwrap_err());
    assert_eq!(bad, tonic::Code::InvalidArgument);
    assert!(
        message.starts_with("parameter 1 is seven of type Utf8"),
        "{message}"
    );
    let (refused, _) = code(
        client
            .end_transaction(txn, EndTransaction::Commit)
            .await
            .unwrap_err(),
    );
    assert_eq!(refused, tonic::Code::Aborted);
    // Nothing of it was committed, and the session can begin anew.
    let txn = client.begin_transaction().await.unwrap();
    client
        .execute_update("INSERT INTO t VALUES (8, 'h')".into(), Some(txn.clone()))
        .await
        .unwrap();
    client
        .end_transaction(txn, EndTransaction::Commit)
        .await
        .unwrap();
    let rows = server
        .engine
        .session()
        .sql("SELECT id FROM t ORDER BY id")
        .await
        .unwrap();
    assert_eq!(
        text(&rows.collect().await.unwrap()),
        "+----+\n| id |\n+----+\n| 1  |\n| 2  |\n| 8  |\n+----+"
    );
}
