//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Floe: an embedded lakehouse. SQL over Apache Iceberg tables.
#[derive(Debug, Parser)]
#[command(name = "floe", version, about)]
pub struct Args {
    /// Warehouse location: a local path, file://, s3://bucket/prefix or memory://.
    #[arg(
        long,
        global = true,
        env = "FLOE_WAREHOUSE",
        default_value = "./warehouse"
    )]
    pub warehouse: String,
    /// Catalog: sqlite:PATH, postgresql://user:password@host:port/db, or an
    /// Iceberg REST catalog, http(s)://host:port[?warehouse=W&token=T |
    /// credential=ID:SECRET] (default: <warehouse>/catalog.db for a local
    /// warehouse).
    #[arg(long, global = true, env = "FLOE_CATALOG")]
    pub catalog: Option<String>,
    /// Memory all queries may use together, e.g. 512MB or 2GiB (default:
    /// three quarters of the machine's memory); past it they spill to disk.
    #[arg(long, global = true, env = "FLOE_MEMORY_LIMIT", value_name = "SIZE",
          value_parser = parse_size)]
    pub memory_limit: Option<usize>,
    /// Where queries spill when they pass the memory limit (default: the
    /// system's temporary directory).
    #[arg(long, global = true, env = "FLOE_SPILL_DIR", value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run SQL: from -c, -f, piped stdin, or interactively.
    Sql(SqlArgs),
    /// Serve the warehouse to other programs: Arrow Flight SQL (ADBC,
    /// JDBC, pyarrow.flight).
    Serve(ServeArgs),
    /// Hash a password (read from stdin) for a users file line `name:<hash>`.
    HashPassword,
    /// Run a medallion pipeline folder, or show its last runs.
    #[command(subcommand)]
    Pipeline(PipelineCommand),
    /// Run the maintenance the tables' properties ask for: snapshot
    /// expiry, compaction of small files, a manifest rewrite and orphan
    /// removal.
    Maintain(MaintainArgs),
}

/// Arguments of `floe maintain`.
#[derive(Debug, clap::Args)]
pub struct MaintainArgs {
    /// The table to maintain (`db.t`, or `t` in `default`).
    #[arg(long, conflicts_with = "all", required_unless_present = "all")]
    pub table: Option<String>,
    /// Maintain every table of the warehouse.
    #[arg(long)]
    pub all: bool,
    /// Say what would be done; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// One JSON object per table on stdout, for schedulers.
    #[arg(long)]
    pub json: bool,
}

/// `floe pipeline …`.
#[derive(Debug, Subcommand)]
pub enum PipelineCommand {
    /// Ingest new source objects and update every model on a run branch,
    /// check, and publish every table to main in one commit.
    Run(PipelineRunArgs),
    /// The last runs of a pipeline, newest first.
    Status(PipelineStatusArgs),
}

/// Arguments of `floe pipeline run`.
#[derive(Debug, clap::Args)]
pub struct PipelineRunArgs {
    /// The pipeline folder (pipeline.toml, bronze/, silver/, gold/).
    pub dir: PathBuf,
    /// Print the plan (each step, and what it would read); change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Recompute every model from all of its upstream rows.
    #[arg(long)]
    pub full_refresh: bool,
    /// One JSON object per event on stdout, for schedulers.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `floe pipeline status`.
#[derive(Debug, clap::Args)]
pub struct PipelineStatusArgs {
    /// The pipeline folder.
    pub dir: PathBuf,
    /// How many runs to show.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// One JSON object per run.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `floe serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Serve Arrow Flight SQL on this address (port 0: any free port).
    /// Without --flight or --rest, Flight SQL is served on 127.0.0.1:50051.
    #[arg(long, value_name = "ADDR")]
    pub flight: Option<String>,
    /// Serve the Iceberg REST catalog on this address (port 0: any free
    /// port), beside Flight SQL if --flight is given too.
    #[arg(long, value_name = "ADDR")]
    pub rest: Option<String>,
    /// Accept this bearer token (repeat for several).
    #[arg(long = "auth-token", env = "FLOE_AUTH_TOKEN", value_name = "TOKEN")]
    pub auth_tokens: Vec<String>,
    /// Accept the users of this file (lines `name:<hash>`, from `floe
    /// hash-password`): in Flight's basic-auth handshake, and as OAuth2
    /// client credentials (`id:secret`) at the REST catalog's token endpoint.
    #[arg(long, value_name = "FILE")]
    pub users_file: Option<PathBuf>,
    /// Hand the server's own S3 credentials (the AWS_* variables) to REST
    /// clients that ask for vended credentials, in each table's load
    /// result: they then need no S3 settings of their own. For an s3://
    /// warehouse; these are the server's keys, not scoped ones.
    #[arg(long)]
    pub vend_credentials: bool,
    /// TLS certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM); needs --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Close a session idle this long, rolling back its transaction
    /// (e.g. 30m, 90s, 2h).
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub idle_timeout: std::time::Duration,
    /// The largest message a client may send, e.g. 64MiB.
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_size)]
    pub max_message_size: usize,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration: use e.g. 30m, 90s, 2h or 500ms"))?;
    let seconds = match unit.trim() {
        "ms" => return Ok(std::time::Duration::from_millis(number)),
        "" | "s" => number,
        "m" => number * 60,
        "h" => number * 3600,
        other => {
            return Err(format!(
                "unknown duration unit '{other}': use ms, s, m or h"
            ));
        }
    };
    Ok(std::time::Duration::from_secs(seconds))
}

/// Arguments of `floe sql`.
#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    /// SQL to run; repeat to run several in order, in one session.
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    pub command: Vec<String>,
    /// A file of SQL statements separated by ';' (run after any -c).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Start the session on this warehouse branch (as `USE BRANCH`).
    #[arg(long, value_name = "BRANCH")]
    pub branch: Option<String>,
    /// How to print query results.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Print each statement (and the comment lines before it) before its
    /// result.
    #[arg(long)]
    pub echo: bool,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A boxed text table.
    Table,
    /// CSV with one header row (RFC 4180 quoting).
    Csv,
    /// One JSON array of objects.
    Json,
    /// One JSON object per line.
    Ndjson,
    /// Parquet bytes (redirect to a file).
    Parquet,
}

fn parse_size(text: &str) -> Result<usize, String> {
    floe_engine::parse_memory_size(text).map_err(|e| e.to_string())
}
