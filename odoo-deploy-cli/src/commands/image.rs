//! `odd image build`: the project's container image from the checkout's commit, labelled
//! and tagged by it (`sha-<12>`, optionally the branch), pushed with `--push`.

use odoo_deploy_core::clock;
use odoo_deploy_core::image::{self, BuildRequest, ImageError};
use odoo_deploy_core::transport::LocalTransport;

use crate::context::{self, ConfigArg};
use crate::output::{self, CliError, Status};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Build the image of the current commit (clean tree only) with the operator's
    /// Dockerfile; tag it `sha-<12>` (and the branch); push it with --push.
    Build(BuildArgs),
}

#[derive(Debug, clap::Args)]
struct BuildArgs {
    /// Also tag the image with this branch name (characters a tag cannot hold become `-`).
    #[arg(long, value_name = "NAME")]
    branch: Option<String>,
    /// Push every tag to the repository's registry and report its digest.
    #[arg(long)]
    push: bool,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    config: ConfigArg,
}

pub(crate) fn run(args: &Args) -> Result<Status, CliError> {
    match &args.action {
        Action::Build(args) => build(args),
    }
}

fn build(args: &BuildArgs) -> Result<Status, CliError> {
    let loaded = args.config.load()?;
    let Some(config) = loaded.config.image.as_ref().map(|s| s.get_ref().clone()) else {
        return Err(CliError::bad_input(miette::Report::new(
            ImageError::Unconfigured,
        )));
    };
    let root = loaded.path.parent().map_or_else(
        || std::path::PathBuf::from("."),
        std::path::Path::to_path_buf,
    );
    let request = BuildRequest {
        root: &root,
        repository: config.repository.get_ref(),
        dockerfile: &config.dockerfile,
        source: config.source.as_deref(),
        branch: args.branch.as_deref(),
        push: args.push,
        now: clock::now_unix(),
    };
    context::runtime()?.block_on(async {
        let built = match image::build(&request, &LocalTransport::new()).await {
            Ok(built) => built,
            Err(e @ (ImageError::Dirty { .. } | ImageError::NoDockerfile { .. })) => {
                return Err(CliError::refused(miette::Report::new(e)));
            }
            Err(e) => return Err(CliError::diagnostic(e)),
        };
        if args.json {
            output::print_json(&built)?;
        } else {
            let mut text = format!(
                "built {} from commit {}\n  id {}\n",
                built.build.tags.join(", "),
                built.build.commit,
                built.id
            );
            match &built.digest {
                Some(d) => text.push_str(&format!("  pushed: {}@{d}\n", built.build.repository)),
                None => text.push_str("  not pushed (--push sends it to the registry)\n"),
            }
            output::print(&text)?;
        }
        Ok(Status::Success)
    })
}
