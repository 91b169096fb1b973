//! Anonymising a copy: rules per model and field (fake value, keyed hash, null, keep),
//! a built-in profile for the personal data of Odoo's core models, set-based SQL (one
//! `UPDATE` per table), deterministic for a given seed (the seed travels as a psql
//! variable), and a verification by counting: no value of the source's e-mails, phones
//! and names is left in any anonymised column — the whole table, not a sample.
//!
//! Everything runs in one transaction that commits only when the count is zero.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::settings::{FakeKind, RefreshConfig, RuleAction, table_of};

/// Odoo's own technical users (`base.user_root`, the template users): never personal.
pub const TECHNICAL_LOGINS: &[&str] = &["__system__", "default", "public", "portaltemplate"];

/// One column's rule, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rule {
    /// The table (the model's, `res.partner` → `res_partner`).
    pub table: String,
    /// The column.
    pub column: String,
    /// What is done with it.
    pub action: RuleAction,
    /// For [`RuleAction::Fake`]: the shape of the fake value.
    pub fake: FakeKind,
    /// Fake values of columns with the same key are equal on a row (`email` and
    /// `email_normalized` get one address).
    pub key: String,
}

impl Rule {
    fn new(table: &str, column: &str, action: RuleAction, fake: FakeKind) -> Self {
        Self {
            table: table.to_owned(),
            column: column.to_owned(),
            action,
            fake,
            key: format!("{table}.{column}"),
        }
    }

    fn keyed(mut self, key: &str) -> Self {
        self.key = key.to_owned();
        self
    }

    /// Whether the original values of this column are personal data the verification
    /// looks for afterwards.
    fn is_tracked(&self) -> bool {
        self.action != RuleAction::Keep
            && matches!(
                self.fake,
                FakeKind::Name | FakeKind::Email | FakeKind::Phone | FakeKind::Login
            )
    }
}

/// The built-in profile: partners' names, e-mails, phones and addresses; users' logins
/// (except the kept ones); mail messages' bodies and senders.
pub fn default_profile() -> Vec<Rule> {
    use FakeKind as F;
    use RuleAction::Fake;
    vec![
        Rule::new("res_partner", "name", Fake, F::Name),
        Rule::new("res_partner", "complete_name", Fake, F::Name).keyed("res_partner.name"),
        Rule::new("res_partner", "email", Fake, F::Email),
        Rule::new("res_partner", "email_normalized", Fake, F::Email).keyed("res_partner.email"),
        Rule::new("res_partner", "phone", Fake, F::Phone),
        Rule::new("res_partner", "mobile", Fake, F::Phone),
        Rule::new("res_partner", "phone_sanitized", Fake, F::Phone).keyed("res_partner.phone"),
        Rule::new("res_partner", "street", Fake, F::Street),
        Rule::new("res_partner", "street2", RuleAction::Null, F::Text),
        Rule::new("res_partner", "city", Fake, F::City),
        Rule::new("res_partner", "zip", Fake, F::Zip),
        Rule::new("res_users", "login", Fake, F::Login),
        Rule::new("mail_message", "body", Fake, F::Html),
        Rule::new("mail_message", "email_from", Fake, F::Email),
    ]
}

/// The rules of `config`: the default profile (when on), then the configured rules, a
/// configured rule replacing the profile's for the same column.
pub fn rules(config: &RefreshConfig) -> Vec<Rule> {
    let mut by_column: BTreeMap<(String, String), Rule> = BTreeMap::new();
    let mut order = Vec::new();
    let profile = if config.default_profile {
        default_profile()
    } else {
        Vec::new()
    };
    let configured = config.anonymise.iter().filter_map(|r| {
        let r = r.get_ref();
        Some(Rule::new(&table_of(&r.model)?, &r.field, r.action, r.fake))
    });
    for rule in profile.into_iter().chain(configured) {
        let k = (rule.table.clone(), rule.column.clone());
        if !by_column.contains_key(&k) {
            order.push(k.clone());
        }
        by_column.insert(k, rule);
    }
    order
        .into_iter()
        .filter_map(|k| by_column.remove(&k))
        .collect()
}

/// The query listing which of the rules' columns exist: `table|column` lines.
pub fn existing_columns_sql(rules: &[Rule]) -> String {
    let mut pairs = String::new();
    for (i, r) in rules.iter().enumerate() {
        if i > 0 {
            pairs.push_str(", ");
        }
        let _ = write!(pairs, "('{}', '{}')", r.table, r.column);
    }
    format!(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c \
         JOIN (VALUES {pairs}) AS w(t, col) ON w.t = c.table_name AND w.col = c.column_name \
         WHERE c.table_schema = current_schema() ORDER BY 1, 2;\n"
    )
}

/// The value a rule gives a non-empty column (`:'seed'` is the psql variable).
fn expression(rule: &Rule) -> String {
    let col = format!("\"{}\"", rule.column);
    let h = format!("md5(:'seed' || ':{}:' || id::text)", rule.key);
    match rule.action {
        RuleAction::Keep => col,
        RuleAction::Null => "NULL".to_owned(),
        RuleAction::Hash => {
            format!("encode(sha256(convert_to(:'seed' || ':' || {col}::text, 'UTF8')), 'hex')")
        }
        RuleAction::Fake => match rule.fake {
            FakeKind::Text => format!("substr({h}, 1, 16)"),
            FakeKind::Name => format!("'Person ' || upper(substr({h}, 1, 8))"),
            FakeKind::Email => format!("'user-' || substr({h}, 1, 12) || '@example.invalid'"),
            FakeKind::Phone => format!(
                "'+1 555 ' || lpad(((('x' || substr({h}, 1, 8))::bit(32)::bigint) % 10000000)::text, 7, '0')"
            ),
            FakeKind::Street => format!(
                "(1 + (('x' || substr({h}, 1, 4))::bit(16)::int % 999))::text || ' Example Street'"
            ),
            FakeKind::City => format!("'City ' || upper(substr({h}, 1, 6))"),
            FakeKind::Zip => {
                format!(
                    "lpad(((('x' || substr({h}, 1, 8))::bit(32)::bigint) % 100000)::text, 5, '0')"
                )
            }
            FakeKind::Login => format!("'user-' || substr({h}, 1, 12)"),
            FakeKind::Html => format!("'<p>Message ' || substr({h}, 1, 12) || '</p>'"),
        },
    }
}

/// Rows a rule leaves alone on `table` (kept logins), as a SQL condition on the row.
fn exempt(table: &str, column: &str, keep_logins: &[String]) -> Option<String> {
    if table != "res_users" || column != "login" {
        return None;
    }
    let _ = keep_logins; // they travel as the `keep_logins` variable
    Some(format!(
        "\"login\" = ANY (string_to_array(:'keep_logins', E'\\n')) OR \"login\" IN ({})",
        TECHNICAL_LOGINS
            .iter()
            .map(|l| format!("'{l}'"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// `(what, value)` rows of `columns` of `table`, one scan of the table: the columns
/// without an exempt condition side by side in a `LATERAL (VALUES …)`, each column with
/// one (kept logins) in its own branch. `value` is `lower(column::text)`.
fn column_values(table: &str, columns: &[&Rule], keep_logins: &[String]) -> Vec<String> {
    let mut branches = Vec::new();
    let mut plain = Vec::new();
    for r in columns {
        match exempt(table, &r.column, keep_logins) {
            Some(c) => branches.push(format!(
                "SELECT '{table}.{col}' AS what, lower(\"{col}\"::text) AS v FROM \"{table}\" WHERE NOT ({c})",
                col = r.column
            )),
            None => plain.push(format!("('{table}.{col}', \"{col}\"::text)", col = r.column)),
        }
    }
    if !plain.is_empty() {
        branches.insert(
            0,
            format!(
                "SELECT odd_c.what, lower(odd_c.v) AS v FROM \"{table}\", LATERAL (VALUES {}) AS odd_c(what, v)",
                plain.join(", ")
            ),
        );
    }
    branches
}

/// The whole transaction for the `rules` whose columns exist: originals of the tracked
/// columns into a temporary table, one `UPDATE` per table, the counts (`rows|table|n`,
/// `left|table.column|n`), and a `COMMIT` reached only when every `left` count is zero.
/// Variables: `seed`, `keep_logins` (one per line).
///
/// The originals are collected by one `SELECT DISTINCT` over one scan per table, and
/// counted by one query: every anonymised value of every row, hash-joined once against
/// the originals (one hash table built, not one per column).
pub fn transaction_sql(rules: &[Rule], keep_logins: &[String]) -> String {
    // The originals' hash table (millions of values) stays in memory (default 4 MB
    // spills it to disk in batches), for this transaction only.
    let mut sql = String::from(
        "BEGIN;\nSET LOCAL work_mem = '256MB';\nCREATE TEMP TABLE odd_original (v text) ON COMMIT DROP;\n",
    );
    let mut tracked: BTreeMap<&str, Vec<&Rule>> = BTreeMap::new();
    for r in rules.iter().filter(|r| r.is_tracked()) {
        tracked.entry(&r.table).or_default().push(r);
    }
    if !tracked.is_empty() {
        let branches: Vec<String> = tracked
            .iter()
            .flat_map(|(t, cols)| column_values(t, cols, keep_logins))
            .collect();
        let _ = writeln!(
            sql,
            "INSERT INTO odd_original SELECT DISTINCT odd_o.v FROM (\n  {}\n) AS odd_o WHERE odd_o.v <> '';",
            branches.join("\n  UNION ALL ")
        );
    }
    // The count's planner sizes its hash table from these statistics.
    sql.push_str("ANALYZE odd_original;\n");
    let mut tables: BTreeMap<&str, Vec<&Rule>> = BTreeMap::new();
    for r in rules.iter().filter(|r| r.action != RuleAction::Keep) {
        tables.entry(&r.table).or_default().push(r);
    }
    for (table, cols) in &tables {
        let sets: Vec<String> = cols
            .iter()
            .map(|r| {
                let c = &r.column;
                let value = expression(r);
                match exempt(table, c, keep_logins) {
                    Some(keep) => format!(
                        "\"{c}\" = CASE WHEN \"{c}\" IS NULL OR \"{c}\"::text = '' OR {keep} THEN \"{c}\" ELSE {value} END"
                    ),
                    None => format!(
                        "\"{c}\" = CASE WHEN \"{c}\" IS NULL OR \"{c}\"::text = '' THEN \"{c}\" ELSE {value} END"
                    ),
                }
            })
            .collect();
        let _ = writeln!(
            sql,
            "WITH changed AS (UPDATE \"{table}\" SET {} RETURNING 1)\n  SELECT 'rows', '{table}', count(*) FROM changed;",
            sets.join(",\n    ")
        );
    }
    sql.push_str("CREATE TEMP TABLE odd_left (what text, n bigint) ON COMMIT DROP;\n");
    if !tables.is_empty() {
        // Every anonymised column gets a count, 0 included; kept rows (listed logins)
        // hold their own value on purpose and are not counted.
        let names: Vec<String> = tables
            .values()
            .flatten()
            .map(|r| format!("('{}.{}')", r.table, r.column))
            .collect();
        let branches: Vec<String> = tables
            .iter()
            .flat_map(|(t, cols)| column_values(t, cols, keep_logins))
            .collect();
        let _ = writeln!(
            sql,
            "INSERT INTO odd_left SELECT odd_w.what, count(odd_p.what) FROM (VALUES {}) AS odd_w(what)\n  \
             LEFT JOIN (SELECT odd_a.what FROM (\n  {}\n  ) AS odd_a WHERE odd_a.v IN (SELECT v FROM odd_original)) AS odd_p\n  \
             ON odd_p.what = odd_w.what GROUP BY odd_w.what;",
            names.join(", "),
            branches.join("\n  UNION ALL ")
        );
    }
    sql.push_str(
        "SELECT 'left', what, n FROM odd_left ORDER BY what;\n\
         DO $odd$ BEGIN\n  IF EXISTS (SELECT 1 FROM odd_left WHERE n > 0) THEN\n    \
         RAISE EXCEPTION 'odd: original personal data left after anonymisation';\n  END IF;\nEND $odd$;\n\
         COMMIT;\n",
    );
    sql
}

/// What the anonymisation did, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AnonymiseReport {
    /// Rows rewritten, per table.
    pub rows: BTreeMap<String, u64>,
    /// Rows of each anonymised column still holding one of the source's values.
    pub left: BTreeMap<String, u64>,
    /// Columns of the rules that the database does not have (skipped).
    pub absent: Vec<String>,
    /// Whether the seed came from `seed_env` (else a random one: reruns differ).
    pub seeded: bool,
}

impl AnonymiseReport {
    /// Reads the `rows|…` and `left|…` lines of [`transaction_sql`]'s output.
    pub fn read(&mut self, out: &str) {
        for line in out.lines() {
            let parts: Vec<&str> = line.split('|').collect();
            if let [kind, what, n] = parts.as_slice()
                && let Ok(n) = n.trim().parse::<u64>()
            {
                match *kind {
                    "rows" => {
                        self.rows.insert((*what).to_owned(), n);
                    }
                    "left" => {
                        self.left.insert((*what).to_owned(), n);
                    }
                    _ => {}
                }
            }
        }
    }

    /// Whether every anonymised column was counted and none holds a source value.
    pub fn clean(&self, expected: usize) -> bool {
        self.left.len() == expected && self.left.values().all(|n| *n == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_rule_replaces_the_profile_and_adds_columns() {
        let config: RefreshConfig = toml::from_str(
            r#"
            [[anonymise]]
            model = "res.partner"
            field = "email"
            action = "keep"
            [[anonymise]]
            model = "res.partner"
            field = "vat"
            action = "hash"
            "#,
        )
        .expect("config");
        let rules = rules(&config);
        let email = rules.iter().find(|r| r.column == "email").expect("email");
        assert_eq!(email.action, RuleAction::Keep);
        assert!(
            rules
                .iter()
                .any(|r| r.column == "vat" && r.action == RuleAction::Hash)
        );
        assert_eq!(rules.len(), default_profile().len() + 1);
    }

    #[test]
    fn one_update_per_table_and_a_commit_only_after_the_count() {
        let rules = default_profile();
        let sql = transaction_sql(&rules, &["admin".to_owned()]);
        assert_eq!(sql.matches("UPDATE \"res_partner\"").count(), 1);
        assert_eq!(sql.matches("UPDATE \"res_users\"").count(), 1);
        assert_eq!(sql.matches("UPDATE \"mail_message\"").count(), 1);
        let check = sql.find("RAISE EXCEPTION").expect("check");
        let commit = sql.rfind("COMMIT;").expect("commit");
        assert!(check < commit);
        // The seed and the kept logins travel as variables.
        assert!(sql.contains(":'seed'") && sql.contains(":'keep_logins'"));
        assert!(!sql.contains("admin"));
    }

    #[test]
    fn one_scan_per_table_for_the_originals_and_one_hash_join_for_the_count() {
        let rules = default_profile();
        let sql = transaction_sql(&rules, &[]);
        // The originals: one statement, one scan of each table with tracked columns.
        assert_eq!(sql.matches("INSERT INTO odd_original").count(), 1);
        assert_eq!(sql.matches("FROM \"res_partner\", LATERAL").count(), 2);
        // The count: one statement for every anonymised column, against the whole
        // tables (no LIMIT, no TABLESAMPLE), one lookup of the originals.
        assert_eq!(sql.matches("INSERT INTO odd_left").count(), 1);
        assert_eq!(sql.matches("SELECT v FROM odd_original").count(), 1);
        assert!(!sql.contains("LIMIT") && !sql.contains("TABLESAMPLE"));
        for r in &rules {
            assert!(
                sql.contains(&format!("('{}.{}')", r.table, r.column)),
                "{r:?}"
            );
        }
        // Kept logins stay out of both the originals and the count.
        assert_eq!(sql.matches("WHERE NOT (\"login\" = ANY").count(), 2);
    }

    #[test]
    fn the_report_reads_counts() {
        let mut r = AnonymiseReport::default();
        r.read("rows|res_partner|3\nleft|res_partner.email|0\nleft|res_partner.name|1\n");
        assert_eq!(r.rows["res_partner"], 3);
        assert!(!r.clean(2));
        r.left.insert("res_partner.name".into(), 0);
        assert!(r.clean(2));
        assert!(!r.clean(3));
    }
}
