//! The tokens file is read again without a restart: every
//! `auth.reload_interval_seconds` when its contents changed (0: never by
//! polling), and on SIGHUP whatever they are. A file that cannot be read or
//! is not valid keeps the tokens already loaded, and says so in an error log
//! line (once per version of the file, not at every poll).

use super::Tokens;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

/// What the file held when last looked at: its contents' hash, or why it
/// could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Contents(u64),
    Unreadable(String),
}

/// Installs the SIGHUP handler (at once, so a SIGHUP sent from then on
/// reloads rather than ends the process) and returns the task that reloads
/// `tokens` from `path` until `stop` turns true.
pub fn watch(
    tokens: Arc<Tokens>,
    path: PathBuf,
    interval: Duration,
    stop: watch::Receiver<bool>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let hangup = signal(SignalKind::hangup())?;
    let seen = look(&path).0;
    Ok(tokio::spawn(run(
        tokens, path, interval, hangup, seen, stop,
    )))
}

async fn run(
    tokens: Arc<Tokens>,
    path: PathBuf,
    interval: Duration,
    mut hangup: Signal,
    mut seen: Seen,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let forced = tokio::select! {
            _ = stop.changed() => return,
            received = hangup.recv() => {
                if received.is_none() {
                    return;
                }
                tracing::info!(file = %path.display(), "SIGHUP: reading the tokens file again");
                true
            }
            _ = poll(interval) => false,
        };
        let (now, text) = look(&path);
        if !forced && now == seen {
            continue;
        }
        seen = now;
        match text {
            Err(error) => tracing::error!(
                file = %path.display(),
                %error,
                "cannot read the tokens file; keeping the tokens loaded before"
            ),
            Ok(text) => match tokens.replace(&text) {
                Ok(count) => {
                    tracing::info!(file = %path.display(), tokens = count, "tokens file reloaded")
                }
                Err(error) => tracing::error!(
                    file = %path.display(),
                    error = format!("{error:#}"),
                    "invalid tokens file; keeping the tokens loaded before"
                ),
            },
        }
    }
}

/// Sleeps `interval`, or for ever when it is zero (polling off).
async fn poll(interval: Duration) {
    if interval.is_zero() {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(interval).await;
}

/// The file's fingerprint and text (or why it cannot be read).
fn look(path: &Path) -> (Seen, Result<String, String>) {
    match std::fs::read(path) {
        Ok(bytes) => {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            bytes.hash(&mut hasher);
            let text = String::from_utf8(bytes).map_err(|e| e.to_string());
            (Seen::Contents(hasher.finish()), text)
        }
        Err(error) => (
            Seen::Unreadable(error.kind().to_string()),
            Err(error.to_string()),
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_changed_file_is_reloaded_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        std::fs::write(&path, r#"{"tokens":[{"token":"a","identity":"ann"}]}"#).unwrap();
        let tokens = Arc::new(Tokens::load(Some(&path)).unwrap().unwrap());
        let (stop_tx, stop) = watch::channel(false);
        let task = watch(
            tokens.clone(),
            path.clone(),
            Duration::from_millis(20),
            stop,
        )
        .unwrap();
        std::fs::write(&path, r#"{"tokens":[{"token":"b","identity":"bo"}]}"#).unwrap();
        let until = |token: &'static str| {
            let tokens = tokens.clone();
            async move {
                while tokens.caller(Some(token)).is_err() {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), until("b"))
            .await
            .unwrap();
        assert!(tokens.caller(Some("a")).is_err());
        std::fs::write(&path, "{ broken").unwrap();
        // Let several polls pass: the broken file never replaces the tokens.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(tokens.caller(Some("b")).is_ok());
        std::fs::remove_file(&path).unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(tokens.caller(Some("b")).is_ok());
        stop_tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .unwrap()
            .unwrap();
    }
}
