//! The project's container image, by commit: `odd image build`.
//!
//! The build context is the release archive of the commit ([`crate::archive`]: `git
//! archive` with the submodules at their pinned commits), streamed to `docker build` on
//! stdin, so what is built is exactly what the commit holds — never the working tree. The
//! operator's Dockerfile is read from that context. The image gets the OCI labels
//! `org.opencontainers.image.revision` (the full SHA), `.created` (RFC 3339, UTC) and
//! `.source`, the tag `<repository>:sha-<12 hex>` and optionally `<repository>:<branch>`;
//! `--push` sends each tag to the repository's registry and reads back the digest.
//!
//! Two gates come first, as for a deploy: a dirty working tree and a commit without the
//! Dockerfile are refused before anything is built.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use miette::Diagnostic;
use serde::Serialize;

use crate::command::RemoteCommand;
use crate::git::Git;
use crate::transport::{Transport, TransportError};

/// The label keys odd sets.
pub const LABEL_REVISION: &str = "org.opencontainers.image.revision";
/// The label holding the build time (RFC 3339, UTC).
pub const LABEL_CREATED: &str = "org.opencontainers.image.created";
/// The label holding the project's source URL.
pub const LABEL_SOURCE: &str = "org.opencontainers.image.source";

/// The tag naming a commit: `sha-` and its first 12 hex digits.
pub fn commit_tag(commit: &str) -> String {
    format!("sha-{}", commit.get(..12).unwrap_or(commit))
}

/// A branch name as a Docker tag: characters a tag cannot hold (`/`, …) become `-`, a
/// leading `.` or `-` becomes `_`, at most 128 characters.
pub fn branch_tag(branch: &str) -> String {
    let mut tag: String = branch
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(128)
        .collect();
    if tag.starts_with(['.', '-']) {
        tag.replace_range(..1, "_");
    }
    if tag.is_empty() {
        tag.push('_');
    }
    tag
}

/// Whether `repository` is an image repository Docker accepts (registry host and port
/// optional, lowercase path components, no tag or digest). `Err` says why not.
pub fn check_repository(repository: &str) -> Result<(), String> {
    if repository.is_empty() {
        return Err("it is empty".to_owned());
    }
    if repository.len() > 255 {
        return Err("it is longer than 255 characters".to_owned());
    }
    if repository.contains('@') {
        return Err("a digest does not belong here".to_owned());
    }
    let mut parts: Vec<&str> = repository.split('/').collect();
    // A first component with a `.` or `:` or equal to `localhost` is a registry host.
    if parts.len() > 1 {
        let first = parts[0];
        if first.contains(['.', ':']) || first == "localhost" {
            let (host, port) = first.split_once(':').unwrap_or((first, ""));
            let host_ok = !host.is_empty()
                && host.split('.').all(|l| {
                    !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                });
            let port_ok = port.is_empty() || port.parse::<u16>().is_ok_and(|p| p > 0);
            if !host_ok || !port_ok {
                return Err(format!("`{first}` is not a registry host[:port]"));
            }
            parts.remove(0);
        }
    }
    for part in parts {
        if part.contains(':') {
            return Err("a tag does not belong here: odd tags by commit".to_owned());
        }
        let ok = !part.is_empty()
            && part.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            })
            && part.starts_with(|c: char| c.is_ascii_alphanumeric())
            && part.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !ok {
            return Err(format!(
                "`{part}` is not a path component (lowercase letters, digits and . _ - between them)"
            ));
        }
    }
    Ok(())
}

/// What `odd image build` is asked to do.
#[derive(Debug, Clone)]
pub struct BuildRequest<'a> {
    /// The project root (a git work tree).
    pub root: &'a Path,
    /// `[image] repository`.
    pub repository: &'a str,
    /// `[image] dockerfile`, relative to the root.
    pub dockerfile: &'a Path,
    /// `[image] source`; the `origin` remote's URL when `None`.
    pub source: Option<&'a str>,
    /// Also tag `<repository>:<branch>`.
    pub branch: Option<&'a str>,
    /// Push every tag.
    pub push: bool,
    /// The build time (Unix seconds), for `created`.
    pub now: i64,
}

/// The image as a value: what will be (or was) built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageBuild {
    /// The commit built (full SHA).
    pub commit: String,
    /// The image's repository, registry included.
    pub repository: String,
    /// Full references, the commit's first.
    pub tags: Vec<String>,
    /// The OCI labels set on the image.
    pub labels: BTreeMap<String, String>,
    /// Relative to the build context.
    pub dockerfile: PathBuf,
}

impl ImageBuild {
    /// The image of `commit` with these labels.
    pub fn new(
        repository: &str,
        commit: &str,
        branch: Option<&str>,
        dockerfile: &Path,
        created: &str,
        source: Option<&str>,
    ) -> Self {
        let mut tags = vec![format!("{repository}:{}", commit_tag(commit))];
        if let Some(branch) = branch {
            tags.push(format!("{repository}:{}", branch_tag(branch)));
        }
        let mut labels = BTreeMap::new();
        labels.insert(LABEL_REVISION.to_owned(), commit.to_owned());
        labels.insert(LABEL_CREATED.to_owned(), created.to_owned());
        if let Some(source) = source {
            labels.insert(LABEL_SOURCE.to_owned(), source.to_owned());
        }
        Self {
            commit: commit.to_owned(),
            repository: repository.to_owned(),
            tags,
            labels,
            dockerfile: dockerfile.to_owned(),
        }
    }

    /// `docker build` of the context archive `context` (a tar, on stdin).
    pub fn build_command(&self, context: &Path) -> RemoteCommand {
        let mut cmd = RemoteCommand::new("docker")
            .arg("build")
            .arg("--file")
            .arg(&self.dockerfile);
        for (key, value) in &self.labels {
            cmd = cmd.arg("--label").arg(format!("{key}={value}"));
        }
        for tag in &self.tags {
            cmd = cmd.arg("--tag").arg(tag);
        }
        cmd.arg("-").stdin_file(context)
    }
}

/// `docker push REFERENCE`.
pub fn push_command(reference: &str) -> RemoteCommand {
    RemoteCommand::new("docker").arg("push").arg(reference)
}

/// Prints the image's id (`sha256:…`, its config digest) and its repo digests, one JSON
/// value per line: `"sha256:…"` then `["repo@sha256:…", …]`.
pub fn inspect_command(reference: &str) -> RemoteCommand {
    RemoteCommand::new("docker")
        .arg("image")
        .arg("inspect")
        .arg("--format")
        .arg("{{json .Id}}\n{{json .RepoDigests}}")
        .arg("--")
        .arg(reference)
}

/// What `docker image inspect` said of one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Inspected {
    /// `sha256:…`: the same on every engine that holds the image.
    pub id: String,
    /// `repository@sha256:…` for each registry the image was pushed to or pulled from.
    pub repo_digests: Vec<String>,
}

impl Inspected {
    /// Parses [`inspect_command`]'s output.
    pub fn parse(out: &[u8]) -> Option<Self> {
        let text = String::from_utf8_lossy(out);
        let mut lines = text.lines();
        let id: String = serde_json::from_str(lines.next()?).ok()?;
        let repo_digests: Vec<String> =
            serde_json::from_str(lines.next()?).ok().unwrap_or_default();
        let hex = id.strip_prefix("sha256:")?;
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
            .then_some(Self { id, repo_digests })
    }

    /// The digest recorded for `repository`, if pushed there.
    pub fn digest_in(&self, repository: &str) -> Option<&str> {
        self.repo_digests.iter().find_map(|d| {
            let (repo, digest) = d.rsplit_once('@')?;
            (repo == repository).then_some(digest)
        })
    }
}

/// What `odd image build` did.
#[derive(Debug, Clone, Serialize)]
pub struct BuiltImage {
    /// What was built.
    #[serde(flatten)]
    pub build: ImageBuild,
    /// The image id (`sha256:…`) the engine shows.
    pub id: String,
    /// The registry's digest (`sha256:…`) once pushed.
    pub digest: Option<String>,
    /// Whether the tags were pushed to the registry.
    pub pushed: bool,
}

/// Why `odd image build` did not build.
#[derive(Debug, thiserror::Error, Diagnostic)]
pub enum ImageError {
    #[error("{count} uncommitted change(s) (e.g. {example}): only a commit is built")]
    #[diagnostic(
        code(odd::image::dirty),
        help("commit or stash them: the image is built from the commit, never the working tree")
    )]
    /// The working tree has uncommitted changes.
    Dirty {
        /// How many files changed.
        count: usize,
        /// One of them, to show.
        example: String,
    },

    #[error("commit {commit} has no {}", dockerfile.display())]
    #[diagnostic(
        code(odd::image::no_dockerfile),
        help("commit the Dockerfile, or name it with `dockerfile` in [image] of odd.toml")
    )]
    /// The commit has no Dockerfile where odd.toml says.
    NoDockerfile {
        /// The commit.
        commit: String,
        /// The Dockerfile's path, relative to the project root.
        dockerfile: PathBuf,
    },

    #[error("no [image] in odd.toml")]
    #[diagnostic(
        code(odd::image::unconfigured),
        help("add [image] with `repository = \"registry.example.com/acme/odoo\"`")
    )]
    /// odd.toml has no `[image]`.
    Unconfigured,

    /// The engine does not show the image after the build.
    #[error("the build ran but the engine does not show {reference}: {output}")]
    #[diagnostic(code(odd::image::missing))]
    NotFound {
        /// The reference looked for.
        reference: String,
        /// What the engine said.
        output: String,
    },

    /// A command (git, docker) failed to run.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transport(#[from] TransportError),

    /// git could not read the commit or the working tree.
    #[error("git: {0}")]
    #[diagnostic(code(odd::image::git))]
    Git(String),
}

/// Builds (and pushes) the image of HEAD; see the module's docs.
pub async fn build(
    request: &BuildRequest<'_>,
    local: &dyn Transport,
) -> Result<BuiltImage, ImageError> {
    let git = Git::new(request.root);
    let (commit, dirty) = crate::ops::head(&git, local)
        .await
        .map_err(|e| ImageError::Git(e.to_string()))?;
    if let Some(example) = dirty.first() {
        return Err(ImageError::Dirty {
            count: dirty.len(),
            example: example.clone(),
        });
    }
    if !local
        .output(&git.has_file(&commit, request.dockerfile))
        .await?
        .status
        .success()
    {
        return Err(ImageError::NoDockerfile {
            commit: commit.get(..12).unwrap_or(&commit).to_owned(),
            dockerfile: request.dockerfile.to_owned(),
        });
    }
    let source = match request.source {
        Some(s) => Some(s.to_owned()),
        None => {
            let out = local.output(&git.remote_url("origin")).await?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
                .filter(|s| !s.is_empty())
        }
    };
    let image = ImageBuild::new(
        request.repository,
        &commit,
        request.branch,
        request.dockerfile,
        &crate::clock::rfc3339(request.now),
        source.as_deref(),
    );
    let dir =
        crate::transport::local::scratch_dir("image").map_err(|source| TransportError::Io {
            host: "local".to_owned(),
            context: "creating a private temporary directory".to_owned(),
            source,
        })?;
    let archive = dir.path().join("context.tar");
    crate::archive::build(&git, local, &commit, &archive, dir.path()).await?;
    local.check_output(&image.build_command(&archive)).await?;
    drop(dir);
    let main = &image.tags[0];
    let mut pushed = false;
    if request.push {
        for tag in &image.tags {
            local.check_output(&push_command(tag)).await?;
        }
        pushed = true;
    }
    let out = local.output(&inspect_command(main)).await?;
    let inspected = Inspected::parse(&out.stdout).ok_or_else(|| ImageError::NotFound {
        reference: main.clone(),
        output: crate::transport::tail_of(&out.stderr),
    })?;
    let digest = inspected.digest_in(request.repository).map(str::to_owned);
    Ok(BuiltImage {
        build: image,
        id: inspected.id,
        digest,
        pushed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::argv;

    #[test]
    fn tags_name_the_commit_and_a_sanitised_branch() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(commit_tag(sha), "sha-0123456789ab");
        assert_eq!(branch_tag("feature/new-sale"), "feature-new-sale");
        assert_eq!(branch_tag("-x"), "_x");
        assert_eq!(branch_tag("a b;$(c)"), "a-b---c-");
        assert_eq!(branch_tag(&"x".repeat(200)).len(), 128);
    }

    #[test]
    fn repositories_are_checked_as_docker_reads_them() {
        for ok in [
            "odoo",
            "acme/odoo",
            "registry.example.com/acme/odoo",
            "127.0.0.1:5000/acme/odoo",
            "localhost/a_b.c-d",
        ] {
            assert_eq!(check_repository(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "Acme/odoo",
            "acme/odoo:latest",
            "acme/odoo@sha256:00",
            "acme//odoo",
            "acme/odoo;rm -rf /",
            "host:99999/x",
            "-acme/odoo",
        ] {
            assert!(check_repository(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_build_command_is_exact_and_hostile_values_stay_one_word() {
        let image = ImageBuild::new(
            "127.0.0.1:5000/acme/odoo",
            "0123456789abcdef0123456789abcdef01234567",
            Some("main"),
            Path::new("docker/Dockerfile"),
            "2026-12-01T12:00:00Z",
            Some("https://example.invalid/acme $(touch x)"),
        );
        let cmd = image.build_command(Path::new("/tmp/ctx.tar"));
        assert_eq!(
            argv(&cmd),
            [
                "docker",
                "build",
                "--file",
                "docker/Dockerfile",
                "--label",
                "org.opencontainers.image.created=2026-12-01T12:00:00Z",
                "--label",
                "org.opencontainers.image.revision=0123456789abcdef0123456789abcdef01234567",
                "--label",
                "org.opencontainers.image.source=https://example.invalid/acme $(touch x)",
                "--tag",
                "127.0.0.1:5000/acme/odoo:sha-0123456789ab",
                "--tag",
                "127.0.0.1:5000/acme/odoo:main",
                "-",
            ]
        );
        let shell = String::from_utf8(cmd.to_shell()).unwrap_or_default();
        assert!(
            shell.contains(
                "'org.opencontainers.image.source=https://example.invalid/acme $(touch x)'"
            ),
            "{shell}"
        );
        assert_eq!(
            argv(&push_command("127.0.0.1:5000/acme/odoo:main")),
            ["docker", "push", "127.0.0.1:5000/acme/odoo:main"]
        );
    }

    #[test]
    fn inspect_output_is_parsed_and_checked() {
        let id = format!("sha256:{}", "a".repeat(64));
        let out = format!(
            "\"{id}\"\n[\"127.0.0.1:5000/acme/odoo@sha256:{}\"]\n",
            "b".repeat(64)
        );
        let i = Inspected::parse(out.as_bytes()).expect("parsed");
        assert_eq!(i.id, id);
        assert_eq!(
            i.digest_in("127.0.0.1:5000/acme/odoo"),
            Some(format!("sha256:{}", "b".repeat(64)).as_str())
        );
        assert_eq!(i.digest_in("acme/odoo"), None);
        assert!(Inspected::parse(b"\"sha256:xyz\"\n[]\n").is_none());
        assert!(Inspected::parse(b"").is_none());
    }
}
