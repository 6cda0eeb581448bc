//! Floe's medallion pipeline runner.
//!
//! A pipeline is a folder: `pipeline.toml`, raw sources in `bronze/*.toml`
//! and models in `silver/*.sql` and `gold/*.sql` (one SELECT each, with a
//! header naming its target, its write mode and its checks). A run
//!
//! 1. plans from what `main` holds: the source objects not yet ingested
//!    (the ledger in `floe.pipeline_files`), and the upstream snapshots
//!    each model read last time;
//! 2. creates the warehouse branch `run_<id>` and writes every step there,
//!    in the order the tables they read give: bronze ingests only new
//!    objects, quarantining the rows it cannot take; models read only what
//!    changed upstream where that gives the same result as a full run;
//! 3. evaluates every check on the branch;
//! 4. publishes every table, the ledger and the run's record to `main` in
//!    one atomic commit, or, if a check or the publish fails, leaves `main`
//!    as it was and keeps the branch for inspection until the next run.
//!
//! ```
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use floe_pipeline::{Pipeline, RunOptions, RunStatus, Quiet};
//!
//! let dir = tempfile::tempdir()?;
//! let folder = dir.path().join("shop");
//! std::fs::create_dir_all(folder.join("bronze"))?;
//! std::fs::create_dir_all(folder.join("silver"))?;
//! std::fs::create_dir_all(folder.join("in"))?;
//! std::fs::write(folder.join("pipeline.toml"), "name = \"shop\"\n")?;
//! std::fs::write(folder.join("bronze/sales.toml"),
//!     "source = \"in/*.csv\"\nformat = \"csv\"\ntable = \"bronze.sales\"\n\
//!      [columns]\nid = \"BIGINT NOT NULL\"\namount = \"DOUBLE\"\n")?;
//! std::fs::write(folder.join("silver/sales.sql"),
//!     "-- target: silver.sales\n-- mode: append\n-- check: amount >= 0\n\
//!      SELECT id, amount FROM bronze.sales WHERE amount IS NOT NULL")?;
//! std::fs::write(folder.join("in/day1.csv"), "id,amount\n1,9.5\n2,oops\n")?;
//!
//! let engine = floe_engine::Engine::open(dir.path().join("wh").to_str().unwrap()).await?;
//! let pipeline = Pipeline::load(&folder)?;
//! let report = floe_pipeline::run(&engine, &pipeline, RunOptions::default(), &Quiet).await?;
//! assert_eq!(report.status, RunStatus::Success);
//! // The row that is not a number went to quarantine, not away.
//! let ingest = &report.steps[0];
//! assert_eq!((ingest.rows_read, ingest.rows_written, ingest.rows_quarantined), (2, 1, 1));
//!
//! // Nothing new: nothing to do, nothing committed.
//! let again = floe_pipeline::run(&engine, &pipeline, RunOptions::default(), &Quiet).await?;
//! assert_eq!(again.status, RunStatus::UpToDate);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod checks;
mod dag;
mod error;
mod events;
mod lock;
mod model;
mod run;
mod source;
mod spec;
mod sql;
mod state;

pub use checks::CheckResult;
pub use dag::{Dag, Step};
pub use error::{PipelineError, Result};
pub use events::{Event, Observer, PlannedStep, Quiet};
pub use run::{RunOptions, RunReport, RunStatus, StepReport, run, run_branch};
pub use source::{ObjectInfo, list_objects};
pub use spec::{
    Check, CheckKind, Column, Defaults, Format, Layer, Mode, Model, OnNewColumns, Pipeline, Source,
    SourceOptions,
};
pub use state::{FILES_TABLE, RUNS_TABLE, RunSummary, last_runs};
