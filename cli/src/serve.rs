//! `floe serve`: the Flight SQL server over the warehouse, until Ctrl-C
//! or SIGTERM; and `floe hash-password` for its users file.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;

use crate::args::{Args, ServeArgs};

pub async fn run(args: &Args, serve: &ServeArgs) -> anyhow::Result<ExitCode> {
    let engine = crate::open_engine(args).await?;

    let mut credentials = floe_flight::Credentials::default();
    for token in &serve.auth_tokens {
        credentials = credentials.with_token(token.clone());
    }
    if let Some(file) = &serve.users_file {
        credentials = credentials.with_users_file(&file.display().to_string())?;
    }
    let mut config = floe_flight::ServerConfig {
        credentials,
        idle_timeout: serve.idle_timeout,
        max_message_size: serve.max_message_size,
        ..Default::default()
    };
    if let (Some(cert), Some(key)) = (&serve.tls_cert, &serve.tls_key) {
        config = config.with_tls_files(&cert.display().to_string(), &key.display().to_string())?;
    }
    let tls = config.tls.is_some();
    let auth = config.credentials.required();
    let listener = floe_flight::FlightSqlListener::bind(engine, &serve.flight, config).await?;
    let addr = listener.local_addr()?;
    let scheme = if tls { "grpc+tls" } else { "grpc" };
    println!(
        "Flight SQL on {scheme}://{addr} (warehouse {}, {}); Ctrl-C stops it",
        args.warehouse,
        if auth {
            "credentials required"
        } else {
            "no credentials required"
        }
    );
    std::io::stdout()
        .flush()
        .context("cannot write to stdout")?;
    listener.serve(shutdown()).await?;
    println!("Flight SQL server stopped");
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C or SIGTERM.
async fn shutdown() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub fn hash_password() -> anyhow::Result<ExitCode> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        anyhow::bail!("no password on stdin: echo -n 'secret' | floe hash-password");
    }
    println!("{}", floe_flight::hash_password(password)?);
    Ok(ExitCode::SUCCESS)
}
