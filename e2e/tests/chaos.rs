//! The chaos suite, CI form: 220 seeded runs of a mix of workflows over a
//! 150 s window in which at least 22 faults of every kind hit the cluster
//! (coordinator and worker SIGKILLs, workers stopped past their lease,
//! NATS node kills, Postgres restarts, terminated database connections);
//! every invariant of `junction_e2e::chaos` must hold afterwards. The long
//! form is `deploy/dev/chaos.sh`, which sets `JUNCTION_CHAOS_*`.

use junction_e2e::chaos::{Settings, run};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invariant_holds_under_seeded_faults() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let (runs, per_kind) = (settings.runs as u64, u64::from(settings.faults_per_kind));
    let Some(figures) = run(settings).await? else {
        return Ok(());
    };
    // Every run the settings promise, and every fault of every kind.
    let ran = figures["runs"].as_u64().unwrap_or_default();
    anyhow::ensure!(ran >= runs, "only {ran} runs of {runs}: {figures}");
    for (kind, n) in figures["faults_by_kind"].as_object().into_iter().flatten() {
        anyhow::ensure!(
            n.as_u64() == Some(per_kind),
            "{n} faults of {kind}, not {per_kind}: {figures}"
        );
    }
    anyhow::ensure!(figures["duplicates"] == 0, "duplicates: {figures}");
    Ok(())
}
