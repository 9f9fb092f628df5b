//! Staged shutdown signals (PROTOCOL §7): the first SIGTERM or Ctrl-C starts
//! a drain; a second one exits the process at once.

/// Exit status after a second signal cut the drain short.
pub const FORCED_EXIT_CODE: i32 = 130;

/// Resolves on the first SIGTERM or SIGINT, and arms the second one to exit at once.
pub async fn first_signal() {
    wait_for_signal().await;
    tracing::info!("shutdown requested; send the signal again to exit at once");
    tokio::spawn(async {
        wait_for_signal().await;
        tracing::warn!("second shutdown signal: exiting now");
        std::process::exit(FORCED_EXIT_CODE);
    });
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
