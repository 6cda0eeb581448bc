//! Snapshot producers: a snapshot (append, overwrite or delete) of data
//! and delete files added and removed, on a branch (`main` unless the
//! statement named another). The new manifests are written once; each
//! attempt of the commit layer writes the manifest list on the table's
//! latest version, after checking, as Java Iceberg does, that the
//! commits made since the statement read the table do not conflict with
//! it.

use std::collections::{HashMap, HashSet};

use iceberg::TableUpdate;
use iceberg::expr::Predicate;
use iceberg::spec::{
    DataFile, ManifestContentType, ManifestFile, ManifestListWriter, ManifestWriterBuilder,
    Operation, Snapshot, Summary, TableMetadata, TableMetadataBuilder, UNASSIGNED_SEQUENCE_NUMBER,
};

use super::{Target, commit_table, summary, validate};
use crate::engine::Engine;
use crate::error::{FloeError, Result, invalid};
use crate::table::LoadedTable;

/// How a commit that removes rows checks concurrent commits (Iceberg's
/// `write.*.isolation-level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Isolation {
    /// No concurrent commit may have added data the statement's filter
    /// could match, nor removed a file the statement removes (the default).
    #[default]
    Serializable,
    /// Only the files the statement removes must still be there.
    Snapshot,
}

impl Isolation {
    /// Read a `write.*.isolation-level` table property.
    pub fn parse(value: &str) -> Result<Self> {
        match value.to_ascii_lowercase().as_str() {
            "serializable" => Ok(Self::Serializable),
            "snapshot" => Ok(Self::Snapshot),
            other => Err(invalid!(
                "isolation level '{other}': expected 'serializable' or 'snapshot'"
            )),
        }
    }
}

/// A snapshot to commit: data files added and live data files removed.
#[derive(Debug, Clone)]
#[must_use]
pub struct SnapshotUpdate {
    added: Vec<DataFile>,
    removed: Vec<DataFile>,
    /// Delete files added (merge-on-read), with their partition spec ids.
    added_deletes: Vec<(i32, DataFile)>,
    /// Rows the statement read or changed: concurrent additions matching it
    /// conflict under serializable isolation. `None` means the whole table.
    conflict_filter: Option<Predicate>,
    isolation: Isolation,
    /// Forces `overwrite` even when nothing is removed (INSERT OVERWRITE of
    /// an empty table).
    overwrite: bool,
    /// Extra summary properties (`source-snapshot-id`, `wap.id`, ...).
    summary: Vec<(String, String)>,
    /// Partition spec ids of added files not written with the default
    /// spec (files a replay takes from another snapshot), by path.
    file_specs: HashMap<String, i32>,
    /// Write-audit-publish: add the snapshot to the table without moving
    /// any branch to it.
    stage_only: bool,
    /// Table properties set in the same commit.
    properties: HashMap<String, String>,
    /// Live delete files removed (a compaction's, once their data files
    /// are rewritten).
    removed_deletes: Vec<DataFile>,
    /// A `replace`: the same rows in other files (compaction).
    replace: bool,
}

impl SnapshotUpdate {
    /// Append data files: never conflicts, always retried.
    pub fn append(files: Vec<DataFile>) -> Self {
        Self {
            added: files,
            removed: Vec::new(),
            added_deletes: Vec::new(),
            conflict_filter: None,
            isolation: Isolation::Snapshot,
            overwrite: false,
            summary: Vec::new(),
            stage_only: false,
            file_specs: HashMap::new(),
            properties: HashMap::new(),
            removed_deletes: Vec::new(),
            replace: false,
        }
    }

    /// Replace `removed` (live files of the base version) by `added`.
    pub fn overwrite(added: Vec<DataFile>, removed: Vec<DataFile>) -> Self {
        Self {
            added,
            removed,
            added_deletes: Vec::new(),
            conflict_filter: None,
            isolation: Isolation::Serializable,
            overwrite: true,
            summary: Vec::new(),
            stage_only: false,
            file_specs: HashMap::new(),
            properties: HashMap::new(),
            removed_deletes: Vec::new(),
            replace: false,
        }
    }

    /// Replace the live data files `removed` and delete files
    /// `removed_deletes` by `added`, which hold exactly their rows (a
    /// `replace` snapshot: compaction). The removed files must still be
    /// live when it commits, and no concurrent commit may have added delete
    /// files that could apply to them: those rows would come back.
    pub fn replace(
        added: Vec<DataFile>,
        removed: Vec<DataFile>,
        removed_deletes: Vec<DataFile>,
    ) -> Self {
        let mut update = Self::overwrite(added, removed).with_isolation(Isolation::Snapshot);
        update.removed_deletes = removed_deletes;
        update.replace = true;
        update
    }

    /// The changes `snapshot` made to its parent (data files added and
    /// removed, delete files added), to apply again elsewhere: Iceberg's
    /// cherry-pick. The new snapshot records `source-snapshot-id`.
    pub async fn replay(engine: &Engine, table: &LoadedTable, snapshot: &Snapshot) -> Result<Self> {
        let changes = validate::snapshot_changes(engine, table, snapshot).await?;
        let default_spec = table.metadata().default_partition_spec_id();
        let file_specs: HashMap<String, i32> = changes
            .added
            .iter()
            .filter(|(spec, _)| *spec != default_spec)
            .map(|(spec, f)| (f.file_path().to_string(), *spec))
            .collect();
        let added: Vec<DataFile> = changes.added.into_iter().map(|(_, f)| f).collect();
        let mut update = if changes.removed.is_empty() && changes.added_deletes.is_empty() {
            Self::append(added)
        } else {
            Self::overwrite(added, changes.removed)
                .with_delete_files(changes.added_deletes)
                .with_isolation(Isolation::Snapshot)
        };
        update.overwrite = snapshot.summary().operation == Operation::Overwrite;
        update.file_specs = file_specs;
        Ok(update.with_summary("source-snapshot-id", snapshot.snapshot_id().to_string()))
    }

    /// Add a summary property to the new snapshot.
    pub fn with_summary(mut self, key: &str, value: String) -> Self {
        self.summary.push((key.to_string(), value));
        self
    }

    /// Also set a table property, in the same commit (`add_files` records
    /// the name mapping of files without field ids this way).
    pub fn with_property(mut self, key: &str, value: String) -> Self {
        self.properties.insert(key.to_string(), value);
        self
    }

    /// Write-audit-publish: stage the snapshot (it is added to the table,
    /// with `wap.id` in its summary, but no branch moves to it) until
    /// `CALL system.publish_changes` cherry-picks it.
    pub fn staged_with_wap_id(mut self, wap_id: &str) -> Self {
        self.stage_only = true;
        self.with_summary("wap.id", wap_id.to_string())
    }

    /// Also add delete files (position or equality deletes), each with the
    /// partition spec id of the data it applies to.
    pub fn with_delete_files(mut self, files: Vec<(i32, DataFile)>) -> Self {
        self.added_deletes = files;
        self
    }

    /// The rows the statement read: with serializable isolation, a
    /// concurrent commit adding data that may match conflicts.
    pub fn with_conflict_filter(mut self, filter: Option<Predicate>) -> Self {
        self.conflict_filter = filter;
        self
    }

    /// The isolation level to validate concurrent commits with.
    pub fn with_isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    fn operation(&self) -> Operation {
        if self.replace {
            return Operation::Replace;
        }
        let removes = !self.removed.is_empty() || !self.added_deletes.is_empty();
        match (self.added.is_empty(), removes) {
            (_, false) if !self.overwrite => Operation::Append,
            (true, true) => Operation::Delete,
            _ => Operation::Overwrite,
        }
    }

    /// Commit on `base`'s branch, based on `base`; returns the new table
    /// version. Tags and snapshots are read-only. With `write.wap.enabled`
    /// and the session's `floe.wap_id`, a commit to `main` is staged.
    pub async fn commit(self, target: &Target<'_>, base: LoadedTable) -> Result<LoadedTable> {
        let branch = base.write_branch()?.to_string();
        let wap = base
            .metadata()
            .properties()
            .get("write.wap.enabled")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let this = match &target.wap_id {
            Some(wap_id) if wap && branch == iceberg::spec::MAIN_BRANCH && !self.stage_only => {
                self.staged_with_wap_id(wap_id)
            }
            _ => self,
        };
        this.commit_to_branch(target, base, &branch).await
    }

    async fn commit_to_branch(
        self,
        target: &Target<'_>,
        base: LoadedTable,
        branch: &str,
    ) -> Result<LoadedTable> {
        let engine = target.engine;
        let snapshot_id = new_snapshot_id();
        let commit_uuid = uuid::Uuid::now_v7();
        // The manifest of the new files does not depend on the parent, so it
        // is written once and reused by every attempt.
        let mut added_manifests: Vec<ManifestFile> = self
            .write_added_manifests(engine, &base, snapshot_id, commit_uuid)
            .await?;
        added_manifests.extend(
            self.write_delete_manifests(engine, &base, snapshot_id, commit_uuid)
                .await?,
        );
        let read_snapshot = base.snapshot_id();
        if self.summary.iter().any(|(k, _)| k == "source-snapshot-id") {
            // Delete files made elsewhere (a replay) may point at files
            // this branch no longer has.
            self.check_referenced_files_live(engine, &base).await?;
        }
        let removed: HashSet<&str> = self.removed.iter().map(|f| f.file_path()).collect();
        let (this, removed, added_manifests) = (&self, &removed, &added_manifests);
        let mut attempt = 0;
        commit_table(target, base, move |current| {
            attempt += 1;
            async move {
                let moved = current.snapshot_id() != read_snapshot;
                if moved && this.operation() != Operation::Append {
                    validate::concurrent_commits(
                        engine,
                        &current,
                        read_snapshot,
                        this.isolation,
                        this.conflict_filter.as_ref(),
                        removed,
                    )
                    .await?;
                    this.check_referenced_files_live(engine, &current).await?;
                }
                let staged = StagedCommit {
                    snapshot_id,
                    commit_uuid,
                    attempt,
                    added_manifests,
                };
                Ok(Some(this.updates(engine, &current, branch, &staged).await?))
            }
        })
        .await
    }

    /// The partition spec id of an added or removed data file.
    fn spec_of(&self, metadata: &TableMetadata, file: &DataFile) -> i32 {
        self.file_specs
            .get(file.file_path())
            .copied()
            .unwrap_or_else(|| metadata.default_partition_spec_id())
    }

    /// One manifest of the added data files per partition spec (one, but
    /// for a replay of files written under older specs).
    async fn write_added_manifests(
        &self,
        engine: &Engine,
        base: &LoadedTable,
        snapshot_id: i64,
        commit_uuid: uuid::Uuid,
    ) -> Result<Vec<ManifestFile>> {
        let metadata = base.metadata();
        let files = self.added.iter().map(|f| (self.spec_of(metadata, f), f));
        let path = |n: usize, spec_id: i32| {
            let suffix = if n == 0 {
                String::new()
            } else {
                format!("-s{spec_id}")
            };
            format!(
                "{}/metadata/{commit_uuid}-m0{suffix}.avro",
                metadata.location()
            )
        };
        write_manifests(
            engine,
            base,
            snapshot_id,
            files,
            ManifestContentType::Data,
            path,
        )
        .await
    }

    /// Position deletes must point at live data files: one a concurrent
    /// commit removed (a compaction, a rewrite) would keep the deleted rows.
    async fn check_referenced_files_live(
        &self,
        engine: &Engine,
        current: &LoadedTable,
    ) -> Result<()> {
        let referenced: HashSet<String> = self
            .added_deletes
            .iter()
            .filter_map(|(_, f)| f.referenced_data_file())
            .collect();
        if referenced.is_empty() {
            return Ok(());
        }
        let live: HashSet<String> = current
            .live_files(engine)
            .await?
            .into_iter()
            .map(|f| f.file.file_path().to_string())
            .collect();
        if let Some(gone) = referenced.iter().find(|p| !live.contains(*p)) {
            return Err(FloeError::Conflict {
                table: current.ident().to_string(),
                snapshot: current.snapshot_id(),
                reason: format!(
                    "a concurrent commit removed data file {gone}, which this statement deletes \
                     rows of"
                ),
            });
        }
        Ok(())
    }

    /// One manifest of the added delete files per partition spec.
    async fn write_delete_manifests(
        &self,
        engine: &Engine,
        base: &LoadedTable,
        snapshot_id: i64,
        commit_uuid: uuid::Uuid,
    ) -> Result<Vec<ManifestFile>> {
        let location = base.metadata().location();
        let files = self.added_deletes.iter().map(|(spec_id, f)| (*spec_id, f));
        let path =
            |_: usize, spec_id: i32| format!("{location}/metadata/{commit_uuid}-d{spec_id}.avro");
        write_manifests(
            engine,
            base,
            snapshot_id,
            files,
            ManifestContentType::Deletes,
            path,
        )
        .await
    }

    /// The updates of this snapshot on `base` (the table's latest
    /// version): the manifest list is written, the snapshot added and, unless
    /// it is staged for write-audit-publish, made the head of `branch`.
    async fn updates(
        &self,
        engine: &Engine,
        base: &LoadedTable,
        branch: &str,
        staged: &StagedCommit<'_>,
    ) -> Result<Vec<TableUpdate>> {
        let metadata = base.metadata();

        let parent = base.snapshot();

        let mut manifests = match parent {
            Some(parent) => base.manifests(engine, parent.manifest_list()).await?,
            None => Vec::new(),
        };
        let mut removed_specs = HashMap::new();
        if !self.removed.is_empty() || !self.removed_deletes.is_empty() {
            (manifests, removed_specs) = self.remove_files(engine, base, manifests, staged).await?;
        }
        let mut manifests = merge_manifests(engine, base, manifests, staged).await?;
        manifests.extend(staged.added_manifests.iter().cloned());

        let spec_of = |file: &DataFile| {
            removed_specs
                .get(file.file_path())
                .copied()
                .unwrap_or_else(|| self.spec_of(metadata, file))
        };
        let removed: Vec<DataFile> = self
            .removed
            .iter()
            .chain(&self.removed_deletes)
            .cloned()
            .collect();
        let mut summary = summary::snapshot_summary(
            metadata,
            parent,
            &self.added,
            &removed,
            &self.added_deletes,
            &spec_of,
        );
        summary.extend(self.summary.iter().cloned());
        let list_path = format!(
            "{}/metadata/snap-{}-{}-{}.avro",
            metadata.location(),
            staged.snapshot_id,
            staged.attempt - 1,
            staged.commit_uuid
        );
        let snapshot = write_snapshot(
            engine,
            metadata,
            staged.snapshot_id,
            parent.map(|p| p.snapshot_id()),
            list_path,
            manifests,
            Summary {
                operation: self.operation(),
                additional_properties: summary,
            },
        )
        .await?;

        let mut builder = TableMetadata::clone(metadata).into_builder(None);
        if !self.properties.is_empty() {
            builder = builder.set_properties(self.properties.clone())?;
        }
        let builder = if self.stage_only {
            builder.add_snapshot(snapshot)?
        } else {
            builder.set_branch_snapshot(snapshot, branch)?
        };
        Ok(builder.build()?.changes)
    }

    /// Rewrite the manifests that hold removed files: those entries become
    /// `DELETED`, the others `EXISTING`. Every removed file must still be
    /// live, or a concurrent commit removed it first.
    async fn remove_files(
        &self,
        engine: &Engine,
        base: &LoadedTable,
        manifests: Vec<ManifestFile>,
        staged: &StagedCommit<'_>,
    ) -> Result<(Vec<ManifestFile>, HashMap<String, i32>)> {
        let metadata = base.metadata();
        let removed: HashSet<&str> = self
            .removed
            .iter()
            .chain(&self.removed_deletes)
            .map(|f| f.file_path())
            .collect();
        // Removed file -> the spec of the manifest it was found in.
        let mut found: HashMap<String, i32> = HashMap::new();
        let mut out = Vec::with_capacity(manifests.len());
        for (n, manifest) in manifests.into_iter().enumerate() {
            let live = manifest.added_files_count.unwrap_or(1)
                + manifest.existing_files_count.unwrap_or(1);
            let deletes = manifest.content == ManifestContentType::Deletes;
            if (deletes && self.removed_deletes.is_empty()) || live == 0 {
                out.push(manifest);
                continue;
            }
            let loaded = crate::table::load_manifest(engine, &manifest).await?;
            let hits: Vec<String> = loaded
                .entries()
                .iter()
                .filter(|e| e.is_alive() && removed.contains(e.file_path()))
                .map(|e| e.file_path().to_string())
                .collect();
            if hits.is_empty() {
                out.push(manifest);
                continue;
            }
            found.extend(hits.into_iter().map(|p| (p, manifest.partition_spec_id)));
            let path = format!(
                "{}/metadata/{}-m{}.avro",
                metadata.location(),
                staged.commit_uuid,
                n + 1 + 1000 * staged.attempt as usize
            );
            let builder = manifest_writer(
                engine,
                metadata,
                manifest.partition_spec_id,
                staged.snapshot_id,
                &path,
            )?;
            let mut writer = if deletes {
                builder.build_v2_deletes()
            } else {
                builder.build_v2_data()
            };
            for entry in loaded.entries().iter().filter(|e| e.is_alive()) {
                let sequence = entry.sequence_number().unwrap_or(0);
                let file_sequence = entry.file_sequence_number.or(Some(sequence));
                if removed.contains(entry.file_path()) {
                    writer.add_delete_file(entry.data_file().clone(), sequence, file_sequence)?;
                } else {
                    writer.add_existing_file(
                        entry.data_file().clone(),
                        entry.snapshot_id().unwrap_or(staged.snapshot_id),
                        sequence,
                        file_sequence,
                    )?;
                }
            }
            out.push(writer.write_manifest_file().await?);
        }
        if found.len() != removed.len() {
            let missing: Vec<&str> = removed
                .iter()
                .filter(|p| !found.contains_key(**p))
                .copied()
                .collect();
            return Err(FloeError::Conflict {
                table: base.ident().to_string(),
                snapshot: base.snapshot_id(),
                reason: format!(
                    "{} of the data files this statement rewrites were removed by a concurrent \
                     commit: {}",
                    missing.len(),
                    missing.join(", ")
                ),
            });
        }
        Ok((out, found))
    }
}

/// A writer of a manifest at `path` for `metadata`'s partition spec
/// `spec_id`, its entries committed by `snapshot_id`.
fn manifest_writer(
    engine: &Engine,
    metadata: &TableMetadata,
    spec_id: i32,
    snapshot_id: i64,
    path: &str,
) -> Result<ManifestWriterBuilder> {
    let spec = metadata.partition_spec_by_id(spec_id).ok_or_else(|| {
        FloeError::Internal(format!(
            "table at {} has no partition spec {spec_id}",
            metadata.location()
        ))
    })?;
    Ok(ManifestWriterBuilder::new(
        engine.file_io().new_output(path)?,
        Some(snapshot_id),
        metadata.current_schema().clone(),
        spec.as_ref().clone(),
    ))
}

/// Write `files` (each with its partition spec id) as new manifests of
/// `content`, one per spec, at `path(n, spec_id)`; their entries are
/// `ADDED` by `snapshot_id`, with sequence numbers inherited from the
/// manifest list.
async fn write_manifests<'a>(
    engine: &Engine,
    base: &LoadedTable,
    snapshot_id: i64,
    files: impl Iterator<Item = (i32, &'a DataFile)>,
    content: ManifestContentType,
    path: impl Fn(usize, i32) -> String,
) -> Result<Vec<ManifestFile>> {
    let metadata = base.metadata();
    let mut by_spec: std::collections::BTreeMap<i32, Vec<&DataFile>> = Default::default();
    for (spec_id, file) in files {
        by_spec.entry(spec_id).or_default().push(file);
    }
    let mut out = Vec::with_capacity(by_spec.len());
    for (n, (spec_id, files)) in by_spec.into_iter().enumerate() {
        let builder = manifest_writer(engine, metadata, spec_id, snapshot_id, &path(n, spec_id))?;
        let mut writer = match content {
            ManifestContentType::Data => builder.build_v2_data(),
            ManifestContentType::Deletes => builder.build_v2_deletes(),
        };
        for file in files {
            // A negative sequence number is inherited from the manifest list.
            writer.add_file(file.clone(), -1)?;
        }
        out.push(writer.write_manifest_file().await?);
    }
    Ok(out)
}

/// How many small data manifests of one partition spec a snapshot may
/// carry before a commit merges them (Java Iceberg's
/// `commit.manifest.min-count-to-merge`).
const MIN_MANIFESTS_TO_MERGE: usize = 100;

/// Manifests at least this large are left alone by merging (Java
/// Iceberg's `commit.manifest.target-size-bytes`).
const MERGED_MANIFEST_TARGET_BYTES: i64 = 8 * 1024 * 1024;

/// The table's `commit.manifest.target-size-bytes`.
fn manifest_target_bytes(table: &LoadedTable) -> Result<i64> {
    Ok(table
        .int_property("commit.manifest.target-size-bytes")?
        .map_or(MERGED_MANIFEST_TARGET_BYTES, |n| n.max(1)))
}

/// Keep the manifest list short: once a spec has
/// `commit.manifest.min-count-to-merge` ([`MIN_MANIFESTS_TO_MERGE`] by
/// default) data manifests smaller than `commit.manifest.target-size-bytes`
/// from earlier snapshots (and `commit.manifest-merge.enabled` is not
/// false),
/// their live entries are rewritten into one manifest (as `EXISTING`, with
/// their snapshot ids and sequence numbers; entries deleted by earlier
/// snapshots are dropped). Without this every single-row INSERT adds a
/// manifest that every later commit and every scan reads.
async fn merge_manifests(
    engine: &Engine,
    base: &LoadedTable,
    manifests: Vec<ManifestFile>,
    staged: &StagedCommit<'_>,
) -> Result<Vec<ManifestFile>> {
    let enabled = base
        .metadata()
        .properties()
        .get("commit.manifest-merge.enabled")
        .is_none_or(|v| !v.eq_ignore_ascii_case("false"));
    if !enabled {
        return Ok(manifests);
    }
    let min_count = base
        .int_property("commit.manifest.min-count-to-merge")?
        .map_or(MIN_MANIFESTS_TO_MERGE, |n| n.max(2) as usize);
    let target = manifest_target_bytes(base)?;
    let mergeable = |m: &ManifestFile| {
        m.content == ManifestContentType::Data
            && m.added_snapshot_id != staged.snapshot_id
            && m.manifest_length < target
    };
    let mut counts: HashMap<i32, usize> = HashMap::new();
    for manifest in manifests.iter().filter(|m| mergeable(m)) {
        *counts.entry(manifest.partition_spec_id).or_default() += 1;
    }
    let specs: HashSet<i32> = counts
        .into_iter()
        .filter(|(_, n)| *n >= min_count)
        .map(|(spec, _)| spec)
        .collect();
    if specs.is_empty() {
        return Ok(manifests);
    }
    let metadata = base.metadata();
    let (merged, mut out): (Vec<ManifestFile>, Vec<ManifestFile>) = manifests
        .into_iter()
        .partition(|m| mergeable(m) && specs.contains(&m.partition_spec_id));
    for spec_id in specs {
        let path = format!(
            "{}/metadata/{}-merged-{spec_id}-{}.avro",
            metadata.location(),
            staged.commit_uuid,
            staged.attempt
        );
        let mut writer =
            manifest_writer(engine, metadata, spec_id, staged.snapshot_id, &path)?.build_v2_data();
        for manifest in merged.iter().filter(|m| m.partition_spec_id == spec_id) {
            let loaded = crate::table::load_manifest(engine, manifest).await?;
            for entry in loaded.entries().iter().filter(|e| e.is_alive()) {
                let sequence = entry.sequence_number().unwrap_or(0);
                writer.add_existing_file(
                    entry.data_file().clone(),
                    entry.snapshot_id().unwrap_or(manifest.added_snapshot_id),
                    sequence,
                    entry.file_sequence_number.or(Some(sequence)),
                )?;
            }
        }
        out.push(writer.write_manifest_file().await?);
    }
    Ok(out)
}

/// What does not change between the attempts of one commit.
struct StagedCommit<'a> {
    snapshot_id: i64,
    commit_uuid: uuid::Uuid,
    attempt: u32,
    added_manifests: &'a [ManifestFile],
}

/// `builder` (made from `metadata`) with a new snapshot holding no files
/// as the head of `branch`: how a branch of a table without snapshots
/// starts.
pub(crate) async fn add_empty_branch(
    engine: &Engine,
    metadata: &TableMetadata,
    builder: TableMetadataBuilder,
    branch: &str,
) -> Result<TableMetadataBuilder> {
    let snapshot_id = new_snapshot_id();
    let list_path = format!(
        "{}/metadata/snap-{snapshot_id}-0-{}.avro",
        metadata.location(),
        uuid::Uuid::now_v7()
    );
    let mut summary = summary::snapshot_summary(metadata, None, &[], &[], &[], &|_| 0);
    summary.insert("floe.empty-branch-start".into(), "true".into());
    let snapshot = write_snapshot(
        engine,
        metadata,
        snapshot_id,
        None,
        list_path,
        Vec::new(),
        Summary {
            operation: Operation::Append,
            additional_properties: summary,
        },
    )
    .await?;
    Ok(builder.set_branch_snapshot(snapshot, branch)?)
}

/// `updates`, made on metadata that other commits (to other branches) have
/// moved since, made to come after `current`:
///
/// - every snapshot they add is renumbered after `current`'s last sequence
///   number, and gets its manifest list written again, listing its
///   manifests (and those of the snapshots before it in `updates`) at
///   their new numbers;
/// - a snapshot older than `current`'s last update (staged before another
///   writer's commit) is stamped with the time of this commit, as Java
///   Iceberg stamps a transaction's snapshots when it commits: the
///   snapshot log stays in time order, and Iceberg refuses a snapshot more
///   than a minute older than the table's last update.
///
/// Nothing else changes; updates that need neither are returned as they
/// are.
pub(crate) async fn rebase_snapshots(
    engine: &Engine,
    current: &LoadedTable,
    updates: Vec<TableUpdate>,
) -> Result<Vec<TableUpdate>> {
    let mut next = current.metadata().last_sequence_number() + 1;
    let last_updated = current.metadata().last_updated_ms();
    let added = || {
        updates.iter().filter_map(|u| match u {
            TableUpdate::AddSnapshot { snapshot } => Some(snapshot),
            _ => None,
        })
    };
    let behind = added().any(|snapshot| snapshot.sequence_number() < next);
    let late = added().any(|snapshot| snapshot.timestamp_ms() < last_updated);
    if !behind && !late {
        return Ok(updates);
    }
    let now = chrono::Utc::now().timestamp_millis().max(last_updated);
    // Snapshot id -> (old, new) sequence number.
    let mut renumbered: HashMap<i64, (i64, i64)> = HashMap::new();
    let mut out = Vec::with_capacity(updates.len());
    for update in updates {
        let TableUpdate::AddSnapshot { snapshot } = update else {
            out.push(update);
            continue;
        };
        let timestamp = if late {
            snapshot.timestamp_ms().max(now)
        } else {
            snapshot.timestamp_ms()
        };
        let (id, old) = (snapshot.snapshot_id(), snapshot.sequence_number());
        if !behind {
            let restamped = rebuilt(&snapshot, old, timestamp, snapshot.manifest_list().into());
            out.push(TableUpdate::AddSnapshot {
                snapshot: restamped,
            });
            continue;
        }
        let new = next.max(old);
        next = new + 1;
        renumbered.insert(id, (old, new));
        let mut manifests = current.manifests(engine, snapshot.manifest_list()).await?;
        for manifest in &mut manifests {
            if let Some((old, new)) = renumbered.get(&manifest.added_snapshot_id) {
                if manifest.sequence_number == *old {
                    manifest.sequence_number = *new;
                }
                if manifest.min_sequence_number == *old {
                    manifest.min_sequence_number = *new;
                }
            }
        }
        let list_path = format!(
            "{}/metadata/snap-{id}-r{new}-{}.avro",
            current.metadata().location(),
            uuid::Uuid::now_v7()
        );
        write_manifest_list(
            engine,
            &list_path,
            id,
            snapshot.parent_snapshot_id(),
            new,
            manifests,
        )
        .await?;
        let rebased = rebuilt(&snapshot, new, timestamp, list_path);
        out.push(TableUpdate::AddSnapshot { snapshot: rebased });
    }
    Ok(out)
}

/// Write the manifest list of snapshot `snapshot_id` at `path`.
/// A new snapshot of `metadata`, at its next sequence number, now and on
/// its current schema, whose manifest list (written at `list_path`) holds
/// `manifests`.
async fn write_snapshot(
    engine: &Engine,
    metadata: &TableMetadata,
    snapshot_id: i64,
    parent_snapshot_id: Option<i64>,
    list_path: String,
    manifests: Vec<ManifestFile>,
    summary: Summary,
) -> Result<Snapshot> {
    let sequence_number = metadata.next_sequence_number();
    write_manifest_list(
        engine,
        &list_path,
        snapshot_id,
        parent_snapshot_id,
        sequence_number,
        manifests,
    )
    .await?;
    Ok(Snapshot::builder()
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(parent_snapshot_id)
        .with_sequence_number(sequence_number)
        .with_timestamp_ms(chrono::Utc::now().timestamp_millis())
        .with_manifest_list(list_path)
        .with_summary(summary)
        .with_schema_id(metadata.current_schema_id())
        .build())
}

async fn write_manifest_list(
    engine: &Engine,
    path: &str,
    snapshot_id: i64,
    parent_snapshot_id: Option<i64>,
    sequence_number: i64,
    manifests: Vec<ManifestFile>,
) -> Result<()> {
    // The list as a reader will parse it, with the sequence numbers the
    // writer assigns to this snapshot's new manifests: cached, so that the
    // next commit on this snapshot does not read and parse it again.
    let assigned: Vec<ManifestFile> = manifests
        .iter()
        .cloned()
        .map(|mut manifest| {
            if manifest.sequence_number == UNASSIGNED_SEQUENCE_NUMBER {
                manifest.sequence_number = sequence_number;
            }
            if manifest.min_sequence_number == UNASSIGNED_SEQUENCE_NUMBER {
                manifest.min_sequence_number = sequence_number;
            }
            manifest
        })
        .collect();
    let mut list = ManifestListWriter::v2(
        engine.file_io().new_output(path)?.writer().await?,
        snapshot_id,
        parent_snapshot_id,
        sequence_number,
    );
    list.add_manifests(manifests.into_iter())?;
    list.close().await?;
    engine
        .cache()
        .insert_manifest_list(path, &std::sync::Arc::new(assigned));
    Ok(())
}

/// `snapshot` with another sequence number, time and manifest list.
fn rebuilt(snapshot: &Snapshot, sequence_number: i64, timestamp_ms: i64, list: String) -> Snapshot {
    Snapshot::builder()
        .with_snapshot_id(snapshot.snapshot_id())
        .with_parent_snapshot_id(snapshot.parent_snapshot_id())
        .with_sequence_number(sequence_number)
        .with_timestamp_ms(timestamp_ms)
        .with_manifest_list(list)
        .with_summary(snapshot.summary().clone())
        .schema_id_opt(snapshot.schema_id())
        .build()
}

/// A random positive snapshot id, as Java Iceberg makes them.
fn new_snapshot_id() -> i64 {
    let (a, b) = uuid::Uuid::new_v4().as_u64_pair();
    ((a ^ b) & (i64::MAX as u64)) as i64
}

/// What [`rewrite_manifests`] did: manifests replaced and written.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ManifestRewrite {
    /// The data manifests replaced.
    pub rewritten: usize,
    /// The manifests written instead.
    pub added: usize,
}

/// `rewrite_manifests`: the live entries of every data manifest of the
/// table's head (on `base`'s branch) are written again, per partition
/// spec, sorted by partition and cut at `commit.manifest.target-size-bytes`,
/// so that a scan filtering on the partition reads few manifests. Delete
/// manifests stay. The `replace` snapshot changes no file; a concurrent
/// commit makes it run again on the new head.
pub(crate) async fn rewrite_manifests(
    target: &Target<'_>,
    base: LoadedTable,
) -> Result<(LoadedTable, ManifestRewrite)> {
    let engine = target.engine;
    let branch = base.write_branch()?.to_string();
    let snapshot_id = new_snapshot_id();
    let commit_uuid = uuid::Uuid::now_v7();
    let done = std::sync::Mutex::new(ManifestRewrite::default());
    let (branch, done_ref) = (&branch, &done);
    let mut attempt = 0;
    let table = commit_table(target, base, move |current| {
        attempt += 1;
        async move {
            let Some(parent) = current.snapshot().cloned() else {
                return Ok(None);
            };
            let metadata = current.metadata();
            let manifests = current.manifests(engine, parent.manifest_list()).await?;
            let (data, kept): (Vec<ManifestFile>, Vec<ManifestFile>) = manifests
                .into_iter()
                .partition(|m| m.content == ManifestContentType::Data);
            if data.is_empty() {
                return Ok(None);
            }
            let target_bytes = manifest_target_bytes(&current)?;
            let mut by_spec: std::collections::BTreeMap<i32, Vec<_>> = Default::default();
            let (mut entries_seen, mut bytes_seen) = (0usize, 0i64);
            for manifest in &data {
                bytes_seen += manifest.manifest_length;
                let loaded = crate::table::load_manifest(engine, manifest).await?;
                for entry in loaded.entries().iter().filter(|e| e.is_alive()) {
                    entries_seen += 1;
                    let sequence = entry.sequence_number().unwrap_or(0);
                    by_spec
                        .entry(manifest.partition_spec_id)
                        .or_default()
                        .push((
                            format!("{:?}", entry.data_file().partition()),
                            entry.data_file().clone(),
                            entry.snapshot_id().unwrap_or(manifest.added_snapshot_id),
                            sequence,
                            entry.file_sequence_number.or(Some(sequence)),
                        ));
                }
            }
            // Entries per manifest, from the manifests' average entry size.
            let per_entry = (bytes_seen / entries_seen.max(1) as i64).max(1);
            let per_manifest = ((target_bytes / per_entry) as usize).max(1);
            let mut written = Vec::new();
            for (spec_id, mut entries) in by_spec {
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                for (n, chunk) in entries.chunks(per_manifest).enumerate() {
                    let path = format!(
                        "{}/metadata/{commit_uuid}-rewritten-{spec_id}-{n}-{attempt}.avro",
                        metadata.location()
                    );
                    let mut writer =
                        manifest_writer(engine, metadata, spec_id, snapshot_id, &path)?
                            .build_v2_data();
                    for (_, file, added_by, sequence, file_sequence) in chunk {
                        writer.add_existing_file(
                            file.clone(),
                            *added_by,
                            *sequence,
                            *file_sequence,
                        )?;
                    }
                    written.push(writer.write_manifest_file().await?);
                }
            }
            if let Ok(mut done) = done_ref.lock() {
                *done = ManifestRewrite {
                    rewritten: data.len(),
                    added: written.len(),
                };
            }
            let summary = manifest_rewrite_summary(
                &parent,
                data.len(),
                written.len(),
                kept.len(),
                entries_seen,
            );
            let mut manifests = written;
            manifests.extend(kept);
            let list_path = format!(
                "{}/metadata/snap-{snapshot_id}-{}-{commit_uuid}.avro",
                metadata.location(),
                attempt - 1
            );
            let snapshot = write_snapshot(
                engine,
                metadata,
                snapshot_id,
                Some(parent.snapshot_id()),
                list_path,
                manifests,
                Summary {
                    operation: Operation::Replace,
                    additional_properties: summary,
                },
            )
            .await?;
            let builder = TableMetadata::clone(metadata)
                .into_builder(None)
                .set_branch_snapshot(snapshot, branch)?;
            Ok(Some(builder.build()?.changes))
        }
    })
    .await?;
    let done = done.lock().map(|d| *d).unwrap_or_default();
    Ok((table, done))
}

/// A manifest rewrite's summary: Java's `manifests-*` keys, and the
/// parent's totals, which a rewrite does not change.
fn manifest_rewrite_summary(
    parent: &Snapshot,
    replaced: usize,
    created: usize,
    kept: usize,
    entries: usize,
) -> HashMap<String, String> {
    let mut summary: HashMap<String, String> = parent
        .summary()
        .additional_properties
        .iter()
        .filter(|(k, _)| k.starts_with("total-"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    summary.insert("manifests-replaced".into(), replaced.to_string());
    summary.insert("manifests-created".into(), created.to_string());
    summary.insert("manifests-kept".into(), kept.to_string());
    summary.insert("entries-processed".into(), entries.to_string());
    summary.insert("engine-name".into(), "floe".into());
    summary.insert("engine-version".into(), env!("CARGO_PKG_VERSION").into());
    summary
}
