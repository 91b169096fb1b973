//! The compose strategy end to end on a real Docker engine, over the harness sshd: the
//! project's image by commit (pushed to a loopback registry, pulled by the host), the
//! update as a one-off container of the new image, the tag switched by odd's override
//! file (the operator's compose file is never edited), and the rollback to the previous
//! tag.

use std::fs;

use odoo_deploy_fixtures::demo::{Demo, Reach};
use odoo_deploy_fixtures::docker::{self, Cleanup, Registry};
use odoo_deploy_fixtures::pg::PgCluster;
use odoo_deploy_fixtures::sshd::Sshd;
use serde_json::Value;

use crate::deploy::{deploy, digest, module_state, odd, report, sql, status};
use crate::rollback::filestore_digest;

/// The image reference of version `v`'s commit.
fn reference(demo: &Demo, v: usize) -> String {
    let repository = &demo.compose().expect("compose demo").repository;
    let sha = demo.repo.sha(v).expect("sha");
    format!("{repository}:sha-{}", &sha[..12])
}

/// Builds the images of versions `versions`, pushes them to the registry and removes
/// them from the engine: the host pulls each when it needs it.
fn publish(demo: &Demo, versions: &[usize], cleanup: &mut Cleanup) {
    for &v in versions {
        demo.repo.checkout(v).expect("checkout");
        let reference = reference(demo, v);
        cleanup.image(&reference);
        docker::build_project_image(demo.repo.path(), &reference).expect("build the image");
        docker::docker(["push", &reference]).expect("push");
        docker::docker(["rmi", &reference]).expect("rmi");
    }
}

/// The image the compose service's container runs, and that image's id.
fn running_image(demo: &Demo) -> (String, String) {
    let k = demo.compose().expect("compose demo");
    let out = std::process::Command::new(&k.cli[0])
        .args(&k.cli[1..])
        .arg("-f")
        .arg(&k.file)
        .args(["ps", "-q", "odoo"])
        .output()
        .expect("compose ps");
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(!id.is_empty(), "the odoo service runs a container");
    let inspected = docker::docker(["inspect", "--format", "{{.Config.Image}} {{.Image}}", &id])
        .expect("inspect");
    let (image, image_id) = inspected.trim().split_once(' ').expect("two words");
    (image.to_owned(), image_id.to_owned())
}

fn unique(dir: &std::path::Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

fn gate<'a>(plan: &'a Value, name: &str) -> &'a Value {
    plan["gates"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == name))
        .unwrap_or_else(|| panic!("no {name} gate: {plan:#}"))
}

#[test]
fn compose_v1_v2_v3_deploys_over_ssh_run_each_commits_image() {
    if docker::skip("compose_v1_v2_v3_deploys_over_ssh_run_each_commits_image") {
        return;
    }
    let cluster = PgCluster::shared();
    let sshd = Sshd::shared();
    docker::allow_user(sshd.user()).expect("the ssh user may use Docker");
    let registry = Registry::start().expect("registry");
    let dir = tempfile::tempdir().expect("tempdir");
    let repository = format!(
        "{}/odd-test/compose{}",
        registry.address(),
        unique(dir.path())
    );
    let demo =
        Demo::build_compose(dir.path(), cluster, Reach::Ssh(sshd), &repository).expect("demo");
    let mut cleanup = Cleanup::new();
    publish(&demo, &[1, 2, 3], &mut cleanup);
    let compose_file = demo.compose().expect("compose").file.clone();
    let mut operators_file = fs::read(&compose_file).expect("compose file");

    for v in 1..=3 {
        demo.checkout(v).expect("checkout");
        if v == 3 {
            // The operator edits the compose file: the running container no longer is
            // what compose makes of it, so compose runs the one-off again.
            operators_file.extend_from_slice(b"    environment:\n      ACME_EDITED: \"yes\"\n");
            fs::write(&compose_file, &operators_file).expect("edit the compose file");
        }
        let expected = reference(&demo, v);
        // The plan names the image by tag and registry digest (the host pulled it).
        let (code, stdout, stderr) = odd(&demo, &["plan", "demo", "--json"], &[]);
        assert_eq!(code, 0, "v{v}: {stderr}\n{stdout}");
        let plan: Value = serde_json::from_str(&stdout).expect("plan JSON");
        let g = gate(&plan, "image");
        assert_eq!(g["passed"], true, "{g:#}");
        let detail = g["detail"].as_str().expect("detail");
        assert!(
            detail.starts_with(&format!("{expected}, digest sha256:")),
            "{detail}"
        );
        // The one-off update container: by compose on the first install (no container
        // yet) and after the operator's edit, else by the engine's client with the
        // service container's settings.
        let update = plan["steps"]
            .as_array()
            .and_then(|steps| steps.iter().find(|s| s["kind"] == "update"))
            .and_then(|s| s["commands"][0].as_str())
            .expect("an update step")
            .to_owned();
        let by_docker = "'docker' 'run' '--rm' '--name' 'odd-update-";
        if v != 2 {
            assert!(
                update.contains("'run' '--rm' '--no-deps' '-T'"),
                "v{v}: {update}"
            );
        } else {
            assert!(update.contains(by_docker), "v{v}: {update}");
            assert!(
                update.contains(&format!("'{expected}'")),
                "v{v}: the release's image: {update}"
            );
            assert!(!update.contains("--no-deps"), "v{v}: {update}");
        }
        let (code, events, stderr) = deploy(&demo, &[]);
        assert_eq!(code, 0, "v{v}: {stderr}\n{events:#?}");
        assert_eq!(report(&events)["outcome"], "succeeded");
        let (image, _) = running_image(&demo);
        assert_eq!(image, expected, "v{v}: the service runs the commit's image");
        assert_eq!(
            fs::read(&compose_file).expect("compose file"),
            operators_file,
            "the operator's compose file is never edited"
        );
        // The update ran in a one-off container of the new image: Odoo's log came back.
        assert!(
            events.iter().any(|e| e["event"] == "module_progress"),
            "v{v}: per-module progress from the containerised update"
        );
    }
    for module in ["acme_base", "acme_sale", "acme_loyalty"] {
        assert!(
            module_state(cluster, &demo.db, module).starts_with("installed|18.0."),
            "{module}"
        );
    }
    assert_eq!(
        sql(
            cluster,
            &demo.db,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'acme_partner_grade' AND column_name = 'tier'"
        ),
        "1",
        "v2's new column"
    );
    assert_eq!(
        module_state(cluster, &demo.db, "acme_sale"),
        "installed|18.0.1.4.0"
    );
    assert_eq!(
        sql(
            cluster,
            &demo.db,
            "SELECT coalesce(string_agg(module || ':' || script, ',' ORDER BY id), '') FROM acme_migration_log"
        ),
        "acme_sale:pre-rename_channel,acme_sale:post-fill_defaults",
        "v3's migrations ran once"
    );
    let (code, history, _) = odd(&demo, &["history", "demo", "--json"], &[]);
    assert_eq!(code, 0);
    let history: Vec<Value> = serde_json::from_str(&history).expect("history JSON");
    assert_eq!(history.len(), 3);
    assert!(history.iter().all(|r| r["outcome"] == "succeeded"));
    let s = status(&demo);
    assert_eq!(s["current"]["commit"], demo.repo.sha(3).expect("sha"));
    drop(demo);
    drop(registry);
}

#[test]
fn a_failing_containerised_update_rolls_back_to_the_previous_tag() {
    if docker::skip("a_failing_containerised_update_rolls_back_to_the_previous_tag") {
        return;
    }
    let cluster = PgCluster::shared();
    let sshd = Sshd::shared();
    docker::allow_user(sshd.user()).expect("the ssh user may use Docker");
    let registry = Registry::start().expect("registry");
    let dir = tempfile::tempdir().expect("tempdir");
    let repository = format!(
        "{}/odd-test/compose{}",
        registry.address(),
        unique(dir.path())
    );
    let demo =
        Demo::build_compose(dir.path(), cluster, Reach::Ssh(sshd), &repository).expect("demo");
    let mut cleanup = Cleanup::new();
    publish(&demo, &[3, 4], &mut cleanup);

    demo.checkout(3).expect("v3");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");
    let (image_before, id_before) = running_image(&demo);
    assert_eq!(image_before, reference(&demo, 3));
    let data_before = digest(cluster, &demo.db);
    let files_before = filestore_digest(&demo);
    let release_before = status(&demo)["release"].clone();

    // v4: acme_report's update fails in the one-off container after acme_helpdesk was
    // committed; odd restores the snapshot and starts the previous tag again.
    demo.checkout(4).expect("v4");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 4, "rolled back: {stderr}\n{events:#?}");
    let r = report(&events);
    assert_eq!(r["outcome"], "rolled_back", "{r:#}");
    assert!(
        r["reason"]
            .as_str()
            .is_some_and(|s| s.starts_with("update: odoo-bin exited with 255")),
        "{r:#}"
    );
    let (image_after, id_after) = running_image(&demo);
    assert_eq!(image_after, image_before, "the previous tag runs again");
    assert_eq!(id_after, id_before, "the very same image");
    assert_eq!(digest(cluster, &demo.db), data_before, "the data as before");
    assert_eq!(
        filestore_digest(&demo),
        files_before,
        "the filestore as before"
    );
    let s = status(&demo);
    assert_eq!(s["release"], release_before);
    assert_eq!(s["latest"]["outcome"], "rolled_back");
    assert_eq!(s["lock"]["state"], "free");
    drop(demo);
    drop(registry);
}

/// Slows the stand-in's update inside the container (`secs` a module): the command odd
/// runs in the one-off container gets `ODD_STANDIN_DELAY`.
fn slow_containerised_update(demo: &Demo, secs: u32) {
    crate::rollback::edit_config(
        demo,
        &[(
            "odoo = { command = [\"odoo\", ",
            &format!("odoo = {{ command = [\"env\", \"ODD_STANDIN_DELAY={secs}\", \"odoo\", "),
        )],
    );
}

/// Whether the one-off update container of deploy `id` exists.
fn update_container_exists(demo: &Demo, id: &str) -> bool {
    let name = odoo_deploy_core::service::update_container_name(
        &demo.deploy_dir.join("releases").join(id),
    )
    .expect("a container name");
    docker::docker(["container", "inspect", &name]).is_ok()
}

#[test]
fn odd_killed_during_the_containerised_update_resumes_or_rolls_back_as_today() {
    if docker::skip("odd_killed_during_the_containerised_update_resumes_or_rolls_back_as_today") {
        return;
    }
    let cluster = PgCluster::shared();
    let sshd = Sshd::shared();
    docker::allow_user(sshd.user()).expect("the ssh user may use Docker");
    let registry = Registry::start().expect("registry");
    let dir = tempfile::tempdir().expect("tempdir");
    let repository = format!(
        "{}/odd-test/compose{}",
        registry.address(),
        unique(dir.path())
    );
    let demo =
        Demo::build_compose(dir.path(), cluster, Reach::Ssh(sshd), &repository).expect("demo");
    let mut cleanup = Cleanup::new();
    publish(&demo, &[1, 2, 3], &mut cleanup);
    demo.checkout(1).expect("v1");
    let (code, events, stderr) = deploy(&demo, &[]);
    assert_eq!(code, 0, "{stderr}\n{events:#?}");

    // v2, odd killed while the one-off container updates: the update goes on (its own
    // session on the host), `--resume` waits for it and goes forward.
    demo.checkout(2).expect("v2");
    slow_containerised_update(&demo, 1);
    let running = crate::rollback::deploy_until_the_update(&demo, &[]);
    let id = running.id.clone();
    crate::rollback::wait_for_update_progress(&demo, &id);
    running.kill();
    let (code, _, stderr) = odd(&demo, &["deploy", "demo", "--resume", "--yes"], &[]);
    assert_eq!(code, 0, "{stderr}");
    let s = status(&demo);
    assert_eq!(s["latest"]["id"], id.as_str(), "{s:#}");
    assert_eq!(s["latest"]["outcome"], "succeeded", "{s:#}");
    assert_eq!(s["lock"]["state"], "free", "{s:#}");
    assert_eq!(running_image(&demo).0, reference(&demo, 2));
    assert!(
        !update_container_exists(&demo, &id),
        "the one-off container is gone (--rm)"
    );
    let before = digest(cluster, &demo.db);
    let files_before = filestore_digest(&demo);
    let (_, id_before) = running_image(&demo);

    // v3 with an update too slow to end by itself, odd killed during it: `odd rollback`
    // stops the orphaned run — its container too — before it restores.
    demo.checkout(3).expect("v3");
    slow_containerised_update(&demo, 60);
    let running = crate::rollback::deploy_until_the_update(&demo, &[]);
    let id = running.id.clone();
    crate::rollback::wait_for_update_progress(&demo, &id);
    running.kill();
    assert!(
        update_container_exists(&demo, &id),
        "the orphaned update's container runs on"
    );
    let (code, stdout, stderr) = odd(&demo, &["rollback", "demo", "--yes"], &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains("its orphaned update was stopped (process group"),
        "{stderr}"
    );
    assert!(
        !update_container_exists(&demo, &id),
        "the orphaned update's container was removed with its run"
    );
    assert_eq!(digest(cluster, &demo.db), before, "the pre-deploy data");
    assert_eq!(
        filestore_digest(&demo),
        files_before,
        "the pre-deploy files"
    );
    let (image, id_after) = running_image(&demo);
    assert_eq!(image, reference(&demo, 2), "the previous tag runs again");
    assert_eq!(id_after, id_before);
    let s = status(&demo);
    assert_eq!(s["latest"]["outcome"], "rolled_back", "{s:#}");
    assert_eq!(s["lock"]["state"], "free", "{s:#}");
    drop(demo);
    drop(registry);
}
