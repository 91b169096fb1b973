//! `[environments.NAME.refresh]`: how an environment is refreshed from another
//! (`odd refresh NAME --from SOURCE`): the fail-closed checks' allow-lists and the
//! anonymisation rules.

use serde::Deserialize;
use toml::Spanned;

/// The name real Odoo gives the one cron its `neutralize` leaves active.
pub const AUTOVACUUM_CRON: &str = "Base: Auto-vacuum internal data";

/// `[environments.NAME.refresh]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshConfig {
    /// The environment refreshed from when `--from` is not given.
    pub from: Option<Spanned<String>>,
    /// A verified backup of the source younger than this is reused instead of a new one.
    #[serde(default = "default_max_backup_age")]
    pub max_backup_age_secs: u64,
    /// Crons that may stay active on the copy (by name, `ir_cron.cron_name`).
    #[serde(default = "default_crons")]
    pub allowed_crons: Vec<String>,
    /// The one outgoing mail server allowed active besides Odoo's neutralization dummy
    /// (host `invalid`): a mail catcher, as `host` or `host:port`.
    pub mail_catcher: Option<Spanned<String>>,
    /// The environment variable holding the anonymisation seed (also the key of keyed
    /// hashes). Without it, each refresh draws a random seed and reruns differ.
    pub seed_env: Option<Spanned<String>>,
    /// Apply the built-in profile for core personal data (partners, users, messages).
    #[serde(default = "default_true")]
    pub default_profile: bool,
    /// User logins kept as they are (besides Odoo's own technical users).
    #[serde(default = "default_logins")]
    pub keep_logins: Vec<String>,
    /// Rules of your own, applied after the default profile (a rule for the same column
    /// replaces the profile's).
    #[serde(default)]
    pub anonymise: Vec<Spanned<RuleConfig>>,
}

impl Default for RefreshConfig {
    fn default() -> Self {
        Self {
            from: None,
            max_backup_age_secs: default_max_backup_age(),
            allowed_crons: default_crons(),
            mail_catcher: None,
            seed_env: None,
            default_profile: true,
            keep_logins: default_logins(),
            anonymise: Vec::new(),
        }
    }
}

/// One `[[environments.NAME.refresh.anonymise]]` rule: a model's field and what
/// becomes of it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// The model, e.g. `res.partner` (its table is `res_partner`, as Odoo names it).
    pub model: String,
    /// The field (a stored column of that table).
    pub field: String,
    /// What to do with it.
    pub action: RuleAction,
    /// For `fake`: what kind of value (default `text`).
    #[serde(default)]
    pub fake: FakeKind,
}

/// What an anonymisation rule does with a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// A made-up value derived from the seed and the row's id.
    Fake,
    /// SHA-256 of the seed and the value: equal values stay equal (joins, duplicates).
    Hash,
    /// `NULL`.
    Null,
    /// Left as it is (to exempt a column from the default profile).
    Keep,
}

/// The shape of a fake value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FakeKind {
    /// 16 hex digits derived from the seed and the row's id (the default).
    #[default]
    Text,
    /// `Person ` and 8 hex digits, upper case.
    Name,
    /// `user-`, 12 hex digits and `@example.invalid`.
    Email,
    /// `+1 555 ` and 7 digits.
    Phone,
    /// A number and `Example Street`.
    Street,
    /// `City ` and 6 hex digits, upper case.
    City,
    /// 5 digits.
    Zip,
    /// `user-` and 12 hex digits.
    Login,
    /// `<p>Message …</p>`, 12 hex digits inside.
    Html,
}

fn default_max_backup_age() -> u64 {
    24 * 3600
}

fn default_crons() -> Vec<String> {
    vec![AUTOVACUUM_CRON.to_owned()]
}

fn default_logins() -> Vec<String> {
    vec!["admin".to_owned()]
}

fn default_true() -> bool {
    true
}

/// Whether `name` is a plain lowercase SQL identifier (what Odoo's tables and columns
/// are): the only names a rule may put into SQL text.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && name.len() <= crate::backup::MAX_IDENTIFIER_BYTES
}

/// The table of model `model` (`res.partner` → `res_partner`), when it is a plain one.
pub fn table_of(model: &str) -> Option<String> {
    let table = model.replace('.', "_");
    is_identifier(&table).then_some(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_plain_lowercase_names_only() {
        assert!(is_identifier("res_partner"));
        assert!(is_identifier("x_studio_1"));
        for bad in [
            "", "1a", "Res", "a b", "a;b", "a\"b", "a$(x)", "a'b", "a\nb",
        ] {
            assert!(!is_identifier(bad), "{bad:?}");
        }
        assert_eq!(table_of("res.partner").as_deref(), Some("res_partner"));
        assert_eq!(table_of("res.partner; DROP"), None);
    }
}
