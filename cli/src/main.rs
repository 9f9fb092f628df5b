//! `junction`: the command-line client. Thin over the control plane: the
//! command line is parsed ([`args`]), offline commands (`validate`, `graph`,
//! `completion`, `bundle create|inspect`) run here, and every other one goes to [`commands::run`].
//! Exit codes are documented in docs/cli.md and [`exit`].

mod args;
mod bundle;
mod client;
mod commands;
mod definitions;
mod exit;
mod follow;
mod graph;
mod invocation;
mod operator;
mod output;
mod render;
mod tail;
mod timeline;
mod validate;

use args::{BundleCommand, Cli, Command, Shell};
use clap::{CommandFactory, Parser};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Offline commands: no runtime, no cluster.
    match &cli.command {
        Command::Validate {
            files,
            format,
            agents,
        } => return validate::run(files, format.unwrap_or(cli.output), agents.as_deref()),
        Command::Graph { file } => return graph::run(file),
        Command::Bundle(BundleCommand::Create { dir, out }) => {
            return bundle::create(dir, out, cli.output).unwrap_or_else(|e| exit::report(&e));
        }
        Command::Bundle(BundleCommand::Inspect { file }) => {
            return bundle::inspect(file, cli.output).unwrap_or_else(|e| exit::report(&e));
        }
        Command::Completion { shell } => {
            let shell = match shell {
                Shell::Bash => clap_complete::Shell::Bash,
                Shell::Zsh => clap_complete::Shell::Zsh,
                Shell::Fish => clap_complete::Shell::Fish,
            };
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "junction",
                &mut std::io::stdout(),
            );
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(exit::UNREACHABLE);
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(error) => exit::report(&error),
    }
}
