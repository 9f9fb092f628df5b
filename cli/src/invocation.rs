//! Who is acting (`--actor`, else `$USER`) and how to call this CLI again
//! against the same cluster, for the hints it prints.

use crate::args::{Cli, DEFAULT_NATS_URL};

/// `--actor`, else `$USER`, else `cli`.
pub fn actor(cli: &Cli) -> String {
    cli.actor
        .clone()
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "cli".to_owned())
}

/// How to call this CLI again against the same cluster, as the user would
/// type it: `junction` plus the options the environment does not supply.
pub fn junction_command(cli: &Cli) -> String {
    // An option is needed when its value differs from what the command would
    // get without it (the environment variable, or the default).
    let needed = |var: &str, default: &str, value: &str| match std::env::var(var) {
        Ok(from_env) => from_env != value,
        Err(_) => value != default,
    };
    let mut words = vec!["junction".to_owned()];
    if needed("JUNCTION_NATS__URL", DEFAULT_NATS_URL, &cli.nats_url) {
        words.push(format!("--nats-url {}", shell_word(&cli.nats_url)));
    }
    if needed("JUNCTION_NATS__PREFIX", "", &cli.prefix) {
        words.push(format!("--prefix {}", shell_word(&cli.prefix)));
    }
    if let Some(tenant) = &cli.tenant {
        words.push(format!("--tenant {}", shell_word(tenant)));
    }
    if let Some(actor) = &cli.actor {
        words.push(format!("--actor {}", shell_word(actor)));
    }
    words.join(" ")
}

/// `text` as one POSIX shell word: as it is when that is safe, else quoted.
fn shell_word(text: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.,:/@%+=".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_word;

    #[test]
    fn printed_commands_quote_what_the_shell_would_split() {
        assert_eq!(shell_word("nats://10.0.0.1:4222"), "nats://10.0.0.1:4222");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("Ann Lee"), "'Ann Lee'");
        assert_eq!(shell_word("o'brien"), r"'o'\''brien'");
    }
}
