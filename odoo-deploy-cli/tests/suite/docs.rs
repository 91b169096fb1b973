//! `odd completions SHELL` and `odd man`: generated from the clap definitions, and
//! naming every command.

use crate::support::{odd, sample_root};

/// Every command `odd --help` lists.
fn commands() -> Vec<String> {
    let run = odd(&sample_root(), &["--help"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let listed: Vec<String> = run
        .stdout
        .split("Commands:")
        .nth(1)
        .expect("a command list")
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect();
    for expected in [
        "deploy",
        "rollback",
        "backup",
        "restore",
        "completions",
        "man",
    ] {
        assert!(listed.iter().any(|c| c == expected), "{listed:?}");
    }
    listed
}

#[test]
fn completions_for_every_shell_name_every_command() {
    let commands = commands();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = odd(&sample_root(), &["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        for command in &commands {
            assert!(
                run.stdout.contains(command.as_str()),
                "{shell} completes no `{command}`"
            );
        }
        // Flags too: the deploy's are completed.
        assert!(run.stdout.contains("override-window"), "{shell}");
    }
    let run = odd(&sample_root(), &["completions", "tcsh"]);
    assert_eq!(run.code, 2, "an unknown shell is a usage error");
}

#[test]
fn the_man_page_lists_every_command_and_the_exit_codes() {
    let run = odd(&sample_root(), &["man"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let page = &run.stdout;
    assert!(page.contains(".TH odd 1"), "{page}");
    for command in commands() {
        // roff escapes the dash: odd\-deploy(1).
        assert!(
            page.contains(&format!("odd\\-{}(1)", command.replace('-', "\\-"))),
            "the man page lists no `{command}`"
        );
    }
    for code in [
        "0  succeeded",
        "3  refused by a gate",
        "5  failed and NOT restored",
    ] {
        assert!(page.contains(code), "no exit code {code:?}: {page}");
    }
    let run = odd(&sample_root(), &["man", "deploy"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains(".TH odd-deploy 1"), "{}", run.stdout);
    assert!(
        run.stdout.contains("\\-\\-override\\-window"),
        "{}",
        run.stdout
    );
    let run = odd(&sample_root(), &["man", "nope"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no command `nope`"), "{}", run.stderr);
}
