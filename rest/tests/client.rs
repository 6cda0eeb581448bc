//! Floe as a client of an Iceberg REST catalog (`--catalog http://…`),
//! against Floe's own server: SQL, branches, transactions through
//! `transactions/commit`, branch prefixes, auth, and commits the server
//! refuses or that race.
#![allow(clippy::unwrap_used)]

use datafusion::arrow::util::pretty::pretty_format_batches;
use floe_auth::Credentials;
use floe_engine::{Engine, ErrorKind, TableCommit, TableIdent, TableRequirement};
use floe_rest::{RestConfig, RestListener};

struct Server {
    addr: String,
    engine: Engine,
    dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Server {
    async fn start(config: RestConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path().to_str().unwrap()).await.unwrap();
        let listener = RestListener::bind(engine.clone(), "127.0.0.1:0", config)
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(listener.serve(async {
            stopped.await.ok();
        }));
        Self {
            addr,
            engine,
            dir,
            stop: Some(stop),
        }
    }

    /// An engine of its own on the server's catalog, by `http://…` and
    /// `query` (`?warehouse=dev`), over the same storage.
    async fn client(&self, query: &str) -> Engine {
        self.try_client(query).await.unwrap()
    }

    async fn try_client(&self, query: &str) -> floe_engine::Result<Engine> {
        Engine::builder(self.dir.path().to_str().unwrap())
            .with_catalog(format!("http://{}{query}", self.addr))
            .open()
            .await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
    }
}

async fn run(engine: &Engine, statements: &[&str]) {
    let session = engine.session();
    for sql in statements {
        session
            .sql(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .collect()
            .await
            .unwrap();
    }
}

async fn table(engine: &Engine, query: &str) -> String {
    let batches = engine
        .session()
        .sql(query)
        .await
        .unwrap_or_else(|e| panic!("{query}: {e}"))
        .collect()
        .await
        .unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_runs_on_a_rest_catalog() {
    let server = Server::start(RestConfig::default()).await;
    let client = server.client("").await;
    run(
        &client,
        &[
            "CREATE SCHEMA db",
            "CREATE TABLE db.t (id BIGINT, v STRING)",
            "INSERT INTO db.t VALUES (1, 'a'), (2, 'b'), (3, 'c')",
            "UPDATE db.t SET v = 'z' WHERE id = 2",
            "DELETE FROM db.t WHERE id = 1",
            "ALTER TABLE db.t ADD COLUMN n INT",
            "INSERT INTO db.t VALUES (4, 'd', 40)",
        ],
    )
    .await;
    let expected = "\
+----+---+----+
| id | v | n  |
+----+---+----+
| 2  | z |    |
| 3  | c |    |
| 4  | d | 40 |
+----+---+----+";
    let query = "SELECT * FROM db.t ORDER BY id";
    assert_eq!(table(&client, query).await, expected);
    // The server's own engine reads what the client committed through it.
    assert_eq!(table(&server.engine, query).await, expected);
    let snapshots = "SELECT operation FROM db.\"t$snapshots\" ORDER BY committed_at";
    assert_eq!(
        table(&server.engine, snapshots).await,
        table(&client, snapshots).await
    );
    assert_eq!(
        table(&client, "SHOW TABLES IN db").await,
        "\
+-----------+------------+
| namespace | table_name |
+-----------+------------+
| db        | t          |
+-----------+------------+"
    );
    run(
        &client,
        &["ALTER TABLE db.t RENAME TO db.u", "DROP TABLE db.u"],
    )
    .await;
    assert_eq!(
        table(&server.engine, "SHOW TABLES IN db").await,
        "\
+-----------+------------+
| namespace | table_name |
+-----------+------------+
+-----------+------------+"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn branches_and_transactions_work_on_a_rest_catalog() {
    let server = Server::start(RestConfig::default()).await;
    let client = server.client("").await;
    run(
        &client,
        &[
            "CREATE SCHEMA db",
            "CREATE TABLE db.a (id BIGINT)",
            "CREATE TABLE db.b (id BIGINT)",
            "INSERT INTO db.a VALUES (1)",
            "INSERT INTO db.b VALUES (1)",
            "CREATE BRANCH dev",
        ],
    )
    .await;
    // One transaction over two tables on the branch: one
    // transactions/commit request.
    let session = client.session();
    for sql in [
        "USE BRANCH dev",
        "BEGIN",
        "INSERT INTO db.a VALUES (2)",
        "INSERT INTO db.b VALUES (2)",
        "COMMIT",
    ] {
        session.sql(sql).await.unwrap().collect().await.unwrap();
    }
    let counts = "SELECT (SELECT count(*) FROM db.a) AS a, (SELECT count(*) FROM db.b) AS b";
    let one_each = "\
+---+---+
| a | b |
+---+---+
| 1 | 1 |
+---+---+";
    let two_each = one_each.replace("| 1 | 1 |", "| 2 | 2 |");
    assert_eq!(table(&server.engine, counts).await, one_each);
    let on_dev = server.engine.session();
    on_dev.sql("USE BRANCH dev").await.unwrap();
    let batches = on_dev.sql(counts).await.unwrap().collect().await.unwrap();
    assert_eq!(
        pretty_format_batches(&batches).unwrap().to_string(),
        two_each
    );

    run(&client, &["MERGE BRANCH dev INTO main"]).await;
    assert_eq!(table(&server.engine, counts).await, two_each);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_prefix_is_the_clients_main() {
    let server = Server::start(RestConfig::default()).await;
    run(
        &server.engine,
        &[
            "CREATE SCHEMA db",
            "CREATE TABLE db.t (id BIGINT)",
            "INSERT INTO db.t VALUES (1)",
            "CREATE BRANCH dev",
        ],
    )
    .await;
    let client = server.client("?warehouse=dev").await;
    run(&client, &["INSERT INTO db.t VALUES (2)"]).await;
    let count = "SELECT count(*) AS n FROM db.t";
    let two = "\
+---+
| n |
+---+
| 2 |
+---+";
    assert_eq!(table(&client, count).await, two);
    assert_eq!(
        table(&server.engine, count).await,
        two.replace("| 2 |", "| 1 |")
    );
    assert_eq!(
        table(&server.engine, "SELECT count(*) AS n FROM db.t.branch_dev").await,
        two
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_credentials_are_required() {
    let credentials = Credentials::default().with_token("s3cret");
    let server = Server::start(RestConfig {
        credentials,
        ..RestConfig::default()
    })
    .await;
    let err = server.try_client("").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
    assert!(
        err.to_string().contains("GET /v1/config failed with 401"),
        "{err}"
    );
    let client = server.client("?token=s3cret").await;
    run(
        &client,
        &["CREATE TABLE t (id BIGINT)", "INSERT INTO t VALUES (7)"],
    )
    .await;
    assert_eq!(
        table(&server.engine, "SELECT id FROM t").await,
        "\
+----+
| id |
+----+
| 7  |
+----+"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_and_racing_commits_lose_nothing() {
    let server = Server::start(RestConfig::default()).await;
    run(&server.engine, &["CREATE TABLE t (id BIGINT)"]).await;
    let client = server.client("").await;
    // A requirement that does not hold: Floe's own check refuses it
    // before the server is asked, and nothing changes.
    let commit = TableCommit {
        table: TableIdent::from_strs(["default", "t"]).unwrap(),
        requirements: vec![TableRequirement::CurrentSchemaIdMatch {
            current_schema_id: 99,
        }],
        updates: Vec::new(),
    };
    let err = client.commit(vec![commit]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(
        err.to_string()
            .contains("requirement assert-current-schema-id failed: expected schema 99"),
        "{err}"
    );
    // Two engines appending at once, each with its own commit locks: the
    // server refuses the loser's commit and the loser retries.
    let other = server.client("").await;
    let mut tasks = Vec::new();
    for (writer, engine) in [(1, client), (2, other)] {
        tasks.push(tokio::spawn(async move {
            let session = engine.session();
            for n in 0..5 {
                let sql = format!("INSERT INTO t VALUES ({})", writer * 100 + n);
                session.sql(&sql).await.unwrap().collect().await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        table(
            &server.engine,
            "SELECT count(*) AS n, count(DISTINCT id) AS d FROM t"
        )
        .await,
        "\
+----+----+
| n  | d  |
+----+----+
| 10 | 10 |
+----+----+"
    );
}
