//! ACM: public certificates validated through DNS, and a resource that waits until one is
//! issued.
//!
//! A certificate is requested with DNS validation; its outputs name the CNAME records
//! that prove control of each domain (create them with
//! [`crate::aws::route53::RecordArgs`]). [`CertificateValidationArgs`] then waits until ACM
//! has seen them and issued the certificate, so that listeners and API domains that use it
//! depend on the wait rather than on a certificate that is still pending.

mod certificate;
mod validation;

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_acm::types::Tag;
use iac_dsl::{ErrorKind, ProviderError};

use super::batch::ReadBatch;
use super::{Aws, DataSourceImpl, ErrorContext, ResourceImpl};

pub use certificate::{
    Certificate, CertificateArgs, CertificateOutputs, DomainValidationOption, check_domain_name,
};
pub use validation::{CertificateValidation, CertificateValidationArgs};

/// The ACM resource types.
pub(crate) const RESOURCES: &[&dyn ResourceImpl] = &[
    &certificate::CertificateImpl,
    &validation::CertificateValidationImpl,
];

/// ACM has no data sources here.
pub(crate) const DATA_SOURCES: &[&dyn DataSourceImpl] = &[];

fn acm_tags(tags: &BTreeMap<String, String>, operation: &str) -> Result<Vec<Tag>, ProviderError> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| ProviderError::new(ErrorKind::Validation, operation, e.to_string()))
        })
        .collect()
}

/// The tags of a certificate.
async fn tags_of(aws: &Aws, arn: &str) -> Result<BTreeMap<String, String>, ProviderError> {
    let out = aws
        .acm()
        .await
        .list_tags_for_certificate()
        .certificate_arn(arn)
        .send()
        .await
        .op("ListTagsForCertificate")?;
    Ok(out
        .tags()
        .iter()
        .map(|t| {
            (
                t.key().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect())
}

/// Checks that `arn` looks like an ACM certificate ARN.
pub fn check_certificate_arn(arn: &str) -> Result<(), String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "acm"
        && !parts[3].is_empty()
        && parts[5].starts_with("certificate/")
        && parts[5].len() > "certificate/".len();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{arn}` is not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)"
        ))
    }
}

/// What DescribeCertificate says of each of `arns` (`None`: gone), for a refresh batch:
/// one call per certificate, shared by the certificate and its validation.
async fn batch_details(
    aws: &Aws,
    batch: &ReadBatch,
    arns: impl Iterator<Item = String>,
) -> Result<BTreeMap<String, Arc<Option<aws_sdk_acm::types::CertificateDetail>>>, ProviderError> {
    batch
        .shared_each("acm:certificate", arns, |arn| async move {
            certificate::describe_detail(aws, &arn).await
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_arns_are_checked() {
        assert!(
            check_certificate_arn("arn:aws:acm:us-east-1:123456789012:certificate/abc-123").is_ok()
        );
        for bad in [
            "",
            "arn:aws:iam::123456789012:role/x",
            "arn:aws:acm:us-east-1:123456789012:certificate/",
        ] {
            assert!(check_certificate_arn(bad).is_err(), "{bad}");
        }
    }
}
