//! Commands as data.
//!
//! A [`RemoteCommand`] is an argv plus environment, working directory, stdin and
//! timeout. It is built by pure functions (shaped like [`std::process::Command`]) and
//! turned into POSIX shell text in exactly one place, [`RemoteCommand::to_shell`].
//! Nothing else in odd concatenates shell text.
//!
//! Secret values (passwords, tokens) are carried as [`Secret`]: the real rendering has
//! them, the rendering for logs, plans and events ([`RemoteCommand::display_redacted`])
//! shows `***`. Pass secrets in the environment, not in argv: argv is visible to every
//! user of the target host in the process list.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Extra time given to a timed-out program between `SIGTERM` and `SIGKILL`.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// A value that must never appear in logs, plans, events or ledgers.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<Vec<u8>>) -> Self {
        Self(value.into())
    }

    /// The real value, for the one place that must send it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// One word of a command (an argument or an environment value): bytes, maybe secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    /// Shown as is in logs.
    Plain(Vec<u8>),
    /// Shown as `***` in logs.
    Secret(Secret),
}

impl Word {
    /// The bytes that reach the program.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Word::Plain(b) => b,
            Word::Secret(s) => s.expose(),
        }
    }

    fn redacted(&self) -> &[u8] {
        match self {
            Word::Plain(b) => b,
            Word::Secret(_) => b"***",
        }
    }
}

/// What the program reads on its standard input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Stdin {
    /// Nothing: stdin is empty (`/dev/null`).
    #[default]
    Null,
    /// These bytes.
    Bytes(Vec<u8>),
    /// The content of this file on the machine running odd, streamed.
    File(PathBuf),
}

/// Why a command cannot be run as built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The program name is empty.
    #[error("the program name is empty")]
    EmptyProgram,
    /// A program name starting with `-` would be read as an option by `exec`.
    #[error("the program name `{0}` starts with `-`")]
    ProgramLooksLikeOption(String),
    /// Environment names are `[A-Za-z_][A-Za-z0-9_]*`.
    #[error("`{0}` is not a valid environment variable name")]
    BadEnvName(String),
    /// NUL cannot be passed to a program in argv, env or a path.
    #[error("{0} contains a NUL byte, which no program can receive")]
    Nul(&'static str),
    /// Secret environment values travel as one line on stdin to stay out of argv.
    #[error("the secret value of `{0}` contains a newline")]
    SecretWithNewline(String),
}

/// Shell text for a remote shell, with secret environment values kept out of it.
#[derive(Clone, PartialEq, Eq)]
pub struct ShellScript {
    /// The text: no secret environment value appears in it.
    pub text: Vec<u8>,
    /// Send these bytes on stdin before the program's own input: the secret values,
    /// one line each, which the text reads with `IFS= read -r NAME`.
    pub stdin_prefix: Vec<u8>,
}

impl fmt::Debug for ShellScript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShellScript")
            .field("text", &String::from_utf8_lossy(&self.text))
            .field(
                "stdin_prefix",
                &format_args!("({} bytes)", self.stdin_prefix.len()),
            )
            .finish()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Real,
    Redacted,
    SecretsOnStdin,
}

/// A program to run on a host, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCommand {
    program: Vec<u8>,
    args: Vec<Word>,
    env: Vec<(String, Word)>,
    cwd: Option<Vec<u8>>,
    stdin: Stdin,
    timeout: Option<Duration>,
}

impl RemoteCommand {
    /// A command running `program` (looked up on the target's `PATH`) with no arguments.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        Self {
            program: program.as_ref().as_bytes().to_vec(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            stdin: Stdin::Null,
            timeout: None,
        }
    }

    /// Adds one argument, passed to the program byte for byte.
    #[must_use]
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args
            .push(Word::Plain(arg.as_ref().as_bytes().to_vec()));
        self
    }

    /// Adds several arguments.
    #[must_use]
    pub fn args<I, A>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: AsRef<OsStr>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    /// Adds a secret argument (shown as `***` in logs). Prefer [`Self::secret_env`]:
    /// argv is visible to other users of the target in the process list.
    #[must_use]
    pub fn secret_arg(mut self, arg: Secret) -> Self {
        self.args.push(Word::Secret(arg));
        self
    }

    /// Sets an environment variable for the program.
    #[must_use]
    pub fn env(mut self, name: impl Into<String>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((name.into(), Word::Plain(value.as_ref().as_bytes().to_vec())));
        self
    }

    /// Sets a secret environment variable (its value is shown as `***` in logs).
    #[must_use]
    pub fn secret_env(mut self, name: impl Into<String>, value: Secret) -> Self {
        self.env.push((name.into(), Word::Secret(value)));
        self
    }

    /// Runs the program in this directory on the target.
    #[must_use]
    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().as_os_str().as_bytes().to_vec());
        self
    }

    /// Feeds the program these bytes on stdin.
    #[must_use]
    pub fn stdin_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Stdin::Bytes(bytes.into());
        self
    }

    /// Streams this local file to the program's stdin.
    #[must_use]
    pub fn stdin_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.stdin = Stdin::File(path.into());
        self
    }

    /// Kills the program (and everything it started) after this long.
    #[must_use]
    pub fn timeout(mut self, after: Duration) -> Self {
        self.timeout = Some(after);
        self
    }

    /// The program name.
    pub fn program(&self) -> &OsStr {
        OsStr::from_bytes(&self.program)
    }

    /// The arguments, secrets included.
    pub fn get_args(&self) -> impl Iterator<Item = &OsStr> {
        self.args.iter().map(|w| OsStr::from_bytes(w.bytes()))
    }

    /// The environment, secrets included.
    pub fn get_envs(&self) -> impl Iterator<Item = (&str, &OsStr)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), OsStr::from_bytes(v.bytes())))
    }

    /// The working directory, if set.
    pub fn get_current_dir(&self) -> Option<&Path> {
        self.cwd.as_deref().map(|d| Path::new(OsStr::from_bytes(d)))
    }

    /// What the program reads on stdin.
    pub fn get_stdin(&self) -> &Stdin {
        &self.stdin
    }

    /// The timeout, if set.
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Checks what the builder cannot refuse: names and NUL bytes. Transports call it
    /// before running anything.
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self) -> Result<(), CommandError> {
        if self.program.is_empty() {
            return Err(CommandError::EmptyProgram);
        }
        if self.program.starts_with(b"-") {
            return Err(CommandError::ProgramLooksLikeOption(
                String::from_utf8_lossy(&self.program).into_owned(),
            ));
        }
        if self.program.contains(&0) {
            return Err(CommandError::Nul("the program name"));
        }
        if self.args.iter().any(|a| a.bytes().contains(&0)) {
            return Err(CommandError::Nul("an argument"));
        }
        for (name, value) in &self.env {
            if !is_env_name(name) {
                return Err(CommandError::BadEnvName(name.clone()));
            }
            if value.bytes().contains(&0) {
                return Err(CommandError::Nul("an environment value"));
            }
            if matches!(value, Word::Secret(_)) && value.bytes().contains(&b'\n') {
                return Err(CommandError::SecretWithNewline(name.clone()));
            }
        }
        if self.cwd.as_ref().is_some_and(|d| d.contains(&0)) {
            return Err(CommandError::Nul("the working directory"));
        }
        Ok(())
    }

    /// This command, started detached on the target (its own session, no terminal,
    /// stdin from `/dev/null`), so that it outlives the connection that started it: its
    /// output goes to `log`; once it ends, its exit code is written to `status` (via a
    /// temporary file renamed into place, so a reader never sees half of it). The
    /// command returned ends at once; the caller polls `status`.
    ///
    /// All data travels as positional arguments of a fixed script ([`DETACH_SCRIPT`]),
    /// never as shell text. The environment and directory stay on the returned command
    /// (inherited by the detached one); a timeout becomes a `timeout` in front of it.
    #[must_use]
    pub fn detached(self, log: impl AsRef<Path>, status: impl AsRef<Path>) -> Self {
        let plain = |b: &[u8]| Word::Plain(b.to_vec());
        let mut args = script_words(
            DETACH_SCRIPT,
            "odd-detach",
            [
                log.as_ref().as_os_str().as_bytes(),
                status.as_ref().as_os_str().as_bytes(),
            ],
        );
        if let Some(t) = self.timeout {
            args.push(plain(b"timeout"));
            args.push(plain(b"--foreground"));
            args.push(plain(format!("-k{}s", KILL_GRACE.as_secs()).as_bytes()));
            args.push(plain(format!("{}s", duration_secs(t)).as_bytes()));
        }
        args.push(Word::Plain(self.program));
        args.extend(self.args);
        Self {
            program: b"sh".to_vec(),
            args,
            env: self.env,
            cwd: self.cwd,
            stdin: Stdin::Null,
            timeout: None,
        }
    }

    /// This command with its standard input kept open for as long as the file
    /// `heartbeat` was touched within `stale` (checked every `every`): its own stdin is
    /// passed on first, then the line `tick` at each check; once the heartbeat is older
    /// (or gone) the input ends, and so does a program that lives on its input (`psql`).
    /// The checking loop ends too when the program has ended (the next tick finds the
    /// pipe closed) — `psql` ends when a tick (a query) finds its session terminated.
    ///
    /// All data travels as positional arguments of a fixed script
    /// ([`WHILE_FRESH_SCRIPT`]). Environment, directory, stdin and timeout stay on the
    /// returned command.
    #[must_use]
    pub fn stdin_while_fresh(
        self,
        heartbeat: impl AsRef<Path>,
        stale: Duration,
        every: Duration,
        tick: &str,
    ) -> Self {
        let mut args = script_words(
            WHILE_FRESH_SCRIPT,
            "odd-while-fresh",
            [
                heartbeat.as_ref().as_os_str().as_bytes(),
                stale.as_secs().to_string().as_bytes(),
                duration_secs(every).as_bytes(),
                tick.as_bytes(),
            ],
        );
        args.push(Word::Plain(self.program));
        args.extend(self.args);
        Self {
            program: b"sh".to_vec(),
            args,
            env: self.env,
            cwd: self.cwd,
            stdin: self.stdin,
            timeout: self.timeout,
        }
    }

    /// The POSIX shell text that runs this command: the one place odd writes shell.
    ///
    /// `umask 077 && cd 'DIR' && NAME='value' && export NAME && exec [timeout …] 'program'
    /// 'arg'…`, every word single-quoted; the umask ([`HOST_UMASK`]) keeps what the
    /// program creates private. With a timeout, the program runs under coreutils
    /// `timeout` in its own process group, so the target kills it (and its children)
    /// even if the connection is gone. Call [`Self::validate`] first: this does not
    /// check names.
    pub fn to_shell(&self) -> Vec<u8> {
        self.render(Mode::Real, &mut Vec::new())
    }

    /// The text for a shell on another host. The text itself shows up in that host's
    /// process list while the shell starts, so secret environment values are not in
    /// it: the text reads them from stdin (`IFS= read -r NAME && export NAME`) and the
    /// transport sends [`ShellScript::stdin_prefix`] before the program's own input.
    pub fn to_shell_secrets_on_stdin(&self) -> ShellScript {
        let mut stdin_prefix = Vec::new();
        let text = self.render(Mode::SecretsOnStdin, &mut stdin_prefix);
        ShellScript { text, stdin_prefix }
    }

    /// The same text with secrets replaced by `***`: for logs, plans and events.
    pub fn display_redacted(&self) -> String {
        String::from_utf8_lossy(&self.render(Mode::Redacted, &mut Vec::new())).into_owned()
    }

    fn render(&self, mode: Mode, stdin_prefix: &mut Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        if mode != Mode::Redacted {
            // What odd leaves on a host (dumps, archives, the ledger, logs) is private
            // to the user it runs as. Plans show the command itself, not this frame.
            out.extend_from_slice(HOST_UMASK.as_bytes());
            out.extend_from_slice(b" && ");
        }
        if let Some(dir) = &self.cwd {
            out.extend_from_slice(b"cd ");
            push_quoted(&mut out, dir);
            out.extend_from_slice(b" && ");
        }
        for (name, value) in &self.env {
            match (mode, value) {
                (Mode::SecretsOnStdin, Word::Secret(secret)) => {
                    out.extend_from_slice(b"IFS= read -r ");
                    out.extend_from_slice(name.as_bytes());
                    stdin_prefix.extend_from_slice(secret.expose());
                    stdin_prefix.push(b'\n');
                }
                (Mode::Redacted, _) => {
                    out.extend_from_slice(name.as_bytes());
                    out.push(b'=');
                    push_quoted(&mut out, value.redacted());
                }
                _ => {
                    out.extend_from_slice(name.as_bytes());
                    out.push(b'=');
                    push_quoted(&mut out, value.bytes());
                }
            }
            out.extend_from_slice(b" && export ");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b" && ");
        }
        out.extend_from_slice(b"exec ");
        if let Some(t) = self.timeout {
            out.extend_from_slice(
                format!(
                    "timeout -k {}s {}s ",
                    KILL_GRACE.as_secs(),
                    duration_secs(t)
                )
                .as_bytes(),
            );
        }
        push_quoted(&mut out, &self.program);
        for a in &self.args {
            out.push(b' ');
            let word = if mode == Mode::Redacted {
                a.redacted()
            } else {
                a.bytes()
            };
            push_quoted(&mut out, word);
        }
        out
    }
}

impl fmt::Display for RemoteCommand {
    /// Redacted: secrets show as `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_redacted())
    }
}

/// Every shell text odd runs on a host starts with this: files it creates there are
/// `0600`, directories `0700`.
pub const HOST_UMASK: &str = "umask 077";

/// The script a local transport runs every program through (`sh -c SCRIPT PROGRAM
/// ARGS…`): the same umask as on a remote shell, then the program itself, by `exec`,
/// every value a positional argument.
pub const LOCAL_EXEC_SCRIPT: &str = r#"umask 077 && exec "$0" "$@""#;

/// The script [`RemoteCommand::detached`] runs with `sh -c SCRIPT odd-detach LOG STATUS
/// PROGRAM ARGS…`: fixed text, every value a positional argument. The inner script runs
/// in a new session (`setsid`) in the background; `$?` of the command lands in STATUS.
///
/// The inner shell leads the new session and its process group; it writes its pid (so
/// the group's id) to `STATUS.pid` before the command starts, so that a recovery can end
/// the whole run (`kill -- -PGID`). `timeout` runs with `--foreground`: it stays in that
/// group instead of making one of its own.
pub const DETACH_SCRIPT: &str = r#"log=$1 status=$2; shift 2; rm -f -- "$status" "$status.tmp" "$status.pid" || exit; setsid sh -c 'log=$0 status=$1; shift; echo $$ >"$status.pid"; "$@" >"$log" 2>&1 </dev/null; echo $? >"$status.tmp" && mv -f -- "$status.tmp" "$status"' "$log" "$status" "$@" </dev/null >/dev/null 2>&1 &"#;

/// The script [`RemoteCommand::stdin_while_fresh`] runs with `sh -c SCRIPT
/// odd-while-fresh HEARTBEAT STALE_SECS EVERY TICK PROGRAM ARGS…`: fixed text, every
/// value a positional argument. The heartbeat's age is read with the host's own clock.
pub const WHILE_FRESH_SCRIPT: &str = r#"hb=$1 stale=$2 every=$3 tick=$4; shift 4; { cat; while now=$(date +%s) && touched=$(stat -c %Y -- "$hb" 2>/dev/null) && [ $((now - touched)) -le "$stale" ] && printf '%s\n' "$tick"; do sleep "$every"; done; } | "$@""#;

/// `-c SCRIPT NAME VALUE…` for `sh`: a fixed script, its `$0`, every value a positional
/// argument (never shell text).
fn script_words<'v>(
    script: &str,
    name: &str,
    values: impl IntoIterator<Item = &'v [u8]>,
) -> Vec<Word> {
    let mut words = vec![
        Word::Plain(b"-c".to_vec()),
        Word::Plain(script.as_bytes().to_vec()),
        Word::Plain(name.as_bytes().to_vec()),
    ];
    words.extend(values.into_iter().map(|v| Word::Plain(v.to_vec())));
    words
}

/// `timeout` takes fractional seconds; keep millisecond precision.
fn duration_secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}", ms / 1000)
    } else {
        format!("{}.{:03}", ms / 1000, ms % 1000)
    }
}

/// `[A-Za-z_][A-Za-z0-9_]*`
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.bytes();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Appends `word` single-quoted for a POSIX shell: `'` becomes `'\''`.
pub fn push_quoted(out: &mut Vec<u8>, word: &[u8]) {
    out.push(b'\'');
    for &b in word {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
}

/// `word` single-quoted for a POSIX shell.
pub fn shell_quote(word: impl AsRef<OsStr>) -> OsString {
    let mut out = Vec::new();
    push_quoted(&mut out, word.as_ref().as_bytes());
    OsString::from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(c: &RemoteCommand) -> String {
        String::from_utf8(c.to_shell()).unwrap()
    }

    #[test]
    fn plain_command() {
        let c = RemoteCommand::new("pg_dump").arg("-Fc").arg("my db");
        assert_eq!(text(&c), "umask 077 && exec 'pg_dump' '-Fc' 'my db'");
    }

    #[test]
    fn quotes_are_escaped() {
        let c = RemoteCommand::new("echo").arg("it's $(rm -rf /) `x`; *");
        assert_eq!(
            text(&c),
            r"umask 077 && exec 'echo' 'it'\''s $(rm -rf /) `x`; *'"
        );
    }

    #[test]
    fn empty_argument_is_kept() {
        let c = RemoteCommand::new("printf").arg("").arg("'");
        assert_eq!(text(&c), r"umask 077 && exec 'printf' '' ''\'''");
    }

    #[test]
    fn cwd_env_and_timeout() {
        let c = RemoteCommand::new("odoo-bin")
            .arg("-u")
            .arg("sale")
            .current_dir("/srv/odoo releases/42")
            .env("PGHOST", "/run/postgresql")
            .timeout(Duration::from_millis(1500));
        assert_eq!(
            text(&c),
            "umask 077 && cd '/srv/odoo releases/42' && PGHOST='/run/postgresql' && export PGHOST && \
             exec timeout -k 2s 1.500s 'odoo-bin' '-u' 'sale'"
        );
    }

    #[test]
    fn secrets_are_redacted_only_in_display() {
        let c = RemoteCommand::new("psql")
            .secret_env("PGPASSWORD", Secret::new("hunter2"))
            .secret_arg(Secret::new("tok"))
            .arg("visible");
        assert_eq!(
            c.display_redacted(),
            "PGPASSWORD='***' && export PGPASSWORD && exec 'psql' '***' 'visible'"
        );
        assert_eq!(c.to_string(), c.display_redacted());
        assert_eq!(
            text(&c),
            "umask 077 && PGPASSWORD='hunter2' && export PGPASSWORD && exec 'psql' 'tok' 'visible'"
        );
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn secrets_on_stdin_stay_out_of_the_text() {
        let c = RemoteCommand::new("psql")
            .env("PGUSER", "odoo")
            .secret_env("PGPASSWORD", Secret::new("hunter2"))
            .secret_env("TOKEN", Secret::new("t ok'"));
        let s = c.to_shell_secrets_on_stdin();
        assert_eq!(
            String::from_utf8(s.text.clone()).unwrap(),
            "umask 077 && PGUSER='odoo' && export PGUSER && IFS= read -r PGPASSWORD && export PGPASSWORD && \
             IFS= read -r TOKEN && export TOKEN && exec 'psql'"
        );
        assert_eq!(s.stdin_prefix, b"hunter2\nt ok'\n");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(
            RemoteCommand::new("x")
                .secret_env("P", Secret::new("a\nb"))
                .validate(),
            Err(CommandError::SecretWithNewline("P".into()))
        );
    }

    #[test]
    fn validation() {
        assert_eq!(RemoteCommand::new("ls").validate(), Ok(()));
        assert_eq!(
            RemoteCommand::new("").validate(),
            Err(CommandError::EmptyProgram)
        );
        assert!(matches!(
            RemoteCommand::new("-rf").validate(),
            Err(CommandError::ProgramLooksLikeOption(_))
        ));
        assert_eq!(
            RemoteCommand::new("ls").env("A B", "x").validate(),
            Err(CommandError::BadEnvName("A B".into()))
        );
        assert_eq!(
            RemoteCommand::new("ls").env("1A", "x").validate(),
            Err(CommandError::BadEnvName("1A".into()))
        );
        assert_eq!(
            RemoteCommand::new("ls").arg("a\0b").validate(),
            Err(CommandError::Nul("an argument"))
        );
        assert!(RemoteCommand::new("ls").env("_A1", "x").validate().is_ok());
    }

    #[test]
    fn detached_passes_every_value_as_an_argument() {
        let cmd = RemoteCommand::new("odoo-bin")
            .arg("-u")
            .arg("a'b; rm -rf /")
            .env("PGAPPNAME", "odd")
            .timeout(Duration::from_secs(90))
            .detached("/o/runs/r1.log", "/o/runs/r1.status");
        assert_eq!(
            crate::testing::argv(&cmd),
            [
                "sh",
                "-c",
                DETACH_SCRIPT,
                "odd-detach",
                "/o/runs/r1.log",
                "/o/runs/r1.status",
                "timeout",
                "--foreground",
                "-k2s",
                "90s",
                "odoo-bin",
                "-u",
                "a'b; rm -rf /"
            ]
        );
        assert_eq!(cmd.get_timeout(), None);
        assert_eq!(cmd.get_envs().count(), 1);
    }

    #[test]
    fn a_detached_command_outlives_its_shell_and_leaves_its_status() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("run.log");
        let status = dir.path().join("run.status");
        let hostile = "$(touch pwned) 'quoted' `x`";
        let cmd = RemoteCommand::new("sh")
            .arg("-c")
            .arg("sleep 0.3; echo \"$1\"; exit 7")
            .arg("inner")
            .arg(hostile)
            .detached(&log, &status);
        let started = std::time::Instant::now();
        #[allow(clippy::disallowed_methods)]
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(std::ffi::OsStr::from_bytes(&cmd.to_shell()))
            .current_dir(dir.path())
            .output()
            .expect("sh runs");
        assert!(out.status.success());
        assert!(
            started.elapsed() < Duration::from_millis(300),
            "it returns before the command ends"
        );
        assert!(!status.exists(), "no status while it runs");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !status.exists() {
            assert!(std::time::Instant::now() < deadline, "no status file");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(std::fs::read_to_string(&status).expect("status"), "7\n");
        let pid = std::fs::read_to_string(dir.path().join("run.status.pid")).expect("pid file");
        assert!(pid.trim().parse::<u32>().is_ok(), "{pid:?}");
        assert_eq!(
            std::fs::read_to_string(&log).expect("log"),
            format!("{hostile}\n")
        );
        assert!(!dir.path().join("pwned").exists());
    }

    fn run_sh(cmd: &RemoteCommand) -> std::process::Output {
        use std::io::Write as _;
        #[allow(clippy::disallowed_methods)]
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(std::ffi::OsStr::from_bytes(&cmd.to_shell()))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh runs");
        if let (Some(mut w), Stdin::Bytes(b)) = (child.stdin.take(), cmd.get_stdin()) {
            w.write_all(b).expect("stdin");
        }
        child.wait_with_output().expect("sh ends")
    }

    #[test]
    fn stdin_stays_open_while_the_heartbeat_is_fresh_and_no_longer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let hb = dir.path().join("heartbeat");
        std::fs::write(&hb, b"").expect("heartbeat");
        // The program ends by itself after its first line: the loop ends with it, though
        // the heartbeat stays fresh.
        let first_line = RemoteCommand::new("sh")
            .arg("-c")
            .arg("read a; echo \"got $a\"")
            .stdin_bytes(b"hello\n".to_vec())
            .stdin_while_fresh(
                &hb,
                Duration::from_secs(600),
                Duration::from_millis(100),
                "",
            );
        let started = std::time::Instant::now();
        let out = run_sh(&first_line);
        assert_eq!(out.stdout, b"got hello\n");
        assert!(started.elapsed() < Duration::from_secs(30));
        // A program living on its input ends once the heartbeat is older than `stale`.
        #[allow(clippy::disallowed_methods)]
        let touched = std::process::Command::new("touch")
            .args(["-d", "2000-01-01"])
            .arg(&hb)
            .status()
            .expect("touch");
        assert!(touched.success());
        let lives_on_input = RemoteCommand::new("sh")
            .arg("-c")
            .arg("read a; echo \"got $a\"; while read b; do :; done; echo ended")
            .stdin_bytes(b"hello\n".to_vec())
            .stdin_while_fresh(&hb, Duration::from_secs(60), Duration::from_millis(100), "");
        let out = run_sh(&lives_on_input);
        assert_eq!(out.stdout, b"got hello\nended\n");
        assert_eq!(
            crate::testing::argv(&lives_on_input)[..6],
            [
                "sh",
                "-c",
                WHILE_FRESH_SCRIPT,
                "odd-while-fresh",
                hb.to_str().expect("utf-8"),
                "60"
            ]
        );
    }

    #[test]
    fn a_program_run_locally_gets_the_host_umask_and_its_own_argv() {
        assert!(LOCAL_EXEC_SCRIPT.starts_with(HOST_UMASK));
        #[allow(clippy::disallowed_methods)]
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(LOCAL_EXEC_SCRIPT)
            .args([
                "sh",
                "-c",
                "umask; printf '%s|' \"$@\"",
                "x",
                "a b",
                "'$(c)'",
            ])
            .output()
            .expect("sh runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "0077\na b|'$(c)'|");
    }

    #[test]
    fn shell_quote_single_word() {
        assert_eq!(shell_quote("a'b"), OsString::from(r"'a'\''b'"));
    }
}
