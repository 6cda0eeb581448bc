//! Whole-warehouse branches: `CREATE BRANCH x [FROM y]`, `USE BRANCH x`,
//! `SHOW BRANCHES`, `DROP BRANCH x`. A warehouse branch is the Iceberg
//! branch of that name in every table that has one, so other engines see
//! it; creating or dropping one changes every table's metadata in a single
//! catalog commit and copies no data.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use floe_catalog::{CatalogError, PointerSwap, TableIdent};
use iceberg::spec::{MAIN_BRANCH, SnapshotReference, SnapshotRetention, TableMetadata};

use crate::commit::{prepare_metadata, with_empty_branch};
use crate::error::{FloeError, Result, invalid};
use crate::ops::refs::{RefKind, check_ref_name};
use crate::table::LoadedTable;
use crate::warehouse::Warehouse;

/// How often a warehouse-wide commit is retried when a table moved.
const ATTEMPTS: u32 = 10;

/// A whole-warehouse branch statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchStatement {
    /// `CREATE BRANCH [IF NOT EXISTS] x [FROM y]`.
    Create {
        /// The new branch.
        name: String,
        /// The branch it starts from (default: the session's).
        from: Option<String>,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
    },
    /// `DROP BRANCH [IF EXISTS] x`.
    Drop {
        /// The branch.
        name: String,
        /// `IF EXISTS`.
        if_exists: bool,
    },
    /// `USE BRANCH x`.
    Use {
        /// The branch.
        name: String,
    },
    /// `SHOW BRANCHES`.
    Show,
    /// `MERGE BRANCH x [INTO y] [DRY RUN]` (run by the session, which
    /// plans the row-level work).
    Merge(crate::ops::branch_merge::MergeBranch),
}

/// Every table of the warehouse, loaded.
async fn all_tables(warehouse: &Warehouse) -> Result<Vec<LoadedTable>> {
    let catalog = warehouse.catalog();
    let mut out = Vec::new();
    for namespace in catalog.list_namespaces().await? {
        for ident in catalog.list_tables(&namespace).await? {
            match warehouse.load_table(&ident).await {
                Ok(table) => out.push(table),
                // Dropped meanwhile.
                Err(FloeError::Catalog(CatalogError::TableNotFound(_))) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(out)
}

/// Every table of the warehouse, by name.
pub async fn table_idents(warehouse: &Warehouse) -> Result<Vec<TableIdent>> {
    let catalog = warehouse.catalog();
    let mut out = Vec::new();
    for namespace in catalog.list_namespaces().await? {
        out.extend(catalog.list_tables(&namespace).await?);
    }
    Ok(out)
}

/// Every warehouse branch with its number of tables; `main` always.
async fn branch_tables(warehouse: &Warehouse) -> Result<BTreeMap<String, Vec<TableIdent>>> {
    let mut out: BTreeMap<String, Vec<TableIdent>> = BTreeMap::new();
    out.insert(MAIN_BRANCH.to_string(), Vec::new());
    for table in all_tables(warehouse).await? {
        let mut branches = table.branches()?;
        if table.exists_on(MAIN_BRANCH)? && !branches.iter().any(|b| b == MAIN_BRANCH) {
            branches.push(MAIN_BRANCH.to_string());
        }
        for branch in branches {
            out.entry(branch).or_default().push(table.ident().clone());
        }
    }
    Ok(out)
}

/// Whether `branch` exists in the warehouse (`main` always does).
pub async fn branch_exists(warehouse: &Warehouse, branch: &str) -> Result<bool> {
    Ok(branch == MAIN_BRANCH || branch_tables(warehouse).await?.contains_key(branch))
}

/// Run a warehouse branch statement; `SHOW BRANCHES` returns rows.
pub async fn run(
    warehouse: &Warehouse,
    statement: &BranchStatement,
) -> Result<Option<RecordBatch>> {
    match statement {
        BranchStatement::Show => Ok(Some(show(warehouse).await?)),
        BranchStatement::Use { name } => {
            if !branch_exists(warehouse, name).await? {
                return Err(invalid!(
                    "there is no branch '{name}' in the warehouse (CREATE BRANCH {name} makes it)"
                ));
            }
            let branch = (name != MAIN_BRANCH).then(|| name.clone());
            warehouse.update_settings(|s| s.branch = branch)?;
            Ok(None)
        }
        BranchStatement::Create {
            name,
            from,
            if_not_exists,
        } => {
            let from = from
                .clone()
                .unwrap_or_else(|| warehouse.settings().branch().to_string());
            create(warehouse, name, &from, *if_not_exists).await?;
            Ok(None)
        }
        BranchStatement::Drop { name, if_exists } => {
            drop_branch(warehouse, name, *if_exists).await?;
            Ok(None)
        }
        BranchStatement::Merge(_) => Err(FloeError::Internal(
            "MERGE BRANCH is run by the session".into(),
        )),
    }
}

async fn show(warehouse: &Warehouse) -> Result<RecordBatch> {
    let branches = branch_tables(warehouse).await?;
    let current = warehouse.settings().branch().to_string();
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

/// Commit new metadata for several tables in one catalog transaction,
/// recomputing it from fresh metadata when another writer got there first.
/// `change` gives each table's new metadata (`None`: unchanged).
pub(crate) async fn commit_tables<F>(warehouse: &Warehouse, change: F) -> Result<usize>
where
    F: AsyncTableChange,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut swaps: Vec<PointerSwap> = Vec::new();
        for table in all_tables(warehouse).await? {
            if let Some(metadata) = change.change(warehouse, &table).await? {
                let (_, swap) = prepare_metadata(warehouse, &table, metadata).await?;
                swaps.push(swap);
            }
        }
        let changed = swaps.len();
        if swaps.is_empty() {
            return Ok(0);
        }
        match warehouse.catalog().swap(swaps).await {
            Ok(()) => return Ok(changed),
            Err(CatalogError::CommitConflict { .. }) if attempt < ATTEMPTS => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// A per-table metadata change of a warehouse-wide commit.
pub(crate) trait AsyncTableChange {
    /// The table's new metadata, `None` to leave it.
    async fn change(
        &self,
        warehouse: &Warehouse,
        table: &LoadedTable,
    ) -> Result<Option<TableMetadata>>;
}

struct CreateBranch<'a> {
    name: &'a str,
    from: &'a str,
}

impl AsyncTableChange for CreateBranch<'_> {
    async fn change(
        &self,
        warehouse: &Warehouse,
        table: &LoadedTable,
    ) -> Result<Option<TableMetadata>> {
        if !table.exists_on(self.from)? {
            return Ok(None);
        }
        if table.refs()?.contains_key(self.name) {
            return Err(invalid!(
                "cannot create branch '{}': table '{}' already has a branch or tag of that name",
                self.name,
                table.ident()
            ));
        }
        let previous = Some(table.metadata_location().to_string());
        let metadata = TableMetadata::clone(table.metadata());
        let head = table.refs()?.get(self.from).map(|r| r.snapshot_id);
        Ok(Some(match head {
            Some(snapshot_id) => {
                metadata
                    .into_builder(previous)
                    .set_ref(
                        self.name,
                        SnapshotReference::new(
                            snapshot_id,
                            SnapshotRetention::branch(None, None, None),
                        ),
                    )?
                    .build()?
                    .metadata
            }
            // No snapshot on `from` yet: the branch starts empty.
            None => with_empty_branch(warehouse, metadata, previous, self.name).await?,
        }))
    }
}

async fn create(warehouse: &Warehouse, name: &str, from: &str, if_not_exists: bool) -> Result<()> {
    check_ref_name(name, RefKind::Branch)?;
    let branches = branch_tables(warehouse).await?;
    if branches.contains_key(name) {
        if if_not_exists {
            return Ok(());
        }
        return Err(invalid!(
            "branch '{name}' already exists (in {} table(s)); DROP BRANCH {name} first",
            branches[name].len()
        ));
    }
    if !branches.contains_key(from) {
        return Err(invalid!("there is no branch '{from}' to branch from"));
    }
    if branches[from].is_empty() {
        return Err(invalid!(
            "branch '{from}' has no tables: create a table before branching the warehouse"
        ));
    }
    commit_tables(warehouse, CreateBranch { name, from }).await?;
    Ok(())
}

struct DropBranch<'a> {
    name: &'a str,
}

impl AsyncTableChange for DropBranch<'_> {
    async fn change(
        &self,
        _warehouse: &Warehouse,
        table: &LoadedTable,
    ) -> Result<Option<TableMetadata>> {
        if !table.branches()?.iter().any(|b| b == self.name) || only_on(table, self.name)? {
            return Ok(None);
        }
        Ok(Some(
            TableMetadata::clone(table.metadata())
                .into_builder(Some(table.metadata_location().to_string()))
                .remove_ref(self.name)
                .build()?
                .metadata,
        ))
    }
}

/// Whether `branch` is the only branch the table exists on.
fn only_on(table: &LoadedTable, branch: &str) -> Result<bool> {
    let others = table.branches()?.into_iter().any(|b| b != branch);
    Ok(!others && !table.exists_on(MAIN_BRANCH)?)
}

async fn drop_branch(warehouse: &Warehouse, name: &str, if_exists: bool) -> Result<()> {
    if name == MAIN_BRANCH {
        return Err(invalid!(
            "cannot drop branch 'main': it is the warehouse's own"
        ));
    }
    if warehouse.settings().branch() == name {
        return Err(invalid!(
            "cannot drop branch '{name}': this session is on it (USE BRANCH main first)"
        ));
    }
    if !branch_exists(warehouse, name).await? {
        if if_exists {
            return Ok(());
        }
        return Err(invalid!("there is no branch '{name}' in the warehouse"));
    }
    // Tables that exist only on the branch leave the catalog with it.
    let mut only_here: HashMap<TableIdent, String> = HashMap::new();
    for table in all_tables(warehouse).await? {
        if table.branches()?.iter().any(|b| b == name) && only_on(&table, name)? {
            only_here.insert(table.ident().clone(), table.metadata_location().to_string());
        }
    }
    commit_tables(warehouse, DropBranch { name }).await?;
    for table in only_here.keys() {
        warehouse.drop_table(table, false).await?;
    }
    Ok(())
}
