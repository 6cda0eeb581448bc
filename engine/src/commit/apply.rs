//! A commit as data, and the pure function that checks and applies it.
//!
//! A [`TableCommit`] is what the Iceberg REST catalog's `CommitTableRequest`
//! carries: the table, the requirements its current metadata must meet
//! (Iceberg's [`TableRequirement`]) and the updates to apply to it
//! (Iceberg's [`TableUpdate`]). [`apply_commit`] checks the one and applies
//! the other to a table's metadata, with no I/O, so every commit, Floe's
//! own or one that arrives from another engine, is judged by the same
//! code. [`requirements_for`] derives the requirements of a set of
//! updates from the metadata they were made on, by the rules of Java
//! Iceberg's `UpdateRequirements`.

use std::collections::HashSet;

use floe_catalog::TableIdent;
use iceberg::spec::{FormatVersion, SortOrder, TableMetadata, TableMetadataBuilder};
use iceberg::{TableRequirement, TableUpdate};

use crate::error::{FloeError, RequirementFailed, Result};

/// One table's commit: requirements to check, then updates to apply, in
/// the REST catalog's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct TableCommit {
    /// The table.
    pub table: TableIdent,
    /// What the table's current metadata must be like.
    pub requirements: Vec<TableRequirement>,
    /// The changes, in order.
    pub updates: Vec<TableUpdate>,
}

impl TableCommit {
    /// A commit of `updates` made on `base` (`None`: a table being
    /// created), with the requirements [`requirements_for`] derives.
    pub fn on(table: TableIdent, base: Option<&TableMetadata>, updates: Vec<TableUpdate>) -> Self {
        Self {
            requirements: requirements_for(base, &updates),
            table,
            updates,
        }
    }
}

/// The requirements that make `updates`, made on `base`, safe to apply to
/// whatever metadata the table has when they are committed (Java Iceberg's
/// `UpdateRequirements`): a new table must not exist; otherwise it must be
/// the same table (UUID), and each part of the metadata the updates build
/// on must not have moved: the refs they set, the last column and
/// partition field ids, the current schema, the default spec and the
/// default sort order.
pub fn requirements_for(
    base: Option<&TableMetadata>,
    updates: &[TableUpdate],
) -> Vec<TableRequirement> {
    let Some(base) = base else {
        return vec![TableRequirement::NotExist];
    };
    let mut out = vec![TableRequirement::UuidMatch { uuid: base.uuid() }];
    let mut seen: HashSet<String> = HashSet::new();
    let mut once =
        |key: &str, out: &mut Vec<TableRequirement>, make: &dyn Fn() -> TableRequirement| {
            if seen.insert(key.to_string()) {
                out.push(make());
            }
        };
    for update in updates {
        match update {
            TableUpdate::AddSchema { .. } => once("field-id", &mut out, &|| {
                TableRequirement::LastAssignedFieldIdMatch {
                    last_assigned_field_id: base.last_column_id(),
                }
            }),
            TableUpdate::SetCurrentSchema { .. } | TableUpdate::RemoveSchemas { .. } => {
                once("schema", &mut out, &|| {
                    TableRequirement::CurrentSchemaIdMatch {
                        current_schema_id: base.current_schema_id(),
                    }
                })
            }
            TableUpdate::AddSpec { .. } => once("partition-id", &mut out, &|| {
                TableRequirement::LastAssignedPartitionIdMatch {
                    last_assigned_partition_id: base.last_partition_id(),
                }
            }),
            TableUpdate::SetDefaultSpec { .. } | TableUpdate::RemovePartitionSpecs { .. } => {
                once("spec", &mut out, &|| TableRequirement::DefaultSpecIdMatch {
                    default_spec_id: base.default_partition_spec_id(),
                })
            }
            TableUpdate::SetDefaultSortOrder { .. } => once("sort-order", &mut out, &|| {
                TableRequirement::DefaultSortOrderIdMatch {
                    default_sort_order_id: base.default_sort_order_id(),
                }
            }),
            TableUpdate::SetSnapshotRef { ref_name, .. } => {
                once(&format!("ref:{ref_name}"), &mut out, &|| {
                    TableRequirement::RefSnapshotIdMatch {
                        r#ref: ref_name.clone(),
                        snapshot_id: base.snapshot_for_ref(ref_name).map(|s| s.snapshot_id()),
                    }
                })
            }
            _ => {}
        }
    }
    out
}

/// The REST spec's name of a requirement, with what it is about.
fn describe(requirement: &TableRequirement) -> String {
    match requirement {
        TableRequirement::NotExist => "assert-create".into(),
        TableRequirement::UuidMatch { .. } => "assert-table-uuid".into(),
        TableRequirement::RefSnapshotIdMatch { r#ref, .. } => {
            format!("assert-ref-snapshot-id (ref '{ref}')")
        }
        TableRequirement::LastAssignedFieldIdMatch { .. } => "assert-last-assigned-field-id".into(),
        TableRequirement::CurrentSchemaIdMatch { .. } => "assert-current-schema-id".into(),
        TableRequirement::LastAssignedPartitionIdMatch { .. } => {
            "assert-last-assigned-partition-id".into()
        }
        TableRequirement::DefaultSpecIdMatch { .. } => "assert-default-spec-id".into(),
        TableRequirement::DefaultSortOrderIdMatch { .. } => "assert-default-sort-order-id".into(),
    }
}

/// Check one requirement against the table's current metadata (`None`:
/// the table does not exist).
pub fn check_requirement(
    table: &TableIdent,
    current: Option<&TableMetadata>,
    requirement: &TableRequirement,
) -> Result<()> {
    let failed = |expected: String, found: String, java: String| {
        FloeError::RequirementFailed(Box::new(RequirementFailed {
            table: table.to_string(),
            requirement: describe(requirement),
            expected,
            found,
            java: Some(format!("Requirement failed: {java}")),
        }))
    };
    let Some(current) = current else {
        return match requirement {
            TableRequirement::NotExist => Ok(()),
            _ => Err(floe_catalog::CatalogError::TableNotFound(table.clone()).into()),
        };
    };
    // `what` as Floe says it, and what changed as Java says it.
    let compare = |expected: i64, found: i64, what: &str, changed: &str| {
        if expected == found {
            Ok(())
        } else {
            Err(failed(
                format!("{what} {expected}"),
                format!("{what} {found}"),
                format!("{changed} changed: expected id {expected} != {found}"),
            ))
        }
    };
    match requirement {
        // An `assert-create` that fails is a table that exists already.
        TableRequirement::NotExist => {
            Err(floe_catalog::CatalogError::TableAlreadyExists(table.clone()).into())
        }
        TableRequirement::UuidMatch { uuid } => {
            if current.uuid() == *uuid {
                Ok(())
            } else {
                Err(failed(
                    format!("uuid {uuid}"),
                    format!("uuid {}", current.uuid()),
                    format!("UUID does not match: expected {uuid} != {}", current.uuid()),
                ))
            }
        }
        TableRequirement::RefSnapshotIdMatch { r#ref, snapshot_id } => {
            let found = current.snapshot_for_ref(r#ref).map(|s| s.snapshot_id());
            let show = |id: Option<i64>| match id {
                Some(id) => format!("snapshot {id}"),
                None => format!("no ref '{ref}'"),
            };
            if found == *snapshot_id {
                return Ok(());
            }
            // iceberg-rust keeps a ref's type private; its JSON says it
            // (worked out only when the requirement fails).
            let is_tag = serde_json::to_value(current)
                .is_ok_and(|json| json["refs"][r#ref.as_str()]["type"] == "tag");
            let kind = if is_tag { "tag" } else { "branch" };
            let java = match (snapshot_id, found) {
                (None, _) => format!("{kind} {ref} was created concurrently"),
                (Some(expected), None) => {
                    format!("branch or tag {ref} is missing, expected {expected}")
                }
                (Some(expected), Some(found)) => {
                    format!("{kind} {ref} has changed: expected id {expected} != {found}")
                }
            };
            Err(failed(show(*snapshot_id), show(found), java))
        }
        TableRequirement::LastAssignedFieldIdMatch {
            last_assigned_field_id,
        } => compare(
            i64::from(*last_assigned_field_id),
            i64::from(current.last_column_id()),
            "last field id",
            "last assigned field id",
        ),
        TableRequirement::CurrentSchemaIdMatch { current_schema_id } => compare(
            i64::from(*current_schema_id),
            i64::from(current.current_schema_id()),
            "schema",
            "current schema",
        ),
        TableRequirement::LastAssignedPartitionIdMatch {
            last_assigned_partition_id,
        } => compare(
            i64::from(*last_assigned_partition_id),
            i64::from(current.last_partition_id()),
            "last partition field id",
            "last assigned partition id",
        ),
        TableRequirement::DefaultSpecIdMatch { default_spec_id } => compare(
            i64::from(*default_spec_id),
            i64::from(current.default_partition_spec_id()),
            "spec",
            "default partition spec",
        ),
        TableRequirement::DefaultSortOrderIdMatch {
            default_sort_order_id,
        } => compare(
            *default_sort_order_id,
            current.default_sort_order_id(),
            "sort order",
            "default sort order",
        ),
    }
}

/// Every snapshot a commit adds must come after the table's last sequence
/// number: a snapshot made on metadata another writer has committed to
/// since (on another branch: on the same one a ref requirement fails
/// first) has a sequence number that is already taken. That is a lost
/// race, not a bad request: the snapshot must be made again. A snapshot
/// with no parent (a replace transaction's) is exempt, as in Java
/// Iceberg's `TableMetadata.Builder.addSnapshot`: it builds on no earlier
/// snapshot.
fn check_sequence_numbers(
    table: &TableIdent,
    current: &TableMetadata,
    updates: &[TableUpdate],
) -> Result<()> {
    if current.format_version() == FormatVersion::V1 {
        return Ok(());
    }
    let mut last = current.last_sequence_number();
    for update in updates {
        if let TableUpdate::AddSnapshot { snapshot } = update {
            if snapshot.sequence_number() <= last && snapshot.parent_snapshot_id().is_some() {
                return Err(FloeError::RequirementFailed(Box::new(RequirementFailed {
                    table: table.to_string(),
                    requirement: "that new snapshots come after the last sequence number".into(),
                    expected: format!("a sequence number after {last}"),
                    found: format!(
                        "snapshot {} with sequence number {}",
                        snapshot.snapshot_id(),
                        snapshot.sequence_number()
                    ),
                    java: None,
                })));
            }
            last = last.max(snapshot.sequence_number());
        }
    }
    Ok(())
}

/// The REST spec's name of an update, for messages.
pub(crate) fn update_name(update: &TableUpdate) -> &'static str {
    match update {
        TableUpdate::UpgradeFormatVersion { .. } => "upgrade-format-version",
        TableUpdate::AssignUuid { .. } => "assign-uuid",
        TableUpdate::AddSchema { .. } => "add-schema",
        TableUpdate::SetCurrentSchema { .. } => "set-current-schema",
        TableUpdate::AddSpec { .. } => "add-spec",
        TableUpdate::SetDefaultSpec { .. } => "set-default-spec",
        TableUpdate::AddSortOrder { .. } => "add-sort-order",
        TableUpdate::SetDefaultSortOrder { .. } => "set-default-sort-order",
        TableUpdate::AddSnapshot { .. } => "add-snapshot",
        TableUpdate::SetSnapshotRef { .. } => "set-snapshot-ref",
        TableUpdate::RemoveSnapshots { .. } => "remove-snapshots",
        TableUpdate::RemoveSnapshotRef { .. } => "remove-snapshot-ref",
        TableUpdate::SetLocation { .. } => "set-location",
        TableUpdate::SetProperties { .. } => "set-properties",
        TableUpdate::RemoveProperties { .. } => "remove-properties",
        TableUpdate::RemovePartitionSpecs { .. } => "remove-partition-specs",
        TableUpdate::SetStatistics { .. } => "set-statistics",
        TableUpdate::RemoveStatistics { .. } => "remove-statistics",
        TableUpdate::SetPartitionStatistics { .. } => "set-partition-statistics",
        TableUpdate::RemovePartitionStatistics { .. } => "remove-partition-statistics",
        TableUpdate::RemoveSchemas { .. } => "remove-schemas",
        TableUpdate::AddEncryptionKey { .. } => "add-encryption-key",
        TableUpdate::RemoveEncryptionKey { .. } => "remove-encryption-key",
    }
}

/// Apply `updates` in order to `builder`; a refused update is an error
/// naming it and the table.
pub(crate) fn apply_updates(
    table: &TableIdent,
    mut builder: TableMetadataBuilder,
    updates: &[TableUpdate],
) -> Result<TableMetadata> {
    for update in updates {
        let name = update_name(update);
        builder = update.clone().apply(builder).map_err(|e| {
            FloeError::invalid(format!(
                "cannot apply update {name} to table '{table}': {}",
                e.message()
            ))
        })?;
    }
    builder
        .build()
        .map(|result| result.metadata)
        .map_err(|e| FloeError::invalid(format!("commit to table '{table}': {}", e.message())))
}

/// Check `commit`'s requirements against the table's current metadata
/// and `location` (`None`: the table does not exist yet), then apply its
/// updates. Returns the table's new metadata; nothing is written.
///
/// A table that does not exist yet is made from its commit's updates (a
/// create, `assert-create`): the first `add-schema`, `add-spec` and
/// `add-sort-order`, `set-location`, `upgrade-format-version` and
/// `assign-uuid` make the new metadata, and every update is then applied
/// to it in order.
pub fn apply_commit(
    current: Option<(&TableMetadata, &str)>,
    commit: &TableCommit,
) -> Result<TableMetadata> {
    let table = &commit.table;
    for requirement in &commit.requirements {
        check_requirement(table, current.map(|(m, _)| m), requirement)?;
    }
    if let Some((metadata, _)) = current {
        check_sequence_numbers(table, metadata, &commit.updates)?;
    }
    let builder = match current {
        Some((metadata, location)) => metadata.clone().into_builder(Some(location.to_string())),
        None => new_table_builder(table, &commit.updates)?,
    };
    apply_updates(table, builder, &commit.updates)
}

/// The metadata a create's updates start from (see [`apply_commit`]).
fn new_table_builder(table: &TableIdent, updates: &[TableUpdate]) -> Result<TableMetadataBuilder> {
    let missing = |what: &str| {
        FloeError::invalid(format!(
            "cannot create table '{table}': the commit has no {what} update"
        ))
    };
    let schema = updates
        .iter()
        .find_map(|u| match u {
            TableUpdate::AddSchema { schema } => Some(schema.clone()),
            _ => None,
        })
        .ok_or_else(|| missing("add-schema"))?;
    let location = updates
        .iter()
        .find_map(|u| match u {
            TableUpdate::SetLocation { location } => Some(location.clone()),
            _ => None,
        })
        .ok_or_else(|| missing("set-location"))?;
    let spec = updates
        .iter()
        .find_map(|u| match u {
            TableUpdate::AddSpec { spec } => Some(spec.clone()),
            _ => None,
        })
        .unwrap_or_else(|| iceberg::spec::UnboundPartitionSpec::builder().build());
    let order = updates
        .iter()
        .find_map(|u| match u {
            TableUpdate::AddSortOrder { sort_order } => Some(sort_order.clone()),
            _ => None,
        })
        .unwrap_or_else(SortOrder::unsorted_order);
    let format_version = updates
        .iter()
        .find_map(|u| match u {
            TableUpdate::UpgradeFormatVersion { format_version } => Some(*format_version),
            _ => None,
        })
        .unwrap_or(FormatVersion::V2);
    let builder = TableMetadataBuilder::new(
        schema,
        spec,
        order,
        location,
        format_version,
        Default::default(),
    )
    .map_err(|e| FloeError::invalid(format!("cannot create table '{table}': {}", e.message())))?;
    Ok(
        match updates.iter().find_map(|u| match u {
            TableUpdate::AssignUuid { uuid } => Some(*uuid),
            _ => None,
        }) {
            Some(uuid) => builder.assign_uuid(uuid),
            None => builder,
        },
    )
}

#[cfg(test)]
mod tests;
