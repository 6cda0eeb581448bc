//! Snapshot summaries, with the keys and totals Java Iceberg writes.

use std::collections::HashMap;

use iceberg::spec::{DataFile, SnapshotRef, SnapshotSummaryCollector, TableMetadata};

/// Summary properties of a snapshot adding `added` and removing `removed`
/// on top of `parent`.
pub(super) fn snapshot_summary(
    metadata: &TableMetadata,
    parent: Option<&SnapshotRef>,
    added: &[DataFile],
    removed: &[DataFile],
    added_deletes: &[(i32, DataFile)],
    spec_of: &dyn Fn(&DataFile) -> i32,
) -> HashMap<String, String> {
    let mut collector = SnapshotSummaryCollector::default();
    let schema = metadata.current_schema().clone();
    let spec = metadata.default_partition_spec().clone();
    // Each file with its own spec: partition tuples differ between specs.
    let spec_for = |file: &DataFile| {
        metadata
            .partition_spec_by_id(spec_of(file))
            .cloned()
            .unwrap_or_else(|| spec.clone())
    };
    for file in added {
        collector.add_file(file, schema.clone(), spec_for(file));
    }
    for file in removed {
        collector.remove_file(file, schema.clone(), spec_for(file));
    }
    for (spec_id, file) in added_deletes {
        let spec = metadata
            .partition_spec_by_id(*spec_id)
            .cloned()
            .unwrap_or_else(|| spec.clone());
        collector.add_file(file, schema.clone(), spec);
    }
    let mut properties = collector.build();
    properties.insert("engine-name".into(), "floe".into());
    properties.insert("engine-version".into(), env!("CARGO_PKG_VERSION").into());
    add_totals(&mut properties, parent);
    properties
}

/// Carry the `total-*` keys forward from the parent, as Java Iceberg's
/// `SnapshotProducer` does.
fn add_totals(properties: &mut HashMap<String, String>, parent: Option<&SnapshotRef>) {
    const TOTALS: [(&str, &str, &str); 6] = [
        ("total-data-files", "added-data-files", "deleted-data-files"),
        (
            "total-delete-files",
            "added-delete-files",
            "removed-delete-files",
        ),
        ("total-records", "added-records", "deleted-records"),
        ("total-files-size", "added-files-size", "removed-files-size"),
        (
            "total-position-deletes",
            "added-position-deletes",
            "removed-position-deletes",
        ),
        (
            "total-equality-deletes",
            "added-equality-deletes",
            "removed-equality-deletes",
        ),
    ];
    let get = |props: &HashMap<String, String>, key: &str| {
        props
            .get(key)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    for (total, added, removed) in TOTALS {
        let previous = match parent {
            None => 0,
            Some(parent) => match parent
                .summary()
                .additional_properties
                .get(total)
                .and_then(|v| v.parse::<u64>().ok())
            {
                Some(value) => value,
                // The parent did not track this total: neither can we.
                None => continue,
            },
        };
        let value = (previous + get(properties, added)).saturating_sub(get(properties, removed));
        properties.insert(total.to_string(), value.to_string());
    }
}
