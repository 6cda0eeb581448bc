//! What a run reports as it goes: one [`Event`] per thing that happened,
//! for progress bars in a terminal and JSON lines for schedulers.

use serde::Serialize;

/// One thing that happened in a run. Serialized as a JSON object with an
/// `event` field naming the variant (`"step_finished"`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The plan: every step in order, with what it will do.
    Planned {
        /// The run id (also the suffix of the run branch).
        run_id: String,
        /// The steps.
        steps: Vec<PlannedStep>,
    },
    /// The branch of an earlier run of the pipeline was dropped: one a
    /// killed run left, or one a failed run kept for inspection (kept
    /// until the next run, which redoes its work).
    StaleBranchDropped {
        /// The branch.
        branch: String,
        /// Why it was there (`left by a run that was killed`, `kept by run
        /// <id> (checks failed)`).
        reason: String,
    },
    /// The run branch was created; every write goes there.
    BranchCreated {
        /// The branch.
        branch: String,
    },
    /// A step began.
    StepStarted {
        /// Its file.
        step: String,
        /// The table it writes.
        table: String,
        /// Units of work (source objects), where known.
        total: Option<u64>,
    },
    /// A step did one unit of work (one source object).
    StepProgress {
        /// Its file.
        step: String,
        /// Units done.
        done: u64,
        /// Units in all.
        total: u64,
        /// The object just read.
        object: String,
    },
    /// A step ended.
    StepFinished {
        /// Its file.
        step: String,
        /// The table it wrote.
        table: String,
        /// `ingest`, `incremental`, `full` or `up to date`.
        action: String,
        /// Rows read from sources or upstream tables.
        rows_read: u64,
        /// Rows written to the table.
        rows_written: u64,
        /// Rows sent to the quarantine table.
        rows_quarantined: u64,
        /// The table's snapshot after the step, on the run branch.
        snapshot_id: Option<i64>,
        /// How long the step took, in milliseconds.
        elapsed_ms: u64,
    },
    /// A check was evaluated on the run branch.
    CheckFinished {
        /// The model's file.
        step: String,
        /// The check as written.
        check: String,
        /// `check` (blocking) or `warn`.
        blocking: bool,
        /// Rows that fail it (for `row_count`, 1 when it fails).
        failing_rows: u64,
    },
    /// Every table moved to `main` in one commit.
    Published {
        /// The run branch, now dropped.
        branch: String,
        /// The tables that changed on `main`.
        tables: Vec<String>,
    },
    /// The run ended.
    RunFinished {
        /// The run id.
        run_id: String,
        /// `success`, `up_to_date`, `dry_run`, `checks_failed` or `failed`.
        status: String,
        /// The failing checks or the error.
        error: Option<String>,
        /// The run branch kept for inspection, if the run failed.
        branch: Option<String>,
        /// Wall time of the run in milliseconds.
        elapsed_ms: u64,
    },
}

/// One step of the plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedStep {
    /// Its file.
    pub step: String,
    /// `source` or the model's mode.
    pub kind: String,
    /// The table it writes.
    pub table: String,
    /// What it will do (`ingest 2 new objects`, `up to date`).
    pub action: String,
    /// What it will read: new objects, or upstream tables with the
    /// snapshots since which it reads them.
    pub reads: Vec<String>,
}

/// Where a run's events go.
pub trait Observer: Send + Sync {
    /// Called for every event, in order, from the running task.
    fn event(&self, event: &Event);
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl Observer for Quiet {
    fn event(&self, _event: &Event) {}
}

impl<F: Fn(&Event) + Send + Sync> Observer for F {
    fn event(&self, event: &Event) {
        self(event)
    }
}
