//! What an environment holds now, read from its host: the database's modules, the
//! checksums and settings stored in it, its active languages, odd's ledger and the
//! current release.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use sha2::Digest as _;

use crate::backup::{DbConn, PgTools};
use crate::checksum::{CLICK_ODOO_CHECKSUMS_KEY, EXCLUDE_PATTERNS_KEY, ODD_CHECKSUMS_KEY};
use crate::command::RemoteCommand;
use crate::ledger::Ledger;
use crate::odoo::ModuleRow;
use crate::release::{Layout, id_of_link};
use crate::transport::{Transport, TransportError};

/// The database as odd sees it before a deploy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DbState {
    /// Whether the database exists.
    pub exists: bool,
    /// Whether Odoo's tables are there (`ir_module_module`).
    pub initialized: bool,
    /// Every row of `ir_module_module` (empty when not initialized).
    pub modules: Vec<ModuleRow>,
    /// The `ir_config_parameter` values odd reads (checksums, exclude patterns).
    pub params: BTreeMap<String, String>,
    /// Active languages (`res_lang.code`), which decide which `.po` files count.
    pub langs: Vec<String>,
}

/// Reads the modules, parameters and languages in one psql run. Tables that are absent
/// (a database Odoo never initialized) read as empty.
pub const STATE_SQL: &str = r#"SELECT to_regclass('public.ir_module_module') IS NOT NULL AS has_modules \gset
SELECT to_regclass('public.res_lang') IS NOT NULL AS has_langs \gset
SELECT to_regclass('public.ir_config_parameter') IS NOT NULL AS has_params \gset
\if :has_modules
SELECT json_build_object('initialized', true, 'modules', coalesce(json_agg(json_build_object(
  'name', name, 'state', state, 'latest_version', latest_version) ORDER BY name), '[]'::json))
  FROM ir_module_module;
\else
SELECT json_build_object('initialized', false, 'modules', '[]'::json);
\endif
\if :has_params
SELECT coalesce(json_object_agg(key, value), '{}'::json) FROM ir_config_parameter
 WHERE key IN (:'k1', :'k2', :'k3');
\else
SELECT '{}'::json;
\endif
\if :has_langs
SELECT coalesce(json_agg(code ORDER BY code), '[]'::json) FROM res_lang WHERE active;
\else
SELECT '[]'::json;
\endif
"#;

/// Stores a value in `ir_config_parameter` (insert or update), as Odoo's own
/// `set_param` leaves it.
pub const SET_PARAM_SQL: &str = r#"UPDATE ir_config_parameter SET value = :'value', write_date = now() AT TIME ZONE 'UTC'
 WHERE key = :'key';
INSERT INTO ir_config_parameter (key, value, create_date, write_date)
SELECT :'key', :'value', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
 WHERE NOT EXISTS (SELECT 1 FROM ir_config_parameter WHERE key = :'key');
"#;

/// Why the state could not be read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StateError {
    /// A command on the host failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transport(#[from] TransportError),
    /// psql's output could not be read as the state.
    #[error("unexpected answer from psql on {host}: {reason}")]
    #[diagnostic(code(odd::state::psql))]
    Psql {
        /// The host psql ran on.
        host: String,
        /// What was wrong with the output.
        reason: String,
    },
}

#[derive(Deserialize)]
struct ModulesJson {
    initialized: bool,
    modules: Vec<ModuleJson>,
}

#[derive(Deserialize)]
struct ModuleJson {
    name: String,
    state: String,
    latest_version: Option<String>,
}

/// The command that answers whether `db` exists (`t`/`f`).
pub fn exists_command(tools: &PgTools, conn: &DbConn) -> RemoteCommand {
    tools.database_exists(conn, &conn.name)
}

/// The command that reads the state (see [`STATE_SQL`]).
pub fn state_command(tools: &PgTools, conn: &DbConn) -> RemoteCommand {
    tools.psql(
        conn,
        &conn.name,
        &[
            ("k1", ODD_CHECKSUMS_KEY),
            ("k2", CLICK_ODOO_CHECKSUMS_KEY),
            ("k3", EXCLUDE_PATTERNS_KEY),
        ],
        STATE_SQL,
    )
}

/// The command that stores `value` under `key`.
pub fn set_param_command(tools: &PgTools, conn: &DbConn, key: &str, value: &str) -> RemoteCommand {
    tools.psql(
        conn,
        &conn.name,
        &[("key", key), ("value", value)],
        SET_PARAM_SQL,
    )
}

/// Reads the database state through `transport`.
pub async fn read_db(
    transport: &dyn Transport,
    tools: &PgTools,
    conn: &DbConn,
) -> Result<DbState, StateError> {
    let exists = transport.check_output(&exists_command(tools, conn)).await?;
    if String::from_utf8_lossy(&exists).trim() != "t" {
        return Ok(DbState::default());
    }
    let out = transport.check_output(&state_command(tools, conn)).await?;
    parse_state(&String::from_utf8_lossy(&out)).map_err(|reason| StateError::Psql {
        host: transport.host().to_owned(),
        reason,
    })
}

/// Parses the three JSON lines [`STATE_SQL`] prints.
pub fn parse_state(out: &str) -> Result<DbState, String> {
    let mut lines = out.lines().filter(|l| !l.trim().is_empty());
    let mut next = |what: &str| lines.next().ok_or_else(|| format!("no {what} line"));
    let modules: ModulesJson = serde_json::from_str(next("modules")?).map_err(|e| e.to_string())?;
    let params: BTreeMap<String, String> =
        serde_json::from_str(next("parameters")?).map_err(|e| e.to_string())?;
    let langs: Vec<String> = serde_json::from_str(next("languages")?).map_err(|e| e.to_string())?;
    Ok(DbState {
        exists: true,
        initialized: modules.initialized,
        modules: modules
            .modules
            .into_iter()
            .map(|m| ModuleRow {
                name: m.name,
                state: m.state,
                latest_version: m.latest_version.filter(|v| !v.is_empty()),
            })
            .collect(),
        params,
        langs,
    })
}

/// Reads the ledger (empty when there is none yet).
pub async fn read_ledger(
    transport: &dyn Transport,
    layout: &Layout,
) -> Result<Ledger, TransportError> {
    let path = layout.ledger();
    if !transport.exists(&path).await? {
        return Ok(Ledger::default());
    }
    let bytes = transport.read_file(&path).await?;
    Ok(Ledger::parse(&String::from_utf8_lossy(&bytes)))
}

/// Why the plan a ledger line names could not be read back.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanFileError {
    /// A command or a transfer on the host failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transport(#[from] TransportError),
    /// The plan file is gone from the host (pruned with its release).
    #[error("the plan of deploy {id} is gone from the host ({path}): pruned with its release?")]
    #[diagnostic(code(odd::ledger::plan_gone))]
    Gone {
        /// The deploy's id.
        id: String,
        /// The plan file's path on the host.
        path: PathBuf,
    },
    #[error("the plan of deploy {id} ({path}) is not the one its ledger line names: {why}")]
    #[diagnostic(
        code(odd::ledger::plan_altered),
        help("the file was changed or damaged after the deploy wrote it; it is not used")
    )]
    /// The plan file no longer matches the digest on the ledger line, or is not JSON.
    Altered {
        /// The deploy's id.
        id: String,
        /// The plan file's path on the host.
        path: PathBuf,
        /// How it differs (its digest, or it cannot be parsed).
        why: String,
    },
}

/// The SHA-256 of a plan file's bytes, in hex: what a ledger line records.
pub fn plan_digest(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Stores the plan deploy `id` runs in its own file on the host (see
/// [`Layout::plan_file`]) and returns its digest, for the ledger line to name it.
///
/// # Errors
/// The file cannot be written, or the plan cannot be serialized.
pub async fn store_plan(
    transport: &dyn Transport,
    layout: &Layout,
    id: &str,
    plan: &serde_json::Value,
) -> Result<String, TransportError> {
    let bytes = serde_json::to_vec(plan).map_err(|e| TransportError::Io {
        host: transport.host().to_owned(),
        context: format!("serializing the plan of {id}"),
        source: std::io::Error::other(e),
    })?;
    transport.mkdir_p(&layout.runs()).await?;
    transport.write_file(&layout.plan_file(id), &bytes).await?;
    Ok(plan_digest(&bytes))
}

/// The plan `record` ran: the one its line carries (a ledger of an older odd), or the
/// file its digest names, checked against that digest. `None` when the line names none.
///
/// # Errors
/// The file is gone, altered, or cannot be read.
pub async fn read_plan(
    transport: &dyn Transport,
    layout: &Layout,
    record: &crate::ledger::DeployRecord,
) -> Result<Option<serde_json::Value>, PlanFileError> {
    if let Some(plan) = &record.plan {
        return Ok(Some(plan.clone()));
    }
    let Some(digest) = &record.plan_digest else {
        return Ok(None);
    };
    let path = layout.plan_file(&record.id);
    if !transport.exists(&path).await? {
        return Err(PlanFileError::Gone {
            id: record.id.clone(),
            path,
        });
    }
    let bytes = transport.read_file(&path).await?;
    let altered = |why: String| PlanFileError::Altered {
        id: record.id.clone(),
        path: path.clone(),
        why,
    };
    let found = plan_digest(&bytes);
    if !found.eq_ignore_ascii_case(digest) {
        return Err(altered(format!("SHA-256 {found}, the line says {digest}")));
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| altered(e.to_string()))
}

/// The release `current` points to, if any.
pub async fn current_release(
    transport: &dyn Transport,
    layout: &Layout,
) -> Result<Option<String>, TransportError> {
    let out = transport.output(&layout.read_current()).await?;
    if !out.status.success() {
        return Ok(None);
    }
    Ok(id_of_link(&String::from_utf8_lossy(&out.stdout)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::LocalTransport;

    fn record_naming(id: &str, digest: Option<String>) -> crate::ledger::DeployRecord {
        let line = format!(
            r#"{{"id":"{id}","environment":"staging","commit":"{}","previous_commit":null,"who":"ops@laptop","started_at":1,"finished_at":null,"outcome":"running","reason":null,"downtime_ms":null,"window_override":null,"previous_release":null}}"#,
            crate::testing::sha(1)
        );
        let mut record = crate::ledger::Ledger::parse(&line)
            .latest()
            .cloned()
            .expect("a record");
        record.plan_digest = digest;
        record
    }

    #[tokio::test]
    async fn a_stored_plan_is_read_back_only_as_it_was_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path());
        let transport = LocalTransport::new();
        let id = crate::testing::rid(1);
        let plan = serde_json::json!({"release": id, "first_install": true});
        let digest = store_plan(&transport, &layout, &id, &plan)
            .await
            .expect("stored");
        assert_eq!(digest.len(), 64, "SHA-256 in hex: {digest}");
        let record = record_naming(&id, Some(digest.clone()));
        assert_eq!(
            read_plan(&transport, &layout, &record).await.expect("read"),
            Some(plan.clone())
        );
        // A line of an older odd carries its plan: read as it is.
        let mut old = record_naming(&id, None);
        old.plan = Some(serde_json::json!({"first_install": false}));
        assert_eq!(
            read_plan(&transport, &layout, &old).await.expect("read"),
            old.plan
        );
        assert_eq!(
            read_plan(&transport, &layout, &record_naming(&id, None))
                .await
                .expect("read"),
            None,
            "a line naming no plan"
        );
        // Changed after the deploy wrote it: refused, not used.
        std::fs::write(layout.plan_file(&id), br#"{"first_install": false}"#).expect("write");
        let err = read_plan(&transport, &layout, &record)
            .await
            .expect_err("altered");
        assert!(matches!(err, PlanFileError::Altered { .. }), "{err}");
        std::fs::remove_file(layout.plan_file(&id)).expect("rm");
        let err = read_plan(&transport, &layout, &record)
            .await
            .expect_err("gone");
        assert!(matches!(err, PlanFileError::Gone { .. }), "{err}");
    }

    #[test]
    fn state_output_parses() {
        let state = parse_state(
            "{\"initialized\" : true, \"modules\" : [{\"name\" : \"base\", \"state\" : \"installed\", \"latest_version\" : \"18.0.1.3\"}, {\"name\" : \"acme\", \"state\" : \"uninstalled\", \"latest_version\" : null}]}\n\
             {\"odd.installed_checksums\" : \"{\\\"base\\\": \\\"ab\\\"}\"}\n\
             [\"en_US\", \"fr_BE\"]\n",
        )
        .expect("parses");
        assert!(state.exists && state.initialized);
        assert_eq!(state.modules.len(), 2);
        assert_eq!(state.modules[1].latest_version, None);
        assert_eq!(
            state.params.get(ODD_CHECKSUMS_KEY).map(String::as_str),
            Some("{\"base\": \"ab\"}")
        );
        assert_eq!(state.langs, ["en_US", "fr_BE"]);
        assert!(parse_state("").is_err());
        assert!(parse_state("{}\n{}\n[]").is_err());
    }
}
