//! The SQL the runner reads and writes: the tables a model reads, a model
//! with some of its tables replaced by subqueries, quoting, and SQL type
//! names for Arrow types.

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    Ident, ObjectName, Query, SetExpr, Statement, TableAlias, TableFactor, Visit, VisitMut,
    Visitor, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use floe_engine::TableIdent;

use crate::spec::{Defaults, table_ident};

/// Parse one SELECT (or WITH … SELECT, VALUES, UNION …).
fn parse_query(sql: &str) -> Result<Box<Query>, String> {
    let mut statements =
        DFParser::parse_sql_with_dialect(sql, &GenericDialect {}).map_err(|e| e.to_string())?;
    if statements.len() != 1 {
        return Err(format!(
            "expected one SELECT, found {} statements",
            statements.len()
        ));
    }
    match statements.pop_front() {
        Some(DFStatement::Statement(statement)) => match *statement {
            Statement::Query(query) => Ok(query),
            other => Err(format!(
                "expected a SELECT, found `{}`",
                first_words(&other.to_string())
            )),
        },
        _ => Err("expected a SELECT".to_string()),
    }
}

fn first_words(text: &str) -> String {
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The names a query defines in its WITH clauses (at any depth).
fn cte_names(query: &Query) -> BTreeSet<String> {
    struct Ctes(BTreeSet<String>);
    impl Visitor for Ctes {
        type Break = ();
        fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
            if let Some(with) = &query.with {
                for cte in &with.cte_tables {
                    self.0.insert(cte.alias.name.value.to_lowercase());
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut ctes = Ctes(BTreeSet::new());
    let _ = query.visit(&mut ctes);
    ctes.0
}

fn name_text(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part.as_ident() {
            Some(ident) if ident.quote_style.is_some() => ident.value.clone(),
            Some(ident) => ident.value.to_lowercase(),
            None => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The tables `select` reads (not its CTEs or table functions), resolved
/// with the pipeline's default namespace, sorted.
pub(crate) fn tables_read(select: &str, defaults: &Defaults) -> Result<Vec<TableIdent>, String> {
    let query = parse_query(select)?;
    let ctes = cte_names(&query);
    struct Tables<'a> {
        ctes: &'a BTreeSet<String>,
        defaults: &'a Defaults,
        found: BTreeSet<TableIdent>,
        error: Option<String>,
    }
    impl Visitor for Tables<'_> {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table {
                name, args: None, ..
            } = factor
            {
                let text = name_text(name);
                if name.0.len() == 1 && self.ctes.contains(&text) {
                    return ControlFlow::Continue(());
                }
                match table_ident(&text, self.defaults) {
                    Some(ident) => {
                        self.found.insert(ident);
                    }
                    None => {
                        self.error = Some(format!(
                            "table name '{text}' is not `name` or `namespace.name`"
                        ));
                        return ControlFlow::Break(());
                    }
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut tables = Tables {
        ctes: &ctes,
        defaults,
        found: BTreeSet::new(),
        error: None,
    };
    let _ = query.visit(&mut tables);
    match tables.error {
        Some(error) => Err(error),
        None => Ok(tables.found.into_iter().collect()),
    }
}

/// The tables each branch of a top-level `UNION ALL` reads (one set for a
/// plain SELECT); `None` for a query with WITH, ORDER BY or LIMIT at the
/// top, whose branches cannot be told apart.
pub(crate) fn union_branches_read(
    select: &str,
    defaults: &Defaults,
) -> Result<Option<Vec<Vec<TableIdent>>>, String> {
    let query = parse_query(select)?;
    if query.with.is_some() || query.order_by.is_some() || query.limit_clause.is_some() {
        return Ok(None);
    }
    let branches = union_leaves(*query.body);
    if !branches.iter().all(|b| matches!(b, SetExpr::Select(_))) {
        return Ok(None);
    }
    let mut out = Vec::new();
    for branch in branches {
        out.push(tables_read(&branch.to_string(), defaults)?);
    }
    Ok(Some(out))
}

/// The branches of a `UNION ALL` (one for any other query body), in order.
fn union_leaves(body: SetExpr) -> Vec<SetExpr> {
    use datafusion::sql::sqlparser::ast::{SetOperator, SetQuantifier};
    match body {
        SetExpr::SetOperation {
            op: SetOperator::Union,
            set_quantifier: SetQuantifier::All,
            left,
            right,
        } => {
            let mut out = union_leaves(*left);
            out.extend(union_leaves(*right));
            out
        }
        other => vec![other],
    }
}

/// `select`, a top-level `UNION ALL`, with only the branches whose `keep`
/// is true (in the order [`union_branches_read`] gives them).
pub(crate) fn keep_union_branches(select: &str, keep: &[bool]) -> Result<String, String> {
    use datafusion::sql::sqlparser::ast::{SetOperator, SetQuantifier};
    let mut query = parse_query(select)?;
    let all = union_leaves(*query.body);
    if all.len() != keep.len() {
        return Err(format!(
            "expected {} UNION ALL branches, found {}",
            keep.len(),
            all.len()
        ));
    }
    let mut kept = all
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .map(|(b, _)| b);
    let Some(first) = kept.next() else {
        return Err("no UNION ALL branch is kept".to_string());
    };
    let body = kept.fold(first, |left, right| SetExpr::SetOperation {
        op: SetOperator::Union,
        set_quantifier: SetQuantifier::All,
        left: Box::new(left),
        right: Box::new(right),
    });
    query.body = Box::new(body);
    Ok(query.to_string())
}

/// `select` with each table named in `replacements` read from the
/// subquery given instead, under the name the query used for it (its alias,
/// or the table's own name), so column references keep working.
pub(crate) fn replace_tables(
    select: &str,
    defaults: &Defaults,
    replacements: &HashMap<TableIdent, String>,
) -> Result<String, String> {
    if replacements.is_empty() {
        return Ok(select.to_string());
    }
    let mut query = parse_query(select)?;
    let ctes = cte_names(&query);
    let mut parsed = HashMap::new();
    for (table, subquery) in replacements {
        parsed.insert(table.clone(), parse_query(subquery)?);
    }
    struct Replace<'a> {
        ctes: &'a BTreeSet<String>,
        defaults: &'a Defaults,
        replacements: &'a HashMap<TableIdent, Box<Query>>,
    }
    impl VisitorMut for Replace<'_> {
        type Break = ();
        fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
            let TableFactor::Table {
                name,
                alias,
                args: None,
                ..
            } = factor
            else {
                return ControlFlow::Continue(());
            };
            let text = name_text(name);
            if name.0.len() == 1 && self.ctes.contains(&text) {
                return ControlFlow::Continue(());
            }
            let Some(ident) = table_ident(&text, self.defaults) else {
                return ControlFlow::Continue(());
            };
            if let Some(subquery) = self.replacements.get(&ident) {
                let alias = alias.clone().unwrap_or_else(|| TableAlias {
                    explicit: true,
                    name: Ident::with_quote('"', ident.name()),
                    columns: Vec::new(),
                });
                *factor = TableFactor::Derived {
                    lateral: false,
                    subquery: subquery.clone(),
                    alias: Some(alias),
                    sample: None,
                };
            }
            ControlFlow::Continue(())
        }
    }
    let mut replace = Replace {
        ctes: &ctes,
        defaults,
        replacements: &parsed,
    };
    let _ = VisitMut::visit(query.as_mut(), &mut replace);
    Ok(query.to_string())
}

/// Whether `text` is a plain (unquoted) SQL identifier.
pub(crate) fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Split `text` at `sep` outside quotes and parentheses.
pub(crate) fn split_top_level(text: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth = depth.saturating_sub(1),
            (None, c) if c == sep && depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
}

/// Check that `expr` parses as one SQL expression.
pub(crate) fn check_expression(expr: &str) -> Result<(), String> {
    parse_query(&format!("SELECT 1 WHERE {expr}"))
        .map(|_| ())
        .map_err(|e| format!("'{expr}' is not a SQL condition: {e}"))
}

/// `"name"`, quoted for SQL.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `"ns"."t"`.
pub(crate) fn quote_table(table: &TableIdent) -> String {
    let mut parts: Vec<String> = table.namespace().iter().map(|p| quote(p)).collect();
    parts.push(quote(table.name()));
    parts.join(".")
}

/// `'text'`, a SQL string literal.
pub(crate) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The SQL type that holds `data_type`, for `ALTER TABLE … ADD COLUMN`.
pub(crate) fn sql_type(data_type: &DataType) -> Option<String> {
    Some(
        match data_type {
            DataType::Boolean => "BOOLEAN",
            DataType::Int8 | DataType::Int16 | DataType::Int32 => "INT",
            DataType::Int64 | DataType::UInt8 | DataType::UInt16 | DataType::UInt32 => "BIGINT",
            DataType::Float16 | DataType::Float32 => "FLOAT",
            DataType::Float64 => "DOUBLE",
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "STRING",
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "BINARY",
            DataType::Date32 | DataType::Date64 => "DATE",
            DataType::Timestamp(_, None) => "TIMESTAMP",
            DataType::Timestamp(TimeUnit::Nanosecond, Some(_))
            | DataType::Timestamp(_, Some(_)) => "TIMESTAMPTZ",
            DataType::Decimal128(p, s) => return Some(format!("DECIMAL({p},{s})")),
            _ => return None,
        }
        .to_string(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn defaults() -> Defaults {
        Defaults::default()
    }

    #[test]
    fn reads_skip_ctes_and_functions() {
        let sql = "WITH recent AS (SELECT * FROM Bronze.Orders WHERE ts > now()) \
                   SELECT * FROM recent r JOIN dims d ON r.k = d.k \
                   WHERE r.k IN (SELECT k FROM silver.keep) \
                   UNION ALL SELECT * FROM table_changes('x.y', '1', '2')";
        let reads: Vec<String> = tables_read(sql, &defaults())
            .unwrap()
            .iter()
            .map(|t| t.to_string())
            .collect();
        assert_eq!(reads, ["bronze.orders", "default.dims", "silver.keep"]);
        assert_eq!(
            tables_read("INSERT INTO t VALUES (1)", &defaults()).unwrap_err(),
            "expected a SELECT, found `INSERT INTO t`"
        );
    }

    #[test]
    fn replacing_keeps_the_name_columns_use() {
        let mut replacements = HashMap::new();
        let orders = TableIdent::from_strs(["bronze", "orders"]).unwrap();
        replacements.insert(
            orders,
            "SELECT * FROM bronze.orders WHERE id > 5".to_string(),
        );
        let out = replace_tables(
            "SELECT orders.id, o2.id FROM bronze.orders JOIN bronze.orders o2 ON orders.id = o2.id JOIN d ON true",
            &defaults(),
            &replacements,
        )
        .unwrap();
        assert_eq!(
            out,
            "SELECT orders.id, o2.id FROM (SELECT * FROM bronze.orders WHERE id > 5) AS \"orders\" \
             JOIN (SELECT * FROM bronze.orders WHERE id > 5) o2 ON orders.id = o2.id JOIN d ON true"
        );
    }

    #[test]
    fn union_branches() {
        let read = |sql: &str| {
            union_branches_read(sql, &defaults())
                .unwrap()
                .map(|branches| {
                    branches
                        .iter()
                        .map(|b| {
                            b.iter()
                                .map(|t| t.to_string())
                                .collect::<Vec<_>>()
                                .join(" ")
                        })
                        .collect::<Vec<_>>()
                })
        };
        assert_eq!(
            read("SELECT a FROM x UNION ALL SELECT a FROM y JOIN z ON true UNION ALL SELECT 1"),
            Some(vec![
                "default.x".to_string(),
                "default.y default.z".into(),
                "".into()
            ])
        );
        assert_eq!(read("SELECT a FROM x UNION SELECT a FROM y"), None);
        assert_eq!(
            keep_union_branches(
                "SELECT a FROM x UNION ALL SELECT b FROM y UNION ALL SELECT c FROM z",
                &[false, true, true]
            )
            .unwrap(),
            "SELECT b FROM y UNION ALL SELECT c FROM z"
        );
        assert_eq!(read("WITH q AS (SELECT 1) SELECT * FROM q"), None);
    }
}
