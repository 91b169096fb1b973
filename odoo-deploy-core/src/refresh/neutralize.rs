//! Making a copy of production safe to run: odd's own settings of the copy (staging's
//! base URL, a fresh `database.uuid` and `database.secret`), Odoo's `odoo-bin neutralize`
//! (16+) or a built-in SQL profile (older series), then the fail-closed checks.
//!
//! Every value travels as a psql variable (`:'name'`); the SQL text is fixed.

use serde::Serialize;

/// Odd's own settings of the copy, before neutralize runs: what `neutralize` leaves as it
/// was (odoo-facts.md: `web.base.url`, `database.uuid`, `database.secret` unchanged).
/// Variables: `base_url`.
pub const SETUP_SQL: &str = r"BEGIN;
INSERT INTO ir_config_parameter (key, value) VALUES ('web.base.url', :'base_url')
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
INSERT INTO ir_config_parameter (key, value) VALUES ('database.uuid', gen_random_uuid()::text)
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
INSERT INTO ir_config_parameter (key, value) VALUES ('database.secret', gen_random_uuid()::text)
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
COMMIT;
";

/// The built-in profile for series without `odoo-bin neutralize` (before 16.0): what
/// Odoo's own `data/neutralize.sql` files do for mail, crons, payments and shipping,
/// where those tables exist. Variables: `allowed` (cron names, one per line).
pub const BUILTIN_PROFILE_SQL: &str = r"BEGIN;
UPDATE ir_mail_server SET active = false;
INSERT INTO ir_mail_server (name, smtp_host, smtp_port, active)
    VALUES ('neutralization - disable emails', 'invalid', 1025, true);
UPDATE ir_cron SET active = false WHERE NOT (cron_name = ANY (string_to_array(:'allowed', E'\n')));
INSERT INTO ir_config_parameter (key, value) VALUES ('database.is_neutralized', 'true')
    ON CONFLICT (key) DO UPDATE SET value = 'true';
SELECT to_regclass('payment_acquirer') IS NOT NULL AS has_acquirer,
       to_regclass('payment_provider') IS NOT NULL AS has_provider,
       to_regclass('delivery_carrier') IS NOT NULL AS has_carrier,
       to_regclass('fetchmail_server') IS NOT NULL AS has_fetchmail \gset
\if :has_acquirer
UPDATE payment_acquirer SET state = 'disabled' WHERE state NOT IN ('test', 'disabled');
\endif
\if :has_provider
UPDATE payment_provider SET state = 'disabled' WHERE state NOT IN ('test', 'disabled');
\endif
\if :has_carrier
UPDATE delivery_carrier SET prod_environment = false;
\endif
\if :has_fetchmail
UPDATE fetchmail_server SET active = false;
\endif
COMMIT;
";

/// The checks, one line each: `name|t or f|detail`. Variables: `base_url`, `allowed`
/// (cron names, one per line), `catcher_host`, `catcher_port` (empty: none),
/// `source_uuid`, `source_secret`.
pub const CHECKS_SQL: &str = r"SELECT 'mail_servers',
       count(*) = 0,
       coalesce(string_agg(name::text || ' (' || coalesce(smtp_host, '') || ')', ', ' ORDER BY id), '')
  FROM ir_mail_server
 WHERE active
   AND coalesce(smtp_host, '') <> 'invalid'
   AND NOT (:'catcher_host' <> '' AND smtp_host = :'catcher_host'
            AND (:'catcher_port' = '' OR smtp_port::text = :'catcher_port'));
SELECT 'crons',
       count(*) = 0,
       coalesce(string_agg(cron_name::text, ', ' ORDER BY id), '')
  FROM ir_cron
 WHERE active AND NOT (cron_name::text = ANY (string_to_array(:'allowed', E'\n')));
SELECT 'is_neutralized',
       coalesce(bool_or(value = 'true'), false),
       coalesce(string_agg(value, ', '), 'not set')
  FROM ir_config_parameter WHERE key = 'database.is_neutralized';
SELECT 'fresh_uuid',
       coalesce(bool_and(value <> '' AND value <> :'source_uuid'), false),
       CASE WHEN count(*) = 0 THEN 'not set'
            WHEN bool_and(value = :'source_uuid') THEN 'same as the source''s' ELSE 'new' END
  FROM ir_config_parameter WHERE key = 'database.uuid';
SELECT 'fresh_secret',
       coalesce(bool_and(value <> '' AND value <> :'source_secret'), false),
       CASE WHEN count(*) = 0 THEN 'not set'
            WHEN bool_and(value = :'source_secret') THEN 'same as the source''s' ELSE 'new' END
  FROM ir_config_parameter WHERE key = 'database.secret';
SELECT 'base_url',
       coalesce(bool_and(value = :'base_url'), false),
       coalesce(string_agg(value, ', '), 'not set')
  FROM ir_config_parameter WHERE key = 'web.base.url';
SELECT to_regclass('payment_provider') IS NOT NULL AS has_provider,
       to_regclass('payment_acquirer') IS NOT NULL AS has_acquirer,
       to_regclass('delivery_carrier') IS NOT NULL AS has_carrier \gset
\if :has_provider
SELECT 'payment_providers', count(*) = 0,
       coalesce(string_agg(name::text || ' (' || state || ')', ', ' ORDER BY id), '')
  FROM payment_provider WHERE state NOT IN ('disabled', 'test');
\else
SELECT 'payment_providers', true, 'no payment_provider table';
\endif
\if :has_acquirer
SELECT 'payment_acquirers', count(*) = 0,
       coalesce(string_agg(name::text || ' (' || state || ')', ', ' ORDER BY id), '')
  FROM payment_acquirer WHERE state NOT IN ('disabled', 'test');
\endif
\if :has_carrier
SELECT 'shipping_providers', count(*) = 0,
       coalesce(string_agg(name::text, ', ' ORDER BY id), '')
  FROM delivery_carrier WHERE prod_environment AND active;
\else
SELECT 'shipping_providers', true, 'no delivery_carrier table';
\endif
";

/// The checks every refresh must pass, by the name [`CHECKS_SQL`] prints.
pub const REQUIRED_CHECKS: &[&str] = &[
    "mail_servers",
    "crons",
    "is_neutralized",
    "fresh_uuid",
    "fresh_secret",
    "base_url",
    "payment_providers",
    "shipping_providers",
];

/// `database.uuid` and `database.secret` of the source. Prints `key|value` lines.
pub const SOURCE_PARAMS_SQL: &str = "SELECT key, value FROM ir_config_parameter \
     WHERE key IN ('database.uuid', 'database.secret') ORDER BY key;\n";

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// The check's name, as the check SQL prints it.
    pub name: String,
    /// Whether it passed (a required check that printed nothing fails).
    pub ok: bool,
    /// What was found (offending names, or the value), never a secret.
    pub detail: String,
}

/// What the checks found: every one, passed or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NeutralizeReport {
    /// `odoo-bin neutralize` or the built-in SQL profile.
    pub method: String,
    /// Every check, passed or not.
    pub checks: Vec<Check>,
}

impl NeutralizeReport {
    /// The checks that failed.
    pub fn failed(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.ok)
    }
}

/// Reads the output of [`CHECKS_SQL`] (psql `-A -t`). A required check that printed no
/// line fails: a check odd could not run is not a check passed.
pub fn parse_checks(out: &str) -> Vec<Check> {
    let mut checks: Vec<Check> = out
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, '|');
            let name = parts.next()?.trim();
            let ok = parts.next()?.trim();
            let detail = parts.next().unwrap_or("").trim();
            (!name.is_empty()).then(|| Check {
                name: name.to_owned(),
                ok: ok == "t",
                detail: detail.to_owned(),
            })
        })
        .collect();
    for required in REQUIRED_CHECKS {
        if !checks.iter().any(|c| c.name == *required) {
            checks.push(Check {
                name: (*required).to_owned(),
                ok: false,
                detail: "the check printed nothing".to_owned(),
            });
        }
    }
    checks
}

/// `host` or `host:port` of a mail catcher, split.
pub fn split_catcher(catcher: &str) -> (String, String) {
    match catcher.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            (host.to_owned(), port.to_owned())
        }
        _ => (catcher.to_owned(), String::new()),
    }
}

/// The major version of a series (`18.0` → 18, `saas~17.4` → 17).
pub fn series_major(series: &str) -> Option<u32> {
    let s = series.strip_prefix("saas~").unwrap_or(series);
    s.split('.').next()?.parse().ok()
}

/// Whether the series has `odoo-bin neutralize` (16.0 and later).
pub fn has_neutralize_command(series: &str) -> bool {
    series_major(series).is_some_and(|m| m >= 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_required_check_must_print_a_passing_line() {
        let out = "mail_servers|t|\ncrons|f|Mail: Email Queue Manager\nis_neutralized|t|true\n\
                   fresh_uuid|t|new\nfresh_secret|t|new\nbase_url|t|http://s\n\
                   payment_providers|t|no payment_provider table\n";
        let checks = parse_checks(out);
        let failed: Vec<&str> = checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.name.as_str())
            .collect();
        // crons failed; shipping printed nothing and fails closed.
        assert_eq!(failed, ["crons", "shipping_providers"]);
        assert_eq!(
            checks
                .iter()
                .find(|c| c.name == "crons")
                .map(|c| c.detail.as_str()),
            Some("Mail: Email Queue Manager")
        );
    }

    #[test]
    fn nothing_printed_fails_every_check() {
        let checks = parse_checks("");
        assert_eq!(checks.len(), REQUIRED_CHECKS.len());
        assert!(checks.iter().all(|c| !c.ok));
    }

    #[test]
    fn series_and_catchers() {
        assert!(has_neutralize_command("16.0"));
        assert!(has_neutralize_command("18.0"));
        assert!(has_neutralize_command("saas~17.4"));
        assert!(!has_neutralize_command("15.0"));
        assert!(!has_neutralize_command("junk"));
        assert_eq!(
            split_catcher("mailpit:1025"),
            ("mailpit".to_owned(), "1025".to_owned())
        );
        assert_eq!(
            split_catcher("mailpit"),
            ("mailpit".to_owned(), String::new())
        );
    }

    #[test]
    fn the_sql_names_no_value() {
        // Values travel as psql variables only.
        for sql in [SETUP_SQL, CHECKS_SQL, BUILTIN_PROFILE_SQL] {
            assert!(!sql.contains("http://"));
        }
        assert!(CHECKS_SQL.contains(":'source_secret'"));
    }
}
