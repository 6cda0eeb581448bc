//! Floe's statements on top of DataFusion's parser. A script is tokenized
//! once ([`lexer`]); in each statement's tokens the clauses DataFusion does
//! not parse are rewritten or lifted out (`PARTITIONED BY`, Spark's type
//! spellings, time travel), the statements Floe owns are read from the
//! tokens ([`refs`], [`alter`]), and the rest is parsed by DataFusion's
//! parser from the same tokens. Every statement becomes a [`Command`].

pub(crate) mod alter;
pub(crate) mod lexer;
pub(crate) mod refs;

use std::ops::ControlFlow;

use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    AssignmentTarget, Expr, FromTable, Ident, Merge, MergeAction as SqlMergeAction,
    MergeClauseKind, MergeInsertKind, ObjectName, ObjectType, SchemaName, ShowStatementIn,
    Statement, TableFactor, TableObject, TableWithJoins, Use, visit_relations_mut,
};

use crate::command::merge::{MergeAction, MergeClause, MergeMatch, MergeStatement};
use crate::command::{Command, TableName};
use crate::error::{FloeError, Result, invalid, unsupported};
use crate::names::{
    Names, VERSION_MARK, ident_from_parts, name_parts, namespace_ident, normalize, split_version,
    table_ident, versioned_table_ident,
};
use crate::table::VersionSpec;
use lexer::StatementTokens;

/// Parse one statement of a script into its command, from its tokens:
/// names are resolved against `names` (the versions they select too:
/// `t VERSION AS OF ...`, `t.branch_dev`; see [`resolve_versions`]).
pub(crate) fn parse(statement: StatementTokens, names: &Names<'_>) -> Result<Command> {
    let mut tokens = statement.tokens;
    let partitioned_by = lexer::take_partitioned_by(&mut tokens)?;
    lexer::spark_types(&mut tokens);
    if let Some(command) = refs::parse(&tokens, names)? {
        if partitioned_by.is_some() {
            return Err(invalid!("PARTITIONED BY is only valid in CREATE TABLE"));
        }
        return Ok(command);
    }
    lexer::lift_versions(&mut tokens)?;
    let mut statements = DFParserBuilder::new(tokens)
        .build()
        .and_then(|mut parser| parser.parse_statements())
        .map_err(|e| invalid!("{}", e.to_string().trim_start_matches("SQL error: ")))?;
    if statements.len() != 1 {
        return Err(invalid!(
            "expected one statement, found {}: separate statements with ';'",
            statements.len()
        ));
    }
    let mut statement = statements
        .pop_front()
        .ok_or_else(|| FloeError::internal("the parser returned no statement"))?;
    resolve_versions(&mut statement, names)?;
    let table_ident = |name: &ObjectName| table_ident(name, names.catalog, names.default_namespace);
    let table_name = |name: &ObjectName| -> Result<TableName> {
        let (table, version) = versioned_table_ident(name, names.catalog, names.default_namespace)?;
        Ok(TableName { table, version })
    };
    let namespace = |name: &ObjectName| namespace_ident(name, names.catalog);
    let routed = match statement {
        DFStatement::Statement(inner) => match *inner {
            Statement::CreateTable(create) => {
                if create.temporary || create.external {
                    return Err(unsupported!(
                        "CREATE TEMPORARY / EXTERNAL TABLE: use CREATE EXTERNAL TABLE ... STORED \
                         AS ... LOCATION ... for files, CREATE TABLE for Iceberg tables"
                    ));
                }
                return Ok(Command::CreateTable {
                    table: table_ident(&create.name)?,
                    create: Box::new(create),
                    partitioned_by: partitioned_by.unwrap_or_default(),
                });
            }
            Statement::CreateSchema {
                schema_name,
                if_not_exists,
                ..
            } => match schema_name {
                SchemaName::Simple(name) => Command::CreateNamespace {
                    namespace: namespace(&name)?,
                    if_not_exists,
                },
                other => {
                    return Err(unsupported!(
                        "CREATE SCHEMA {other}: schema authorization is not supported"
                    ));
                }
            },
            Statement::CreateDatabase {
                db_name,
                if_not_exists,
                ..
            } => Command::CreateNamespace {
                namespace: namespace(&db_name)?,
                if_not_exists,
            },
            Statement::Drop {
                object_type: ObjectType::Schema | ObjectType::Database,
                names,
                if_exists,
                cascade,
                ..
            } => Command::DropNamespace {
                namespaces: names.iter().map(namespace).collect::<Result<_>>()?,
                if_exists,
                cascade,
            },
            Statement::Drop {
                object_type: ObjectType::Table,
                names: tables,
                if_exists,
                purge,
                ..
            } => Command::DropTable {
                tables: tables.iter().map(table_ident).collect::<Result<_>>()?,
                if_exists,
                purge,
            },
            Statement::CreateView(create) => {
                if create.temporary || create.materialized {
                    return Err(unsupported!(
                        "CREATE TEMPORARY / MATERIALIZED VIEW: Floe stores views as Iceberg \
                         views (CREATE [OR REPLACE] VIEW v AS SELECT ...)"
                    ));
                }
                if create.columns.iter().any(|c| c.data_type.is_some()) {
                    return Err(unsupported!(
                        "CREATE VIEW {}: column types in the column list (name the columns \
                         only; their types come from the query)",
                        create.name
                    ));
                }
                Command::CreateView {
                    view: table_ident(&create.name)?,
                    query: create.query.to_string(),
                    columns: create.columns.iter().map(|c| normalize(&c.name)).collect(),
                    or_replace: create.or_replace,
                    if_not_exists: create.if_not_exists,
                    comment: create.comment.clone(),
                }
            }
            Statement::Drop {
                object_type: ObjectType::View,
                names,
                if_exists,
                ..
            } => Command::DropView {
                views: names.iter().map(table_ident).collect::<Result<_>>()?,
                if_exists,
            },
            Statement::ShowViews { show_options, .. } => Command::ShowViews {
                namespace: show_options
                    .show_in
                    .and_then(|ShowStatementIn { parent_name, .. }| parent_name)
                    .map(|name| namespace(&name))
                    .transpose()?,
            },
            Statement::ShowTables { show_options, .. } => Command::ShowTables {
                namespace: show_options
                    .show_in
                    .and_then(|ShowStatementIn { parent_name, .. }| parent_name)
                    .map(|name| namespace(&name))
                    .transpose()?,
            },
            Statement::ExplainTable { table_name, .. } => Command::Describe {
                table: table_ident(&table_name)?,
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
                    return Err(unsupported!(
                        "DELETE with USING, RETURNING, ORDER BY or LIMIT is not supported: \
                         use DELETE FROM t WHERE ..."
                    ));
                }
                let from = match &delete.from {
                    FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
                };
                let (table, alias) = single_table(from, "DELETE")?;
                no_subquery(delete.selection.as_ref(), "DELETE")?;
                Command::Delete {
                    table: table_name(&table)?,
                    alias,
                    selection: delete.selection.as_ref().map(ToString::to_string),
                }
            }
            Statement::Update(update) => {
                if update.from.is_some() || update.returning.is_some() || update.limit.is_some() {
                    return Err(unsupported!(
                        "UPDATE with FROM, RETURNING or LIMIT is not supported: use MERGE INTO \
                         to update from another table"
                    ));
                }
                let (table, alias) = single_table(std::slice::from_ref(&update.table), "UPDATE")?;
                no_subquery(update.selection.as_ref(), "UPDATE")?;
                let mut assignments = Vec::with_capacity(update.assignments.len());
                for assignment in &update.assignments {
                    let AssignmentTarget::ColumnName(target) = &assignment.target else {
                        return Err(unsupported!(
                            "UPDATE ... SET (a, b) = ...: assign each column on its own"
                        ));
                    };
                    let parts = name_parts(target)?;
                    let column = parts
                        .last()
                        .cloned()
                        .ok_or_else(|| invalid!("UPDATE: '{target}' is not a column"))?;
                    assignments.push((column, assignment.value.to_string()));
                }
                Command::Update {
                    table: table_name(&table)?,
                    alias,
                    assignments,
                    selection: update.selection.as_ref().map(ToString::to_string),
                }
            }
            Statement::Merge(merge) => parse_merge(merge, &table_name)?,
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
                Command::SetOption {
                    key,
                    value: Some(value),
                }
            }
            Statement::StartTransaction { .. } => Command::Begin,
            Statement::Commit { .. } => Command::Commit,
            Statement::Rollback {
                savepoint: None, ..
            } => Command::Rollback,
            Statement::Use(Use::Object(name) | Use::Schema(name) | Use::Database(name)) => {
                Command::Use {
                    namespace: namespace(&name)?,
                }
            }
            Statement::Insert(insert) if insert.partitioned.is_some() => {
                let TableObject::TableName(table) = &insert.table else {
                    return Err(invalid!("INSERT ... PARTITION needs a table name"));
                };
                if !insert.overwrite {
                    return Err(unsupported!(
                        "INSERT INTO ... PARTITION (...): name the partition columns in the \
                         SELECT instead (PARTITION is for INSERT OVERWRITE)"
                    ));
                }
                if !insert.columns.is_empty() {
                    return Err(unsupported!(
                        "INSERT OVERWRITE ... PARTITION (...) with a column list"
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
                            return Err(unsupported!(
                                "PARTITION ({other}): only static values (column = value) are \
                                 supported; for dynamic overwrite set \
                                 write.overwrite.mode = 'dynamic'"
                            ));
                        }
                    }
                }
                let query = insert
                    .source
                    .as_ref()
                    .ok_or_else(|| invalid!("INSERT OVERWRITE ... PARTITION needs a query"))?;
                Command::OverwritePartition {
                    table: table_name(table)?,
                    partition,
                    query: query.to_string(),
                }
            }
            Statement::Insert(insert) => Command::Insert {
                table: match &insert.table {
                    TableObject::TableName(name) => Some(table_name(name)?),
                    _ => None,
                },
                statement: DFStatement::Statement(Box::new(Statement::Insert(insert))),
            },
            other => Command::DataFusion(DFStatement::Statement(Box::new(other))),
        },
        DFStatement::CreateExternalTable(create) => Command::CreateExternalTable {
            table: table_ident(&create.name)?,
            statement: DFStatement::CreateExternalTable(create),
        },
        other => Command::DataFusion(other),
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

fn parse_merge(
    merge: Merge,
    table_name: &dyn Fn(&ObjectName) -> Result<TableName>,
) -> Result<Command> {
    if merge.output.is_some() {
        return Err(unsupported!("MERGE ... OUTPUT is not supported"));
    }
    let TableFactor::Table {
        name: table, alias, ..
    } = &merge.table
    else {
        return Err(unsupported!(
            "MERGE INTO {}: the target must be a table",
            merge.table
        ));
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
                    return Err(unsupported!(
                        "MERGE ... UPDATE ... WHERE / DELETE WHERE: put the condition after WHEN ... AND"
                    ));
                }
                let mut assignments = Vec::new();
                for assignment in update.assignments {
                    let AssignmentTarget::ColumnName(target) = &assignment.target else {
                        return Err(unsupported!(
                            "MERGE ... SET (a, b) = ...: assign each column on its own"
                        ));
                    };
                    assignments.push((last(target)?, assignment.value.to_string()));
                }
                MergeAction::Update(assignments)
            }
            SqlMergeAction::Insert(insert) => {
                let MergeInsertKind::Values(values) = insert.kind else {
                    return Err(unsupported!(
                        "MERGE ... INSERT ROW: name the values, INSERT (cols) VALUES (...)"
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
    Ok(Command::Merge {
        table: table_name(table)?,
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
fn parse_call(function: datafusion::sql::sqlparser::ast::Function) -> Result<Command> {
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
    Ok(Command::Call { procedure, args })
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
        return Err(unsupported!(
            "{verb} with a subquery in WHERE is not supported: use MERGE INTO t USING (subquery) \
             s ON ... WHEN MATCHED THEN {}",
            if verb == "DELETE" {
                "DELETE"
            } else {
                "UPDATE SET ..."
            }
        ));
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
        _ => Err(unsupported!(
            "{verb} of several tables or a join: name one table (use MERGE INTO to change a \
             table from another)"
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use floe_catalog::TableIdent;

    fn names() -> Names<'static> {
        Names {
            catalog: "floe",
            default_namespace: "default",
            table_exists: &|t: &TableIdent| t.name() == "t",
        }
    }

    fn parse(sql: &str) -> Result<Command> {
        let statement = lexer::split(sql)?.remove(0);
        super::parse(statement, &names())
    }

    #[test]
    fn resolves_versions_in_table_names() {
        let sql = |s: &str| match parse(s).unwrap() {
            Command::DataFusion(statement) | Command::Insert { statement, .. } => {
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
        let Command::Insert {
            table: Some(target),
            ..
        } = parse("INSERT INTO t.branch_dev VALUES (1)").unwrap()
        else {
            panic!("not an insert");
        };
        assert_eq!(target.table.to_string(), "default.t");
        assert_eq!(target.version, Some(VersionSpec::Branch("dev".into())));
        let err = parse("SELECT * FROM nope VERSION AS OF 1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("default.nope"), "{err}");
    }

    #[test]
    fn routes_floe_statements() {
        let s = parse("CREATE TABLE db.t (id INT) PARTITIONED BY (bucket(4, id))").unwrap();
        let Command::CreateTable {
            table,
            partitioned_by,
            ..
        } = s
        else {
            panic!("{s:?}")
        };
        assert_eq!(table.to_string(), "db.t");
        let partitioned_by: Vec<String> = partitioned_by.iter().map(ToString::to_string).collect();
        assert_eq!(partitioned_by, ["bucket(4, id)"]);
        assert!(matches!(
            parse("DROP TABLE x PURGE").unwrap(),
            Command::DropTable { purge: true, .. }
        ));
        assert!(matches!(parse("SELECT 1").unwrap(), Command::DataFusion(_)));
        // A string with a doubled quote reaches the parser unescaped once.
        let Command::SetOption { value, .. } = parse("SET floe.wap_id = 'it''s'").unwrap() else {
            panic!("not SET");
        };
        assert_eq!(value.as_deref(), Some("it's"));
        let err = parse("SELECT 1 PARTITIONED BY (x)")
            .unwrap_err()
            .to_string();
        assert!(err.contains("only valid in CREATE TABLE"), "{err}");
    }

    #[test]
    fn table_names_resolve() {
        let name = |s: &str| match parse(&format!("DROP TABLE {s}")).unwrap() {
            Command::DropTable { mut tables, .. } => tables.remove(0).to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(name("T"), "default.t");
        assert_eq!(name("db.\"T\""), "db.T");
        assert_eq!(name("floe.db.t"), "db.t");
    }
}
