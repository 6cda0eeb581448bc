//! `MERGE INTO` as parsed: the target's and source's names, the ON
//! condition and the WHEN clauses, kept as SQL text for the generated
//! query that runs it.

/// Which rows a WHEN clause applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMatch {
    /// `WHEN MATCHED`: a target row with a source row.
    Matched,
    /// `WHEN NOT MATCHED [BY TARGET]`: a source row with no target row.
    NotMatchedByTarget,
    /// `WHEN NOT MATCHED BY SOURCE`: a target row with no source row.
    NotMatchedBySource,
}

/// What a WHEN clause does.
#[derive(Debug, Clone)]
pub enum MergeAction {
    /// `UPDATE SET c = expr, ...`: `(column, SQL expression)`.
    Update(Vec<(String, String)>),
    /// `DELETE`.
    Delete,
    /// `INSERT (cols) VALUES (exprs)`; no columns means every column in order.
    Insert {
        /// The columns named, if any.
        columns: Vec<String>,
        /// One SQL expression per column.
        values: Vec<String>,
    },
}

/// One `WHEN ... THEN ...` clause.
#[derive(Debug, Clone)]
pub struct MergeClause {
    /// The rows it applies to.
    pub kind: MergeMatch,
    /// Its `AND` condition, as SQL.
    pub condition: Option<String>,
    /// What it does.
    pub action: MergeAction,
}

/// A parsed `MERGE INTO` statement.
#[derive(Debug, Clone)]
pub struct MergeStatement {
    /// The name the statement gives the target (its alias or table name).
    pub target_alias: String,
    /// The source as SQL (`src AS s`, `(SELECT ...) AS s`).
    pub source: String,
    /// The name the statement gives the source.
    pub source_alias: String,
    /// The ON condition, as SQL.
    pub on: String,
    /// The WHEN clauses, in order.
    pub clauses: Vec<MergeClause>,
    /// Extra summary properties of the snapshot the MERGE commits.
    pub summary: Vec<(String, String)>,
}
