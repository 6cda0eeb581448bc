//! `floe maintain`: the maintenance the tables' properties ask for, one
//! table after another and then orphan removal for all of them, with a
//! progress line per step in a terminal and a report at the end (or one
//! JSON object per table with `--json`).

use std::io::IsTerminal;
use std::process::ExitCode;

use floe_engine::{MaintenanceReport, MaintenanceStep, TableIdent};
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{Args, MaintainArgs};

pub async fn run(args: &Args, maintain: &MaintainArgs) -> anyhow::Result<ExitCode> {
    let engine = crate::open_engine(args).await?;
    let session = engine.session();
    let tables = match &maintain.table {
        Some(name) => vec![table_ident(name)?],
        None => session.all_tables().await?,
    };
    // Three steps per table, then orphan removal for all of them.
    let bar = (!maintain.json && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new((tables.len() * 3 + 1) as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    });
    let mut progress = |table: Option<&TableIdent>, step: MaintenanceStep| {
        if let Some(bar) = &bar {
            match table {
                Some(table) => bar.set_message(format!("{table}: {}", step.name())),
                None => bar.set_message(step.name()),
            }
            bar.inc(1);
        }
    };
    let reports = session
        .maintain(&tables, maintain.dry_run, &mut progress)
        .await?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if maintain.json {
        for report in &reports {
            println!("{}", serde_json::to_string(report)?);
        }
    } else {
        print!("{}", summary(&reports, maintain.dry_run));
    }
    Ok(ExitCode::SUCCESS)
}

/// `db.t`, or `t` in the default namespace.
fn table_ident(name: &str) -> anyhow::Result<TableIdent> {
    let parts: Vec<&str> = name.split('.').collect();
    let parts = if parts.len() == 1 {
        vec![floe_engine::DEFAULT_NAMESPACE, parts[0]]
    } else {
        parts
    };
    TableIdent::from_strs(parts).map_err(|e| anyhow::anyhow!("--table '{name}': {e}"))
}

/// One line per table, as a person reads it.
fn summary(reports: &[MaintenanceReport], dry_run: bool) -> String {
    let verb = if dry_run { "would" } else { "did" };
    let mut out = String::new();
    for r in reports {
        let mut did = Vec::new();
        if r.expired_snapshots > 0 {
            did.push(format!("expire {} snapshot(s)", r.expired_snapshots));
        }
        if r.rewritten_data_files > 0 {
            did.push(if dry_run {
                format!("compact {} data file(s)", r.rewritten_data_files)
            } else {
                format!(
                    "compact {} data file(s) into {}",
                    r.rewritten_data_files, r.added_data_files
                )
            });
        }
        if r.rewritten_manifests > 0 {
            did.push(format!("rewrite {} manifest(s)", r.rewritten_manifests));
        }
        if !r.orphan_files.is_empty() {
            did.push(format!("remove {} orphan file(s)", r.orphan_files.len()));
        }
        if did.is_empty() {
            out.push_str(&format!("{}: nothing to do\n", r.table));
        } else {
            out.push_str(&format!("{}: {verb} {}\n", r.table, did.join(", ")));
        }
    }
    out
}
