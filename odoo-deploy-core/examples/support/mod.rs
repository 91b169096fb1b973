//! What the examples share: a sample project deployed on this machine (a real
//! PostgreSQL cluster, the stand-in Odoo of the fixtures), and the plan of a deploy of
//! it, made the way `odd deploy` makes it.

use std::path::Path;
use std::sync::Arc;

use odoo_deploy_core::clock;
use odoo_deploy_core::config::LoadedConfig;
use odoo_deploy_core::ops::{self, Code, PlanRequest};
use odoo_deploy_core::plan::Plan;
use odoo_deploy_core::target::Target;
use odoo_deploy_core::transport::{LocalTransport, Transport};
use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::pg::PgCluster;

/// The sample project at version `v`, its environment `demo` on this machine.
pub(crate) fn demo(dir: &Path, v: usize) -> Demo {
    let demo = Demo::build(dir, PgCluster::shared(), Reach::Local).expect("the demo project");
    demo.checkout(v).expect("a version of the sample project");
    demo
}

/// The environment `demo` of the project's `odd.toml`, read and prepared over
/// `transport` (the host's Odoo config read).
pub(crate) async fn target(demo: &Demo, transport: &dyn Transport) -> Target {
    let loaded = LoadedConfig::load(&demo.config_path()).expect("odd.toml");
    let env = loaded.environment(&demo.env).expect("the environment");
    let mut target = Target::resolve(&loaded, &demo.env, env).expect("resolved");
    target
        .prepare(transport)
        .await
        .expect("the host's Odoo config");
    target
}

/// The plan of a deploy of the checked-out commit, and the code it was made from.
pub(crate) async fn plan(
    demo: &Demo,
    target: &Target,
    transport: &Arc<dyn Transport>,
    local: &LocalTransport,
) -> (Plan, Code) {
    let loaded = LoadedConfig::load(&demo.config_path()).expect("odd.toml");
    let env = loaded.environment(&demo.env).expect("the environment");
    let root = demo.repo.path().to_path_buf();
    let request = PlanRequest {
        root: &root,
        now: clock::now_unix(),
        who: "example@localhost",
        window: &env.window,
        override_window: None,
        allow_remove: false,
        required_ledger: None,
    };
    let (plan, code, _) = ops::plan(target, transport.as_ref(), local, &request)
        .await
        .expect("a plan");
    assert!(plan.ready(), "{}", plan.render_text());
    (plan, code)
}
