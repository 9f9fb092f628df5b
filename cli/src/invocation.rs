//! Who is acting (`--actor`, else `$USER`), where the cluster is (the
//! options, their variables, then the configuration file the processes
//! read, then the defaults), and how to call this CLI again against the
//! same cluster, for the hints it prints.

use crate::args::{Cli, DEFAULT_NATS_URL};
use crate::exit::BadInput;
use figment::Figment;
use figment::providers::{Format, Toml};
use junction_bus::NatsAuth;
use std::path::Path;

/// Where the cluster is, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub nats_url: String,
    pub prefix: String,
    /// NATS credentials: the `JUNCTION_NATS__USER`… variables, else the
    /// configuration file's `nats.user`… keys (never options, which `ps`
    /// would show).
    pub auth: NatsAuth,
}

/// `--nats-url` and `--prefix` (or `JUNCTION_NATS__URL`,
/// `JUNCTION_NATS__PREFIX`), else the configuration file's `nats.url` and
/// `nats.prefix` (`--config`, `JUNCTION_CONFIG`), else the defaults.
pub fn cluster(cli: &Cli) -> anyhow::Result<Cluster> {
    let file = match &cli.config {
        Some(path) => read_nats_section(path)?,
        None => NatsSection::default(),
    };
    Ok(Cluster {
        nats_url: cli
            .nats_url
            .clone()
            .or(file.url)
            .unwrap_or_else(|| DEFAULT_NATS_URL.to_owned()),
        prefix: cli.prefix.clone().or(file.prefix).unwrap_or_default(),
        auth: file.auth.with_env(|name| std::env::var(name).ok()),
    })
}

/// What the CLI reads of a configuration file's `[nats]`.
#[derive(Default)]
struct NatsSection {
    url: Option<String>,
    prefix: Option<String>,
    auth: NatsAuth,
}

/// `nats.url`, `nats.prefix` and the credentials of a TOML configuration file.
fn read_nats_section(path: &Path) -> anyhow::Result<NatsSection> {
    let figment = Figment::from(Toml::file_exact(path));
    let read = |key: &str| -> anyhow::Result<Option<String>> {
        match figment.extract_inner::<Option<String>>(key) {
            Ok(value) => Ok(value),
            Err(error) if error.missing() => Ok(None),
            Err(error) => {
                Err(BadInput(format!("configuration file {}: {error}", path.display())).into())
            }
        }
    };
    let auth = NatsAuth {
        user: read("nats.user")?,
        password: read("nats.password")?,
        token: read("nats.token")?,
        credentials_file: read("nats.credentials_file")?.map(Into::into),
        nkey_file: read("nats.nkey_file")?.map(Into::into),
        inbox_prefix: read("nats.inbox_prefix")?.unwrap_or_default(),
    };
    Ok(NatsSection {
        url: read("nats.url")?,
        prefix: read("nats.prefix")?,
        auth,
    })
}

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
    // An option is needed when it was given on the command line: it has a
    // value that its variable does not.
    let needed = |var: &str, value: Option<&str>| {
        value.is_some_and(|v| std::env::var(var).ok().as_deref() != Some(v))
    };
    let mut words = vec!["junction".to_owned()];
    let config = cli.config.as_ref().map(|p| p.display().to_string());
    if needed("JUNCTION_CONFIG", config.as_deref()) {
        words.push(format!(
            "--config {}",
            shell_word(config.as_deref().unwrap_or(""))
        ));
    }
    for (var, option, value) in [
        ("JUNCTION_NATS__URL", "--nats-url", &cli.nats_url),
        ("JUNCTION_NATS__PREFIX", "--prefix", &cli.prefix),
        ("JUNCTION_TENANT", "--tenant", &cli.tenant),
    ] {
        if needed(var, value.as_deref()) {
            words.push(format!(
                "{option} {}",
                shell_word(value.as_deref().unwrap_or(""))
            ));
        }
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
    use super::*;
    use clap::Parser;

    #[test]
    fn printed_commands_quote_what_the_shell_would_split() {
        assert_eq!(shell_word("nats://10.0.0.1:4222"), "nats://10.0.0.1:4222");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("Ann Lee"), "'Ann Lee'");
        assert_eq!(shell_word("o'brien"), r"'o'\''brien'");
    }

    #[test]
    fn the_configuration_file_gives_the_cluster_unless_options_do() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("junction.toml");
        std::fs::write(
            &file,
            "[nats]\nurl = \"nats://10.1.1.1:4222\"\nprefix = \"prod\"\n[worker]\nconcurrency = 3\n",
        )
        .expect("write");
        let path = file.display().to_string();
        let parse = |args: &[&str]| {
            let mut all = vec!["junction", "--config", &path];
            all.extend_from_slice(args);
            Cli::try_parse_from(all).expect("parses")
        };
        let from_file = cluster(&parse(&["members"])).expect("reads");
        assert_eq!(from_file.nats_url, "nats://10.1.1.1:4222");
        assert_eq!(from_file.prefix, "prod");
        let overridden = cluster(&parse(&["members", "--prefix", "t1"])).expect("reads");
        assert_eq!(overridden.prefix, "t1");
        assert_eq!(overridden.nats_url, "nats://10.1.1.1:4222");
        std::fs::write(
            &file,
            "[nats]\nuser = \"op\"\npassword = \"pw\"\ninbox_prefix = \"_INBOX.op\"\n",
        )
        .expect("write");
        let auth = cluster(&parse(&["members"])).expect("reads").auth;
        assert_eq!(auth.user.as_deref(), Some("op"));
        assert_eq!(auth.inbox_prefix, "_INBOX.op");
        std::fs::write(&file, "[nats]\nurl = 3\n").expect("write");
        assert!(cluster(&parse(&["members"])).is_err());
    }
}
