//! Branches and tags of one table (Iceberg refs), as `ALTER TABLE ...
//! CREATE | REPLACE | DROP BRANCH | TAG` names them.

use iceberg::spec::SnapshotRetention;

use crate::table::VersionSpec;

/// A branch or a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    /// A branch: a line of snapshots that writes extend.
    Branch,
    /// A tag: a name for one snapshot, read-only.
    Tag,
}

impl RefKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Branch => "branch",
            Self::Tag => "tag",
        }
    }
}

/// How long a ref and its snapshots are kept (`RETAIN n DAYS`, `WITH
/// SNAPSHOT RETENTION n SNAPSHOTS m DAYS`); `None`: the table's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Retention {
    /// `RETAIN`: how long the ref itself is kept, in ms.
    pub max_ref_age_ms: Option<i64>,
    /// `WITH SNAPSHOT RETENTION n SNAPSHOTS` (branches).
    pub min_snapshots_to_keep: Option<i32>,
    /// `WITH SNAPSHOT RETENTION ... n DAYS` (branches).
    pub max_snapshot_age_ms: Option<i64>,
}

impl Retention {
    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub(crate) fn for_kind(&self, kind: RefKind) -> SnapshotRetention {
        match kind {
            RefKind::Branch => SnapshotRetention::Branch {
                min_snapshots_to_keep: self.min_snapshots_to_keep,
                max_snapshot_age_ms: self.max_snapshot_age_ms,
                max_ref_age_ms: self.max_ref_age_ms,
            },
            RefKind::Tag => SnapshotRetention::Tag {
                max_ref_age_ms: self.max_ref_age_ms,
            },
        }
    }
}

/// What to do to a ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefAction {
    /// `CREATE [OR REPLACE] BRANCH|TAG [IF NOT EXISTS] name [AS OF VERSION v]
    /// [RETAIN ...] [WITH SNAPSHOT RETENTION ...]`.
    Create {
        /// `OR REPLACE`.
        or_replace: bool,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// `AS OF VERSION`: the snapshot (default: the head of `main`).
        as_of: Option<VersionSpec>,
        /// Retention settings.
        retention: Retention,
    },
    /// `REPLACE BRANCH|TAG name [AS OF VERSION v] [RETAIN ...]`: the ref
    /// must exist; retention not given is kept.
    Replace {
        /// `AS OF VERSION`.
        as_of: Option<VersionSpec>,
        /// Retention settings.
        retention: Retention,
    },
    /// `DROP BRANCH|TAG [IF EXISTS] name`.
    Drop {
        /// `IF EXISTS`.
        if_exists: bool,
    },
}

/// A change to one ref of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefChange {
    /// Branch or tag.
    pub kind: RefKind,
    /// The ref's name.
    pub name: String,
    /// What to do.
    pub action: RefAction,
}
