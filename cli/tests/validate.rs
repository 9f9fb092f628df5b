//! `junction validate` and `junction graph`, run as the built binary on
//! temporary files. Offline: no NATS, no Postgres.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const VALID: &str = "\
id: ok
states:
  - name: defaults
    type: inject
    data: { currency: EUR }
    next: done
  - name: done
    type: inject
    data: {}
    end: true
";

/// `a` goes to `zz` (line 5, column 11), and `b` has an unknown field.
const DANGLING: &str = "\
id: broken
states:
  - name: a
    type: inject
    next: zz
  - name: b
    type: inject
    colour: red
    end: true
";

fn junction(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_junction"))
        .args(args)
        .env("NO_COLOR", "1")
        // Offline commands must not need these; make sure nothing dials out.
        .env("JUNCTION_NATS__URL", "nats://127.0.0.1:1")
        .output()
        .expect("run junction")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn arg(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn a_valid_file_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "ok.workflow.yaml", VALID);
    let out = junction(&["validate", arg(&file)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout, format!("{}: ok\n", file.display()));
}

#[test]
fn a_dangling_target_is_shown_at_its_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "x.workflow.yaml", DANGLING);
    let out = junction(&["validate", arg(&file)]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let expected = format!(
        "\
error[DANGLING_TARGET]: state `a` goes to `zz`, which does not exist
 --> {}:5:11
  |
5 |     next: zz
  |           ^^
  = path: states[0].next
",
        file.display()
    );
    assert!(stdout.contains(&expected), "{stdout}");
    assert!(stdout.contains("warning[UNKNOWN_FIELD]"), "{stdout}");
    assert!(
        stdout.contains(&format!("{}:8:5", file.display())),
        "{stdout}"
    );
    assert!(
        stdout.ends_with(&format!("{}: 1 error, 2 warnings\n", file.display())),
        "{stdout}"
    );
    assert!(
        !stdout.contains('\x1b'),
        "no colour under NO_COLOR or a pipe"
    );
}

#[test]
fn json_output_lists_every_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = write(dir.path(), "ok.workflow.yaml", VALID);
    let json_source =
        r#"{"id": "j", "states": [{"name": "a", "type": "inject", "next": "nowhere"}]}"#;
    let bad = write(dir.path(), "j.workflow.json", json_source);
    let out = junction(&["validate", "--format", "json", arg(&good), arg(&bad)]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let files = report.as_array().expect("an array");
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["file"], arg(&good));
    assert_eq!(files[0]["ok"], true);
    assert_eq!(files[0]["errors"], serde_json::json!([]));
    assert_eq!(files[1]["ok"], false);
    let dangling = files[1]["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .find(|d| d["code"] == "DANGLING_TARGET")
        .expect("a dangling target");
    assert_eq!(dangling["path"], "states[0].next");
    assert_eq!(dangling["severity"], "error");
    assert_eq!(dangling["line"], 1);
    assert_eq!(dangling["column"], 56);
    assert!(files[1]["warnings"].is_array());
}

#[test]
fn unreadable_files_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = write(dir.path(), "ok.workflow.yaml", VALID);
    let missing = dir.path().join("missing.workflow.yaml");
    let out = junction(&["validate", arg(&good), arg(&missing)]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cannot read") && stderr.contains("missing.workflow.yaml"),
        "{stderr}"
    );
    // The readable file is still reported.
    assert!(text(&out.stdout).contains(": ok"));

    let out = junction(&["validate", "--format", "json", arg(&missing)]);
    assert_eq!(out.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report[0]["errors"][0]["code"], "READ_ERROR");

    let notes = write(dir.path(), "notes.txt", "hello");
    assert_eq!(junction(&["validate", arg(&notes)]).status.code(), Some(2));
    assert_eq!(
        junction(&["validate"]).status.code(),
        Some(2),
        "usage error"
    );
}

#[test]
fn directories_and_agents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let agent_call = "\
id: call
states:
  - name: ask
    type: operation
    action: agent.run
    input:
      agent: ghost
    end: true
";
    write(dir.path(), "call.workflow.yaml", agent_call);
    write(dir.path(), "README.md", "not a definition");
    let agents = tempfile::tempdir().expect("tempdir");
    write(agents.path(), "echo.agent.yaml", "name: echo\n");

    let out = junction(&["validate", arg(dir.path())]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    let out = junction(&["validate", "--agents", arg(agents.path()), arg(dir.path())]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("error[AGENT_NOT_FOUND]"), "{stdout}");
    assert!(stdout.contains("call.workflow.yaml:7:14"), "{stdout}");

    let missing = agents.path().join("nope");
    let out = junction(&["validate", "--agents", arg(&missing), arg(dir.path())]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn graph_prints_mermaid_or_the_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = write(dir.path(), "ok.workflow.yaml", VALID);
    let out = junction(&["graph", arg(&good)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let chart = text(&out.stdout);
    assert!(chart.starts_with("flowchart TD\n"), "{chart}");
    assert!(chart.contains("s_defaults --> s_done"), "{chart}");

    let bad = write(dir.path(), "x.workflow.yaml", DANGLING);
    let out = junction(&["graph", arg(&bad)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("error[DANGLING_TARGET]"));

    let missing = dir.path().join("missing.workflow.yaml");
    assert_eq!(junction(&["graph", arg(&missing)]).status.code(), Some(2));
}

/// Every example shipped in the repository validates cleanly against the
/// agent registry it comes with: no errors, and no warnings either.
#[test]
fn every_shipped_example_validates_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (workflows, agents) in [
        ("examples/workflows", "examples/agents"),
        (
            "examples/station/incident-triage.workflow.yaml",
            "examples/station/agents",
        ),
    ] {
        let workflows = root.join(workflows);
        let agents = root.join(agents);
        let out = junction(&[
            "validate",
            "--format",
            "json",
            "--agents",
            arg(&agents),
            arg(&workflows),
        ]);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
        let reports: serde_json::Value = serde_json::from_str(&stdout).expect("json");
        let reports = reports.as_array().expect("a list of files");
        assert!(!reports.is_empty());
        for report in reports {
            assert_eq!(report["ok"], true, "{report}");
            assert_eq!(report["warnings"], serde_json::json!([]), "{report}");
        }
    }
}
