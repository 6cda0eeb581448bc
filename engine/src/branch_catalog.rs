//! [`BranchCatalog`]: the warehouse as one of its branches sees it, in the
//! Iceberg REST catalog's terms, for servers that hand tables to other
//! engines.
//!
//! Another engine knows only `main`. A branch catalog of warehouse branch
//! `dev` shows each table that exists on `dev` with `dev` as its `main`:
//! its refs, current snapshot and snapshot log are `dev`'s, and a commit
//! that moves the client's `main` moves `dev`. Tables that exist only on
//! `dev` appear only there; a table created through it exists only on
//! `dev` until the branch is merged. A branch catalog pinned to a point in
//! time (`dev@2026-11-20T10:00:00Z`, or `dev@<snapshot id>`: the moment
//! that snapshot was committed) shows every table as it was then, read
//! only.
//!
//! Namespaces are the warehouse's, shared by every branch.

use std::collections::HashMap;

use floe_catalog::{CatalogChange, CatalogError, NamespaceIdent, PointerSwap, TableIdent};
use iceberg::spec::{
    FormatVersion, MAIN_BRANCH, Schema, SortOrder, TableMetadata, TableMetadataBuilder,
    UnboundPartitionSpec,
};
use iceberg::{TableRequirement, TableUpdate};
use serde_json::Value;

use crate::commit::{Batch, TableCommit, add_empty_branch, apply_commit, commit_batch};
use crate::engine::Engine;
use crate::error::{FloeError, Result, invalid, not_found, unsupported};
use crate::ops::ddl::DropFrom;
use crate::ops::views::{ViewRequirement, ViewState};
use crate::scope::Scope;
use crate::table::{ABSENT_FROM_MAIN, LoadedTable};

/// A table as a branch catalog's clients see it.
#[derive(Debug, Clone)]
pub struct TableState {
    /// Where the table's current metadata file is (`None` for a staged
    /// create, which has none yet). On a branch other than `main`, the file
    /// holds the warehouse's view of the table, not [`Self::metadata`].
    pub metadata_location: Option<String>,
    /// The table's metadata, with the catalog's branch as its `main`.
    pub metadata: TableMetadata,
}

/// A new table, as the REST catalog's `CreateTableRequest` describes it.
#[derive(Debug, Clone)]
pub struct NewTable {
    /// The table.
    pub table: TableIdent,
    /// Where its files go (`None`: `<warehouse>/<namespace>/<table>`).
    pub location: Option<String>,
    /// Its schema.
    pub schema: Schema,
    /// Its partition spec (`None`: unpartitioned).
    pub partition_spec: Option<UnboundPartitionSpec>,
    /// Its sort order (`None`: unsorted).
    pub sort_order: Option<SortOrder>,
    /// Its properties; `format-version` picks the format version (2 by
    /// default).
    pub properties: HashMap<String, String>,
}

/// The warehouse as one branch sees it (see the [module docs](self)).
///
/// ```
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() -> floe_engine::Result<()> {
/// use floe_engine::{Engine, TableIdent};
///
/// let dir = tempfile::tempdir().unwrap();
/// let engine = Engine::open(dir.path().to_str().unwrap()).await?;
/// let session = engine.session();
/// session.sql("CREATE TABLE t (id BIGINT)").await?;
/// session.sql("INSERT INTO t VALUES (1)").await?;
/// session.sql("CREATE BRANCH dev").await?;
/// session.sql("INSERT INTO t.branch_dev VALUES (2)").await?;
///
/// let t = TableIdent::from_strs(["default", "t"]).unwrap();
/// let main = engine.branch_catalog("main").await?.load_table(&t).await?;
/// let dev = engine.branch_catalog("dev").await?.load_table(&t).await?;
/// // On `dev`, the client's `main` is the branch `dev`.
/// let dev_head = session.table("t").await?.refs()?.get("dev").map(|r| r.snapshot_id);
/// assert_eq!(dev.metadata.current_snapshot_id(), dev_head);
/// assert_ne!(main.metadata.current_snapshot_id(), dev_head);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct BranchCatalog {
    engine: Engine,
    branch: String,
    /// Pinned to this time (ms since the epoch): read only.
    as_of: Option<i64>,
}

impl Engine {
    /// The warehouse as branch `name` sees it: `main`, another warehouse
    /// branch, or a branch pinned to a moment, read only:
    /// `<branch>@<timestamp>` (RFC 3339, `YYYY-MM-DD HH:MM:SS[.fff]` in
    /// UTC, or up to 13 digits of milliseconds since the epoch) or
    /// `<branch>@<snapshot id>` (a longer number: the moment the snapshot
    /// of that id, in any table, was committed).
    pub async fn branch_catalog(&self, name: &str) -> Result<BranchCatalog> {
        let (branch, pin) = match name.split_once('@') {
            Some((branch, pin)) => (branch, Some(pin)),
            None => (name, None),
        };
        let branch = if branch.is_empty() {
            MAIN_BRANCH
        } else {
            branch
        };
        let scope = Scope::new(self.clone());
        if !crate::ops::branches::branch_exists(&scope, branch).await? {
            return Err(not_found!("the warehouse has no branch '{branch}'"));
        }
        let as_of = match pin {
            None => None,
            Some(pin) => Some(self.pin_time(branch, pin).await?),
        };
        Ok(BranchCatalog {
            engine: self.clone(),
            branch: branch.to_string(),
            as_of,
        })
    }

    /// The moment `pin` names (see [`Engine::branch_catalog`]).
    async fn pin_time(&self, branch: &str, pin: &str) -> Result<i64> {
        let pin = pin.trim();
        if !pin.is_empty() && pin.len() > 13 && pin.bytes().all(|b| b.is_ascii_digit()) {
            let id: i64 = pin
                .parse()
                .map_err(|_| invalid!("'{pin}' is not a snapshot id"))?;
            let scope = Scope::new(self.clone());
            for ident in crate::ops::branches::table_idents(&scope).await? {
                let table = match self.load_committed(&ident).await {
                    Ok(table) => table,
                    Err(e) if e.is_table_not_found() => continue,
                    Err(e) => return Err(e),
                };
                if let Some(snapshot) = table.metadata().snapshot_by_id(id) {
                    return Ok(snapshot.timestamp_ms());
                }
            }
            return Err(not_found!(
                "no table of the warehouse has a snapshot {id} (pinning branch '{branch}')"
            ));
        }
        parse_time(pin).ok_or_else(|| {
            invalid!(
                "'{pin}' is neither a time (e.g. 2026-11-20T10:00:00Z, or milliseconds since the \
                 epoch) nor a snapshot id"
            )
        })
    }

    /// Create a namespace with properties.
    pub async fn create_namespace(
        &self,
        namespace: &NamespaceIdent,
        properties: HashMap<String, String>,
    ) -> Result<()> {
        Ok(self
            .catalog()
            .create_namespace(namespace, properties)
            .await?)
    }

    /// A namespace's properties.
    pub async fn namespace_properties(
        &self,
        namespace: &NamespaceIdent,
    ) -> Result<HashMap<String, String>> {
        Ok(self.catalog().namespace_properties(namespace).await?)
    }

    /// Remove and set namespace properties at once; returns the removals
    /// that were not set.
    pub async fn update_namespace_properties(
        &self,
        namespace: &NamespaceIdent,
        removals: Vec<String>,
        updates: HashMap<String, String>,
    ) -> Result<Vec<String>> {
        Ok(self
            .catalog()
            .update_namespace_properties(namespace, removals, updates)
            .await?)
    }

    /// Drop an empty namespace.
    pub async fn drop_namespace(&self, namespace: &NamespaceIdent) -> Result<()> {
        Ok(self.catalog().drop_namespace(namespace).await?)
    }

    /// Whether a namespace exists.
    pub async fn namespace_exists(&self, namespace: &NamespaceIdent) -> Result<bool> {
        Ok(self.catalog().namespace_exists(namespace).await?)
    }

    /// Every namespace, sorted.
    pub async fn list_namespaces(&self) -> Result<Vec<NamespaceIdent>> {
        Ok(self.catalog().list_namespaces().await?)
    }
}

impl BranchCatalog {
    /// The warehouse branch.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The moment it is pinned to (ms since the epoch), if it is.
    pub fn pinned_at(&self) -> Option<i64> {
        self.as_of
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn on_main(&self) -> bool {
        self.branch == MAIN_BRANCH && self.as_of.is_none()
    }

    fn writable(&self, what: &str) -> Result<()> {
        match self.as_of {
            Some(at) => Err(unsupported!(
                "{what}: branch '{}' pinned at {} is read only",
                self.branch,
                format_time(at)
            )),
            None => Ok(()),
        }
    }

    /// A session on the branch (for the engine's own DDL).
    async fn scope(&self) -> Result<Scope> {
        let scope = Scope::new(self.engine.clone());
        let branch = self.branch.clone();
        scope.update_settings(|s| {
            s.branch = (branch != MAIN_BRANCH).then_some(branch);
        })?;
        Ok(scope)
    }

    /// The tables of a namespace on the branch, sorted by name.
    pub async fn list_tables(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        let catalog = self.engine.catalog();
        if !catalog.namespace_exists(namespace).await? {
            return Err(CatalogError::NamespaceNotFound(namespace.clone()).into());
        }
        let mut out = Vec::new();
        for ident in catalog.list_tables(namespace).await? {
            match self.load_visible(&ident).await {
                Ok(_) => out.push(ident),
                Err(e) if e.is_table_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Whether the table exists on the branch.
    pub async fn table_exists(&self, table: &TableIdent) -> Result<bool> {
        match self.load_visible(table).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_table_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The table as the branch sees it.
    pub async fn load_table(&self, table: &TableIdent) -> Result<TableState> {
        let loaded = self.load_visible(table).await?;
        self.state_of(&loaded)
    }

    /// The table's committed metadata, if it exists on the branch (at the
    /// pinned time); [`CatalogError::TableNotFound`] if not.
    async fn load_visible(&self, ident: &TableIdent) -> Result<LoadedTable> {
        let table = self.engine.load_committed(ident).await?;
        let missing = || FloeError::from(CatalogError::TableNotFound(ident.clone()));
        if !table.exists_on(&self.branch)? {
            return Err(missing());
        }
        if let Some(at) = self.as_of
            && head_at(&table, &self.branch, at)?.is_none()
            && created_at(&table) > at
        {
            return Err(missing());
        }
        Ok(table)
    }

    /// What a client sees of `table`: its metadata with the branch as
    /// `main`.
    fn state_of(&self, table: &LoadedTable) -> Result<TableState> {
        let metadata = if self.on_main() {
            hide_floe_properties(table.metadata().as_ref().clone())?
        } else {
            let head = match self.as_of {
                Some(at) => head_at(table, &self.branch, at)?,
                None => table
                    .refs()?
                    .get(&self.branch)
                    .map(|r| r.snapshot_id)
                    .or_else(|| {
                        // `main` of a table with no snapshot yet.
                        (self.branch == MAIN_BRANCH)
                            .then(|| table.metadata().current_snapshot_id())
                            .flatten()
                    }),
            };
            branch_view(table, &self.branch, head, self.as_of.is_some())?
        };
        Ok(TableState {
            metadata_location: Some(table.metadata_location().to_string()),
            metadata,
        })
    }

    /// The metadata a `stage-create` returns: the new table's first
    /// metadata, not committed (a later [`Self::commit`] with
    /// `assert-create` makes the table).
    pub async fn stage_create(&self, table: NewTable) -> Result<TableState> {
        self.writable("CREATE TABLE")?;
        self.check_new(&table.table).await?;
        let metadata = self.new_metadata(&table)?.build()?.metadata;
        Ok(TableState {
            metadata_location: None,
            metadata,
        })
    }

    /// Create a table on the branch (on another branch than `main`, it
    /// exists only there until the branch is merged).
    pub async fn create_table(&self, table: NewTable) -> Result<TableState> {
        self.writable("CREATE TABLE")?;
        self.check_new(&table.table).await?;
        let built = self.new_metadata(&table)?.build()?;
        let mut updates = vec![TableUpdate::AssignUuid {
            uuid: built.metadata.uuid(),
        }];
        updates.extend(built.changes);
        let commit = TableCommit {
            table: table.table.clone(),
            requirements: vec![TableRequirement::NotExist],
            updates,
        };
        let mut states = self.commit(vec![commit]).await?;
        states
            .pop()
            .ok_or_else(|| FloeError::internal("a create committed no table"))
    }

    async fn check_new(&self, table: &TableIdent) -> Result<()> {
        if !self.engine.namespace_exists(table.namespace()).await? {
            return Err(CatalogError::NamespaceNotFound(table.namespace().clone()).into());
        }
        match self.engine.load_committed(table).await {
            Ok(existing) if existing.exists_on(&self.branch)? => {
                Err(CatalogError::TableAlreadyExists(table.clone()).into())
            }
            Ok(existing) => Err(CatalogError::TableAlreadyExists(table.clone())).map_err(|e| {
                FloeError::from(e).context(format!(
                    "it exists on branch(es) {} of the warehouse, not on '{}'",
                    existing.branches().unwrap_or_default().join(", "),
                    self.branch
                ))
            }),
            Err(e) if e.is_table_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn new_metadata(&self, table: &NewTable) -> Result<TableMetadataBuilder> {
        let mut properties = table.properties.clone();
        let format_version = match properties.remove("format-version").as_deref() {
            None | Some("2") => FormatVersion::V2,
            Some("1") => FormatVersion::V1,
            Some("3") => FormatVersion::V3,
            Some(other) => {
                return Err(invalid!(
                    "table '{}': format-version '{other}' is not 1, 2 or 3",
                    table.table
                ));
            }
        };
        let location = table
            .location
            .clone()
            .unwrap_or_else(|| self.engine.table_location(&table.table));
        let bad =
            |e: iceberg::Error| invalid!("cannot create table '{}': {}", table.table, e.message());
        TableMetadataBuilder::new(
            table.schema.clone(),
            table
                .partition_spec
                .clone()
                .unwrap_or_else(|| UnboundPartitionSpec::builder().build()),
            table
                .sort_order
                .clone()
                .unwrap_or_else(SortOrder::unsorted_order),
            location.trim_end_matches('/').to_string(),
            format_version,
            properties,
        )
        .map_err(bad)
    }

    /// Commit to one or several tables at once, all or none, as the REST
    /// catalog's `updateTable` and `transactions/commit` do. References to
    /// `main` in the requirements and updates are to the branch; a commit
    /// with `assert-create` creates its table (on the branch only, off
    /// `main`). Returns each table's new state.
    pub async fn commit(&self, commits: Vec<TableCommit>) -> Result<Vec<TableState>> {
        self.writable("commit")?;
        let mut translated = Vec::with_capacity(commits.len());
        for commit in commits {
            let creates = commit
                .requirements
                .iter()
                .any(|r| matches!(r, TableRequirement::NotExist));
            if creates {
                translated.push(self.creation(commit).await?);
            } else {
                // A table on another branch only is not this branch's.
                self.load_visible(&commit.table).await?;
                translated.push(self.to_branch(commit));
            }
        }
        let committed = commit_batch(
            &self.engine,
            &Batch {
                commits: translated,
                drops: Vec::new(),
            },
        )
        .await?;
        committed.iter().map(|t| self.state_of(t)).collect()
    }

    /// A commit's references to `main`, made to the branch.
    fn to_branch(&self, mut commit: TableCommit) -> TableCommit {
        if self.branch == MAIN_BRANCH {
            return commit;
        }
        let branch = &self.branch;
        for requirement in &mut commit.requirements {
            if let TableRequirement::RefSnapshotIdMatch { r#ref, .. } = requirement
                && r#ref == MAIN_BRANCH
            {
                *r#ref = branch.clone();
            }
        }
        for update in &mut commit.updates {
            match update {
                TableUpdate::SetSnapshotRef { ref_name, .. }
                | TableUpdate::RemoveSnapshotRef { ref_name }
                    if ref_name == MAIN_BRANCH =>
                {
                    *ref_name = branch.clone();
                }
                _ => {}
            }
        }
        commit
    }

    /// A create's commit: on another branch than `main`, the table is
    /// marked absent from `main` and, if the create adds no snapshot, gets
    /// an empty one on the branch so that it exists there.
    async fn creation(&self, commit: TableCommit) -> Result<TableCommit> {
        self.check_new(&commit.table).await?;
        let mut commit = self.to_branch(commit);
        if self.branch == MAIN_BRANCH {
            return Ok(commit);
        }
        commit.updates.push(TableUpdate::SetProperties {
            updates: HashMap::from([(ABSENT_FROM_MAIN.to_string(), "true".to_string())]),
        });
        let metadata = apply_commit(None, &commit)?;
        let has_branch = metadata.snapshot_for_ref(&self.branch).is_some();
        if !has_branch {
            let builder = metadata.clone().into_builder(None);
            let builder = add_empty_branch(&self.engine, &metadata, builder, &self.branch).await?;
            commit.updates.extend(builder.build()?.changes);
        }
        Ok(commit)
    }

    /// Drop a table. On `main` the whole table goes, every ref with it, as
    /// an Iceberg catalog's `dropTable` does: its clients see the table's
    /// other refs and expect them gone. On another branch only that branch
    /// goes (the table leaves the warehouse if no other branch has it), as
    /// Floe's `DROP TABLE [PURGE]` does, since to a client of that prefix
    /// the branch is the whole table.
    pub async fn drop_table(&self, table: &TableIdent, purge: bool) -> Result<()> {
        self.writable("DROP TABLE")?;
        self.load_visible(table).await?;
        let scope = self.scope().await?;
        let from = if self.on_main() {
            DropFrom::Everywhere
        } else {
            DropFrom::Branch
        };
        crate::ops::ddl::drop_table(&scope, table, purge, false, from).await
    }

    /// Rename a table (on every branch: a name is the warehouse's).
    pub async fn rename_table(&self, from: &TableIdent, to: &TableIdent) -> Result<()> {
        self.writable("RENAME TABLE")?;
        self.load_visible(from).await?;
        if !self.engine.namespace_exists(to.namespace()).await? {
            return Err(CatalogError::NamespaceNotFound(to.namespace().clone()).into());
        }
        crate::commit::rename_table(&self.engine, from, to).await
    }

    /// Adopt a table whose metadata file another catalog wrote; with
    /// `overwrite`, an existing table of that name is pointed at it
    /// instead. Registering is done on `main`.
    pub async fn register_table(
        &self,
        table: &TableIdent,
        metadata_location: &str,
        overwrite: bool,
    ) -> Result<TableState> {
        self.writable("register table")?;
        if !self.on_main() {
            return Err(unsupported!(
                "register table '{table}': tables are registered on main, not on branch '{}'",
                self.branch
            ));
        }
        if !self.engine.namespace_exists(table.namespace()).await? {
            return Err(CatalogError::NamespaceNotFound(table.namespace().clone()).into());
        }
        // The file must be table metadata Floe can read.
        let adopted = self
            .engine
            .read_table(table, metadata_location.to_string())
            .await?;
        let _guard = self.engine.commit_locks().lock([table]).await?;
        let change = match self.engine.catalog().load_table(table).await {
            Ok(current) if overwrite => CatalogChange::Swap(PointerSwap {
                table: table.clone(),
                expected: current.metadata_location,
                new: metadata_location.to_string(),
            }),
            Ok(_) => return Err(CatalogError::TableAlreadyExists(table.clone()).into()),
            Err(CatalogError::TableNotFound(_)) => CatalogChange::Create {
                table: table.clone(),
                metadata_location: metadata_location.to_string(),
            },
            Err(e) => return Err(e.into()),
        };
        self.engine.catalog().commit(vec![change]).await?;
        self.state_of(&adopted)
    }
}

/// The snapshot of `branch` that was current at `at`: the newest ancestor
/// of the branch's head committed at or before it.
fn head_at(table: &LoadedTable, branch: &str, at: i64) -> Result<Option<i64>> {
    let head = match table.refs()?.get(branch) {
        Some(r) => Some(r.snapshot_id),
        None if branch == MAIN_BRANCH => table.metadata().current_snapshot_id(),
        None => None,
    };
    Ok(table
        .ancestors(head)
        .into_iter()
        .find(|s| s.timestamp_ms() <= at)
        .map(|s| s.snapshot_id()))
}

/// When the table was created: its first metadata file's time.
fn created_at(table: &LoadedTable) -> i64 {
    let metadata = table.metadata();
    metadata
        .metadata_log()
        .first()
        .map(|m| m.timestamp_ms)
        .into_iter()
        .chain(metadata.snapshots().map(|s| s.timestamp_ms()))
        .min()
        .unwrap_or_else(|| metadata.last_updated_ms())
}

/// `metadata` without Floe's own bookkeeping properties.
fn hide_floe_properties(metadata: TableMetadata) -> Result<TableMetadata> {
    if !metadata.properties().contains_key(ABSENT_FROM_MAIN) {
        return Ok(metadata);
    }
    let mut json = serde_json::to_value(&metadata)?;
    if let Some(Value::Object(properties)) = json.get_mut("properties") {
        properties.remove(ABSENT_FROM_MAIN);
    }
    Ok(serde_json::from_value(json)?)
}

/// `table`'s metadata with `branch`, at snapshot `head`, as `main`: the
/// other refs stay (all but `branch` and the real `main`; none when
/// `pinned`), the snapshot log is the head's ancestry, and the current
/// schema is the head's.
fn branch_view(
    table: &LoadedTable,
    branch: &str,
    head: Option<i64>,
    pinned: bool,
) -> Result<TableMetadata> {
    let mut json = serde_json::to_value(table.metadata().as_ref())?;
    let object = json
        .as_object_mut()
        .ok_or_else(|| FloeError::internal("table metadata is not a JSON object"))?;
    let mut refs = serde_json::Map::new();
    if !pinned {
        for (name, reference) in table.refs()? {
            if name != branch && name != MAIN_BRANCH {
                refs.insert(name.clone(), serde_json::to_value(reference)?);
            }
        }
    }
    let mut log = Vec::new();
    if let Some(head) = head {
        refs.insert(
            MAIN_BRANCH.to_string(),
            serde_json::json!({ "snapshot-id": head, "type": "branch" }),
        );
        let mut ancestry = table.ancestors(Some(head));
        ancestry.reverse();
        log = ancestry
            .iter()
            .map(|s| serde_json::json!({ "snapshot-id": s.snapshot_id(), "timestamp-ms": s.timestamp_ms() }))
            .collect();
        if let Some(schema_id) = table
            .metadata()
            .snapshot_by_id(head)
            .and_then(|s| s.schema_id())
            && pinned
        {
            object.insert("current-schema-id".into(), schema_id.into());
        }
        object.insert("current-snapshot-id".into(), head.into());
    } else {
        object.insert("current-snapshot-id".into(), Value::from(-1));
    }
    object.insert("refs".into(), Value::Object(refs));
    object.insert("snapshot-log".into(), Value::Array(log));
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        properties.remove(ABSENT_FROM_MAIN);
    }
    Ok(serde_json::from_value(json)?)
}

/// Milliseconds since the epoch from RFC 3339, `YYYY-MM-DD HH:MM:SS[.f]`
/// (UTC) or digits.
fn parse_time(text: &str) -> Option<i64> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d",
    ]
    .iter()
    .find_map(|f| {
        chrono::NaiveDateTime::parse_from_str(text, f)
            .ok()
            .or_else(|| {
                chrono::NaiveDate::parse_from_str(text, f)
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            })
    })
    .map(|t| t.and_utc().timestamp_millis())
}

fn format_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// Views, as the branch sees them (see [`crate::ops::views`]).
impl BranchCatalog {
    /// The views of a namespace on the branch, sorted by name.
    pub async fn list_views(&self, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        crate::ops::views::list_on(&self.engine, namespace, &self.branch).await
    }

    /// A view with the branch's version current.
    pub async fn load_view(&self, view: &TableIdent) -> Result<ViewState> {
        crate::ops::views::load_state(&self.engine, view, &self.branch).await
    }

    /// Create a view on the branch from a client's first version.
    pub async fn create_view(
        &self,
        view: &TableIdent,
        location: Option<String>,
        schema: Schema,
        version: iceberg::spec::ViewVersion,
        properties: HashMap<String, String>,
    ) -> Result<ViewState> {
        self.writable("create view")?;
        crate::ops::views::create_from_client(
            &self.engine,
            &self.branch,
            view,
            location,
            schema,
            version,
            properties,
        )
        .await
    }

    /// Commit a client's requirements and updates to a view.
    pub async fn commit_view(
        &self,
        view: &TableIdent,
        requirements: Vec<ViewRequirement>,
        updates: Vec<iceberg::ViewUpdate>,
    ) -> Result<ViewState> {
        self.writable("commit view")?;
        crate::ops::views::commit_from_client(
            &self.engine,
            &self.branch,
            view,
            requirements,
            updates,
        )
        .await
    }

    /// Drop a view from the branch.
    pub async fn drop_view(&self, view: &TableIdent) -> Result<()> {
        self.writable("drop view")?;
        crate::ops::views::drop_on(&self.engine, view, &self.branch).await
    }

    /// Rename a view.
    pub async fn rename_view(&self, from: &TableIdent, to: &TableIdent) -> Result<()> {
        self.writable("rename view")?;
        crate::ops::views::rename(&self.engine, from, to).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_in_every_spelling() {
        assert_eq!(parse_time("2026-11-20T10:00:00Z"), Some(1_795_168_800_000));
        assert_eq!(parse_time("2026-11-20 10:00:00"), Some(1_795_168_800_000));
        assert_eq!(parse_time("2026-11-20"), Some(1_795_132_800_000));
        assert_eq!(parse_time("1795168800000"), Some(1_795_168_800_000));
        assert_eq!(parse_time("yesterday"), None);
    }
}
