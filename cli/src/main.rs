//! `floe`: SQL over a Floe warehouse, from arguments, files, stdin or an
//! interactive REPL.
//!
//! Exit codes: 0 success, 1 a statement failed, 2 bad arguments.

mod args;
mod maintain;
mod output;
mod pipeline;
mod repl;
mod runner;
mod serve;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::args::{Args, Command, Format};
use crate::runner::Runner;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Command::Sql(sql) = &args.command
        && sql.echo
        && !matches!(sql.format, Format::Table | Format::Csv)
    {
        // Statements among JSON or Parquet output would make it unreadable.
        Args::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--echo prints each statement among the results: use it with --format table \
                 or csv",
            )
            .exit();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The engine the global arguments describe.
pub async fn open_engine(args: &Args) -> anyhow::Result<floe_engine::Engine> {
    let mut builder = floe_engine::Engine::builder(args.warehouse.clone());
    if let Some(catalog) = &args.catalog {
        builder = builder.with_catalog(catalog.clone());
    }
    if let Some(limit) = args.memory_limit {
        builder = builder.with_memory_limit(limit);
    }
    if let Some(dir) = &args.spill_dir {
        builder = builder.with_spill_dir(dir.clone());
    }
    Ok(builder.open().await?)
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let sql = match &args.command {
        Command::Sql(sql) => sql,
        Command::Serve(serve) => return serve::run(&args, serve).await,
        Command::HashPassword => return serve::hash_password(),
        Command::Pipeline(command) => return pipeline::run(&args, command).await,
        Command::Maintain(maintain) => return maintain::run(&args, maintain).await,
    };
    let lakehouse = floe_engine::Lakehouse::from(open_engine(&args).await?);
    if let Some(branch) = &sql.branch {
        lakehouse.use_branch(branch).await?;
    }
    let mut runner = Runner::new(lakehouse, sql.format);
    runner.echo = sql.echo;

    if !sql.command.is_empty() || sql.file.is_some() {
        for (i, command) in sql.command.iter().enumerate() {
            let source = format!("-c #{}", i + 1);
            if !runner.run_script(command, &source).await? {
                return Ok(ExitCode::from(1));
            }
        }
        if let Some(file) = &sql.file {
            let script = std::fs::read_to_string(file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            if !runner
                .run_script(&script, &file.display().to_string())
                .await?
            {
                return Ok(ExitCode::from(1));
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !std::io::stdin().is_terminal() {
        let script = std::io::read_to_string(std::io::stdin())?;
        let ok = runner.run_script(&script, "stdin").await?;
        return Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    // What is typed is on the screen already.
    runner.echo = false;
    repl::run(runner).await?;
    Ok(ExitCode::SUCCESS)
}
