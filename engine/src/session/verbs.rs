//! The typed verbs of a session, for Rust callers (servers, the pipeline
//! runner) that would otherwise build SQL strings and parse batches back:
//! each returns what it committed.

use datafusion::execution::SendableRecordBatchStream;

use super::Session;
use crate::command::MergeBranch;
use crate::commit::SnapshotUpdate;
use crate::error::Result;
use crate::ops;
use crate::results::{CommitInfo, MergeReport};
use crate::table::VersionSpec;
use crate::write::write_stream;

impl Session {
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
        batches: SendableRecordBatchStream,
    ) -> Result<CommitInfo> {
        let ident = self.resolve(name)?;
        let target = self.scope.load_table_at(&ident, None).await?;
        self.append_to(target, batches).await
    }

    /// [`Self::append`] to a table already loaded at the branch written.
    pub(crate) async fn append_to(
        &self,
        target: crate::table::LoadedTable,
        batches: SendableRecordBatchStream,
    ) -> Result<CommitInfo> {
        let branch = target.write_branch()?.to_string();
        let (files, _) = write_stream(
            &self.scope,
            &self.ctx,
            &target.ident().to_string(),
            target.metadata(),
            batches,
        )
        .await?;
        let committed = SnapshotUpdate::append(files)
            .commit(&self.scope.target()?, target)
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
        let request = MergeBranch {
            source: source.to_string(),
            target: target.map(str::to_string),
            dry_run,
        };
        ops::branch_merge::merge_branch(&self.ctx, &self.scope, &self.catalog, &request, None).await
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
    ) -> Result<SendableRecordBatchStream> {
        let ident = self.resolve(name)?;
        let version = |v: &str| VersionSpec::Ref(v.to_string());
        let frame = self
            .changes_frame(&ident, &version(from), &version(to))
            .await?;
        Ok(frame.execute_stream().await?)
    }
}

impl Session {
    /// Run the maintenance each of `tables`' properties asks for
    /// (snapshot expiry, compaction of small files, a manifest rewrite,
    /// then orphan removal for all of them in one pass), or with
    /// `dry_run` only say what it would do; `progress` hears of each step
    /// as it starts, with its table (`None` for orphan removal, which
    /// covers them all). One report per table, in `tables`' order.
    pub async fn maintain(
        &self,
        tables: &[floe_catalog::TableIdent],
        dry_run: bool,
        progress: &mut dyn FnMut(Option<&floe_catalog::TableIdent>, crate::ops::maintain::Step),
    ) -> Result<Vec<crate::ops::maintain::MaintenanceReport>> {
        crate::ops::maintain::maintain_tables(&self.ctx, &self.scope, tables, dry_run, progress)
            .await
    }

    /// Every table of the catalog, whatever branch it is on.
    pub async fn all_tables(&self) -> Result<Vec<floe_catalog::TableIdent>> {
        crate::ops::branches::table_idents(&self.scope).await
    }

    /// The warehouse's branches, each with the tables on it as its head
    /// sees them (`main` is always there, even with no table), as `SHOW
    /// BRANCHES` lists them. Every table is loaded once.
    pub async fn branches(
        &self,
    ) -> Result<std::collections::BTreeMap<String, Vec<crate::table::LoadedTable>>> {
        ops::branches::branch_views(&self.scope).await
    }

    /// The catalog's namespaces.
    pub async fn namespaces(&self) -> Result<Vec<floe_catalog::NamespaceIdent>> {
        Ok(self.engine.catalog().list_namespaces().await?)
    }

    /// The table `ident` at the head of `branch` (the session's open
    /// transaction included when `branch` is the session's); an error if
    /// the table is not on that branch.
    pub async fn table_on(
        &self,
        ident: &floe_catalog::TableIdent,
        branch: &str,
    ) -> Result<crate::table::LoadedTable> {
        let table = self.scope.load_table(ident).await?;
        if !table.exists_on(branch)? {
            return Err(crate::scope::not_on_branch(&table, branch)?);
        }
        table.at(&VersionSpec::Branch(branch.to_string()))
    }
}
