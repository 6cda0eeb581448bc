//! `floe pipeline run` and `floe pipeline status`: a progress bar per step
//! in a terminal, plain lines otherwise, JSON lines with `--json`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, RecordBatch, StringArray, UInt64Array};
use arrow::util::pretty::pretty_format_batches;
use floe_pipeline::{Event, Observer, Pipeline, RunOptions, RunReport, RunStatus};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::{Args, PipelineCommand, PipelineRunArgs, PipelineStatusArgs};

pub async fn run(args: &Args, command: &PipelineCommand) -> anyhow::Result<ExitCode> {
    match command {
        PipelineCommand::Run(run) => run_pipeline(args, run).await,
        PipelineCommand::Status(status) => show_status(args, status).await,
    }
}

/// Where the events of a run go.
enum Display {
    /// One JSON object per event on stdout.
    Json,
    /// A bar per step on stderr.
    Bars {
        bars: MultiProgress,
        steps: Mutex<HashMap<String, ProgressBar>>,
    },
    /// A line per finished step on stderr.
    Lines,
}

/// The line a finished step or a dropped branch prints, if any.
fn event_line(event: &Event) -> Option<String> {
    match event {
        Event::StepFinished {
            step,
            action,
            rows_read,
            rows_written,
            rows_quarantined,
            elapsed_ms,
            ..
        } => {
            let mut line =
                format!("  {step}: {action}, {rows_read} rows read, {rows_written} written");
            if *rows_quarantined > 0 {
                line.push_str(&format!(", {rows_quarantined} quarantined"));
            }
            line.push_str(&format!(" ({:.2} s)", *elapsed_ms as f64 / 1000.0));
            Some(line)
        }
        Event::StaleBranchDropped { branch, reason } => {
            Some(format!("  dropped branch {branch}, {reason}"))
        }
        _ => None,
    }
}

impl Observer for Display {
    fn event(&self, event: &Event) {
        match self {
            Self::Json => {
                if let Ok(line) = serde_json::to_string(event) {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{line}");
                    let _ = out.flush();
                }
            }
            Self::Bars { bars, steps } => {
                let Ok(mut steps) = steps.lock() else { return };
                match event {
                    Event::StepStarted { step, total, .. } => {
                        let bar = match total {
                            Some(total) => {
                                let bar = bars.add(ProgressBar::new(*total));
                                bar.set_style(
                                    ProgressStyle::with_template(
                                        "{prefix:28} [{bar:30}] {pos}/{len} objects {wide_msg}",
                                    )
                                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                                    .progress_chars("=> "),
                                );
                                bar
                            }
                            None => {
                                let bar = bars.add(ProgressBar::new_spinner());
                                bar.set_style(
                                    ProgressStyle::with_template(
                                        "{prefix:28} {spinner} {elapsed} {wide_msg}",
                                    )
                                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                                );
                                bar.enable_steady_tick(std::time::Duration::from_millis(120));
                                bar
                            }
                        };
                        bar.set_prefix(step.clone());
                        steps.insert(step.clone(), bar);
                    }
                    Event::StepProgress {
                        step, done, object, ..
                    } => {
                        if let Some(bar) = steps.get(step) {
                            bar.set_position(*done);
                            let name = object.rsplit('/').next().unwrap_or(object);
                            bar.set_message(name.to_string());
                        }
                    }
                    Event::StepFinished { step, .. } => {
                        if let Some(bar) = steps.remove(step) {
                            bar.finish_and_clear();
                        }
                    }
                    _ => {}
                }
                if let Some(line) = event_line(event) {
                    let _ = bars.println(line);
                }
            }
            Self::Lines => {
                if let Some(line) = event_line(event) {
                    eprintln!("{line}");
                }
            }
        }
    }
}

async fn run_pipeline(args: &Args, run: &PipelineRunArgs) -> anyhow::Result<ExitCode> {
    let pipeline = Pipeline::load(&run.dir)?;
    let engine = crate::open_engine(args).await?;
    let display = if run.json {
        Display::Json
    } else if std::io::stderr().is_terminal() {
        Display::Bars {
            bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            steps: Mutex::new(HashMap::new()),
        }
    } else {
        Display::Lines
    };
    let display = Arc::new(display);
    let options = RunOptions {
        dry_run: run.dry_run,
        full_refresh: run.full_refresh,
    };
    let report = floe_pipeline::run(&engine, &pipeline, options, display.as_ref()).await?;
    if run.json {
        let mut value = serde_json::to_value(&report)?;
        if let Some(object) = value.as_object_mut() {
            object.insert("event".into(), "report".into());
        }
        println!("{value}");
    } else {
        print_report(&pipeline, &report)?;
    }
    Ok(match report.status {
        RunStatus::Success | RunStatus::UpToDate | RunStatus::DryRun => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

fn print_report(pipeline: &Pipeline, report: &RunReport) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match report.status {
        RunStatus::DryRun => {
            writeln!(
                out,
                "Plan of pipeline '{}' (dry run: nothing is changed):",
                pipeline.name
            )?;
            for (n, step) in report.plan.iter().enumerate() {
                writeln!(
                    out,
                    "{:>3}. {} → {} [{}]: {}",
                    n + 1,
                    step.step,
                    step.table,
                    step.kind,
                    step.action
                )?;
                for read in &step.reads {
                    writeln!(out, "       reads {read}")?;
                }
            }
        }
        RunStatus::UpToDate => {
            writeln!(
                out,
                "Pipeline '{}' is up to date: no new source object and no upstream change; nothing was committed.",
                pipeline.name
            )?;
        }
        RunStatus::Success => {
            writeln!(out, "{}", steps_table(report)?)?;
            writeln!(
                out,
                "Run {} published {} table(s) to main in one commit.",
                report.run_id,
                report.published.len()
            )?;
            print_warnings(&mut out, report)?;
        }
        RunStatus::ChecksFailed | RunStatus::Failed => {
            if !report.steps.is_empty() {
                writeln!(out, "{}", steps_table(report)?)?;
            }
            let what = if report.status == RunStatus::ChecksFailed {
                "Checks failed"
            } else {
                "The run failed"
            };
            writeln!(out, "{what}; main is untouched.")?;
            if let Some(error) = &report.error {
                writeln!(out, "{error}")?;
            }
            for check in report
                .checks
                .iter()
                .filter(|c| c.blocking && c.failing_rows > 0)
            {
                writeln!(
                    out,
                    "\n{} line {}: `{}` fails for {} row(s):",
                    check.step, check.line, check.check, check.failing_rows
                )?;
                if let Some(sample) = &check.sample {
                    writeln!(out, "{sample}")?;
                }
            }
            print_warnings(&mut out, report)?;
            if let Some(branch) = &report.branch {
                writeln!(
                    out,
                    "\nThe run's tables are kept on branch {branch} until the next run: \
                     floe sql --branch {branch}"
                )?;
            }
        }
    }
    Ok(())
}

fn print_warnings(out: &mut dyn Write, report: &RunReport) -> anyhow::Result<()> {
    for check in report
        .checks
        .iter()
        .filter(|c| !c.blocking && c.failing_rows > 0)
    {
        writeln!(
            out,
            "warning: {} line {}: `{}` fails for {} row(s)",
            check.step, check.line, check.check, check.failing_rows
        )?;
        if let Some(sample) = &check.sample {
            writeln!(out, "{sample}")?;
        }
    }
    Ok(())
}

fn text_owned(report: &RunReport, f: fn(&floe_pipeline::StepReport) -> String) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(report.steps.iter().map(f)))
}

fn steps_table(report: &RunReport) -> anyhow::Result<String> {
    let text = |f: fn(&floe_pipeline::StepReport) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(report.steps.iter().map(f)))
    };
    let number = |f: fn(&floe_pipeline::StepReport) -> u64| -> ArrayRef {
        Arc::new(UInt64Array::from_iter_values(report.steps.iter().map(f)))
    };
    let batch = RecordBatch::try_from_iter([
        ("step", text(|s| &s.step)),
        ("table", text(|s| &s.table)),
        ("action", text(|s| &s.action)),
        ("rows read", number(|s| s.rows_read)),
        ("written", number(|s| s.rows_written)),
        ("quarantined", number(|s| s.rows_quarantined)),
        (
            "seconds",
            text_owned(report, |s| format!("{:.2}", s.elapsed_ms as f64 / 1000.0)),
        ),
    ])?;
    Ok(pretty_format_batches(&[batch])?.to_string())
}

async fn show_status(args: &Args, status: &PipelineStatusArgs) -> anyhow::Result<ExitCode> {
    let pipeline = Pipeline::load(&status.dir)?;
    let engine = crate::open_engine(args).await?;
    let runs = floe_pipeline::last_runs(&engine.session(), &pipeline.name, status.limit).await?;
    let mut out = std::io::stdout().lock();
    if status.json {
        for run in &runs {
            writeln!(out, "{}", serde_json::to_string(run)?)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        writeln!(
            out,
            "Pipeline '{}' has not run on this warehouse yet.",
            pipeline.name
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let column = |f: &dyn Fn(&floe_pipeline::RunSummary) -> String| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(runs.iter().map(f)))
    };
    let batch = RecordBatch::try_from_iter([
        ("run", column(&|r| r.run_id.clone())),
        ("started (UTC)", column(&|r| r.started_at.clone())),
        ("ended", column(&|r| r.ended_at.clone())),
        ("status", column(&|r| r.status.clone())),
        ("rows read", column(&|r| r.rows_read.to_string())),
        ("written", column(&|r| r.rows_written.to_string())),
        ("quarantined", column(&|r| r.rows_quarantined.to_string())),
        (
            "error or kept branch",
            column(&|r| {
                let mut text = r.error.clone().unwrap_or_default();
                if let Some(branch) = &r.branch {
                    text = format!("{text} (branch {branch})");
                }
                text
            }),
        ),
    ])?;
    writeln!(out, "{}", pretty_format_batches(&[batch])?)?;
    Ok(ExitCode::SUCCESS)
}
