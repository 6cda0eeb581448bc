//! Whole-warehouse branches: `CREATE BRANCH x [FROM y]`, `USE BRANCH x`,
//! `SHOW BRANCHES`, `DROP BRANCH x`. A warehouse branch is the Iceberg
//! branch of that name in every table that has one, so other engines see
//! it; creating or dropping one changes every table's metadata in a single
//! catalog commit and copies no data.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use floe_catalog::TableIdent;
use iceberg::spec::{MAIN_BRANCH, SnapshotReference, SnapshotRetention, TableMetadata};

use crate::command::refs::RefKind;
use crate::commit::{TableChange, add_empty_branch, changes, commit_tables};
use crate::error::{Result, already_exists, invalid, not_found};
use crate::ops::refs::check_ref_name;
use crate::results::CommitInfo;
use crate::scope::Scope;
use crate::table::{LoadedTable, TableVersion};

/// Every table of the warehouse, loaded.
async fn all_tables(scope: &Scope) -> Result<Vec<LoadedTable>> {
    let mut out = Vec::new();
    for ident in table_idents(scope).await? {
        match scope.load_table(&ident).await {
            Ok(table) => out.push(table),
            // Dropped meanwhile.
            Err(e) if e.is_table_not_found() => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Every table of the warehouse, by name.
pub(crate) async fn table_idents(scope: &Scope) -> Result<Vec<TableIdent>> {
    let mut out = Vec::new();
    for (namespace, tables) in scope.engine().catalog().list_all_tables().await? {
        out.extend(
            tables
                .into_iter()
                .map(|name| TableIdent::new(namespace.clone(), name)),
        );
    }
    Ok(out)
}

/// Every warehouse branch with its tables; `main` always.
pub(crate) async fn branch_tables(scope: &Scope) -> Result<BTreeMap<String, Vec<TableIdent>>> {
    Ok(branch_views(scope)
        .await?
        .into_iter()
        .map(|(branch, tables)| (branch, tables.iter().map(|t| t.ident().clone()).collect()))
        .collect())
}

/// Every branch of the warehouse (`main` always), with each table on it
/// as the branch's head sees it; every table is loaded once.
pub(crate) async fn branch_views(scope: &Scope) -> Result<BTreeMap<String, Vec<LoadedTable>>> {
    let mut out: BTreeMap<String, Vec<LoadedTable>> = BTreeMap::new();
    out.insert(MAIN_BRANCH.to_string(), Vec::new());
    for table in all_tables(scope).await? {
        let mut branches = table.branches()?;
        if table.exists_on(MAIN_BRANCH)? && !branches.iter().any(|b| b == MAIN_BRANCH) {
            branches.push(MAIN_BRANCH.to_string());
        }
        for branch in branches {
            let view = table.with_version(TableVersion::Branch(branch.clone()));
            out.entry(branch).or_default().push(view);
        }
    }
    Ok(out)
}

/// Whether `branch` exists in the warehouse (`main` always does).
pub(crate) async fn branch_exists(scope: &Scope, branch: &str) -> Result<bool> {
    Ok(branch == MAIN_BRANCH || branch_tables(scope).await?.contains_key(branch))
}

/// `USE BRANCH name`: the session's reads and writes go to `name`.
pub(crate) async fn use_branch(scope: &Scope, name: &str) -> Result<()> {
    scope.refuse_in_transaction("USE BRANCH")?;
    if !branch_exists(scope, name).await? {
        return Err(not_found!(
            "there is no branch '{name}' in the warehouse (CREATE BRANCH {name} makes it)"
        ));
    }
    let branch = (name != MAIN_BRANCH).then(|| name.to_string());
    scope.update_settings(|s| s.branch = branch)
}

/// `SHOW BRANCHES`: `(branch, tables, current)`.
pub(crate) async fn show(scope: &Scope) -> Result<RecordBatch> {
    let branches = branch_tables(scope).await?;
    let current = scope.branch()?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("branch", DataType::Utf8, false),
        Field::new("tables", DataType::Int64, false),
        Field::new("current", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(branches.keys())),
        Arc::new(Int64Array::from_iter_values(
            branches.values().map(|t| t.len() as i64),
        )),
        Arc::new(StringArray::from_iter_values(
            branches
                .keys()
                .map(|b| if *b == current { "*" } else { "" }),
        )),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// The change `CREATE BRANCH name FROM from` makes to one table.
async fn create_in(
    scope: &Scope,
    table: &LoadedTable,
    name: &str,
    from: &str,
) -> Result<Option<TableChange>> {
    if !table.exists_on(from)? {
        return Ok(None);
    }
    if table.refs()?.contains_key(name) {
        return Err(already_exists!(
            "cannot create branch '{name}': table '{}' already has a branch or tag of that name",
            table.ident()
        ));
    }
    let builder = TableMetadata::clone(table.metadata()).into_builder(None);
    let head = table.refs()?.get(from).map(|r| r.snapshot_id);
    let builder = match head {
        Some(snapshot_id) => builder.set_ref(
            name,
            SnapshotReference::new(snapshot_id, SnapshotRetention::branch(None, None, None)),
        )?,
        // No snapshot on `from` yet: the branch starts empty.
        None => add_empty_branch(scope.engine(), table.metadata(), builder, name).await?,
    };
    Ok(changes(builder)?.map(TableChange::Update))
}

pub(crate) async fn create(
    scope: &Scope,
    name: &str,
    from: &str,
    if_not_exists: bool,
) -> Result<Vec<CommitInfo>> {
    scope.refuse_in_transaction("CREATE BRANCH")?;
    check_ref_name(name, RefKind::Branch)?;
    let branches = branch_tables(scope).await?;
    if branches.contains_key(name) {
        if if_not_exists {
            return Ok(Vec::new());
        }
        return Err(already_exists!(
            "branch '{name}' already exists (in {} table(s)); DROP BRANCH {name} first",
            branches[name].len()
        ));
    }
    let Some(on_from) = branches.get(from) else {
        return Err(not_found!("there is no branch '{from}' to branch from"));
    };
    if on_from.is_empty() {
        return Err(invalid!(
            "branch '{from}' has no tables: create a table before branching the warehouse"
        ));
    }
    let tables = table_idents(scope).await?;
    let (committed, _) = commit_tables(&scope.target()?, &tables, |table| async move {
        create_in(scope, &table, name, from).await
    })
    .await?;
    Ok(committed
        .iter()
        .map(|table| CommitInfo::of(table, name, false))
        .collect())
}

/// Whether `branch` is the only branch the table exists on.
fn only_on(table: &LoadedTable, branch: &str) -> Result<bool> {
    let others = table.branches()?.into_iter().any(|b| b != branch);
    Ok(!others && !table.exists_on(MAIN_BRANCH)?)
}

/// `DROP BRANCH name`: the branch leaves every table, and the tables that
/// existed only on it leave the catalog, in one commit.
pub(crate) async fn drop_branch(
    scope: &Scope,
    name: &str,
    if_exists: bool,
) -> Result<Vec<CommitInfo>> {
    scope.refuse_in_transaction("DROP BRANCH")?;
    if name == MAIN_BRANCH {
        return Err(invalid!(
            "cannot drop branch 'main': it is the warehouse's own"
        ));
    }
    if scope.branch()? == name {
        return Err(invalid!(
            "cannot drop branch '{name}': this session is on it (USE BRANCH main first)"
        ));
    }
    if !branch_exists(scope, name).await? {
        if if_exists {
            return Ok(Vec::new());
        }
        return Err(not_found!("there is no branch '{name}' in the warehouse"));
    }
    let tables = table_idents(scope).await?;
    let (updated, dropped) = commit_tables(&scope.target()?, &tables, |table| async move {
        if !table.branches()?.iter().any(|b| b == name) {
            return Ok(None);
        }
        if only_on(&table, name)? {
            return Ok(Some(TableChange::Drop));
        }
        let builder = TableMetadata::clone(table.metadata())
            .into_builder(None)
            .remove_ref(name);
        Ok(changes(builder)?.map(TableChange::Update))
    })
    .await?;
    let mut changed: Vec<TableIdent> = updated
        .iter()
        .map(|t| t.ident().clone())
        .chain(dropped)
        .collect();
    changed.sort();
    Ok(changed
        .into_iter()
        .map(|table| CommitInfo::removed(table, name))
        .collect())
}
