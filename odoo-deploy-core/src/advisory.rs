//! A PostgreSQL advisory lock on the target database while the update runs, with the key
//! click-odoo-update uses, so odd and click-odoo-update (or a second odd working from
//! another machine) never update the same database at once.
//!
//! The lock lives in a psql session on the environment's host that takes it, says so,
//! and then lives on its input, which stays open only while the owner's heartbeat (the
//! environment lock's, refreshed every few seconds) is fresh: when the owner dies the
//! session ends by itself within [`HOLDER_STALE_AFTER`]. It is released by ending that
//! session (found by its application name, `odd-lock-<deploy id>`), which works the
//! same locally and over SSH. A recovery that proves the owner dead (it took over the
//! owner's stale environment lock) ends it at once ([`end_dead_holders`]); a holder
//! that is not odd's, or is a live odd's, is never ended: it is reported.
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sha1::{Digest, Sha1};
use tokio::sync::oneshot;

use crate::backup::{DbConn, PgTools};
use crate::event::Stream;
use crate::transport::{OutputSink, Transport, TransportError};

/// The advisory lock key click-odoo-update takes for `database`: the first 14 hex digits
/// of SHA-1 of `click-odoo-update/<database>`.
pub fn lock_key(database: &str) -> i64 {
    let digest = Sha1::digest(format!("click-odoo-update/{database}").as_bytes());
    let hex = hex::encode(digest);
    // 14 hex digits are 56 bits: always a positive i64.
    i64::from_str_radix(&hex[..14], 16).unwrap_or(0)
}

/// A holder whose owner's heartbeat is older than this ends by itself.
pub const HOLDER_STALE_AFTER: Duration = crate::lock::HEARTBEAT_STALE_AFTER;
/// How often the holder looks at the heartbeat and pings its session (a terminated
/// session ends psql at the next ping).
const HOLDER_CHECKS_EVERY: Duration = Duration::from_millis(500);
/// The ping.
const HOLDER_TICK: &str = "SELECT 1;";

/// Takes the lock and says so, then runs the pings (their output discarded) until its
/// input ends.
const HOLD_SQL: &str = r#"SELECT pg_try_advisory_lock(:key::bigint) AS got \gset
\if :got
\echo odd-lock-held
\o /dev/null
\else
\echo odd-lock-busy
\q
\endif
"#;

/// The sessions holding advisory key `:key` on this database: `pid|age secs|application`.
const HOLDERS_SQL: &str = r#"SELECT a.pid, floor(extract(epoch FROM now() - a.backend_start))::bigint, a.application_name
 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory' AND l.granted
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND l.classid = ((:key::bigint >> 32) & 4294967295)::oid
   AND l.objid = (:key::bigint & 4294967295)::oid AND l.objsubid = 1;
"#;

/// Ends one session, only if it is still the one seen (same pid, same application name).
const END_ONE_SQL: &str = r#"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE pid = :pid AND application_name = :'app';
"#;

const RELEASE_SQL: &str = r#"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE application_name = :'app' AND pid <> pg_backend_pid();
"#;

/// A session holding the update lock.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Holder {
    /// Its backend's pid (on the database server).
    pub pid: i64,
    /// Its `application_name`, as the client set it.
    pub application_name: String,
    /// Seconds since its session began.
    pub age_secs: i64,
}

impl Holder {
    /// The deploy id of an odd holder (`odd-lock-<id>`).
    pub fn odd_deploy(&self) -> Option<&str> {
        self.application_name
            .strip_prefix("odd-lock-")
            .filter(|id| !id.is_empty())
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pid {}, application {:?}, {} s old",
            self.pid, self.application_name, self.age_secs
        )
    }
}

/// Whose a holder is, as far as the environment's ledger and lock tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whose {
    /// A run of this environment that is provably gone (its deploy ended, or its
    /// environment lock is stale or released).
    OwnDeadRun,
    /// A live odd run (of this environment or another).
    LiveOdd,
    /// Not odd's: click-odoo-update, or another program.
    Other,
}

/// Judges `holder`: `deploy_of_env` tells whether a deploy id is one of this
/// environment's and, if so, whether its run is provably gone.
pub fn whose(holder: &Holder, deploy_of_env: impl Fn(&str) -> Option<bool>) -> Whose {
    match holder.odd_deploy() {
        None => Whose::Other,
        Some(id) => match deploy_of_env(id) {
            Some(true) => Whose::OwnDeadRun,
            _ => Whose::LiveOdd,
        },
    }
}

/// The holders, each with whose it is, in a sentence naming the real cause.
pub fn explain(holders: &[(Holder, Whose)], env: &str) -> String {
    if holders.is_empty() {
        return "a session that ended before it could be named".to_owned();
    }
    holders
        .iter()
        .map(|(h, w)| match (w, h.odd_deploy()) {
            (Whose::OwnDeadRun, Some(id)) => format!(
                "odd's own dead run of deploy {id} of {env} ({h}): `odd deploy {env} --resume`, `odd rollback {env}` or `odd unlock {env}` ends it"
            ),
            (Whose::LiveOdd, Some(id)) => format!("a live odd run, deploy {id} ({h})"),
            _ => format!("another program, not odd — click-odoo-update? ({h})"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum AdvisoryError {
    #[error("the update lock of database {database} is held by {cause}")]
    #[diagnostic(
        code(odd::advisory::busy),
        help("find it with: SELECT * FROM pg_locks WHERE locktype = 'advisory' AND objid = {key}")
    )]
    /// Another session holds the update lock.
    Busy {
        /// The database.
        database: String,
        /// The advisory lock key (as click-odoo-update computes it, see [`lock_key`]).
        key: i64,
        /// Who holds it, in a sentence (see [`explain`]).
        cause: String,
        /// The sessions holding it.
        holders: Vec<Holder>,
    },
    /// Taking the lock failed for another reason.
    #[error("the update lock of database {database} could not be taken: {reason}")]
    #[diagnostic(code(odd::advisory::failed))]
    Failed {
        /// The database.
        database: String,
        /// What psql said.
        reason: String,
    },
    /// A command on the host failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transport(#[from] TransportError),
}

/// The sessions holding the update lock of `conn`'s database now.
///
/// # Errors
/// The database cannot be asked.
pub async fn holders(
    transport: &dyn Transport,
    tools: &PgTools,
    conn: &DbConn,
) -> Result<Vec<Holder>, TransportError> {
    let key = lock_key(&conn.name).to_string();
    let out = transport
        .check_output(&tools.psql(conn, &conn.name, &[("key", key.as_str())], HOLDERS_SQL))
        .await?;
    Ok(String::from_utf8_lossy(&out)
        .lines()
        .filter_map(parse_holder)
        .collect())
}

fn parse_holder(line: &str) -> Option<Holder> {
    let mut parts = line.splitn(3, '|');
    let pid = parts.next()?.trim().parse().ok()?;
    let age_secs = parts.next()?.trim().parse().ok()?;
    let application_name = parts.next()?.to_owned();
    Some(Holder {
        pid,
        application_name,
        age_secs,
    })
}

/// Ends the holders that are odd runs this environment proves gone (`deploy_of_env`, as
/// for [`whose`]); returns the ones ended and the ones left (never ended here), each
/// judged.
///
/// # Errors
/// The database cannot be asked.
pub async fn end_dead_holders(
    transport: &dyn Transport,
    tools: &PgTools,
    conn: &DbConn,
    deploy_of_env: impl Fn(&str) -> Option<bool>,
) -> Result<(Vec<Holder>, Vec<(Holder, Whose)>), TransportError> {
    let mut ended = Vec::new();
    let mut left = Vec::new();
    for h in holders(transport, tools, conn).await? {
        match whose(&h, &deploy_of_env) {
            Whose::OwnDeadRun => {
                let pid = h.pid.to_string();
                transport
                    .check_output(&tools.psql(
                        conn,
                        crate::backup::commands::MAINTENANCE_DB,
                        &[("pid", pid.as_str()), ("app", h.application_name.as_str())],
                        END_ONE_SQL,
                    ))
                    .await?;
                ended.push(h);
            }
            w => left.push((h, w)),
        }
    }
    // Seen gone: a terminated backend leaves pg_locks at once, but ask again.
    if !ended.is_empty() {
        for _ in 0..100 {
            let now = holders(transport, tools, conn).await?;
            if !now.iter().any(|h| ended.iter().any(|e| e.pid == h.pid)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok((ended, left))
}

/// A held advisory lock; [`Held::release`] ends it.
#[derive(Debug)]
pub struct Held {
    transport: Arc<dyn Transport>,
    tools: PgTools,
    conn: DbConn,
    app: String,
    session: tokio::task::JoinHandle<Result<(), TransportError>>,
}

struct FirstLine(std::sync::Mutex<Option<oneshot::Sender<String>>>);

impl OutputSink for FirstLine {
    fn line(&self, stream: Stream, line: &[u8]) {
        if stream == Stream::Stdout
            && let Some(tx) = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
        {
            let _ = tx.send(String::from_utf8_lossy(line).trim().to_owned());
        }
    }
}

/// Takes the lock for at most `hold`, and for no longer than the file `heartbeat` (the
/// owner's) stays fresh: the session ends by itself after either. A busy lock's
/// holders are in the error; the caller judges whose they are (see [`explain`]).
pub async fn acquire(
    transport: Arc<dyn Transport>,
    tools: &PgTools,
    conn: &DbConn,
    tag: &str,
    hold: Duration,
    heartbeat: &Path,
) -> Result<Held, AdvisoryError> {
    let key = lock_key(&conn.name);
    let app = format!("odd-lock-{tag}");
    let key_text = key.to_string();
    let cmd = tools
        .psql(conn, &conn.name, &[("key", key_text.as_str())], HOLD_SQL)
        .env("PGAPPNAME", &app)
        .stdin_while_fresh(
            heartbeat,
            HOLDER_STALE_AFTER,
            HOLDER_CHECKS_EVERY,
            HOLDER_TICK,
        )
        .timeout(hold + Duration::from_secs(30));
    let (tx, rx) = oneshot::channel();
    let session = {
        let transport = Arc::clone(&transport);
        tokio::spawn(async move {
            let sink = FirstLine(std::sync::Mutex::new(Some(tx)));
            let status = transport.run(&cmd, &sink).await?;
            // Ended by `release` (terminated) or by its own end: both fine here.
            let _ = status;
            Ok(())
        })
    };
    let first = rx.await;
    let asker = Arc::clone(&transport);
    let held = Held {
        transport,
        tools: tools.clone(),
        conn: conn.clone(),
        app,
        session,
    };
    match first.as_deref() {
        Ok("odd-lock-held") => Ok(held),
        Ok("odd-lock-busy") => {
            held.release().await;
            let found = holders(asker.as_ref(), tools, conn).await?;
            Err(AdvisoryError::Busy {
                database: conn.name.clone(),
                key,
                cause: explain(
                    &found
                        .iter()
                        .map(|h| (h.clone(), whose(h, |_| None)))
                        .collect::<Vec<_>>(),
                    "this environment",
                ),
                holders: found,
            })
        }
        other => {
            let reason = match held.session.await {
                Ok(Err(e)) => e.to_string(),
                _ => format!("psql said {other:?}"),
            };
            Err(AdvisoryError::Failed {
                database: conn.name.clone(),
                reason,
            })
        }
    }
}

impl Held {
    /// Ends the session holding the lock (and so the lock).
    pub async fn release(self) {
        let cmd = self.tools.psql(
            &self.conn,
            crate::backup::commands::MAINTENANCE_DB,
            &[("app", self.app.as_str())],
            RELEASE_SQL,
        );
        let _ = self.transport.output(&cmd).await;
        // `pg_terminate_backend` only signals the backend: the lock is free once it has
        // gone, which a loaded server may take a while to do. The next take must not
        // find this very session still holding it.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while let Ok(now) = holders(self.transport.as_ref(), &self.tools, &self.conn).await {
            if !now.iter().any(|h| h.application_name == self.app)
                || tokio::time::Instant::now() > deadline
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The lock is free; psql itself ends at its next ping, on its own if not within
        // this wait (nothing waits on it).
        let _ = tokio::time::timeout(Duration::from_secs(1), self.session).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_is_named_for_what_it_is() {
        let line = |l: &str| parse_holder(l).expect("a holder line");
        let dead = line("4242|31|odd-lock-20261201T090000Z-0123abcd");
        let live = line("4243|5|odd-lock-other-env-run");
        let peer = line("4244|12|");
        assert_eq!(dead.odd_deploy(), Some("20261201T090000Z-0123abcd"));
        assert_eq!(peer.odd_deploy(), None);
        assert_eq!(line("1|2|a|b").application_name, "a|b");
        assert_eq!(parse_holder("garbage"), None);
        let of_env = |id: &str| (id == "20261201T090000Z-0123abcd").then_some(true);
        assert_eq!(whose(&dead, of_env), Whose::OwnDeadRun);
        assert_eq!(whose(&live, of_env), Whose::LiveOdd);
        assert_eq!(whose(&peer, of_env), Whose::Other);
        // A run of this environment that is not proven gone counts as live.
        assert_eq!(whose(&dead, |_| Some(false)), Whose::LiveOdd);
        let text = explain(
            &[(dead, Whose::OwnDeadRun), (peer, Whose::Other)],
            "staging",
        );
        assert_eq!(
            text,
            "odd's own dead run of deploy 20261201T090000Z-0123abcd of staging (pid 4242, application \"odd-lock-20261201T090000Z-0123abcd\", 31 s old): `odd deploy staging --resume`, `odd rollback staging` or `odd unlock staging` ends it; another program, not odd — click-odoo-update? (pid 4244, application \"\", 12 s old)"
        );
    }

    #[test]
    fn the_key_is_click_odoo_updates() {
        // python3 -c "import hashlib;
        //   print(int(hashlib.sha1(b'click-odoo-update/acme').hexdigest()[:14], 16))"
        assert_eq!(lock_key("acme"), 39_696_790_347_468_660);
        assert!(lock_key("acme") > 0);
        assert_ne!(lock_key("acme"), lock_key("acme2"));
    }
}
