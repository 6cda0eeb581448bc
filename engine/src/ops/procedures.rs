//! `CALL system.<procedure>(...)`: Iceberg's snapshot-management procedures
//! and `add_files`, with Spark's names, parameters and result columns.

use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use floe_catalog::TableIdent;
use iceberg::spec::{
    MAIN_BRANCH, SnapshotRef, SnapshotReference, SnapshotRetention, TableMetadata,
};

use crate::commit::{SnapshotUpdate, update_metadata};
use crate::error::{FloeError, Result, invalid, not_found};
use crate::scope::Scope;
use crate::table::{LoadedTable, VersionSpec, format_millis};

/// The procedures and their parameters, in positional order. Every
/// parameter is required except `set_current_snapshot`'s, of which exactly
/// one of `snapshot_id` and `ref` is given, `expire_snapshots`'s
/// `older_than` (default: five days ago) and `retain_last` (default 1),
/// `add_files`'s `check_duplicate_files` (default true), all of
/// `rewrite_data_files`'s but `table`, and all of `remove_orphan_files`'s
/// (`table` absent or `'*'`: every table; `older_than`: three days ago;
/// `dry_run`: false), and `rewrite_manifests`'s `use_caching` (accepted
/// for Spark's sake; Floe has nothing to cache).
const PROCEDURES: &[(&str, &[&str])] = &[
    ("rollback_to_snapshot", &["table", "snapshot_id"]),
    ("rollback_to_timestamp", &["table", "timestamp"]),
    ("set_current_snapshot", &["table", "snapshot_id", "ref"]),
    ("cherrypick_snapshot", &["table", "snapshot_id"]),
    ("publish_changes", &["table", "wap_id"]),
    ("fast_forward", &["table", "branch", "to"]),
    ("expire_snapshots", &["table", "older_than", "retain_last"]),
    (
        "add_files",
        &["table", "source_table", "check_duplicate_files"],
    ),
    ("remove_orphan_files", &["table", "older_than", "dry_run"]),
    ("rewrite_manifests", &["table", "use_caching"]),
    ("rewrite_position_delete_files", &["table"]),
    ("register_table", &["table", "metadata_file"]),
    (
        "rewrite_data_files",
        &["table", "strategy", "sort_order", "where", "options"],
    ),
];

/// A procedure call's arguments, bound to the procedure's parameters.
struct Args<'a> {
    procedure: &'a str,
    values: Vec<(&'static str, ScalarValue)>,
}

impl Args<'_> {
    fn get(&self, name: &str) -> Option<&ScalarValue> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    fn required(&self, name: &str) -> Result<&ScalarValue> {
        self.get(name)
            .ok_or_else(|| invalid!("CALL system.{}: missing argument '{name}'", self.procedure))
    }

    fn string(&self, name: &str) -> Result<String> {
        match self.required(name)? {
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)) => Ok(s.clone()),
            other => Err(invalid!(
                "CALL system.{}: argument '{name}' must be a string, not {other}",
                self.procedure
            )),
        }
    }

    fn int(&self, name: &str) -> Result<i64> {
        let value = self.required(name)?;
        value
            .cast_to(&DataType::Int64)
            .ok()
            .and_then(|v| match v {
                ScalarValue::Int64(Some(n)) => Some(n),
                _ => None,
            })
            .filter(|_| value.data_type().is_integer() || value.data_type().is_numeric())
            .ok_or_else(|| {
                invalid!(
                    "CALL system.{}: argument '{name}' must be a whole number, not {value}",
                    self.procedure
                )
            })
    }

    fn bool(&self, name: &str) -> Result<bool> {
        match self.required(name)? {
            ScalarValue::Boolean(Some(b)) => Ok(*b),
            other => Err(invalid!(
                "CALL system.{}: argument '{name}' must be true or false, not {other}",
                self.procedure
            )),
        }
    }

    /// A map of strings (`map('k', 'v')`, `map(['k1', 'k2'], ['v1', 'v2'])`
    /// or `make_map('k1', 'v1', 'k2', 'v2')`); empty when not given.
    fn string_map(&self, name: &str) -> Result<std::collections::HashMap<String, String>> {
        let Some(value) = self.get(name) else {
            return Ok(Default::default());
        };
        let bad = || {
            invalid!(
                "CALL system.{}: argument '{name}' must be a map of strings, e.g. map('k', 'v'),                  not {value}",
                self.procedure
            )
        };
        let ScalarValue::Map(map) = value else {
            return Err(bad());
        };
        let entries = map.value(0);
        let strings = |i: usize| -> Result<Vec<String>> {
            let column = arrow::compute::cast(entries.column(i), &DataType::Utf8)?;
            let column = column
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(bad)?;
            Ok(column
                .iter()
                .map(|v| v.unwrap_or_default().to_string())
                .collect())
        };
        if entries.num_columns() != 2 {
            return Err(bad());
        }
        Ok(strings(0)?.into_iter().zip(strings(1)?).collect())
    }

    /// A timestamp (or a string holding one), in ms since the epoch.
    fn timestamp_ms(&self, name: &str) -> Result<i64> {
        let value = self.required(name)?;
        if let ScalarValue::Utf8(Some(text)) = value {
            return crate::table::parse_timestamp(text).ok_or_else(|| {
                invalid!(
                    "CALL system.{}: '{text}' is not a timestamp",
                    self.procedure
                )
            });
        }
        let ms = value.cast_to(&DataType::Timestamp(
            arrow::datatypes::TimeUnit::Millisecond,
            None,
        ));
        match ms {
            Ok(ScalarValue::TimestampMillisecond(Some(ms), _)) => Ok(ms),
            _ => Err(invalid!(
                "CALL system.{}: argument '{name}' must be a timestamp, not {value}",
                self.procedure
            )),
        }
    }
}

/// Bind positional and `name => value` arguments to `procedure`'s
/// parameters.
fn bind<'a>(procedure: &'a str, args: Vec<(Option<String>, ScalarValue)>) -> Result<Args<'a>> {
    let Some((_, params)) = PROCEDURES.iter().find(|(name, _)| *name == procedure) else {
        let known: Vec<&str> = PROCEDURES.iter().map(|(n, _)| *n).collect();
        return Err(not_found!(
            "there is no procedure system.{procedure} (Floe has: {})",
            known.join(", ")
        ));
    };
    let mut values: Vec<(&'static str, ScalarValue)> = Vec::new();
    for (position, (name, value)) in args.into_iter().enumerate() {
        let param = match name {
            Some(name) => params
                .iter()
                .find(|p| p.eq_ignore_ascii_case(&name))
                .ok_or_else(|| {
                    not_found!(
                        "CALL system.{procedure}: no parameter '{name}' (its parameters: {})",
                        params.join(", ")
                    )
                })?,
            None => params.get(position).ok_or_else(|| {
                invalid!(
                    "CALL system.{procedure}: too many arguments (its parameters: {})",
                    params.join(", ")
                )
            })?,
        };
        if values.iter().any(|(p, _)| p == param) {
            return Err(invalid!(
                "CALL system.{procedure}: argument '{param}' given twice"
            ));
        }
        values.push((param, value));
    }
    Ok(Args { procedure, values })
}

/// Run `CALL system.<procedure>(args)` in the session of `ctx`; returns
/// its result rows.
pub async fn call(
    ctx: &datafusion::prelude::SessionContext,
    scope: &Scope,
    procedure: &str,
    args: Vec<(Option<String>, ScalarValue)>,
    catalog: &str,
    default_namespace: &str,
) -> Result<RecordBatch> {
    let args = bind(procedure, args)?;
    if procedure == "remove_orphan_files" {
        let table = match args.get("table") {
            None => None,
            Some(_) if args.string("table")? == "*" => None,
            Some(_) => Some(crate::names::table_ident_from_text(
                &args.string("table")?,
                catalog,
                default_namespace,
            )?),
        };
        let request = super::orphans::OrphanRequest {
            tables: table.map(|t| vec![t]),
            older_than: match args.get("older_than") {
                Some(_) => args.timestamp_ms("older_than")?,
                None => chrono::Utc::now().timestamp_millis() - super::orphans::DEFAULT_MIN_AGE_MS,
            },
            dry_run: match args.get("dry_run") {
                Some(_) => args.bool("dry_run")?,
                None => false,
            },
        };
        let orphans = super::orphans::remove_orphan_files(scope, &request).await?;
        return super::orphans::orphans_batch(orphans);
    }
    let table =
        crate::names::table_ident_from_text(&args.string("table")?, catalog, default_namespace)?;
    match procedure {
        "rewrite_manifests" => {
            let (table, version) = branch_of(scope, table, default_namespace).await?;
            let target = scope.load_table_at(&table, version.as_ref()).await?;
            let (_, done) = crate::commit::rewrite_manifests(&scope.target()?, target).await?;
            let schema = Arc::new(Schema::new(vec![
                Field::new("rewritten_manifests_count", DataType::Int32, false),
                Field::new("added_manifests_count", DataType::Int32, false),
            ]));
            Ok(RecordBatch::try_new(
                schema,
                vec![
                    Arc::new(arrow::array::Int32Array::from(vec![done.rewritten as i32])),
                    Arc::new(arrow::array::Int32Array::from(vec![done.added as i32])),
                ],
            )?)
        }
        "register_table" => {
            let location = args.string("metadata_file")?;
            let catalog = scope.engine().branch_catalog(MAIN_BRANCH).await?;
            let state = catalog.register_table(&table, &location, false).await?;
            let snapshot = state.metadata.current_snapshot();
            let total = |key: &str| {
                snapshot
                    .and_then(|s| s.summary().additional_properties.get(key))
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(0)
            };
            let schema = Arc::new(Schema::new(vec![
                Field::new("current_snapshot_id", DataType::Int64, true),
                Field::new("total_records_count", DataType::Int64, false),
                Field::new("total_data_files_count", DataType::Int64, false),
            ]));
            Ok(RecordBatch::try_new(
                schema,
                vec![
                    Arc::new(Int64Array::from(vec![snapshot.map(|s| s.snapshot_id())])),
                    Arc::new(Int64Array::from(vec![total("total-records")])),
                    Arc::new(Int64Array::from(vec![total("total-data-files")])),
                ],
            )?)
        }
        "rewrite_position_delete_files" => {
            let (table, version) = branch_of(scope, table, default_namespace).await?;
            let target = scope.load_table_at(&table, version.as_ref()).await?;
            super::compaction::rewrite_position_delete_files(scope, target)
                .await?
                .batch()
        }
        "rewrite_data_files" => {
            let (table, version) = branch_of(scope, table, default_namespace).await?;
            let target = scope.load_table_at(&table, version.as_ref()).await?;
            let request = super::compaction::RewriteRequest {
                strategy: args
                    .get("strategy")
                    .map(|_| args.string("strategy"))
                    .transpose()?,
                sort_order: args
                    .get("sort_order")
                    .map(|_| args.string("sort_order"))
                    .transpose()?,
                filter: args
                    .get("where")
                    .map(|_| args.string("where"))
                    .transpose()?,
                options: args.string_map("options")?,
                dry_run: false,
            };
            // A concurrent commit that removed a file this rewrites, or
            // added deletes to one, refuses the commit: plan again on the
            // table's new state, as often as its commit.retry.num-retries.
            let retries = target
                .int_property("commit.retry.num-retries")?
                .map_or(4, |n| n.max(0) as u32);
            let mut target = target;
            let mut attempt = 0;
            loop {
                match super::compaction::rewrite_data_files(ctx, scope, target, &request).await {
                    Err(e) if e.kind() == crate::ErrorKind::Conflict && attempt < retries => {
                        attempt += 1;
                        target = scope.load_table_at(&table, version.as_ref()).await?;
                    }
                    other => break other?.batch(),
                }
            }
        }
        "rollback_to_snapshot" => {
            let id = args.int("snapshot_id")?;
            set_main(scope, &table, |current| {
                if !is_ancestor(current, id, current.snapshot_id()) {
                    return Err(invalid!(
                        "cannot roll table '{table}' back to snapshot {id}: it is not an \
                         ancestor of main's current snapshot (use system.set_current_snapshot)"
                    ));
                }
                Ok(id)
            })
            .await
        }
        "rollback_to_timestamp" => {
            let ms = args.timestamp_ms("timestamp")?;
            set_main(scope, &table, |current| {
                current
                    .ancestors(current.snapshot_id())
                    .into_iter()
                    .find(|s| s.timestamp_ms() < ms)
                    .map(|s| s.snapshot_id())
                    .ok_or_else(|| {
                        not_found!(
                            "cannot roll table '{table}' back to {}: main has no snapshot older \
                             than that",
                            format_millis(ms)
                        )
                    })
            })
            .await
        }
        "set_current_snapshot" => {
            let target = match (args.get("snapshot_id"), args.get("ref")) {
                (Some(_), None) => VersionSpec::Snapshot(args.int("snapshot_id")?),
                (None, Some(_)) => VersionSpec::Ref(args.string("ref")?),
                _ => {
                    return Err(invalid!(
                        "CALL system.set_current_snapshot: give exactly one of snapshot_id and ref"
                    ));
                }
            };
            set_main(scope, &table, |current| {
                current
                    .at(&target)?
                    .snapshot_id()
                    .ok_or_else(|| not_found!("table '{table}' has no snapshot yet"))
            })
            .await
        }
        "cherrypick_snapshot" => {
            let id = args.int("snapshot_id")?;
            cherrypick(scope, &table, |current| {
                current
                    .metadata()
                    .snapshot_by_id(id)
                    .cloned()
                    .ok_or_else(|| not_found!("table '{table}' has no snapshot {id}"))
            })
            .await
        }
        "publish_changes" => {
            let wap_id = args.string("wap_id")?;
            cherrypick(scope, &table, |current| {
                let mut staged: Vec<&SnapshotRef> = current
                    .metadata()
                    .snapshots()
                    .filter(|s| s.summary().additional_properties.get("wap.id") == Some(&wap_id))
                    .collect();
                staged.sort_by_key(|s| s.sequence_number());
                staged.first().map(|s| (*s).clone()).ok_or_else(|| {
                    not_found!("table '{table}' has no snapshot staged with wap.id '{wap_id}'")
                })
            })
            .await
        }
        "fast_forward" => {
            let branch = args.string("branch")?;
            let to = args.string("to")?;
            fast_forward(scope, &table, &branch, &to).await
        }
        "expire_snapshots" => {
            let older_than = match args.get("older_than") {
                Some(_) => Some(args.timestamp_ms("older_than")?),
                None => None,
            };
            let retain_last = match args.get("retain_last") {
                Some(_) => Some(args.int("retain_last")?),
                None => None,
            };
            if retain_last.is_some_and(|n| n < 1) {
                return Err(invalid!(
                    "CALL system.expire_snapshots: retain_last must be at least 1"
                ));
            }
            let policy = ExpiryDefaults {
                older_than,
                retain_last: retain_last.map(|n| n as usize),
            };
            expire_snapshots(scope, &table, policy).await
        }
        "add_files" => {
            let source = super::add_files::parse_source(&args.string("source_table")?)?;
            let check = match args.get("check_duplicate_files") {
                Some(_) => args.bool("check_duplicate_files")?,
                None => true,
            };
            let target = scope.load_table_at(&table, None).await?;
            super::add_files::add_files(scope, target, &source, check).await
        }
        _ => Err(FloeError::Internal(format!(
            "procedure {procedure} is listed but not run"
        ))),
    }
}

/// A procedure's table named with a branch, Spark's way (`db.t.branch_dev`,
/// or `t.branch_dev` in the default namespace): the table and the branch.
/// A table whose own name starts with `branch_` wins.
async fn branch_of(
    scope: &Scope,
    table: TableIdent,
    default_namespace: &str,
) -> Result<(TableIdent, Option<VersionSpec>)> {
    let Some(branch) = table
        .name()
        .strip_prefix("branch_")
        .filter(|b| !b.is_empty())
    else {
        return Ok((table, None));
    };
    match scope.engine().catalog().load_table(&table).await {
        Ok(_) => return Ok((table, None)),
        Err(floe_catalog::CatalogError::TableNotFound(_))
        | Err(floe_catalog::CatalogError::NamespaceNotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let mut parts: Vec<String> = table.namespace().iter().cloned().collect();
    let Some(name) = parts.pop() else {
        return Ok((table, None));
    };
    if parts.is_empty() {
        parts.push(default_namespace.to_string());
    }
    let namespace =
        floe_catalog::NamespaceIdent::from_vec(parts).map_err(|e| invalid!("'{table}': {e}"))?;
    Ok((
        TableIdent::new(namespace, name),
        Some(VersionSpec::Branch(branch.to_string())),
    ))
}

/// Whether `ancestor` is `of` or one of its ancestors.
pub fn is_ancestor(table: &LoadedTable, ancestor: i64, of: Option<i64>) -> bool {
    table
        .ancestors(of)
        .iter()
        .any(|s| s.snapshot_id() == ancestor)
}

fn main_reference(table: &LoadedTable, snapshot_id: i64) -> Result<SnapshotReference> {
    let retention = match table.refs()?.get(MAIN_BRANCH) {
        Some(existing) => existing.retention.clone(),
        None => SnapshotRetention::branch(None, None, None),
    };
    Ok(SnapshotReference::new(snapshot_id, retention))
}

/// Point `main` at the snapshot `pick` chooses from the latest metadata.
async fn set_main<F>(scope: &Scope, table: &TableIdent, pick: F) -> Result<RecordBatch>
where
    F: Fn(&LoadedTable) -> Result<i64>,
{
    let previous = std::sync::Mutex::new(None);
    let updated = update_metadata(&scope.target()?, table, |current| {
        let target = pick(current)?;
        if let Ok(mut p) = previous.lock() {
            *p = current.snapshot_id();
        }
        if current.snapshot_id() == Some(target) {
            return Ok(None);
        }
        Ok(Some(
            TableMetadata::clone(current.metadata())
                .into_builder(None)
                .set_ref(MAIN_BRANCH, main_reference(current, target)?)?,
        ))
    })
    .await?;
    let previous = previous.lock().ok().and_then(|p| *p);
    two_snapshots(
        ["previous_snapshot_id", "current_snapshot_id"],
        previous,
        updated.snapshot_id(),
    )
}

/// Apply one snapshot's changes to `main`: a fast-forward when `main` is
/// its parent, otherwise a new snapshot with the same changes (its removed
/// files must still be live on `main`).
async fn cherrypick<F>(scope: &Scope, table: &TableIdent, pick: F) -> Result<RecordBatch>
where
    F: Fn(&LoadedTable) -> Result<SnapshotRef>,
{
    let current = scope.load_table(table).await?;
    let source = pick(&current)?;
    let id = source.snapshot_id();
    if is_ancestor(&current, id, current.snapshot_id()) {
        return Err(invalid!(
            "cannot cherry-pick snapshot {id} of table '{table}': it is already in main's history"
        ));
    }
    let wap_id = source
        .summary()
        .additional_properties
        .get("wap.id")
        .cloned();
    let picked = if source.parent_snapshot_id() == current.snapshot_id() {
        let source_id = source.snapshot_id();
        update_metadata(&scope.target()?, table, |latest| {
            if latest.snapshot_id() != source.parent_snapshot_id() {
                return Err(FloeError::Conflict {
                    table: table.to_string(),
                    snapshot: latest.snapshot_id(),
                    reason: "main moved while the snapshot was being published".into(),
                });
            }
            Ok(Some(
                TableMetadata::clone(latest.metadata())
                    .into_builder(None)
                    .set_ref(MAIN_BRANCH, main_reference(latest, source_id)?)?,
            ))
        })
        .await?
    } else {
        let mut update = SnapshotUpdate::replay(scope.engine(), &current, &source).await?;
        if let Some(wap_id) = wap_id {
            update = update.with_summary("published-wap-id", wap_id);
        }
        update.commit(&scope.target()?, current).await?
    };
    two_snapshots(
        ["source_snapshot_id", "current_snapshot_id"],
        Some(id),
        picked.snapshot_id(),
    )
}

/// Move `branch` forward to the head of `to`; `branch` must be an ancestor
/// of it (or not exist yet: it is created there).
async fn fast_forward(
    scope: &Scope,
    table: &TableIdent,
    branch: &str,
    to: &str,
) -> Result<RecordBatch> {
    let previous = std::sync::Mutex::new(None);
    let updated = update_metadata(&scope.target()?, table, |current| {
        let target = current
            .at(&VersionSpec::Branch(to.to_string()))?
            .snapshot_id()
            .ok_or_else(|| not_found!("branch '{to}' of table '{table}' has no snapshot"))?;
        let existing = current.refs()?.get(branch).cloned();
        let retention = match &existing {
            Some(r) if !r.is_branch() => {
                return Err(invalid!(
                    "'{branch}' is a tag of table '{table}': only a branch can be fast-forwarded"
                ));
            }
            Some(r) => {
                if !is_ancestor(current, r.snapshot_id, Some(target)) {
                    return Err(invalid!(
                        "cannot fast-forward branch '{branch}' of table '{table}' to '{to}': \
                         '{branch}' has snapshots '{to}' does not (merge the branches instead)"
                    ));
                }
                r.retention.clone()
            }
            None => SnapshotRetention::branch(None, None, None),
        };
        if let Ok(mut p) = previous.lock() {
            *p = existing.as_ref().map(|r| r.snapshot_id);
        }
        if existing.as_ref().map(|r| r.snapshot_id) == Some(target) {
            return Ok(None);
        }
        Ok(Some(
            TableMetadata::clone(current.metadata())
                .into_builder(None)
                .set_ref(branch, SnapshotReference::new(target, retention))?,
        ))
    })
    .await?;
    let previous = previous.lock().ok().and_then(|p| *p);
    let updated_ref = updated.refs()?.get(branch).map(|r| r.snapshot_id);
    let schema = Arc::new(Schema::new(vec![
        Field::new("branch_updated", DataType::Utf8, false),
        Field::new("previous_ref", DataType::Int64, true),
        Field::new("updated_ref", DataType::Int64, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![branch])),
        Arc::new(Int64Array::from(vec![previous])),
        Arc::new(Int64Array::from(vec![updated_ref])),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// What `expire_snapshots` was given; what it was not comes from the
/// table's `history.expire.*` properties, with Iceberg's defaults.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ExpiryDefaults {
    pub(crate) older_than: Option<i64>,
    pub(crate) retain_last: Option<usize>,
}

/// What one expiry removes from a table, by Java Iceberg's rules: a ref
/// other than `main` older than its `max-ref-age-ms` (its own, else the
/// table's `history.expire.max-ref-age-ms`) goes; each branch keeps the
/// ancestors within its `min-snapshots-to-keep` and `max-snapshot-age-ms`
/// (its own, else the defaults); a snapshot no ref reaches goes once it
/// is older than the default age. Floe also keeps what a branch merge
/// needs (see [`crate::commit::merge_histories`]): Java Iceberg knows no
/// merges, and would expire a branch's fork point with main.
pub(crate) fn expiry(
    table: &LoadedTable,
    defaults: &ExpiryDefaults,
    now: i64,
) -> Result<(Vec<i64>, Vec<String>)> {
    let property = |key: &str| table.int_property(key);
    let older_than = match defaults.older_than {
        Some(ms) => ms,
        None => now - property("history.expire.max-snapshot-age-ms")?.unwrap_or(5 * 86_400_000),
    };
    let retain_last = match defaults.retain_last {
        Some(n) => n,
        None => property("history.expire.min-snapshots-to-keep")?.map_or(1, |n| n.max(1) as usize),
    };
    let max_ref_age = property("history.expire.max-ref-age-ms")?;
    let mut retained = std::collections::HashSet::new();
    let mut in_branches = std::collections::HashSet::new();
    let mut removed_refs = Vec::new();
    for (name, reference) in table.refs()? {
        let (ref_age, snapshot_age, keep) = match &reference.retention {
            SnapshotRetention::Branch {
                min_snapshots_to_keep,
                max_snapshot_age_ms,
                max_ref_age_ms,
            } => (
                *max_ref_age_ms,
                *max_snapshot_age_ms,
                *min_snapshots_to_keep,
            ),
            SnapshotRetention::Tag { max_ref_age_ms } => (*max_ref_age_ms, None, None),
        };
        let head_time = table
            .metadata()
            .snapshot_by_id(reference.snapshot_id)
            .map(|s| s.timestamp_ms());
        if name != MAIN_BRANCH
            && let (Some(age), Some(time)) = (ref_age.or(max_ref_age), head_time)
            && time < now - age
        {
            removed_refs.push(name.clone());
            continue;
        }
        retained.insert(reference.snapshot_id);
        if !reference.is_branch() {
            continue;
        }
        let branch_older_than = snapshot_age.map_or(older_than, |age| now - age);
        let keep = keep.map_or(retain_last, |n| n.max(1) as usize);
        for (n, snapshot) in table
            .ancestors(Some(reference.snapshot_id))
            .iter()
            .enumerate()
        {
            in_branches.insert(snapshot.snapshot_id());
            if n < keep || snapshot.timestamp_ms() >= branch_older_than {
                retained.insert(snapshot.snapshot_id());
            }
        }
    }
    // What a branch merge needs, for the branches that stay.
    let staying: crate::table::Refs = table
        .refs()?
        .iter()
        .filter(|(name, _)| !removed_refs.contains(name))
        .map(|(name, r)| (name.clone(), r.clone()))
        .collect();
    retained.extend(crate::commit::merge_histories(table.metadata(), &staying));
    let expired = table
        .metadata()
        .snapshots()
        .filter(|s| !retained.contains(&s.snapshot_id()))
        .filter(|s| in_branches.contains(&s.snapshot_id()) || s.timestamp_ms() < older_than)
        .map(|s| s.snapshot_id())
        .collect();
    Ok((expired, removed_refs))
}

async fn expire_snapshots(
    scope: &Scope,
    table: &TableIdent,
    defaults: ExpiryDefaults,
) -> Result<RecordBatch> {
    let (_, counts) = expire(scope, table, defaults).await?;
    let schema = Arc::new(Schema::new(
        [
            "deleted_data_files_count",
            "deleted_position_delete_files_count",
            "deleted_equality_delete_files_count",
            "deleted_manifest_files_count",
            "deleted_manifest_lists_count",
        ]
        .iter()
        .map(|n| Field::new(*n, DataType::Int64, false))
        .collect::<Vec<_>>(),
    ));
    let columns: Vec<ArrayRef> = counts
        .iter()
        .map(|n| Arc::new(Int64Array::from(vec![*n])) as ArrayRef)
        .collect();
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// Expire `table`'s snapshots (see [`expiry`]) and delete the files only
/// they reached. Returns the snapshots expired and the counts of data,
/// position delete, equality delete files, manifests and manifest lists
/// deleted.
pub(crate) async fn expire(
    scope: &Scope,
    table: &TableIdent,
    defaults: ExpiryDefaults,
) -> Result<(usize, [i64; 5])> {
    let before = std::sync::Mutex::new(None);
    let expired_ids = std::sync::Mutex::new(Vec::new());
    let now = chrono::Utc::now().timestamp_millis();
    let after = update_metadata(&scope.target()?, table, |current| {
        let (expired, removed_refs) = expiry(current, &defaults, now)?;
        if let Ok(mut b) = before.lock() {
            *b = Some(current.clone());
        }
        if let Ok(mut e) = expired_ids.lock() {
            e.clone_from(&expired);
        }
        if expired.is_empty() && removed_refs.is_empty() {
            return Ok(None);
        }
        let mut builder = TableMetadata::clone(current.metadata()).into_builder(None);
        for name in &removed_refs {
            builder = builder.remove_ref(name);
        }
        Ok(Some(crate::commit::remove_snapshots(builder, &expired)))
    })
    .await?;
    let expired = expired_ids.lock().map(|e| e.clone()).unwrap_or_default();
    let before = before.lock().ok().and_then(|b| b.clone());
    let mut counts = [0i64; 5];
    if let Some(before) = before.filter(|_| !expired.is_empty()) {
        counts = delete_unreachable(scope, &before, &after, &expired).await?;
    }
    Ok((expired.len(), counts))
}

/// Delete the files the `expired` snapshots of `before` referenced that no
/// snapshot of `after` does. Returns the counts of data, position delete,
/// equality delete files, manifests and manifest lists deleted.
async fn delete_unreachable(
    scope: &Scope,
    before: &LoadedTable,
    after: &LoadedTable,
    expired: &[i64],
) -> Result<[i64; 5]> {
    use iceberg::spec::DataContentType;
    use std::collections::HashSet;
    let file_io = scope.engine().file_io();
    // Everything the remaining snapshots reach.
    let mut lists = HashSet::new();
    let mut manifests = HashSet::new();
    let mut files = HashSet::new();
    for snapshot in after.metadata().snapshots() {
        lists.insert(snapshot.manifest_list().to_string());
        for manifest in after
            .manifests(scope.engine(), snapshot.manifest_list())
            .await?
        {
            if manifests.insert(manifest.manifest_path.clone()) {
                for entry in crate::table::load_manifest(scope.engine(), &manifest)
                    .await?
                    .entries()
                {
                    files.insert(entry.file_path().to_string());
                }
            }
        }
    }
    let mut counts = [0i64; 5];
    let mut doomed_manifests = HashSet::new();
    let mut doomed_files: Vec<(String, DataContentType)> = Vec::new();
    let mut doomed_lists = Vec::new();
    for id in expired {
        let Some(snapshot) = before.metadata().snapshot_by_id(*id) else {
            continue;
        };
        if !lists.contains(snapshot.manifest_list()) {
            doomed_lists.push(snapshot.manifest_list().to_string());
        }
        for manifest in before
            .manifests(scope.engine(), snapshot.manifest_list())
            .await?
        {
            if manifests.contains(&manifest.manifest_path)
                || !doomed_manifests.insert(manifest.manifest_path.clone())
            {
                continue;
            }
            for entry in crate::table::load_manifest(scope.engine(), &manifest)
                .await?
                .entries()
            {
                if !files.contains(entry.file_path()) {
                    files.insert(entry.file_path().to_string());
                    doomed_files.push((entry.file_path().to_string(), entry.content_type()));
                }
            }
        }
    }
    // Files outside the table's location (registered in place by
    // add_files) belong to whoever wrote them: they stay.
    let own = format!(
        "{}/",
        super::orphans::normalize(after.metadata().location())
    );
    for (path, content) in &doomed_files {
        if !super::orphans::normalize(path).starts_with(&own) {
            continue;
        }
        file_io.delete(path).await?;
        counts[match content {
            DataContentType::Data => 0,
            DataContentType::PositionDeletes => 1,
            DataContentType::EqualityDeletes => 2,
        }] += 1;
    }
    for path in &doomed_manifests {
        file_io.delete(path).await?;
        counts[3] += 1;
    }
    for path in &doomed_lists {
        file_io.delete(path).await?;
        counts[4] += 1;
    }
    Ok(counts)
}

fn two_snapshots(names: [&str; 2], first: Option<i64>, second: Option<i64>) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new(names[0], DataType::Int64, true),
        Field::new(names[1], DataType::Int64, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![first])),
        Arc::new(Int64Array::from(vec![second])),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}
