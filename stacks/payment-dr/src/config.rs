//! The stack's configuration: the reference's variables with the same defaults, plus the
//! settings its fixes need. Loaded from TOML (`payment-dr.toml`) with `--set` overrides and
//! validated before anything else; every problem is reported at once.

use std::collections::BTreeMap;

use iac_dsl::cli::StackConfig;
use iac_dsl::{Level, Waiver};
use iac_providers::{cidr, validate};
use serde::{Deserialize, Serialize};

/// How the stack changes the Aurora global cluster's writer when `writer_region` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FailoverMode {
    /// A planned switchover: both regions are healthy, no data is lost. Refused while the
    /// target's replication lag is over `max_switchover_lag_seconds`. The Route 53
    /// failover roles follow the writer, after it has moved.
    #[default]
    Switchover,
    /// An unplanned failover (`FailoverGlobalCluster`, data loss allowed) for when the
    /// writer's region is impaired: every call goes to the surviving region; the old writer
    /// rejoins as a secondary when its region recovers. DNS moves by the health check.
    Failover,
    /// An unplanned failover: the DR cluster is detached from the global cluster and
    /// promoted to a standalone writer, because the primary region is unavailable. Every
    /// call goes to the surviving region; DNS moves by the health check.
    DetachAndPromote,
}

/// How the payment Lambda is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LambdaBuild {
    /// For AWS: Lambda's Linux (glibc 2.34, `provided.al2023`) on `lambda_architecture`,
    /// built with `cargo zigbuild` (installed by `scripts/setup`) in the size-optimised
    /// `lambda` profile, and checked before packaging.
    Aws,
    /// For the local emulator: the host's toolchain and target, in the profile and target
    /// directory the workspace build already filled (`dev` unless `lambda_profile` says
    /// otherwise), so nothing is compiled twice.
    Local,
}

/// The configuration of one payment DR stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentDrConfig {
    /// Suffix of every resource name, for uniqueness (e.g. `prod-001`). Required. Also the
    /// stack name.
    pub environment_suffix: String,
    /// The primary region.
    #[serde(default = "defaults::primary_region")]
    pub primary_region: String,
    /// The disaster-recovery region.
    #[serde(default = "defaults::dr_region")]
    pub dr_region: String,
    /// The primary VPC's CIDR block.
    #[serde(default = "defaults::vpc_cidr_primary")]
    pub vpc_cidr_primary: String,
    /// The DR VPC's CIDR block.
    #[serde(default = "defaults::vpc_cidr_dr")]
    pub vpc_cidr_dr: String,
    /// How many availability zones each region uses (2 to 6).
    #[serde(default = "defaults::availability_zones_count")]
    pub availability_zones_count: usize,
    /// The primary region's zones. When given (with the DR ones), `preview` reads nothing
    /// but the config and the state: no credentials, no network.
    #[serde(default)]
    pub availability_zones_primary: Option<Vec<String>>,
    /// The DR region's zones.
    #[serde(default)]
    pub availability_zones_dr: Option<Vec<String>>,
    /// One NAT gateway for the whole region instead of one per zone (cheaper, not
    /// zone-redundant).
    #[serde(default)]
    pub single_nat_gateway: bool,
    /// Aurora master user name.
    #[serde(default = "defaults::db_master_username")]
    pub db_master_username: String,
    /// Aurora database name.
    #[serde(default = "defaults::db_name")]
    pub db_name: String,
    /// Aurora PostgreSQL engine version.
    #[serde(default = "defaults::db_engine_version")]
    pub db_engine_version: String,
    /// Aurora instance class.
    #[serde(default = "defaults::db_instance_class")]
    pub db_instance_class: String,
    /// Aurora instances per region.
    #[serde(default = "defaults::db_instances_per_region")]
    pub db_instances_per_region: usize,
    /// The region whose cluster is the global cluster's writer. Changing it is a
    /// previewable failover.
    #[serde(default)]
    pub writer_region: Option<String>,
    /// How a writer change is carried out.
    #[serde(default)]
    pub failover_mode: FailoverMode,
    /// A planned switchover is refused while the target's Aurora replication lag is over
    /// this many seconds (an unknown lag, with no datapoint, lets it go ahead).
    #[serde(default = "defaults::max_switchover_lag_seconds")]
    pub max_switchover_lag_seconds: u64,
    /// The generation of the Aurora global database's membership (0 at first). Raising it
    /// is the failback after a detach-and-promote: the global database is re-formed from
    /// the cluster of `global_database_source_region` (the promoted one, which keeps its
    /// data and writes), and the other region's cluster is replaced by a new secondary
    /// member (its old data is discarded; the preview says so). Raise it while
    /// `writer_region` is still the source's region, then set `writer_region` back (a
    /// planned switchover) once the new member exists.
    #[serde(default)]
    pub global_database_generation: u32,
    /// The region whose cluster the current generation of the global database was formed
    /// from; required when `global_database_generation` is over 0 (the primary region's at
    /// generation 0).
    #[serde(default)]
    pub global_database_source_region: Option<String>,
    /// Domain of the API; the failover record is `api.<domain>`.
    #[serde(default = "defaults::domain_name")]
    pub domain_name: String,
    /// Path the Route 53 health check probes.
    #[serde(default = "defaults::health_check_path")]
    pub health_check_path: String,
    /// Aurora replication lag alarm threshold, in milliseconds.
    #[serde(default = "defaults::replication_lag_threshold")]
    pub replication_lag_threshold: u64,
    /// Lambda memory in MB.
    #[serde(default = "defaults::lambda_memory_size")]
    pub lambda_memory_size: u32,
    /// Lambda timeout in seconds.
    #[serde(default = "defaults::lambda_timeout")]
    pub lambda_timeout: u32,
    /// How the Lambda is built: `aws` (the default) or `local` (for the emulator). When
    /// unset, `lambda_profile = "dev"` means `local` (configs written before this key).
    #[serde(default)]
    pub lambda_build: Option<LambdaBuild>,
    /// The Lambda's architecture, `x86_64` or `arm64` (an `aws` build for arm64 needs the
    /// `aarch64-unknown-linux-gnu` standard library: `rustup target add`).
    #[serde(default = "defaults::lambda_architecture")]
    pub lambda_architecture: String,
    /// Cargo profile the Lambda is built with: `lambda` (size-optimised, stripped; the
    /// `aws` default), `release`, or `dev` (the `local` default).
    #[serde(default)]
    pub lambda_profile: Option<String>,
    /// Protects the data (true for production): the Aurora clusters get deletion
    /// protection, and the engine's `protect` keeps `destroy` (or a replacement) from
    /// deleting them, the buckets, the database secret or the KMS keys. To delete them
    /// anyway, `up --set protect_data=false` first. Unset, it follows `production`.
    #[serde(default)]
    pub protect_data: Option<bool>,
    /// Whether this is a production stack: the policies' production rules apply (backups
    /// of at least 7 days, deletion protection, Lambda functions in a VPC).
    #[serde(default)]
    pub production: bool,
    /// Checks at preview: policy waivers and level changes.
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Usage assumptions of the cost estimate, overriding the defaults by name
    /// (`lambda_requests_per_month = 5e6`; `preview` lists every name with its value).
    #[serde(default)]
    pub usage: BTreeMap<String, f64>,
}

/// The `[policy]` table: waivers (each for one policy and one resource, with a reason)
/// and level changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// `[[policy.waivers]]`: `policy`, `resource` (logical name) and `reason`.
    #[serde(default)]
    pub waivers: Vec<Waiver>,
    /// `[policy.levels]`: policy id to `mandatory` or `advisory`.
    #[serde(default)]
    pub levels: BTreeMap<String, Level>,
}

mod defaults {
    pub fn primary_region() -> String {
        "us-east-1".into()
    }
    pub fn dr_region() -> String {
        "us-east-2".into()
    }
    pub fn vpc_cidr_primary() -> String {
        "10.0.0.0/16".into()
    }
    pub fn vpc_cidr_dr() -> String {
        "10.1.0.0/16".into()
    }
    pub fn availability_zones_count() -> usize {
        3
    }
    pub fn db_master_username() -> String {
        "dbadmin".into()
    }
    pub fn db_name() -> String {
        "payments".into()
    }
    pub fn db_engine_version() -> String {
        "14.6".into()
    }
    pub fn db_instance_class() -> String {
        "db.r6g.large".into()
    }
    pub fn db_instances_per_region() -> usize {
        2
    }
    pub fn domain_name() -> String {
        "payments-api.example.com".into()
    }
    pub fn health_check_path() -> String {
        "/health".into()
    }
    pub fn max_switchover_lag_seconds() -> u64 {
        60
    }
    pub fn replication_lag_threshold() -> u64 {
        10_000
    }
    pub fn lambda_memory_size() -> u32 {
        512
    }
    pub fn lambda_timeout() -> u32 {
        30
    }
    pub fn lambda_architecture() -> String {
        "x86_64".into()
    }
}

impl PaymentDrConfig {
    /// A configuration with the reference's defaults and the given suffix.
    pub fn new(environment_suffix: &str) -> Self {
        PaymentDrConfig {
            environment_suffix: environment_suffix.to_string(),
            primary_region: defaults::primary_region(),
            dr_region: defaults::dr_region(),
            vpc_cidr_primary: defaults::vpc_cidr_primary(),
            vpc_cidr_dr: defaults::vpc_cidr_dr(),
            availability_zones_count: defaults::availability_zones_count(),
            availability_zones_primary: None,
            availability_zones_dr: None,
            single_nat_gateway: false,
            db_master_username: defaults::db_master_username(),
            db_name: defaults::db_name(),
            db_engine_version: defaults::db_engine_version(),
            db_instance_class: defaults::db_instance_class(),
            db_instances_per_region: defaults::db_instances_per_region(),
            writer_region: None,
            failover_mode: FailoverMode::default(),
            max_switchover_lag_seconds: defaults::max_switchover_lag_seconds(),
            global_database_generation: 0,
            global_database_source_region: None,
            domain_name: defaults::domain_name(),
            health_check_path: defaults::health_check_path(),
            replication_lag_threshold: defaults::replication_lag_threshold(),
            lambda_memory_size: defaults::lambda_memory_size(),
            lambda_timeout: defaults::lambda_timeout(),
            lambda_build: None,
            lambda_architecture: defaults::lambda_architecture(),
            lambda_profile: None,
            protect_data: None,
            production: false,
            policy: PolicyConfig::default(),
            usage: BTreeMap::new(),
        }
    }

    /// The region whose Aurora cluster writes: `writer_region`, or the primary region.
    pub fn writer(&self) -> &str {
        self.writer_region
            .as_deref()
            .unwrap_or(&self.primary_region)
    }

    /// The region whose API the Route 53 failover record serves first (the health-checked
    /// `PRIMARY` role): the writer's after a planned switchover, which moves the roles as
    /// an ordinary change after the writer; the primary region otherwise, since an
    /// unplanned change leaves DNS to the health check (a data-plane decision that needs
    /// no call to Route 53's control plane during the outage).
    pub fn dns_primary_region(&self) -> &str {
        match self.failover_mode {
            FailoverMode::Switchover => self.writer(),
            FailoverMode::Failover | FailoverMode::DetachAndPromote => &self.primary_region,
        }
    }

    /// Whether the data is protected: `protect_data`, or `production` when unset.
    pub fn protects_data(&self) -> bool {
        self.protect_data.unwrap_or(self.production)
    }

    /// How the Lambda is built: `lambda_build`, or `local` for a config that only says
    /// `lambda_profile = "dev"`, else `aws`.
    pub fn lambda_build(&self) -> LambdaBuild {
        match (self.lambda_build, self.lambda_profile.as_deref()) {
            (Some(build), _) => build,
            (None, Some("dev")) => LambdaBuild::Local,
            (None, _) => LambdaBuild::Aws,
        }
    }

    /// The Cargo profile the Lambda is built with: `lambda_profile`, or `lambda` for an
    /// `aws` build and `dev` for a `local` one.
    pub fn lambda_profile(&self) -> &str {
        match (&self.lambda_profile, self.lambda_build()) {
            (Some(profile), _) => profile,
            (None, LambdaBuild::Aws) => "lambda",
            (None, LambdaBuild::Local) => "dev",
        }
    }

    /// The region whose cluster the global database's current generation was formed from.
    pub fn global_database_source(&self) -> &str {
        self.global_database_source_region
            .as_deref()
            .unwrap_or(&self.primary_region)
    }

    /// Every problem, as `(field, message)`.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = Vec::new();
        let mut add = |field: &str, message: String| p.push((field.to_string(), message));

        for problem in suffix_problems(&self.environment_suffix) {
            add("environment_suffix", problem);
        }
        for (field, region) in [
            ("primary_region", &self.primary_region),
            ("dr_region", &self.dr_region),
        ] {
            if let Err(e) = validate::region(region) {
                add(field, e);
            }
        }
        if self.primary_region == self.dr_region {
            add(
                "dr_region",
                format!(
                    "must differ from primary_region (both are `{}`)",
                    self.dr_region
                ),
            );
        }
        if let Some(w) = &self.writer_region
            && w != &self.primary_region
            && w != &self.dr_region
        {
            add(
                "writer_region",
                format!("`{w}` is neither primary_region nor dr_region"),
            );
        }
        match &self.global_database_source_region {
            Some(r) if r != &self.primary_region && r != &self.dr_region => add(
                "global_database_source_region",
                format!("`{r}` is neither primary_region nor dr_region"),
            ),
            None if self.global_database_generation > 0 => add(
                "global_database_source_region",
                format!(
                    "required when global_database_generation is {} (over 0): the region of \
                     the cluster the global database is re-formed from, the promoted one",
                    self.global_database_generation
                ),
            ),
            _ => {}
        }
        let mut nets = Vec::new();
        for (field, value) in [
            ("vpc_cidr_primary", &self.vpc_cidr_primary),
            ("vpc_cidr_dr", &self.vpc_cidr_dr),
        ] {
            // Subnets are cidrsubnet(vpc, 4, i) and (vpc, 4, i + 10): the VPC needs room for
            // /prefix+4 subnets, so at most /24.
            match cidr::check_prefix(value, 16, 24) {
                Ok(net) => nets.push(net),
                Err(e) => add(
                    field,
                    format!("{e} (subnets are 4 bits longer, so at most /24)"),
                ),
            }
        }
        if let [a, b] = nets[..]
            && (a.contains(&b.network()) || b.contains(&a.network()))
        {
            add(
                "vpc_cidr_dr",
                format!(
                    "{b} overlaps vpc_cidr_primary {a}; the regions' networks must not overlap"
                ),
            );
        }
        if !(2..=6).contains(&self.availability_zones_count) {
            add(
                "availability_zones_count",
                format!(
                    "must be between 2 and 6, got {}",
                    self.availability_zones_count
                ),
            );
        }
        for (field, zones, region) in [
            (
                "availability_zones_primary",
                &self.availability_zones_primary,
                &self.primary_region,
            ),
            (
                "availability_zones_dr",
                &self.availability_zones_dr,
                &self.dr_region,
            ),
        ] {
            if let Some(zones) = zones {
                if zones.len() < self.availability_zones_count {
                    add(
                        field,
                        format!(
                            "names {} zone(s), availability_zones_count needs {}",
                            zones.len(),
                            self.availability_zones_count
                        ),
                    );
                }
                for z in zones {
                    let suffix = z.strip_prefix(region.as_str()).unwrap_or_default();
                    if suffix.len() != 1 || !suffix.chars().all(|c| c.is_ascii_lowercase()) {
                        add(
                            field,
                            format!("`{z}` is not a zone of {region} (like {region}a)"),
                        );
                    }
                }
            }
        }
        if self.db_master_username.is_empty()
            || self.db_master_username.len() > 63
            || !self
                .db_master_username
                .starts_with(|c: char| c.is_ascii_alphabetic())
            || !self
                .db_master_username
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            add(
                "db_master_username",
                "must be 1 to 63 letters, digits or underscores, starting with a letter".into(),
            );
        }
        if ["postgres", "rdsadmin", "admin"].contains(&self.db_master_username.as_str()) {
            add(
                "db_master_username",
                format!(
                    "`{}` is reserved by Aurora PostgreSQL",
                    self.db_master_username
                ),
            );
        }
        if self.db_name.is_empty()
            || self.db_name.len() > 63
            || !self.db_name.starts_with(|c: char| c.is_ascii_alphabetic())
            || !self
                .db_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            add(
                "db_name",
                "must be 1 to 63 letters, digits or underscores, starting with a letter".into(),
            );
        }
        if !(1..=15).contains(&self.db_instances_per_region) {
            add(
                "db_instances_per_region",
                format!("must be 1 to 15, got {}", self.db_instances_per_region),
            );
        }
        if !self.db_instance_class.starts_with("db.") {
            add(
                "db_instance_class",
                format!(
                    "`{}` is not an instance class (like db.r6g.large)",
                    self.db_instance_class
                ),
            );
        }
        if let Err(e) = domain(&self.domain_name) {
            add("domain_name", e);
        }
        if !self.health_check_path.starts_with('/')
            || self.health_check_path.contains(char::is_whitespace)
        {
            add(
                "health_check_path",
                format!(
                    "`{}` must be a path starting with /",
                    self.health_check_path
                ),
            );
        }
        if self.max_switchover_lag_seconds == 0 {
            add(
                "max_switchover_lag_seconds",
                "must be a positive number of seconds".into(),
            );
        }
        if self.replication_lag_threshold == 0 {
            add(
                "replication_lag_threshold",
                "must be a positive number of milliseconds".into(),
            );
        }
        if !(128..=10240).contains(&self.lambda_memory_size) {
            add(
                "lambda_memory_size",
                format!("must be 128 to 10240 MB, got {}", self.lambda_memory_size),
            );
        }
        if !(1..=900).contains(&self.lambda_timeout) {
            add(
                "lambda_timeout",
                format!("must be 1 to 900 seconds, got {}", self.lambda_timeout),
            );
        }
        for (name, value) in &self.usage {
            if !value.is_finite() || *value < 0.0 {
                add(
                    "usage",
                    format!("`{name}` must be a number of zero or more, got {value}"),
                );
            }
        }
        if let Some(profile) = &self.lambda_profile
            && !matches!(profile.as_str(), "lambda" | "release" | "dev")
        {
            add(
                "lambda_profile",
                format!("must be `lambda`, `release` or `dev`, got `{profile}`"),
            );
        }
        if !matches!(self.lambda_architecture.as_str(), "x86_64" | "arm64") {
            add(
                "lambda_architecture",
                format!(
                    "must be `x86_64` or `arm64`, got `{}`",
                    self.lambda_architecture
                ),
            );
        }
        p
    }
}

impl StackConfig for PaymentDrConfig {
    fn stack_name(&self) -> String {
        self.environment_suffix.clone()
    }

    fn validate(&self) -> Vec<(String, String)> {
        self.problems()
    }
}

/// The longest names built from the suffix, with the rules they must follow. The suffix
/// must fit all of them.
const NAMES: &[(&str, usize)] = &[
    // S3: 3..63 lower-case letters, digits, hyphens.
    ("payment-transactions-primary-", 63),
    // RDS identifiers: 63, letters, digits, hyphens, no `--`, no trailing hyphen.
    ("payment-instance-primary-15-", 63),
    ("payment-global-cluster-", 63),
    // IAM role names: 64.
    ("lambda-payment-processor-primary-", 64),
    // Lambda function names: 64.
    ("payment-processor-primary-", 64),
    // API Gateway, alarms, SNS, secrets: 256 or more.
    ("payment-api-health-check-alarm-", 255),
];

fn suffix_problems(suffix: &str) -> Vec<String> {
    let mut p = Vec::new();
    if suffix.is_empty() {
        p.push("is required (e.g. `prod-001`)".to_string());
        return p;
    }
    if !suffix
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        p.push(format!("`{suffix}` may contain only lower-case letters, digits and hyphens (it is part of S3 bucket and RDS names)"));
    }
    if suffix.ends_with('-') || suffix.contains("--") {
        p.push(format!(
            "`{suffix}` may not end with a hyphen or contain `--` (RDS identifier rules)"
        ));
    }
    for (prefix, max) in NAMES {
        if prefix.len() + suffix.len() > *max {
            p.push(format!(
                "`{suffix}` is too long: `{prefix}{suffix}` has {} characters, the limit is {max}",
                prefix.len() + suffix.len()
            ));
            break;
        }
    }
    p
}

fn domain(name: &str) -> Result<(), String> {
    let labels: Vec<&str> = name.split('.').collect();
    let ok = name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("`{name}` is not a valid DNS domain name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(PaymentDrConfig::new("prod-001").problems(), vec![]);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut c = PaymentDrConfig::new("Prod_001-");
        c.dr_region = "us-east-1".into();
        c.vpc_cidr_dr = "10.0.128.0/17".into();
        c.availability_zones_count = 7;
        c.lambda_memory_size = 64;
        let fields: Vec<String> = c.problems().into_iter().map(|(f, _)| f).collect();
        for f in [
            "environment_suffix",
            "dr_region",
            "vpc_cidr_dr",
            "availability_zones_count",
            "lambda_memory_size",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn a_new_generation_of_the_global_database_names_its_source_region() {
        let mut c = PaymentDrConfig::new("dev-001");
        assert_eq!(c.global_database_source(), "us-east-1");
        c.global_database_generation = 1;
        let problems = c.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].0, "global_database_source_region");
        assert!(
            problems[0]
                .1
                .contains("required when global_database_generation is 1")
        );
        c.global_database_source_region = Some("eu-west-1".into());
        let problems = c.problems();
        assert!(
            problems[0].1.contains("`eu-west-1` is neither"),
            "{problems:?}"
        );
        c.global_database_source_region = Some("us-east-2".into());
        assert!(c.problems().is_empty());
        assert_eq!(c.global_database_source(), "us-east-2");
    }

    #[test]
    fn the_lambda_build_follows_the_config_and_older_configs_keep_their_meaning() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("payment-dr.toml");
        let load = |text: &str| {
            std::fs::write(&path, format!("environment_suffix = \"t1\"\n{text}")).unwrap();
            iac_dsl::cli::load_config::<PaymentDrConfig>(&path, &[])
        };
        let built = |text: &str| {
            let config = load(text).unwrap();
            (config.lambda_build(), config.lambda_profile().to_string())
        };
        assert_eq!(built(""), (LambdaBuild::Aws, "lambda".into()));
        // A config written when `lambda_profile = "dev"` meant "build on this machine".
        assert_eq!(
            built("lambda_profile = \"dev\""),
            (LambdaBuild::Local, "dev".into())
        );
        assert_eq!(
            built("lambda_build = \"local\""),
            (LambdaBuild::Local, "dev".into())
        );
        assert_eq!(
            built("lambda_build = \"aws\"\nlambda_profile = \"release\""),
            (LambdaBuild::Aws, "release".into())
        );
        let problems = load("lambda_profile = \"fast\"\nlambda_architecture = \"mips\"")
            .unwrap_err()
            .join("\n");
        assert!(
            problems.contains("`lambda_profile`: must be `lambda`, `release` or `dev`")
                && problems.contains("`lambda_architecture`: must be `x86_64` or `arm64`"),
            "{problems}"
        );
        let problems = load("lambda_build = \"cloud\"").unwrap_err().join("\n");
        assert!(problems.contains("lambda_build"), "{problems}");
    }

    #[test]
    fn overlapping_and_malformed_networks_are_named() {
        let mut c = PaymentDrConfig::new("t1");
        c.vpc_cidr_dr = "10.0.0.0/16".into();
        let p = c.problems();
        assert!(
            p.iter()
                .any(|(f, m)| f == "vpc_cidr_dr" && m.contains("overlaps")),
            "{p:?}"
        );
        c.vpc_cidr_dr = "10.1.0.1/16".into();
        assert!(
            c.problems()
                .iter()
                .any(|(f, m)| f == "vpc_cidr_dr" && m.contains("host bits"))
        );
        c.vpc_cidr_dr = "10.1.0.0/26".into();
        assert!(
            c.problems()
                .iter()
                .any(|(f, m)| f == "vpc_cidr_dr" && m.contains("/24"))
        );
    }

    #[test]
    fn a_suffix_too_long_for_s3_is_refused_with_the_name() {
        let c = PaymentDrConfig::new(&"a".repeat(40));
        let p = c.problems();
        assert!(
            p.iter()
                .any(|(f, m)| f == "environment_suffix"
                    && m.contains("payment-transactions-primary-")),
            "{p:?}"
        );
    }

    #[test]
    fn dns_roles_follow_the_writer_only_after_a_planned_switchover() {
        let mut c = PaymentDrConfig::new("t1");
        assert_eq!(c.dns_primary_region(), "us-east-1");
        c.writer_region = Some("us-east-2".into());
        assert_eq!(c.dns_primary_region(), "us-east-2");
        // Unplanned: DNS is left to the health check, nothing changes in Route 53.
        for mode in [FailoverMode::Failover, FailoverMode::DetachAndPromote] {
            c.failover_mode = mode;
            assert_eq!(c.dns_primary_region(), "us-east-1", "{mode:?}");
        }
        c.max_switchover_lag_seconds = 0;
        assert!(
            c.problems()
                .iter()
                .any(|(f, _)| f == "max_switchover_lag_seconds")
        );
    }

    #[test]
    fn zones_must_belong_to_their_region() {
        let mut c = PaymentDrConfig::new("t1");
        c.availability_zones_primary = Some(vec![
            "us-east-1a".into(),
            "us-east-1b".into(),
            "us-west-2c".into(),
        ]);
        let p = c.problems();
        assert!(
            p.iter()
                .any(|(f, m)| f == "availability_zones_primary" && m.contains("us-west-2c")),
            "{p:?}"
        );
    }
}
