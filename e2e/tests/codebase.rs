//! The codebase's own rules, checked on its files: the pure core depends on
//! no I/O crate, and no NATS subject is spelled outside `junction-bus`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Crates the pure core must never pull in, directly or transitively.
const IO_CRATES: &[&str] = &[
    "tokio",
    "tokio-postgres",
    "postgres-protocol",
    "deadpool",
    "deadpool-postgres",
    "async-nats",
    "axum",
    "hyper",
    "mio",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

#[test]
fn the_core_depends_on_no_io_crate() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "tree",
            "-p",
            "junction-core",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .args(["--format", "{p}"])
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    let names: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(names.contains(&"junction-core"), "unexpected tree: {tree}");
    assert!(
        names.contains(&"starlark"),
        "the tree lists dependencies: {tree}"
    );
    let found: Vec<&&str> = IO_CRATES.iter().filter(|c| names.contains(c)).collect();
    assert!(found.is_empty(), "junction-core depends on {found:?}");
}

/// Every `.rs` file of the workspace outside `target/` and `.git/`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The string literals of one line of code (comments dropped), roughly:
/// enough for subject names, which never hold quotes or escapes.
fn literals(line: &str) -> Vec<&str> {
    let code = match line.trim_start().starts_with("//") {
        true => "",
        false => line,
    };
    code.split('"').skip(1).step_by(2).collect()
}

/// Control verbs that take no id (`wf.ctl.<verb>`).
const CONTROL_VERBS: &[&str] = &[
    "workflows.put",
    "workflows.validate",
    "workflows.get",
    "workflows.list",
    "workflows.delete",
    "agents.put",
    "agents.list",
    "agents.delete",
    "run.start",
    "runs.list",
    "approvals.list",
    "cluster.members",
];

/// Control verbs on one object (`wf.ctl.<root>.<id>.<action>`).
const CONTROL_ACTIONS: &[(&str, &[&str])] = &[
    (
        "run",
        &["get", "events", "cancel", "pause", "resume", "signal"],
    ),
    ("approval", &["approve", "reject"]),
];

/// Whether a literal names a subject: a stream subject (`wf.…`,
/// `signals.…`, `agents.<name>.run`) or a control verb (`runs.list`,
/// `run.<id>.cancel`, …), possibly after a `{}.` prefix placeholder.
fn spells_a_subject(literal: &str) -> bool {
    let name = literal.strip_prefix("{}.").unwrap_or(literal);
    let object_action = || {
        let parts: Vec<&str> = name.split('.').collect();
        let [root, id, action] = parts.as_slice() else {
            return false;
        };
        !id.is_empty()
            && CONTROL_ACTIONS
                .iter()
                .any(|(r, actions)| r == root && actions.contains(action))
    };
    name.starts_with("wf.")
        || name.starts_with("signals.")
        || (name.starts_with("agents.") && name.ends_with(".run"))
        || CONTROL_VERBS.contains(&name)
        || object_action()
}

#[test]
fn no_subject_is_spelled_outside_the_bus_crate() {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(
        files.len() > 50,
        "found only {} files under {root:?}",
        files.len()
    );
    let bus = root.join("bus");
    let this_file = root.join("e2e/tests/codebase.rs");
    let mut offenders = Vec::new();
    for file in files
        .iter()
        .filter(|f| !f.starts_with(&bus) && **f != this_file)
    {
        let text = std::fs::read_to_string(file).expect("readable source");
        for (number, line) in text.lines().enumerate() {
            for literal in literals(line).into_iter().filter(|l| spells_a_subject(l)) {
                let shown = file.strip_prefix(&root).unwrap_or(file).display();
                offenders.push(format!("{shown}:{}: \"{literal}\"", number + 1));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "subjects spelled outside junction-bus (use Subjects / ControlSubject):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_subject_check_recognises_subjects_and_nothing_else() {
    for subject in [
        "wf.ctl.runs.list",
        "{}.wf.event.>",
        "signals.order.created",
        "agents.echo.run",
        "runs.list",
        "run.{}.cancel",
        "run.start",
        "approval.{id}.approve",
        "run.nope.signal",
        "workflows.put",
        "cluster.members",
    ] {
        assert!(spells_a_subject(subject), "{subject} is a subject");
    }
    for text in [
        "agent.run",
        "shell.run",
        "workflow.run",
        "runs",
        "Run. Done",
        "steps[0].run",
        "run.cancelled",
        "workflow.run.started",
        "runs.list.more",
        "ctx.items",
    ] {
        assert!(!spells_a_subject(text), "{text} is not a subject");
    }
}
