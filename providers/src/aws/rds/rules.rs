//! RDS naming and argument rules, checked before any request. Each check returns every
//! problem of its value in one message; none ever repeats a password.

use iac_dsl::{Input, Value};

/// The Aurora engines these resources support.
pub const ENGINES: &[&str] = &["aurora-postgresql", "aurora-mysql"];

/// RDS cluster, instance and global cluster identifiers: 1 to 63 letters, digits or
/// hyphens, starting with a letter, without two consecutive hyphens or a trailing hyphen.
pub fn check_identifier(id: &str) -> Result<(), String> {
    identifier_rules(id, 63, "identifier")
}

/// Final snapshot identifiers: like [`check_identifier`], up to 255 characters.
pub fn check_snapshot_identifier(id: &str) -> Result<(), String> {
    identifier_rules(id, 255, "snapshot identifier")
}

fn identifier_rules(id: &str, max: usize, what: &str) -> Result<(), String> {
    let mut problems = Vec::new();
    let n = id.chars().count();
    if !(1..=max).contains(&n) {
        problems.push(format!("is {n} characters long (1..{max} allowed)"));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        problems.push(format!("has `{c}` (only letters, digits and hyphens)"));
    }
    if n > 0 && !id.starts_with(|c: char| c.is_ascii_alphabetic()) {
        problems.push("must start with a letter".to_string());
    }
    if id.contains("--") {
        problems.push("has two consecutive hyphens".to_string());
    }
    if id.ends_with('-') {
        problems.push("ends with a hyphen".to_string());
    }
    finish(problems, || format!("{what} `{id}`"))
}

/// DB subnet group names: 1 to 255 lowercase letters, digits, spaces, `.`, `_` or `-`, and
/// not `default` (reserved for the VPC's default group).
pub fn check_subnet_group_name(name: &str) -> Result<(), String> {
    let mut problems = Vec::new();
    let n = name.chars().count();
    if !(1..=255).contains(&n) {
        problems.push(format!("is {n} characters long (1..255 allowed)"));
    }
    if let Some(c) = name.chars().find(|c| {
        !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, ' ' | '.' | '_' | '-'))
    }) {
        problems.push(format!(
            "has `{c}` (only lowercase letters, digits, spaces, `.`, `_` and `-`)"
        ));
    }
    if name == "default" {
        problems.push("is reserved for the default subnet group".to_string());
    }
    finish(problems, || format!("subnet group name `{name}`"))
}

/// Aurora master passwords: 8 to 41 printable ASCII characters other than `/`, `"`, `@`
/// and space. The message never contains the password.
pub fn check_master_password(password: &str) -> Result<(), String> {
    let mut problems = Vec::new();
    let n = password.chars().count();
    if !(8..=41).contains(&n) {
        problems.push(format!("must be 8 to 41 characters long, got {n}"));
    }
    if password
        .chars()
        .any(|c| !(c.is_ascii_graphic() || c == ' '))
    {
        problems.push("may only hold printable ASCII characters".to_string());
    }
    if password.chars().any(|c| matches!(c, '/' | '"' | '@' | ' ')) {
        problems.push("must not contain `/`, `\"`, `@` or a space".to_string());
    }
    finish(problems, || "the master password".to_string())
}

/// Master user names: 1 to 63 letters, digits or underscores, starting with a letter.
pub fn check_master_username(name: &str) -> Result<(), String> {
    word_rules(name, "master user name")
}

/// Database names: 1 to 63 letters, digits or underscores, starting with a letter.
pub fn check_database_name(name: &str) -> Result<(), String> {
    word_rules(name, "database name")
}

fn word_rules(name: &str, what: &str) -> Result<(), String> {
    let mut problems = Vec::new();
    let n = name.chars().count();
    if !(1..=63).contains(&n) {
        problems.push(format!("is {n} characters long (1..63 allowed)"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        problems.push(format!("has `{c}` (only letters, digits and `_`)"));
    }
    if n > 0 && !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        problems.push("must start with a letter".to_string());
    }
    finish(problems, || format!("{what} `{name}`"))
}

/// Automated backups are kept 1 to 35 days.
pub fn check_backup_retention(days: i64) -> Result<(), String> {
    if (1..=35).contains(&days) {
        Ok(())
    } else {
        Err(format!("{days} days is not within 1..35"))
    }
}

/// The daily backup window: `hh24:mi-hh24:mi` in UTC, at least 30 minutes long (it may
/// run past midnight).
pub fn check_backup_window(window: &str) -> Result<(), String> {
    let parsed = window
        .split_once('-')
        .and_then(|(start, end)| Some((minute_of_day(start)?, minute_of_day(end)?)));
    let Some((start, end)) = parsed else {
        return Err(format!(
            "`{window}` is not a window of the form hh24:mi-hh24:mi (UTC), e.g. 03:00-04:00"
        ));
    };
    let length = (end + 24 * 60 - start) % (24 * 60);
    if length < 30 {
        return Err(format!(
            "`{window}` lasts {length} minutes; the backup window must be at least 30"
        ));
    }
    Ok(())
}

fn minute_of_day(time: &str) -> Option<u32> {
    let (h, m) = time.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !(h.chars().chain(m.chars())).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// The engine is one of [`ENGINES`].
pub fn check_engine(engine: &str) -> Result<(), String> {
    if ENGINES.contains(&engine) {
        Ok(())
    } else {
        Err(format!(
            "`{engine}` is not an Aurora engine ({})",
            ENGINES.join(" or ")
        ))
    }
}

/// Instance classes look like `db.r6g.large`.
pub fn check_instance_class(class: &str) -> Result<(), String> {
    match class.strip_prefix("db.") {
        Some(rest) if !rest.is_empty() => Ok(()),
        _ => Err(format!(
            "`{class}` is not an RDS instance class (db.<family>.<size>, e.g. db.r6g.large)"
        )),
    }
}

/// A DB cluster ARN, `arn:<partition>:rds:<region>:<account>:cluster:<identifier>`.
pub fn check_cluster_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ok = parts.len() == 7
        && parts[0] == "arn"
        && parts[2] == "rds"
        && !parts[3].is_empty()
        && parts[5] == "cluster"
        && check_identifier(parts[6]).is_ok();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{arn}` is not a DB cluster ARN (arn:aws:rds:<region>:<account>:cluster:<id>)"
        ))
    }
}

fn finish(problems: Vec<String>, subject: impl FnOnce() -> String) -> Result<(), String> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{} {}", subject(), problems.join("; ")))
    }
}

/// A string argument as validation sees it: not given, given but known only after apply,
/// or known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Arg<'a> {
    Absent,
    Unknown,
    Known(&'a str),
}

impl<'a> Arg<'a> {
    /// A required argument of a builder.
    pub(super) fn input(input: &'a Input<String>) -> Arg<'a> {
        match input.known() {
            Some(v) => Arg::Known(v),
            None => Arg::Unknown,
        }
    }

    /// An optional argument of a builder.
    pub(super) fn optional(input: &'a Option<Input<String>>) -> Arg<'a> {
        input.as_ref().map_or(Arg::Absent, Arg::input)
    }

    /// A field of recorded or planned inputs (an `{"$unknown": ..}` marker is unknown).
    pub(super) fn json(value: &'a Value) -> Arg<'a> {
        match value {
            Value::Null => Arg::Absent,
            Value::String(s) => Arg::Known(s),
            _ => Arg::Unknown,
        }
    }

    pub(super) fn is_present(self) -> bool {
        self != Arg::Absent
    }

    /// Runs `check` on a known value, recording its problem for `field`.
    pub(super) fn check(
        self,
        field: &str,
        check: impl FnOnce(&str) -> Result<(), String>,
        problems: &mut Vec<(String, String)>,
    ) {
        if let Arg::Known(v) = self
            && let Err(e) = check(v)
        {
            problems.push((field.to_string(), e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(check_identifier("payments-primary-1").is_ok());
        for bad in [
            "",
            "1abc",
            "a--b",
            "abc-",
            "has_underscore",
            &"a".repeat(64),
        ] {
            assert!(check_identifier(bad).is_err(), "{bad}");
        }
        let all = check_identifier("9a--b_-").unwrap_err();
        for needle in ["`_`", "start with a letter", "consecutive", "ends with"] {
            assert!(all.contains(needle), "{all}");
        }
        assert!(check_snapshot_identifier(&format!("a{}", "b".repeat(200))).is_ok());
    }

    #[test]
    fn passwords_are_checked_without_being_repeated() {
        assert!(check_master_password("Str0ng-Passw0rd!").is_ok());
        for bad in [
            "short7!",
            "has@sign1",
            "has/slash1",
            "has\"quote",
            "has space1",
        ] {
            let e = check_master_password(bad).unwrap_err();
            assert!(!e.contains(bad), "{e}");
        }
        assert!(check_master_password(&"x".repeat(42)).is_err());
        assert!(check_master_password("ünïcödé-pass").is_err());
        assert!(
            check_master_password("short7!")
                .unwrap_err()
                .contains("got 7")
        );
    }

    #[test]
    fn backup_windows_and_retention() {
        assert!(check_backup_window("03:00-04:00").is_ok());
        assert!(check_backup_window("23:45-00:15").is_ok());
        assert!(
            check_backup_window("03:00-03:29")
                .unwrap_err()
                .contains("29 minutes")
        );
        for bad in [
            "3:00-4:00",
            "25:00-26:00",
            "03:00",
            "03:00-04:60",
            "noon-1pm",
        ] {
            assert!(check_backup_window(bad).is_err(), "{bad}");
        }
        assert!(check_backup_retention(1).is_ok() && check_backup_retention(35).is_ok());
        assert!(check_backup_retention(0).is_err() && check_backup_retention(40).is_err());
    }

    #[test]
    fn names_engines_classes_and_arns() {
        assert!(check_subnet_group_name("payments db.subnets_1-a").is_ok());
        assert!(check_subnet_group_name("default").is_err());
        assert!(check_subnet_group_name("Upper").is_err());
        assert!(check_engine("aurora-postgresql").is_ok());
        assert!(check_engine("postgres").is_err());
        assert!(check_instance_class("db.r6g.large").is_ok());
        assert!(check_instance_class("r6g.large").is_err() && check_instance_class("db.").is_err());
        assert!(check_database_name("payments").is_ok() && check_database_name("1db").is_err());
        assert!(check_cluster_arn("arn:aws:rds:us-west-2:123456789012:cluster:dr-1").is_ok());
        assert!(check_cluster_arn("dr-1").is_err());
        assert!(check_cluster_arn("arn:aws:rds:us-west-2:123456789012:db:dr-1").is_err());
    }
}
