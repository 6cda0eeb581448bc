//! `ALTER TABLE` changes: schema (nested columns included), properties,
//! partition fields and write order.

use datafusion::sql::sqlparser::ast::{DataType, Expr};
use floe_catalog::TableIdent;

/// Where an added or moved column goes within its struct.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// First.
    First,
    /// Right after this sibling.
    After(String),
}

/// A column to add.
#[derive(Debug, Clone, PartialEq)]
pub struct NewColumn {
    /// Its path: `c`, or `s.inner` inside struct `s`.
    pub path: Vec<String>,
    /// Its type.
    pub data_type: DataType,
    /// `NOT NULL`.
    pub not_null: bool,
    /// `COMMENT '...'`.
    pub comment: Option<String>,
    /// `FIRST` / `AFTER x`.
    pub position: Option<Position>,
}

/// A change to one existing column.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnChange {
    /// `TYPE t`: a promotion Iceberg allows.
    Type(DataType),
    /// `DROP NOT NULL`.
    DropNotNull,
    /// `SET NOT NULL` (refused: existing rows may hold NULL).
    SetNotNull,
    /// `COMMENT '...'`.
    Comment(String),
    /// `FIRST` / `AFTER x`.
    Position(Position),
}

/// One sort key of `WRITE ORDERED BY`.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    /// A column or a transform of one (`bucket(4, id)`).
    pub expr: Expr,
    /// `DESC`.
    pub descending: bool,
    /// `NULLS FIRST` / `NULLS LAST` (default: first when ascending).
    pub nulls_first: Option<bool>,
}

/// What an `ALTER TABLE` does.
#[derive(Debug, Clone, PartialEq)]
pub enum AlterAction {
    /// `ADD COLUMN[S] ...`.
    AddColumns {
        /// The columns.
        columns: Vec<NewColumn>,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
    },
    /// `DROP COLUMN[S] [IF EXISTS] a, s.b`.
    DropColumns {
        /// Their paths.
        paths: Vec<Vec<String>>,
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// `RENAME COLUMN a.b TO c`.
    RenameColumn {
        /// The column's path.
        path: Vec<String>,
        /// Its new name (same struct).
        to: String,
    },
    /// `ALTER [COLUMN] c TYPE ... | DROP NOT NULL | COMMENT ... | FIRST`.
    AlterColumn {
        /// The column's path.
        path: Vec<String>,
        /// The change.
        change: ColumnChange,
    },
    /// `RENAME TO u`.
    RenameTable(TableIdent),
    /// `SET TBLPROPERTIES ('k' = 'v', ...)`.
    SetProperties(Vec<(String, String)>),
    /// `UNSET TBLPROPERTIES [IF EXISTS] ('k', ...)`.
    UnsetProperties {
        /// The keys.
        keys: Vec<String>,
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// `ADD PARTITION FIELD bucket(8, id) [AS name]`.
    AddPartitionField {
        /// The transform.
        transform: Box<Expr>,
        /// Its name.
        name: Option<String>,
    },
    /// `DROP PARTITION FIELD name-or-transform`.
    DropPartitionField(Box<Expr>),
    /// `REPLACE PARTITION FIELD old WITH transform [AS name]`.
    ReplacePartitionField {
        /// The field replaced (name or transform).
        from: Box<Expr>,
        /// The new transform.
        transform: Box<Expr>,
        /// Its name.
        name: Option<String>,
    },
    /// `WRITE [LOCALLY] ORDERED BY ...`, `WRITE UNORDERED` (empty).
    WriteOrder(Vec<SortKey>),
    /// `SET IDENTIFIER FIELDS a, b` (`set`) or `DROP IDENTIFIER FIELDS a`.
    IdentifierFields {
        /// The columns.
        columns: Vec<String>,
        /// SET (replace) or DROP (remove these).
        set: bool,
    },
}
