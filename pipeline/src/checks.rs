//! The checks of a model, evaluated over its target on the run branch:
//! each is a query for the rows that fail it.

use arrow::util::pretty::pretty_format_batches;
use floe_engine::Session;

use crate::error::Result;
use crate::model::count;
use crate::spec::{Check, CheckKind, Model};
use crate::sql::{quote, quote_table};

/// Rows shown of a failing check.
const SAMPLE_ROWS: usize = 5;

/// What a check found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckResult {
    /// The model's file.
    pub step: String,
    /// The check's line in it.
    pub line: usize,
    /// The check as written.
    pub check: String,
    /// Whether a failure blocks publishing (`check`) or not (`warn`).
    pub blocking: bool,
    /// The rows that fail it (for `row_count`: 1 if it fails).
    pub failing_rows: u64,
    /// Up to five failing rows, as a table.
    pub sample: Option<String>,
}

/// The query for the rows of `table` that fail `kind`. With `new`, the
/// query giving the rows added since the table last passed its checks,
/// only those are checked: a row-level check reads them alone, and
/// `unique` counts the table's rows that share a value with them.
pub(crate) fn failing_rows_query(table: &str, kind: &CheckKind, new: Option<&str>) -> String {
    let columns = |names: &[String]| names.iter().map(|n| quote(n)).collect::<Vec<_>>();
    // Row-level checks read the new rows alone; `row_count` counts the
    // whole table (from its metadata, cheaply).
    let rows = match new {
        Some(new) => format!("({new}) AS added"),
        None => table.to_string(),
    };
    match kind {
        CheckKind::NotNull(names) => {
            let nulls: Vec<String> = columns(names)
                .iter()
                .map(|c| format!("{c} IS NULL"))
                .collect();
            format!("SELECT * FROM {rows} WHERE {}", nulls.join(" OR "))
        }
        CheckKind::Unique(names) => {
            let list = columns(names);
            let Some(new) = new else {
                let list = list.join(", ");
                return format!(
                    "SELECT {list}, count(*) AS copies FROM {table} GROUP BY {list} \
                     HAVING count(*) > 1"
                );
            };
            // The table's rows that share a value with a new row.
            let on: Vec<String> = list
                .iter()
                .map(|c| format!("(t.{c} IS NOT DISTINCT FROM added.{c})"))
                .collect();
            let select: Vec<String> = list.iter().map(|c| format!("t.{c}")).collect();
            format!(
                "SELECT {}, count(*) AS copies FROM {table} AS t \
                 JOIN (SELECT DISTINCT {} FROM ({new}) AS n) AS added ON {} \
                 GROUP BY {} HAVING count(*) > 1",
                select.join(", "),
                list.join(", "),
                on.join(" AND "),
                select.join(", ")
            )
        }
        CheckKind::AcceptedValues { column, values } => format!(
            "SELECT * FROM {rows} WHERE {} NOT IN ({})",
            quote(column),
            values.join(", ")
        ),
        CheckKind::RowCount(condition) => format!(
            "SELECT row_count FROM (SELECT count(*) AS row_count FROM {table}) AS counted \
             WHERE NOT (row_count {condition})"
        ),
        CheckKind::Condition(condition) => {
            format!("SELECT * FROM {rows} WHERE NOT ({condition})")
        }
    }
}

/// Evaluate `check` of `model` on the session's branch; with `new_rows`
/// (the query for the rows this run wrote to the target), over those rows
/// only: the others passed when they were published.
pub(crate) async fn evaluate(
    run: &Session,
    model: &Model,
    check: &Check,
    new_rows: Option<&str>,
) -> Result<CheckResult> {
    let table = quote_table(&model.target);
    let query = failing_rows_query(&table, &check.kind, new_rows);
    let failing = count(
        &run.sql(&format!("SELECT count(*) FROM ({query}) AS failing"))
            .await?
            .collect()
            .await?,
    )?;
    let sample = if failing > 0 {
        let rows = run
            .sql(&format!("{query} LIMIT {SAMPLE_ROWS}"))
            .await?
            .collect()
            .await?;
        Some(pretty_format_batches(&rows)?.to_string())
    } else {
        None
    };
    Ok(CheckResult {
        step: model.file.clone(),
        line: check.line,
        check: check.text.clone(),
        blocking: check.blocking,
        failing_rows: failing,
        sample,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        let q = |kind| failing_rows_query("\"s\".\"t\"", &kind, None);
        assert_eq!(
            q(CheckKind::NotNull(vec!["a".into(), "b".into()])),
            "SELECT * FROM \"s\".\"t\" WHERE \"a\" IS NULL OR \"b\" IS NULL"
        );
        assert_eq!(
            q(CheckKind::Unique(vec!["a".into()])),
            "SELECT \"a\", count(*) AS copies FROM \"s\".\"t\" GROUP BY \"a\" HAVING count(*) > 1"
        );
        assert_eq!(
            q(CheckKind::AcceptedValues {
                column: "s".into(),
                values: vec!["'x'".into(), "'y'".into()]
            }),
            "SELECT * FROM \"s\".\"t\" WHERE \"s\" NOT IN ('x', 'y')"
        );
        assert_eq!(
            q(CheckKind::RowCount("> 0".into())),
            "SELECT row_count FROM (SELECT count(*) AS row_count FROM \"s\".\"t\") AS counted WHERE NOT (row_count > 0)"
        );
        assert_eq!(
            q(CheckKind::Condition("amount >= 0".into())),
            "SELECT * FROM \"s\".\"t\" WHERE NOT (amount >= 0)"
        );
        let new = Some("SELECT * FROM n");
        assert_eq!(
            failing_rows_query("t", &CheckKind::NotNull(vec!["a".into()]), new),
            "SELECT * FROM (SELECT * FROM n) AS added WHERE \"a\" IS NULL"
        );
        assert_eq!(
            failing_rows_query("t", &CheckKind::Unique(vec!["a".into()]), new),
            "SELECT t.\"a\", count(*) AS copies FROM t AS t JOIN (SELECT DISTINCT \"a\" FROM (SELECT * FROM n) AS n) \
             AS added ON (t.\"a\" IS NOT DISTINCT FROM added.\"a\") GROUP BY t.\"a\" HAVING count(*) > 1"
        );
        assert_eq!(
            failing_rows_query("t", &CheckKind::RowCount("> 0".into()), new),
            "SELECT row_count FROM (SELECT count(*) AS row_count FROM t) AS counted WHERE NOT (row_count > 0)"
        );
    }
}
