//! `floe serve`: the Flight SQL server and the Iceberg REST catalog over
//! the warehouse, one or both in one process, until Ctrl-C or SIGTERM;
//! and `floe hash-password` for their users file.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use tokio::sync::watch;

use crate::args::{Args, ServeArgs};

/// Flight SQL's address when neither server is asked for.
const DEFAULT_FLIGHT: &str = "127.0.0.1:50051";

pub async fn run(args: &Args, serve: &ServeArgs) -> anyhow::Result<ExitCode> {
    let engine = crate::open_engine(args).await?;

    let mut credentials = floe_flight::Credentials::default();
    for token in &serve.auth_tokens {
        credentials = credentials.with_token(token.clone());
    }
    if let Some(file) = &serve.users_file {
        credentials = credentials.with_users_file(&file.display().to_string())?;
    }
    let auth = if credentials.required() {
        "credentials required"
    } else {
        "no credentials required"
    };
    let flight_addr = match (&serve.flight, &serve.rest) {
        (Some(addr), _) => Some(addr.as_str()),
        (None, None) => Some(DEFAULT_FLIGHT),
        (None, Some(_)) => None,
    };
    // Both servers stop on the same signal.
    let (stop, stopped) = watch::channel(false);
    let until_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let mut servers = tokio::task::JoinSet::new();
    if let Some(addr) = flight_addr {
        let mut config = floe_flight::ServerConfig {
            credentials: credentials.clone(),
            idle_timeout: serve.idle_timeout,
            max_message_size: serve.max_message_size,
            ..Default::default()
        };
        if let (Some(cert), Some(key)) = (&serve.tls_cert, &serve.tls_key) {
            config =
                config.with_tls_files(&cert.display().to_string(), &key.display().to_string())?;
        }
        let scheme = if config.tls.is_some() {
            "grpc+tls"
        } else {
            "grpc"
        };
        let listener = floe_flight::FlightSqlListener::bind(engine.clone(), addr, config).await?;
        println!(
            "Flight SQL on {scheme}://{} (warehouse {}, {auth}); Ctrl-C stops it",
            listener.local_addr()?,
            args.warehouse,
        );
        let shutdown = until_stopped();
        servers.spawn(async move {
            listener
                .serve(shutdown)
                .await
                .map_err(anyhow::Error::from)?;
            println!("Flight SQL server stopped");
            anyhow::Ok(())
        });
    }
    if let Some(addr) = &serve.rest {
        if serve.tls_cert.is_some() {
            anyhow::bail!(
                "--tls-cert applies to Flight SQL only: serve the REST catalog behind a TLS proxy"
            );
        }
        let vended_credentials = if serve.vend_credentials {
            if !args.warehouse.starts_with("s3://") && !args.warehouse.starts_with("s3a://") {
                anyhow::bail!(
                    "--vend-credentials vends S3 credentials: the warehouse {} is not s3://",
                    args.warehouse
                );
            }
            Some(
                floe_rest::RestConfig::s3_credentials_from_env(&args.warehouse).ok_or_else(
                    || anyhow::anyhow!("--vend-credentials: AWS_ACCESS_KEY_ID is not set"),
                )?,
            )
        } else {
            None
        };
        let config = floe_rest::RestConfig {
            credentials,
            vended_credentials,
        };
        let listener = floe_rest::RestListener::bind(engine.clone(), addr, config).await?;
        println!(
            "Iceberg REST catalog on http://{} (warehouse {}, {auth}); Ctrl-C stops it",
            listener.local_addr()?,
            args.warehouse,
        );
        let shutdown = until_stopped();
        servers.spawn(async move {
            listener
                .serve(shutdown)
                .await
                .map_err(anyhow::Error::from)?;
            println!("Iceberg REST catalog stopped");
            anyhow::Ok(())
        });
    }
    std::io::stdout()
        .flush()
        .context("cannot write to stdout")?;
    tokio::select! {
        _ = shutdown() => {}
        // A server that ends by itself failed.
        Some(ended) = servers.join_next() => {
            let _ = stop.send(true);
            ended.context("a server task panicked")??;
        }
    }
    let _ = stop.send(true);
    while let Some(ended) = servers.join_next().await {
        ended.context("a server task panicked")??;
    }
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
