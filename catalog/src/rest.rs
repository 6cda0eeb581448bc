//! A client of an Iceberg REST catalog (Floe's own `floe serve --rest`,
//! Lakekeeper, Polaris, SeaweedFS, …): namespaces and tables by the REST
//! spec's endpoints, and commits as requirements and updates that the
//! server checks and applies ([`UpdateCatalog`]).
//!
//! The URI is the server's, with Floe's options in its query:
//! `http://host:port[/path]?warehouse=W&token=T&credential=ID:SECRET`.
//! `warehouse` goes to `GET /v1/config`, which answers with the prefix the
//! server serves it under; `token` is a bearer token; `credential` is
//! exchanged for one at the OAuth2 token endpoint (`/v1/oauth/tokens`), as
//! Spark's and PyIceberg's `credential` are.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use iceberg::spec::TableMetadata;
use iceberg::{NamespaceIdent, TableIdent};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    Catalog, CatalogChange, CatalogError, Committed, Result, TablePointer, UpdateCatalog,
    UpdateCommit,
};

/// What a path segment keeps unescaped (RFC 3986's unreserved characters).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The endpoint a server lists in `GET /v1/config` when it takes
/// multi-table commits.
const TRANSACTIONS: &str = "POST /v1/{prefix}/transactions/commit";

/// An Iceberg REST catalog, as a Floe [`Catalog`].
///
/// ```no_run
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> floe_catalog::Result<()> {
/// use floe_catalog::{Catalog, RestCatalog};
///
/// // A branch of a Floe warehouse, served by `floe serve --rest`.
/// let catalog = RestCatalog::connect("http://127.0.0.1:8181?warehouse=dev", "floe").await?;
/// for namespace in catalog.list_namespaces().await? {
///     println!("{}", namespace.join("."));
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct RestCatalog {
    name: String,
    /// The URI as given, with secrets left out, for messages.
    shown: String,
    /// `<server>/v1`, and that with `/<prefix>`.
    root: String,
    base: String,
    client: reqwest::Client,
    token: Option<String>,
    transactions: bool,
}

impl RestCatalog {
    /// Connect to the REST catalog at `uri` and read its configuration.
    /// `name` is the catalog's name in messages.
    pub async fn connect(uri: &str, name: &str) -> Result<Self> {
        let invalid = |reason: String| CatalogError::InvalidUri {
            uri: uri.to_string(),
            reason,
        };
        let mut url = url::Url::parse(uri).map_err(|e| invalid(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("a REST catalog is http:// or https://".into()));
        }
        let mut options: HashMap<String, String> = url.query_pairs().into_owned().collect();
        url.set_query(None);
        let server = url.as_str().trim_end_matches('/').to_string();
        let server = server.strip_suffix("/v1").unwrap_or(&server).to_string();
        let warehouse = options.remove("warehouse");
        let token = options.remove("token");
        let credential = options.remove("credential");
        let scope = options.remove("scope");
        if let Some(unknown) = options.keys().next() {
            return Err(invalid(format!(
                "unknown option '{unknown}' (expected warehouse, token, credential or scope)"
            )));
        }
        let mut catalog = Self {
            name: name.to_string(),
            shown: match &warehouse {
                Some(w) => format!("{server}?warehouse={w}"),
                None => server.clone(),
            },
            root: format!("{server}/v1"),
            base: format!("{server}/v1"),
            client: reqwest::Client::new(),
            token,
            transactions: false,
        };
        if let Some(credential) = credential {
            catalog.token = Some(catalog.exchange(&credential, scope.as_deref()).await?);
        }
        let config = catalog
            .send(
                Method::GET,
                &format!("{}/config", catalog.root),
                &[("warehouse", warehouse.as_deref())],
                None,
                "GET /v1/config",
            )
            .await?
            .unwrap_or(Value::Null);
        let setting = |key: &str| {
            config["overrides"][key]
                .as_str()
                .or_else(|| config["defaults"][key].as_str())
                .map(str::to_string)
        };
        if let Some(prefix) = setting("prefix") {
            catalog.base = format!("{}/{}", catalog.root, prefix.trim_matches('/'));
        }
        // A server that lists no endpoints offers the spec's defaults,
        // which (as Java's client has them) include transactions/commit.
        catalog.transactions = match config["endpoints"].as_array() {
            Some(endpoints) => endpoints.iter().any(|e| e.as_str() == Some(TRANSACTIONS)),
            None => true,
        };
        Ok(catalog)
    }

    /// Whether the server takes commits of several tables at once.
    pub fn supports_transactions(&self) -> bool {
        self.transactions
    }

    /// An OAuth2 client-credentials exchange of `ID:SECRET` for a token.
    async fn exchange(&self, credential: &str, scope: Option<&str>) -> Result<String> {
        let (id, secret) = credential.split_once(':').unwrap_or(("", credential));
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("scope", scope.unwrap_or("catalog")),
        ];
        let what = "POST /v1/oauth/tokens";
        let response = self
            .client
            .post(format!("{}/oauth/tokens", self.root))
            .form(&form)
            .send()
            .await
            .map_err(|e| self.unreachable(what, e))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        match body["access_token"].as_str() {
            Some(token) if status.is_success() => Ok(token.to_string()),
            _ => Err(self.refused(what, status, &body)),
        }
    }

    fn namespace_path(&self, namespace: &NamespaceIdent) -> String {
        let joined = namespace.iter().cloned().collect::<Vec<_>>().join("\u{1f}");
        format!(
            "{}/namespaces/{}",
            self.base,
            utf8_percent_encode(&joined, SEGMENT)
        )
    }

    fn table_path(&self, table: &TableIdent) -> String {
        format!(
            "{}/tables/{}",
            self.namespace_path(table.namespace()),
            utf8_percent_encode(table.name(), SEGMENT)
        )
    }

    /// One request; `Ok(None)` for an answer without a body. Error answers
    /// become [`CatalogError::Rest`] (the caller maps the ones it expects).
    async fn send(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, Option<&str>)],
        body: Option<Value>,
        what: &str,
    ) -> Result<Option<Value>> {
        let mut request = self.client.request(method, url);
        let query: Vec<(&str, &str)> = query
            .iter()
            .filter_map(|(k, v)| v.map(|v| (*k, v)))
            .collect();
        if !query.is_empty() {
            request = request.query(&query);
        }
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.unreachable(what, e))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| self.unreachable(what, e))?;
        let body = if text.trim().is_empty() {
            None
        } else {
            serde_json::from_str(&text).ok()
        };
        if status.is_success() {
            return Ok(body);
        }
        Err(self.refused(
            what,
            status,
            &body.unwrap_or_else(|| Value::String(text.clone())),
        ))
    }

    fn unreachable(&self, what: &str, source: reqwest::Error) -> CatalogError {
        CatalogError::RestUnreachable {
            catalog: self.shown.clone(),
            request: what.to_string(),
            source,
        }
    }

    fn refused(&self, what: &str, status: StatusCode, body: &Value) -> CatalogError {
        let error = &body["error"];
        let message = error["message"]
            .as_str()
            .or_else(|| body["error_description"].as_str())
            .or_else(|| body.as_str())
            .unwrap_or("")
            .to_string();
        CatalogError::Rest {
            catalog: self.shown.clone(),
            request: what.to_string(),
            status: status.as_u16(),
            kind: error["type"]
                .as_str()
                .or_else(|| body["error"].as_str())
                .unwrap_or("")
                .to_string(),
            message,
        }
    }

    /// Every page of a list endpoint, the items under `key`.
    async fn list_pages(&self, url: &str, key: &str, what: &str) -> Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .send(
                    Method::GET,
                    url,
                    &[("pageToken", token.as_deref())],
                    None,
                    what,
                )
                .await?
                .unwrap_or(Value::Null);
            if let Some(list) = page[key].as_array() {
                items.extend(list.iter().cloned());
            }
            match page["next-page-token"].as_str() {
                Some(next) if !next.is_empty() && Some(next) != token.as_deref() => {
                    token = Some(next.to_string());
                }
                _ => return Ok(items),
            }
        }
    }

    /// `DELETE …/tables/{t}`: the table leaves the catalog (its files stay).
    async fn delete(&self, table: &TableIdent) -> Result<()> {
        self.send(
            Method::DELETE,
            &self.table_path(table),
            &[],
            None,
            &format!("drop table {table}"),
        )
        .await
        .map_err(|e| about_table(e, table))?;
        Ok(())
    }

    async fn load(&self, table: &TableIdent) -> Result<TablePointer> {
        let what = format!("GET table {table}");
        let body = self
            .send(Method::GET, &self.table_path(table), &[], None, &what)
            .await
            .map_err(|e| about_table(e, table))?
            .unwrap_or(Value::Null);
        pointer_of(&body, &what)
    }

    /// A staged create of the table `commit` makes: the server reserves
    /// it, and the commit (with `assert-create`) makes it.
    async fn stage_create(&self, table: &TableIdent, metadata: &TableMetadata) -> Result<()> {
        let request = json!({
            "name": table.name(),
            "location": metadata.location(),
            "schema": metadata.current_schema(),
            "partition-spec": metadata.default_partition_spec(),
            "write-order": metadata.default_sort_order(),
            "stage-create": true,
            "properties": metadata.properties(),
        });
        let url = format!("{}/tables", self.namespace_path(table.namespace()));
        self.send(
            Method::POST,
            &url,
            &[],
            Some(request),
            &format!("stage-create table {table}"),
        )
        .await
        .map_err(|e| about_table(e, table))?;
        Ok(())
    }
}

/// A table change as the REST spec writes it.
fn change_json(commit: &UpdateCommit) -> Result<Value> {
    let json =
        |e: serde_json::Error| CatalogError::Internal(format!("commit to {}: {e}", commit.table));
    Ok(json!({
        "identifier": {"namespace": commit.table.namespace().as_ref(), "name": commit.table.name()},
        "requirements": serde_json::to_value(&commit.requirements).map_err(json)?,
        "updates": serde_json::to_value(&commit.updates).map_err(json)?,
    }))
}

/// A load or commit result's pointer, with the metadata the server served.
fn pointer_of(body: &Value, what: &str) -> Result<TablePointer> {
    let location = body["metadata-location"].as_str().ok_or_else(|| {
        CatalogError::Internal(format!("{what}: the answer has no metadata-location"))
    })?;
    Ok(TablePointer {
        metadata_location: location.to_string(),
        previous_metadata_location: None,
        metadata: Some(Arc::new(body["metadata"].clone())),
    })
}

/// A REST error about `table`, as the catalog error it stands for.
fn about_table(e: CatalogError, table: &TableIdent) -> CatalogError {
    match &e {
        CatalogError::Rest { kind, status, .. } => match (status, kind.as_str()) {
            (404, "NoSuchNamespaceException") => {
                CatalogError::NamespaceNotFound(table.namespace().clone())
            }
            (404, _) => CatalogError::TableNotFound(table.clone()),
            (409, "AlreadyExistsException") => CatalogError::TableAlreadyExists(table.clone()),
            _ => e,
        },
        _ => e,
    }
}

/// A REST error about `namespace`, as the catalog error it stands for.
fn about_namespace(e: CatalogError, namespace: &NamespaceIdent) -> CatalogError {
    match &e {
        CatalogError::Rest { kind, status, .. } => match (status, kind.as_str()) {
            (404, _) => CatalogError::NamespaceNotFound(namespace.clone()),
            (409, "AlreadyExistsException") => {
                CatalogError::NamespaceAlreadyExists(namespace.clone())
            }
            _ => e,
        },
        _ => e,
    }
}

fn namespace_of(value: &Value) -> Option<NamespaceIdent> {
    let parts: Vec<String> = value
        .as_array()?
        .iter()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect();
    NamespaceIdent::from_vec(parts).ok()
}

#[async_trait]
impl Catalog for RestCatalog {
    fn name(&self) -> &str {
        &self.name
    }

    async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<()> {
        let body = json!({"namespace": namespace.as_ref(), "properties": properties});
        self.send(
            Method::POST,
            &format!("{}/namespaces", self.base),
            &[],
            Some(body),
            &format!("create namespace {}", namespace.join(".")),
        )
        .await
        .map_err(|e| about_namespace(e, namespace))?;
        Ok(())
    }

    async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        let what = format!("HEAD namespace {}", namespace.join("."));
        match self
            .send(
                Method::HEAD,
                &self.namespace_path(namespace),
                &[],
                None,
                &what,
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(CatalogError::Rest { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn list_namespaces(&self) -> Result<Vec<NamespaceIdent>> {
        let url = format!("{}/namespaces", self.base);
        let mut namespaces: Vec<NamespaceIdent> = self
            .list_pages(&url, "namespaces", "list namespaces")
            .await?
            .iter()
            .filter_map(namespace_of)
            .collect();
        namespaces.sort_by_key(|ns| ns.join("."));
        Ok(namespaces)
    }

    async fn namespace_properties(
        &self,
        namespace: &NamespaceIdent,
    ) -> Result<HashMap<String, String>> {
        let what = format!("load namespace {}", namespace.join("."));
        let body = self
            .send(
                Method::GET,
                &self.namespace_path(namespace),
                &[],
                None,
                &what,
            )
            .await
            .map_err(|e| about_namespace(e, namespace))?
            .unwrap_or(Value::Null);
        Ok(serde_json::from_value(body["properties"].clone()).unwrap_or_default())
    }

    async fn update_namespace_properties(
        &self,
        namespace: &NamespaceIdent,
        removals: Vec<String>,
        updates: HashMap<String, String>,
    ) -> Result<Vec<String>> {
        let what = format!("update namespace properties of {}", namespace.join("."));
        let body = self
            .send(
                Method::POST,
                &format!("{}/properties", self.namespace_path(namespace)),
                &[],
                Some(json!({"removals": removals, "updates": updates})),
                &what,
            )
            .await
            .map_err(|e| about_namespace(e, namespace))?
            .unwrap_or(Value::Null);
        Ok(serde_json::from_value(body["missing"].clone()).unwrap_or_default())
    }

    async fn drop_namespace(&self, namespace: &NamespaceIdent) -> Result<()> {
        let what = format!("drop namespace {}", namespace.join("."));
        self.send(
            Method::DELETE,
            &self.namespace_path(namespace),
            &[],
            None,
            &what,
        )
        .await
        .map_err(|e| about_namespace(e, namespace))?;
        Ok(())
    }

    /// Registers the table's metadata file (`POST …/register`).
    async fn create_table(&self, table: &TableIdent, metadata_location: &str) -> Result<()> {
        let url = format!("{}/register", self.namespace_path(table.namespace()));
        let body = json!({"name": table.name(), "metadata-location": metadata_location});
        self.send(
            Method::POST,
            &url,
            &[],
            Some(body),
            &format!("register table {table}"),
        )
        .await
        .map_err(|e| about_table(e, table))?;
        Ok(())
    }

    async fn load_table(&self, table: &TableIdent) -> Result<TablePointer> {
        self.load(table).await
    }

    async fn list_tables(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        let url = format!("{}/tables", self.namespace_path(namespace));
        let what = format!("list tables of {}", namespace.join("."));
        let mut tables: Vec<TableIdent> = self
            .list_pages(&url, "identifiers", &what)
            .await
            .map_err(|e| about_namespace(e, namespace))?
            .iter()
            .filter_map(|id| {
                let namespace = namespace_of(&id["namespace"])?;
                Some(TableIdent::new(namespace, id["name"].as_str()?.to_string()))
            })
            .collect();
        tables.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(tables)
    }

    async fn drop_table(&self, table: &TableIdent) -> Result<TablePointer> {
        let pointer = self.load(table).await?;
        self.delete(table).await?;
        Ok(pointer)
    }

    async fn rename_table(&self, from: &TableIdent, to: &TableIdent) -> Result<()> {
        let ident = |t: &TableIdent| json!({"namespace": t.namespace().as_ref(), "name": t.name()});
        let body = json!({"source": ident(from), "destination": ident(to)});
        self.send(
            Method::POST,
            &format!("{}/tables/rename", self.base),
            &[],
            Some(body),
            &format!("rename table {from} to {to}"),
        )
        .await
        .map_err(|e| match &e {
            CatalogError::Rest { status: 409, .. } => CatalogError::TableAlreadyExists(to.clone()),
            _ => about_table(e, from),
        })?;
        Ok(())
    }

    /// Only drops: the server writes the metadata of every other change,
    /// through [`UpdateCatalog::commit_updates`]. A drop whose table moved
    /// since it was decided is refused; several drops are several
    /// requests (the REST spec has no atomic multi-table drop).
    async fn commit(&self, changes: Vec<CatalogChange>) -> Result<()> {
        for change in changes {
            let CatalogChange::Drop { table, expected } = change else {
                return Err(CatalogError::Internal(
                    "a REST catalog takes commits as requirements and updates, not pointer swaps"
                        .into(),
                ));
            };
            let current = self.load(&table).await?;
            if current.metadata_location != expected {
                return Err(CatalogError::CommitConflict {
                    table,
                    expected,
                    actual: current.metadata_location,
                });
            }
            self.delete(&table).await?;
        }
        Ok(())
    }

    fn as_update_catalog(&self) -> Option<&dyn UpdateCatalog> {
        Some(self)
    }
}

#[async_trait]
impl UpdateCatalog for RestCatalog {
    async fn commit_updates(&self, commits: Vec<UpdateCommit>) -> Result<Vec<Committed>> {
        if commits.len() > 1 && !self.transactions {
            return Err(CatalogError::Unsupported(format!(
                "a commit to {} tables at once needs the REST catalog's transactions/commit \
                 endpoint, which {} does not offer",
                commits.len(),
                self.shown
            )));
        }
        for commit in &commits {
            if let Some(metadata) = &commit.creates {
                self.stage_create(&commit.table, metadata).await?;
            }
        }
        if let [commit] = commits.as_slice() {
            let what = format!("commit to table {}", commit.table);
            let body = self
                .send(
                    Method::POST,
                    &self.table_path(&commit.table),
                    &[],
                    Some(change_json(commit)?),
                    &what,
                )
                .await
                .map_err(|e| committed_error(e, commit))?
                .unwrap_or(Value::Null);
            let pointer = pointer_of(&body, &what)?;
            return Ok(vec![committed(pointer)]);
        }
        let changes = commits
            .iter()
            .map(change_json)
            .collect::<Result<Vec<_>>>()?;
        let tables: Vec<String> = commits.iter().map(|c| c.table.to_string()).collect();
        self.send(
            Method::POST,
            &format!("{}/transactions/commit", self.base),
            &[],
            Some(json!({"table-changes": changes})),
            &format!("commit to tables {}", tables.join(", ")),
        )
        .await
        .map_err(|e| match commits.first() {
            Some(first) => committed_error(e, first),
            None => e,
        })?;
        // The answer has no body: each table's new state is loaded (another
        // writer may have committed on top of it since).
        let mut out = Vec::with_capacity(commits.len());
        for commit in &commits {
            out.push(committed(self.load(&commit.table).await?));
        }
        Ok(out)
    }
}

fn committed(pointer: TablePointer) -> Committed {
    Committed {
        metadata_location: pointer.metadata_location,
        metadata: pointer.metadata.unwrap_or_else(|| Arc::new(Value::Null)),
    }
}

/// A refused commit as the catalog error it stands for: a failed
/// requirement (409 `CommitFailedException`) is a lost race to retry.
fn committed_error(e: CatalogError, commit: &UpdateCommit) -> CatalogError {
    match &e {
        CatalogError::Rest {
            status: 409,
            kind,
            message,
            ..
        } if kind != "AlreadyExistsException" => CatalogError::RemoteConflict {
            table: commit.table.clone(),
            message: message.clone(),
        },
        _ => about_table(e, &commit.table),
    }
}
