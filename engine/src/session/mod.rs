//! [`Session`]: one client's view of an [`Engine`]: its warehouse branch,
//! its default namespace, its open transaction, its `SET` settings and its
//! session-only tables (`CREATE EXTERNAL TABLE`), and the SQL it runs.
//!
//! `mod.rs` runs scripts statement by statement; [`execute`] runs one
//! [`Command`]; [`verbs`] are the typed operations for Rust callers.

mod execute;
mod ingest;
mod prepare;
mod verbs;

pub use ingest::IngestMode;
pub use prepare::PreparedStatement;

use std::sync::Arc;

use datafusion::catalog::{MemoryCatalogProviderList, SchemaProvider};
use datafusion::prelude::{DataFrame, SessionContext};
use floe_catalog::TableIdent;

use crate::command::Command;
use crate::engine::{CATALOG_NAME, Engine};
use crate::error::{FloeError, Result};
use crate::names::{Names, table_ident_from_text};
use crate::ops;
use crate::provider::FloeCatalogProvider;
use crate::scope::Scope;
use crate::script::{Script, ScriptStatement};
use crate::sql;

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
        let state = ctx.state_weak_ref();
        catalog.set_session_state(move || state.upgrade().map(|s| s.read().clone()));
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
    /// but the last runs to completion (a query's rows are read and
    /// dropped); the last one's result is returned. DDL and DML take effect
    /// before this returns; a query streams when the returned frame is
    /// executed (`execute_stream`) or collected. An error in a script of
    /// several statements says the line of the one that failed.
    pub async fn sql(&self, sql: &str) -> Result<DataFrame> {
        let script = Script::parse(sql)?;
        let count = script.statements().len();
        let mut last = None;
        for (i, statement) in script.into_statements().into_iter().enumerate() {
            let line = statement.line();
            let at_line = |e: FloeError| if count > 1 { e.at_line(line) } else { e };
            let frame = self.run(statement).await.map_err(at_line)?;
            if i + 1 < count {
                let mut stream = frame
                    .execute_stream()
                    .await
                    .map_err(|e| at_line(e.into()))?;
                while let Some(batch) = futures::StreamExt::next(&mut stream).await {
                    batch.map_err(|e| at_line(e.into()))?;
                }
            } else {
                last = Some(frame);
            }
        }
        match last {
            Some(frame) => Ok(frame),
            None => Ok(self.ctx.read_empty()?),
        }
    }

    /// Run one statement of a [`Script`]: parse it (against the catalog as
    /// it is now, and the session's namespace) and execute it. A statement
    /// that fails inside a transaction rolls the transaction back.
    pub async fn run(&self, statement: ScriptStatement) -> Result<DataFrame> {
        let command = match self.parse(statement).await {
            Ok(command) => command,
            Err(e) => return Err(self.abort_transaction(e)?),
        };
        let begins = matches!(command, Command::Begin);
        match self.execute(command).await {
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

    /// Parse a statement into its command against the catalog's current
    /// listing (which table names exist decides what `t.branch_b` means).
    async fn parse(&self, statement: ScriptStatement) -> Result<Command> {
        self.catalog.refresh().await?;
        let default_namespace = self.default_namespace();
        let table_exists = |ident: &TableIdent| {
            self.catalog
                .schema_provider(&ident.namespace().join("."))
                .is_some_and(|s| s.table_exist(ident.name()))
        };
        let names = Names {
            catalog: CATALOG_NAME,
            default_namespace: &default_namespace,
            table_exists: &table_exists,
        };
        sql::parse(statement.into_tokens(), &names)
    }

    /// The namespace unqualified names resolve in.
    fn default_namespace(&self) -> String {
        // Read in place: `SessionContext::state` copies the whole state.
        self.ctx
            .state_ref()
            .read()
            .config_options()
            .catalog
            .default_schema
            .clone()
    }

    /// A table named in text: `t`, `ns.t` or `floe.ns.t`, as written.
    fn resolve(&self, name: &str) -> Result<TableIdent> {
        table_ident_from_text(name, CATALOG_NAME, &self.default_namespace())
    }

    /// A new session of the same engine on this session's branch and
    /// namespace, with its `SET` settings: no transaction, no session
    /// tables, no I/O. Servers run a statement that must not join the
    /// session's open transaction in one.
    ///
    /// ```
    /// # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
    /// # async fn main() -> floe_engine::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let session = floe_engine::Engine::open(dir.path().to_str().unwrap()).await?.session();
    /// session.sql("CREATE SCHEMA lab").await?;
    /// session.sql("CREATE TABLE lab.t (id BIGINT)").await?;
    /// session.sql("CREATE BRANCH dev").await?;
    /// session.sql("USE BRANCH dev").await?;
    /// session.sql("USE lab").await?;
    /// session.sql("BEGIN").await?;
    /// session.sql("INSERT INTO t VALUES (1)").await?;
    ///
    /// let fork = session.fork()?;
    /// assert_eq!((fork.branch()?, fork.namespace()), ("dev".to_string(), "lab".to_string()));
    /// assert!(!fork.in_transaction()?);
    /// // The fork does not see what the transaction staged.
    /// let rows = fork.sql("SELECT count(*) AS n FROM t").await?.collect().await?;
    /// assert_eq!(arrow::util::pretty::pretty_format_batches(&rows).unwrap().to_string(),
    ///     "+---+\n| n |\n+---+\n| 0 |\n+---+");
    /// # Ok(())
    /// # }
    /// ```
    pub fn fork(&self) -> Result<Session> {
        let fork = self.engine.session();
        let settings = self.scope.settings()?;
        fork.scope.update_settings(|s| *s = settings)?;
        let namespace = self.default_namespace();
        fork.ctx
            .state_ref()
            .write()
            .config_mut()
            .options_mut()
            .catalog
            .default_schema = namespace;
        Ok(fork)
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

    /// The table `name` (`t`, `ns.t` or `floe.ns.t`, as written: no case
    /// folding) as this session sees it: the head of the session's branch,
    /// with the open transaction's changes.
    pub async fn table(&self, name: &str) -> Result<crate::table::LoadedTable> {
        let ident = self.resolve(name)?;
        self.scope.load_table_at(&ident, None).await
    }

    /// Whether a transaction is open (BEGIN without COMMIT or ROLLBACK yet).
    pub fn in_transaction(&self) -> Result<bool> {
        self.scope.in_transaction()
    }
}
