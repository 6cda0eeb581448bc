//! A table as one statement sees it: its identifier, its current metadata
//! and where that metadata lives.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use floe_catalog::TableIdent;
use iceberg::MetadataLocation;
use iceberg::compression::CompressionCodec;
use iceberg::io::FileIO;
use iceberg::spec::{
    DataFile, ManifestFile, ManifestList, SnapshotReference, TableMetadata, TableMetadataRef,
};

use crate::error::{FloeError, Result};

/// Write `metadata` to `location`, never over an existing file.
///
/// `iceberg` 0.10.1 keeps snapshots in a hash map and so writes them in no
/// particular order; Java Iceberg (and tools reading the list as a log)
/// expect commit order, so uncompressed metadata is written with its
/// snapshots sorted by sequence number.
pub async fn write_metadata(
    file_io: &FileIO,
    metadata: &TableMetadata,
    location: &MetadataLocation,
) -> Result<()> {
    if location.compression_codec() != CompressionCodec::None {
        return Ok(metadata.write_to(file_io, location).await?);
    }
    let mut json = serde_json::to_value(metadata)?;
    if let Some(serde_json::Value::Array(snapshots)) = json.get_mut("snapshots") {
        snapshots.sort_by_key(|s| {
            (
                s.get("sequence-number").and_then(|v| v.as_i64()),
                s.get("timestamp-ms").and_then(|v| v.as_i64()),
            )
        });
    }
    let bytes = serde_json::to_vec(&json)?;
    file_io
        .new_output(location.to_string())?
        .write(bytes.into())
        .await?;
    Ok(())
}

/// A live file of a snapshot, with the spec and snapshot that wrote it.
#[derive(Debug, Clone)]
pub struct LiveFile {
    /// The partition spec the file was written with.
    pub spec_id: i32,
    /// The snapshot that added the file.
    pub snapshot_id: Option<i64>,
    /// The file.
    pub file: DataFile,
}

/// A table loaded from the catalog at one metadata version.
///
/// A statement loads each table it touches once and works on that version;
/// a commit is based on it and swaps the pointer only if nobody moved it.
#[derive(Debug, Clone)]
pub struct LoadedTable {
    ident: TableIdent,
    metadata_location: String,
    metadata: TableMetadataRef,
}

impl LoadedTable {
    /// A loaded table from its parts.
    pub fn new(ident: TableIdent, metadata_location: String, metadata: TableMetadata) -> Self {
        Self {
            ident,
            metadata_location,
            metadata: Arc::new(metadata),
        }
    }

    /// Read the metadata file at `metadata_location`.
    pub async fn read(
        ident: TableIdent,
        metadata_location: String,
        file_io: &FileIO,
    ) -> Result<Self> {
        let metadata = TableMetadata::read_from(file_io, &metadata_location)
            .await
            .map_err(|e| {
                FloeError::Invalid(format!(
                    "cannot read the metadata of table '{ident}' at {metadata_location}: {e}"
                ))
            })?;
        Ok(Self::new(ident, metadata_location, metadata))
    }

    /// The table's identifier.
    pub fn ident(&self) -> &TableIdent {
        &self.ident
    }

    /// Location of the metadata file this version was read from.
    pub fn metadata_location(&self) -> &str {
        &self.metadata_location
    }

    /// The table's metadata.
    pub fn metadata(&self) -> &TableMetadataRef {
        &self.metadata
    }

    /// The table's branches and tags, by name.
    ///
    /// `TableMetadata` keeps its refs private in `iceberg` 0.10.1, so they
    /// are read back from the metadata's JSON form.
    pub fn refs(&self) -> Result<BTreeMap<String, SnapshotReference>> {
        let json = serde_json::to_value(self.metadata.as_ref())?;
        match json.get("refs") {
            Some(refs) => Ok(serde_json::from_value(refs.clone())?),
            None => Ok(BTreeMap::new()),
        }
    }

    /// The manifests of the current snapshot (none for an empty table).
    pub async fn current_manifests(&self, file_io: &FileIO) -> Result<Vec<ManifestFile>> {
        match self.metadata.current_snapshot() {
            Some(snapshot) => self.manifests(file_io, snapshot.manifest_list()).await,
            None => Ok(Vec::new()),
        }
    }

    /// The manifests a manifest list of this table names.
    pub async fn manifests(
        &self,
        file_io: &FileIO,
        manifest_list: &str,
    ) -> Result<Vec<ManifestFile>> {
        let bytes = file_io.new_input(manifest_list)?.read().await?;
        Ok(
            ManifestList::parse_with_version(&bytes, self.metadata.format_version())?
                .consume_entries()
                .into_iter()
                .collect(),
        )
    }

    /// Every live file (data and delete files) of the current snapshot.
    pub async fn live_files(&self, file_io: &FileIO) -> Result<Vec<LiveFile>> {
        let mut out = Vec::new();
        for manifest in self.current_manifests(file_io).await? {
            let spec_id = manifest.partition_spec_id;
            for entry in manifest.load_manifest(file_io).await?.entries() {
                if entry.is_alive() {
                    out.push(LiveFile {
                        spec_id,
                        snapshot_id: entry.snapshot_id(),
                        file: entry.data_file().clone(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// The live files of the current snapshot, by path.
    pub async fn live_files_by_path(&self, file_io: &FileIO) -> Result<HashMap<String, LiveFile>> {
        Ok(self
            .live_files(file_io)
            .await?
            .into_iter()
            .map(|f| (f.file.file_path().to_string(), f))
            .collect())
    }

    /// The `iceberg` crate's view of this table, for scans and readers.
    pub fn iceberg_table(&self, file_io: &FileIO) -> Result<iceberg::table::Table> {
        let runtime = iceberg::Runtime::try_current()?;
        Ok(iceberg::table::Table::builder()
            .metadata(Arc::clone(&self.metadata))
            .identifier(self.ident.clone())
            .file_io(file_io.clone())
            .runtime(runtime)
            .metadata_location(self.metadata_location.clone())
            .readonly(true)
            .build()?)
    }
}
