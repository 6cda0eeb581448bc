//! **The** commit path. Every write ends here: stage a snapshot on a branch,
//! write the new manifest, manifest list and metadata files (never
//! overwriting one), then compare-and-swap the catalog pointer. A lost race
//! is retried on fresh metadata.

mod summary;

use std::str::FromStr;
use std::time::Duration;

use floe_catalog::{CatalogError, PointerSwap};
use iceberg::MetadataLocation;
use iceberg::spec::{
    DataFile, MAIN_BRANCH, ManifestFile, ManifestList, ManifestListWriter, ManifestWriterBuilder,
    Operation, Snapshot, Summary, TableMetadata,
};

use crate::error::{FloeError, Result};
use crate::table::LoadedTable;
use crate::warehouse::Warehouse;

/// How often a commit that lost a race is retried before giving up.
const MAX_ATTEMPTS: u32 = 60;

/// A new snapshot to commit: for now, appended data files.
#[derive(Debug, Clone)]
pub struct Append {
    files: Vec<DataFile>,
}

impl Append {
    /// Append these data files (written for the table's default spec).
    pub fn new(files: Vec<DataFile>) -> Self {
        Self { files }
    }

    /// Commit on `main`, based on `base`; returns the new table version.
    pub async fn commit(self, warehouse: &Warehouse, base: LoadedTable) -> Result<LoadedTable> {
        let snapshot_id = new_snapshot_id();
        let commit_uuid = uuid::Uuid::now_v7();
        // The manifest of the new files does not depend on the parent, so it
        // is written once and reused by every attempt.
        let manifest = self
            .write_manifest(warehouse, &base, snapshot_id, commit_uuid)
            .await?;
        let mut base = base;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .try_commit(
                    warehouse,
                    &base,
                    snapshot_id,
                    commit_uuid,
                    attempt,
                    &manifest,
                )
                .await
            {
                Err(FloeError::Catalog(CatalogError::CommitConflict { .. }))
                    if attempt < MAX_ATTEMPTS =>
                {
                    tokio::time::sleep(backoff(attempt)).await;
                    base = warehouse.load_table(base.ident()).await?;
                }
                result => return result,
            }
        }
    }

    async fn write_manifest(
        &self,
        warehouse: &Warehouse,
        base: &LoadedTable,
        snapshot_id: i64,
        commit_uuid: uuid::Uuid,
    ) -> Result<Option<ManifestFile>> {
        if self.files.is_empty() {
            return Ok(None);
        }
        let metadata = base.metadata();
        let path = format!("{}/metadata/{commit_uuid}-m0.avro", metadata.location());
        let mut writer = ManifestWriterBuilder::new(
            warehouse.file_io().new_output(&path)?,
            Some(snapshot_id),
            metadata.current_schema().clone(),
            metadata.default_partition_spec().as_ref().clone(),
        )
        .build_v2_data();
        for file in &self.files {
            // A negative sequence number is inherited from the manifest list.
            writer.add_file(file.clone(), -1)?;
        }
        Ok(Some(writer.write_manifest_file().await?))
    }

    async fn try_commit(
        &self,
        warehouse: &Warehouse,
        base: &LoadedTable,
        snapshot_id: i64,
        commit_uuid: uuid::Uuid,
        attempt: u32,
        manifest: &Option<ManifestFile>,
    ) -> Result<LoadedTable> {
        let metadata = base.metadata();
        let file_io = warehouse.file_io();
        let parent = metadata.snapshot_for_ref(MAIN_BRANCH);
        let sequence_number = metadata.next_sequence_number();

        let mut manifests = match parent {
            Some(parent) => {
                let bytes = file_io.new_input(parent.manifest_list())?.read().await?;
                ManifestList::parse_with_version(&bytes, metadata.format_version())?
                    .consume_entries()
                    .into_iter()
                    .collect()
            }
            None => Vec::new(),
        };
        manifests.extend(manifest.iter().cloned());

        let list_path = format!(
            "{}/metadata/snap-{snapshot_id}-{}-{commit_uuid}.avro",
            metadata.location(),
            attempt - 1
        );
        let mut list = ManifestListWriter::v2(
            file_io.new_output(&list_path)?.writer().await?,
            snapshot_id,
            parent.map(|p| p.snapshot_id()),
            sequence_number,
        );
        list.add_manifests(manifests.into_iter())?;
        list.close().await?;

        let summary = summary::append_summary(metadata, parent, &self.files);
        let snapshot = Snapshot::builder()
            .with_snapshot_id(snapshot_id)
            .with_parent_snapshot_id(parent.map(|p| p.snapshot_id()))
            .with_sequence_number(sequence_number)
            .with_timestamp_ms(chrono::Utc::now().timestamp_millis())
            .with_manifest_list(list_path)
            .with_summary(Summary {
                operation: Operation::Append,
                additional_properties: summary,
            })
            .with_schema_id(metadata.current_schema_id())
            .build();

        let new_metadata = TableMetadata::clone(metadata)
            .into_builder(Some(base.metadata_location().to_string()))
            .set_branch_snapshot(snapshot, MAIN_BRANCH)?
            .build()?
            .metadata;
        swap_metadata(warehouse, base, new_metadata).await
    }
}

/// Write `new_metadata` as the table's next metadata file and swap the
/// catalog pointer to it.
pub(crate) async fn swap_metadata(
    warehouse: &Warehouse,
    base: &LoadedTable,
    new_metadata: TableMetadata,
) -> Result<LoadedTable> {
    let location = match MetadataLocation::from_str(base.metadata_location()) {
        Ok(previous) => previous
            .with_next_version()
            .with_new_metadata(&new_metadata),
        // Metadata written by an engine with another naming scheme.
        Err(_) => MetadataLocation::new_with_metadata(new_metadata.location(), &new_metadata),
    };
    new_metadata
        .write_to(warehouse.file_io(), &location)
        .await?;
    let location = location.to_string();
    warehouse
        .catalog()
        .swap(vec![PointerSwap {
            table: base.ident().clone(),
            expected: base.metadata_location().to_string(),
            new: location.clone(),
        }])
        .await?;
    Ok(LoadedTable::new(
        base.ident().clone(),
        location,
        new_metadata,
    ))
}

/// A random positive snapshot id, as Java Iceberg makes them.
fn new_snapshot_id() -> i64 {
    let (a, b) = uuid::Uuid::new_v4().as_u64_pair();
    ((a ^ b) & (i64::MAX as u64)) as i64
}

/// Exponential backoff with jitter, capped at half a second.
fn backoff(attempt: u32) -> Duration {
    let base_ms = (5u64 << attempt.min(7)).min(500);
    let jitter = uuid::Uuid::new_v4().as_u64_pair().0 % base_ms.max(1);
    Duration::from_millis(base_ms / 2 + jitter)
}
