//! Branches and tags of one table (Iceberg refs, Spark's syntax):
//! `ALTER TABLE t CREATE [OR REPLACE] BRANCH|TAG ...`, `REPLACE BRANCH|TAG`,
//! `DROP BRANCH|TAG`. Each is one metadata-only commit: its cost does not
//! depend on the table's size.

use iceberg::spec::{MAIN_BRANCH, SnapshotReference, TableMetadata, TableMetadataBuilder};

use crate::command::refs::{RefAction, RefChange, RefKind};
use crate::commit::{add_empty_branch, changes, commit_table};
use crate::error::{FloeError, Result, already_exists, invalid, not_found};
use crate::scope::Scope;
use crate::table::LoadedTable;
use floe_catalog::TableIdent;

/// Check a branch or tag name: letters, digits, `_` and `-`, as a name
/// that can follow `branch_` in `t.branch_<name>` without quoting trouble.
pub fn check_ref_name(name: &str, kind: RefKind) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(invalid!(
            "'{name}' is not a valid {} name: use letters, digits, '_' and '-' (not first)",
            kind.as_str()
        ));
    }
    Ok(())
}

impl RefChange {
    /// Apply the change to `table` as one metadata commit (retried on fresh
    /// metadata if another writer commits first).
    pub(crate) async fn apply(&self, scope: &Scope, table: &TableIdent) -> Result<()> {
        check_ref_name(&self.name, self.kind)?;
        if self.name == MAIN_BRANCH {
            return Err(invalid!(
                "cannot {} 'main' of table '{table}': it is the table's own branch (to move it, \
                 CALL system.rollback_to_snapshot or system.fast_forward)",
                match self.action {
                    RefAction::Drop { .. } => "drop",
                    _ => "create or replace",
                }
            ));
        }
        if self.kind == RefKind::Tag
            && let RefAction::Create { retention, .. } | RefAction::Replace { retention, .. } =
                &self.action
            && (retention.min_snapshots_to_keep.is_some()
                || retention.max_snapshot_age_ms.is_some())
        {
            return Err(invalid!(
                "tag '{}': WITH SNAPSHOT RETENTION is for branches; a tag takes RETAIN n DAYS",
                self.name
            ));
        }
        let base = scope.load_table(table).await?;
        commit_table(&scope.target()?, base, move |current| async move {
            // A branch of a table without snapshots starts with an empty one.
            if let RefAction::Create {
                as_of: None,
                retention,
                ..
            } = &self.action
                && self.kind == RefKind::Branch
                && current.snapshot().is_none()
                && !current.refs()?.contains_key(&self.name)
            {
                let builder = TableMetadata::clone(current.metadata()).into_builder(None);
                let mut builder =
                    add_empty_branch(scope.engine(), current.metadata(), builder, &self.name)
                        .await?;
                if !retention.is_empty() {
                    let head = builder
                        .clone()
                        .build()?
                        .metadata
                        .snapshot_for_ref(&self.name)
                        .map(|s| s.snapshot_id())
                        .ok_or_else(|| FloeError::internal("an empty branch has no snapshot"))?;
                    builder = builder.set_ref(
                        &self.name,
                        SnapshotReference::new(head, retention.for_kind(self.kind)),
                    )?;
                }
                return changes(builder);
            }
            match self.updated(&current)? {
                Some(builder) => changes(builder),
                None => Ok(None),
            }
        })
        .await?;
        Ok(())
    }

    /// The new metadata, `None` when nothing changes (`IF [NOT] EXISTS`).
    fn updated(&self, current: &LoadedTable) -> Result<Option<TableMetadataBuilder>> {
        let ident = current.ident();
        let existing = current.refs()?.get(&self.name).cloned();
        let kind_of = |r: &SnapshotReference| {
            if r.is_branch() {
                RefKind::Branch
            } else {
                RefKind::Tag
            }
        };
        if let Some(existing) = &existing
            && kind_of(existing) != self.kind
        {
            return Err(invalid!(
                "'{}' is a {} of table '{ident}', not a {}",
                self.name,
                kind_of(existing).as_str(),
                self.kind.as_str()
            ));
        }
        let builder = TableMetadata::clone(current.metadata()).into_builder(None);
        let (as_of, retention) = match &self.action {
            RefAction::Drop { if_exists } => {
                if existing.is_none() {
                    if *if_exists {
                        return Ok(None);
                    }
                    return Err(not_found!(
                        "table '{ident}' has no {} '{}'",
                        self.kind.as_str(),
                        self.name
                    ));
                }
                return Ok(Some(builder.remove_ref(&self.name)));
            }
            RefAction::Create {
                or_replace,
                if_not_exists,
                as_of,
                retention,
            } => {
                if existing.is_some() && !or_replace {
                    if *if_not_exists {
                        return Ok(None);
                    }
                    return Err(already_exists!(
                        "table '{ident}' already has a {} '{}' (use CREATE OR REPLACE {} to move \
                         it)",
                        self.kind.as_str(),
                        self.name,
                        self.kind.as_str().to_uppercase()
                    ));
                }
                (as_of, retention.for_kind(self.kind))
            }
            RefAction::Replace { as_of, retention } => {
                let Some(existing) = &existing else {
                    return Err(not_found!(
                        "table '{ident}' has no {} '{}' to replace (use CREATE {})",
                        self.kind.as_str(),
                        self.name,
                        self.kind.as_str().to_uppercase()
                    ));
                };
                let kept = if retention.is_empty() {
                    existing.retention.clone()
                } else {
                    retention.for_kind(self.kind)
                };
                (as_of, kept)
            }
        };
        let snapshot_id = match as_of {
            Some(spec) => current.at(spec)?.snapshot_id(),
            None => current.snapshot_id(),
        }
        .ok_or_else(|| {
            invalid!(
                "table '{ident}' has no snapshot to {}: insert rows first",
                match self.kind {
                    RefKind::Branch => "branch from",
                    RefKind::Tag => "tag",
                }
            )
        })?;
        let reference = SnapshotReference::new(snapshot_id, retention);
        if existing.as_ref() == Some(&reference) {
            return Ok(None);
        }
        Ok(Some(builder.set_ref(&self.name, reference)?))
    }
}
