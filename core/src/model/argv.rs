//! A `shell.run` command written as one string (a DAG `run:` line, a
//! composer verifier's `command`) becomes the argument vector the executor
//! takes, at compile time. Words split as a POSIX shell would split them
//! (quotes and backslashes honoured), but nothing is ever run by a shell:
//! no pipes, redirections, globs or `$VAR` expansion. A template
//! (`{{ path }}` or `${path}`) stays inside the word it is written in, even
//! when it has spaces, and is rendered per argument at run time, so a value
//! with spaces or quotes in it is one argument and cannot inject others.

use serde_json::Value;

/// Stands in for a template while the string is split: a private-use
/// character no command contains, around the template's index.
const MARK: char = '\u{F8FF}';

/// `command` as argv: a string is split into words, a non-empty list of
/// strings is kept. The error says what is wrong, for a diagnostic.
pub fn shell_argv(command: &Value) -> Result<Value, String> {
    match command {
        // One whole template: its value (a list, say) is the command.
        Value::String(line) if is_one_template(line) => Ok(command.clone()),
        Value::String(line) => {
            split(line).map(|words| words.into_iter().map(Value::String).collect())
        }
        Value::Array(parts) if !parts.is_empty() && parts.iter().all(Value::is_string) => {
            Ok(command.clone())
        }
        _ => Err("a command is a non-empty string or a list of strings".to_owned()),
    }
}

fn is_one_template(line: &str) -> bool {
    let (masked, templates) = mask_templates(line.trim());
    templates.len() == 1 && masked == format!("{MARK}0{MARK}")
}

/// Splits one command line into words, templates kept whole.
fn split(line: &str) -> Result<Vec<String>, String> {
    let (masked, templates) = mask_templates(line);
    let words = shlex::split(&masked)
        .ok_or_else(|| format!("cannot split `{line}` into words: a quote is not closed"))?;
    if words.is_empty() {
        return Err("a command is a non-empty string or a list of strings".to_owned());
    }
    Ok(words
        .into_iter()
        .map(|word| unmask(&word, &templates))
        .collect())
}

/// Replaces every `{{ … }}` and `${ … }` with `MARK<index>MARK`.
fn mask_templates(line: &str) -> (String, Vec<&str>) {
    let mut masked = String::with_capacity(line.len());
    let mut templates = Vec::new();
    let mut rest = line;
    while let Some(start) = next_template_start(rest) {
        let close = if rest[start..].starts_with("{{") {
            "}}"
        } else {
            "}"
        };
        let Some(len) = rest[start..].find(close).map(|end| end + close.len()) else {
            break;
        };
        masked.push_str(&rest[..start]);
        masked.push(MARK);
        masked.push_str(&templates.len().to_string());
        masked.push(MARK);
        templates.push(&rest[start..start + len]);
        rest = &rest[start + len..];
    }
    masked.push_str(rest);
    (masked, templates)
}

fn next_template_start(text: &str) -> Option<usize> {
    match (text.find("{{"), text.find("${")) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Puts the templates back into a split word.
fn unmask(word: &str, templates: &[&str]) -> String {
    let mut out = String::with_capacity(word.len());
    let mut parts = word.split(MARK);
    if let Some(first) = parts.next() {
        out.push_str(first);
    }
    // After the first piece, pieces alternate: an index, then literal text.
    let mut is_index = true;
    for part in parts {
        match (
            is_index,
            part.parse::<usize>().ok().and_then(|i| templates.get(i)),
        ) {
            (true, Some(template)) => out.push_str(template),
            _ => out.push_str(part),
        }
        is_index = !is_index;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn argv(line: &str) -> Vec<String> {
        serde_json::from_value(shell_argv(&json!(line)).expect("splits")).expect("strings")
    }

    #[test]
    fn words_split_like_a_shell_but_nothing_expands() {
        assert_eq!(
            argv("cargo test --workspace"),
            ["cargo", "test", "--workspace"]
        );
        assert_eq!(
            argv(r#"echo "a b" 'c d' e\ f"#),
            ["echo", "a b", "c d", "e f"]
        );
        assert_eq!(argv("echo $HOME | wc"), ["echo", "$HOME", "|", "wc"]);
    }

    #[test]
    fn templates_stay_whole_inside_their_word() {
        assert_eq!(
            argv("docker build -t {{ variables.image }}:{{ ctx.branch }} ."),
            [
                "docker",
                "build",
                "-t",
                "{{ variables.image }}:{{ ctx.branch }}",
                "."
            ]
        );
        assert_eq!(
            argv("echo ${ signal.data.x } done"),
            ["echo", "${ signal.data.x }", "done"]
        );
        assert_eq!(argv("echo '{{ a }} b'"), ["echo", "{{ a }} b"]);
    }

    #[test]
    fn lists_are_kept_and_bad_commands_are_refused() {
        assert_eq!(shell_argv(&json!(["ls", "-l"])), Ok(json!(["ls", "-l"])));
        assert_eq!(
            shell_argv(&json!("{{ ctx.argv }}")),
            Ok(json!("{{ ctx.argv }}"))
        );
        for bad in [json!(""), json!("   "), json!([]), json!([1]), json!(3)] {
            assert!(shell_argv(&bad).is_err(), "{bad} was accepted");
        }
        let unclosed = shell_argv(&json!("echo 'oops")).expect_err("unclosed quote");
        assert!(unclosed.contains("not closed"), "{unclosed}");
    }
}
