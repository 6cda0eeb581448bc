//! Running statements and printing their results and errors.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use floe_engine::Lakehouse;
use floe_engine::script::{Script, ScriptStatement};

use crate::args::Format;
use crate::output;

/// Runs statements in one session and prints what they return.
pub struct Runner {
    lakehouse: Lakehouse,
    format: Format,
    /// Print how long each statement took.
    pub timer: bool,
    /// Ctrl-C cancels the running statement (interactive use).
    pub interactive: bool,
    /// Print each statement, with the comment lines before it, before its
    /// result (`--echo`): a script reads as a tour.
    pub echo: bool,
}

impl Runner {
    /// The warehouse branch the session is on.
    pub fn branch(&self) -> String {
        // A session whose state is broken says so on its next statement.
        self.lakehouse.branch().unwrap_or_else(|_| "?".to_string())
    }

    /// A runner printing results in `format`.
    pub fn new(lakehouse: Lakehouse, format: Format) -> Self {
        Self {
            lakehouse,
            format,
            timer: false,
            interactive: false,
            echo: false,
        }
    }

    /// Whether the session has an open transaction.
    pub fn in_transaction(&self) -> bool {
        self.lakehouse.in_transaction().unwrap_or(false)
    }

    /// Run every statement of `script`, stopping at the first failure, which
    /// is printed on stderr naming `source` and the statement's line.
    /// Returns whether every statement succeeded.
    pub async fn run_script(&mut self, script: &str, source: &str) -> anyhow::Result<bool> {
        let statements = match Script::parse(script) {
            Ok(script) => script.into_statements(),
            Err(e) => {
                eprintln!("error in {source}: {e}");
                return Ok(false);
            }
        };
        for statement in statements {
            let started = Instant::now();
            let line = statement.line();
            if self.echo {
                let stdout = std::io::stdout();
                let mut out = stdout.lock();
                output::echo(&mut out, statement.comments(), statement.sql())?;
            }
            match self.run_statement(statement).await {
                Ok(Some((schema, batches))) => {
                    let stdout = std::io::stdout();
                    let mut out = stdout.lock();
                    if !schema.fields().is_empty() {
                        output::write(&mut out, self.format, &schema, &batches)?;
                    }
                }
                Ok(None) => {
                    eprintln!(
                        "cancelled (a statement that was already committing may still have \
                         committed: check the table)"
                    );
                    if !self.interactive {
                        return Ok(false);
                    }
                }
                Err(e) => {
                    let location = if source == "repl" {
                        String::new()
                    } else {
                        format!(" in {source} at line {line}")
                    };
                    eprintln!("error{location}: {e}");
                    return Ok(false);
                }
            }
            if self.timer {
                eprintln!("time: {:.3}s", started.elapsed().as_secs_f64());
            }
        }
        Ok(true)
    }

    /// Run one statement to completion; `None` if it was cancelled.
    async fn run_statement(
        &self,
        statement: ScriptStatement,
    ) -> Result<Option<(SchemaRef, Vec<RecordBatch>)>, floe_engine::FloeError> {
        let work = async {
            let frame = self.lakehouse.run(statement).await?;
            let schema = std::sync::Arc::new(frame.schema().as_arrow().clone());
            let batches = frame.collect().await?;
            Ok::<_, floe_engine::FloeError>((schema, batches))
        };
        let progress = Progress::start();
        let result = if self.interactive {
            tokio::select! {
                result = work => Some(result),
                _ = tokio::signal::ctrl_c() => None,
            }
        } else {
            Some(work.await)
        };
        progress.stop().await;
        result.transpose()
    }
}

/// A spinner on stderr for statements running over a second.
struct Progress {
    task: Option<tokio::task::JoinHandle<()>>,
    started: Instant,
}

impl Progress {
    fn start() -> Self {
        let started = Instant::now();
        if !std::io::stderr().is_terminal() {
            return Self {
                task: None,
                started,
            };
        }
        let task = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let frames = ['|', '/', '-', '\\'];
            for i in 0.. {
                eprint!(
                    "\r{} running... {:.1}s (Ctrl-C to cancel) ",
                    frames[i % frames.len()],
                    started.elapsed().as_secs_f64()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Self {
            task: Some(task),
            started,
        }
    }

    async fn stop(self) {
        if let Some(task) = self.task {
            task.abort();
            // Wait until the spinner is gone, so it cannot draw over what follows.
            let _ = task.await;
            if self.started.elapsed() >= Duration::from_secs(1) {
                eprint!("\r\x1b[2K");
            }
        }
    }
}
