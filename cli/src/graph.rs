//! `junction graph`: a compiled workflow as a Mermaid `flowchart TD`, drawn
//! from the graph `junction_core::graph` builds (the one the web UI draws).
//!
//! Every graph (the top level, each parallel branch, each foreach body) has
//! its own `start` and `end` circles. Parallel, foreach and DAG states are
//! subgraphs that edges enter and leave as a whole; switch cases are edges
//! labelled with their condition (`default` for `defaultNext`); `catch`
//! edges are dashed. Labels are escaped. Rendering is pure.

use crate::render::Style;
use crate::validate;
use junction_core::model::Workflow;
use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

/// `junction graph FILE`: the chart on stdout, or the file's diagnostics on
/// stderr (exit 1; 2 when it cannot be read).
pub fn run(path: &Path) -> ExitCode {
    let checked = match validate::check_file(path, None) {
        Ok(checked) => checked,
        Err(error) => {
            eprintln!("error: {}", error.message);
            return ExitCode::from(2);
        }
    };
    match &checked.compiled.workflow {
        Some(workflow) => {
            print!("{}", mermaid(workflow));
            ExitCode::SUCCESS
        }
        None => {
            let style = Style {
                color: validate::use_color(std::io::stderr().is_terminal()),
            };
            eprint!("{}", checked.text(style));
            ExitCode::FAILURE
        }
    }
}

/// The workflow as Mermaid flowchart source.
pub fn mermaid(workflow: &Workflow) -> String {
    junction_core::graph::mermaid(&junction_core::graph::graph(workflow))
}

#[cfg(test)]
mod tests;
