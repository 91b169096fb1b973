//! A PostgreSQL advisory lock on the target database while the update runs, with the key
//! click-odoo-update uses, so odd and click-odoo-update (or a second odd working from
//! another machine) never update the same database at once.
//!
//! The lock lives in a psql session on the environment's host that takes it, says so,
//! and waits. It is released by ending that session (found by its application name),
//! which works the same locally and over SSH, and also when odd itself dies: the session
//! ends with its `timeout`.

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

const HOLD_SQL: &str = r#"SELECT pg_try_advisory_lock(:key::bigint) AS got \gset
\if :got
\echo odd-lock-held
SELECT pg_sleep(:secs);
\else
\echo odd-lock-busy
\endif
"#;

const RELEASE_SQL: &str = r#"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
 WHERE application_name = :'app' AND pid <> pg_backend_pid();
"#;

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum AdvisoryError {
    #[error(
        "another process holds the update lock of database {database} (click-odoo-update or another odd)"
    )]
    #[diagnostic(
        code(odd::advisory::busy),
        help("find it with: SELECT * FROM pg_locks WHERE locktype = 'advisory' AND objid = {key}")
    )]
    Busy { database: String, key: i64 },
    #[error("the update lock of database {database} could not be taken: {reason}")]
    #[diagnostic(code(odd::advisory::failed))]
    Failed { database: String, reason: String },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transport(#[from] TransportError),
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

/// Takes the lock for at most `hold` (the session ends by itself after that).
pub async fn acquire(
    transport: Arc<dyn Transport>,
    tools: &PgTools,
    conn: &DbConn,
    tag: &str,
    hold: Duration,
) -> Result<Held, AdvisoryError> {
    let key = lock_key(&conn.name);
    let app = format!("odd-lock-{tag}");
    let secs = hold.as_secs().to_string();
    let key_text = key.to_string();
    let cmd = tools
        .psql(
            conn,
            &conn.name,
            &[("key", key_text.as_str()), ("secs", secs.as_str())],
            HOLD_SQL,
        )
        .env("PGAPPNAME", &app)
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
            Err(AdvisoryError::Busy {
                database: conn.name.clone(),
                key,
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
        let _ = tokio::time::timeout(Duration::from_secs(10), self.session).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_click_odoo_updates() {
        // python3 -c "import hashlib;
        //   print(int(hashlib.sha1(b'click-odoo-update/acme').hexdigest()[:14], 16))"
        assert_eq!(lock_key("acme"), 39_696_790_347_468_660);
        assert!(lock_key("acme") > 0);
        assert_ne!(lock_key("acme"), lock_key("acme2"));
    }
}
