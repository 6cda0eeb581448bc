//! A table metadata file's JSON, with its snapshots in commit order.
//!
//! `iceberg` 0.10.1 keeps snapshots in a hash map and so serializes them
//! in no particular order; Java Iceberg (and tools reading the list as a
//! log) expect commit order. Building a `serde_json::Value` tree to sort
//! them costs an allocation per field of every snapshot, on every commit,
//! and grows with the table's history; instead the metadata is serialized
//! once and the elements of its top-level `snapshots` array are found in
//! the bytes and put in order.

use serde::Deserialize;

use crate::error::Result;

/// `metadata` as JSON, its snapshots sorted by sequence number, then time.
pub(crate) fn to_json(metadata: &iceberg::spec::TableMetadata) -> Result<Vec<u8>> {
    let bytes = serde_json::to_vec(metadata)?;
    Ok(sort_snapshots(bytes))
}

/// The sort key of one snapshot.
#[derive(Deserialize)]
struct Key {
    #[serde(rename = "sequence-number", default)]
    sequence_number: i64,
    #[serde(rename = "timestamp-ms", default)]
    timestamp_ms: i64,
}

/// `json` (one object) with the elements of its top-level `snapshots`
/// array sorted; unchanged when it has none, or when they do not parse
/// (they always do: the bytes are serde_json's own).
fn sort_snapshots(json: Vec<u8>) -> Vec<u8> {
    let Some((start, end, elements)) = snapshot_elements(&json) else {
        return json;
    };
    let mut keyed = Vec::with_capacity(elements.len());
    for (from, to) in elements {
        let Ok(key) = serde_json::from_slice::<Key>(&json[from..to]) else {
            return json;
        };
        keyed.push(((key.sequence_number, key.timestamp_ms), from, to));
    }
    if keyed.is_sorted_by_key(|(key, _, _)| *key) {
        return json;
    }
    keyed.sort_by_key(|(key, _, _)| *key);
    let mut out = Vec::with_capacity(json.len());
    out.extend_from_slice(&json[..start]);
    for (i, (_, from, to)) in keyed.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&json[*from..*to]);
    }
    out.extend_from_slice(&json[end..]);
    out
}

/// A byte range of the JSON: from, to (exclusive).
type Span = (usize, usize);

/// Where the top-level `snapshots` array of `json` holds its elements:
/// the byte range inside its brackets, and each element's.
fn snapshot_elements(json: &[u8]) -> Option<(usize, usize, Vec<Span>)> {
    const KEY: &[u8] = b"\"snapshots\"";
    let mut depth = 0usize;
    let mut i = 0;
    // Find the key at depth 1.
    let open = loop {
        let byte = *json.get(i)?;
        match byte {
            b'"' => {
                let end = string_end(json, i)?;
                if depth == 1 && &json[i..end] == KEY {
                    let colon = skip_space(json, end);
                    if json.get(colon) != Some(&b':') {
                        return None;
                    }
                    let value = skip_space(json, colon + 1);
                    if json.get(value) != Some(&b'[') {
                        return None;
                    }
                    break value;
                }
                i = end;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.checked_sub(1)?,
            _ => {}
        }
        i += 1;
    };
    // Split the array's contents at its own commas.
    let mut elements = Vec::new();
    let mut depth = 0usize;
    let mut element_start = None;
    i = open + 1;
    loop {
        let byte = *json.get(i)?;
        match byte {
            b'"' => {
                element_start.get_or_insert(i);
                i = string_end(json, i)?;
                continue;
            }
            b'{' | b'[' => {
                element_start.get_or_insert(i);
                depth += 1;
            }
            b'}' => depth = depth.checked_sub(1)?,
            b']' if depth == 0 => {
                if let Some(from) = element_start {
                    elements.push((from, i));
                }
                return Some((open + 1, i, elements));
            }
            b']' => depth -= 1,
            b',' if depth == 0 => {
                elements.push((element_start.take()?, i));
            }
            b' ' | b'\n' | b'\t' | b'\r' => {}
            _ => {
                element_start.get_or_insert(i);
            }
        }
        i += 1;
    }
}

/// The index just past the string that opens at `start` (a `"`).
fn string_end(json: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    loop {
        match *json.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

fn skip_space(json: &[u8], mut i: usize) -> usize {
    while json.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Arc;

    use iceberg::spec::{
        FormatVersion, NestedField, Operation, PrimitiveType, Schema, Snapshot, SortOrder, Summary,
        TableMetadata, TableMetadataBuilder, Type, UnboundPartitionSpec,
    };

    use super::*;

    /// A table with `n` snapshots on main, one after the other.
    fn metadata_with_snapshots(n: i64) -> TableMetadata {
        let schema = Schema::builder()
            .with_fields(vec![Arc::new(NestedField::required(
                1,
                "id",
                Type::Primitive(PrimitiveType::Long),
            ))])
            .build()
            .unwrap();
        let mut builder = TableMetadataBuilder::new(
            schema,
            UnboundPartitionSpec::builder().build(),
            SortOrder::unsorted_order(),
            "file:///wh/db/t".into(),
            FormatVersion::V2,
            HashMap::new(),
        )
        .unwrap();
        for id in 1..=n {
            let snapshot = Snapshot::builder()
                .with_snapshot_id(id * 7919 % 1000)
                .with_parent_snapshot_id((id > 1).then(|| (id - 1) * 7919 % 1000))
                .with_sequence_number(id)
                .with_timestamp_ms(1_700_000_000_000 + id)
                .with_manifest_list(format!("file:///wh/db/t/metadata/snap-{id}.avro"))
                .with_summary(Summary {
                    operation: Operation::Append,
                    additional_properties: HashMap::from([("note".into(), "a \"]\" b".into())]),
                })
                .with_schema_id(0)
                .build();
            builder = builder.set_branch_snapshot(snapshot, "main").unwrap();
        }
        builder.build().unwrap().metadata
    }

    fn sorted(json: &str) -> String {
        String::from_utf8(sort_snapshots(json.as_bytes().to_vec())).unwrap()
    }

    #[test]
    fn sorts_the_top_level_snapshots_only() {
        let json = r#"{"a":{"snapshots":[3,1]},"snapshots":[{"sequence-number":2,"timestamp-ms":5,"summary":{"x":"]\"},["}},{"sequence-number":1,"timestamp-ms":9}],"z":[2,1]}"#;
        assert_eq!(
            sorted(json),
            r#"{"a":{"snapshots":[3,1]},"snapshots":[{"sequence-number":1,"timestamp-ms":9},{"sequence-number":2,"timestamp-ms":5,"summary":{"x":"]\"},["}}],"z":[2,1]}"#
        );
    }

    #[test]
    fn ties_on_sequence_number_go_by_time() {
        let json = r#"{"snapshots":[{"timestamp-ms":7},{"timestamp-ms":3}]}"#;
        assert_eq!(
            sorted(json),
            r#"{"snapshots":[{"timestamp-ms":3},{"timestamp-ms":7}]}"#
        );
    }

    #[test]
    fn leaves_json_without_snapshots_alone() {
        for json in [r#"{"snapshots":[]}"#, r#"{"x":1}"#, r#"{"x":"snapshots"}"#] {
            assert_eq!(sorted(json), json);
        }
    }

    #[test]
    fn metadata_round_trips_sorted() {
        let metadata = metadata_with_snapshots(50);
        let json = to_json(&metadata).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let sequence: Vec<i64> = value["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["sequence-number"].as_i64().unwrap())
            .collect();
        assert_eq!(sequence, (1..=50).collect::<Vec<_>>());
        let back: iceberg::spec::TableMetadata = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, metadata);
    }
}
