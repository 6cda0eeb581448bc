//! The REST catalog's behaviour by the spec, request by request: status
//! codes, error types, every requirement type, transactions, pagination,
//! idempotency keys and staged creates.
#![allow(clippy::unwrap_used)]

use floe_engine::Engine;
use floe_rest::{RestConfig, RestListener, VendedCredentials};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

struct Server {
    base: String,
    client: Client,
    engine: Engine,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Server {
    async fn start() -> Self {
        Self::start_with(RestConfig::default()).await
    }

    async fn start_with(config: RestConfig) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path().to_str().unwrap()).await.unwrap();
        let listener = RestListener::bind(engine.clone(), "127.0.0.1:0", config)
            .await
            .unwrap();
        let base = format!("http://{}/v1/main", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(listener.serve(async {
            stopped.await.ok();
        }));
        Self {
            base,
            client: Client::new(),
            engine,
            _dir: dir,
            stop: Some(stop),
        }
    }

    async fn sql(&self, sql: &str) {
        self.engine.session().sql(sql).await.unwrap();
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_with(method, path, body, None).await
    }

    /// A request under another prefix than `main`'s.
    async fn call_on(&self, prefix: &str, method: &str, path: &str) -> (StatusCode, Value) {
        let main = self.base.trim_end_matches("/main");
        self.request(method, &format!("{main}/{prefix}{path}"), None, None)
            .await
    }

    async fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        self.request(method, &format!("{}{path}", self.base), body, key)
            .await
    }

    /// A GET asking for vended credentials.
    async fn get_delegated(&self, path: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("X-Iceberg-Access-Delegation", "vended-credentials")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    async fn request(
        &self,
        method: &str,
        url: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method.parse().unwrap(), url)
            .header("content-type", "application/json");
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, value)
    }

    async fn load(&self, table: &str) -> Value {
        let (status, body) = self
            .call("GET", &format!("/namespaces/db/tables/{table}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send(()).ok();
        }
    }
}

fn error_type(body: &Value) -> &str {
    body["error"]["type"].as_str().unwrap_or_default()
}

fn commit(requirements: Value, updates: Value) -> Value {
    json!({ "requirements": requirements, "updates": updates })
}

fn set_property(key: &str) -> Value {
    json!([{ "action": "set-properties", "updates": { key: "v" } }])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_requirement_type_is_checked() {
    let server = Server::start().await;
    server.sql("CREATE SCHEMA db").await;
    server.sql("CREATE TABLE db.t (id BIGINT, v STRING)").await;
    server.sql("INSERT INTO db.t VALUES (1, 'a')").await;
    let metadata = server.load("t").await["metadata"].clone();
    let head = metadata["current-snapshot-id"].as_i64().unwrap();
    let holding = [
        json!({"type": "assert-table-uuid", "uuid": metadata["table-uuid"]}),
        json!({"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": head}),
        json!({"type": "assert-ref-snapshot-id", "ref": "nope", "snapshot-id": null}),
        json!({"type": "assert-last-assigned-field-id", "last-assigned-field-id": metadata["last-column-id"]}),
        json!({"type": "assert-current-schema-id", "current-schema-id": metadata["current-schema-id"]}),
        json!({"type": "assert-last-assigned-partition-id", "last-assigned-partition-id": metadata["last-partition-id"]}),
        json!({"type": "assert-default-spec-id", "default-spec-id": metadata["default-spec-id"]}),
        json!({"type": "assert-default-sort-order-id", "default-sort-order-id": metadata["default-sort-order-id"]}),
    ];
    // Each failure, with its message as Java Iceberg words it: Java's
    // clients and the REST Compatibility Kit match on it.
    let (uuid, fields, schema) = (
        &metadata["table-uuid"],
        &metadata["last-column-id"],
        &metadata["current-schema-id"],
    );
    let (partition, spec, order) = (
        &metadata["last-partition-id"],
        &metadata["default-spec-id"],
        &metadata["default-sort-order-id"],
    );
    let zero = "00000000-0000-0000-0000-000000000000";
    let failing = [
        (
            json!({"type": "assert-create"}),
            "AlreadyExistsException",
            "Requirement failed: table already exists".to_string(),
        ),
        (
            json!({"type": "assert-table-uuid", "uuid": zero}),
            "CommitFailedException",
            format!(
                "Requirement failed: UUID does not match: expected {zero} != {}",
                uuid.as_str().unwrap()
            ),
        ),
        (
            json!({"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": head + 1}),
            "CommitFailedException",
            format!(
                "Requirement failed: branch main has changed: expected id {} != {head}",
                head + 1
            ),
        ),
        // A null snapshot id means the ref must not exist: main does.
        (
            json!({"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": null}),
            "CommitFailedException",
            "Requirement failed: branch main was created concurrently".to_string(),
        ),
        (
            json!({"type": "assert-ref-snapshot-id", "ref": "audit", "snapshot-id": head}),
            "CommitFailedException",
            format!("Requirement failed: branch or tag audit is missing, expected {head}"),
        ),
        (
            json!({"type": "assert-last-assigned-field-id", "last-assigned-field-id": 99}),
            "CommitFailedException",
            format!(
                "Requirement failed: last assigned field id changed: expected id 99 != {fields}"
            ),
        ),
        (
            json!({"type": "assert-current-schema-id", "current-schema-id": 99}),
            "CommitFailedException",
            format!("Requirement failed: current schema changed: expected id 99 != {schema}"),
        ),
        (
            json!({"type": "assert-last-assigned-partition-id", "last-assigned-partition-id": 9999}),
            "CommitFailedException",
            format!(
                "Requirement failed: last assigned partition id changed: expected id 9999 != {partition}"
            ),
        ),
        (
            json!({"type": "assert-default-spec-id", "default-spec-id": 99}),
            "CommitFailedException",
            format!("Requirement failed: default partition spec changed: expected id 99 != {spec}"),
        ),
        (
            json!({"type": "assert-default-sort-order-id", "default-sort-order-id": 99}),
            "CommitFailedException",
            format!("Requirement failed: default sort order changed: expected id 99 != {order}"),
        ),
    ];
    for (requirement, expected, message) in failing {
        let (status, body) = server
            .call(
                "POST",
                "/namespaces/db/tables/t",
                Some(commit(json!([requirement]), set_property("bad"))),
            )
            .await;
        assert_eq!(
            (status, error_type(&body)),
            (StatusCode::CONFLICT, expected),
            "{requirement}: {body}"
        );
        let said = body["error"]["message"].as_str().unwrap();
        assert!(said.starts_with(&message), "{requirement}: {said}");
    }
    assert!(
        server.load("t").await["metadata"]["properties"]
            .get("bad")
            .is_none()
    );
    let (status, body) = server
        .call(
            "POST",
            "/namespaces/db/tables/t",
            Some(commit(json!(holding), set_property("good"))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["metadata"]["properties"]["good"], "v");
    assert!(
        body["metadata-location"]
            .as_str()
            .unwrap()
            .ends_with(".metadata.json")
    );
    // An unknown requirement is a 400, not a 500.
    let (status, body) = server
        .call(
            "POST",
            "/namespaces/db/tables/t",
            Some(commit(json!([{"type": "assert-magic"}]), json!([]))),
        )
        .await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::BAD_REQUEST, "BadRequestException"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("assert-magic"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_commits_every_table_or_none() {
    let server = Server::start().await;
    server.sql("CREATE SCHEMA db").await;
    server.sql("CREATE TABLE db.a (id BIGINT)").await;
    server.sql("CREATE TABLE db.b (id BIGINT)").await;
    let change = |table: &str, requirements: Value, key: &str| {
        json!({
            "identifier": {"namespace": ["db"], "name": table},
            "requirements": requirements,
            "updates": set_property(key),
        })
    };
    let failing = json!({"table-changes": [
        change("a", json!([]), "x"),
        change("b", json!([{"type": "assert-current-schema-id", "current-schema-id": 42}]), "x"),
    ]});
    let (status, body) = server
        .call("POST", "/transactions/commit", Some(failing))
        .await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::CONFLICT, "CommitFailedException"),
        "{body}"
    );
    assert!(
        server.load("a").await["metadata"]["properties"]
            .get("x")
            .is_none()
    );

    let passing =
        json!({"table-changes": [change("a", json!([]), "y"), change("b", json!([]), "y")]});
    let (status, body) = server
        .call("POST", "/transactions/commit", Some(passing))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(server.load("a").await["metadata"]["properties"]["y"], "v");
    assert_eq!(server.load("b").await["metadata"]["properties"]["y"], "v");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_replays_the_first_response() {
    let server = Server::start().await;
    let body = json!({"namespace": ["ns"], "properties": {"owner": "ana"}});
    let first = server
        .call_with("POST", "/namespaces", Some(body.clone()), Some("k1"))
        .await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    // Sent again with the same key: the same 200, not a 409.
    let again = server
        .call_with("POST", "/namespaces", Some(body.clone()), Some("k1"))
        .await;
    assert_eq!(again, first);
    let (status, conflict) = server
        .call_with("POST", "/namespaces", Some(body), Some("k2"))
        .await;
    assert_eq!(
        (status, error_type(&conflict)),
        (StatusCode::CONFLICT, "AlreadyExistsException")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_and_tables_list_in_pages() {
    let server = Server::start().await;
    for ns in ["a", "b", "c"] {
        let (status, _) = server
            .call("POST", "/namespaces", Some(json!({"namespace": [ns]})))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, page) = server.call("GET", "/namespaces?pageSize=2", None).await;
    assert_eq!(page["namespaces"], json!([["a"], ["b"]]));
    let token = page["next-page-token"].as_str().unwrap().to_string();
    let (_, page) = server
        .call(
            "GET",
            &format!("/namespaces?pageSize=2&pageToken={token}"),
            None,
        )
        .await;
    assert_eq!(page["namespaces"], json!([["c"], ["default"]]));
    assert!(page["next-page-token"].is_null());

    server.sql("CREATE SCHEMA db").await;
    for t in ["t1", "t2", "t3"] {
        server
            .sql(&format!("CREATE TABLE db.{t} (id BIGINT)"))
            .await;
    }
    let (_, page) = server
        .call("GET", "/namespaces/db/tables?pageSize=2", None)
        .await;
    let names: Vec<&str> = page["identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["t1", "t2"]);
    let token = page["next-page-token"].as_str().unwrap().to_string();
    let (_, page) = server
        .call(
            "GET",
            &format!("/namespaces/db/tables?pageSize=2&pageToken={token}"),
            None,
        )
        .await;
    assert_eq!(
        page["identifiers"],
        json!([{"namespace": ["db"], "name": "t3"}])
    );

    // Properties, HEAD and drop.
    let (status, body) = server
        .call(
            "POST",
            "/namespaces/a/properties",
            Some(json!({"removals": ["gone"], "updates": {"k": "v"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"updated": ["k"], "removed": [], "missing": ["gone"]})
    );
    let (_, body) = server.call("GET", "/namespaces/a", None).await;
    assert_eq!(body["properties"]["k"], "v");
    assert_eq!(
        server.call("HEAD", "/namespaces/a", None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        server.call("HEAD", "/namespaces/zz", None).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, body) = server.call("DELETE", "/namespaces/db", None).await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::CONFLICT, "NamespaceNotEmptyException")
    );
    assert_eq!(
        body["error"]["message"],
        "Namespace db is not empty: it holds 3 table(s)"
    );
    assert_eq!(
        server.call("DELETE", "/namespaces/a", None).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = server.call("GET", "/namespaces/a", None).await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::NOT_FOUND, "NoSuchNamespaceException")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staged_create_is_made_by_its_commit() {
    let server = Server::start().await;
    server.sql("CREATE SCHEMA db").await;
    let schema = json!({"type": "struct", "schema-id": 0, "fields": [
        {"id": 1, "name": "id", "required": true, "type": "long"}]});
    let (status, staged) = server
        .call(
            "POST",
            "/namespaces/db/tables",
            Some(json!({"name": "s", "schema": schema, "stage-create": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{staged}");
    assert!(staged.get("metadata-location").is_none(), "{staged}");
    assert_eq!(
        server.call("HEAD", "/namespaces/db/tables/s", None).await.0,
        StatusCode::NOT_FOUND
    );
    // The commit carries the whole creation, as Java's and DuckDB's
    // create transactions send it.
    let metadata = &staged["metadata"];
    let create = commit(
        json!([{"type": "assert-create"}]),
        json!([
            {"action": "assign-uuid", "uuid": metadata["table-uuid"]},
            {"action": "upgrade-format-version", "format-version": 2},
            {"action": "add-schema", "schema": metadata["schemas"][0], "last-column-id": 1},
            {"action": "set-current-schema", "schema-id": -1},
            {"action": "add-spec", "spec": {"spec-id": 0, "fields": []}},
            {"action": "set-default-spec", "spec-id": -1},
            {"action": "add-sort-order", "sort-order": {"order-id": 0, "fields": []}},
            {"action": "set-default-sort-order", "sort-order-id": -1},
            {"action": "set-location", "location": metadata["location"]},
        ]),
    );
    let (status, body) = server
        .call("POST", "/namespaces/db/tables/s", Some(create))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["metadata"]["table-uuid"], metadata["table-uuid"]);
    let rows = server
        .engine
        .session()
        .sql("SELECT count(*) FROM db.s")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(rows[0].num_rows(), 1);

    // Register another catalog's metadata file under a new name; drop with purge.
    let location = body["metadata-location"].as_str().unwrap().to_string();
    let (status, body) = server
        .call(
            "POST",
            "/namespaces/db/register",
            Some(json!({"name": "again", "metadata-location": location})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["metadata-location"], location.as_str());
    let (status, body) = server
        .call(
            "POST",
            "/namespaces/db/register",
            Some(json!({"name": "again", "metadata-location": location})),
        )
        .await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::CONFLICT, "AlreadyExistsException")
    );
    assert_eq!(
        server
            .call("DELETE", "/namespaces/db/tables/again", None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = server
        .call("DELETE", "/namespaces/db/tables/again", None)
        .await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::NOT_FOUND, "NoSuchTableException")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_on_main_takes_every_ref_and_on_a_branch_only_the_branch() {
    let server = Server::start().await;
    server.sql("CREATE SCHEMA db").await;
    server.sql("CREATE TABLE db.t (id BIGINT)").await;
    server.sql("CREATE TABLE db.u (id BIGINT)").await;
    server.sql("INSERT INTO db.t VALUES (1)").await;
    server.sql("INSERT INTO db.u VALUES (1)").await;
    // A table elsewhere keeps branch dev in the warehouse throughout.
    server.sql("CREATE SCHEMA other").await;
    server.sql("CREATE TABLE other.keep (id BIGINT)").await;
    server.sql("INSERT INTO other.keep VALUES (1)").await;
    server.sql("CREATE BRANCH dev").await;
    let table = |name: &str| format!("/namespaces/db/tables/{name}");

    // Through dev's prefix, a drop takes only dev: main keeps the table.
    assert_eq!(
        server.call_on("dev", "DELETE", &table("u")).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        server.call_on("dev", "GET", &table("u")).await.0,
        StatusCode::NOT_FOUND
    );
    let refs = server.load("u").await["metadata"]["refs"].clone();
    assert_eq!(
        refs.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["main"]
    );

    // Through main's, an Iceberg client's dropTable takes the whole table,
    // dev's ref with it, as the table it loaded showed them.
    assert_eq!(
        server.call("DELETE", &table("t"), None).await.0,
        StatusCode::NO_CONTENT
    );
    let (status, body) = server.call_on("dev", "GET", &table("t")).await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::NOT_FOUND, "NoSuchTableException"),
        "{body}"
    );
    assert_eq!(
        server.call("DELETE", &table("u"), None).await.0,
        StatusCode::NO_CONTENT
    );
    // Nothing is left behind to keep the namespace from going.
    assert_eq!(
        server.call("DELETE", "/namespaces/db", None).await.0,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_vended_to_clients_that_ask() {
    let config = std::collections::HashMap::from([
        ("s3.access-key-id".to_string(), "key".to_string()),
        ("s3.secret-access-key".to_string(), "secret".to_string()),
    ]);
    let server = Server::start_with(RestConfig {
        vended_credentials: Some(VendedCredentials {
            prefix: "s3://lake/wh".into(),
            config: config.clone(),
        }),
        ..RestConfig::default()
    })
    .await;
    server.sql("CREATE SCHEMA db").await;
    server.sql("CREATE TABLE db.t (id BIGINT)").await;
    let body = server.get_delegated("/namespaces/db/tables/t").await;
    assert_eq!(body["config"], json!(config));
    assert_eq!(
        body["storage-credentials"],
        json!([{"prefix": "s3://lake/wh", "config": config}])
    );
    // Not asked for, not given.
    let body = server.load("t").await;
    assert_eq!(body["config"], json!({}));
    assert!(body.get("storage-credentials").is_none(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_are_served_per_branch_and_committed_on_theirs() {
    let server = Server::start().await;
    server.sql("CREATE SCHEMA db").await;
    server.sql("CREATE TABLE db.t (id BIGINT)").await;
    server.sql("INSERT INTO db.t VALUES (1), (2), (3)").await;
    server
        .sql("CREATE VIEW db.small AS SELECT id FROM db.t WHERE id < 3")
        .await;
    server.sql("CREATE BRANCH dev").await;
    let (status, body) = server.call("GET", "/namespaces/db/views", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["identifiers"],
        json!([{"namespace": ["db"], "name": "small"}])
    );

    let (status, loaded) = server.call("GET", "/namespaces/db/views/small", None).await;
    assert_eq!(status, StatusCode::OK, "{loaded}");
    let metadata = &loaded["metadata"];
    assert_eq!(metadata["format-version"], 1);
    let current = metadata["current-version-id"].as_i64().unwrap();
    let version = metadata["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version-id"].as_i64() == Some(current))
        .unwrap()
        .clone();
    assert_eq!(version["representations"][0]["dialect"], "datafusion");
    assert_eq!(version["default-namespace"], json!(["db"]));

    // Through dev's prefix, a client replaces the view: only dev changes.
    let mut replaced = version.clone();
    replaced["version-id"] = json!(current + 1);
    replaced["timestamp-ms"] = json!(chrono_now());
    replaced["representations"] = json!([{
        "type": "sql", "sql": "SELECT id FROM db.t WHERE id > 1", "dialect": "datafusion"
    }]);
    let commit = json!({
        "requirements": [{"type": "assert-view-uuid", "uuid": metadata["view-uuid"]}],
        "updates": [
            {"action": "add-view-version", "view-version": replaced},
            {"action": "set-current-view-version", "view-version-id": -1},
        ],
    });
    let main = server.base.trim_end_matches("/main").to_string();
    let (status, body) = server
        .request(
            "POST",
            &format!("{main}/dev/namespaces/db/views/small"),
            Some(commit),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let main_session = server.engine.session();
    let dev = server.engine.session();
    dev.sql("USE BRANCH dev").await.unwrap();
    assert_eq!(count(&main_session, "SELECT * FROM db.small").await, 2);
    assert_eq!(count(&dev, "SELECT * FROM db.small WHERE id > 1").await, 2);
    assert_eq!(count(&dev, "SELECT * FROM db.small WHERE id = 3").await, 1);

    // A wrong UUID is a 409, and nothing changes.
    let (_, before) = server.call("GET", "/namespaces/db/views/small", None).await;
    let stale = json!({
        "requirements": [{"type": "assert-view-uuid", "uuid": "00000000-0000-0000-0000-000000000000"}],
        "updates": [{"action": "set-properties", "updates": {"k": "v"}}],
    });
    let (status, body) = server
        .call("POST", "/namespaces/db/views/small", Some(stale))
        .await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::CONFLICT, "CommitFailedException"),
        "{body}"
    );
    let (_, again) = server.call("GET", "/namespaces/db/views/small", None).await;
    assert_eq!(again["metadata-location"], before["metadata-location"]);
    assert_eq!(again["metadata"]["current-version-id"], json!(current));

    // Missing views are NoSuchViewException, in Java's words.
    let (status, body) = server.call("GET", "/namespaces/db/views/nope", None).await;
    assert_eq!(
        (status, error_type(&body)),
        (StatusCode::NOT_FOUND, "NoSuchViewException"),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("View does not exist: db.nope"),
        "{body}"
    );

    // A drop through main's prefix leaves dev's view.
    assert_eq!(
        server
            .call("DELETE", "/namespaces/db/views/small", None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        server
            .call("GET", "/namespaces/db/views/small", None)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(count(&dev, "SELECT * FROM db.small").await, 2);
}

async fn count(session: &floe_engine::Session, sql: &str) -> usize {
    let batches = session.sql(sql).await.unwrap().collect().await.unwrap();
    batches.iter().map(|b| b.num_rows()).sum()
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
