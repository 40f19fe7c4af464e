//! The function's configuration, read from environment variables set by the stack.

/// The environment variables the function reads, in the order a [`ConfigError`] lists them.
pub const ENV_VARS: [&str; 6] = [
    "REGION",
    "S3_BUCKET",
    "DB_ENDPOINT",
    "DB_NAME",
    "DB_SECRET_ARN",
    "ENVIRONMENT_SUFFIX",
];

/// The optional variable naming the database login when the secret holds only the password
/// (the stack's secret does; a JSON secret's `username` wins over it).
pub const DB_USER_VAR: &str = "DB_USER";

/// The default port of the database endpoint (Aurora PostgreSQL) when `DB_ENDPOINT` names none.
pub const DEFAULT_DB_PORT: u16 = 5432;

/// The function's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `REGION`: the region the function serves; written into every transaction record.
    pub region: String,
    /// `S3_BUCKET`: the bucket transaction records are written to.
    pub bucket: String,
    /// `DB_ENDPOINT`: the database endpoint, `host` or `host:port`.
    pub db_endpoint: String,
    /// `DB_NAME`: the database name.
    pub db_name: String,
    /// `DB_SECRET_ARN`: the ARN of the Secrets Manager secret holding the database credentials.
    pub db_secret_arn: String,
    /// `DB_USER` (optional): the database login when the secret holds only the password.
    pub db_user: Option<String>,
    /// `ENVIRONMENT_SUFFIX`: the suffix of the deployment's resource names.
    pub environment_suffix: String,
}

/// Required environment variables that are unset or empty, all of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("missing or empty environment variables: {}", .missing.join(", "))]
pub struct ConfigError {
    /// The names of the missing variables, in the order of [`ENV_VARS`].
    pub missing: Vec<&'static str>,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (a variable name to its value). Values are
    /// trimmed; a variable that is absent or blank is missing, and the error names every
    /// missing variable at once.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut missing = Vec::new();
        let mut get = |name: &'static str| match lookup(name) {
            Some(value) if !value.trim().is_empty() => value.trim().to_string(),
            _ => {
                missing.push(name);
                String::new()
            }
        };
        let config = Config {
            region: get("REGION"),
            bucket: get("S3_BUCKET"),
            db_endpoint: get("DB_ENDPOINT"),
            db_name: get("DB_NAME"),
            db_secret_arn: get("DB_SECRET_ARN"),
            db_user: lookup(DB_USER_VAR)
                .map(|user| user.trim().to_string())
                .filter(|user| !user.is_empty()),
            environment_suffix: get("ENVIRONMENT_SUFFIX"),
        };
        if missing.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError { missing })
        }
    }

    /// The region the database secret lives in: the region field of `DB_SECRET_ARN`, or
    /// [`Config::region`] when the value is a plain secret name rather than an ARN.
    pub fn secret_region(&self) -> &str {
        arn_region(&self.db_secret_arn).unwrap_or(&self.region)
    }

    /// The database endpoint's host name and port ([`DEFAULT_DB_PORT`] unless `DB_ENDPOINT`
    /// ends in `:port`).
    pub fn db_host_port(&self) -> (&str, u16) {
        host_port(&self.db_endpoint)
    }
}

/// The region field of an ARN (`arn:partition:service:region:account:resource`), if any.
pub fn arn_region(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("arn"), Some(_), Some(_), Some(region)) if !region.is_empty() => Some(region),
        _ => None,
    }
}

/// Splits `host[:port]` into the host and the port, [`DEFAULT_DB_PORT`] when none is given.
pub fn host_port(endpoint: &str) -> (&str, u16) {
    match endpoint.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse() {
            Ok(port) => (host, port),
            Err(_) => (endpoint, DEFAULT_DB_PORT),
        },
        _ => (endpoint, DEFAULT_DB_PORT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn full() -> HashMap<String, String> {
        vars(&[
            ("REGION", "us-east-1"),
            ("S3_BUCKET", "payments-dev"),
            ("DB_ENDPOINT", "db.cluster-x.us-east-1.rds.amazonaws.com"),
            ("DB_NAME", "payments"),
            (
                "DB_SECRET_ARN",
                "arn:aws:secretsmanager:us-west-2:123456789012:secret:db-AbCdEf",
            ),
            ("ENVIRONMENT_SUFFIX", "dev"),
        ])
    }

    #[test]
    fn reads_every_variable() {
        let env = full();
        let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
        assert_eq!(config.region, "us-east-1");
        assert_eq!(config.bucket, "payments-dev");
        assert_eq!(config.db_name, "payments");
        assert_eq!(config.environment_suffix, "dev");
        assert_eq!(config.db_user, None);
        assert_eq!(config.secret_region(), "us-west-2");
        assert_eq!(
            config.db_host_port(),
            ("db.cluster-x.us-east-1.rds.amazonaws.com", 5432)
        );
    }

    #[test]
    fn the_database_login_is_optional() {
        let mut env = full();
        env.insert("DB_USER".into(), " dbadmin ".into());
        let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
        assert_eq!(config.db_user.as_deref(), Some("dbadmin"));
        env.insert("DB_USER".into(), "  ".into());
        let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
        assert_eq!(config.db_user, None);
    }

    #[test]
    fn names_every_missing_variable_at_once() {
        let err = Config::from_lookup(|_| None).unwrap_err();
        assert_eq!(err.missing, ENV_VARS);
        let message = err.to_string();
        for name in ENV_VARS {
            assert!(message.contains(name), "{message}");
        }
    }

    #[test]
    fn blank_values_count_as_missing() {
        let mut env = full();
        env.insert("S3_BUCKET".into(), "".into());
        env.insert("DB_NAME".into(), "  ".into());
        env.remove("ENVIRONMENT_SUFFIX");
        let err = Config::from_lookup(|k| env.get(k).cloned()).unwrap_err();
        assert_eq!(err.missing, ["S3_BUCKET", "DB_NAME", "ENVIRONMENT_SUFFIX"]);
    }

    #[test]
    fn secret_region_falls_back_to_the_function_region() {
        let mut env = full();
        env.insert("DB_SECRET_ARN".into(), "payments/db".into());
        let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
        assert_eq!(config.secret_region(), "us-east-1");
        assert_eq!(arn_region("arn:aws:s3:::bucket"), None);
    }

    #[test]
    fn endpoint_port_is_optional() {
        assert_eq!(host_port("db.example:3306"), ("db.example", 3306));
        assert_eq!(host_port("localhost"), ("localhost", 5432));
        assert_eq!(host_port("db.example:x"), ("db.example:x", 5432));
    }
}
