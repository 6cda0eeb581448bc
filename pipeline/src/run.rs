//! A run: plan from what `main` holds, write every step on a run branch,
//! check, and publish every table to `main` in one commit, or nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use arrow::array::RecordBatch;
use chrono::{DateTime, Utc};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use floe_engine::{Engine, ErrorKind, FloeError, LoadedTable, Session, TableIdent};

use crate::checks::{self, CheckResult};
use crate::dag::{Dag, Step};
use crate::error::{PipelineError, Result, StepContext};
use crate::events::{Event, Observer, PlannedStep};
use crate::lock::PipelineLock;
use crate::source::{self, ObjectInfo, RawRows};
use crate::spec::{Mode, Model, OnNewColumns, Pipeline, Source};
use crate::sql::{literal, quote, quote_table};
use crate::state::{self, LedgerEntry, ModelState, RunRecord, TableRecord};

/// How to run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Plan and report; change nothing.
    pub dry_run: bool,
    /// Recompute every model from all of its upstream rows. Sources still
    /// ingest only new objects: bronze is the raw record.
    pub full_refresh: bool,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every table was published to `main`.
    Success,
    /// Nothing was new: nothing was committed.
    UpToDate,
    /// A dry run: the plan only.
    DryRun,
    /// A blocking check failed: `main` is untouched, the run branch kept
    /// until the next run.
    ChecksFailed,
    /// A step or the publish failed: `main` is untouched, the run branch
    /// kept.
    Failed,
}

impl RunStatus {
    /// The status as `floe.pipeline_runs` records it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::UpToDate => "up_to_date",
            Self::DryRun => "dry_run",
            Self::ChecksFailed => "checks_failed",
            Self::Failed => "failed",
        }
    }
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StepReport {
    /// The step's file.
    pub step: String,
    /// The table it wrote.
    pub table: String,
    /// `ingest`, `incremental`, `full` or `up to date`.
    pub action: String,
    /// Rows read from source objects or upstream tables.
    pub rows_read: u64,
    /// Rows written to the table.
    pub rows_written: u64,
    /// Rows sent to quarantine.
    pub rows_quarantined: u64,
    /// The table's snapshot after the step.
    pub snapshot_id: Option<i64>,
    /// How long the step took, in milliseconds.
    pub elapsed_ms: u64,
}

/// What a run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunReport {
    /// The run id; the run branch is `run_<id>`.
    pub run_id: String,
    /// How it ended.
    pub status: RunStatus,
    /// The plan it followed.
    pub plan: Vec<PlannedStep>,
    /// The steps it ran.
    pub steps: Vec<StepReport>,
    /// The checks it evaluated.
    pub checks: Vec<CheckResult>,
    /// The error or the failing checks, if it failed.
    pub error: Option<String>,
    /// The run branch it kept, if it failed.
    pub branch: Option<String>,
    /// The tables it published to `main`.
    pub published: Vec<String>,
}

/// `name` as a branch and file name: lowercase letters, digits and `_`.
pub(crate) fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The run branch of run `run_id`.
pub fn run_branch(run_id: &str) -> String {
    format!("run_{run_id}")
}

/// Whether `branch` is a run branch of `pipeline`, and its run id.
fn run_id_of(branch: &str, pipeline: &str) -> Option<String> {
    let id = branch.strip_prefix("run_")?;
    let rest = id.strip_prefix(&format!("{}_", sanitize(pipeline)))?;
    // <yyyymmdd>t<hhmmss>_<4 hex>
    let shaped = rest.len() == 20
        && rest.as_bytes()[8] == b't'
        && rest.as_bytes()[15] == b'_'
        && rest[..8].bytes().all(|b| b.is_ascii_digit())
        && rest[9..15].bytes().all(|b| b.is_ascii_digit())
        && rest[16..].bytes().all(|b| b.is_ascii_hexdigit());
    shaped.then(|| id.to_string())
}

fn new_run_id(pipeline: &str, now: DateTime<Utc>) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "{}_{}_{}",
        sanitize(pipeline),
        now.format("%Y%m%dt%H%M%S"),
        &random[..4]
    )
}

/// FNV-1a of the model's SELECT, mode and checks: a changed model
/// recomputes in full, and is checked in full.
fn model_hash(model: &Model) -> String {
    let checks: Vec<String> = model
        .checks
        .iter()
        .map(|c| format!("{}: {}", if c.blocking { "check" } else { "warn" }, c.text))
        .collect();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in format!("{}\n{}\n{}", model.mode, model.select, checks.join("\n")).bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// What the plan says a step will do.
#[derive(Debug, Clone)]
enum Work {
    /// Ingest these objects.
    Ingest(Vec<ObjectInfo>),
    /// Create the declared table, with no rows yet.
    CreateEmpty,
    /// Compute the model; whether incrementally is decided when it runs.
    Compute,
    /// Nothing to do.
    UpToDate,
}

/// Rows in a buffer before they are appended as one snapshot.
const FLUSH_ROWS: usize = 1 << 20;

/// The row-level write modes a `merge` model's target is created with.
const MERGE_TARGET_MODES: [&str; 3] =
    ["write.delete.mode", "write.update.mode", "write.merge.mode"];

/// Run `pipeline` on `engine`'s warehouse, reporting to `observer`.
///
/// Errors are for a pipeline that cannot run at all (its lock is held, its
/// state cannot be read). A run that fails (a step, a check, the publish)
/// returns a report with [`RunStatus::Failed`] or
/// [`RunStatus::ChecksFailed`], after recording it on `main`.
pub async fn run(
    engine: &Engine,
    pipeline: &Pipeline,
    options: RunOptions,
    observer: &dyn Observer,
) -> Result<RunReport> {
    let dag = Dag::build(pipeline)?;
    let started = Utc::now();
    let clock = Instant::now();
    let run_id = new_run_id(&pipeline.name, started);
    let branch = run_branch(&run_id);
    let main = engine.session();
    let mut runner = Runner {
        engine,
        pipeline,
        dag,
        observer,
        options,
        run_id,
        branch,
        started,
        clock,
        main,
        records: Vec::new(),
        steps: Vec::new(),
        written: HashMap::new(),
        key_tables: Default::default(),
    };
    if options.dry_run {
        let plan = runner.plan(false).await?;
        return Ok(runner.finish(RunStatus::DryRun, plan.0, Vec::new(), None, false));
    }
    let lock = PipelineLock::acquire(engine, &pipeline.name, &runner.run_id).await?;
    // The run's future is large: keep it on the heap, not the caller's stack.
    let outcome = Box::pin(runner.run_locked()).await;
    lock.release().await?;
    outcome
}

struct Runner<'a> {
    engine: &'a Engine,
    pipeline: &'a Pipeline,
    dag: Dag,
    observer: &'a dyn Observer,
    options: RunOptions,
    run_id: String,
    branch: String,
    started: DateTime<Utc>,
    clock: Instant,
    main: Session,
    records: Vec<TableRecord>,
    steps: Vec<StepReport>,
    /// What each step of this run wrote incrementally: its checks read
    /// only those rows, and models downstream find their changed keys
    /// among them.
    written: HashMap<String, crate::model::Written>,
    /// The session tables of the keys merge steps replaced.
    key_tables: crate::model::KeyTables,
}

/// What the planner learnt, for the run.
struct Planned {
    work: BTreeMap<Step, Work>,
    states: HashMap<String, ModelState>,
}

impl Runner<'_> {
    fn emit(&self, event: Event) {
        self.observer.event(&event);
    }

    fn finish(
        &self,
        status: RunStatus,
        plan: Vec<PlannedStep>,
        checks: Vec<CheckResult>,
        error: Option<String>,
        keep_branch: bool,
    ) -> RunReport {
        let branch = keep_branch.then(|| self.branch.clone());
        self.emit(Event::RunFinished {
            run_id: self.run_id.clone(),
            status: status.as_str().to_string(),
            error: error.clone(),
            branch: branch.clone(),
            elapsed_ms: self.clock.elapsed().as_millis() as u64,
        });
        RunReport {
            run_id: self.run_id.clone(),
            status,
            plan,
            steps: self.steps.clone(),
            checks,
            error,
            branch,
            published: Vec::new(),
        }
    }

    async fn run_locked(&mut self) -> Result<RunReport> {
        state::ensure_tables(&self.main).await?;
        self.drop_stale_branches().await?;
        let (plan, planned) = self.plan(true).await?;
        if planned.work.values().all(|w| matches!(w, Work::UpToDate)) {
            return Ok(self.finish(RunStatus::UpToDate, plan, Vec::new(), None, false));
        }
        self.main
            .create_branch(&self.branch, Some("main"))
            .await
            .step(|| format!("creating the run branch {}", self.branch))?;
        self.emit(Event::BranchCreated {
            branch: self.branch.clone(),
        });
        let run = self.engine.session();
        run.use_branch(&self.branch).await?;

        let mut written = Vec::new();
        for step in self.dag.order.clone() {
            let work = planned.work.get(&step).cloned().unwrap_or(Work::UpToDate);
            let outcome = match (step, work) {
                (_, Work::UpToDate) => continue,
                (Step::Source(i), Work::Ingest(objects)) => {
                    Box::pin(self.ingest(&run, &self.pipeline.sources[i], &objects)).await
                }
                (Step::Source(i), _) => {
                    Box::pin(self.create_source_table(&run, &self.pipeline.sources[i], None))
                        .await
                        .map(|_| ())
                }
                (Step::Model(i), _) => {
                    Box::pin(self.compute(&run, &self.pipeline.models[i], &planned.states)).await
                }
            };
            if let Err(error) = outcome {
                let message = format!("{}: {error}", step.file(self.pipeline));
                self.record_failure(RunStatus::Failed, &message).await?;
                return Ok(self.finish(RunStatus::Failed, plan, Vec::new(), Some(message), true));
            }
            written.push(step);
        }

        // Audit: every check of every model written, on the run branch.
        let mut results = Vec::new();
        for step in &written {
            let Step::Model(i) = step else { continue };
            let model = &self.pipeline.models[*i];
            for check in &model.checks {
                let new_rows = self
                    .written
                    .get(&model.target.to_string())
                    .map(|w| w.new_rows(&model.target));
                let result = match checks::evaluate(&run, model, check, new_rows.as_deref()).await {
                    Ok(result) => result,
                    Err(error) => {
                        let message = format!(
                            "{} line {}: check `{}`: {error}",
                            model.file, check.line, check.text
                        );
                        self.record_failure(RunStatus::Failed, &message).await?;
                        return Ok(self.finish(
                            RunStatus::Failed,
                            plan,
                            results,
                            Some(message),
                            true,
                        ));
                    }
                };
                self.emit(Event::CheckFinished {
                    step: model.file.clone(),
                    check: check.text.clone(),
                    blocking: check.blocking,
                    failing_rows: result.failing_rows,
                });
                results.push(result);
            }
        }
        let failed: Vec<&CheckResult> = results
            .iter()
            .filter(|r| r.blocking && r.failing_rows > 0)
            .collect();
        if !failed.is_empty() {
            let message = failed
                .iter()
                .map(|r| {
                    format!(
                        "{} line {}: `{}` failed for {} row(s)",
                        r.step, r.line, r.check, r.failing_rows
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            self.record_failure(RunStatus::ChecksFailed, &message)
                .await?;
            return Ok(self.finish(RunStatus::ChecksFailed, plan, results, Some(message), true));
        }

        // Publish: the run's record joins its data, and every table moves
        // to main in one catalog commit.
        let record = self.record(RunStatus::Success, None, None);
        state::record_run(&run, &record, &self.records).await?;
        let merged = self
            .main
            .merge_branch(&self.branch, Some("main"), false)
            .await;
        let merged = match merged {
            Ok(report) => report,
            Err(error) => {
                let message = format!("publishing to main failed, nothing was published: {error}");
                self.record_failure(RunStatus::Failed, &message).await?;
                return Ok(self.finish(RunStatus::Failed, plan, results, Some(message), true));
            }
        };
        let published: Vec<String> = merged
            .committed
            .iter()
            .map(|c| c.table.to_string())
            .collect();
        self.main
            .drop_branch(&self.branch, true)
            .await
            .step(|| format!("dropping the run branch {}", self.branch))?;
        self.emit(Event::Published {
            branch: self.branch.clone(),
            tables: published.clone(),
        });
        let mut report = self.finish(RunStatus::Success, plan, results, None, false);
        report.published = published;
        Ok(report)
    }

    fn record(
        &self,
        status: RunStatus,
        error: Option<String>,
        branch: Option<String>,
    ) -> RunRecord {
        let sum = |f: fn(&StepReport) -> u64| self.steps.iter().map(f).sum();
        RunRecord {
            run_id: self.run_id.clone(),
            pipeline: self.pipeline.name.clone(),
            started_at: self.started,
            ended_at: Utc::now(),
            status: status.as_str().to_string(),
            error,
            branch,
            rows_read: sum(|s| s.rows_read),
            rows_written: sum(|s| s.rows_written),
            rows_quarantined: sum(|s| s.rows_quarantined),
        }
    }

    /// Record a failed run on `main` (its data is not published; its
    /// branch is kept).
    async fn record_failure(&self, status: RunStatus, message: &str) -> Result<()> {
        let record = self.record(status, Some(message.to_string()), Some(self.branch.clone()));
        state::record_run(&self.main, &record, &self.records).await
    }

    /// Drop the run branches earlier runs of this pipeline left: a killed
    /// run's, one that published but was killed before it dropped its
    /// branch, and a failed run's, kept for inspection until this run,
    /// which redoes its work. (A table a failed run created exists only on
    /// its branch, and would stand in this run's way.)
    async fn drop_stale_branches(&self) -> Result<()> {
        let recorded = state::recorded_runs(&self.main, &self.pipeline.name).await?;
        let branches = self.main.branches().await?;
        for branch in branches.keys() {
            let Some(run_id) = run_id_of(branch, &self.pipeline.name) else {
                continue;
            };
            let reason = match recorded.get(&run_id).map(String::as_str) {
                None => "left by a run that was killed".to_string(),
                Some("success") => "left by a run that published".to_string(),
                Some(status) => format!("kept by run {run_id} ({})", status.replace('_', " ")),
            };
            self.main
                .drop_branch(branch, true)
                .await
                .step(|| format!("dropping the run branch {branch} of an earlier run"))?;
            self.emit(Event::StaleBranchDropped {
                branch: branch.clone(),
                reason,
            });
        }
        Ok(())
    }

    /// The table `ident` on the session's branch, if it exists.
    async fn table(session: &Session, ident: &TableIdent) -> Result<Option<LoadedTable>> {
        match session.table(&ident.to_string()).await {
            Ok(table) => Ok(Some(table)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Decide what each step does, from `main`. With `state`, the runner's
    /// tables exist (a dry run may find none).
    async fn plan(&self, state_exists: bool) -> Result<(Vec<PlannedStep>, Planned)> {
        let state_exists = state_exists || state::tables_exist(&self.main).await?;
        let (ledger, states) = if state_exists {
            (
                state::ledger(&self.main, &self.pipeline.name).await?,
                state::model_states(&self.main, &self.pipeline.name).await?,
            )
        } else {
            Default::default()
        };
        let mut work = BTreeMap::new();
        let mut steps = Vec::new();
        let mut changing: BTreeSet<TableIdent> = BTreeSet::new();
        for &step in &self.dag.order {
            let (kind, action, reads, plan) = match step {
                Step::Source(i) => {
                    let source = &self.pipeline.sources[i];
                    let objects = source::list_objects(self.engine, &source.glob).await?;
                    let seen = ledger.get(&source.name);
                    let new: Vec<ObjectInfo> = objects
                        .into_iter()
                        .filter(|o| {
                            let key = state::object_key(
                                &o.location,
                                o.size,
                                o.etag.as_deref(),
                                o.modified.timestamp_micros(),
                            );
                            !seen.is_some_and(|s| s.contains(&key))
                        })
                        .collect();
                    let exists = Self::table(&self.main, &source.table).await?.is_some();
                    let reads: Vec<String> = new.iter().map(|o| o.location.clone()).collect();
                    if !new.is_empty() {
                        let action = format!("ingest {} new object(s)", new.len());
                        ("source".to_string(), action, reads, Work::Ingest(new))
                    } else if !exists && !source.columns.is_empty() {
                        (
                            "source".into(),
                            "create the empty table".into(),
                            reads,
                            Work::CreateEmpty,
                        )
                    } else {
                        ("source".into(), "up to date".into(), reads, Work::UpToDate)
                    }
                }
                Step::Model(i) => {
                    let model = &self.pipeline.models[i];
                    let target = Self::table(&self.main, &model.target).await?;
                    let state = states.get(&model.target.to_string());
                    let mut reads = Vec::new();
                    let mut changed = false;
                    for upstream in &model.reads {
                        let name = upstream.to_string();
                        let before = state.and_then(|s| s.inputs.get(&name)).copied().flatten();
                        if changing.contains(upstream) {
                            changed = true;
                            reads.push(format!("{name}: new rows from this run"));
                            continue;
                        }
                        let now = Self::table(&self.main, upstream)
                            .await?
                            .and_then(|t| t.snapshot_id());
                        let recorded = state.map(|s| s.inputs.get(&name).copied().flatten());
                        if recorded != Some(now) {
                            changed = true;
                            match (before, now) {
                                (Some(b), Some(n)) => reads
                                    .push(format!("{name}: changes since snapshot {b} (now {n})")),
                                (_, Some(n)) => {
                                    reads.push(format!("{name}: all rows (snapshot {n})"))
                                }
                                (_, None) => reads.push(format!("{name}: no rows yet")),
                            }
                        }
                    }
                    let full = if self.options.full_refresh {
                        Some("recompute in full (--full-refresh)")
                    } else if target.is_none() {
                        Some("create the table")
                    } else if state.is_none() {
                        Some("recompute in full (no earlier run)")
                    } else if state.is_some_and(|s| s.model_hash != model_hash(model)) {
                        Some("recompute in full (the model changed)")
                    } else {
                        None
                    };
                    let (action, plan) = match (full, changed) {
                        (Some(action), _) => (action.to_string(), Work::Compute),
                        (None, true) => {
                            let action = match model.mode {
                                crate::spec::Mode::Append => {
                                    "append what the upstream tables gained"
                                }
                                crate::spec::Mode::Merge(_) => {
                                    "recompute the keys whose upstream rows changed"
                                }
                                crate::spec::Mode::Overwrite => "recompute (an upstream changed)",
                            };
                            (action.to_string(), Work::Compute)
                        }
                        (None, false) => ("up to date".to_string(), Work::UpToDate),
                    };
                    (model.mode.to_string(), action, reads, plan)
                }
            };
            if !matches!(plan, Work::UpToDate) {
                changing.insert(step.target(self.pipeline).clone());
            }
            steps.push(PlannedStep {
                step: step.file(self.pipeline).to_string(),
                kind,
                table: step.target(self.pipeline).to_string(),
                action,
                reads,
            });
            work.insert(step, plan);
        }
        self.emit(Event::Planned {
            run_id: self.run_id.clone(),
            steps: steps.clone(),
        });
        Ok((steps, Planned { work, states }))
    }

    fn step_finished(&mut self, report: StepReport, record: TableRecord) {
        self.emit(Event::StepFinished {
            step: report.step.clone(),
            table: report.table.clone(),
            action: report.action.clone(),
            rows_read: report.rows_read,
            rows_written: report.rows_written,
            rows_quarantined: report.rows_quarantined,
            snapshot_id: report.snapshot_id,
            elapsed_ms: report.elapsed_ms,
        });
        self.steps.push(report);
        self.records.push(record);
    }

    async fn ensure_namespace(session: &Session, table: &TableIdent) -> Result<()> {
        let namespace = table
            .namespace()
            .iter()
            .map(|p| quote(p))
            .collect::<Vec<_>>()
            .join(".");
        session
            .sql(&format!("CREATE SCHEMA IF NOT EXISTS {namespace}"))
            .await?;
        Ok(())
    }

    /// The `TBLPROPERTIES` of a table the pipeline creates: `[defaults]`,
    /// and for the target of a `merge` model, merge-on-read row-level
    /// writes unless `[defaults]` says otherwise. A merge step deletes
    /// the rows of the keys that changed, which are spread over the whole
    /// table: copy-on-write would rewrite every file each run, where
    /// merge-on-read writes a small position delete file per file.
    fn properties(&self, mode: Option<&Mode>) -> String {
        let mut properties = self.pipeline.defaults.properties.clone();
        if matches!(mode, Some(Mode::Merge(_))) {
            for key in MERGE_TARGET_MODES {
                properties
                    .entry(key.to_string())
                    .or_insert_with(|| "merge-on-read".to_string());
            }
        }
        if properties.is_empty() {
            return String::new();
        }
        let pairs: Vec<String> = properties
            .iter()
            .map(|(k, v)| format!("{} = {}", literal(k), literal(v)))
            .collect();
        format!(" TBLPROPERTIES ({})", pairs.join(", "))
    }

    /// Create a source's table and its quarantine table: with the declared
    /// columns, or with `inferred` ones.
    async fn create_source_table(
        &self,
        run: &Session,
        source: &Source,
        inferred: Option<Vec<(String, String)>>,
    ) -> Result<LoadedTable> {
        let context = || format!("creating {}", source.table);
        Self::ensure_namespace(run, &source.table).await?;
        let columns: Vec<String> = match inferred {
            Some(columns) => columns
                .iter()
                .map(|(n, t)| format!("{} {t}", quote(n)))
                .collect(),
            None => source
                .columns
                .iter()
                .map(|c| {
                    format!(
                        "{} {}{}",
                        quote(&c.name),
                        c.sql_type,
                        if c.not_null { " NOT NULL" } else { "" }
                    )
                })
                .collect(),
        };
        let partitioned = if source.partitioned_by.is_empty() {
            String::new()
        } else {
            format!(" PARTITIONED BY ({})", source.partitioned_by.join(", "))
        };
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {} ({}){partitioned}{}",
            quote_table(&source.table),
            columns.join(", "),
            self.properties(None)
        );
        run.sql(&ddl).await.step(context)?;
        run.sql(&state::quarantine_ddl(&source.quarantine_table()))
            .await
            .step(context)?;
        run.table(&source.table.to_string()).await.step(context)
    }

    async fn ingest(
        &mut self,
        run: &Session,
        source: &Source,
        objects: &[ObjectInfo],
    ) -> Result<()> {
        let started = Instant::now();
        let name = source.table.to_string();
        self.emit(Event::StepStarted {
            step: source.file.clone(),
            table: name.clone(),
            total: Some(objects.len() as u64),
        });
        let declared: Vec<String> = source.columns.iter().map(|c| c.name.clone()).collect();
        let mut table = match Self::table(run, &source.table).await? {
            Some(table) => Some(table),
            None if !declared.is_empty() => {
                Some(self.create_source_table(run, source, None).await?)
            }
            None => None,
        };
        let mut buffer: Vec<RecordBatch> = Vec::new();
        let mut buffered = 0;
        let mut quarantine = Vec::new();
        let mut entries = Vec::new();
        let (mut read, mut written) = (0u64, 0u64);
        for (done, object) in objects.iter().enumerate() {
            let bytes = source::read_object(self.engine, &object.location).await?;
            let rows = RawRows::parse(
                &object.location,
                bytes,
                source.format,
                &source.options,
                &declared,
            )?;
            let names = rows.column_names();
            let current = match table.take() {
                Some(table) => table,
                None => {
                    let inferred = source::infer_columns(&rows, &names);
                    self.create_source_table(run, source, Some(inferred))
                        .await?
                }
            };
            let schema = current.arrow_schema().step(|| format!("reading {name}"))?;
            let new: Vec<String> = names
                .iter()
                .filter(|n| {
                    schema
                        .fields()
                        .iter()
                        .all(|f| !f.name().eq_ignore_ascii_case(n))
                })
                .cloned()
                .collect();
            let current = if new.is_empty() {
                current
            } else {
                if source.on_new_columns == OnNewColumns::Fail {
                    return Err(PipelineError::source(
                        &object.location,
                        format!(
                            "has column(s) {} that {name} does not (on_new_columns = \"fail\" in {})",
                            new.join(", "),
                            source.file
                        ),
                    ));
                }
                written += Self::flush(run, &name, &mut buffer, &mut buffered).await?;
                for (column, sql_type) in source::infer_columns(&rows, &new) {
                    run.sql(&format!(
                        "ALTER TABLE {} ADD COLUMN {} {sql_type}",
                        quote_table(&source.table),
                        quote(&column)
                    ))
                    .await
                    .step(|| format!("adding column {column} of {} to {name}", object.location))?;
                }
                run.table(&name).await?
            };
            let schema = current.arrow_schema()?;
            let typed = source::type_rows(rows, &schema)?;
            let good = typed.batch.num_rows() as u64;
            let bad = typed.rejected.len() as u64;
            read += good + bad;
            entries.push(LedgerEntry {
                source: source.name.clone(),
                object: object.location.clone(),
                size: object.size,
                etag: object.etag.clone(),
                modified: object.modified,
                table: source.table.clone(),
                rows: good,
                quarantined: bad,
            });
            quarantine.extend(
                typed
                    .rejected
                    .into_iter()
                    .map(|r| (object.location.clone(), r)),
            );
            buffered += typed.batch.num_rows();
            buffer.push(typed.batch);
            if buffered >= FLUSH_ROWS {
                written += Self::flush(run, &name, &mut buffer, &mut buffered).await?;
            }
            table = Some(current);
            self.emit(Event::StepProgress {
                step: source.file.clone(),
                done: done as u64 + 1,
                total: objects.len() as u64,
                object: object.location.clone(),
            });
        }
        written += Self::flush(run, &name, &mut buffer, &mut buffered).await?;
        let quarantined = quarantine.len() as u64;
        state::record_quarantine(run, &source.quarantine_table(), &self.run_id, &quarantine)
            .await?;
        let snapshot_id = run.table(&name).await?.snapshot_id();
        state::record_files(run, &self.pipeline.name, &self.run_id, &entries).await?;
        self.step_finished(
            StepReport {
                step: source.file.clone(),
                table: name,
                action: "ingest".into(),
                rows_read: read,
                rows_written: written,
                rows_quarantined: quarantined,
                snapshot_id,
                elapsed_ms: started.elapsed().as_millis() as u64,
            },
            TableRecord {
                table: source.table.clone(),
                step: source.file.clone(),
                action: "ingest".into(),
                rows_read: read,
                rows_written: written,
                rows_quarantined: quarantined,
                snapshot_id,
                inputs: None,
                model_hash: None,
            },
        );
        Ok(())
    }

    /// Append the buffered batches as one snapshot; the rows appended.
    async fn flush(
        run: &Session,
        table: &str,
        buffer: &mut Vec<RecordBatch>,
        buffered: &mut usize,
    ) -> Result<u64> {
        let rows = *buffered as u64;
        let batches = std::mem::take(buffer);
        *buffered = 0;
        let Some(first) = batches.first() else {
            return Ok(0);
        };
        if rows == 0 {
            return Ok(0);
        }
        let schema = first.schema();
        let stream = RecordBatchStreamAdapter::new(
            schema,
            futures::stream::iter(batches.into_iter().map(Ok)),
        );
        run.append(table, Box::pin(stream))
            .await
            .step(|| format!("appending to {table}"))?;
        Ok(rows)
    }

    async fn compute(
        &mut self,
        run: &Session,
        model: &Model,
        states: &HashMap<String, ModelState>,
    ) -> Result<()> {
        let started = Instant::now();
        let target_name = model.target.to_string();
        self.emit(Event::StepStarted {
            step: model.file.clone(),
            table: target_name.clone(),
            total: None,
        });
        let mut inputs: BTreeMap<String, Option<i64>> = BTreeMap::new();
        let mut upstream: BTreeMap<String, LoadedTable> = BTreeMap::new();
        for read in &model.reads {
            let name = read.to_string();
            let Some(table) = Self::table(run, read).await? else {
                return Err(FloeError::not_found(format!(
                    "it reads {name}, which does not exist{}",
                    if self.dag.producers.contains_key(read) {
                        " yet (its source has no objects)"
                    } else {
                        ""
                    }
                ))
                .into());
            };
            inputs.insert(name.clone(), table.snapshot_id());
            upstream.insert(name, table);
        }
        let hash = model_hash(model);
        let target = Self::table(run, &model.target).await?;
        let state = states.get(&target_name);
        let plan = Box::pin(crate::model::decide(
            model,
            &hash,
            target.as_ref(),
            state,
            &inputs,
            &upstream,
            self.options.full_refresh,
            &self.pipeline.defaults,
            run,
        ))
        .await?;
        let properties = self.properties(Some(&model.mode));
        let (outcome, written) = Box::pin(crate::model::apply(
            run,
            model,
            &self.pipeline.defaults,
            &properties,
            target.as_ref(),
            &plan,
            crate::model::Upstream {
                tables: &upstream,
                written: &self.written,
            },
            &mut self.key_tables,
        ))
        .await
        .map_err(|e| match e {
            PipelineError::Engine(source) => PipelineError::Step {
                context: format!("computing {target_name} ({})", plan.describe()),
                source,
            },
            other => other,
        })?;
        let snapshot_id = run.table(&target_name).await?.snapshot_id();
        let before = target.as_ref().and_then(|t| t.snapshot_id());
        if let Some(written) = written {
            self.written.insert(target_name.clone(), written);
        } else if let (crate::model::Plan::Append { .. }, Some(before), Some(after)) =
            (&plan, before, snapshot_id)
        {
            self.written.insert(
                target_name.clone(),
                crate::model::Written::Appended { before, after },
            );
        }
        self.step_finished(
            StepReport {
                step: model.file.clone(),
                table: target_name,
                action: plan.action().to_string(),
                rows_read: outcome.rows_read,
                rows_written: outcome.rows_written,
                rows_quarantined: 0,
                snapshot_id,
                elapsed_ms: started.elapsed().as_millis() as u64,
            },
            TableRecord {
                table: model.target.clone(),
                step: model.file.clone(),
                action: plan.action().to_string(),
                rows_read: outcome.rows_read,
                rows_written: outcome.rows_written,
                rows_quarantined: 0,
                snapshot_id,
                inputs: Some(inputs),
                model_hash: Some(hash),
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_and_their_branches() {
        let at =
            DateTime::parse_from_rfc3339("2026-12-01T14:05:12Z").map(|d| d.with_timezone(&Utc));
        let Ok(at) = at else { panic!("bad date") };
        let id = new_run_id("Daily Orders", at);
        assert!(id.starts_with("daily_orders_20261201t140512_"), "{id}");
        let branch = run_branch(&id);
        assert_eq!(run_id_of(&branch, "Daily Orders"), Some(id.clone()));
        assert_eq!(run_id_of(&branch, "daily"), None);
        assert_eq!(run_id_of("run_daily_orders_x", "Daily Orders"), None);
    }
}
