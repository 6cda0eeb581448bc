//! A table as one statement sees it: its identifier, its current metadata
//! and where that metadata lives.

use std::collections::BTreeMap;
use std::sync::Arc;

use floe_catalog::TableIdent;
use iceberg::io::FileIO;
use iceberg::spec::{SnapshotReference, TableMetadata, TableMetadataRef};

use crate::error::{FloeError, Result};

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
