//! `floe maintain`: the maintenance the tables' properties ask for.
//!
//! Each table, one after another:
//! 1. Snapshot expiry by `history.expire.*` and each ref's retention.
//! 2. Compaction of the partitions where small files passed the
//!    threshold (`rewrite_data_files`' bin-packing defaults: five files
//!    under three quarters of `write.target-file-size-bytes`), or where
//!    position deletes remove 30% or more of a file's rows.
//! 3. A manifest rewrite once the head carries
//!    `commit.manifest.min-count-to-merge` (100) data manifests or more.
//!
//! Then, for all of them at once:
//! 4. Orphan removal, past the three-day minimum age. Its reachability
//!    pass covers every table of the warehouse whichever tables are
//!    maintained, so it is made once, after the other steps: the work is
//!    linear in the warehouse, not in tables × warehouse.
//!
//! A dry run says what each step would do and changes nothing.

use std::collections::HashMap;

use datafusion::prelude::SessionContext;
use floe_catalog::TableIdent;
use iceberg::spec::ManifestContentType;
use serde::Serialize;

use super::compaction::{RewriteRequest, rewrite_data_files};
use super::orphans::{DEFAULT_MIN_AGE_MS, OrphanRequest, find_orphans};
use super::procedures::{ExpiryDefaults, expire, expiry};
use crate::error::Result;
use crate::scope::Scope;

/// What maintenance did to one table (or, in a dry run, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct MaintenanceReport {
    /// The table.
    pub table: String,
    /// Whether this is what would be done.
    pub dry_run: bool,
    /// Snapshots expired.
    pub expired_snapshots: usize,
    /// Files only those snapshots reached, deleted.
    pub expired_files: i64,
    /// Data files compacted, and the files written instead.
    pub rewritten_data_files: usize,
    /// Files the compaction wrote.
    pub added_data_files: usize,
    /// Data manifests rewritten, and those written instead.
    pub rewritten_manifests: usize,
    /// Manifests the rewrite wrote.
    pub added_manifests: usize,
    /// Orphan files removed.
    pub orphan_files: Vec<String>,
}

/// One step of [`maintain_table`], for progress reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Snapshot expiry.
    Expire,
    /// Compaction.
    Compact,
    /// Manifest rewrite.
    RewriteManifests,
    /// Orphan removal.
    RemoveOrphans,
}

impl Step {
    /// What the step is called in reports.
    pub fn name(self) -> &'static str {
        match self {
            Step::Expire => "expire snapshots",
            Step::Compact => "compact data files",
            Step::RewriteManifests => "rewrite manifests",
            Step::RemoveOrphans => "remove orphan files",
        }
    }
}

/// Run every step on each of `tables` (steps 1 to 3 table by table, then
/// orphan removal for all of them in one pass); `progress` hears of each
/// step as it starts, with the table it is for (orphan removal: `None`,
/// all of them).
pub async fn maintain_tables(
    ctx: &SessionContext,
    scope: &Scope,
    tables: &[TableIdent],
    dry_run: bool,
    progress: &mut dyn FnMut(Option<&TableIdent>, Step),
) -> Result<Vec<MaintenanceReport>> {
    let now = chrono::Utc::now().timestamp_millis();
    let mut reports = Vec::with_capacity(tables.len());
    for table in tables {
        let report = maintain_one(ctx, scope, table, dry_run, now, &mut |step| {
            progress(Some(table), step)
        })
        .await
        .map_err(|e| e.context(format!("maintaining table '{table}'")))?;
        reports.push(report);
    }

    progress(None, Step::RemoveOrphans);
    let mut orphans = find_orphans(
        scope,
        &OrphanRequest {
            tables: Some(tables.to_vec()),
            older_than: now - DEFAULT_MIN_AGE_MS,
            dry_run,
        },
    )
    .await
    .map_err(|e| e.context("removing orphan files"))?;
    for (table, report) in tables.iter().zip(&mut reports) {
        report.orphan_files = orphans.remove(table).unwrap_or_default();
    }
    Ok(reports)
}

/// Steps 1 to 3 on `table`.
async fn maintain_one(
    ctx: &SessionContext,
    scope: &Scope,
    table: &TableIdent,
    dry_run: bool,
    now: i64,
    progress: &mut dyn FnMut(Step),
) -> Result<MaintenanceReport> {
    let mut report = MaintenanceReport {
        table: table.to_string(),
        dry_run,
        ..Default::default()
    };

    progress(Step::Expire);
    if dry_run {
        let loaded = scope.engine().load_committed(table).await?;
        report.expired_snapshots = expiry(&loaded, &ExpiryDefaults::default(), now)?.0.len();
    } else {
        let (expired, counts) = expire(scope, table, ExpiryDefaults::default()).await?;
        report.expired_snapshots = expired;
        report.expired_files = counts.iter().sum();
    }

    progress(Step::Compact);
    let loaded = scope.load_table_at(table, None).await?;
    let request = RewriteRequest {
        dry_run,
        options: HashMap::new(),
        ..Default::default()
    };
    let rewritten = rewrite_data_files(ctx, scope, loaded, &request).await?;
    report.rewritten_data_files = rewritten.rewritten;
    report.added_data_files = rewritten.added;

    progress(Step::RewriteManifests);
    let loaded = scope.load_table_at(table, None).await?;
    let threshold = loaded
        .int_property("commit.manifest.min-count-to-merge")?
        .map_or(100, |n| n.max(0) as usize);
    let manifests = match loaded.snapshot() {
        Some(snapshot) => loaded
            .manifests(scope.engine(), snapshot.manifest_list())
            .await?
            .iter()
            .filter(|m| m.content == ManifestContentType::Data)
            .count(),
        None => 0,
    };
    if manifests >= threshold.max(2) {
        if dry_run {
            report.rewritten_manifests = manifests;
        } else {
            let (_, done) = crate::commit::rewrite_manifests(&scope.target()?, loaded).await?;
            report.rewritten_manifests = done.rewritten;
            report.added_manifests = done.added;
        }
    }
    Ok(report)
}
