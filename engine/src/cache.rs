//! The engine's one cache of parsed metadata files: table metadata JSON,
//! manifest lists and manifests.
//!
//! Every one of these files is immutable once written (a commit writes new
//! files, it never changes one), so an entry never goes stale and needs no
//! invalidation: a statement that finds the catalog pointing at a metadata
//! file already parsed (the common case: the last commit was this
//! process's) reads nothing. The cache is shared by every session of an
//! engine and bounded by one budget over all three kinds, weighed by what
//! they hold (snapshots, manifests, manifest entries); the entries
//! inserted first are evicted first.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use iceberg::spec::{Manifest, ManifestFile};

use crate::table::LoadedTable;

/// How many weight units (snapshots, manifest-list entries, manifest
/// entries) the cache holds before it evicts.
const DEFAULT_BUDGET: usize = 500_000;

#[derive(Debug, Clone)]
enum Entry {
    Table(LoadedTable),
    ManifestList(Arc<Vec<ManifestFile>>),
    Manifest(Arc<Manifest>),
}

#[derive(Debug, Default)]
struct Entries {
    by_path: HashMap<String, Entry>,
    /// Paths, oldest first, with their weights.
    order: VecDeque<(String, usize)>,
    weight: usize,
}

/// Parsed metadata files by path, for every session of an engine.
#[derive(Debug)]
pub(crate) struct MetadataCache {
    entries: Mutex<Entries>,
    budget: usize,
}

impl Default for MetadataCache {
    fn default() -> Self {
        Self {
            entries: Mutex::default(),
            budget: DEFAULT_BUDGET,
        }
    }
}

impl MetadataCache {
    fn get(&self, path: &str) -> Option<Entry> {
        // A poisoned lock only costs a cache miss.
        self.entries.lock().ok()?.by_path.get(path).cloned()
    }

    fn insert(&self, path: &str, entry: Entry, weight: usize) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let weight = weight.max(1);
        if entries.by_path.insert(path.to_string(), entry).is_none() {
            entries.order.push_back((path.to_string(), weight));
            entries.weight += weight;
        }
        while entries.weight > self.budget {
            let Some((oldest, weight)) = entries.order.pop_front() else {
                break;
            };
            entries.by_path.remove(&oldest);
            entries.weight -= weight;
        }
    }

    /// The table metadata parsed from the file at `location`.
    pub(crate) fn table(&self, location: &str) -> Option<LoadedTable> {
        match self.get(location)? {
            Entry::Table(table) => Some(table),
            _ => None,
        }
    }

    /// Keep the metadata of `table`, by its metadata location.
    pub(crate) fn insert_table(&self, table: &LoadedTable) {
        let weight = 1 + table.metadata().snapshots().len();
        self.insert(
            table.metadata_location(),
            Entry::Table(table.clone()),
            weight,
        );
    }

    /// The manifests a manifest list names.
    pub(crate) fn manifest_list(&self, path: &str) -> Option<Arc<Vec<ManifestFile>>> {
        match self.get(path)? {
            Entry::ManifestList(list) => Some(list),
            _ => None,
        }
    }

    /// Keep a parsed manifest list.
    pub(crate) fn insert_manifest_list(&self, path: &str, list: &Arc<Vec<ManifestFile>>) {
        self.insert(path, Entry::ManifestList(Arc::clone(list)), list.len());
    }

    /// A parsed manifest.
    pub(crate) fn manifest(&self, path: &str) -> Option<Arc<Manifest>> {
        match self.get(path)? {
            Entry::Manifest(manifest) => Some(manifest),
            _ => None,
        }
    }

    /// Keep a parsed manifest.
    pub(crate) fn insert_manifest(&self, path: &str, manifest: &Arc<Manifest>) {
        self.insert(
            path,
            Entry::Manifest(Arc::clone(manifest)),
            manifest.entries().len(),
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn list(n: usize) -> Arc<Vec<ManifestFile>> {
        Arc::new(Vec::with_capacity(n))
    }

    #[test]
    fn evicts_the_oldest_entries_past_the_budget() {
        let cache = MetadataCache {
            entries: Mutex::default(),
            budget: 3,
        };
        cache.insert("a", Entry::ManifestList(list(0)), 2);
        cache.insert("b", Entry::ManifestList(list(0)), 1);
        assert!(cache.manifest_list("a").is_some());
        cache.insert("c", Entry::ManifestList(list(0)), 1);
        // 2 + 1 + 1 > 3: `a` goes, the newer two stay.
        assert!(cache.manifest_list("a").is_none());
        assert!(cache.manifest_list("b").is_some());
        assert!(cache.manifest_list("c").is_some());
        // A path of another kind is a miss, not a wrong answer.
        assert!(cache.manifest("b").is_none());
    }
}
