//! [`Lakehouse`]: open a warehouse and run SQL on it.

use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use datafusion::sql::sqlparser::ast::{CreateTable, ObjectName};
use floe_catalog::{Catalog, CatalogError, NamespaceIdent, SqliteCatalog, TableIdent};
use object_store::ObjectStoreExt;

use crate::error::{FloeError, Result, invalid};
use crate::ops::{self, ddl};
use crate::provider::FloeCatalogProvider;
use crate::sql::{self, FloeStatement};
use crate::storage::{StoreRegistry, WarehouseUri};
use crate::warehouse::Warehouse;

/// The catalog name tables are addressed under in SQL (`floe.db.t`) and
/// recorded under in the catalog database.
pub const CATALOG_NAME: &str = "floe";

/// The namespace unqualified table names resolve in.
pub const DEFAULT_NAMESPACE: &str = "default";

/// How to open a warehouse: its location and, optionally, its catalog.
#[derive(Debug, Clone)]
#[must_use]
pub struct LakehouseBuilder {
    warehouse: String,
    catalog: Option<String>,
}

impl LakehouseBuilder {
    /// Use the catalog at `uri`: `sqlite:PATH`, `sqlite:///PATH` (the form
    /// SQLAlchemy and PyIceberg use) or `sqlite::memory:`.
    pub fn with_catalog(mut self, uri: impl Into<String>) -> Self {
        self.catalog = Some(uri.into());
        self
    }

    /// Open the warehouse.
    pub async fn open(self) -> Result<Lakehouse> {
        let root = WarehouseUri::parse(&self.warehouse)?;
        let registry = Arc::new(StoreRegistry::default());
        check_reachable(&root, &registry).await?;
        let catalog = open_catalog(&root, self.catalog.as_deref()).await?;
        let warehouse = Warehouse::new(root, catalog, registry);
        Lakehouse::new(warehouse).await
    }
}

/// Make sure the warehouse can be used before anything is written to it.
async fn check_reachable(root: &WarehouseUri, registry: &StoreRegistry) -> Result<()> {
    let unreachable = |reason: String| FloeError::InvalidWarehouse {
        uri: root.as_str().to_string(),
        reason,
    };
    if let Some(path) = root.local_path() {
        return std::fs::create_dir_all(&path)
            .map_err(|e| unreachable(format!("cannot create directory {}: {e}", path.display())));
    }
    let (url, prefix) = crate::storage::split_location(root.as_str())?;
    let store = registry.store(&url)?;
    // Any answer but an error means the store is there and lets us in.
    store
        .list_with_delimiter(Some(&prefix))
        .await
        .map_err(|e| unreachable(format!("cannot list it: {e}")))?;
    let _ = store.head(&prefix.clone().join("catalog.db")).await;
    Ok(())
}

async fn open_catalog(root: &WarehouseUri, uri: Option<&str>) -> Result<Arc<dyn Catalog>> {
    let path = match uri {
        Some(uri) => {
            let rest = uri.strip_prefix("sqlite:").ok_or_else(|| {
                FloeError::Catalog(CatalogError::InvalidUri {
                    uri: uri.to_string(),
                    reason: "expected sqlite:PATH (other catalogs are not supported yet)".into(),
                })
            })?;
            // SQLAlchemy's form: sqlite:///relative.db, sqlite:////absolute.db.
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            rest.to_string()
        }
        None => match root.local_path() {
            Some(dir) => dir.join("catalog.db").display().to_string(),
            None if root.url().scheme() == "memory" => ":memory:".to_string(),
            None => {
                return Err(FloeError::InvalidWarehouse {
                    uri: root.as_str().to_string(),
                    reason: "an object-store warehouse needs a catalog: pass \
                             --catalog sqlite:PATH (or set FLOE_CATALOG)"
                        .into(),
                });
            }
        },
    };
    // Opening may wait on another process's lock: not on an async thread.
    let catalog = tokio::task::spawn_blocking(move || SqliteCatalog::open(&path, CATALOG_NAME))
        .await
        .map_err(|e| FloeError::Internal(format!("opening the catalog: {e}")))??;
    Ok(Arc::new(catalog))
}

/// An open warehouse and a SQL session on it.
///
/// ```
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() -> floe_engine::Result<()> {
/// use floe_engine::Lakehouse;
///
/// let dir = tempfile::tempdir().unwrap();
/// let lh = Lakehouse::open(dir.path().to_str().unwrap()).await?;
/// lh.sql("CREATE TABLE trips (id BIGINT NOT NULL, city STRING) PARTITIONED BY (city)").await?;
/// lh.sql("INSERT INTO trips VALUES (1, 'Oslo'), (2, 'Lima'), (3, 'Oslo')").await?;
/// let batches = lh
///     .sql("SELECT city, count(*) AS n FROM trips GROUP BY city ORDER BY city")
///     .await?
///     .collect()
///     .await?;
/// let table = arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string();
/// assert_eq!(
///     table,
///     "+------+---+\n\
///      | city | n |\n\
///      +------+---+\n\
///      | Lima | 1 |\n\
///      | Oslo | 2 |\n\
///      +------+---+"
/// );
/// # Ok(())
/// # }
/// ```
pub struct Lakehouse {
    warehouse: Warehouse,
    ctx: SessionContext,
    catalog: Arc<FloeCatalogProvider>,
}

impl std::fmt::Debug for Lakehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lakehouse")
            .field("warehouse", &self.warehouse.root().as_str())
            .field("session", &self.ctx.session_id())
            .finish()
    }
}

impl Lakehouse {
    /// Open the warehouse at `uri` (a local path, `file://`, `s3://bucket/prefix`
    /// or `memory://`) with its default catalog: `<warehouse>/catalog.db` for
    /// a local warehouse, an in-memory one for `memory://`.
    pub async fn open(uri: &str) -> Result<Self> {
        Self::builder(uri).open().await
    }

    /// Options for opening the warehouse at `uri`.
    pub fn builder(uri: impl Into<String>) -> LakehouseBuilder {
        LakehouseBuilder {
            warehouse: uri.into(),
            catalog: None,
        }
    }

    async fn new(warehouse: Warehouse) -> Result<Self> {
        let default = NamespaceIdent::new(DEFAULT_NAMESPACE.to_string());
        ddl::create_namespace(&warehouse, &default, true).await?;
        let config = SessionConfig::new()
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema(CATALOG_NAME, DEFAULT_NAMESPACE)
            .with_information_schema(true);
        let runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::clone(warehouse.registry()) as _)
            .build_arc()?;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let catalog = Arc::new(FloeCatalogProvider::new(warehouse.clone()));
        catalog.refresh().await?;
        ctx.register_catalog(CATALOG_NAME, Arc::clone(&catalog) as _);
        Ok(Self {
            warehouse,
            ctx,
            catalog,
        })
    }

    /// The warehouse.
    pub fn warehouse(&self) -> &Warehouse {
        &self.warehouse
    }

    /// The DataFusion session, e.g. to register functions or tables.
    pub fn session_context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Run SQL: one statement or several separated by `;`. Every statement
    /// but the last runs to completion; the last one's result is returned.
    /// DDL and DML take effect before this returns; a query runs when the
    /// returned frame is collected.
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        let statements = sql::split::split_statements(sql)?;
        let count = statements.len();
        let mut last = None;
        for (i, statement) in statements.into_iter().enumerate() {
            let frame = self.statement(&statement.sql).await.map_err(|e| match e {
                // Kept as they are, so callers can match them and retry.
                e @ (FloeError::Conflict { .. } | FloeError::Catalog(_)) => e,
                e if count > 1 => invalid!("statement at line {}: {e}", statement.line),
                e => e,
            })?;
            if i + 1 < count {
                frame.collect().await?;
            } else {
                last = Some(frame);
            }
        }
        match last {
            Some(frame) => Ok(frame),
            None => Ok(self.ctx.read_empty()?),
        }
    }

    /// The namespace unqualified names resolve in.
    fn default_namespace(&self) -> String {
        self.ctx
            .state()
            .config_options()
            .catalog
            .default_schema
            .clone()
    }

    fn table_ident(&self, name: &ObjectName) -> Result<TableIdent> {
        sql::table_ident(name, CATALOG_NAME, &self.default_namespace())
    }

    fn versioned_table_ident(
        &self,
        name: &ObjectName,
    ) -> Result<(TableIdent, Option<crate::table::VersionSpec>)> {
        sql::versioned_table_ident(name, CATALOG_NAME, &self.default_namespace())
    }

    /// Load the table (at the version) a statement names.
    async fn load_versioned(&self, name: &ObjectName) -> Result<crate::table::LoadedTable> {
        let (ident, version) = self.versioned_table_ident(name)?;
        self.warehouse.load_table_at(&ident, version.as_ref()).await
    }

    async fn statement(&self, text: &str) -> Result<DataFrame> {
        let transaction = self.warehouse.transaction();
        let statement = match self.parse(text).await {
            Ok(statement) => statement,
            Err(e) => return Err(self.abort_transaction(e)?),
        };
        let begins = matches!(statement, FloeStatement::Begin);
        match self.run_statement(statement).await {
            Err(e) if !begins && transaction.is_open()? => Err(self.abort_transaction(e)?),
            result => result,
        }
    }

    /// A statement failed: an open transaction is rolled back, so that what
    /// it wrote cannot be committed by mistake later, and the error says so.
    fn abort_transaction(&self, error: FloeError) -> Result<FloeError> {
        let transaction = self.warehouse.transaction();
        if !transaction.is_open()? {
            return Ok(error);
        }
        transaction.rollback()?;
        Ok(match error {
            conflict @ FloeError::Conflict { .. } => conflict,
            other => invalid!(
                "{other}. The open transaction was rolled back: nothing it wrote was committed"
            ),
        })
    }

    /// Move the session to a warehouse branch, as `USE BRANCH name`.
    pub async fn use_branch(&self, name: &str) -> Result<()> {
        let statement = ops::branches::BranchStatement::Use {
            name: name.to_string(),
        };
        ops::branches::run(&self.warehouse, &statement).await?;
        Ok(())
    }

    /// The warehouse branch the session reads and writes.
    pub fn branch(&self) -> String {
        self.warehouse.settings().branch().to_string()
    }

    /// Whether a transaction is open (BEGIN without COMMIT or ROLLBACK yet).
    pub fn in_transaction(&self) -> bool {
        self.warehouse.transaction().is_open().unwrap_or(false)
    }

    /// Parse a statement against the catalog's current listing (which
    /// table names exist decides what `t.branch_b` means).
    async fn parse(&self, text: &str) -> Result<FloeStatement> {
        self.catalog.refresh().await?;
        let default_namespace = self.default_namespace();
        let table_exists = |ident: &TableIdent| {
            self.catalog
                .schema_provider(&ident.namespace().join("."))
                .is_some_and(|s| {
                    use datafusion::catalog::SchemaProvider;
                    s.table_exist(ident.name())
                })
        };
        let names = sql::Names {
            catalog: CATALOG_NAME,
            default_namespace: &default_namespace,
            table_exists: &table_exists,
        };
        sql::parse(text, &names)
    }

    async fn run_statement(&self, statement: FloeStatement) -> Result<DataFrame> {
        let done = || -> Result<DataFrame> { Ok(self.ctx.read_empty()?) };
        let transaction = self.warehouse.transaction();
        if transaction.is_open()?
            && matches!(
                statement,
                FloeStatement::CreateTable { .. }
                    | FloeStatement::CreateNamespace { .. }
                    | FloeStatement::DropNamespace { .. }
                    | FloeStatement::DropTable { .. }
                    | FloeStatement::AlterRef { .. }
                    | FloeStatement::Call { .. }
                    | FloeStatement::Branch(_)
                    | FloeStatement::MergeTableBranch { .. }
                    | FloeStatement::AlterTable { .. }
            )
        {
            return Err(FloeError::Unsupported(
                "CREATE, DROP, ALTER and CALL inside a transaction: only INSERT, DELETE, UPDATE \
                 and MERGE are transactional; COMMIT or ROLLBACK first"
                    .into(),
            ));
        }
        match statement {
            FloeStatement::AlterTable { table, action } => {
                let ident = self.table_ident(&table)?;
                ops::alter::alter_table(
                    &self.warehouse,
                    &ident,
                    *action,
                    &self.default_namespace(),
                )
                .await?;
                done()
            }
            FloeStatement::AlterRef { table, change } => {
                let ident = self.table_ident(&table)?;
                change.apply(&self.warehouse, &ident).await?;
                done()
            }
            FloeStatement::ShowRefs { table, kind } => {
                let ident = self.table_ident(&table)?;
                // Fails with the catalog's message if there is no such table.
                self.warehouse.load_table(&ident).await?;
                let kind = match kind {
                    ops::refs::RefKind::Branch => "BRANCH",
                    ops::refs::RefKind::Tag => "TAG",
                };
                let query = format!(
                    "SELECT name, snapshot_id, max_reference_age_in_ms, min_snapshots_to_keep, \
                     max_snapshot_age_in_ms FROM {CATALOG_NAME}.{} WHERE type = '{kind}' \
                     ORDER BY name",
                    quoted_name(&TableIdent::new(
                        ident.namespace().clone(),
                        format!("{}$refs", ident.name())
                    ))
                );
                Ok(self.ctx.sql(&query).await?)
            }
            FloeStatement::Call { procedure, args } => {
                let mut values = Vec::with_capacity(args.len());
                for (name, sql) in args {
                    values.push((name, self.constant(&sql).await?));
                }
                let batch = ops::procedures::call(
                    &self.warehouse,
                    &procedure,
                    values,
                    CATALOG_NAME,
                    &self.default_namespace(),
                )
                .await?;
                Ok(self.ctx.read_batch(batch)?)
            }
            FloeStatement::SetOption { key, value } => {
                match key.as_str() {
                    "wap_id" => self
                        .warehouse
                        .update_settings(|s| s.wap_id = value.filter(|v| !v.is_empty()))?,
                    other => {
                        return Err(invalid!(
                            "there is no setting floe.{other} (Floe's settings: floe.wap_id)"
                        ));
                    }
                }
                done()
            }
            FloeStatement::Branch(ops::branches::BranchStatement::Merge(merge)) => {
                let report = ops::branch_merge::merge_branch(
                    &self.ctx,
                    &self.warehouse,
                    &self.catalog,
                    &merge,
                    None,
                )
                .await?;
                Ok(self.ctx.read_batch(report)?)
            }
            FloeStatement::MergeTableBranch { table, merge } => {
                let ident = self.table_ident(&table)?;
                let report = ops::branch_merge::merge_branch(
                    &self.ctx,
                    &self.warehouse,
                    &self.catalog,
                    &merge,
                    Some(vec![ident]),
                )
                .await?;
                Ok(self.ctx.read_batch(report)?)
            }
            FloeStatement::Branch(statement) => {
                match ops::branches::run(&self.warehouse, &statement).await? {
                    Some(batch) => Ok(self.ctx.read_batch(batch)?),
                    None => done(),
                }
            }
            FloeStatement::Begin => {
                transaction.begin()?;
                done()
            }
            FloeStatement::Commit => {
                let swaps = transaction.take_swaps()?;
                if !swaps.is_empty() {
                    self.warehouse
                        .catalog()
                        .swap(swaps)
                        .await
                        .map_err(crate::transaction::commit_conflict)?;
                }
                done()
            }
            FloeStatement::Rollback => {
                transaction.rollback()?;
                done()
            }
            FloeStatement::CreateTable {
                create,
                partitioned_by,
            } => {
                self.create_table(&create, partitioned_by.as_deref())
                    .await?;
                done()
            }
            FloeStatement::CreateNamespace {
                name,
                if_not_exists,
            } => {
                let ns = sql::namespace_ident(&name, CATALOG_NAME)?;
                ddl::create_namespace(&self.warehouse, &ns, if_not_exists).await?;
                done()
            }
            FloeStatement::DropNamespace {
                names,
                if_exists,
                cascade,
            } => {
                for name in &names {
                    let ns = sql::namespace_ident(name, CATALOG_NAME)?;
                    ddl::drop_namespace(&self.warehouse, &ns, if_exists, cascade).await?;
                }
                done()
            }
            FloeStatement::DropTable {
                names,
                if_exists,
                purge,
            } => {
                for name in &names {
                    self.drop_table(name, if_exists, purge).await?;
                }
                done()
            }
            FloeStatement::ShowTables { namespace } => {
                let ns = match namespace {
                    Some(name) => sql::namespace_ident(&name, CATALOG_NAME)?,
                    None => NamespaceIdent::new(self.default_namespace()),
                };
                let batch = ddl::show_tables(&self.warehouse, &ns).await?;
                Ok(self.ctx.read_batch(batch)?)
            }
            FloeStatement::Describe { name, statement } => {
                let ident = self.table_ident(&name)?;
                if self.is_session_table(&ident) {
                    let plan = self.ctx.state().statement_to_plan(statement).await?;
                    return Ok(self.ctx.execute_logical_plan(plan).await?);
                }
                let table = self.warehouse.load_table(&ident).await?;
                Ok(self.ctx.read_batch(ddl::describe_table(&table)?)?)
            }
            FloeStatement::Delete {
                table,
                alias,
                selection,
            } => {
                let changed = self
                    .row_level_write(&table, alias, selection, ops::dml::RowChange::Delete)
                    .await?;
                self.count_frame(changed)
            }
            FloeStatement::Update {
                table,
                alias,
                assignments,
                selection,
            } => {
                let changed = self
                    .row_level_write(
                        &table,
                        alias,
                        selection,
                        ops::dml::RowChange::Update(&assignments),
                    )
                    .await?;
                self.count_frame(changed)
            }
            FloeStatement::OverwritePartition {
                table,
                partition,
                query,
            } => {
                let loaded = self.load_versioned(&table).await?;
                let written = ops::dml::overwrite_partition(
                    &self.ctx,
                    &self.warehouse,
                    loaded,
                    &partition,
                    &query,
                )
                .await?;
                self.count_frame(written)
            }
            FloeStatement::Merge { table, merge } => {
                let (ident, version) = self.versioned_table_ident(&table)?;
                if self.is_session_table(&ident) {
                    return Err(FloeError::Unsupported(format!(
                        "'{ident}' is an external table: only Iceberg tables can be merged into"
                    )));
                }
                let loaded = self
                    .warehouse
                    .load_table_at(&ident, version.as_ref())
                    .await?;
                let schema = self
                    .catalog
                    .schema_provider(&ident.namespace().join("."))
                    .ok_or_else(|| CatalogError::NamespaceNotFound(ident.namespace().clone()))?;
                let counts = merge
                    .run(&self.ctx, &self.warehouse, &schema, loaded)
                    .await?;
                self.count_frame(counts.updated + counts.deleted + counts.inserted)
            }
            FloeStatement::Use { name } => {
                let ns = sql::namespace_ident(&name, CATALOG_NAME)?;
                if !self.warehouse.namespace_exists(&ns).await? {
                    return Err(CatalogError::NamespaceNotFound(ns).into());
                }
                {
                    let state = self.ctx.state_ref();
                    let mut state = state.write();
                    state.config_mut().options_mut().catalog.default_schema = ns.join(".");
                }
                done()
            }
            FloeStatement::Insert {
                table,
                mut statement,
            } => {
                let registered = self.register_table_changes(&mut statement).await?;
                let batches = self.run_insert(statement, table.as_ref()).await;
                self.deregister(&registered);
                Ok(self.ctx.read_batches(batches?)?)
            }
            FloeStatement::DataFusion(mut statement) => {
                let registered = self.register_table_changes(&mut statement).await?;
                let plan = self.ctx.state().statement_to_plan(statement).await;
                // The plan holds the providers: the names can go.
                self.deregister(&registered);
                Ok(self.ctx.execute_logical_plan(plan?).await?)
            }
        }
    }

    async fn create_table(&self, create: &CreateTable, partitioned_by: Option<&str>) -> Result<()> {
        if create.temporary || create.external {
            return Err(FloeError::Unsupported(
                "CREATE TEMPORARY / EXTERNAL TABLE: use CREATE EXTERNAL TABLE ... STORED AS ... \
                 LOCATION ... for files, CREATE TABLE for Iceberg tables"
                    .into(),
            ));
        }
        let ident = self.table_ident(&create.name)?;
        match self.warehouse.catalog().load_table(&ident).await {
            Ok(_) if create.if_not_exists => return Ok(()),
            Ok(_) => return Err(CatalogError::TableAlreadyExists(ident).into()),
            Err(CatalogError::TableNotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let query_schema = match &create.query {
            Some(query) => {
                let statement = datafusion::sql::parser::Statement::Statement(Box::new(
                    datafusion::sql::sqlparser::ast::Statement::Query(query.clone()),
                ));
                let plan = self.ctx.state().statement_to_plan(statement).await?;
                Some(Arc::clone(plan.schema().inner()))
            }
            None => None,
        };
        let definition =
            ddl::table_definition(&ident, create, partitioned_by, query_schema.as_ref())?;
        ddl::create_table(&self.warehouse, &ident, definition).await?;
        if let Some(query) = &create.query {
            self.catalog.refresh().await?;
            let insert = format!("INSERT INTO {CATALOG_NAME}.{} {query}", quoted_name(&ident));
            let result = match self.parse(&insert).await {
                Ok(FloeStatement::Insert { table, statement }) => {
                    self.run_insert(statement, table.as_ref()).await.map(|_| ())
                }
                Ok(_) => Err(FloeError::Internal(
                    "CTAS insert did not parse as INSERT".into(),
                )),
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                // A failed CREATE TABLE AS leaves no table behind. Only the
                // catalog entry goes: the location may also hold the files
                // of an earlier table of the same name.
                if let Err(cleanup) = self.warehouse.drop_table(&ident, false).await {
                    log::warn!(
                        "could not drop '{ident}' after its CREATE TABLE AS failed: {cleanup}"
                    );
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Run a DELETE or UPDATE on `name`; returns the rows changed.
    async fn row_level_write(
        &self,
        name: &ObjectName,
        alias: Option<String>,
        predicate: Option<String>,
        change: ops::dml::RowChange<'_>,
    ) -> Result<u64> {
        let (ident, version) = self.versioned_table_ident(name)?;
        if self.is_session_table(&ident) {
            return Err(FloeError::Unsupported(format!(
                "'{ident}' is an external table: only Iceberg tables can be changed row by row"
            )));
        }
        let table = self
            .warehouse
            .load_table_at(&ident, version.as_ref())
            .await?;
        let write = ops::dml::RowLevelWrite {
            ctx: &self.ctx,
            warehouse: &self.warehouse,
            table,
            alias: alias.unwrap_or_else(|| ident.name().to_string()),
            predicate,
        };
        write.run(change).await
    }

    /// Compute each `table_changes(table, from, to)` of `statement` and
    /// register it under the name the statement now uses for it; returns
    /// the names, for [`Self::deregister`] once the statement is planned.
    async fn register_table_changes(
        &self,
        statement: &mut datafusion::sql::parser::Statement,
    ) -> Result<Vec<String>> {
        let calls = sql::lift_table_function(
            statement,
            "table_changes",
            CATALOG_NAME,
            &self.default_namespace(),
        )?;
        let mut registered = Vec::with_capacity(calls.len());
        for (name, args) in calls {
            match self.table_changes_frame(&args).await {
                Ok(frame) => {
                    self.ctx.register_table(name.as_str(), frame.into_view())?;
                    registered.push(name);
                }
                Err(e) => {
                    self.deregister(&registered);
                    return Err(e);
                }
            }
        }
        Ok(registered)
    }

    async fn table_changes_frame(&self, args: &[String]) -> Result<DataFrame> {
        let [table, from, to] = args else {
            return Err(invalid!(
                "table_changes takes three arguments: a table name and two versions (branch, \
                 tag or snapshot id), e.g. table_changes('db.t', 'main', 'dev')"
            ));
        };
        let table = match self.constant(table).await? {
            datafusion::common::ScalarValue::Utf8(Some(name))
            | datafusion::common::ScalarValue::Utf8View(Some(name))
            | datafusion::common::ScalarValue::LargeUtf8(Some(name)) => name,
            other => {
                return Err(invalid!(
                    "table_changes: the table must be named by a string, not {other}"
                ));
            }
        };
        let ident = sql::table_ident_from_text(&table, CATALOG_NAME, &self.default_namespace())?;
        let base = self.warehouse.load_table(&ident).await?;
        let version = |value: datafusion::common::ScalarValue| match value {
            datafusion::common::ScalarValue::Utf8(Some(name))
            | datafusion::common::ScalarValue::Utf8View(Some(name))
            | datafusion::common::ScalarValue::LargeUtf8(Some(name)) => {
                Ok(crate::table::VersionSpec::Ref(name))
            }
            datafusion::common::ScalarValue::Int64(Some(id)) => {
                Ok(crate::table::VersionSpec::Snapshot(id))
            }
            other => Err(invalid!(
                "table_changes: a version is a branch or tag name or a snapshot id, not {other}"
            )),
        };
        let from = base.at(&version(self.constant(from).await?)?)?;
        let to = base.at(&version(self.constant(to).await?)?)?;
        ops::changes::table_changes(&self.ctx, &self.warehouse, &from, &to)
            .await?
            .frame()
    }

    fn deregister(&self, names: &[String]) {
        for name in names {
            if let Err(e) = self.ctx.deregister_table(name.as_str()) {
                log::warn!("could not deregister {name}: {e}");
            }
        }
    }

    /// The value of a constant SQL expression (a procedure argument).
    async fn constant(&self, sql: &str) -> Result<datafusion::common::ScalarValue> {
        let batches = self
            .ctx
            .sql(&format!("SELECT {sql}"))
            .await?
            .collect()
            .await?;
        match batches.iter().find(|b| b.num_rows() > 0) {
            Some(batch) if batch.num_columns() == 1 => Ok(
                datafusion::common::ScalarValue::try_from_array(batch.column(0), 0)?,
            ),
            _ => Err(invalid!("'{sql}' is not a single value")),
        }
    }

    /// A one-row `count` result, as DataFusion's DML returns.
    fn count_frame(&self, count: u64) -> Result<DataFrame> {
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("count", arrow::datatypes::DataType::UInt64, false),
        ]));
        let batch = arrow::array::RecordBatch::try_new(
            schema,
            vec![Arc::new(arrow::array::UInt64Array::from(vec![count]))],
        )?;
        Ok(self.ctx.read_batch(batch)?)
    }

    /// Plan and run an INSERT into `table` to completion; returns its
    /// `count` batch. Errors name the target table.
    async fn run_insert(
        &self,
        statement: datafusion::sql::parser::Statement,
        table: Option<&ObjectName>,
    ) -> Result<Vec<arrow::array::RecordBatch>> {
        let columns = insert_columns(&statement);
        let run = async {
            let plan = self.ctx.state().statement_to_plan(statement).await?;
            Ok::<_, FloeError>(self.ctx.execute_logical_plan(plan).await?.collect().await?)
        };
        let error = match run.await {
            Ok(batches) => return Ok(batches),
            Err(e) => e,
        };
        let Some((table, _)) = table.and_then(|name| self.versioned_table_ident(name).ok()) else {
            return Err(error);
        };
        let message = error.to_string();
        // A NULL among the VALUES of a NOT NULL column: DataFusion names
        // the VALUES column (`column2`); name the table's.
        if let Some(n) = values_column_with_null(&message) {
            let name = match columns.get(n) {
                Some(name) => Some(name.clone()),
                None if columns.is_empty() => {
                    self.warehouse.load_table(&table).await.ok().and_then(|t| {
                        t.schema()
                            .as_struct()
                            .fields()
                            .get(n)
                            .map(|f| f.name.clone())
                    })
                }
                None => None,
            };
            if let Some(name) = name {
                return Err(invalid!(
                    "NULL value in column '{name}' of table '{table}', which is declared NOT NULL"
                ));
            }
        }
        if matches!(error, FloeError::Catalog(_)) || message.contains(&format!("'{table}'")) {
            // Already names the table.
            return Err(error);
        }
        Err(invalid!("INSERT INTO '{table}': {message}"))
    }

    /// Whether `ident` names a session (external) table, not an Iceberg one.
    fn is_session_table(&self, ident: &TableIdent) -> bool {
        self.catalog
            .schema_provider(&ident.namespace().join("."))
            .is_some_and(|s| s.is_session_table(ident.name()))
    }

    async fn drop_table(&self, name: &ObjectName, if_exists: bool, purge: bool) -> Result<()> {
        let ident = self.table_ident(name)?;
        if self.is_session_table(&ident) {
            if let Some(schema) = self.catalog.schema_provider(&ident.namespace().join(".")) {
                use datafusion::catalog::SchemaProvider;
                schema.deregister_table(ident.name())?;
            }
            return Ok(());
        }
        self.warehouse
            .drop_table_on_branch(&ident, purge, if_exists)
            .await
    }
}

/// `ns.t` with every part double-quoted, for generated SQL.
fn quoted_name(ident: &TableIdent) -> String {
    ident
        .namespace()
        .iter()
        .map(String::as_str)
        .chain(std::iter::once(ident.name()))
        .map(|p| format!("\"{}\"", p.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(".")
}

/// The columns an INSERT names (`INSERT INTO t (a, b) ...`), normalised as
/// DataFusion does; empty when it names none.
fn insert_columns(statement: &datafusion::sql::parser::Statement) -> Vec<String> {
    match statement {
        datafusion::sql::parser::Statement::Statement(inner) => match inner.as_ref() {
            datafusion::sql::sqlparser::ast::Statement::Insert(insert) => insert
                .columns
                .iter()
                .map(|c| match c.quote_style {
                    Some(_) => c.value.clone(),
                    None => c.value.to_lowercase(),
                })
                .collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// The 0-based position of the VALUES column in DataFusion's error about
/// a NULL in a non-nullable column (`Column 'column2' is declared as
/// non-nullable but contains null values`).
fn values_column_with_null(message: &str) -> Option<usize> {
    let rest = message.split("Column 'column").nth(1)?;
    let (digits, rest) = rest.split_once('\'')?;
    if !rest.starts_with(" is declared as non-nullable but contains null values") {
        return None;
    }
    digits.parse::<usize>().ok()?.checked_sub(1)
}
