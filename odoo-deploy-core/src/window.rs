//! Deploy windows: periods of the week in which a deploy is refused unless overridden.
//!
//! Rules are written on a fixed UTC offset (`utc_offset = "+01:00"`), evaluated on whole
//! minutes of the week. A period may wrap past midnight (`from = "22:00"`, `to = "06:00"`
//! covers the night into the next day).

use crate::config::{DenyRule, WindowConfig};

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const MINUTES_PER_DAY: u32 = 24 * 60;

/// A deny rule, checked: days as indexes (Monday = 0), times as minutes after midnight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    days: Vec<u8>,
    from: u32,
    to: u32,
    reason: Option<String>,
}

impl TryFrom<&DenyRule> for Rule {
    type Error = String;

    fn try_from(rule: &DenyRule) -> Result<Self, String> {
        let mut days = Vec::new();
        for day in &rule.days {
            let lower = day.to_ascii_lowercase();
            let index = DAYS
                .iter()
                .position(|d| lower.starts_with(d) && d.len() >= 3)
                .ok_or_else(|| format!("`{day}` is not a day of the week"))?;
            days.push(u8::try_from(index).map_err(|e| e.to_string())?);
        }
        let from = parse_time(&rule.from)
            .ok_or_else(|| format!("`{}` is not a time (HH:MM)", rule.from))?;
        let to =
            parse_time(&rule.to).ok_or_else(|| format!("`{}` is not a time (HH:MM)", rule.to))?;
        if from == to {
            return Err("`from` and `to` are equal: the period is empty".to_owned());
        }
        Ok(Self {
            days,
            from,
            to,
            reason: rule.reason.clone(),
        })
    }
}

impl Rule {
    /// Whether the rule covers `minute` (of the day) on `day` (Monday = 0).
    fn covers(&self, day: u8, minute: u32) -> bool {
        let on = |d: u8| self.days.is_empty() || self.days.contains(&d);
        if self.from < self.to {
            on(day) && (self.from..self.to).contains(&minute)
        } else {
            // Wraps past midnight: the evening part belongs to the listed day, the early
            // morning part to the day after it.
            let yesterday = (day + 6) % 7;
            (on(day) && minute >= self.from) || (on(yesterday) && minute < self.to)
        }
    }

    fn describe(&self) -> String {
        let days = if self.days.is_empty() {
            "every day".to_owned()
        } else {
            self.days
                .iter()
                .map(|d| DAYS[usize::from(*d)])
                .collect::<Vec<_>>()
                .join(",")
        };
        let base = format!("{days} {}-{}", fmt_time(self.from), fmt_time(self.to));
        match &self.reason {
            Some(reason) => format!("{base} ({reason})"),
            None => base,
        }
    }
}

/// The verdict of the window policy for one moment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum WindowVerdict {
    /// No rule refuses a deploy now.
    Open,
    /// Closed by the described rule.
    Closed(String),
}

/// Evaluates the policy at `now` (seconds since the Unix epoch).
pub fn evaluate(window: &WindowConfig, now_unix: i64) -> WindowVerdict {
    let offset = window
        .utc_offset
        .as_ref()
        .and_then(|o| parse_offset(o.get_ref()))
        .unwrap_or(0);
    let local = now_unix + i64::from(offset) * 60;
    let days_since_epoch = local.div_euclid(86_400);
    // 1970-01-01 was a Thursday (index 3 with Monday = 0).
    let day = u8::try_from((days_since_epoch + 3).rem_euclid(7)).unwrap_or(0);
    let minute = u32::try_from(local.rem_euclid(86_400) / 60).unwrap_or(0);
    for rule in &window.deny {
        if let Ok(rule) = Rule::try_from(rule.get_ref())
            && rule.covers(day, minute)
        {
            return WindowVerdict::Closed(rule.describe());
        }
    }
    WindowVerdict::Open
}

/// `+HH:MM` / `-HH:MM` / `Z` → minutes east of UTC.
pub fn parse_offset(text: &str) -> Option<i32> {
    if text == "Z" || text == "UTC" {
        return Some(0);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let minutes = parse_time(rest)?;
    (minutes <= 14 * 60).then(|| sign * i32::try_from(minutes).unwrap_or(0))
}

fn parse_time(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    let total = h * 60 + m;
    (m < 60 && total <= MINUTES_PER_DAY).then_some(total)
}

fn fmt_time(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(toml_rules: &str) -> WindowConfig {
        #[derive(serde::Deserialize)]
        struct W {
            window: WindowConfig,
        }
        let w: W = toml::from_str(toml_rules).expect("test window parses");
        w.window
    }

    // 2026-11-20 is a Friday.
    const FRI_1600_UTC: i64 = 1_795_132_800 + 16 * 3600;

    #[test]
    fn friday_afternoon_is_closed() {
        let w = window(
            r#"[window]
deny = [{ days = ["fri"], from = "15:00", to = "24:00", reason = "not Friday afternoon" }]"#,
        );
        assert_eq!(
            evaluate(&w, FRI_1600_UTC),
            WindowVerdict::Closed("fri 15:00-24:00 (not Friday afternoon)".to_owned())
        );
        assert_eq!(evaluate(&w, FRI_1600_UTC - 2 * 3600), WindowVerdict::Open);
        // Thursday at 16:00 is open.
        assert_eq!(evaluate(&w, FRI_1600_UTC - 86_400), WindowVerdict::Open);
    }

    #[test]
    fn offsets_shift_the_clock() {
        let w = window(
            r#"[window]
utc_offset = "+02:00"
deny = [{ from = "17:00", to = "24:00" }]"#,
        );
        // 16:00 UTC is 18:00 at +02:00.
        assert!(matches!(
            evaluate(&w, FRI_1600_UTC),
            WindowVerdict::Closed(_)
        ));
        assert_eq!(evaluate(&w, FRI_1600_UTC - 3 * 3600), WindowVerdict::Open);
    }

    #[test]
    fn periods_wrap_past_midnight() {
        let w = window(
            r#"[window]
deny = [{ days = ["thu"], from = "22:00", to = "06:00" }]"#,
        );
        let fri_0000 = FRI_1600_UTC - 16 * 3600;
        assert!(matches!(
            evaluate(&w, fri_0000 + 3600),
            WindowVerdict::Closed(_)
        ));
        assert!(matches!(
            evaluate(&w, fri_0000 - 3600),
            WindowVerdict::Closed(_)
        ));
        assert_eq!(evaluate(&w, fri_0000 + 7 * 3600), WindowVerdict::Open);
        // Friday night is not covered: the rule is Thursday's.
        assert_eq!(evaluate(&w, fri_0000 + 23 * 3600), WindowVerdict::Open);
    }

    #[test]
    fn bad_rules_are_refused() {
        let bad = |from: &str, to: &str, day: &str| {
            Rule::try_from(&DenyRule {
                days: vec![day.to_owned()],
                from: from.to_owned(),
                to: to.to_owned(),
                reason: None,
            })
        };
        assert!(bad("25:00", "26:00", "mon").is_err());
        assert!(bad("10:00", "10:00", "mon").is_err());
        assert!(bad("10:00", "11:00", "funday").is_err());
        assert!(bad("9:00", "11:00", "mon").is_err());
        assert!(bad("09:00", "24:00", "Monday").is_ok());
        assert_eq!(parse_offset("+05:30"), Some(330));
        assert_eq!(parse_offset("-03:00"), Some(-180));
        assert_eq!(parse_offset("05:00"), None);
    }
}
