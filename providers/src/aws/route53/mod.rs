//! Route 53: hosted zones, health checks and record sets (simple, alias and failover).
//!
//! Route 53 is a global service: the provider's region does not matter, and every
//! provider of one account sees the same zones.
//!
//! Creates are idempotent through `CallerReference` (zones and health checks carry the
//! engine's create token) or by content (a record that already holds exactly the declared
//! values is adopted). Record changes wait until Route 53 reports them `INSYNC`.

mod health_check;
mod record;
mod zone;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_sdk_route53::client::Waiters;
use aws_sdk_route53::types::{Tag, TagResourceType};
use aws_smithy_runtime_api::client::waiters::error::WaiterError;
use aws_smithy_types::error::display::DisplayErrorContext;
use iac_dsl::{ErrorKind, ProviderError};
use sha2::{Digest, Sha256};

use super::{Aws, DataSourceImpl, ErrorContext, ResourceImpl};

pub use health_check::{HealthCheck, HealthCheckArgs, HealthCheckOutputs};
pub use record::{Failover, Record, RecordArgs, RecordOutputs};
pub use zone::{HostedZone, HostedZoneArgs, HostedZoneOutputs};

/// The Route 53 resource types.
pub(crate) const RESOURCES: &[&dyn ResourceImpl] = &[
    &zone::ZoneImpl,
    &health_check::HealthCheckImpl,
    &record::RecordImpl,
];

/// Route 53 has no data sources here.
pub(crate) const DATA_SOURCES: &[&dyn DataSourceImpl] = &[];

/// How long record changes may take to reach every Route 53 name server when the
/// resource sets no timeout (AWS usually needs about a minute).
const DEFAULT_SYNC_WAIT: Duration = Duration::from_secs(600);

/// A Route 53 client without automatic retries, for creates that [`super::create_once`]
/// retries itself after looking for the object a lost answer made.
async fn route53_once(aws: &Aws) -> aws_sdk_route53::Client {
    let conf = aws_sdk_route53::config::Builder::from(aws.sdk_config().await)
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_route53::Client::from_conf(conf)
}

/// The `CallerReference` for an engine create token: the token itself when it fits
/// (at most 64 printable ASCII characters, the limit for health checks), its SHA-256
/// otherwise. The same token always gives the same reference.
pub(crate) fn caller_reference(token: &str) -> String {
    if !token.is_empty() && token.len() <= 64 && token.bytes().all(|b| b.is_ascii_graphic()) {
        token.to_string()
    } else {
        hex::encode(Sha256::digest(token.as_bytes()))[..64].to_string()
    }
}

/// A hosted zone id without the `/hostedzone/` prefix the API sometimes adds.
pub(crate) fn bare_zone_id(id: &str) -> &str {
    id.trim_start_matches("/hostedzone/")
}

/// A DNS name as Route 53 compares them: lower case, without the trailing dot, with the
/// octal escapes Route 53 answers with (`\052` for `*`) decoded.
pub(crate) fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let digits: String = chars.clone().take(3).collect();
            if digits.len() == 3
                && digits.chars().all(|d| ('0'..='7').contains(&d))
                && let Ok(code) = u8::from_str_radix(&digits, 8)
            {
                out.push(char::from(code));
                for _ in 0..3 {
                    chars.next();
                }
                continue;
            }
            if let Some(next) = chars.next() {
                out.push(next);
            }
            continue;
        }
        out.push(c);
    }
    let trimmed = out.strip_suffix('.').unwrap_or(&out);
    trimmed.to_ascii_lowercase()
}

/// The name to report for `found`: the recorded spelling when it names the same thing
/// (so that a trailing dot or capitals in the declaration are no change), else `found`
/// normalized.
pub(crate) fn keep_form(recorded: Option<&str>, found: &str) -> String {
    match recorded {
        Some(r) if normalize_name(r) == normalize_name(found) => r.to_string(),
        _ => normalize_name(found),
    }
}

/// Checks a DNS name as Route 53 takes it in declarations: at most 255 characters
/// (253 without the trailing dot), labels of 1 to 63 letters, digits, `-` or `_`, and
/// with `wildcard` a leading `*` label.
pub fn check_dns_name(name: &str, wildcard: bool) -> Result<(), String> {
    let bare = name.strip_suffix('.').unwrap_or(name);
    if bare.is_empty() {
        return Err("a DNS name cannot be empty".to_string());
    }
    if bare.len() > 253 {
        return Err(format!(
            "`{name}` is {} characters long; DNS names have at most 253",
            bare.len()
        ));
    }
    for (i, label) in bare.split('.').enumerate() {
        if label == "*" && i == 0 {
            if wildcard {
                continue;
            }
            return Err(format!("`{name}`: a wildcard is not allowed here"));
        }
        if label.is_empty() || label.len() > 63 {
            return Err(format!(
                "`{name}` has a label of {} characters; labels have 1 to 63",
                label.len()
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(format!(
                "`{name}` has `{c}`; DNS labels allow letters, digits, `-` and `_`{}",
                if wildcard {
                    " (and a leading `*` label)"
                } else {
                    ""
                }
            ));
        }
    }
    Ok(())
}

fn route53_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The tags of a zone or health check (`id` without prefix).
async fn tags_of(
    aws: &Aws,
    kind: TagResourceType,
    id: &str,
) -> Result<BTreeMap<String, String>, ProviderError> {
    let out = aws
        .route53()
        .await
        .list_tags_for_resource()
        .resource_type(kind)
        .resource_id(id)
        .send()
        .await
        .op("ListTagsForResource")?;
    Ok(out
        .resource_tag_set()
        .map(|set| {
            set.tags()
                .iter()
                .filter_map(|t| {
                    Some((
                        t.key()?.to_string(),
                        t.value().unwrap_or_default().to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Sets the tags `after` on an object that carried `before`: adds and changes what
/// differs and removes keys no longer wanted (tags neither side names, such as the
/// creation token, stay).
async fn change_tags(
    aws: &Aws,
    kind: TagResourceType,
    id: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    let add: BTreeMap<String, String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove: Vec<String> = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    if add.is_empty() && remove.is_empty() {
        return Ok(());
    }
    let mut call = aws
        .route53()
        .await
        .change_tags_for_resource()
        .resource_type(kind)
        .resource_id(id);
    if !add.is_empty() {
        call = call.set_add_tags(Some(route53_tags(&add)));
    }
    if !remove.is_empty() {
        call = call.set_remove_tag_keys(Some(remove));
    }
    call.send().await.op("ChangeTagsForResource")?;
    Ok(())
}

/// Waits until the change a ChangeResourceRecordSets answered with has reached every
/// Route 53 name server; not at all when the answer already says it has (`INSYNC`).
async fn wait_in_sync(
    aws: &Aws,
    change: Option<&aws_sdk_route53::types::ChangeInfo>,
    timeout: Option<Duration>,
) -> Result<(), ProviderError> {
    let Some(change) = change else {
        return Ok(());
    };
    if *change.status() == aws_sdk_route53::types::ChangeStatus::Insync {
        return Ok(());
    }
    let id = change.id().trim_start_matches("/change/");
    let limit = timeout.unwrap_or(DEFAULT_SYNC_WAIT);
    let result = aws
        .route53()
        .await
        .wait_until_resource_record_sets_changed()
        .id(id)
        .wait(limit)
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(WaiterError::ExceededMaxWait(_)) => Err(ProviderError::new(
            ErrorKind::Timeout,
            "GetChange",
            format!(
                "change {id} was not in sync on every Route 53 name server within {}s",
                limit.as_secs()
            ),
        )),
        Err(e) => Err(ProviderError::new(
            ErrorKind::Service,
            "GetChange",
            format!("waiting for change {id}: {}", DisplayErrorContext(&e)),
        )),
    }
}

/// Builder errors (a required field left out) as provider errors.
fn built<T>(
    result: Result<T, aws_smithy_types::error::operation::BuildError>,
    operation: &str,
) -> Result<T, ProviderError> {
    result.map_err(|e| ProviderError::new(ErrorKind::Validation, operation, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized_and_keep_their_declared_form() {
        assert_eq!(normalize_name("WWW.Example.com."), "www.example.com");
        assert_eq!(normalize_name("\\052.example.com."), "*.example.com");
        assert_eq!(
            keep_form(Some("api.example.com."), "API.example.com"),
            "api.example.com."
        );
        assert_eq!(
            keep_form(Some("other.com"), "api.example.com."),
            "api.example.com"
        );
        assert_eq!(keep_form(None, "api.example.com."), "api.example.com");
    }

    #[test]
    fn dns_names_are_checked() {
        for ok in [
            "example.com",
            "example.com.",
            "_acme-challenge.example.com",
            "a",
        ] {
            assert!(check_dns_name(ok, false).is_ok(), "{ok}");
        }
        assert!(check_dns_name("*.example.com", true).is_ok());
        assert!(
            check_dns_name("*.example.com", false)
                .unwrap_err()
                .contains("wildcard")
        );
        assert!(
            check_dns_name("a..b", false)
                .unwrap_err()
                .contains("1 to 63")
        );
        assert!(
            check_dns_name("a b.com", false)
                .unwrap_err()
                .contains("` `")
        );
        let long = format!("{}.com", "a".repeat(64));
        assert!(check_dns_name(&long, false).unwrap_err().contains("64"));
        let huge = vec!["abcdefghij"; 25].join(".");
        assert!(check_dns_name(&huge, false).unwrap_err().contains("253"));
    }

    #[test]
    fn caller_references_fit_and_are_stable() {
        let uuid = "0b6f8e34-6f0d-4c55-9a8e-1d2f3c4b5a69";
        assert_eq!(caller_reference(uuid), uuid);
        let long = "x".repeat(100);
        assert_eq!(caller_reference(&long).len(), 64);
        assert_eq!(caller_reference(&long), caller_reference(&long));
        assert_eq!(bare_zone_id("/hostedzone/Z123"), "Z123");
        assert_eq!(bare_zone_id("Z123"), "Z123");
    }
}
