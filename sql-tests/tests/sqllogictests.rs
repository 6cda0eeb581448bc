//! Runs every `sql-tests/*.slt` file against a fresh Floe warehouse.
//!
//! Each file gets its own temporary local warehouse (SQLite catalog, data
//! files on disk), so files are independent and can run in parallel.
//! `cargo test -p floe-sql-tests --test sqllogictests -- <filter>` runs some.

use std::path::PathBuf;

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use async_trait::async_trait;
use floe_engine::Lakehouse;
use sqllogictest::harness::{self, Arguments, Failed, Trial};
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType, Runner};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct SltError(String);

struct FloeDb {
    lakehouse: Lakehouse,
}

fn render(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, SltError> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SltError(e.to_string()))?;
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| {
                        let cell = f.value(row).to_string();
                        if cell.is_empty() {
                            "(empty)".to_string()
                        } else {
                            cell
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok(rows)
}

#[async_trait]
impl AsyncDB for FloeDb {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let frame = self
            .lakehouse
            .sql(sql)
            .await
            .map_err(|e| SltError(e.to_string()))?;
        let columns = frame.schema().fields().len();
        let batches = frame
            .collect()
            .await
            .map_err(|e| SltError(floe_engine::FloeError::from(e).to_string()))?;
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; columns],
            rows: render(&batches)?,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "floe"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await
    }
}

fn run_file(path: PathBuf) -> Result<(), Failed> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failed::from(e.to_string()))?;
    runtime.block_on(async move {
        let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
        let warehouse = dir.path().join("warehouse");
        let mut runner = Runner::new(move || {
            let warehouse = warehouse.clone();
            async move {
                let lakehouse = Lakehouse::open(&warehouse.display().to_string())
                    .await
                    .map_err(|e| SltError(e.to_string()))?;
                Ok(FloeDb { lakehouse })
            }
        });
        let result = runner.run_file_async(&path).await;
        runner.shutdown_async().await;
        result.map_err(|e| Failed::from(e.display(false).to_string()))
    })
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the sql-tests directory is readable")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .slt files in {}", dir.display());
    let tests = files
        .into_iter()
        .map(|path| {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            Trial::test(name, move || run_file(path))
        })
        .collect();
    harness::run(&Arguments::from_args(), tests).exit();
}
