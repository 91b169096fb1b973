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
///
/// A fake value is drawn from one 64-bit hash of the row's id keyed by the seed and the
/// rule's key (`hashint8extended(id, hashtextextended(seed || key))`, the key's part a
/// constant the planner folds once): no text is built or digested per row, a quarter of
/// the cost of an `md5` per field. Columns sharing a key get the same value on a row.
fn expression(rule: &Rule) -> String {
    let col = format!("\"{}\"", rule.column);
    let h = format!(
        "hashint8extended(id::bigint, hashtextextended(:'seed' || ':{}', 0))",
        rule.key
    );
    // The low 48 bits as 12 hex digits: the same room as the 12 hex digits of md5 before.
    let hex12 = format!("lpad(to_hex({h} & 281474976710655), 12, '0')");
    match rule.action {
        RuleAction::Keep => col,
        RuleAction::Null => "NULL".to_owned(),
        RuleAction::Hash => {
            format!("encode(sha256(convert_to(:'seed' || ':' || {col}::text, 'UTF8')), 'hex')")
        }
        RuleAction::Fake => match rule.fake {
            FakeKind::Text => format!("lpad(to_hex({h}), 16, '0')"),
            FakeKind::Name => {
                format!("'Person ' || upper(lpad(to_hex({h} & 4294967295), 8, '0'))")
            }
            FakeKind::Email => format!("'user-' || {hex12} || '@example.invalid'"),
            FakeKind::Phone => {
                format!("'+1 555 ' || lpad((({h} & 2147483647) % 10000000)::text, 7, '0')")
            }
            FakeKind::Street => format!("(1 + ({h} & 65535) % 999)::text || ' Example Street'"),
            FakeKind::City => format!("'City ' || upper(lpad(to_hex({h} & 16777215), 6, '0'))"),
            FakeKind::Zip => format!("lpad((({h} & 2147483647) % 100000)::text, 5, '0')"),
            FakeKind::Login => format!("'user-' || {hex12}"),
            FakeKind::Html => format!("'<p>Message ' || {hex12} || '</p>'"),
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
///
/// With `dedupe` (the originals), a column whose key is another column of the same scan
/// (`complete_name` keyed by `name`) yields no value on a row where it equals that
/// column's (case aside): the value is collected once.
fn column_values(
    table: &str,
    columns: &[&Rule],
    keep_logins: &[String],
    dedupe: bool,
) -> Vec<String> {
    let mut branches = Vec::new();
    let mut plain: Vec<&Rule> = Vec::new();
    for r in columns {
        match exempt(table, &r.column, keep_logins) {
            Some(c) => branches.push(format!(
                "SELECT '{table}.{col}' AS what, lower(\"{col}\"::text) AS v FROM \"{table}\" WHERE NOT ({c})",
                col = r.column
            )),
            None => plain.push(r),
        }
    }
    if !plain.is_empty() {
        let values: Vec<String> = plain
            .iter()
            .map(|r| {
                let col = &r.column;
                let twin = plain
                    .iter()
                    .find(|o| o.column != r.column && format!("{}.{}", o.table, o.column) == r.key);
                match twin {
                    Some(o) if dedupe => format!(
                        "('{table}.{col}', nullif(lower(\"{col}\"::text), lower(\"{}\"::text)))",
                        o.column
                    ),
                    _ => format!("('{table}.{col}', lower(\"{col}\"::text))"),
                }
            })
            .collect();
        branches.insert(
            0,
            format!(
                "SELECT odd_c.what, odd_c.v FROM \"{table}\", LATERAL (VALUES {}) AS odd_c(what, v)",
                values.join(", ")
            ),
        );
    }
    branches
}

/// The whole transaction for the `rules` whose columns exist: originals of the tracked
/// columns collected, one `UPDATE` per table, the counts (`rows|table|n`,
/// `left|table.column|n`), and a `COMMIT` reached only when every `left` count is zero.
/// Variables: `seed`, `keep_logins` (one per line).
///
/// The originals are one scan per table into an `UNLOGGED` table of 64-bit hashes of
/// their lower-cased text (`odd_original`, dropped before the commit; a regular table
/// so the count may run in parallel, which a temporary one forbids). The count is one
/// query: every anonymised value of every row of the whole tables, hashed the same way
/// and hash-joined once against the originals. A value equal to an original always
/// counts; two different values sharing a hash (about one chance in a million for ten
/// million values) count too, so the check errs only towards failing.
pub fn transaction_sql(rules: &[Rule], keep_logins: &[String]) -> String {
    // The originals' hash table (millions of values) stays in memory (default 4 MB
    // spills it to disk in batches), for this transaction only; JIT compiling these
    // expressions costs seconds and saves none.
    let mut sql = String::from("BEGIN;\nSET LOCAL work_mem = '256MB';\nSET LOCAL jit = off;\n");
    let mut tracked: BTreeMap<&str, Vec<&Rule>> = BTreeMap::new();
    for r in rules.iter().filter(|r| r.is_tracked()) {
        tracked.entry(&r.table).or_default().push(r);
    }
    let branches: Vec<String> = tracked
        .iter()
        .flat_map(|(t, cols)| column_values(t, cols, keep_logins, true))
        .collect();
    if branches.is_empty() {
        sql.push_str("CREATE UNLOGGED TABLE odd_original (h bigint);\n");
    } else {
        let _ = writeln!(
            sql,
            "CREATE UNLOGGED TABLE odd_original AS SELECT hashtextextended(odd_o.v, 0) AS h FROM (\n  {}\n) AS odd_o WHERE odd_o.v <> '';",
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
    if tables.is_empty() {
        sql.push_str("CREATE TEMP TABLE odd_left (what text, n bigint) ON COMMIT DROP;\n");
    } else {
        // Every anonymised column gets a count, 0 included; kept rows (listed logins)
        // hold their own value on purpose and are not counted.
        let names: Vec<String> = tables
            .values()
            .flatten()
            .map(|r| format!("('{}.{}')", r.table, r.column))
            .collect();
        let branches: Vec<String> = tables
            .iter()
            .flat_map(|(t, cols)| column_values(t, cols, keep_logins, false))
            .collect();
        let _ = writeln!(
            sql,
            "CREATE TEMP TABLE odd_left ON COMMIT DROP AS SELECT odd_w.what, coalesce(odd_p.n, 0) AS n FROM (VALUES {}) AS odd_w(what)\n  \
             LEFT JOIN (SELECT odd_a.what, count(*) AS n FROM (\n  {}\n  ) AS odd_a\n  \
             WHERE hashtextextended(odd_a.v, 0) IN (SELECT h FROM odd_original) GROUP BY odd_a.what) AS odd_p\n  \
             ON odd_p.what = odd_w.what;",
            names.join(", "),
            branches.join("\n  UNION ALL ")
        );
    }
    sql.push_str(
        "DROP TABLE odd_original;\n\
         SELECT 'left', what, n FROM odd_left ORDER BY what;\n\
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
        // The originals: one statement, one scan of each table with tracked columns,
        // into a regular (unlogged) table dropped before the commit.
        assert_eq!(sql.matches("CREATE UNLOGGED TABLE odd_original").count(), 1);
        assert!(
            sql.find("DROP TABLE odd_original").expect("dropped")
                < sql.rfind("COMMIT;").expect("commit")
        );
        assert_eq!(sql.matches("FROM \"res_partner\", LATERAL").count(), 2);
        // The count: one statement for every anonymised column, against the whole
        // tables (no LIMIT, no TABLESAMPLE), one lookup of the originals.
        assert_eq!(sql.matches("CREATE TEMP TABLE odd_left").count(), 1);
        assert_eq!(sql.matches("SELECT h FROM odd_original").count(), 1);
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
