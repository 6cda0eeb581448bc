//! The interactive SQL shell.

use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use crate::runner::Runner;

const HELP: &str = "\
Statements end with ';' and may span several lines.
  .help             this text
  .tables           list the tables of every namespace
  .schema TABLE     the columns of TABLE
  .timer on|off     print how long each statement takes
  .quit             leave (or Ctrl-D)
Ctrl-C cancels the running statement or clears the line.";

fn history_path() -> Option<std::path::PathBuf> {
    std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".floe_history"))
}

/// Read, run, print, until end of input.
pub async fn run(mut runner: Runner) -> anyhow::Result<()> {
    runner.interactive = true;
    let mut editor = DefaultEditor::new()?;
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    println!("Floe {} — type .help for help.", env!("CARGO_PKG_VERSION"));
    let mut buffer = String::new();
    loop {
        // The prompt names the branch when it is not main: `floe (dev)> `.
        let branch = runner.branch();
        let first = if branch == "main" {
            "floe> ".to_string()
        } else {
            format!("floe ({branch})> ")
        };
        let prompt = if buffer.is_empty() {
            first
        } else {
            format!("{:>width$}", "-> ", width = first.len())
        };
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        if buffer.is_empty() && line.trim_start().starts_with('.') {
            let _ = editor.add_history_entry(line.as_str());
            if !dot_command(&mut runner, line.trim()).await? {
                break;
            }
            continue;
        }
        if !buffer.is_empty() {
            buffer.push('\n');
        }
        buffer.push_str(&line);
        if buffer.trim().is_empty() || floe_engine::script::is_incomplete(&buffer) {
            continue;
        }
        let _ = editor.add_history_entry(buffer.as_str());
        let script = std::mem::take(&mut buffer);
        runner.run_script(&script, "repl").await?;
    }
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    if runner.in_transaction() {
        eprintln!("warning: the open transaction was not committed; nothing it wrote is kept");
    }
    Ok(())
}

/// Run a dot command; returns false to leave.
async fn dot_command(runner: &mut Runner, line: &str) -> anyhow::Result<bool> {
    let mut words = line.split_whitespace();
    match (words.next(), words.next()) {
        (Some(".quit" | ".exit"), _) => return Ok(false),
        (Some(".help"), _) => println!("{HELP}"),
        (Some(".tables"), _) => {
            runner
                .run_script(
                    "SELECT table_schema AS namespace, table_name FROM information_schema.tables \
                     WHERE table_catalog = 'floe' AND table_schema <> 'information_schema' \
                     ORDER BY 1, 2",
                    "repl",
                )
                .await?;
        }
        (Some(".schema"), Some(table)) => {
            runner
                .run_script(&format!("DESCRIBE {table}"), "repl")
                .await?;
        }
        (Some(".timer"), Some("on")) => runner.timer = true,
        (Some(".timer"), Some("off")) => runner.timer = false,
        _ => eprintln!("unknown command '{line}': type .help for the list"),
    }
    Ok(true)
}
