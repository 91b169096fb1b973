//! `odd image build` against a real Docker engine: the gates (dirty tree, no Dockerfile),
//! the labels and tags `docker inspect` shows, the submodule inside the image, and the
//! push and pull through a registry on loopback.

use std::fs;
use std::path::Path;
use std::process::Command;

use odoo_deploy_fixtures::docker::{self, Cleanup, Registry};
use odoo_deploy_fixtures::history::{SampleHistory, VENDOR_SUBMODULE};
use serde_json::Value;

use crate::rollback::git;

fn odd_image(root: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_odd"))
        .arg("image")
        .arg("build")
        .args(args)
        .arg("--config")
        .arg(root.join("odd.toml"))
        .env("NO_COLOR", "1")
        .output()
        .expect("run odd");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn commit(root: &Path, message: &str) {
    git(root, &["add", "--all"]);
    git(
        root,
        &[
            "-c",
            "user.name=odd tests",
            "-c",
            "user.email=tests@example.invalid",
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            message,
        ],
    );
}

fn head(root: &Path) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "HEAD"])
        .output()
        .expect("git");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn image_build_labels_and_tags_by_commit_and_pushes_through_a_loopback_registry() {
    if docker::skip("image_build_labels_and_tags_by_commit_and_pushes_through_a_loopback_registry")
    {
        return;
    }
    let (standin, _) = docker::standin_image().expect("stand-in image");
    let registry = Registry::start().expect("registry");
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = SampleHistory::build(&dir.path().join("project")).expect("history");
    repo.checkout(6).expect("v6: with a submodule");
    let root = repo.path();
    let unique = dir
        .path()
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .to_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), "")
        })
        .unwrap_or_default();
    let repository = format!("{}/odd-test/acme{unique}", registry.address());
    let mut cleanup = Cleanup::new();

    // The odd.toml, not committed yet: a dirty tree is refused (exit 3), nothing built.
    fs::write(
        root.join("odd.toml"),
        format!(
            "[project]\naddons_paths = [\"custom_addons\", \"{VENDOR_SUBMODULE}\"]\nseries = \"18.0\"\n\n\
             [image]\nrepository = \"{repository}\"\nsource = \"https://example.invalid/acme/odoo\"\n"
        ),
    )
    .expect("odd.toml");
    let (code, _, stderr) = odd_image(root, &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("uncommitted change(s)"), "{stderr}");
    assert!(stderr.contains("odd.toml"), "{stderr}");

    // Committed, but the commit has no Dockerfile: refused too.
    commit(root, "odd.toml");
    let (code, _, stderr) = odd_image(root, &[]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("has no Dockerfile"), "{stderr}");

    // The operator's Dockerfile: the stand-in with the project's addons and the submodule's.
    fs::write(
        root.join("Dockerfile"),
        format!(
            "FROM {standin}\nCOPY custom_addons /mnt/project/custom_addons\nCOPY vendor /mnt/project/vendor\n"
        ),
    )
    .expect("Dockerfile");
    commit(root, "Dockerfile");
    let sha = head(root);
    let sha_tag = format!("{repository}:sha-{}", &sha[..12]);
    let branch_tag = format!("{repository}:feature-containers");
    cleanup.image(&sha_tag).image(&branch_tag);
    let (code, stdout, stderr) = odd_image(
        root,
        &["--branch", "feature/containers", "--push", "--json"],
    );
    assert_eq!(code, 0, "{stderr}");
    let built: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(built["commit"], sha.as_str());
    assert_eq!(built["tags"], serde_json::json!([sha_tag, branch_tag]));
    assert_eq!(built["pushed"], true);
    let id = built["id"].as_str().expect("id").to_owned();
    let digest = built["digest"].as_str().expect("digest").to_owned();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );

    // What the engine says of it.
    let inspected: Value =
        serde_json::from_str(&docker::docker(["image", "inspect", &sha_tag]).expect("inspect"))
            .expect("inspect JSON");
    let image = &inspected[0];
    assert_eq!(image["Id"], id.as_str());
    let labels = &image["Config"]["Labels"];
    assert_eq!(labels["org.opencontainers.image.revision"], sha.as_str());
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://example.invalid/acme/odoo"
    );
    let created = labels["org.opencontainers.image.created"]
        .as_str()
        .expect("created");
    assert!(
        created.len() == 20 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "RFC 3339 UTC: {created}"
    );
    let tags = image["RepoTags"].as_array().expect("tags");
    assert!(tags.contains(&Value::from(sha_tag.as_str())), "{tags:?}");
    assert!(tags.contains(&Value::from(branch_tag.as_str())), "{tags:?}");
    let digests = image["RepoDigests"].as_array().expect("digests");
    assert!(
        digests.contains(&Value::from(format!("{repository}@{digest}"))),
        "{digests:?}"
    );

    // The context was the commit with its submodule at the pin: the submodule's addons
    // are in the image, the untracked file is not.
    fs::write(root.join("custom_addons").join("untracked.txt"), "x").expect("write");
    let listing = docker::docker([
        "run",
        "--rm",
        "--entrypoint",
        "ls",
        &sha_tag,
        "/mnt/project/vendor/oca-partner",
        "/mnt/project/custom_addons",
    ])
    .expect("ls in the image");
    assert!(listing.contains("oca_partner_tier"), "{listing}");
    assert!(listing.contains("acme_sale"), "{listing}");
    assert!(!listing.contains("untracked"), "{listing}");

    // Gone from the engine, then pulled back from the registry: the same image.
    docker::docker(["rmi", &sha_tag, &branch_tag]).expect("rmi");
    assert!(!docker::has_image(&sha_tag));
    docker::docker(["pull", &sha_tag]).expect("pull from the loopback registry");
    let pulled =
        docker::docker(["image", "inspect", "--format", "{{.Id}}", &sha_tag]).expect("inspect");
    assert_eq!(pulled.trim(), id);
    let by_digest = format!("{repository}@{digest}");
    docker::docker(["pull", &by_digest]).expect("pull by digest");
    let pulled =
        docker::docker(["image", "inspect", "--format", "{{.Id}}", &by_digest]).expect("inspect");
    assert_eq!(pulled.trim(), id);
    drop(registry);
}
