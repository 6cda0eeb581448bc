//! Commands: what Floe's statements mean, parsed by [`crate::sql`] and
//! run by a [`Session`](crate::Session) ([`Session::execute`](crate::Session::execute)).
//! Table and namespace names are resolved when a statement is parsed (the
//! session's namespace fills in an unqualified name); expressions and the
//! statements DataFusion runs keep the SQL parser's types.

pub mod alter;
pub mod merge;
pub mod refs;

use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{CreateTable, Expr};
use floe_catalog::{NamespaceIdent, TableIdent};

use crate::table::VersionSpec;

/// A table as a statement names it: the table, and the version it
/// selects (`t.branch_dev`, `t VERSION AS OF 42`), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    /// The table.
    pub table: TableIdent,
    /// The version selected; `None`: the head of the session's branch.
    pub version: Option<VersionSpec>,
}

/// `MERGE BRANCH source [INTO target] [DRY RUN]`, of one table or of all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeBranch {
    /// The branch whose changes are merged.
    pub source: String,
    /// The branch they go to (default: the session's).
    pub target: Option<String>,
    /// Report what would happen; change nothing.
    pub dry_run: bool,
}

/// One statement, parsed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Command {
    /// `CREATE TABLE [IF NOT EXISTS] t (...) [PARTITIONED BY (...)]
    /// [TBLPROPERTIES (...)] [AS SELECT ...]`.
    CreateTable {
        /// The new table.
        table: TableIdent,
        /// The parsed statement (columns, properties, query).
        create: Box<CreateTable>,
        /// What `PARTITIONED BY ( ... )` lists.
        partitioned_by: Vec<Expr>,
    },
    /// `CREATE SCHEMA [IF NOT EXISTS] ns`.
    CreateNamespace {
        /// The namespace.
        namespace: NamespaceIdent,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
    },
    /// `DROP SCHEMA [IF EXISTS] ns, ... [CASCADE]`.
    DropNamespace {
        /// The namespaces.
        namespaces: Vec<NamespaceIdent>,
        /// `IF EXISTS`.
        if_exists: bool,
        /// `CASCADE`.
        cascade: bool,
    },
    /// `DROP TABLE [IF EXISTS] t, ... [PURGE]`.
    DropTable {
        /// The tables.
        tables: Vec<TableIdent>,
        /// `IF EXISTS`.
        if_exists: bool,
        /// `PURGE`: delete the files too.
        purge: bool,
    },
    /// `CREATE [OR REPLACE] EXTERNAL TABLE [IF NOT EXISTS] t [(...)] STORED
    /// AS ... LOCATION '...' [OPTIONS (...)]`.
    CreateExternalTable {
        /// The new table.
        table: TableIdent,
        /// The parsed statement, for DataFusion to plan.
        statement: DFStatement,
    },
    /// `CREATE [OR REPLACE] VIEW [IF NOT EXISTS] v [(c, ...)] AS SELECT ...`.
    CreateView {
        /// The view.
        view: TableIdent,
        /// Its query, as SQL.
        query: String,
        /// The names the view gives its columns, if any.
        columns: Vec<String>,
        /// `OR REPLACE`.
        or_replace: bool,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// `COMMENT '...'`.
        comment: Option<String>,
    },
    /// `DROP VIEW [IF EXISTS] v, ...`.
    DropView {
        /// The views.
        views: Vec<TableIdent>,
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// `SHOW VIEWS [IN ns]`.
    ShowViews {
        /// The namespace (default: the session's).
        namespace: Option<NamespaceIdent>,
    },
    /// `REFRESH TABLE t`: bring a Parquet external table up to date with
    /// the files at its location.
    RefreshTable {
        /// The table.
        table: TableIdent,
    },
    /// `SHOW TABLES [IN ns]`.
    ShowTables {
        /// The namespace (default: the session's).
        namespace: Option<NamespaceIdent>,
    },
    /// `DESCRIBE t`: an Iceberg table by its Iceberg schema.
    Describe {
        /// The table.
        table: TableIdent,
        /// The statement, for DataFusion to describe a session table.
        statement: DFStatement,
    },
    /// `DELETE FROM t [AS a] [WHERE ...]`.
    Delete {
        /// The table.
        table: TableName,
        /// Its alias, if any.
        alias: Option<String>,
        /// The WHERE condition, as SQL.
        selection: Option<String>,
    },
    /// `UPDATE t [AS a] SET c = e, ... [WHERE ...]`.
    Update {
        /// The table.
        table: TableName,
        /// Its alias, if any.
        alias: Option<String>,
        /// `(column, SQL expression)` of each assignment.
        assignments: Vec<(String, String)>,
        /// The WHERE condition, as SQL.
        selection: Option<String>,
    },
    /// `INSERT OVERWRITE t PARTITION (c = v, ...) SELECT ...`: replace the
    /// rows of one static partition.
    OverwritePartition {
        /// The table.
        table: TableName,
        /// `(column, SQL value)` of each static partition column.
        partition: Vec<(String, String)>,
        /// The query giving the other columns, in table order.
        query: String,
    },
    /// `MERGE INTO t USING s ON ... WHEN ...`.
    Merge {
        /// The target table.
        table: TableName,
        /// The rest of the statement.
        merge: merge::MergeStatement,
    },
    /// `ALTER TABLE t CREATE|REPLACE|DROP BRANCH|TAG ...`.
    AlterRef {
        /// The table.
        table: TableIdent,
        /// What to do to which ref.
        change: refs::RefChange,
    },
    /// `SHOW BRANCHES IN t` / `SHOW TAGS IN t`.
    ShowRefs {
        /// The table.
        table: TableIdent,
        /// Branches or tags.
        kind: refs::RefKind,
    },
    /// `CALL system.<procedure>(args)`.
    Call {
        /// The procedure's name (without `system.`).
        procedure: String,
        /// Each argument: its name (for `name => value`) and its SQL.
        args: Vec<(Option<String>, String)>,
    },
    /// `SET floe.<key> = value`.
    SetOption {
        /// The key, without `floe.`.
        key: String,
        /// The value (`None`: back to the default).
        value: Option<String>,
    },
    /// `CREATE BRANCH [IF NOT EXISTS] x [FROM y]`: a whole-warehouse branch.
    CreateBranch {
        /// The new branch.
        name: String,
        /// The branch it starts from (default: the session's).
        from: Option<String>,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
    },
    /// `DROP BRANCH [IF EXISTS] x`.
    DropBranch {
        /// The branch.
        name: String,
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// `USE BRANCH x`.
    UseBranch {
        /// The branch.
        name: String,
    },
    /// `SHOW BRANCHES`.
    ShowBranches,
    /// `MERGE BRANCH x [INTO y] [DRY RUN]`, or `ALTER TABLE t MERGE BRANCH
    /// ...` for one table.
    MergeBranch {
        /// The one table merged (`None`: every table).
        table: Option<TableIdent>,
        /// The merge.
        merge: MergeBranch,
    },
    /// `ALTER TABLE t ADD COLUMN ...`, and the other changes of
    /// [`alter::AlterAction`].
    AlterTable {
        /// The table.
        table: TableIdent,
        /// The change.
        action: Box<alter::AlterAction>,
    },
    /// `BEGIN` / `START TRANSACTION`.
    Begin,
    /// `COMMIT`.
    Commit,
    /// `ROLLBACK`.
    Rollback,
    /// `USE ns`: the namespace unqualified names resolve in.
    Use {
        /// The namespace.
        namespace: NamespaceIdent,
    },
    /// `INSERT ...`: planned by DataFusion, run eagerly.
    Insert {
        /// The target table, when it is named (not a table function).
        table: Option<TableName>,
        /// The statement.
        statement: DFStatement,
    },
    /// Anything else: a query or a statement DataFusion runs (`SELECT`,
    /// `EXPLAIN`, `CREATE EXTERNAL TABLE`, `SET datafusion.*`, ...).
    DataFusion(DFStatement),
}

impl Command {
    /// Whether the command may run inside a transaction: reads, `INSERT`,
    /// `DELETE`, `UPDATE`, `MERGE` and the transaction's own statements.
    pub fn is_transactional(&self) -> bool {
        self.outside_transaction_only().is_none()
    }

    /// Whether running the command returns rows: a query, `EXPLAIN`,
    /// `SHOW ...`, `DESCRIBE`, `CALL` (its result columns) and `MERGE
    /// BRANCH` (its report). DML (which returns its `count`) and DDL do not.
    pub fn returns_rows(&self) -> bool {
        use datafusion::sql::sqlparser::ast::Statement;
        match self {
            Command::ShowTables { .. }
            | Command::Describe { .. }
            | Command::ShowRefs { .. }
            | Command::Call { .. }
            | Command::ShowBranches
            | Command::MergeBranch { .. } => true,
            Command::DataFusion(DFStatement::Explain(_)) => true,
            Command::DataFusion(DFStatement::Statement(statement)) => matches!(
                **statement,
                Statement::Query(_)
                    | Statement::Explain { .. }
                    | Statement::ExplainTable { .. }
                    | Statement::ShowTables { .. }
                    | Statement::ShowColumns { .. }
                    | Statement::ShowVariable { .. }
                    | Statement::ShowFunctions { .. }
            ),
            _ => false,
        }
    }

    /// The statement's name (`DROP TABLE`) if it cannot run inside a
    /// transaction; `None` if it can.
    pub fn outside_transaction_only(&self) -> Option<&'static str> {
        Some(match self {
            Command::CreateTable { .. } => "CREATE TABLE",
            Command::CreateNamespace { .. } => "CREATE SCHEMA",
            Command::DropNamespace { .. } => "DROP SCHEMA",
            Command::DropTable { .. } => "DROP TABLE",
            Command::AlterRef { .. } => "ALTER TABLE ... BRANCH / TAG",
            Command::Call { .. } => "CALL",
            Command::CreateBranch { .. } => "CREATE BRANCH",
            Command::DropBranch { .. } => "DROP BRANCH",
            Command::UseBranch { .. } => "USE BRANCH",
            Command::MergeBranch { .. } => "MERGE BRANCH",
            Command::AlterTable { .. } => "ALTER TABLE",
            _ => return None,
        })
    }
}
