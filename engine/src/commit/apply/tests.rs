//! [`apply_commit`] and [`requirements_for`], requirement by requirement,
//! with no I/O: metadata is built in memory.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;

use iceberg::spec::{
    FormatVersion, NestedField, NullOrder, Operation, PrimitiveType, Schema, Snapshot,
    SnapshotReference, SnapshotRetention, SortDirection, SortField, SortOrder, Summary,
    TableMetadata, TableMetadataBuilder, Transform, Type, UnboundPartitionSpec,
};
use iceberg::{TableRequirement, TableUpdate};

use super::*;
use crate::error::ErrorKind;

fn ident() -> TableIdent {
    TableIdent::from_strs(["db", "t"]).unwrap()
}

const LOCATION: &str = "file:///wh/db/t/metadata/00001-a.metadata.json";

fn schema() -> Schema {
    Schema::builder()
        .with_fields(vec![
            Arc::new(NestedField::required(
                1,
                "id",
                Type::Primitive(PrimitiveType::Long),
            )),
            Arc::new(NestedField::optional(
                2,
                "city",
                Type::Primitive(PrimitiveType::String),
            )),
        ])
        .build()
        .unwrap()
}

/// A table with one snapshot (5) on `main` and a tag `v1` on it; the same
/// table (same UUID) on every call.
fn table() -> TableMetadata {
    static TABLE: std::sync::LazyLock<TableMetadata> = std::sync::LazyLock::new(new_table);
    TABLE.clone()
}

fn new_table() -> TableMetadata {
    let base = TableMetadataBuilder::new(
        schema(),
        UnboundPartitionSpec::builder().build(),
        SortOrder::unsorted_order(),
        "file:///wh/db/t".into(),
        FormatVersion::V2,
        HashMap::new(),
    )
    .unwrap()
    .build()
    .unwrap()
    .metadata;
    let snapshot = snapshot(5, None, 1);
    base.into_builder(None)
        .set_branch_snapshot(snapshot, "main")
        .unwrap()
        .set_ref(
            "v1",
            SnapshotReference::new(
                5,
                SnapshotRetention::Tag {
                    max_ref_age_ms: None,
                },
            ),
        )
        .unwrap()
        .build()
        .unwrap()
        .metadata
}

fn snapshot(id: i64, parent: Option<i64>, sequence_number: i64) -> Snapshot {
    Snapshot::builder()
        .with_snapshot_id(id)
        .with_parent_snapshot_id(parent)
        .with_sequence_number(sequence_number)
        .with_timestamp_ms(chrono::Utc::now().timestamp_millis())
        .with_manifest_list(format!("file:///wh/db/t/metadata/snap-{id}.avro"))
        .with_summary(Summary {
            operation: Operation::Append,
            additional_properties: HashMap::new(),
        })
        .with_schema_id(0)
        .build()
}

fn set_property(key: &str) -> TableUpdate {
    TableUpdate::SetProperties {
        updates: HashMap::from([(key.to_string(), "v".to_string())]),
    }
}

fn commit(requirements: Vec<TableRequirement>) -> TableCommit {
    TableCommit {
        table: ident(),
        requirements,
        updates: vec![set_property("touched")],
    }
}

/// Apply `requirement` to [`table`]: `Ok` or the error's message.
fn check(requirement: TableRequirement) -> std::result::Result<(), String> {
    let metadata = table();
    apply_commit(Some((&metadata, LOCATION)), &commit(vec![requirement]))
        .map(|m| assert_eq!(m.properties()["touched"], "v"))
        .map_err(|e| {
            assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
            assert!(e.is_retryable(), "{e}");
            e.to_string()
        })
}

fn failure(requirement: &str, expected: &str, found: &str) -> String {
    format!(
        "commit conflict on table 'db.t': requirement {requirement} failed: expected \
         {expected}, found {found}. Nothing was changed. Help: another writer changed the \
         table; run the statement again on its new version"
    )
}

#[test]
fn assert_create() {
    let metadata = table();
    // On a table that exists: it exists already.
    let err = apply_commit(
        Some((&metadata, LOCATION)),
        &commit(vec![TableRequirement::NotExist]),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists);
    assert_eq!(err.to_string(), "table 'db.t' already exists");
    // Any other requirement on a table that does not exist: not found.
    let err = apply_commit(
        None,
        &commit(vec![TableRequirement::UuidMatch {
            uuid: metadata.uuid(),
        }]),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.to_string(), "table 'db.t' does not exist");
}

#[test]
fn a_create_rebuilds_the_metadata_its_builder_made() {
    let built = TableMetadataBuilder::new(
        schema(),
        UnboundPartitionSpec::builder()
            .add_partition_field(2, "city", Transform::Identity)
            .unwrap()
            .build(),
        SortOrder::builder()
            .with_fields(vec![SortField {
                source_id: 1,
                transform: Transform::Identity,
                direction: SortDirection::Descending,
                null_order: NullOrder::Last,
            }])
            .build(&schema())
            .unwrap(),
        "file:///wh/db/t".into(),
        FormatVersion::V2,
        HashMap::from([("owner".to_string(), "floe".to_string())]),
    )
    .unwrap()
    .build()
    .unwrap();
    let mut updates = vec![TableUpdate::AssignUuid {
        uuid: built.metadata.uuid(),
    }];
    updates.extend(built.changes.clone());
    let created = apply_commit(
        None,
        &TableCommit {
            table: ident(),
            requirements: vec![TableRequirement::NotExist],
            updates,
        },
    )
    .unwrap();
    let expected = &built.metadata;
    assert_eq!(created.uuid(), expected.uuid());
    assert_eq!(created.location(), expected.location());
    assert_eq!(created.current_schema(), expected.current_schema());
    assert_eq!(
        created.default_partition_spec(),
        expected.default_partition_spec()
    );
    assert_eq!(created.default_sort_order(), expected.default_sort_order());
    assert_eq!(created.properties(), expected.properties());
    assert_eq!(created.last_column_id(), expected.last_column_id());
    assert_eq!(created.last_partition_id(), expected.last_partition_id());
    // A create with no schema says what it lacks.
    let err = apply_commit(
        None,
        &TableCommit {
            table: ident(),
            requirements: vec![TableRequirement::NotExist],
            updates: vec![set_property("a")],
        },
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        "cannot create table 'db.t': the commit has no add-schema update"
    );
}

#[test]
fn assert_table_uuid() {
    let uuid = table().uuid();
    assert_eq!(check(TableRequirement::UuidMatch { uuid }), Ok(()));
    // A table of the same name made anew is another table.
    let other = new_table().uuid();
    assert_eq!(
        check(TableRequirement::UuidMatch { uuid: other }),
        Err(failure(
            "assert-table-uuid",
            &format!("uuid {other}"),
            &format!("uuid {uuid}")
        ))
    );
}

#[test]
fn assert_ref_snapshot_id() {
    let requirement = |r: &str, snapshot_id| TableRequirement::RefSnapshotIdMatch {
        r#ref: r.into(),
        snapshot_id,
    };
    assert_eq!(check(requirement("main", Some(5))), Ok(()));
    assert_eq!(check(requirement("v1", Some(5))), Ok(()));
    assert_eq!(
        check(requirement("main", Some(4))),
        Err(failure(
            "assert-ref-snapshot-id (ref 'main')",
            "snapshot 4",
            "snapshot 5"
        ))
    );
    // A null snapshot id: the ref must not exist.
    assert_eq!(check(requirement("dev", None)), Ok(()));
    assert_eq!(
        check(requirement("main", None)),
        Err(failure(
            "assert-ref-snapshot-id (ref 'main')",
            "no ref 'main'",
            "snapshot 5"
        ))
    );
    assert_eq!(
        check(requirement("dev", Some(5))),
        Err(failure(
            "assert-ref-snapshot-id (ref 'dev')",
            "snapshot 5",
            "no ref 'dev'"
        ))
    );
}

#[test]
fn assert_last_assigned_field_id() {
    let requirement = |id| TableRequirement::LastAssignedFieldIdMatch {
        last_assigned_field_id: id,
    };
    assert_eq!(check(requirement(2)), Ok(()));
    assert_eq!(
        check(requirement(1)),
        Err(failure(
            "assert-last-assigned-field-id",
            "last field id 1",
            "last field id 2"
        ))
    );
}

#[test]
fn assert_current_schema_id() {
    let requirement = |id| TableRequirement::CurrentSchemaIdMatch {
        current_schema_id: id,
    };
    assert_eq!(check(requirement(0)), Ok(()));
    assert_eq!(
        check(requirement(3)),
        Err(failure("assert-current-schema-id", "schema 3", "schema 0"))
    );
}

#[test]
fn assert_last_assigned_partition_id() {
    let requirement = |id| TableRequirement::LastAssignedPartitionIdMatch {
        last_assigned_partition_id: id,
    };
    // An unpartitioned table's last partition field id is 999.
    assert_eq!(check(requirement(999)), Ok(()));
    assert_eq!(
        check(requirement(1000)),
        Err(failure(
            "assert-last-assigned-partition-id",
            "last partition field id 1000",
            "last partition field id 999"
        ))
    );
}

#[test]
fn assert_default_spec_id() {
    let requirement = |id| TableRequirement::DefaultSpecIdMatch {
        default_spec_id: id,
    };
    assert_eq!(check(requirement(0)), Ok(()));
    assert_eq!(
        check(requirement(1)),
        Err(failure("assert-default-spec-id", "spec 1", "spec 0"))
    );
}

#[test]
fn assert_default_sort_order_id() {
    let requirement = |id| TableRequirement::DefaultSortOrderIdMatch {
        default_sort_order_id: id,
    };
    assert_eq!(check(requirement(0)), Ok(()));
    assert_eq!(
        check(requirement(1)),
        Err(failure(
            "assert-default-sort-order-id",
            "sort order 1",
            "sort order 0"
        ))
    );
}

#[test]
fn every_requirement_is_checked_before_any_update() {
    let metadata = table();
    let err = apply_commit(
        Some((&metadata, LOCATION)),
        &TableCommit {
            table: ident(),
            requirements: vec![
                TableRequirement::UuidMatch {
                    uuid: metadata.uuid(),
                },
                TableRequirement::CurrentSchemaIdMatch {
                    current_schema_id: 7,
                },
            ],
            // An update that would fail on its own (there is no schema 9):
            // the requirement's conflict is what the commit reports.
            updates: vec![TableUpdate::SetCurrentSchema { schema_id: 9 }],
        },
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(
        err.to_string(),
        "commit conflict on table 'db.t': requirement assert-current-schema-id failed: \
         expected schema 7, found schema 0. Nothing was changed. Help: another writer changed \
         the table; run the statement again on its new version"
    );
}

#[test]
fn updates_apply_in_order_and_a_refused_one_is_named() {
    let metadata = table();
    let updates = vec![
        TableUpdate::AddSnapshot {
            snapshot: snapshot(6, Some(5), 2),
        },
        TableUpdate::SetSnapshotRef {
            ref_name: "main".into(),
            reference: SnapshotReference::new(6, SnapshotRetention::branch(None, None, None)),
        },
        TableUpdate::RemoveSnapshotRef {
            ref_name: "v1".into(),
        },
    ];
    let commit = TableCommit::on(ident(), Some(&metadata), updates);
    let updated = apply_commit(Some((&metadata, LOCATION)), &commit).unwrap();
    assert_eq!(updated.current_snapshot_id(), Some(6));
    assert!(updated.snapshot_for_ref("v1").is_none());
    // The previous metadata file is logged.
    assert_eq!(
        updated
            .metadata_log()
            .last()
            .map(|l| l.metadata_file.as_str()),
        Some(LOCATION)
    );
    // A snapshot whose sequence number is already taken was made on
    // metadata that moved since: a lost race, which the producer redoes.
    let err = apply_commit(
        Some((&updated, LOCATION)),
        &TableCommit {
            table: ident(),
            requirements: Vec::new(),
            updates: vec![TableUpdate::AddSnapshot {
                snapshot: snapshot(7, Some(6), 2),
            }],
        },
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(err.is_retryable());
    assert!(
        err.to_string().contains(
            "requirement that new snapshots come after the last sequence number failed: \
             expected a sequence number after 2, found snapshot 7 with sequence number 2"
        ),
        "{err}"
    );
    // An update the metadata refuses is a bad request that names it.
    let err = apply_commit(
        Some((&updated, LOCATION)),
        &TableCommit {
            table: ident(),
            requirements: Vec::new(),
            updates: vec![TableUpdate::SetCurrentSchema { schema_id: 9 }],
        },
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        err.to_string()
            .starts_with("cannot apply update set-current-schema to table 'db.t': "),
        "{err}"
    );
}

#[test]
fn requirements_derive_from_the_updates_as_java_does() {
    let metadata = table();
    assert_eq!(
        requirements_for(None, &[set_property("a")]),
        vec![TableRequirement::NotExist]
    );
    let uuid = TableRequirement::UuidMatch {
        uuid: metadata.uuid(),
    };
    // Properties alone need only the same table.
    assert_eq!(
        requirements_for(Some(&metadata), &[set_property("a")]),
        vec![uuid.clone()]
    );
    let updates = vec![
        TableUpdate::AddSchema { schema: schema() },
        TableUpdate::SetCurrentSchema { schema_id: -1 },
        TableUpdate::AddSpec {
            spec: UnboundPartitionSpec::builder().build(),
        },
        TableUpdate::SetDefaultSpec { spec_id: -1 },
        TableUpdate::SetDefaultSortOrder { sort_order_id: -1 },
        TableUpdate::SetSnapshotRef {
            ref_name: "main".into(),
            reference: SnapshotReference::new(6, SnapshotRetention::branch(None, None, None)),
        },
        TableUpdate::SetSnapshotRef {
            ref_name: "dev".into(),
            reference: SnapshotReference::new(6, SnapshotRetention::branch(None, None, None)),
        },
        // A second change of `main` adds no second requirement.
        TableUpdate::SetSnapshotRef {
            ref_name: "main".into(),
            reference: SnapshotReference::new(7, SnapshotRetention::branch(None, None, None)),
        },
    ];
    assert_eq!(
        requirements_for(Some(&metadata), &updates),
        vec![
            uuid,
            TableRequirement::LastAssignedFieldIdMatch {
                last_assigned_field_id: 2
            },
            TableRequirement::CurrentSchemaIdMatch {
                current_schema_id: 0
            },
            TableRequirement::LastAssignedPartitionIdMatch {
                last_assigned_partition_id: 999
            },
            TableRequirement::DefaultSpecIdMatch { default_spec_id: 0 },
            TableRequirement::DefaultSortOrderIdMatch {
                default_sort_order_id: 0
            },
            TableRequirement::RefSnapshotIdMatch {
                r#ref: "main".into(),
                snapshot_id: Some(5)
            },
            TableRequirement::RefSnapshotIdMatch {
                r#ref: "dev".into(),
                snapshot_id: None
            },
        ]
    );
}
