//! The monitoring stack's configuration, in the DR stack's style: TOML
//! (`payment-monitoring.toml`) with `--set` overrides, validated before anything else,
//! every problem reported at once naming its field.

use std::path::PathBuf;

use iac_dsl::cli::StackConfig;
use iac_providers::validate;
use payment_dr_stack::PaymentDrConfig;
use serde::{Deserialize, Serialize};

/// The configuration of one monitoring stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringConfig {
    /// Suffix of every resource name and the stack name (e.g. `prod-001`). Required.
    pub environment_suffix: String,
    /// The `environment_suffix` of the DR stack it watches (default: this stack's).
    #[serde(default)]
    pub dr_environment_suffix: Option<String>,
    /// The state file the DR stack is recorded in (default: this stack's own, `--state`).
    #[serde(default)]
    pub dr_state: Option<PathBuf>,
    /// The DR stack's primary region (default: the DR stack's default).
    #[serde(default = "defaults::primary_region")]
    pub primary_region: String,
    /// The DR stack's DR region (default: the DR stack's default).
    #[serde(default = "defaults::dr_region")]
    pub dr_region: String,
    /// Lambda throttles in one period that raise the throttling alarm.
    #[serde(default = "defaults::lambda_throttles_threshold")]
    pub lambda_throttles_threshold: f64,
    /// Average Lambda duration (milliseconds) that raises the latency alarm.
    #[serde(default = "defaults::lambda_duration_ms_threshold")]
    pub lambda_duration_ms_threshold: f64,
    /// Average Aurora cluster CPU (percent) that raises the database alarm.
    #[serde(default = "defaults::db_cpu_percent_threshold")]
    pub db_cpu_percent_threshold: f64,
    /// Seconds per evaluated period: 10, 30 or a multiple of 60.
    #[serde(default = "defaults::period_seconds")]
    pub period_seconds: i32,
    /// Periods that must breach before an alarm fires.
    #[serde(default = "defaults::evaluation_periods")]
    pub evaluation_periods: i32,
}

mod defaults {
    use super::PaymentDrConfig;

    /// The DR stack's own defaults, so that a default monitoring stack watches a default
    /// DR stack.
    fn dr() -> PaymentDrConfig {
        PaymentDrConfig::new("defaults")
    }
    pub fn primary_region() -> String {
        dr().primary_region
    }
    pub fn dr_region() -> String {
        dr().dr_region
    }
    pub fn lambda_throttles_threshold() -> f64 {
        1.0
    }
    pub fn lambda_duration_ms_threshold() -> f64 {
        3000.0
    }
    pub fn db_cpu_percent_threshold() -> f64 {
        80.0
    }
    pub fn period_seconds() -> i32 {
        300
    }
    pub fn evaluation_periods() -> i32 {
        2
    }
}

impl MonitoringConfig {
    /// The defaults, with `environment_suffix` (watching the DR stack of the same suffix).
    pub fn new(environment_suffix: &str) -> Self {
        MonitoringConfig {
            environment_suffix: environment_suffix.to_string(),
            dr_environment_suffix: None,
            dr_state: None,
            primary_region: defaults::primary_region(),
            dr_region: defaults::dr_region(),
            lambda_throttles_threshold: defaults::lambda_throttles_threshold(),
            lambda_duration_ms_threshold: defaults::lambda_duration_ms_threshold(),
            db_cpu_percent_threshold: defaults::db_cpu_percent_threshold(),
            period_seconds: defaults::period_seconds(),
            evaluation_periods: defaults::evaluation_periods(),
        }
    }

    /// The DR stack's `environment_suffix` (its stack name).
    pub fn dr_stack_name(&self) -> &str {
        self.dr_environment_suffix
            .as_deref()
            .unwrap_or(&self.environment_suffix)
    }

    /// Every problem, as `(field, message)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut p = Vec::new();
        let mut field = |name: &str, result: Result<(), String>| {
            if let Err(message) = result {
                p.push((name.to_string(), message));
            }
        };
        field("environment_suffix", suffix(&self.environment_suffix));
        if let Some(dr) = &self.dr_environment_suffix {
            field("dr_environment_suffix", suffix(dr));
        }
        if let Some(path) = &self.dr_state {
            let empty = path.as_os_str().is_empty();
            field(
                "dr_state",
                if empty {
                    Err("must name a state file, or be left out for this stack's own".into())
                } else {
                    Ok(())
                },
            );
        }
        field("primary_region", validate::region(&self.primary_region));
        field("dr_region", validate::region(&self.dr_region));
        if self.primary_region == self.dr_region {
            field(
                "dr_region",
                Err(format!(
                    "`{}` is also the primary region; the DR stack spans two",
                    self.dr_region
                )),
            );
        }
        let positive = |v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{v} must be a number above 0"))
            }
        };
        field(
            "lambda_throttles_threshold",
            positive(self.lambda_throttles_threshold),
        );
        field(
            "lambda_duration_ms_threshold",
            positive(self.lambda_duration_ms_threshold),
        );
        field(
            "db_cpu_percent_threshold",
            positive(self.db_cpu_percent_threshold).and_then(|()| {
                if self.db_cpu_percent_threshold <= 100.0 {
                    Ok(())
                } else {
                    Err(format!(
                        "{} is over 100 percent",
                        self.db_cpu_percent_threshold
                    ))
                }
            }),
        );
        let s = self.period_seconds;
        field(
            "period_seconds",
            if s == 10 || s == 30 || (s > 0 && s % 60 == 0) {
                Ok(())
            } else {
                Err(format!("{s} is not 10, 30 or a multiple of 60 seconds"))
            },
        );
        field(
            "evaluation_periods",
            if self.evaluation_periods >= 1 {
                Ok(())
            } else {
                Err(format!("{} must be at least 1", self.evaluation_periods))
            },
        );
        p
    }
}

/// An environment suffix: what the DR stack accepts for its names (lower-case letters,
/// digits and `-`, at most 20 characters), since the dashboard and alarm names carry it.
fn suffix(value: &str) -> Result<(), String> {
    let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if value.is_empty() {
        Err("is required (e.g. `prod-001`)".into())
    } else if value.len() > 20 || !value.chars().all(valid) {
        Err(format!(
            "`{value}` must be at most 20 lower-case letters, digits and `-`"
        ))
    } else {
        Ok(())
    }
}

impl StackConfig for MonitoringConfig {
    fn stack_name(&self) -> String {
        self.environment_suffix.clone()
    }

    fn validate(&self) -> Vec<(String, String)> {
        self.problems()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_names_its_field() {
        let mut c = MonitoringConfig::new("Bad Suffix");
        c.dr_region = c.primary_region.clone();
        c.db_cpu_percent_threshold = 120.0;
        c.period_seconds = 45;
        c.evaluation_periods = 0;
        c.lambda_duration_ms_threshold = -1.0;
        c.dr_state = Some(PathBuf::new());
        let fields: Vec<String> = c.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "environment_suffix",
                "dr_state",
                "dr_region",
                "lambda_duration_ms_threshold",
                "db_cpu_percent_threshold",
                "period_seconds",
                "evaluation_periods",
            ]
        );
        assert!(MonitoringConfig::new("mon-001").problems().is_empty());
    }

    #[test]
    fn the_example_file_is_valid_and_matches_the_defaults() {
        let text = include_str!("../payment-monitoring.example.toml");
        let parsed: MonitoringConfig = toml_like(text);
        assert!(parsed.problems().is_empty(), "{:?}", parsed.problems());
        assert_eq!(parsed, MonitoringConfig::new("dev-001"));
    }

    fn toml_like(text: &str) -> MonitoringConfig {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        std::fs::write(&path, text).unwrap();
        iac_dsl::cli::load_config(&path, &[]).unwrap_or_else(|e| panic!("{e:?}"))
    }
}
