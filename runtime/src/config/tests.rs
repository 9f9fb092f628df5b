//! The configuration's loading, defaults and checks, against real
//! environment variables (figment's jail).

use super::*;

#[test]
fn defaults_match_the_protocol() {
    let config = Config::figment(None)
        .extract::<Config>()
        .expect("defaults extract");
    assert_eq!(
        config.database.url,
        "postgres://postgres@127.0.0.1:5432/junction"
    );
    assert_eq!(config.nats.url, "nats://127.0.0.1:4222");
    assert_eq!(config.http.coordinator_listen(), "127.0.0.1:8080");
    assert_eq!(config.http.worker_listen(), "127.0.0.1:8081");
    assert_eq!(config.worker.concurrency, 16);
    assert_eq!(config.worker.lease_seconds, 10);
    assert_eq!(config.shutdown.drain_seconds, 30);
    assert!(config.fault.point.is_none());
}

#[test]
fn environment_and_file_layer_over_defaults() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "junction.toml",
            "[worker]\nconcurrency = 4\n[nats]\nprefix = \"fromfile\"\n",
        )?;
        jail.set_env("JUNCTION_NATS__PREFIX", "t1");
        jail.set_env(
            "JUNCTION_FAULT__POINT",
            "worker.after_result_commit_before_ack",
        );
        let config = Config::load(Some(Path::new("junction.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(config.worker.concurrency, 4);
        assert_eq!(config.nats.prefix, "t1");
        assert_eq!(
            config.fault.point.as_deref(),
            Some("worker.after_result_commit_before_ack")
        );
        Ok(())
    });
}

#[test]
fn unknown_keys_are_refused_with_the_closest_one() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("JUNCTION_WORKER__CONCURENCY", "4");
        let error = Config::load(None).err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some(
                "configuration: unknown environment variable JUNCTION_WORKER__CONCURENCY: did you mean JUNCTION_WORKER__CONCURRENCY?"
            )
        );
        jail.clear_env();
        jail.set_env("JUNCTION_LOG", "debug");
        jail.set_env("JUNCTION_TEST_NATS_URL", "nats://x:1");
        jail.create_file("junction.toml", "[nats]\nurll = \"nats://a:1\"\n")?;
        let error = Config::load(Some(Path::new("junction.toml")))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("configuration: unknown key in junction.toml: nats.urll: did you mean nats.url?")
        );
        jail.create_file("junction.toml", "[nats]\nurl = \"nats://a:1\"\n")?;
        assert!(Config::load(Some(Path::new("junction.toml"))).is_ok());
        Ok(())
    });
}

#[test]
fn bad_values_are_refused() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("JUNCTION_NATS__PREFIX", "Bad.Prefix");
        assert!(Config::load(None).is_err());
        jail.set_env("JUNCTION_NATS__PREFIX", "ok");
        jail.set_env("JUNCTION_DATABASE__URL", "mysql://x");
        assert!(Config::load(None).is_err());
        jail.set_env("JUNCTION_DATABASE__URL", "postgres://127.0.0.1/x");
        jail.set_env("JUNCTION_NATS__URL", "http://127.0.0.1:4222");
        assert!(Config::load(None).is_err());
        jail.set_env("JUNCTION_NATS__URL", "nats://a:4222,nats://b:4223");
        assert!(Config::load(None).is_ok());
        for (replicas, ok) in [("0", false), ("3", true), ("6", false)] {
            jail.set_env("JUNCTION_NATS__STREAM_REPLICAS", replicas);
            assert_eq!(Config::load(None).is_ok(), ok, "replicas {replicas}");
        }
        Ok(())
    });
}

#[test]
fn executor_settings_load_and_the_llm_key_stays_out_of_debug() {
    figment::Jail::expect_with(|jail| {
        jail.set_env(
            "JUNCTION_EXECUTORS__HTTP__ALLOW_HOSTS",
            "api.example.com,*.internal.example",
        );
        jail.set_env("JUNCTION_EXECUTORS__LLM__BASE_URL", "http://127.0.0.1:9/v1");
        jail.set_env("JUNCTION_EXECUTORS__LLM__API_KEY", "sk-secret");
        let config = Config::load(None).map_err(|e| e.to_string())?;
        let executors = &config.executors;
        assert_eq!(
            executors.http.allow_hosts,
            "api.example.com,*.internal.example"
        );
        assert_eq!(
            executors.llm.base_url.as_deref(),
            Some("http://127.0.0.1:9/v1")
        );
        assert_eq!(executors.llm.api_key.as_deref(), Some("sk-secret"));
        assert!(!format!("{config:?}").contains("sk-secret"));
        jail.set_env("JUNCTION_EXECUTORS__LLM__BASE_URL", "127.0.0.1:9/v1");
        let error = Config::load(None).err().map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("executors.llm.base_url")),
            "{error:?}"
        );
        Ok(())
    });
}

#[test]
fn worker_executors_are_a_checked_comma_list() {
    figment::Jail::expect_with(|jail| {
        let config = Config::load(None).map_err(|e| e.to_string())?;
        assert_eq!(
            config.worker.executor_list(),
            Ok(vec![
                "agent.run",
                "http.request",
                "signal.emit",
                "starlark.eval"
            ])
        );
        jail.set_env("JUNCTION_WORKER__EXECUTORS", " shell.run, llm,shell.run ");
        let config = Config::load(None).map_err(|e| e.to_string())?;
        assert_eq!(config.worker.executor_list(), Ok(vec!["shell.run", "llm"]));
        jail.set_env("JUNCTION_WORKER__EXECUTORS", "agent.run,bash");
        let error = Config::load(None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("unknown executor \"bash\""), "{error}");
        assert!(
            error.contains("known: agent.run, http.request, shell.run"),
            "{error}"
        );
        jail.set_env("JUNCTION_WORKER__EXECUTORS", " , ");
        assert!(Config::load(None).is_err());
        Ok(())
    });
}

#[test]
fn nats_credentials_load_are_checked_and_stay_out_of_debug() {
    figment::Jail::expect_with(|jail| {
        jail.set_env("JUNCTION_NATS__USER", "worker");
        jail.set_env("JUNCTION_NATS__PASSWORD", "pw-secret");
        jail.set_env("JUNCTION_NATS__INBOX_PREFIX", "_INBOX.worker");
        let config = Config::load(None).map_err(|e| e.to_string())?;
        let auth = config.nats.auth();
        assert_eq!(auth.user.as_deref(), Some("worker"));
        assert_eq!(auth.password.as_deref(), Some("pw-secret"));
        assert_eq!(auth.inbox_prefix, "_INBOX.worker");
        assert!(!format!("{config:?}").contains("pw-secret"));
        jail.set_env("JUNCTION_NATS__TOKEN", "tok-secret");
        let error = Config::load(None).err().map(|e| e.to_string());
        assert!(
            error
                .as_deref()
                .is_some_and(|e| e.contains("one NATS auth method") && !e.contains("secret")),
            "{error:?}"
        );
        Ok(())
    });
}
