//! Running one [`Command`] in a session.

use std::sync::Arc;

use datafusion::catalog::SchemaProvider;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::prelude::DataFrame;
use datafusion::sql::sqlparser::ast::{CreateTable, Expr};
use floe_catalog::{CatalogError, NamespaceIdent, TableIdent};

use super::Session;
use crate::command::refs::RefKind;
use crate::command::{Command, TableName};
use crate::engine::CATALOG_NAME;
use crate::error::{FloeError, Result, invalid, not_found, unsupported};
use crate::names::table_ident_from_text;
use crate::ops::{self, ddl};
use crate::table::VersionSpec;

impl Session {
    /// Run one command: DDL and DML to completion (a DML command returns
    /// its `count`), a query as a frame that runs when it is executed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> floe_engine::Result<()> {
    /// use floe_engine::{Command, NamespaceIdent};
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let session = floe_engine::Engine::open(dir.path().to_str().unwrap()).await?.session();
    /// let lake = NamespaceIdent::new("lake".into());
    /// session
    ///     .execute(Command::CreateNamespace { namespace: lake.clone(), if_not_exists: false })
    ///     .await?;
    /// session.execute(Command::Use { namespace: lake }).await?;
    /// assert_eq!(session.namespace(), "lake");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn execute(&self, command: Command) -> Result<DataFrame> {
        let done = || -> Result<DataFrame> { Ok(self.ctx.read_empty()?) };
        if let Some(name) = command.outside_transaction_only() {
            self.scope.refuse_in_transaction(name)?;
        }
        match command {
            Command::AlterTable { table, action } => {
                ops::alter::alter_table(&self.scope, &table, *action).await?;
                done()
            }
            Command::AlterRef { table, change } => {
                change.apply(&self.scope, &table).await?;
                done()
            }
            Command::ShowRefs { table, kind } => {
                // Fails with the catalog's message if there is no such table.
                self.scope.load_table(&table).await?;
                let kind = match kind {
                    RefKind::Branch => "BRANCH",
                    RefKind::Tag => "TAG",
                };
                let query = format!(
                    "SELECT name, snapshot_id, max_reference_age_in_ms, min_snapshots_to_keep, \
                     max_snapshot_age_in_ms FROM {CATALOG_NAME}.{} WHERE type = '{kind}' \
                     ORDER BY name",
                    quoted_name(&TableIdent::new(
                        table.namespace().clone(),
                        format!("{}$refs", table.name())
                    ))
                );
                Ok(self.ctx.sql(&query).await?)
            }
            Command::Call { procedure, args } => {
                let mut values = Vec::with_capacity(args.len());
                for (name, sql) in args {
                    values.push((name, self.constant(&sql).await?));
                }
                let batch = ops::procedures::call(
                    &self.ctx,
                    &self.scope,
                    &procedure,
                    values,
                    CATALOG_NAME,
                    &self.default_namespace(),
                )
                .await?;
                Ok(self.ctx.read_batch(batch)?)
            }
            Command::SetOption { key, value } => {
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
            Command::MergeBranch { table, merge } => {
                let report = ops::branch_merge::merge_branch(
                    &self.ctx,
                    &self.scope,
                    &self.catalog,
                    &merge,
                    table.clone().map(|t| vec![t]),
                )
                .await?;
                if table.is_none() && !merge.dry_run {
                    let into = match &merge.target {
                        Some(target) => target.clone(),
                        None => self.scope.branch()?,
                    };
                    let change = ops::views::BranchChange::Merge {
                        from: &merge.source,
                        into: &into,
                    };
                    ops::views::on_branch_change(self.scope.engine(), change).await?;
                }
                Ok(self.ctx.read_batch(report.to_batch()?)?)
            }
            Command::CreateBranch {
                name,
                from,
                if_not_exists,
            } => {
                let from = match from {
                    Some(from) => from,
                    None => self.scope.branch()?,
                };
                ops::branches::create(&self.scope, &name, &from, if_not_exists).await?;
                let change = ops::views::BranchChange::Create {
                    name: &name,
                    from: &from,
                };
                ops::views::on_branch_change(self.scope.engine(), change).await?;
                done()
            }
            Command::DropBranch { name, if_exists } => {
                ops::branches::drop_branch(&self.scope, &name, if_exists).await?;
                let change = ops::views::BranchChange::Drop { name: &name };
                ops::views::on_branch_change(self.scope.engine(), change).await?;
                done()
            }
            Command::UseBranch { name } => {
                ops::branches::use_branch(&self.scope, &name).await?;
                done()
            }
            Command::ShowBranches => Ok(self
                .ctx
                .read_batch(ops::branches::show(&self.scope).await?)?),
            Command::Begin => {
                self.scope.begin()?;
                done()
            }
            Command::Commit => {
                self.scope.commit().await?;
                done()
            }
            Command::Rollback => {
                self.scope.rollback()?;
                done()
            }
            Command::CreateTable {
                table,
                create,
                partitioned_by,
            } => {
                self.create_table(&table, &create, &partitioned_by).await?;
                done()
            }
            Command::CreateNamespace {
                namespace,
                if_not_exists,
            } => {
                ddl::create_namespace(&self.scope, &namespace, if_not_exists).await?;
                done()
            }
            Command::DropNamespace {
                namespaces,
                if_exists,
                cascade,
            } => {
                for namespace in &namespaces {
                    ddl::drop_namespace(&self.scope, namespace, if_exists, cascade).await?;
                }
                done()
            }
            Command::DropTable {
                tables,
                if_exists,
                purge,
            } => {
                for table in &tables {
                    self.drop_table(table, if_exists, purge).await?;
                }
                done()
            }
            Command::ShowTables { namespace } => {
                let namespace =
                    namespace.unwrap_or_else(|| NamespaceIdent::new(self.default_namespace()));
                let batch = ddl::show_tables(&self.scope, &namespace).await?;
                Ok(self.ctx.read_batch(batch)?)
            }
            Command::Describe { table, statement } => {
                if self.is_session_table(&table) || self.is_view(&table) {
                    let plan = self.ctx.state().statement_to_plan(statement).await?;
                    return Ok(self.ctx.execute_logical_plan(plan).await?);
                }
                let table = self.scope.load_table(&table).await?;
                Ok(self.ctx.read_batch(ddl::describe_table(&table)?)?)
            }
            Command::Delete {
                table,
                alias,
                selection,
            } => {
                let changed = self
                    .row_level_write(&table, alias, selection, ops::dml::RowChange::Delete)
                    .await?;
                self.count_frame(changed)
            }
            Command::Update {
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
            Command::OverwritePartition {
                table,
                partition,
                query,
            } => {
                let loaded = self
                    .scope
                    .load_table_at(&table.table, table.version.as_ref())
                    .await?;
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
            Command::Merge { table, merge } => {
                let TableName { table, version } = table;
                if self.is_session_table(&table) {
                    return Err(unsupported!(
                        "'{table}' is an external table: only Iceberg tables can be merged into"
                    ));
                }
                let loaded = self.scope.load_table_at(&table, version.as_ref()).await?;
                let schema = self
                    .catalog
                    .schema_provider(&table.namespace().join("."))
                    .ok_or_else(|| CatalogError::NamespaceNotFound(table.namespace().clone()))?;
                let counts = merge.run(&self.ctx, &self.scope, &schema, loaded).await?;
                self.count_frame(counts.updated + counts.deleted + counts.inserted)
            }
            Command::Use { namespace } => {
                if !self.engine.catalog().namespace_exists(&namespace).await? {
                    return Err(CatalogError::NamespaceNotFound(namespace).into());
                }
                let state = self.ctx.state_ref();
                let mut state = state.write();
                state.config_mut().options_mut().catalog.default_schema = namespace.join(".");
                drop(state);
                done()
            }
            Command::Insert {
                table,
                mut statement,
            } => {
                let registered = self.register_table_changes(&mut statement).await?;
                let plan = self.ctx.state().statement_to_plan(statement).await;
                self.deregister(&registered);
                let plan = plan.map_err(|e| insert_error(e.into(), table.as_ref()))?;
                let batches = self.run_insert(plan, table.as_ref()).await?;
                Ok(self.ctx.read_batches(batches)?)
            }
            Command::CreateExternalTable { table, statement } => {
                self.create_external_table(&table, statement).await?;
                done()
            }
            Command::CreateView {
                view,
                query,
                columns,
                or_replace,
                if_not_exists,
                comment,
            } => {
                self.create_view(&view, query, columns, or_replace, if_not_exists, comment)
                    .await?;
                done()
            }
            Command::DropView { views, if_exists } => {
                for view in &views {
                    ops::views::drop_view(&self.scope, view, if_exists).await?;
                }
                done()
            }
            Command::ShowViews { namespace } => {
                let namespace =
                    namespace.unwrap_or_else(|| NamespaceIdent::new(self.default_namespace()));
                let batch = ops::views::show_views(&self.scope, &namespace).await?;
                Ok(self.ctx.read_batch(batch)?)
            }
            Command::RefreshTable { table } => {
                let loaded = self.scope.load_table_at(&table, None).await?;
                let batch = ops::external::refresh(&self.scope, loaded).await?;
                Ok(self.ctx.read_batch(batch)?)
            }
            Command::DataFusion(statement) => {
                let plan = self.plan_statement(statement).await?;
                Ok(self.ctx.execute_logical_plan(plan).await?)
            }
        }
    }

    /// Plan a statement DataFusion runs, with the `table_changes(...)` it
    /// reads computed first.
    pub(crate) async fn plan_statement(
        &self,
        mut statement: datafusion::sql::parser::Statement,
    ) -> Result<datafusion::logical_expr::LogicalPlan> {
        let registered = self.register_table_changes(&mut statement).await?;
        let plan = self.ctx.state().statement_to_plan(statement).await;
        // The plan holds the providers: the names can go.
        self.deregister(&registered);
        Ok(plan?)
    }

    /// `CREATE TABLE`, and for `CREATE TABLE ... AS SELECT` the load: the
    /// query is planned once, for the table's schema and for the insert.
    async fn create_table(
        &self,
        ident: &TableIdent,
        create: &CreateTable,
        partitioned_by: &[Expr],
    ) -> Result<()> {
        match self.engine.catalog().load_table(ident).await {
            Ok(_) if create.if_not_exists => return Ok(()),
            Ok(_) => return Err(CatalogError::TableAlreadyExists(ident.clone()).into()),
            Err(CatalogError::TableNotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let query = match &create.query {
            Some(query) => {
                let statement = datafusion::sql::parser::Statement::Statement(Box::new(
                    datafusion::sql::sqlparser::ast::Statement::Query(query.clone()),
                ));
                Some(self.ctx.state().statement_to_plan(statement).await?)
            }
            None => None,
        };
        let schema = query.as_ref().map(|plan| Arc::clone(plan.schema().inner()));
        let definition = ddl::table_definition(ident, create, partitioned_by, schema.as_ref())?;
        match ddl::create_table(&self.scope, ident, definition).await {
            // Another writer created it since it was looked up.
            Err(e) if create.if_not_exists && e.is_table_already_exists() => return Ok(()),
            other => other?,
        };
        let Some(query) = query else {
            return Ok(());
        };
        self.catalog.refresh().await?;
        let load = async {
            let reference = datafusion::sql::TableReference::full(
                CATALOG_NAME,
                ident.namespace().join("."),
                ident.name(),
            );
            let target = self.ctx.table_provider(reference.clone()).await?;
            let plan = LogicalPlanBuilder::insert_into(
                query,
                reference,
                datafusion::datasource::provider_as_source(target),
                InsertOp::Append,
            )?
            .build()?;
            let name = TableName {
                table: ident.clone(),
                version: None,
            };
            self.run_insert(plan, Some(&name)).await
        };
        if let Err(e) = load.await {
            // A failed CREATE TABLE AS leaves no table behind. Only the
            // catalog entry goes: the location may also hold the files of an
            // earlier table of the same name.
            if let Err(cleanup) =
                ddl::drop_table(&self.scope, ident, false, true, ddl::DropFrom::Branch).await
            {
                log::warn!("could not drop '{ident}' after its CREATE TABLE AS failed: {cleanup}");
            }
            return Err(e);
        }
        Ok(())
    }

    /// Run a DELETE or UPDATE on `table`; returns the rows changed.
    async fn row_level_write(
        &self,
        table: &TableName,
        alias: Option<String>,
        predicate: Option<String>,
        change: ops::dml::RowChange<'_>,
    ) -> Result<u64> {
        let ident = &table.table;
        if self.is_session_table(ident) {
            return Err(unsupported!(
                "'{ident}' is an external table: only Iceberg tables can be changed row by row"
            ));
        }
        let loaded = self
            .scope
            .load_table_at(ident, table.version.as_ref())
            .await?;
        let write = ops::dml::RowLevelWrite {
            ctx: &self.ctx,
            scope: &self.scope,
            table: loaded,
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
        let calls = crate::sql::lift_table_function(
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
            ScalarValue::Utf8(Some(name))
            | ScalarValue::Utf8View(Some(name))
            | ScalarValue::LargeUtf8(Some(name)) => name,
            other => {
                return Err(invalid!(
                    "table_changes: the table must be named by a string, not {other}"
                ));
            }
        };
        let ident = table_ident_from_text(&table, CATALOG_NAME, &self.default_namespace())?;
        let version = |value: ScalarValue| match value {
            ScalarValue::Utf8(Some(name))
            | ScalarValue::Utf8View(Some(name))
            | ScalarValue::LargeUtf8(Some(name)) => Ok(VersionSpec::Ref(name)),
            ScalarValue::Int64(Some(id)) => Ok(VersionSpec::Snapshot(id)),
            other => Err(invalid!(
                "table_changes: a version is a branch or tag name or a snapshot id, not {other}"
            )),
        };
        let from = version(self.constant(from).await?)?;
        let to = version(self.constant(to).await?)?;
        self.changes_frame(&ident, &from, &to).await
    }

    pub(super) async fn changes_frame(
        &self,
        ident: &TableIdent,
        from: &VersionSpec,
        to: &VersionSpec,
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
    async fn constant(&self, sql: &str) -> Result<ScalarValue> {
        let batches = self
            .ctx
            .sql(&format!("SELECT {sql}"))
            .await?
            .collect()
            .await?;
        match batches.iter().find(|b| b.num_rows() > 0) {
            Some(batch) if batch.num_columns() == 1 => {
                Ok(ScalarValue::try_from_array(batch.column(0), 0)?)
            }
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

    /// Run an INSERT's plan to completion; returns its `count` batch.
    /// Errors name the target table.
    async fn run_insert(
        &self,
        plan: datafusion::logical_expr::LogicalPlan,
        table: Option<&TableName>,
    ) -> Result<Vec<arrow::array::RecordBatch>> {
        let run = async {
            let plan = nullable_values(plan)?;
            Ok::<_, FloeError>(self.ctx.execute_logical_plan(plan).await?.collect().await?)
        };
        run.await.map_err(|e| insert_error(e, table))
    }

    /// `CREATE VIEW`: the query is planned here, for the schema the view
    /// stores and to refuse a query that does not plan, or reads the view
    /// itself.
    async fn create_view(
        &self,
        ident: &TableIdent,
        query: String,
        columns: Vec<String>,
        or_replace: bool,
        if_not_exists: bool,
        comment: Option<String>,
    ) -> Result<()> {
        let sql = if columns.is_empty() {
            query
        } else {
            let names: Vec<String> = columns.iter().map(|c| quoted_ident(c)).collect();
            format!("SELECT * FROM ({query}) AS v({})", names.join(", "))
        };
        let plan = self
            .ctx
            .state()
            .create_logical_plan(&sql)
            .await
            .map_err(|e| invalid!("CREATE VIEW {ident}: {}", FloeError::from(e)))?;
        // DataFusion inlines the views a query reads: look at its names.
        let mut reads_itself = false;
        let default_namespace = self.default_namespace();
        let parsed = datafusion::sql::sqlparser::parser::Parser::parse_sql(
            &datafusion::sql::sqlparser::dialect::GenericDialect {},
            &sql,
        )
        .map_err(|e| invalid!("CREATE VIEW {ident}: {e}"))?;
        let _ = datafusion::sql::sqlparser::ast::visit_relations(&parsed, |name| {
            let read = crate::names::table_ident(name, CATALOG_NAME, &default_namespace);
            if read.is_ok_and(|read| read == *ident) {
                reads_itself = true;
            }
            std::ops::ControlFlow::<()>::Continue(())
        });
        if reads_itself {
            return Err(invalid!("CREATE VIEW {ident}: a view cannot read itself"));
        }
        let schema = ddl::schema_from_arrow_schema(plan.schema().inner())?;
        let definition = ops::views::ViewDefinition {
            sql,
            schema,
            comment,
        };
        ops::views::create_view(&self.scope, ident, definition, or_replace, if_not_exists).await
    }

    /// `CREATE EXTERNAL TABLE`. Over Parquet files it is an Iceberg table
    /// over the files in place ([`ops::external`]), which every engine
    /// reads and `REFRESH TABLE` updates; over other formats, a table of
    /// the session, read by DataFusion.
    async fn create_external_table(
        &self,
        ident: &TableIdent,
        statement: datafusion::sql::parser::Statement,
    ) -> Result<()> {
        use datafusion::logical_expr::{DdlStatement, LogicalPlan};
        let datafusion::sql::parser::Statement::CreateExternalTable(parsed) = &statement else {
            return Err(FloeError::internal(
                "CREATE EXTERNAL TABLE parsed as another statement",
            ));
        };
        let parsed = parsed.clone();
        let plan = self.plan_statement(statement).await?;
        let LogicalPlan::Ddl(DdlStatement::CreateExternalTable(create)) = &plan else {
            return Err(FloeError::internal(
                "CREATE EXTERNAL TABLE planned as another statement",
            ));
        };
        self.check_external_location(create).await?;
        if !create.file_type.eq_ignore_ascii_case("parquet") {
            return self.create_file_table(ident, &parsed, &plan, create).await;
        }
        if !create.table_partition_cols.is_empty() {
            return Err(unsupported!(
                "CREATE EXTERNAL TABLE {ident}: PARTITIONED BY over Parquet files: Floe keeps a \
                 Parquet external table as an Iceberg table over its files, which takes no \
                 partition values from paths (leave PARTITIONED BY out; the columns in the \
                 files are read)"
            ));
        }
        if self.is_session_table(ident) {
            return Err(CatalogError::TableAlreadyExists(ident.clone()).into());
        }
        match self.scope.load_table(ident).await {
            Ok(_) if create.if_not_exists => return Ok(()),
            Ok(existing) if create.or_replace => {
                if !existing
                    .metadata()
                    .properties()
                    .contains_key(ops::external::EXTERNAL_LOCATION)
                {
                    return Err(invalid!(
                        "CREATE OR REPLACE EXTERNAL TABLE {ident}: '{ident}' is an Iceberg \
                         table, not an external one; drop it first to replace it"
                    ));
                }
                ddl::drop_table(&self.scope, ident, false, false, ddl::DropFrom::Branch).await?;
            }
            Ok(_) => return Err(CatalogError::TableAlreadyExists(ident.clone()).into()),
            Err(e) if e.is_table_not_found() => {}
            Err(e) => return Err(e),
        }
        let provider = ops::file_tables::provider(&self.ctx.state(), create).await?;
        ops::external::create_parquet(&self.scope, ident, &provider.schema(), &create.location)
            .await?;
        Ok(())
    }

    /// `CREATE EXTERNAL TABLE` over CSV, JSON or other files: its
    /// definition is stored in the catalog ([`ops::file_tables`]); a
    /// catalog that keeps none (a REST catalog) gets a table of the
    /// session, as DataFusion makes it.
    async fn create_file_table(
        &self,
        ident: &TableIdent,
        parsed: &datafusion::sql::parser::CreateExternalTable,
        plan: &datafusion::logical_expr::LogicalPlan,
        create: &datafusion::logical_expr::CreateExternalTable,
    ) -> Result<()> {
        let engine = self.engine.clone();
        let exists = self.is_session_table(ident)
            || self.scope.load_table(ident).await.is_ok()
            || ops::views::load_view(&engine, ident).await?.is_some();
        match exists {
            true if create.if_not_exists => return Ok(()),
            true if create.or_replace && self.is_session_table(ident) => {
                self.drop_table(ident, false, false).await?;
            }
            true => return Err(CatalogError::TableAlreadyExists(ident.clone()).into()),
            false => {}
        }
        // The files must be readable as declared before the table is kept.
        ops::file_tables::provider(&self.ctx.state(), create)
            .await
            .map_err(|e| e.context(format!("CREATE EXTERNAL TABLE {ident}")))?;
        match ops::file_tables::create(&engine, ident, parsed).await {
            Err(FloeError::Catalog(CatalogError::Unsupported(_))) => {
                self.ctx.execute_logical_plan(plan.clone()).await?;
                Ok(())
            }
            other => other,
        }
    }

    /// An external table without declared columns takes them from its
    /// files: a location that holds none is an error naming it, not a
    /// table without columns.
    async fn check_external_location(
        &self,
        create: &datafusion::logical_expr::CreateExternalTable,
    ) -> Result<()> {
        if !create.schema.fields().is_empty() {
            return Ok(());
        }
        let url = datafusion::datasource::listing::ListingTableUrl::parse(&create.location)?;
        let store = self.ctx.runtime_env().object_store(url.object_store())?;
        let mut listed = store.list(Some(url.prefix()));
        let any = futures::StreamExt::next(&mut listed)
            .await
            .transpose()?
            .is_some();
        if any
            || object_store::ObjectStoreExt::head(&store, url.prefix())
                .await
                .is_ok()
        {
            return Ok(());
        }
        Err(invalid!(
            "CREATE EXTERNAL TABLE {}: there are no files at '{}' to read its columns from \
             (declare the columns, or point LOCATION at files)",
            create.name,
            create.location
        ))
    }

    /// Whether `ident` names a view.
    fn is_view(&self, ident: &TableIdent) -> bool {
        self.catalog
            .schema_provider(&ident.namespace().join("."))
            .is_some_and(|s| s.is_view(ident.name()))
    }

    /// Whether `ident` names an external table over files other than
    /// Parquet (the session's, or a stored one), not an Iceberg one.
    fn is_session_table(&self, ident: &TableIdent) -> bool {
        self.catalog
            .schema_provider(&ident.namespace().join("."))
            .is_some_and(|s| s.is_session_table(ident.name()) || s.is_file_table(ident.name()))
    }

    async fn drop_table(&self, ident: &TableIdent, if_exists: bool, purge: bool) -> Result<()> {
        if self.is_session_table(ident) {
            if ops::file_tables::drop(&self.engine, ident).await? {
                return Ok(());
            }
            if let Some(schema) = self.catalog.schema_provider(&ident.namespace().join(".")) {
                schema.deregister_table(ident.name())?;
            }
            return Ok(());
        }
        ddl::drop_table(&self.scope, ident, purge, if_exists, ddl::DropFrom::Branch).await
    }
}

/// An INSERT's error, naming its target table unless it does already.
fn insert_error(error: FloeError, table: Option<&TableName>) -> FloeError {
    let Some(TableName { table, .. }) = table else {
        return error;
    };
    if matches!(error.root(), FloeError::Catalog(_))
        || error.to_string().contains(&format!("'{table}'"))
    {
        return error;
    }
    error.context(format!("INSERT INTO '{table}'"))
}

/// `ns.t` with every part double-quoted, for generated SQL.
fn quoted_name(ident: &TableIdent) -> String {
    ident
        .namespace()
        .iter()
        .map(String::as_str)
        .chain(std::iter::once(ident.name()))
        .map(quoted_ident)
        .collect::<Vec<_>>()
        .join(".")
}

/// One name, double-quoted, for generated SQL.
fn quoted_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `plan` with every `VALUES` list nullable and its nested types plain.
/// DataFusion plans the `VALUES` of an INSERT with the target table's
/// schema: a NULL for a NOT NULL column would fail in arrow, naming the
/// `VALUES` column (`column2`), and a list or map literal would not match
/// the field ids the table's nested fields carry. Made nullable and plain,
/// the rows reach Floe's writer, which casts them to the table's types
/// and refuses a NULL in a NOT NULL column naming the table's column.
fn nullable_values(
    plan: datafusion::logical_expr::LogicalPlan,
) -> Result<datafusion::logical_expr::LogicalPlan> {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    use datafusion::logical_expr::{Expr, LogicalPlan, Values};
    let mut changed = false;
    let plan = plan
        .transform_up(|node| match node {
            LogicalPlan::Values(values)
                if values
                    .schema
                    .fields()
                    .iter()
                    .any(|f| !f.is_nullable() || plain_type(f.data_type()) != *f.data_type()) =>
            {
                changed = true;
                let fields: Vec<_> = values
                    .schema
                    .iter()
                    .map(|(qualifier, field)| {
                        let plain = field
                            .as_ref()
                            .clone()
                            .with_data_type(plain_type(field.data_type()))
                            .with_nullable(true);
                        (qualifier.cloned(), Arc::new(plain))
                    })
                    .collect();
                // Literals of nested types come with or without the field
                // ids; cast each to the plain type.
                let plain: Vec<Option<arrow::datatypes::DataType>> = values
                    .schema
                    .fields()
                    .iter()
                    .map(|f| {
                        let plain = plain_type(f.data_type());
                        (plain != *f.data_type()).then_some(plain)
                    })
                    .collect();
                let rows = values
                    .values
                    .into_iter()
                    .map(|row| {
                        row.into_iter()
                            .zip(&plain)
                            .map(|(value, plain)| match plain {
                                Some(data_type) => Expr::Cast(datafusion::logical_expr::Cast::new(
                                    Box::new(value),
                                    data_type.clone(),
                                )),
                                None => value,
                            })
                            .collect()
                    })
                    .collect();
                let schema = datafusion::common::DFSchema::new_with_metadata(
                    fields,
                    values.schema.metadata().clone(),
                )?;
                Ok(Transformed::yes(LogicalPlan::Values(Values {
                    schema: Arc::new(schema),
                    values: rows,
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

/// `data_type` with no metadata on its nested fields (the field ids of a
/// table's lists, maps and structs), as literals come.
fn plain_type(data_type: &arrow::datatypes::DataType) -> arrow::datatypes::DataType {
    use arrow::datatypes::{DataType, Field};
    let plain = |field: &Arc<Field>| {
        Arc::new(Field::new(
            field.name(),
            plain_type(field.data_type()),
            field.is_nullable(),
        ))
    };
    match data_type {
        DataType::List(f) => DataType::List(plain(f)),
        DataType::LargeList(f) => DataType::LargeList(plain(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(plain(f), *n),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(plain).collect()),
        DataType::Map(f, sorted) => DataType::Map(plain(f), *sorted),
        other => other.clone(),
    }
}
