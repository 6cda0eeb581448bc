//! [`Session`]: one client's view of an [`Engine`]: its warehouse branch,
//! its default namespace, its open transaction, its `SET` settings and its
//! session-only tables (`CREATE EXTERNAL TABLE`), and the SQL it runs.

use std::sync::Arc;

use datafusion::catalog::MemoryCatalogProviderList;
use datafusion::prelude::{DataFrame, SessionContext};
use datafusion::sql::sqlparser::ast::{CreateTable, ObjectName};
use floe_catalog::{CatalogError, NamespaceIdent, TableIdent};

use crate::engine::{CATALOG_NAME, Engine};
use crate::results::{CommitInfo, MergeReport};
use crate::error::{FloeError, Result, invalid, not_found};
use crate::ops::{self, ddl};
use crate::provider::FloeCatalogProvider;
use crate::scope::Scope;
use crate::sql::{self, FloeStatement};

/// One client of an [`Engine`]: a warehouse branch (`main` to start with),
/// a default namespace (`default`), at most one open transaction, `SET`
/// settings (`floe.wap_id`) and tables of its own (`CREATE EXTERNAL
/// TABLE`). Sessions of one engine are isolated from each other: none sees,
/// stages, commits or rolls back another's work, and `USE` or `USE BRANCH`
/// moves only its own session. [`Engine::session`] makes one in
/// microseconds.
///
/// ```
/// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
/// # async fn main() -> floe_engine::Result<()> {
/// use floe_engine::Engine;
///
/// let dir = tempfile::tempdir().unwrap();
/// let engine = Engine::open(dir.path().to_str().unwrap()).await?;
/// let session = engine.session();
/// session.sql("CREATE TABLE t (id BIGINT)").await?;
/// session.sql("INSERT INTO t VALUES (1), (2)").await?;
/// session.sql("CREATE BRANCH dev").await?;
///
/// // Another session works on the branch; the first stays on main.
/// let dev = engine.session();
/// dev.sql("USE BRANCH dev").await?;
/// dev.sql("DELETE FROM t WHERE id = 1").await?;
/// let count = |batches: &[arrow::array::RecordBatch]| {
///     arrow::util::pretty::pretty_format_batches(batches).unwrap().to_string()
/// };
/// let on_dev = dev.sql("SELECT count(*) AS n FROM t").await?.collect().await?;
/// let on_main = session.sql("SELECT count(*) AS n FROM t").await?.collect().await?;
/// assert_eq!(count(&on_dev), "+---+\n| n |\n+---+\n| 1 |\n+---+");
/// assert_eq!(count(&on_main), "+---+\n| n |\n+---+\n| 2 |\n+---+");
/// assert_eq!(dev.branch()?, "dev");
/// assert_eq!(session.branch()?, "main");
/// # Ok(())
/// # }
/// ```
pub struct Session {
    engine: Engine,
    scope: Scope,
    ctx: SessionContext,
    catalog: Arc<FloeCatalogProvider>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("warehouse", &self.engine.warehouse())
            .field("session", &self.ctx.session_id())
            .finish()
    }
}

impl Session {
    /// A new session of `engine`: a copy of the engine's DataFusion state
    /// (functions, configuration, the shared runtime) with a catalog of
    /// its own. No I/O.
    pub(crate) fn new(engine: Engine) -> Self {
        let scope = Scope::new(engine.clone());
        let mut state = engine.session_template().clone();
        state.register_catalog_list(Arc::new(MemoryCatalogProviderList::new()));
        let ctx = SessionContext::new_with_state(state);
        let catalog = Arc::new(FloeCatalogProvider::new(scope.clone()));
        ctx.register_catalog(CATALOG_NAME, Arc::clone(&catalog) as _);
        Self {
            engine,
            scope,
            ctx,
            catalog,
        }
    }

    /// The engine the session belongs to.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    #[cfg(test)]
    pub(crate) fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The session's DataFusion context, e.g. to register functions.
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
            let frame = self.statement(&statement.sql).await.map_err(|e| {
                if count > 1 {
                    e.at_line(statement.line)
                } else {
                    e
                }
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
        self.scope.load_table_at(&ident, version.as_ref()).await
    }

    async fn statement(&self, text: &str) -> Result<DataFrame> {
        let statement = match self.parse(text).await {
            Ok(statement) => statement,
            Err(e) => return Err(self.abort_transaction(e)?),
        };
        let begins = matches!(statement, FloeStatement::Begin);
        match self.run_statement(statement).await {
            Err(e) if !begins && self.scope.in_transaction()? => Err(self.abort_transaction(e)?),
            result => result,
        }
    }

    /// A statement failed: an open transaction is rolled back, so that what
    /// it wrote cannot be committed by mistake later, and the error says so.
    fn abort_transaction(&self, error: FloeError) -> Result<FloeError> {
        if !self.scope.in_transaction()? {
            return Ok(error);
        }
        self.scope.rollback()?;
        Ok(FloeError::RolledBack(Box::new(error)))
    }

    /// Move the session to a warehouse branch, as `USE BRANCH name`.
    pub async fn use_branch(&self, name: &str) -> Result<()> {
        ops::branches::use_branch(&self.scope, name).await
    }

    /// The warehouse branch the session reads and writes.
    pub fn branch(&self) -> Result<String> {
        self.scope.branch()
    }

    /// The namespace unqualified table names resolve in (`USE ns` sets it).
    pub fn namespace(&self) -> String {
        self.default_namespace()
    }

    /// Append `batches` to the table `name` (`t`, `ns.t`; as written, no
    /// case folding) on the session's branch, as one atomic `append`
    /// snapshot (inside a transaction: staged until `COMMIT`). Columns
    /// are matched by name and cast to the table's types; a nullable column
    /// the batches lack is NULL. Nothing is committed if a batch fails.
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> floe_engine::Result<()> {
    /// use std::sync::Arc;
    /// use arrow::array::{Int64Array, RecordBatch, StringArray};
    /// use arrow::datatypes::{DataType, Field, Schema};
    /// use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let engine = floe_engine::Engine::open(dir.path().to_str().unwrap()).await?;
    /// let session = engine.session();
    /// session.sql("CREATE TABLE events (id BIGINT NOT NULL, kind STRING)").await?;
    ///
    /// let schema = Arc::new(Schema::new(vec![
    ///     Field::new("kind", DataType::Utf8, true),
    ///     Field::new("id", DataType::Int64, false),
    /// ]));
    /// let batch = RecordBatch::try_new(Arc::clone(&schema), vec![
    ///     Arc::new(StringArray::from(vec!["click", "view"])),
    ///     Arc::new(Int64Array::from(vec![1, 2])),
    /// ]).unwrap();
    /// let stream = RecordBatchStreamAdapter::new(schema, futures::stream::iter([Ok(batch)]));
    /// let committed = session.append("events", Box::pin(stream)).await?;
    /// assert_eq!(committed.operation.as_deref(), Some("append"));
    /// assert_eq!(committed.summary["added-records"], "2");
    ///
    /// let rows = session.sql("SELECT count(*) AS n FROM events VERSION AS OF 'main'").await?;
    /// let rows = rows.collect().await?;
    /// assert_eq!(arrow::util::pretty::pretty_format_batches(&rows).unwrap().to_string(),
    ///     "+---+\n| n |\n+---+\n| 2 |\n+---+");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn append(
        &self,
        name: &str,
        batches: datafusion::execution::SendableRecordBatchStream,
    ) -> Result<CommitInfo> {
        let ident = sql::table_ident_from_text(name, CATALOG_NAME, &self.default_namespace())?;
        let target = self.scope.load_table_at(&ident, None).await?;
        let branch = target.write_branch()?.to_string();
        let (files, _) = crate::write::write_stream(
            &self.scope,
            &self.ctx,
            &ident.to_string(),
            target.metadata(),
            batches,
        )
        .await?;
        let committed = crate::commit::SnapshotUpdate::append(files)
            .commit(&self.scope, target)
            .await?;
        Ok(CommitInfo::of(
            &committed,
            &branch,
            self.scope.in_transaction()?,
        ))
    }

    /// Create the warehouse branch `name` from `from` (default: the
    /// session's branch), as `CREATE BRANCH`: every table on `from` gets a
    /// branch `name` at its head, in one catalog commit, and no data is
    /// copied. Returns each table's new branch.
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> floe_engine::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let engine = floe_engine::Engine::open(dir.path().to_str().unwrap()).await?;
    /// let session = engine.session();
    /// session.sql("CREATE TABLE a (id BIGINT)").await?;
    /// session.sql("CREATE TABLE b (id BIGINT)").await?;
    /// session.sql("INSERT INTO a VALUES (1)").await?;
    /// let created = session.create_branch("dev", None).await?;
    /// let tables: Vec<String> = created.iter().map(|c| c.table.to_string()).collect();
    /// assert_eq!(tables, ["default.a", "default.b"]);
    /// // `a` branches at its head; `b`, which has no snapshot, starts empty.
    /// assert_eq!(created[0].snapshot_id, session.table("a").await?.snapshot_id());
    /// assert_eq!(created[1].summary["total-records"], "0");
    /// assert_eq!(session.drop_branch("dev", false).await?.len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_branch(&self, name: &str, from: Option<&str>) -> Result<Vec<CommitInfo>> {
        let from = match from {
            Some(from) => from.to_string(),
            None => self.scope.branch()?,
        };
        ops::branches::create(&self.scope, name, &from, false).await
    }

    /// Drop the warehouse branch `name`, as `DROP BRANCH`: it leaves every
    /// table, and tables that exist only on it leave the catalog, in one
    /// commit. With `if_exists`, a branch that does not exist is no error.
    /// Returns the tables changed.
    pub async fn drop_branch(&self, name: &str, if_exists: bool) -> Result<Vec<CommitInfo>> {
        ops::branches::drop_branch(&self.scope, name, if_exists).await
    }

    /// Merge the warehouse branch `source` into `target` (default: the
    /// session's branch), as `MERGE BRANCH`: row-aware, all tables in one
    /// catalog commit, nothing merged if rows changed on both sides (then
    /// the error's [`FloeError::merge_conflicts`] lists them). A dry run
    /// reports and changes nothing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> floe_engine::Result<()> {
    /// use floe_engine::MergeOutcome;
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let engine = floe_engine::Engine::open(dir.path().to_str().unwrap()).await?;
    /// let session = engine.session();
    /// session.sql("CREATE TABLE t (id BIGINT)").await?;
    /// session.sql("INSERT INTO t VALUES (1)").await?;
    /// session.create_branch("dev", None).await?;
    /// session.sql("INSERT INTO t.branch_dev VALUES (2)").await?;
    /// let report = session.merge_branch("dev", None, false).await?;
    /// assert_eq!(report.tables[0].1, MergeOutcome::FastForward { ahead: 1 });
    /// assert_eq!(report.committed[0].branch, "main");
    /// assert_eq!(report.committed[0].summary["total-records"], "2");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn merge_branch(
        &self,
        source: &str,
        target: Option<&str>,
        dry_run: bool,
    ) -> Result<MergeReport> {
        self.catalog.refresh().await?;
        let request = ops::branch_merge::MergeBranch {
            source: source.to_string(),
            target: target.map(str::to_string),
            dry_run,
        };
        ops::branch_merge::merge_branch(&self.ctx, &self.scope, &self.catalog, &request, None)
            .await
    }

    /// The rows that differ between two versions (branches, tags, or
    /// snapshot ids as text) of the table `name`, as `table_changes`: the
    /// table's columns and `_change_type` (`INSERT` or `DELETE`), streamed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> floe_engine::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let engine = floe_engine::Engine::open(dir.path().to_str().unwrap()).await?;
    /// let session = engine.session();
    /// session.sql("CREATE TABLE t (id BIGINT)").await?;
    /// session.sql("INSERT INTO t VALUES (1), (2)").await?;
    /// session.create_branch("dev", None).await?;
    /// session.sql("DELETE FROM t.branch_dev WHERE id = 1").await?;
    /// let stream = session.table_changes("t", "main", "dev").await?;
    /// let batches: Vec<_> = futures::TryStreamExt::try_collect(stream).await?;
    /// assert_eq!(arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string(),
    ///     "+----+--------------+\n| id | _change_type |\n+----+--------------+\n\
    ///      | 1  | DELETE       |\n+----+--------------+");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn table_changes(
        &self,
        name: &str,
        from: &str,
        to: &str,
    ) -> Result<datafusion::execution::SendableRecordBatchStream> {
        let ident = sql::table_ident_from_text(name, CATALOG_NAME, &self.default_namespace())?;
        let version = |v: &str| crate::table::VersionSpec::Ref(v.to_string());
        let frame = self
            .changes_frame(&ident, &version(from), &version(to))
            .await?;
        Ok(frame.execute_stream().await?)
    }

    /// The table `name` (`t`, `ns.t` or `floe.ns.t`, as written: no case
    /// folding) as this session sees it: the head of the session's branch,
    /// with the open transaction's changes.
    pub async fn table(&self, name: &str) -> Result<crate::table::LoadedTable> {
        let ident = sql::table_ident_from_text(name, CATALOG_NAME, &self.default_namespace())?;
        self.scope.load_table_at(&ident, None).await
    }

    /// Whether a transaction is open (BEGIN without COMMIT or ROLLBACK yet).
    pub fn in_transaction(&self) -> Result<bool> {
        self.scope.in_transaction()
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
        if self.scope.in_transaction()?
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
                    &self.scope,
                    &ident,
                    *action,
                    &self.default_namespace(),
                )
                .await?;
                done()
            }
            FloeStatement::AlterRef { table, change } => {
                let ident = self.table_ident(&table)?;
                change.apply(&self.scope, &ident).await?;
                done()
            }
            FloeStatement::ShowRefs { table, kind } => {
                let ident = self.table_ident(&table)?;
                // Fails with the catalog's message if there is no such table.
                self.scope.load_table(&ident).await?;
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
                    &self.scope,
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
                        .scope
                        .update_settings(|s| s.wap_id = value.filter(|v| !v.is_empty()))?,
                    other => {
                        return Err(not_found!(
                            "there is no setting floe.{other} (Floe's settings: floe.wap_id)"
                        ));
                    }
                }
                done()
            }
            FloeStatement::Branch(ops::branches::BranchStatement::Merge(merge)) => {
                let report = ops::branch_merge::merge_branch(
                    &self.ctx,
                    &self.scope,
                    &self.catalog,
                    &merge,
                    None,
                )
                .await?;
                Ok(self.ctx.read_batch(report.to_batch()?)?)
            }
            FloeStatement::MergeTableBranch { table, merge } => {
                let ident = self.table_ident(&table)?;
                let report = ops::branch_merge::merge_branch(
                    &self.ctx,
                    &self.scope,
                    &self.catalog,
                    &merge,
                    Some(vec![ident]),
                )
                .await?;
                Ok(self.ctx.read_batch(report.to_batch()?)?)
            }
            FloeStatement::Branch(statement) => {
                match ops::branches::run(&self.scope, &statement).await? {
                    Some(batch) => Ok(self.ctx.read_batch(batch)?),
                    None => done(),
                }
            }
            FloeStatement::Begin => {
                self.scope.begin()?;
                done()
            }
            FloeStatement::Commit => {
                self.scope.commit().await?;
                done()
            }
            FloeStatement::Rollback => {
                self.scope.rollback()?;
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
                ddl::create_namespace(&self.scope, &ns, if_not_exists).await?;
                done()
            }
            FloeStatement::DropNamespace {
                names,
                if_exists,
                cascade,
            } => {
                for name in &names {
                    let ns = sql::namespace_ident(name, CATALOG_NAME)?;
                    ddl::drop_namespace(&self.scope, &ns, if_exists, cascade).await?;
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
                let batch = ddl::show_tables(&self.scope, &ns).await?;
                Ok(self.ctx.read_batch(batch)?)
            }
            FloeStatement::Describe { name, statement } => {
                let ident = self.table_ident(&name)?;
                if self.is_session_table(&ident) {
                    let plan = self.ctx.state().statement_to_plan(statement).await?;
                    return Ok(self.ctx.execute_logical_plan(plan).await?);
                }
                let table = self.scope.load_table(&ident).await?;
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
                    &self.scope,
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
                let loaded = self.scope.load_table_at(&ident, version.as_ref()).await?;
                let schema = self
                    .catalog
                    .schema_provider(&ident.namespace().join("."))
                    .ok_or_else(|| CatalogError::NamespaceNotFound(ident.namespace().clone()))?;
                let counts = merge
                    .run(&self.ctx, &self.scope, &schema, loaded)
                    .await?;
                self.count_frame(counts.updated + counts.deleted + counts.inserted)
            }
            FloeStatement::Use { name } => {
                let ns = sql::namespace_ident(&name, CATALOG_NAME)?;
                if !self.engine.catalog().namespace_exists(&ns).await? {
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
        match self.engine.catalog().load_table(&ident).await {
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
        ddl::create_table(&self.scope, &ident, definition).await?;
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
                if let Err(cleanup) = ddl::drop_table(&self.scope, &ident, false, true).await {
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
        let table = self.scope.load_table_at(&ident, version.as_ref()).await?;
        let write = ops::dml::RowLevelWrite {
            ctx: &self.ctx,
            scope: &self.scope,
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
        let from = version(self.constant(from).await?)?;
        let to = version(self.constant(to).await?)?;
        self.changes_frame(&ident, &from, &to).await
    }

    async fn changes_frame(
        &self,
        ident: &TableIdent,
        from: &crate::table::VersionSpec,
        to: &crate::table::VersionSpec,
    ) -> Result<DataFrame> {
        let base = self.scope.load_table(ident).await?;
        let (from, to) = (base.at(from)?, base.at(to)?);
        ops::changes::table_changes(&self.ctx, &self.scope, &from, &to)
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
        let run = async {
            let plan = self.ctx.state().statement_to_plan(statement).await?;
            let plan = nullable_values(plan)?;
            Ok::<_, FloeError>(self.ctx.execute_logical_plan(plan).await?.collect().await?)
        };
        let error = match run.await {
            Ok(batches) => return Ok(batches),
            Err(e) => e,
        };
        let Some((table, _)) = table.and_then(|name| self.versioned_table_ident(name).ok()) else {
            return Err(error);
        };
        if matches!(error.root(), FloeError::Catalog(_))
            || error.to_string().contains(&format!("'{table}'"))
        {
            // Already names the table.
            return Err(error);
        }
        Err(error.context(format!("INSERT INTO '{table}'")))
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
        ddl::drop_table(&self.scope, &ident, purge, if_exists).await
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

/// `plan` with every `VALUES` list nullable. DataFusion plans the `VALUES`
/// of an INSERT with the target table's nullability, so a NULL for a NOT
/// NULL column would fail in arrow, naming the `VALUES` column
/// (`column2`); nullable, it reaches Floe's writer, which refuses it
/// naming the table's column.
fn nullable_values(plan: datafusion::logical_expr::LogicalPlan) -> Result<datafusion::logical_expr::LogicalPlan> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    use datafusion::logical_expr::{LogicalPlan, Values};
    let mut changed = false;
    let plan = plan
        .transform_up(|node| match node {
            LogicalPlan::Values(values) if values.schema.fields().iter().any(|f| !f.is_nullable()) => {
                changed = true;
                let fields: Vec<_> = values
                    .schema
                    .iter()
                    .map(|(qualifier, field)| {
                        (
                            qualifier.cloned(),
                            Arc::new(field.as_ref().clone().with_nullable(true)),
                        )
                    })
                    .collect();
                let schema = datafusion::common::DFSchema::new_with_metadata(
                    fields,
                    values.schema.metadata().clone(),
                )?;
                Ok(Transformed::yes(LogicalPlan::Values(Values {
                    schema: Arc::new(schema),
                    values: values.values,
                })))
            }
            other => Ok(Transformed::no(other)),
        })?
        .data;
    if !changed {
        return Ok(plan);
    }
    // The nodes above the lists derive their schemas from them.
    Ok(plan
        .transform_up(|node| Ok(Transformed::yes(node.recompute_schema()?)))?
        .data)
}
