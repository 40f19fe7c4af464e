//! Where a state lives: an SQLite file, or a PostgreSQL database named by a
//! `postgres://` URL. A URL's password is never shown: [`Location`]'s `Display` and
//! `Debug`, and every error, carry the URL with the password replaced by `***`.

use std::fmt;
use std::path::{Path, PathBuf};

/// A state's location: what `--state` and `IAC_STATE` name.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file.
    File(PathBuf),
    /// A PostgreSQL database (`postgres://user:password@host:port/database?options`).
    Postgres(PostgresUrl),
}

/// A `postgres://` (or `postgresql://`) URL. Its `Display` and `Debug` redact the
/// password; [`PostgresUrl::secret_url`] is the only way to the full text, for the client.
#[derive(Clone, PartialEq, Eq)]
pub struct PostgresUrl {
    full: String,
    redacted: String,
}

impl PostgresUrl {
    /// The URL with its password, for the connection only: never print it.
    pub fn secret_url(&self) -> &str {
        &self.full
    }

    /// The URL with the password replaced by `***` (what messages show).
    pub fn redacted(&self) -> &str {
        &self.redacted
    }
}

impl fmt::Display for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PostgresUrl({})", self.redacted)
    }
}

impl Location {
    /// Reads a location: a `postgres://` or `postgresql://` URL, otherwise a file path.
    pub fn parse(text: &str) -> Location {
        if is_postgres_url(text) {
            Location::Postgres(PostgresUrl {
                full: text.to_string(),
                redacted: redact_url(text),
            })
        } else {
            Location::File(PathBuf::from(text))
        }
    }

    /// What messages show: the file's path, or the URL without its password. Errors of
    /// the store carry it in their `path` field.
    pub fn display_path(&self) -> PathBuf {
        match self {
            Location::File(p) => p.clone(),
            Location::Postgres(url) => PathBuf::from(url.redacted()),
        }
    }

    /// The file, for a file location.
    pub fn as_file(&self) -> Option<&Path> {
        match self {
            Location::File(p) => Some(p),
            Location::Postgres(_) => None,
        }
    }

    /// Whether there may be a state to read: a file that exists, or any database (a
    /// database without the schema reads as empty stacks once opened).
    pub fn may_exist(&self) -> bool {
        match self {
            Location::File(p) => p.exists(),
            Location::Postgres(_) => true,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File(p) => write!(f, "{}", p.display()),
            Location::Postgres(url) => f.write_str(url.redacted()),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File(p) => write!(f, "File({})", p.display()),
            Location::Postgres(url) => write!(f, "Postgres({})", url.redacted()),
        }
    }
}

impl std::str::FromStr for Location {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Location::parse(s))
    }
}

impl From<&Path> for Location {
    fn from(p: &Path) -> Self {
        Location::File(p.to_path_buf())
    }
}

impl From<PathBuf> for Location {
    fn from(p: PathBuf) -> Self {
        Location::File(p)
    }
}

fn is_postgres_url(text: &str) -> bool {
    let lower = text.get(..13).unwrap_or(text).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// `text` with the password of its user part and of a `password=` parameter replaced by
/// `***`.
pub fn redact_url(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_string(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_string(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_paths_and_their_passwords_never_shown() {
        let url = "postgres://iac:s3cr%40t@db.example:5432/state?password=other&sslmode=disable";
        let loc = Location::parse(url);
        let shown = format!("{loc} {loc:?} {}", loc.display_path().display());
        assert!(
            !shown.contains("s3cr") && !shown.contains("other"),
            "{shown}"
        );
        assert_eq!(
            loc.to_string(),
            "postgres://iac:***@db.example:5432/state?password=***&sslmode=disable"
        );
        assert_eq!(
            Location::parse("postgresql://u@h/db").to_string(),
            "postgresql://u@h/db"
        );
        assert_eq!(
            Location::parse("POSTGRES://u:p@h/db").to_string(),
            "POSTGRES://u:***@h/db"
        );
        assert_eq!(
            Location::parse(".iac/state.db"),
            Location::File(PathBuf::from(".iac/state.db"))
        );
        assert!(matches!(Location::parse("postgres.db"), Location::File(_)));
    }
}
