//! A table as one statement sees it: its identifier, its current metadata
//! and where that metadata lives.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;

use floe_catalog::TableIdent;
use iceberg::MetadataLocation;
use iceberg::compression::CompressionCodec;
use iceberg::io::FileIO;
use iceberg::spec::{
    DataFile, MAIN_BRANCH, Manifest, ManifestFile, ManifestList, SchemaRef, SnapshotRef,
    SnapshotReference, TableMetadata, TableMetadataRef,
};

use crate::engine::Engine;
use crate::error::{FloeError, Result, invalid, not_found};

/// Write `metadata` to `location`, never over an existing file.
///
/// Uncompressed metadata is written with its snapshots in commit order
/// (see [`crate::metadata_json`]).
pub(crate) async fn write_metadata(
    file_io: &FileIO,
    metadata: &TableMetadata,
    location: &MetadataLocation,
) -> Result<()> {
    if location.compression_codec() != CompressionCodec::None {
        metadata.write_to(file_io, location).await?;
        return Ok(());
    }
    let bytes = crate::metadata_json::to_json(metadata)?;
    file_io
        .new_output(location.to_string())?
        .write(bytes.into())
        .await?;
    Ok(())
}

/// Read the metadata file at `location` and its refs, parsing it once.
pub(crate) async fn read_metadata(
    file_io: &FileIO,
    location: &str,
) -> Result<(TableMetadata, Refs)> {
    let parsed = MetadataLocation::from_str(location)
        .map(|l| l.compression_codec())
        .unwrap_or(CompressionCodec::None);
    if parsed != CompressionCodec::None || location.ends_with(".gz.metadata.json") {
        let metadata = TableMetadata::read_from(file_io, location).await?;
        let refs = refs_of(&metadata)?;
        return Ok((metadata, refs));
    }
    let bytes = file_io.new_input(location)?.read().await?;
    let json: serde_json::Value = serde_json::from_slice(&bytes)?;
    let refs = refs_from_json(&json)?;
    Ok((serde_json::from_value(json)?, refs))
}

/// A table from its metadata's JSON (a REST catalog's load or commit
/// result).
pub(crate) fn table_from_json(
    ident: &TableIdent,
    metadata_location: String,
    json: &serde_json::Value,
) -> Result<LoadedTable> {
    let bad = |e: serde_json::Error| {
        FloeError::internal(format!(
            "the catalog served metadata of table '{ident}' that does not parse: {e}"
        ))
    };
    let refs = refs_from_json(json)?;
    let metadata: TableMetadata = serde::Deserialize::deserialize(json).map_err(bad)?;
    Ok(LoadedTable::with_refs(
        ident.clone(),
        metadata_location,
        Arc::new(metadata),
        Arc::new(refs),
    ))
}

fn refs_from_json(json: &serde_json::Value) -> Result<Refs> {
    match json.get("refs") {
        Some(refs) => Ok(serde_json::from_value(refs.clone())?),
        None => Ok(BTreeMap::new()),
    }
}

/// The refs of `metadata`: `TableMetadata` keeps them private in `iceberg`
/// 0.10.1, so they are read back from its JSON form (costly for a long
/// history; [`read_metadata`] and [`write_metadata`] avoid it).
fn refs_of(metadata: &TableMetadata) -> Result<Refs> {
    refs_from_json(&serde_json::to_value(metadata)?)
}

/// The snapshot `from` of `metadata` and its ancestors, newest first, as
/// far back as the metadata keeps them.
pub(crate) fn ancestors(metadata: &TableMetadata, from: Option<i64>) -> Vec<SnapshotRef> {
    let mut out = Vec::new();
    let mut next = from;
    while let Some(snapshot) = next.and_then(|id| metadata.snapshot_by_id(id)) {
        next = snapshot.parent_snapshot_id();
        out.push(Arc::clone(snapshot));
    }
    out
}

/// Read (or find already parsed, in the engine's cache) the manifest a
/// manifest list names.
pub(crate) async fn load_manifest(
    engine: &Engine,
    manifest: &ManifestFile,
) -> Result<Arc<Manifest>> {
    let path = &manifest.manifest_path;
    if let Some(found) = engine.cache().manifest(path) {
        return Ok(found);
    }
    let loaded = Arc::new(manifest.load_manifest(engine.file_io()).await?);
    engine.cache().insert_manifest(path, &loaded);
    Ok(loaded)
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

/// Table property of a table that is not on `main` although it has no
/// `main` branch ref: made on another warehouse branch, or dropped from
/// `main` while other branches keep it.
pub const ABSENT_FROM_MAIN: &str = "floe.absent-from-main";

/// Which state of a table a statement reads (and, for a branch, writes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TableVersion {
    /// The head of a branch (`main` by default); writes go to it.
    Branch(String),
    /// The snapshot a tag points to: read-only.
    Tag(String),
    /// One snapshot, by id: read-only.
    Snapshot(i64),
}

impl Default for TableVersion {
    fn default() -> Self {
        Self::Branch(MAIN_BRANCH.to_string())
    }
}

impl std::fmt::Display for TableVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Branch(name) => write!(f, "branch '{name}'"),
            Self::Tag(name) => write!(f, "tag '{name}'"),
            Self::Snapshot(id) => write!(f, "snapshot {id}"),
        }
    }
}

/// A version as a statement names it, before it is looked up in a table's
/// metadata: `VERSION AS OF`, `TIMESTAMP AS OF`, or Spark's name suffixes
/// (`t.branch_dev`, `t.tag_v1`, `t.snapshot_id_42`, `t.at_timestamp_<ms>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VersionSpec {
    /// A branch.
    Branch(String),
    /// A tag.
    Tag(String),
    /// A branch or a tag (`VERSION AS OF 'name'`).
    Ref(String),
    /// A snapshot id.
    Snapshot(i64),
    /// The snapshot of `main` that was current at this time (ms since the
    /// epoch, UTC).
    Timestamp(i64),
}

impl VersionSpec {
    /// The suffix that names this version in a table name: `branch_dev`,
    /// `tag_v1`, `ref_x`, `snapshot_id_42`, `at_timestamp_1700000000000`.
    pub fn suffix(&self) -> String {
        match self {
            Self::Branch(name) => format!("branch_{name}"),
            Self::Tag(name) => format!("tag_{name}"),
            Self::Ref(name) => format!("ref_{name}"),
            Self::Snapshot(id) => format!("snapshot_id_{id}"),
            Self::Timestamp(ms) => format!("at_timestamp_{ms}"),
        }
    }

    /// Read a suffix written by [`Self::suffix`] (Spark's selectors, plus
    /// `ref_`); `None` if `text` is not one.
    pub fn from_suffix(text: &str) -> Option<Self> {
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        if let Some(id) = text.strip_prefix("snapshot_id_") {
            return id.parse().ok().map(Self::Snapshot);
        }
        if let Some(ms) = text.strip_prefix("at_timestamp_") {
            return ms.parse().ok().map(Self::Timestamp);
        }
        if let Some(name) = text.strip_prefix("branch_") {
            return non_empty(name).map(Self::Branch);
        }
        if let Some(name) = text.strip_prefix("tag_") {
            return non_empty(name).map(Self::Tag);
        }
        text.strip_prefix("ref_").and_then(non_empty).map(Self::Ref)
    }
}

/// A table loaded from the catalog at one metadata version, seen at one
/// [`TableVersion`] (the head of `main` unless asked otherwise).
///
/// A statement loads each table it touches once and works on that version;
/// a commit is based on it and swaps the pointer only if nobody moved it.
#[derive(Debug, Clone)]
pub struct LoadedTable {
    ident: TableIdent,
    metadata_location: String,
    metadata: TableMetadataRef,
    version: TableVersion,
    /// The refs, read once from the metadata's JSON (see [`Self::refs`]).
    refs: Arc<std::sync::OnceLock<Refs>>,
    /// The `iceberg` crate's table, made once per metadata version: it
    /// caches the manifest lists and manifests its scans read.
    iceberg: Arc<std::sync::OnceLock<iceberg::table::Table>>,
}

/// A table's branches and tags, by name.
pub type Refs = BTreeMap<String, SnapshotReference>;

impl LoadedTable {
    /// A loaded table from its parts.
    pub(crate) fn new(
        ident: TableIdent,
        metadata_location: String,
        metadata: TableMetadata,
    ) -> Self {
        Self {
            ident,
            metadata_location,
            metadata: Arc::new(metadata),
            version: TableVersion::default(),
            refs: Arc::default(),
            iceberg: Arc::default(),
        }
    }

    /// The same metadata seen at `spec`: a branch, a tag, a snapshot, or
    /// the snapshot of `main` current at a time. Unknown refs and
    /// snapshots, and times before the first snapshot, are errors.
    pub(crate) fn at(&self, spec: &VersionSpec) -> Result<Self> {
        let refs = self.refs()?.clone();
        let name = self.ident.to_string();
        let unknown_ref = |kind: &str, ref_name: &str| {
            let mut known: Vec<&str> = refs.keys().map(String::as_str).collect();
            known.sort_unstable();
            not_found!(
                "table '{name}' has no {kind} '{ref_name}' (its branches and tags: {})",
                known.join(", ")
            )
        };
        let version = match spec {
            VersionSpec::Branch(b) => match refs.get(b) {
                Some(r) if r.is_branch() => TableVersion::Branch(b.clone()),
                Some(_) => {
                    return Err(invalid!("'{b}' is a tag of table '{name}', not a branch"));
                }
                // `main` of a table without snapshots has no ref yet.
                None if b == MAIN_BRANCH => TableVersion::default(),
                None => return Err(unknown_ref("branch", b)),
            },
            VersionSpec::Tag(t) => match refs.get(t) {
                Some(r) if !r.is_branch() => TableVersion::Tag(t.clone()),
                Some(_) => {
                    return Err(invalid!("'{t}' is a branch of table '{name}', not a tag"));
                }
                None => return Err(unknown_ref("tag", t)),
            },
            VersionSpec::Ref(r) => match refs.get(r) {
                Some(reference) if reference.is_branch() => TableVersion::Branch(r.clone()),
                Some(_) => TableVersion::Tag(r.clone()),
                None if r == MAIN_BRANCH => TableVersion::default(),
                // Spark reads `VERSION AS OF '42'` as snapshot 42 when no
                // ref has that name.
                None => match r.parse::<i64>() {
                    Ok(id) => return self.at(&VersionSpec::Snapshot(id)),
                    Err(_) => return Err(unknown_ref("branch or tag", r)),
                },
            },
            VersionSpec::Snapshot(id) => {
                if self.metadata.snapshot_by_id(*id).is_none() {
                    return Err(not_found!("table '{name}' has no snapshot {id}"));
                }
                TableVersion::Snapshot(*id)
            }
            VersionSpec::Timestamp(ms) => TableVersion::Snapshot(self.snapshot_at(*ms)?),
        };
        Ok(Self {
            version,
            ..self.clone()
        })
    }

    /// The same metadata, seen at `version` as it is (no check that the ref
    /// exists: a commit to a new branch starts from here).
    pub(crate) fn with_version(&self, version: TableVersion) -> Self {
        Self {
            version,
            ..self.clone()
        }
    }

    /// The snapshot of `main` that was current at `ms` (Spark's
    /// `TIMESTAMP AS OF`): the last entry of the snapshot log at or before it.
    pub(crate) fn snapshot_at(&self, ms: i64) -> Result<i64> {
        let log = self.metadata.history();
        log.iter()
            .rev()
            .find(|entry| entry.timestamp_ms <= ms)
            .map(|entry| entry.snapshot_id)
            .ok_or_else(|| {
                let at = format_millis(ms);
                match log.first() {
                    Some(first) => not_found!(
                        "table '{}' has no snapshot at {at}: its first snapshot was made at {}",
                        self.ident,
                        format_millis(first.timestamp_ms)
                    ),
                    None => not_found!(
                        "table '{}' has no snapshot at {at}: it has no snapshots yet",
                        self.ident
                    ),
                }
            })
    }

    /// Top-level columns whose type was promoted (`int` to `bigint`, ...):
    /// older files hold bounds of the old type, which `iceberg` 0.10.1
    /// compares wrongly with the new type, so they must not prune files.
    /// A whole-number table property (`commit.retry.num-retries`,
    /// `history.expire.max-snapshot-age-ms`, …): `None` when unset, an
    /// error naming the table and the value when it is not a number.
    pub(crate) fn int_property(&self, key: &str) -> Result<Option<i64>> {
        self.metadata
            .properties()
            .get(key)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    invalid!(
                        "table '{}' sets {key} = '{v}': expected a whole number",
                        self.ident
                    )
                })
            })
            .transpose()
    }

    pub(crate) fn promoted_columns(&self) -> Vec<String> {
        let current = self.metadata.current_schema();
        current
            .as_struct()
            .fields()
            .iter()
            .filter(|field| {
                self.metadata.schemas_iter().any(|schema| {
                    schema
                        .field_by_id(field.id)
                        .is_some_and(|old| old.field_type != field.field_type)
                })
            })
            .map(|field| field.name.clone())
            .collect()
    }

    /// The snapshots from `from` back through its parents, newest first.
    pub fn ancestors(&self, from: Option<i64>) -> Vec<SnapshotRef> {
        ancestors(&self.metadata, from)
    }

    /// The version of the table this view reads.
    pub fn version(&self) -> &TableVersion {
        &self.version
    }

    /// The snapshot this view reads: the head of its branch, the snapshot
    /// of its tag, or its snapshot (`None` for a branch with no snapshot).
    pub fn snapshot(&self) -> Option<&SnapshotRef> {
        match &self.version {
            TableVersion::Branch(name) | TableVersion::Tag(name) => {
                let id = self.refs().ok()?.get(name)?.snapshot_id;
                self.metadata.snapshot_by_id(id)
            }
            TableVersion::Snapshot(id) => self.metadata.snapshot_by_id(*id),
        }
    }

    /// The id of [`Self::snapshot`].
    pub fn snapshot_id(&self) -> Option<i64> {
        self.snapshot().map(|s| s.snapshot_id())
    }

    /// The schema rows of this view have: a branch has the table's current
    /// schema (writes to it use that schema), a tag or a snapshot the
    /// schema its snapshot was written with.
    pub fn schema(&self) -> SchemaRef {
        let current = self.metadata.current_schema().clone();
        if matches!(self.version, TableVersion::Branch(_)) {
            return current;
        }
        self.snapshot()
            .and_then(|s| s.schema_id())
            .and_then(|id| self.metadata.schema_by_id(id).cloned())
            .unwrap_or(current)
    }

    /// [`Self::schema`] as the Arrow schema a query over this view
    /// returns (strings as views, as the scan reads them).
    pub fn arrow_schema(&self) -> Result<arrow::datatypes::SchemaRef> {
        crate::scan::session_schema(&self.schema())
    }

    /// The names of the schema's identifier fields (the table's key, set
    /// by `ALTER TABLE ... SET IDENTIFIER FIELDS`), in their order.
    pub fn identifier_fields(&self) -> Vec<String> {
        let schema = self.schema();
        schema
            .identifier_field_ids()
            .filter_map(|id| schema.name_by_field_id(id).map(str::to_string))
            .collect()
    }

    /// The branch writes to this view go to; tags and snapshots are
    /// read-only.
    pub(crate) fn write_branch(&self) -> Result<&str> {
        match &self.version {
            TableVersion::Branch(name) => Ok(name),
            TableVersion::Tag(name) => Err(invalid!(
                "cannot write to tag '{name}' of table '{}': tags are read-only (write to a \
                 branch, e.g. ALTER TABLE {} CREATE BRANCH b AS OF VERSION '{name}')",
                self.ident,
                self.ident
            )),
            TableVersion::Snapshot(id) => Err(invalid!(
                "cannot write to snapshot {id} of table '{}': a snapshot is read-only (create a \
                 branch from it: ALTER TABLE {} CREATE BRANCH b AS OF VERSION {id})",
                self.ident,
                self.ident
            )),
        }
    }

    /// A loaded table from metadata already read, with its refs.
    pub(crate) fn with_refs(
        ident: TableIdent,
        metadata_location: String,
        metadata: TableMetadataRef,
        refs: Arc<Refs>,
    ) -> Self {
        let cell = std::sync::OnceLock::new();
        let _ = cell.set(refs.as_ref().clone());
        Self {
            ident,
            metadata_location,
            metadata,
            version: TableVersion::default(),
            refs: Arc::new(cell),
            iceberg: Arc::default(),
        }
    }

    /// The same table under another name (a renamed table's metadata).
    pub(crate) fn with_ident(&self, ident: TableIdent) -> Self {
        Self {
            ident,
            ..self.clone()
        }
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
    /// are read back from the metadata's JSON form, once per loaded version.
    pub fn refs(&self) -> Result<&Refs> {
        if let Some(refs) = self.refs.get() {
            return Ok(refs);
        }
        let refs = refs_of(&self.metadata)?;
        Ok(self.refs.get_or_init(|| refs))
    }

    /// The names of the table's branches (not tags), sorted.
    pub fn branches(&self) -> Result<Vec<String>> {
        Ok(self
            .refs()?
            .iter()
            .filter(|(_, r)| r.is_branch())
            .map(|(name, _)| name.clone())
            .collect())
    }

    /// Whether the table exists on a warehouse branch: it has a branch of
    /// that name; on `main`, also a table without snapshots yet, unless it
    /// was made on another branch or dropped from `main`
    /// ([`ABSENT_FROM_MAIN`]).
    pub(crate) fn exists_on(&self, branch: &str) -> Result<bool> {
        let has_branch = self.branches()?.iter().any(|b| b == branch);
        Ok(has_branch
            || (branch == MAIN_BRANCH
                && !self.metadata.properties().contains_key(ABSENT_FROM_MAIN)))
    }

    /// The manifests of this view's snapshot (none for an empty table).
    pub(crate) async fn snapshot_manifests(&self, engine: &Engine) -> Result<Vec<ManifestFile>> {
        match self.snapshot() {
            Some(snapshot) => self.manifests(engine, snapshot.manifest_list()).await,
            None => Ok(Vec::new()),
        }
    }

    /// The manifests a manifest list of this table names (parsed once per
    /// engine).
    pub(crate) async fn manifests(
        &self,
        engine: &Engine,
        manifest_list: &str,
    ) -> Result<Vec<ManifestFile>> {
        if let Some(found) = engine.cache().manifest_list(manifest_list) {
            return Ok(found.as_ref().clone());
        }
        let bytes = engine.file_io().new_input(manifest_list)?.read().await?;
        let manifests: Vec<ManifestFile> =
            ManifestList::parse_with_version(&bytes, self.metadata.format_version())?
                .consume_entries()
                .into_iter()
                .collect();
        let cached = Arc::new(manifests);
        engine.cache().insert_manifest_list(manifest_list, &cached);
        Ok(Arc::unwrap_or_clone(cached))
    }

    /// Every live file (data and delete files) of this view's snapshot.
    pub(crate) async fn live_files(&self, engine: &Engine) -> Result<Vec<LiveFile>> {
        let mut out = Vec::new();
        for manifest in self.snapshot_manifests(engine).await? {
            let spec_id = manifest.partition_spec_id;
            for entry in load_manifest(engine, &manifest).await?.entries() {
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

    /// The live files of this view's snapshot, by path.
    pub(crate) async fn live_files_by_path(
        &self,
        engine: &Engine,
    ) -> Result<HashMap<String, LiveFile>> {
        Ok(self
            .live_files(engine)
            .await?
            .into_iter()
            .map(|f| (f.file.file_path().to_string(), f))
            .collect())
    }

    /// The `iceberg` crate's view of this table, for scans and readers.
    pub(crate) fn iceberg_table(&self, file_io: &FileIO) -> Result<iceberg::table::Table> {
        if let Some(table) = self.iceberg.get() {
            return Ok(table.clone());
        }
        let runtime = iceberg::Runtime::try_current()?;
        let table = iceberg::table::Table::builder()
            .metadata(Arc::clone(&self.metadata))
            .identifier(self.ident.clone())
            .file_io(file_io.clone())
            .runtime(runtime)
            .metadata_location(self.metadata_location.clone())
            .readonly(true)
            .build()?;
        Ok(self.iceberg.get_or_init(|| table).clone())
    }
}

/// Milliseconds since the epoch of a timestamp literal: RFC 3339, or
/// `YYYY-MM-DD[ HH:MM[:SS[.f]]]` in UTC.
pub(crate) fn parse_timestamp(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

/// Milliseconds since the epoch as an ISO 8601 UTC time, for messages.
pub(crate) fn format_millis(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string())
        .unwrap_or_else(|| format!("{ms} ms"))
}
