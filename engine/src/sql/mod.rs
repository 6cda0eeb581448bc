//! Floe's statements on top of DataFusion's parser: the clauses DataFusion
//! does not parse are lifted out first (`PARTITIONED BY`), the statements
//! Floe owns are recognised, and the rest goes to DataFusion.

pub mod alter;
pub mod refs;
pub mod split;
pub mod types;

use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    AssignmentTarget, CreateTable, Expr, FromTable, Ident, Merge, MergeAction as SqlMergeAction,
    MergeClauseKind, MergeInsertKind, ObjectName, ObjectType, SchemaName, ShowStatementIn,
    Statement, TableFactor, TableObject, TableWithJoins, Use, visit_relations_mut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;
use floe_catalog::{NamespaceIdent, TableIdent};

use crate::error::{FloeError, Result, invalid};
use crate::ops::merge::{MergeAction, MergeClause, MergeMatch, MergeStatement};
use crate::table::VersionSpec;
use split::VERSION_MARK;

/// What resolving a statement's table names needs from the session.
pub struct Names<'a> {
    /// The catalog name (`floe`), which may lead a name.
    pub catalog: &'a str,
    /// The namespace of unqualified names.
    pub default_namespace: &'a str,
    /// Whether a table (Iceberg or session) of that name exists.
    pub table_exists: &'a dyn Fn(&TableIdent) -> bool,
}

/// A parsed statement, routed to whoever runs it.
#[derive(Debug)]
pub enum FloeStatement {
    /// `CREATE TABLE`, with its `PARTITIONED BY` clause text.
    CreateTable {
        /// The parsed statement (columns, properties, query).
        create: Box<CreateTable>,
        /// The text inside `PARTITIONED BY ( ... )`.
        partitioned_by: Option<String>,
    },
    /// `CREATE SCHEMA [IF NOT EXISTS] ns`.
    CreateNamespace {
        /// The namespace name.
        name: ObjectName,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
    },
    /// `DROP SCHEMA [IF EXISTS] ns [CASCADE]`.
    DropNamespace {
        /// The namespace names.
        names: Vec<ObjectName>,
        /// `IF EXISTS`.
        if_exists: bool,
        /// `CASCADE`.
        cascade: bool,
    },
    /// `DROP TABLE [IF EXISTS] t [PURGE]`.
    DropTable {
        /// The table names.
        names: Vec<ObjectName>,
        /// `IF EXISTS`.
        if_exists: bool,
        /// `PURGE`: delete the files too.
        purge: bool,
    },
    /// `SHOW TABLES [IN ns]`.
    ShowTables {
        /// The namespace, if named.
        namespace: Option<ObjectName>,
    },
    /// `DESCRIBE t`: Iceberg tables by their Iceberg schema.
    Describe {
        /// The table.
        name: ObjectName,
        /// The statement, for DataFusion to describe a session table.
        statement: DFStatement,
    },
    /// `DELETE FROM t [AS a] [WHERE ...]`.
    Delete {
        /// The table.
        table: ObjectName,
        /// Its alias, if any.
        alias: Option<String>,
        /// The WHERE condition, as SQL.
        selection: Option<String>,
    },
    /// `UPDATE t [AS a] SET c = e, ... [WHERE ...]`.
    Update {
        /// The table.
        table: ObjectName,
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
        table: ObjectName,
        /// `(column, SQL value)` of each static partition column.
        partition: Vec<(String, String)>,
        /// The query giving the other columns, in table order.
        query: String,
    },
    /// `MERGE INTO t USING s ON ... WHEN ...`.
    Merge {
        /// The target table.
        table: ObjectName,
        /// The rest of the statement.
        merge: MergeStatement,
    },
    /// `ALTER TABLE t CREATE|REPLACE|DROP BRANCH|TAG ...`.
    AlterRef {
        /// The table.
        table: ObjectName,
        /// What to do to which ref.
        change: crate::ops::refs::RefChange,
    },
    /// `SHOW BRANCHES IN t` / `SHOW TAGS IN t`.
    ShowRefs {
        /// The table.
        table: ObjectName,
        /// Branches or tags.
        kind: crate::ops::refs::RefKind,
    },
    /// `CALL system.<procedure>(args)`.
    Call {
        /// The procedure's name (without `system.`).
        procedure: String,
        /// Each argument: its name (for `name => value`) and its SQL.
        args: Vec<(Option<String>, String)>,
    },
    /// `SET floe.<key> = value` / `RESET floe.<key>`.
    SetOption {
        /// The key, without `floe.`.
        key: String,
        /// The value (`None`: back to the default).
        value: Option<String>,
    },
    /// A whole-warehouse branch statement (`CREATE BRANCH x`, `USE BRANCH
    /// x`, ...).
    Branch(crate::ops::branches::BranchStatement),
    /// `ALTER TABLE t MERGE BRANCH x [INTO y] [DRY RUN]`.
    MergeTableBranch {
        /// The table.
        table: ObjectName,
        /// The merge.
        merge: crate::ops::branch_merge::MergeBranch,
    },
    /// `ALTER TABLE t ADD COLUMN ...`, and the other changes of
    /// [`alter::AlterAction`].
    AlterTable {
        /// The table.
        table: ObjectName,
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
        name: ObjectName,
    },
    /// `INSERT ...`: planned by DataFusion, run eagerly.
    Insert {
        /// The target table, when it is named (not a table function).
        table: Option<ObjectName>,
        /// The statement.
        statement: DFStatement,
    },
    /// Anything else: DataFusion's.
    DataFusion(DFStatement),
}

/// Parse one statement, resolving the versions its table names select
/// (`t VERSION AS OF ...`, `t.branch_dev`; see [`resolve_versions`]).
pub fn parse(sql: &str, names: &Names<'_>) -> Result<FloeStatement> {
    let (sql, partitioned_by) = split::take_clause(sql, &["PARTITIONED", "BY"])?;
    let sql = split::spark_types(&sql)?;
    if let Some(statement) = refs::parse(&sql)? {
        if partitioned_by.is_some() {
            return Err(invalid!("PARTITIONED BY is only valid in CREATE TABLE"));
        }
        return Ok(statement);
    }
    let sql = split::lift_versions(&sql)?;
    let mut statements = DFParser::parse_sql_with_dialect(&sql, &GenericDialect {})
        .map_err(|e| invalid!("{}", e.to_string().trim_start_matches("SQL error: ")))?;
    if statements.len() != 1 {
        return Err(invalid!(
            "expected one statement, found {}: separate statements with ';'",
            statements.len()
        ));
    }
    let mut statement = statements
        .pop_front()
        .ok_or_else(|| FloeError::Internal("parser returned no statement".into()))?;
    resolve_versions(&mut statement, names)?;
    let routed = match statement {
        DFStatement::Statement(inner) => match *inner {
            Statement::CreateTable(create) => {
                return Ok(FloeStatement::CreateTable {
                    create: Box::new(create),
                    partitioned_by,
                });
            }
            Statement::CreateSchema {
                schema_name,
                if_not_exists,
                ..
            } => match schema_name {
                SchemaName::Simple(name) => FloeStatement::CreateNamespace {
                    name,
                    if_not_exists,
                },
                other => {
                    return Err(FloeError::Unsupported(format!(
                        "CREATE SCHEMA {other}: schema authorization is not supported"
                    )));
                }
            },
            Statement::CreateDatabase {
                db_name,
                if_not_exists,
                ..
            } => FloeStatement::CreateNamespace {
                name: db_name,
                if_not_exists,
            },
            Statement::Drop {
                object_type: ObjectType::Schema | ObjectType::Database,
                names,
                if_exists,
                cascade,
                ..
            } => FloeStatement::DropNamespace {
                names,
                if_exists,
                cascade,
            },
            Statement::Drop {
                object_type: ObjectType::Table,
                names,
                if_exists,
                purge,
                ..
            } => FloeStatement::DropTable {
                names,
                if_exists,
                purge,
            },
            Statement::ShowTables { show_options, .. } => FloeStatement::ShowTables {
                namespace: show_options
                    .show_in
                    .and_then(|ShowStatementIn { parent_name, .. }| parent_name),
            },
            Statement::ExplainTable { table_name, .. } => FloeStatement::Describe {
                name: table_name.clone(),
                statement: DFStatement::Statement(Box::new(Statement::ExplainTable {
                    describe_alias: datafusion::sql::sqlparser::ast::DescribeAlias::Describe,
                    hive_format: None,
                    has_table_keyword: false,
                    table_name,
                })),
            },
            Statement::Delete(delete) => {
                if delete.using.is_some()
                    || delete.returning.is_some()
                    || delete.limit.is_some()
                    || !delete.order_by.is_empty()
                    || !delete.tables.is_empty()
                {
                    return Err(FloeError::Unsupported(
                        "DELETE with USING, RETURNING, ORDER BY or LIMIT is not supported: \
                         use DELETE FROM t WHERE ..."
                            .into(),
                    ));
                }
                let from = match &delete.from {
                    FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
                };
                let (table, alias) = single_table(from, "DELETE")?;
                no_subquery(delete.selection.as_ref(), "DELETE")?;
                FloeStatement::Delete {
                    table,
                    alias,
                    selection: delete.selection.as_ref().map(ToString::to_string),
                }
            }
            Statement::Update(update) => {
                if update.from.is_some() || update.returning.is_some() || update.limit.is_some() {
                    return Err(FloeError::Unsupported(
                        "UPDATE with FROM, RETURNING or LIMIT is not supported: use MERGE INTO \
                         to update from another table"
                            .into(),
                    ));
                }
                let (table, alias) = single_table(std::slice::from_ref(&update.table), "UPDATE")?;
                no_subquery(update.selection.as_ref(), "UPDATE")?;
                let mut assignments = Vec::with_capacity(update.assignments.len());
                for assignment in &update.assignments {
                    let AssignmentTarget::ColumnName(target) = &assignment.target else {
                        return Err(FloeError::Unsupported(
                            "UPDATE ... SET (a, b) = ...: assign each column on its own".into(),
                        ));
                    };
                    let parts = name_parts(target)?;
                    let column = parts
                        .last()
                        .cloned()
                        .ok_or_else(|| invalid!("UPDATE: '{target}' is not a column"))?;
                    assignments.push((column, assignment.value.to_string()));
                }
                FloeStatement::Update {
                    table,
                    alias,
                    assignments,
                    selection: update.selection.as_ref().map(ToString::to_string),
                }
            }
            Statement::Merge(merge) => parse_merge(merge)?,
            Statement::Call(function) => parse_call(function)?,
            Statement::Set(datafusion::sql::sqlparser::ast::Set::SingleAssignment {
                variable,
                values,
                ..
            }) if is_floe_option(&variable) => {
                let key = option_key(&variable)?;
                let [value] = values.as_slice() else {
                    return Err(invalid!("SET floe.{key}: expected one value"));
                };
                let value = match value {
                    Expr::Value(v) => match &v.value {
                        datafusion::sql::sqlparser::ast::Value::SingleQuotedString(s) => s.clone(),
                        other => other.to_string(),
                    },
                    Expr::Identifier(ident) => ident.value.clone(),
                    other => other.to_string(),
                };
                FloeStatement::SetOption {
                    key,
                    value: Some(value),
                }
            }
            Statement::StartTransaction { .. } => FloeStatement::Begin,
            Statement::Commit { .. } => FloeStatement::Commit,
            Statement::Rollback {
                savepoint: None, ..
            } => FloeStatement::Rollback,
            Statement::Use(Use::Object(name) | Use::Schema(name) | Use::Database(name)) => {
                FloeStatement::Use { name }
            }
            Statement::Insert(insert) if insert.partitioned.is_some() => {
                let TableObject::TableName(table) = &insert.table else {
                    return Err(invalid!("INSERT ... PARTITION needs a table name"));
                };
                if !insert.overwrite {
                    return Err(FloeError::Unsupported(
                        "INSERT INTO ... PARTITION (...): name the partition columns in the \
                         SELECT instead (PARTITION is for INSERT OVERWRITE)"
                            .into(),
                    ));
                }
                if !insert.columns.is_empty() {
                    return Err(FloeError::Unsupported(
                        "INSERT OVERWRITE ... PARTITION (...) with a column list".into(),
                    ));
                }
                let mut partition = Vec::new();
                for expr in insert.partitioned.iter().flatten() {
                    match expr {
                        Expr::BinaryOp {
                            left,
                            op: datafusion::sql::sqlparser::ast::BinaryOperator::Eq,
                            right,
                        } => {
                            let Expr::Identifier(column) = left.as_ref() else {
                                return Err(invalid!(
                                    "PARTITION ({expr}): expected column = value"
                                ));
                            };
                            partition.push((normalize(column), right.to_string()));
                        }
                        other => {
                            return Err(FloeError::Unsupported(format!(
                                "PARTITION ({other}): only static values (column = value) are \
                                 supported; for dynamic overwrite set \
                                 write.overwrite.mode = 'dynamic'"
                            )));
                        }
                    }
                }
                let query = insert
                    .source
                    .as_ref()
                    .ok_or_else(|| invalid!("INSERT OVERWRITE ... PARTITION needs a query"))?;
                FloeStatement::OverwritePartition {
                    table: table.clone(),
                    partition,
                    query: query.to_string(),
                }
            }
            Statement::Insert(insert) => FloeStatement::Insert {
                table: match &insert.table {
                    TableObject::TableName(name) => Some(name.clone()),
                    _ => None,
                },
                statement: DFStatement::Statement(Box::new(Statement::Insert(insert))),
            },
            other => FloeStatement::DataFusion(DFStatement::Statement(Box::new(other))),
        },
        other => FloeStatement::DataFusion(other),
    };
    if partitioned_by.is_some() {
        return Err(invalid!("PARTITIONED BY is only valid in CREATE TABLE"));
    }
    Ok(routed)
}

/// Rewrite every table name of `statement` that selects a version into
/// the one name Floe's schema provider reads it from:
/// `floe."ns"."t@<suffix>"`.
///
/// A version is selected by a time-travel clause (lifted into a `"@..."`
/// name part by [`split::lift_versions`]) or, as in Spark, by a last name
/// part `branch_<b>`, `tag_<t>`, `snapshot_id_<n>` or `at_timestamp_<ms>`
/// when the name without it is a table and the whole name is not.
pub fn resolve_versions(
    statement: &mut datafusion::sql::parser::Statement,
    names: &Names<'_>,
) -> Result<()> {
    use datafusion::sql::parser::Statement as DF;
    let inner = match statement {
        DF::Statement(inner) => inner.as_mut(),
        DF::Explain(explain) => return resolve_versions(&mut explain.statement, names),
        _ => return Ok(()),
    };
    // The name a CREATE TABLE makes is a new table's, never a version.
    let created = match inner {
        Statement::CreateTable(create) => Some(create.name.clone()),
        _ => None,
    };
    let flow = visit_relations_mut(inner, |relation| {
        match versioned_relation(relation, names) {
            Ok(Some(name)) => *relation = name,
            Ok(None) => {}
            Err(e) => return ControlFlow::Break(e),
        }
        ControlFlow::Continue(())
    });
    if let ControlFlow::Break(e) = flow {
        return Err(e);
    }
    if let (Statement::CreateTable(create), Some(name)) = (inner, created) {
        if name_parts(&name)?
            .last()
            .is_some_and(|last| last.starts_with(VERSION_MARK))
        {
            return Err(invalid!(
                "CREATE TABLE: a new table has no versions to select"
            ));
        }
        create.name = name;
    }
    Ok(())
}

fn versioned_relation(name: &ObjectName, names: &Names<'_>) -> Result<Option<ObjectName>> {
    let Ok(parts) = name_parts(name) else {
        return Ok(None);
    };
    let Some((last, base)) = parts.split_last() else {
        return Ok(None);
    };
    let spec = if let Some(suffix) = last.strip_prefix(VERSION_MARK) {
        VersionSpec::from_suffix(suffix)
            .ok_or_else(|| FloeError::Internal(format!("unreadable version '{suffix}'")))?
    } else {
        let Some(spec) = VersionSpec::from_suffix(last) else {
            return Ok(None);
        };
        if base.is_empty() || matches!(spec, VersionSpec::Ref(_)) {
            return Ok(None);
        }
        let whole = ident_from_parts(parts.clone(), names, name)?;
        let table = ident_from_parts(base.to_vec(), names, name)?;
        if (names.table_exists)(&whole) || !(names.table_exists)(&table) {
            return Ok(None);
        }
        spec
    };
    if base.is_empty() {
        return Err(invalid!("'{name}': a version needs a table name before it"));
    }
    let table = ident_from_parts(base.to_vec(), names, name)?;
    if !(names.table_exists)(&table) {
        return Err(floe_catalog::CatalogError::TableNotFound(table).into());
    }
    let quoted = |value: String| Ident::with_quote('"', value);
    Ok(Some(ObjectName::from(vec![
        Ident::new(names.catalog),
        quoted(table.namespace().join(".")),
        quoted(format!("{}{VERSION_MARK}{}", table.name(), spec.suffix())),
    ])))
}

/// Replace every call of the table function `function` in the FROM
/// clauses of `statement` by a new table name in `namespace`, for the
/// caller to register the function's result under. Returns each new name
/// with the call's arguments as SQL (`name => value` is refused).
pub fn lift_table_function(
    statement: &mut datafusion::sql::parser::Statement,
    function: &str,
    catalog: &str,
    namespace: &str,
) -> Result<Vec<(String, Vec<String>)>> {
    use datafusion::sql::parser::Statement as DF;
    use datafusion::sql::sqlparser::ast::{FunctionArg, FunctionArgExpr, VisitMut, VisitorMut};

    struct Lift<'a> {
        function: &'a str,
        catalog: &'a str,
        namespace: &'a str,
        calls: Vec<(String, Vec<String>)>,
    }

    impl VisitorMut for Lift<'_> {
        type Break = FloeError;

        fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<FloeError> {
            let TableFactor::Table { name, args, .. } = factor else {
                return ControlFlow::Continue(());
            };
            let is_call = args.is_some()
                && name_parts(name).is_ok_and(|p| p.len() == 1 && p[0] == self.function);
            if !is_call {
                return ControlFlow::Continue(());
            }
            let mut sql = Vec::new();
            for arg in args.take().map(|a| a.args).unwrap_or_default() {
                match arg {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => sql.push(expr.to_string()),
                    other => {
                        return ControlFlow::Break(invalid!(
                            "{}(...): '{other}' is not a plain argument",
                            self.function
                        ));
                    }
                }
            }
            let placeholder = format!("__{}_{}", self.function, uuid::Uuid::new_v4().simple());
            *name = ObjectName::from(vec![
                Ident::new(self.catalog),
                Ident::with_quote('"', self.namespace),
                Ident::with_quote('"', placeholder.clone()),
            ]);
            self.calls.push((placeholder, sql));
            ControlFlow::Continue(())
        }
    }

    let inner = match statement {
        DF::Statement(inner) => inner.as_mut(),
        DF::Explain(explain) => {
            return lift_table_function(&mut explain.statement, function, catalog, namespace);
        }
        _ => return Ok(Vec::new()),
    };
    let mut lift = Lift {
        function,
        catalog,
        namespace,
        calls: Vec::new(),
    };
    if let ControlFlow::Break(e) = inner.visit(&mut lift) {
        return Err(e);
    }
    Ok(lift.calls)
}

/// A table name as Floe's schema provider receives it, split into the table
/// and the version it selects (`t@branch_dev`: `t` at branch `dev`).
pub fn split_version(name: &str) -> (&str, Option<VersionSpec>) {
    if let Some((table, suffix)) = name.rsplit_once(VERSION_MARK)
        && let Some(spec) = VersionSpec::from_suffix(suffix)
        && !table.is_empty()
    {
        return (table, Some(spec));
    }
    (name, None)
}

fn parse_merge(merge: Merge) -> Result<FloeStatement> {
    if merge.output.is_some() {
        return Err(FloeError::Unsupported(
            "MERGE ... OUTPUT is not supported".into(),
        ));
    }
    let TableFactor::Table {
        name: table, alias, ..
    } = &merge.table
    else {
        return Err(FloeError::Unsupported(format!(
            "MERGE INTO {}: the target must be a table",
            merge.table
        )));
    };
    let last = |name: &ObjectName| -> Result<String> {
        name_parts(name)?
            .pop()
            .map(|last| split_version(&last).0.to_string())
            .ok_or_else(|| invalid!("'{name}' is not a valid name"))
    };
    let target_alias = match alias {
        Some(alias) => normalize(&alias.name),
        None => last(table)?,
    };
    let source_alias = match &merge.source {
        TableFactor::Table {
            alias: Some(alias), ..
        }
        | TableFactor::Derived {
            alias: Some(alias), ..
        } => normalize(&alias.name),
        TableFactor::Table {
            name, alias: None, ..
        } => last(name)?,
        other => {
            return Err(invalid!(
                "MERGE ... USING {other}: give the source an alias"
            ));
        }
    };
    let mut clauses = Vec::with_capacity(merge.clauses.len());
    for clause in merge.clauses {
        let kind = match clause.clause_kind {
            MergeClauseKind::Matched => MergeMatch::Matched,
            MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget => {
                MergeMatch::NotMatchedByTarget
            }
            MergeClauseKind::NotMatchedBySource => MergeMatch::NotMatchedBySource,
        };
        let action = match clause.action {
            SqlMergeAction::Delete { .. } => MergeAction::Delete,
            SqlMergeAction::Update(update) => {
                if update.update_predicate.is_some() || update.delete_predicate.is_some() {
                    return Err(FloeError::Unsupported(
                        "MERGE ... UPDATE ... WHERE / DELETE WHERE: put the condition after WHEN ... AND".into(),
                    ));
                }
                let mut assignments = Vec::new();
                for assignment in update.assignments {
                    let AssignmentTarget::ColumnName(target) = &assignment.target else {
                        return Err(FloeError::Unsupported(
                            "MERGE ... SET (a, b) = ...: assign each column on its own".into(),
                        ));
                    };
                    assignments.push((last(target)?, assignment.value.to_string()));
                }
                MergeAction::Update(assignments)
            }
            SqlMergeAction::Insert(insert) => {
                let MergeInsertKind::Values(values) = insert.kind else {
                    return Err(FloeError::Unsupported(
                        "MERGE ... INSERT ROW: name the values, INSERT (cols) VALUES (...)".into(),
                    ));
                };
                let [row] = values.rows.as_slice() else {
                    return Err(invalid!("MERGE ... INSERT VALUES takes exactly one row"));
                };
                MergeAction::Insert {
                    columns: insert.columns.iter().map(last).collect::<Result<_>>()?,
                    values: row.iter().map(ToString::to_string).collect(),
                }
            }
        };
        if matches!(
            (kind, &action),
            (
                MergeMatch::NotMatchedByTarget,
                MergeAction::Update(_) | MergeAction::Delete
            ) | (
                MergeMatch::Matched | MergeMatch::NotMatchedBySource,
                MergeAction::Insert { .. }
            )
        ) {
            return Err(invalid!(
                "MERGE: WHEN NOT MATCHED takes INSERT, WHEN MATCHED and WHEN NOT MATCHED BY \
                 SOURCE take UPDATE or DELETE"
            ));
        }
        clauses.push(MergeClause {
            kind,
            condition: clause.predicate.as_ref().map(ToString::to_string),
            action,
        });
    }
    Ok(FloeStatement::Merge {
        table: table.clone(),
        merge: MergeStatement {
            target_alias,
            source: merge.source.to_string(),
            source_alias,
            on: merge.on.to_string(),
            clauses,
            summary: Vec::new(),
        },
    })
}

fn is_floe_option(variable: &ObjectName) -> bool {
    name_parts(variable).is_ok_and(|parts| parts.len() == 2 && parts[0] == "floe")
}

fn option_key(variable: &ObjectName) -> Result<String> {
    name_parts(variable)?
        .pop()
        .ok_or_else(|| invalid!("'{variable}' is not a setting"))
}

/// `CALL [floe.]system.<procedure>(...)`.
fn parse_call(function: datafusion::sql::sqlparser::ast::Function) -> Result<FloeStatement> {
    use datafusion::sql::sqlparser::ast::{FunctionArg, FunctionArgExpr, FunctionArguments};
    let mut parts = name_parts(&function.name)?;
    if parts.len() == 3 && parts[0] == crate::engine::CATALOG_NAME {
        parts.remove(0);
    }
    let procedure = match parts.as_slice() {
        [system, procedure] if system == "system" => procedure.clone(),
        _ => {
            return Err(invalid!(
                "CALL {}: procedures are called as system.<name>(...)",
                function.name
            ));
        }
    };
    let list = match function.args {
        FunctionArguments::List(list) => list.args,
        FunctionArguments::None => Vec::new(),
        FunctionArguments::Subquery(_) => {
            return Err(invalid!(
                "CALL system.{procedure}: arguments must be values"
            ));
        }
    };
    let mut args = Vec::with_capacity(list.len());
    for arg in list {
        let (name, value) = match arg {
            FunctionArg::Named { name, arg, .. } => (Some(normalize(&name)), arg),
            FunctionArg::Unnamed(arg) => (None, arg),
            FunctionArg::ExprNamed { name, .. } => {
                return Err(invalid!(
                    "CALL system.{procedure}: '{name}' is not a parameter name"
                ));
            }
        };
        let FunctionArgExpr::Expr(expr) = value else {
            return Err(invalid!(
                "CALL system.{procedure}: arguments must be values"
            ));
        };
        if name.is_some()
            && args
                .iter()
                .any(|(n, _): &(Option<String>, String)| n.is_none())
            || name.is_none() && args.iter().any(|(n, _)| n.is_some())
        {
            return Err(invalid!(
                "CALL system.{procedure}: use either positional or named arguments, not both"
            ));
        }
        args.push((name, expr.to_string()));
    }
    Ok(FloeStatement::Call { procedure, args })
}

/// Refuse a subquery in a DELETE / UPDATE condition, pointing to MERGE.
fn no_subquery(expr: Option<&Expr>, verb: &str) -> Result<()> {
    let Some(expr) = expr else { return Ok(()) };
    let found = datafusion::sql::sqlparser::ast::visit_expressions(expr, |e| {
        if matches!(
            e,
            Expr::Subquery(_) | Expr::InSubquery { .. } | Expr::Exists { .. }
        ) {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    });
    if found.is_break() {
        return Err(FloeError::Unsupported(format!(
            "{verb} with a subquery in WHERE is not supported: use MERGE INTO t USING (subquery) \
             s ON ... WHEN MATCHED THEN {}",
            if verb == "DELETE" {
                "DELETE"
            } else {
                "UPDATE SET ..."
            }
        )));
    }
    Ok(())
}

/// The one table a DELETE or UPDATE names, and its alias.
fn single_table(from: &[TableWithJoins], verb: &str) -> Result<(ObjectName, Option<String>)> {
    match from {
        [
            TableWithJoins {
                relation: TableFactor::Table { name, alias, .. },
                joins,
            },
        ] if joins.is_empty() => Ok((name.clone(), alias.as_ref().map(|a| normalize(&a.name)))),
        _ => Err(FloeError::Unsupported(format!(
            "{verb} of several tables or a join: name one table (use MERGE INTO to change a \
             table from another)"
        ))),
    }
}

/// Parse a comma-separated list of expressions (a `PARTITIONED BY` body).
pub fn parse_expr_list(text: &str) -> Result<Vec<Expr>> {
    Parser::new(&GenericDialect {})
        .try_with_sql(text)
        .and_then(|mut p| p.parse_comma_separated(Parser::parse_expr))
        .map_err(|e| invalid!("cannot read PARTITIONED BY ({text}): {e}"))
}

/// An identifier normalised as DataFusion does: lower-cased unless quoted.
fn normalize(ident: &datafusion::sql::sqlparser::ast::Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// The identifier parts of a name, normalised as DataFusion does: unquoted
/// identifiers are lower-cased.
fn name_parts(name: &ObjectName) -> Result<Vec<String>> {
    name.0
        .iter()
        .map(|part| {
            let ident = part
                .as_ident()
                .ok_or_else(|| invalid!("'{name}' is not a valid name"))?;
            Ok(if ident.quote_style.is_some() {
                ident.value.clone()
            } else {
                ident.value.to_lowercase()
            })
        })
        .collect()
}

/// A namespace name; a leading `floe.` (the catalog) is dropped.
pub fn namespace_ident(name: &ObjectName, catalog: &str) -> Result<NamespaceIdent> {
    let mut parts = name_parts(name)?;
    if parts.len() > 1 && parts[0] == catalog {
        parts.remove(0);
    }
    NamespaceIdent::from_vec(parts).map_err(|e| invalid!("'{name}': {e}"))
}

/// A table name: `t` (in `default_namespace`), `ns.t` or `floe.ns.t`.
/// A name that selects a version of a table is refused: see
/// [`versioned_table_ident`].
pub fn table_ident(
    name: &ObjectName,
    catalog: &str,
    default_namespace: &str,
) -> Result<TableIdent> {
    let (ident, version) = versioned_table_ident(name, catalog, default_namespace)?;
    match version {
        None => Ok(ident),
        Some(_) => Err(invalid!(
            "'{name}' names a version of table '{ident}', not a table"
        )),
    }
}

/// A table named in a string (a procedure or table function argument):
/// `'t'`, `'ns.t'` or `'floe.ns.t'`, taken as written (no case folding).
pub fn table_ident_from_text(
    text: &str,
    catalog: &str,
    default_namespace: &str,
) -> Result<TableIdent> {
    let mut parts: Vec<String> = text.split('.').map(str::to_string).collect();
    if parts.len() > 2 && parts[0] == catalog {
        parts.remove(0);
    }
    let name = parts
        .pop()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid!("'{text}' is not a table name"))?;
    if parts.is_empty() {
        parts.push(default_namespace.to_string());
    }
    let namespace = NamespaceIdent::from_vec(parts).map_err(|e| invalid!("'{text}': {e}"))?;
    Ok(TableIdent::new(namespace, name))
}

/// A table name and the version it selects, if any (after
/// [`resolve_versions`]).
pub fn versioned_table_ident(
    name: &ObjectName,
    catalog: &str,
    default_namespace: &str,
) -> Result<(TableIdent, Option<VersionSpec>)> {
    let names = Names {
        catalog,
        default_namespace,
        table_exists: &|_| false,
    };
    let ident = ident_from_parts(name_parts(name)?, &names, name)?;
    match split_version(ident.name()) {
        (table, Some(spec)) => Ok((
            TableIdent::new(ident.namespace().clone(), table.to_string()),
            Some(spec),
        )),
        (_, None) => Ok((ident, None)),
    }
}

fn ident_from_parts(
    mut parts: Vec<String>,
    names: &Names<'_>,
    name: &ObjectName,
) -> Result<TableIdent> {
    if parts.len() > 2 && parts[0] == names.catalog {
        parts.remove(0);
    }
    let table = parts
        .pop()
        .ok_or_else(|| invalid!("'{name}' is not a valid table name"))?;
    if parts.is_empty() {
        parts.push(names.default_namespace.to_string());
    }
    let namespace = NamespaceIdent::from_vec(parts).map_err(|e| invalid!("'{name}': {e}"))?;
    Ok(TableIdent::new(namespace, table))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names<'static> {
        Names {
            catalog: "floe",
            default_namespace: "default",
            table_exists: &|t: &TableIdent| t.name() == "t",
        }
    }

    fn parse(sql: &str) -> Result<FloeStatement> {
        super::parse(sql, &names())
    }

    #[test]
    fn resolves_versions_in_table_names() {
        let sql = |s: &str| match parse(s).unwrap() {
            FloeStatement::DataFusion(statement) | FloeStatement::Insert { statement, .. } => {
                statement.to_string()
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(
            sql("SELECT * FROM t VERSION AS OF 'dev' JOIN db.t.tag_v1 ON true"),
            "SELECT * FROM floe.\"default\".\"t@ref_dev\" JOIN floe.\"db\".\"t@tag_v1\" ON true"
        );
        assert_eq!(
            sql("INSERT INTO t.branch_dev SELECT * FROM u.branch_x"),
            "INSERT INTO floe.\"default\".\"t@branch_dev\" SELECT * FROM u.branch_x"
        );
        let err = parse("SELECT * FROM nope VERSION AS OF 1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("default.nope"), "{err}");
    }

    #[test]
    fn routes_floe_statements() {
        let s = parse("CREATE TABLE db.t (id INT) PARTITIONED BY (bucket(4, id))").unwrap();
        let FloeStatement::CreateTable {
            create,
            partitioned_by,
        } = s
        else {
            panic!("{s:?}")
        };
        assert_eq!(create.name.to_string(), "db.t");
        assert_eq!(partitioned_by.as_deref(), Some("bucket(4, id)"));
        assert!(matches!(
            parse("DROP TABLE x PURGE").unwrap(),
            FloeStatement::DropTable { purge: true, .. }
        ));
        assert!(matches!(
            parse("SELECT 1").unwrap(),
            FloeStatement::DataFusion(_)
        ));
        let err = parse("SELECT 1 PARTITIONED BY (x)")
            .unwrap_err()
            .to_string();
        assert!(err.contains("only valid in CREATE TABLE"), "{err}");
    }

    #[test]
    fn table_names_resolve() {
        let name = |s: &str| match parse(&format!("DROP TABLE {s}")).unwrap() {
            FloeStatement::DropTable { mut names, .. } => names.remove(0),
            _ => unreachable!(),
        };
        assert_eq!(
            table_ident(&name("T"), "floe", "default")
                .unwrap()
                .to_string(),
            "default.t"
        );
        assert_eq!(
            table_ident(&name("db.\"T\""), "floe", "default")
                .unwrap()
                .to_string(),
            "db.T"
        );
        assert_eq!(
            table_ident(&name("floe.db.t"), "floe", "default")
                .unwrap()
                .to_string(),
            "db.t"
        );
    }
}
