//! [`Scope`]: what the statements of one session see of the engine: its
//! warehouse branch, its settings and its staged (uncommitted) writes.
//!
//! Every operation takes a scope. A session has one; a branch merge makes
//! a private one ([`Scope::private`]) so that its commits are staged in a
//! place of their own, never in the session's transaction. Clones of a
//! scope share its state: they are the same session.

use std::sync::{Arc, RwLock};

use floe_catalog::TableIdent;
use iceberg::spec::MAIN_BRANCH;

use crate::commit::{Staging, StagingSlot, Target};
use crate::engine::Engine;
use crate::error::{FloeError, Result, invalid, not_found, unsupported};
use crate::table::{LoadedTable, VersionSpec};

/// Floe's settings of one session (`SET floe.<key> = ...`, `USE BRANCH`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionSettings {
    /// `floe.wap_id`: with `write.wap.enabled`, writes to `main` are staged
    /// under this id until published.
    pub wap_id: Option<String>,
    /// `USE BRANCH b`: the warehouse branch every read and write of the
    /// session goes to (`None`: `main`).
    pub branch: Option<String>,
}

impl SessionSettings {
    /// The session's branch.
    pub fn branch(&self) -> &str {
        self.branch.as_deref().unwrap_or(MAIN_BRANCH)
    }
}

#[derive(Debug, Default)]
struct ScopeState {
    settings: RwLock<SessionSettings>,
    /// The open transaction's staged tables.
    staging: StagingSlot,
}

/// The engine as one session sees it.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    engine: Engine,
    state: Arc<ScopeState>,
}

impl Scope {
    /// A new session's scope: `main`, no settings, no transaction.
    pub(crate) fn new(engine: Engine) -> Self {
        Self {
            engine,
            state: Arc::default(),
        }
    }

    /// A scope of its own with the same branch and an open staging area:
    /// what a branch merge commits through. `floe.wap_id` does not apply
    /// to it: a merge moves the branch it merges into.
    pub(crate) fn private(&self) -> Result<Self> {
        let settings = SessionSettings {
            wap_id: None,
            branch: self.settings()?.branch,
        };
        Ok(Self {
            engine: self.engine.clone(),
            state: Arc::new(ScopeState {
                settings: RwLock::new(settings),
                staging: StagingSlot::open(),
            }),
        })
    }

    /// The engine.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The session's settings.
    pub(crate) fn settings(&self) -> Result<SessionSettings> {
        self.state
            .settings
            .read()
            .map(|s| s.clone())
            .map_err(|_| FloeError::poisoned("settings"))
    }

    /// The warehouse branch the session reads and writes.
    pub(crate) fn branch(&self) -> Result<String> {
        Ok(self.settings()?.branch().to_string())
    }

    /// Change the session's settings.
    pub(crate) fn update_settings(&self, change: impl FnOnce(&mut SessionSettings)) -> Result<()> {
        let mut settings = self
            .state
            .settings
            .write()
            .map_err(|_| FloeError::poisoned("settings"))?;
        change(&mut settings);
        Ok(())
    }

    fn staging(&self) -> Result<std::sync::MutexGuard<'_, Option<Staging>>> {
        self.state.staging.lock()
    }

    /// Whether a transaction (or a merge's staging) is open.
    pub(crate) fn in_transaction(&self) -> Result<bool> {
        self.state.staging.is_open()
    }

    /// An error if a transaction is open: `what` (`DROP TABLE`) is not
    /// transactional.
    pub(crate) fn refuse_in_transaction(&self, what: &str) -> Result<()> {
        if self.in_transaction()? {
            return Err(unsupported!(
                "{what} cannot run inside a transaction: only INSERT, DELETE, UPDATE and MERGE \
                 are transactional"
            ));
        }
        Ok(())
    }

    /// `BEGIN`.
    pub(crate) fn begin(&self) -> Result<()> {
        let mut staging = self.staging()?;
        if staging.is_some() {
            return Err(invalid!(
                "a transaction is already open: COMMIT or ROLLBACK it first"
            ));
        }
        *staging = Some(Staging::default());
        Ok(())
    }

    /// `ROLLBACK`: forget what the transaction staged.
    pub(crate) fn rollback(&self) -> Result<()> {
        self.staging()?
            .take()
            .map(|_| ())
            .ok_or_else(|| invalid!("ROLLBACK: no transaction is open"))
    }

    /// `COMMIT`: every table the transaction changed, in one catalog
    /// commit. Returns the tables' new versions.
    pub(crate) async fn commit(&self) -> Result<Vec<LoadedTable>> {
        let staging = self
            .staging()?
            .take()
            .ok_or_else(|| invalid!("COMMIT: no transaction is open"))?;
        staging.commit(&self.engine).await.map_err(|e| match e {
            e if e.is_retryable() => FloeError::Conflict {
                table: conflict_table(&e),
                snapshot: None,
                reason: format!(
                    "another writer committed to it after this transaction wrote it ({}); the \
                     transaction was rolled back",
                    conflict_detail(&e)
                ),
            },
            other => FloeError::RolledBack(Box::new(other)),
        })
    }

    /// Where the session's commits go: its open transaction, if any, else
    /// the catalog; with its `floe.wap_id`.
    pub(crate) fn target(&self) -> Result<Target<'_>> {
        Ok(Target {
            engine: &self.engine,
            staging: &self.state.staging,
            wap_id: self.settings()?.wap_id,
        })
    }

    /// A table's current metadata (inside a transaction that changed it,
    /// the transaction's version), seen at `main`.
    pub(crate) async fn load_table(&self, ident: &TableIdent) -> Result<LoadedTable> {
        self.target()?.load_table(ident).await
    }

    /// Load a table at a version (`None`: the head of the session's
    /// branch, on which the table must exist).
    pub(crate) async fn load_table_at(
        &self,
        ident: &TableIdent,
        version: Option<&VersionSpec>,
    ) -> Result<LoadedTable> {
        let table = self.load_table(ident).await?;
        if let Some(spec) = version {
            return table.at(spec);
        }
        let branch = self.branch()?;
        if !table.exists_on(&branch)? {
            return Err(not_on_branch(&table, &branch)?);
        }
        table.at(&VersionSpec::Branch(branch))
    }
}

/// The table a failed commit names.
fn conflict_table(e: &FloeError) -> String {
    match e.root() {
        FloeError::RequirementFailed(failed) => failed.table.clone(),
        FloeError::Catalog(floe_catalog::CatalogError::CommitConflict { table, .. }) => {
            table.to_string()
        }
        other => other.to_string(),
    }
}

/// What a failed COMMIT lost to, without the table's name or advice.
fn conflict_detail(e: &FloeError) -> String {
    match e.root() {
        FloeError::RequirementFailed(failed) => format!(
            "requirement {} failed: expected {}, found {}",
            failed.requirement, failed.expected, failed.found
        ),
        FloeError::Catalog(floe_catalog::CatalogError::CommitConflict { actual, .. }) => {
            format!("its metadata is now {actual}")
        }
        other => other.to_string(),
    }
}

/// The error for a table that is not on the session's branch.
pub(crate) fn not_on_branch(table: &LoadedTable, branch: &str) -> Result<FloeError> {
    let branches = table.branches()?;
    Ok(not_found!(
        "table '{}' does not exist on branch '{branch}' (it exists on: {})",
        table.ident(),
        if branches.is_empty() {
            "main".to_string()
        } else {
            branches.join(", ")
        }
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[tokio::test]
    async fn a_poisoned_settings_lock_is_an_error_not_main() {
        let engine = Engine::open("memory://poisoned").await.unwrap();
        let scope = Scope::new(engine);
        scope
            .update_settings(|s| s.branch = Some("dev".into()))
            .unwrap();
        assert_eq!(scope.branch().unwrap(), "dev");
        let state = Arc::clone(&scope.state);
        let panicked = std::thread::spawn(move || {
            let _guard = state.settings.write().unwrap();
            panic!("a statement panicked while changing the settings");
        })
        .join();
        assert!(panicked.is_err());
        let err = scope.branch().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert!(
            err.to_string().contains("settings lock is poisoned"),
            "{err}"
        );
        assert!(scope.update_settings(|_| {}).is_err());
    }
}
