//! The bound on a table's history that every commit keeps.
//!
//! An Iceberg table's metadata file lists every snapshot it keeps, and
//! every commit writes the whole file again: left alone, a table that
//! takes a commit a minute carries 10,000 snapshots in a week, and each
//! commit rewrites megabytes of JSON. Java Iceberg leaves that to a
//! scheduled `expire_snapshots`; Paimon and Hudi expire as they commit.
//! Floe does as they do: a commit that would leave a table with more
//! than [`MAX_SNAPSHOTS`] snapshots expires the oldest ones in the same
//! metadata file, so a commit's cost stops growing with the table's age.
//!
//! The bound removes snapshots from the metadata and nothing else: no
//! file is deleted (a reader still working on an expired snapshot keeps
//! its files), and the files only expired snapshots reached are found and
//! deleted by `remove_orphan_files` (which `floe maintain` runs), after
//! its one reachability pass over every table and branch. It never
//! expires what a ref needs:
//! - the head of every branch and tag;
//! - each branch's newest `min-snapshots-to-keep` (its own retention,
//!   else the table's `history.expire.min-snapshots-to-keep`);
//! - every branch's history back to where it last met `main`, and
//!   `main`'s history back to that point, so that a branch merge still
//!   finds its base and replays the branch's snapshots.

use std::cmp::Reverse;
use std::collections::HashSet;

use floe_catalog::TableIdent;
use iceberg::TableUpdate;
use iceberg::spec::{MAIN_BRANCH, SnapshotRetention, TableMetadata};

use crate::error::{Result, invalid};
use crate::ops::branch_merge::{merge_base, merged};
use crate::table::{Refs, ancestors};

/// Table property: how many snapshots a table keeps as it commits (a
/// positive number, or `none` to keep every snapshot until
/// `expire_snapshots` removes them). Floe's own; see the module docs.
pub const MAX_SNAPSHOTS: &str = "floe.history.max-snapshots";

/// [`MAX_SNAPSHOTS`] when a table does not set it.
pub const MAX_SNAPSHOTS_DEFAULT: usize = 100;

/// The bound `metadata`'s properties set (`None`: keep every snapshot).
fn max_snapshots(table: &TableIdent, metadata: &TableMetadata) -> Result<Option<usize>> {
    let Some(value) = metadata.properties().get(MAX_SNAPSHOTS) else {
        return Ok(Some(MAX_SNAPSHOTS_DEFAULT));
    };
    let value = value.trim();
    if value.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(invalid!(
            "table '{table}' sets {MAX_SNAPSHOTS} = '{value}': expected a positive whole \
             number of snapshots, or 'none' to keep every snapshot"
        )),
    }
}

/// `metadata` (a commit's new metadata, whose refs are `refs`) within the
/// table's bound: the oldest snapshots beyond it that no ref needs are
/// removed. Returns the metadata and the snapshots removed.
pub(crate) fn bound(
    table: &TableIdent,
    metadata: TableMetadata,
    refs: &Refs,
) -> Result<(TableMetadata, Vec<i64>)> {
    let Some(max) = max_snapshots(table, &metadata)? else {
        return Ok((metadata, Vec::new()));
    };
    if metadata.snapshots().len() <= max {
        return Ok((metadata, Vec::new()));
    }
    let expired = beyond(table, &metadata, refs, max)?;
    if expired.is_empty() {
        return Ok((metadata, Vec::new()));
    }
    let builder = remove_snapshots(metadata.into_builder(None), &expired);
    let metadata = builder
        .build()
        .map_err(|e| {
            invalid!(
                "cannot keep table '{table}' within {MAX_SNAPSHOTS}: {}",
                e.message()
            )
        })?
        .metadata;
    Ok((metadata, expired))
}

/// Remove `snapshots` from a metadata builder, with the statistics files
/// that describe them, as Java Iceberg's `RemoveSnapshots` does.
pub(crate) fn remove_snapshots(
    mut builder: iceberg::spec::TableMetadataBuilder,
    snapshots: &[i64],
) -> iceberg::spec::TableMetadataBuilder {
    for id in snapshots {
        builder = builder
            .remove_statistics(*id)
            .remove_partition_statistics(*id);
    }
    builder.remove_snapshots(snapshots)
}

/// The snapshots of `metadata` beyond the newest `max` that no ref needs
/// (see the module docs), oldest first.
fn beyond(
    table: &TableIdent,
    metadata: &TableMetadata,
    refs: &Refs,
    max: usize,
) -> Result<Vec<i64>> {
    let default_keep = match metadata
        .properties()
        .get("history.expire.min-snapshots-to-keep")
    {
        Some(v) => v.trim().parse::<usize>().map_err(|_| {
            invalid!(
                "table '{table}' sets history.expire.min-snapshots-to-keep = '{v}': expected a \
                 whole number"
            )
        })?,
        None => 1,
    }
    .max(1);
    let mut kept = merge_histories(metadata, refs);
    for reference in refs.values() {
        kept.insert(reference.snapshot_id);
        let SnapshotRetention::Branch {
            min_snapshots_to_keep,
            ..
        } = &reference.retention
        else {
            continue;
        };
        let keep = min_snapshots_to_keep.map_or(default_keep, |n| n.max(1) as usize);
        let history = ancestors(metadata, Some(reference.snapshot_id));
        kept.extend(history.iter().take(keep).map(|s| s.snapshot_id()));
    }
    let mut newest_first: Vec<_> = metadata.snapshots().collect();
    newest_first.sort_by_key(|s| Reverse((s.sequence_number(), s.timestamp_ms(), s.snapshot_id())));
    for snapshot in &newest_first {
        if kept.len() >= max {
            break;
        }
        kept.insert(snapshot.snapshot_id());
    }
    Ok(newest_first
        .iter()
        .rev()
        .map(|s| s.snapshot_id())
        .filter(|id| !kept.contains(id))
        .collect())
}

/// The snapshots a branch merge needs: every branch's history back to
/// its merge base with `main` (all of it, when it has none), and `main`'s
/// history back to where it has that base. Expiry, by the bound or by
/// `expire_snapshots`, keeps them, so that `MERGE BRANCH` still finds its
/// base and replays the branch's snapshots.
pub(crate) fn merge_histories(metadata: &TableMetadata, refs: &Refs) -> HashSet<i64> {
    let mut kept = HashSet::new();
    let main_history = refs
        .get(MAIN_BRANCH)
        .map(|main| ancestors(metadata, Some(main.snapshot_id)))
        .unwrap_or_default();
    for (name, reference) in refs {
        if name == MAIN_BRANCH || !reference.is_branch() {
            continue;
        }
        let history = ancestors(metadata, Some(reference.snapshot_id));
        match merge_base(&history, &main_history) {
            Some(base) => {
                kept.extend(history[..=base].iter().map(|s| s.snapshot_id()));
                let base = history[base].snapshot_id();
                for snapshot in &main_history {
                    kept.insert(snapshot.snapshot_id());
                    if snapshot.snapshot_id() == base || merged(snapshot, Some(base)) {
                        break;
                    }
                }
            }
            None => kept.extend(history.iter().map(|s| s.snapshot_id())),
        }
    }
    kept
}

/// The refs of a table after `updates` (applied to metadata whose refs
/// were `before`) made `metadata`: `TableMetadata` keeps its refs
/// private, so they are followed through the updates that set and remove
/// them, and refs to snapshots the metadata no longer has are dropped.
pub(crate) fn refs_after(
    before: Option<&Refs>,
    updates: &[TableUpdate],
    metadata: &TableMetadata,
) -> Refs {
    let mut refs = before.cloned().unwrap_or_default();
    for update in updates {
        match update {
            TableUpdate::SetSnapshotRef {
                ref_name,
                reference,
            } => {
                refs.insert(ref_name.clone(), reference.clone());
            }
            TableUpdate::RemoveSnapshotRef { ref_name } => {
                refs.remove(ref_name);
            }
            _ => {}
        }
    }
    refs.retain(|_, r| metadata.snapshot_by_id(r.snapshot_id).is_some());
    refs
}
