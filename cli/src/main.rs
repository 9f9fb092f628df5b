//! `junction`: the command-line client. Thin over the control plane: the
//! command line is parsed ([`args`]), offline commands (`validate`, `graph`)
//! run here, and every other one goes to [`commands::run`].

mod args;
mod client;
mod commands;
mod follow;
mod graph;
mod invocation;
mod operator;
mod render;
mod tail;
mod timeline;
mod validate;

use args::{Cli, Command};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Offline commands: no runtime, no cluster.
    match &cli.command {
        Command::Validate {
            files,
            format,
            agents,
        } => return validate::run(files, *format, agents.as_deref()),
        Command::Graph { file } => return graph::run(file),
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
