//! `odd.toml` loading: TOML syntax, serde's typed model, the validation pass, and the
//! diagnostics the CLI renders for all of them; on a valid file, what every command then
//! reads from it (environments, secrets' sources, the deploy window, log allow-list).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use odoo_deploy_core::config::LoadedConfig;
use odoo_deploy_core::odoo::LogWatch;
use odoo_deploy_core::window;
use odoo_deploy_fuzz::check_diagnostic;

/// Moments the window policy is evaluated at: the epoch, a Friday 16:30 UTC, a Sunday
/// 23:59 UTC and a Monday 00:00 UTC (around the week's wrap).
const MOMENTS: [i64; 4] = [0, 1_795_192_200, 1_795_391_940, 1_795_392_000];

fuzz_target!(|data: &[u8]| {
    // `LoadedConfig::load` refuses text that is not UTF-8 before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let loaded = match LoadedConfig::parse(Path::new("odd.toml"), text.to_owned()) {
        Ok(loaded) => loaded,
        Err(e) => {
            check_diagnostic(&e, text);
            return;
        }
    };
    for (name, env) in &loaded.config.environments {
        assert!(
            loaded.environment(name).is_ok(),
            "environment `{name}` is listed but not found"
        );
        let env = env.get_ref();
        let _ = env.database.password().source();
        if let Some(login) = &env.smoke.login {
            let _ = login.password().source();
        }
        for now in MOMENTS {
            let _ = window::evaluate(&env.window, now);
        }
        let allow: Vec<&str> = env
            .allow_log_errors
            .iter()
            .map(|p| p.get_ref().as_str())
            .collect();
        let _ = LogWatch::new(&allow, 0);
    }
    let missing = format!(
        "{}x",
        loaded
            .config
            .environments
            .keys()
            .next()
            .map_or("", String::as_str)
    );
    if !loaded.config.environments.contains_key(&missing) {
        let err = loaded
            .environment(&missing)
            .expect_err("not an environment");
        check_diagnostic(&err, text);
    }
});
