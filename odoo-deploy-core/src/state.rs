//! What an environment holds now, read from its host: the database's modules, the
//! checksums and settings stored in it, its active languages, odd's ledger and the
//! current release.

use std::collections::BTreeMap;

use serde::Deserialize;

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
    #[error(transparent)]
    #[diagnostic(transparent)]
    Transport(#[from] TransportError),
    #[error("unexpected answer from psql on {host}: {reason}")]
    #[diagnostic(code(odd::state::psql))]
    Psql { host: String, reason: String },
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
