//! Object stores by URI, shared by DataFusion and the `iceberg` crate.
//!
//! [`StoreRegistry`] is DataFusion's [`ObjectStoreRegistry`] for the
//! session: it creates stores on first use for `file://`, `s3://` (from the
//! standard `AWS_*` variables) and `memory://`. [`ObjectStoreStorage`] is the
//! `iceberg` crate's [`Storage`] over the very same registry, so metadata,
//! manifests and data files all go through one storage layer.

use std::ops::Range;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use futures::StreamExt;
use futures::stream::BoxStream;
use iceberg::io::{
    FileIO, FileIOBuilder, FileMetadata, FileRead, FileWrite, InputFile, OutputFile, Storage,
    StorageConfig, StorageFactory,
};
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use tokio::io::AsyncWriteExt;
use url::Url;

use crate::error::{FloeError, Result, invalid};

/// The warehouse root: where new tables go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarehouseUri {
    url: Url,
}

impl WarehouseUri {
    /// Parse a warehouse URI: a plain path (relative or absolute),
    /// `file:///abs`, `s3://bucket/prefix` or `memory://name`.
    pub fn parse(uri: &str) -> Result<Self> {
        let invalid = |reason: &str| FloeError::InvalidWarehouse {
            uri: uri.to_string(),
            reason: reason.to_string(),
        };
        if uri.trim().is_empty() {
            return Err(invalid("the warehouse URI is empty"));
        }
        let url = match Url::parse(uri) {
            Ok(url) if url.scheme().len() > 1 => url,
            // No scheme (or a Windows drive letter): a local path.
            _ => {
                let path = std::path::absolute(uri)
                    .map_err(|e| invalid(&format!("cannot resolve the path: {e}")))?;
                Url::from_directory_path(&path)
                    .map_err(|_| invalid("not an absolute local path"))?
            }
        };
        match url.scheme() {
            "file" | "memory" => {}
            "s3" | "s3a" => {
                if url.host_str().unwrap_or_default().is_empty() {
                    return Err(invalid(
                        "an s3:// warehouse needs a bucket: s3://bucket/prefix",
                    ));
                }
            }
            other => {
                return Err(invalid(&format!(
                    "unsupported scheme '{other}': use a local path, file://, s3:// or memory://"
                )));
            }
        }
        let mut s = url.to_string();
        while s.ends_with('/') && s.len() > url.scheme().len() + 3 {
            s.pop();
        }
        let url = Url::parse(&s).map_err(|e| invalid(&e.to_string()))?;
        Ok(Self { url })
    }

    /// The URI without a trailing slash, e.g. `file:///data/wh`.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The URI as a [`Url`].
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The local directory, for a `file://` warehouse.
    pub fn local_path(&self) -> Option<std::path::PathBuf> {
        if self.url.scheme() == "file" {
            self.url.to_file_path().ok()
        } else {
            None
        }
    }

    /// A location under the warehouse, e.g. `join(["db", "t"])`.
    pub fn join<'a>(&self, parts: impl IntoIterator<Item = &'a str>) -> String {
        let mut s = self.url.as_str().trim_end_matches('/').to_string();
        for part in parts {
            s.push('/');
            s.push_str(part);
        }
        s
    }
}

/// Turn a location (`file:///a/b`, `/a/b`, `s3://bucket/k`, `memory://x/k`)
/// into the URL of its store and the path inside it.
pub fn split_location(location: &str) -> Result<(Url, Path)> {
    let url = if location.starts_with('/') {
        Url::from_file_path(location)
            .map_err(|_| invalid!("'{location}' is not a valid absolute path"))?
    } else {
        Url::parse(location).map_err(|e| invalid!("'{location}' is not a valid location: {e}"))?
    };
    let path = Path::from_url_path(url.path())
        .map_err(|e| invalid!("'{location}' is not a valid location: {e}"))?;
    let store_url = Url::parse(&format!("{}://{}", url.scheme(), url.authority()))
        .map_err(|e| invalid!("'{location}': {e}"))?;
    Ok((store_url, path))
}

/// DataFusion's object store registry for Floe: stores are created on first
/// use, by scheme.
#[derive(Debug)]
pub struct StoreRegistry {
    inner: DefaultObjectStoreRegistry,
    /// Serialises lazy creation so two threads never build two stores.
    create: Mutex<()>,
}

impl Default for StoreRegistry {
    fn default() -> Self {
        Self {
            inner: DefaultObjectStoreRegistry::new(),
            create: Mutex::new(()),
        }
    }
}

impl StoreRegistry {
    /// The store serving `url`, created on first use.
    pub fn store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        Ok(self.get_store(url)?)
    }

    fn build(url: &Url) -> Result<Arc<dyn ObjectStore>> {
        match url.scheme() {
            "memory" => Ok(Arc::new(InMemory::new())),
            "s3" | "s3a" => {
                let bucket = url.host_str().unwrap_or_default();
                // Fail in seconds, not minutes, when the endpoint is down.
                let retry = object_store::RetryConfig {
                    max_retries: 3,
                    retry_timeout: std::time::Duration::from_secs(15),
                    ..Default::default()
                };
                let store = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_retry(retry)
                    .build()
                    .map_err(|e| FloeError::InvalidWarehouse {
                        uri: url.to_string(),
                        reason: format!("cannot configure S3 from the AWS_* variables: {e}"),
                    })?;
                Ok(Arc::new(store))
            }
            other => Err(invalid!("no object store for scheme '{other}' ({url})")),
        }
    }
}

impl ObjectStoreRegistry for StoreRegistry {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.inner.register_store(url, store)
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.inner.get_store(url) {
            return Ok(store);
        }
        let _guard = self.create.lock().map_err(|_| {
            datafusion::error::DataFusionError::Internal("store registry poisoned".into())
        })?;
        if let Ok(store) = self.inner.get_store(url) {
            return Ok(store);
        }
        let store = Self::build(url)?;
        self.inner.register_store(url, Arc::clone(&store));
        Ok(store)
    }
}

fn iceberg_err(e: impl std::fmt::Display, location: &str) -> iceberg::Error {
    iceberg::Error::new(
        iceberg::ErrorKind::Unexpected,
        format!("storage error on '{location}': {e}"),
    )
}

/// The `iceberg` crate's [`Storage`] over Floe's [`StoreRegistry`].
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ObjectStoreStorage {
    #[serde(skip)]
    registry: Option<Arc<StoreRegistry>>,
}

impl ObjectStoreStorage {
    /// A [`FileIO`] whose every read and write goes through `registry`.
    pub fn file_io(registry: Arc<StoreRegistry>) -> FileIO {
        FileIOBuilder::new(Arc::new(ObjectStoreStorageFactory {
            registry: Some(registry),
        }))
        .build()
    }

    fn resolve(&self, location: &str) -> iceberg::Result<(Arc<dyn ObjectStore>, Path)> {
        let registry = self.registry.as_ref().ok_or_else(|| {
            iceberg_err(
                "storage was deserialised without its object stores",
                location,
            )
        })?;
        let (url, path) = split_location(location).map_err(|e| iceberg_err(e, location))?;
        let store = registry.store(&url).map_err(|e| iceberg_err(e, location))?;
        Ok((store, path))
    }
}

#[async_trait]
#[typetag::serde]
impl Storage for ObjectStoreStorage {
    async fn exists(&self, path: &str) -> iceberg::Result<bool> {
        let (store, p) = self.resolve(path)?;
        match store.head(&p).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(iceberg_err(e, path)),
        }
    }

    async fn metadata(&self, path: &str) -> iceberg::Result<FileMetadata> {
        let (store, p) = self.resolve(path)?;
        let meta = store.head(&p).await.map_err(|e| iceberg_err(e, path))?;
        Ok(FileMetadata { size: meta.size })
    }

    async fn read(&self, path: &str) -> iceberg::Result<Bytes> {
        let (store, p) = self.resolve(path)?;
        let result = store.get(&p).await.map_err(|e| iceberg_err(e, path))?;
        result.bytes().await.map_err(|e| iceberg_err(e, path))
    }

    async fn reader(&self, path: &str) -> iceberg::Result<Box<dyn FileRead>> {
        let (store, p) = self.resolve(path)?;
        Ok(Box::new(ObjectReader {
            store,
            path: p,
            location: path.to_string(),
        }))
    }

    async fn write(&self, path: &str, bs: Bytes) -> iceberg::Result<()> {
        let (store, p) = self.resolve(path)?;
        // Floe never overwrites a file: every commit writes new ones.
        let opts = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        store
            .put_opts(&p, PutPayload::from_bytes(bs), opts)
            .await
            .map_err(|e| iceberg_err(e, path))?;
        Ok(())
    }

    async fn writer(&self, path: &str) -> iceberg::Result<Box<dyn FileWrite>> {
        let (store, p) = self.resolve(path)?;
        Ok(Box::new(ObjectWriter {
            writer: BufWriter::new(store, p),
            location: path.to_string(),
        }))
    }

    async fn delete(&self, path: &str) -> iceberg::Result<()> {
        let (store, p) = self.resolve(path)?;
        match store.delete(&p).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(iceberg_err(e, path)),
        }
    }

    async fn delete_prefix(&self, path: &str) -> iceberg::Result<()> {
        let (store, p) = self.resolve(path)?;
        let mut listing = store.list(Some(&p));
        while let Some(meta) = listing.next().await {
            let meta = meta.map_err(|e| iceberg_err(e, path))?;
            match store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(iceberg_err(e, path)),
            }
        }
        Ok(())
    }

    async fn delete_stream(&self, mut paths: BoxStream<'static, String>) -> iceberg::Result<()> {
        while let Some(path) = paths.next().await {
            self.delete(&path).await?;
        }
        Ok(())
    }

    fn new_input(&self, path: &str) -> iceberg::Result<InputFile> {
        Ok(InputFile::new(Arc::new(self.clone()), path.to_string()))
    }

    fn new_output(&self, path: &str) -> iceberg::Result<OutputFile> {
        Ok(OutputFile::new(Arc::new(self.clone()), path.to_string()))
    }
}

/// Builds [`ObjectStoreStorage`] for a [`FileIO`].
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct ObjectStoreStorageFactory {
    #[serde(skip)]
    registry: Option<Arc<StoreRegistry>>,
}

#[typetag::serde]
impl StorageFactory for ObjectStoreStorageFactory {
    fn build(&self, _config: &StorageConfig) -> iceberg::Result<Arc<dyn Storage>> {
        Ok(Arc::new(ObjectStoreStorage {
            registry: self.registry.clone(),
        }))
    }
}

struct ObjectReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    location: String,
}

#[async_trait]
impl FileRead for ObjectReader {
    async fn read(&self, range: Range<u64>) -> iceberg::Result<Bytes> {
        self.store
            .get_range(&self.path, range)
            .await
            .map_err(|e| iceberg_err(e, &self.location))
    }
}

struct ObjectWriter {
    writer: BufWriter,
    location: String,
}

#[async_trait]
impl FileWrite for ObjectWriter {
    async fn write(&mut self, bs: Bytes) -> iceberg::Result<()> {
        self.writer
            .write_all(&bs)
            .await
            .map_err(|e| iceberg_err(e, &self.location))
    }

    async fn close(&mut self) -> iceberg::Result<()> {
        self.writer
            .shutdown()
            .await
            .map_err(|e| iceberg_err(e, &self.location))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warehouse_uris() {
        assert_eq!(
            WarehouseUri::parse("s3://b/wh/").unwrap().as_str(),
            "s3://b/wh"
        );
        assert_eq!(
            WarehouseUri::parse("file:///tmp/wh").unwrap().as_str(),
            "file:///tmp/wh"
        );
        let local = WarehouseUri::parse("/tmp/x/wh").unwrap();
        assert_eq!(local.as_str(), "file:///tmp/x/wh");
        assert_eq!(local.join(["db", "t"]), "file:///tmp/x/wh/db/t");
        let err = WarehouseUri::parse("ftp://host/x").unwrap_err().to_string();
        assert!(err.contains("unsupported scheme 'ftp'"), "{err}");
        assert!(WarehouseUri::parse("s3:///nobucket").is_err());
    }

    #[test]
    fn locations_split_into_store_and_path() {
        let (url, path) = split_location("s3://bucket/wh/db/t/x.parquet").unwrap();
        assert_eq!(url.as_str(), "s3://bucket");
        assert_eq!(path.as_ref(), "wh/db/t/x.parquet");
        let (url, path) = split_location("/tmp/wh/a b.json").unwrap();
        assert_eq!(url.as_str(), "file:///");
        assert_eq!(path.as_ref(), "tmp/wh/a b.json");
    }

    #[tokio::test]
    async fn file_io_round_trip_and_no_overwrite() {
        let io = ObjectStoreStorage::file_io(Arc::new(StoreRegistry::default()));
        let out = io.new_output("memory://t/a/b.json").unwrap();
        out.write(Bytes::from_static(b"hello")).await.unwrap();
        assert!(out.write(Bytes::from_static(b"again")).await.is_err());
        let input = io.new_input("memory://t/a/b.json").unwrap();
        assert_eq!(input.read().await.unwrap(), Bytes::from_static(b"hello"));
        assert_eq!(input.metadata().await.unwrap().size, 5);
        assert!(!io.exists("memory://t/a/c.json").await.unwrap());
    }
}
