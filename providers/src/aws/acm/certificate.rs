//! `aws:acm/certificate`: a public certificate requested with DNS validation.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_acm::types::{
    CertificateDetail, CertificateStatus, Filters, KeyAlgorithm, Tag, ValidationMethod,
};
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, ErrorKind, FieldErrors, Input, LookupRequest,
    Props, ProviderError, ReadRequest, ReadResponse, ResourceArgs, UpdateRequest, UpdateResponse,
    Value,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{acm_tags, batch_details, tags_of};
use crate::aws::batch::{ReadBatch, ReadResult};
use crate::aws::error::none_if_not_found;
use crate::aws::idempotent::update_tags;
use crate::aws::{Aws, ErrorContext, ResourceImpl, TAG_TOKEN, decode, found, to_json};

const TYPE: &str = "aws:acm/certificate";

/// The key algorithms ACM issues public certificates with.
const KEY_ALGORITHMS: &[&str] = &["RSA_2048", "EC_prime256v1", "EC_secp384r1"];

/// ACM takes at most 100 names per certificate (the domain name included).
const MAX_NAMES: usize = 100;

/// How long create waits for ACM to publish the validation records when the resource
/// sets no timeout (ACM usually needs a few seconds).
const RECORDS_WAIT: Duration = Duration::from_secs(300);

/// How long delete retries while the certificate is still in use (a listener that used it
/// is released a little after it is deleted).
const IN_USE_WAIT: Duration = Duration::from_secs(300);

/// Arguments of a public certificate for `domain_name` (and further names), validated by
/// DNS records.
#[derive(Debug, Clone)]
pub struct CertificateArgs {
    domain_name: Input<String>,
    subject_alternative_names: Vec<Input<String>>,
    key_algorithm: Input<String>,
    tags: BTreeMap<String, Input<String>>,
}

impl CertificateArgs {
    /// A certificate for `domain_name` (e.g. `api.payments.example.com` or
    /// `*.payments.example.com`), validated through DNS, with an RSA 2048-bit key.
    pub fn dns(domain_name: impl Into<Input<String>>) -> Self {
        CertificateArgs {
            domain_name: domain_name.into(),
            subject_alternative_names: Vec::new(),
            key_algorithm: Input::Value("RSA_2048".to_string()),
            tags: BTreeMap::new(),
        }
    }

    /// Further names the certificate covers (at most 99 besides the domain name).
    pub fn subject_alternative_names<I, V>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<Input<String>>,
    {
        self.subject_alternative_names
            .extend(names.into_iter().map(Into::into));
        self
    }

    /// The key algorithm: `RSA_2048` (default), `EC_prime256v1` or `EC_secp384r1`.
    pub fn key_algorithm(mut self, algorithm: impl Into<Input<String>>) -> Self {
        self.key_algorithm = algorithm.into();
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

/// Checks a name as ACM takes it: at least two labels of 1 to 63 letters, digits and
/// hyphens (not at a label's start or end), at most 253 characters, optionally led by
/// `*.` for a wildcard.
pub fn check_domain_name(name: &str) -> Result<(), String> {
    let bare = name.strip_prefix("*.").unwrap_or(name);
    if bare.is_empty() {
        return Err("a domain name cannot be empty".to_string());
    }
    if name.len() > 253 {
        return Err(format!(
            "`{name}` is {} characters long; domain names have at most 253",
            name.len()
        ));
    }
    let labels: Vec<&str> = bare.split('.').collect();
    if labels.len() < 2 {
        return Err(format!(
            "`{name}` is not a fully qualified domain name (e.g. api.example.com)"
        ));
    }
    for label in labels {
        if label.is_empty() || label.len() > 63 {
            return Err(format!(
                "`{name}` has a label of {} characters; labels have 1 to 63",
                label.len()
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(format!(
                "`{name}` has `{c}`; domain names allow letters, digits and `-` (and a \
                 leading `*.`)"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("`{name}`: label `{label}` starts or ends with `-`"));
        }
    }
    Ok(())
}

fn check_key_algorithm(value: &str) -> Result<(), String> {
    if KEY_ALGORITHMS.contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "`{value}` is not a key algorithm ACM issues public certificates with ({})",
            KEY_ALGORITHMS.join(", ")
        ))
    }
}

/// Every invalid field of (partly) known inputs; unknown parts (objects) are skipped.
fn check_inputs(inputs: &Value) -> Vec<(String, String)> {
    let mut invalid = Vec::new();
    let domain = inputs["domain_name"].as_str();
    if let Some(Err(e)) = domain.map(check_domain_name) {
        invalid.push(("domain_name".to_string(), e));
    }
    let sans = inputs["subject_alternative_names"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut seen: BTreeSet<String> = domain.map(str::to_ascii_lowercase).into_iter().collect();
    for name in sans.iter().filter_map(Value::as_str) {
        if let Err(e) = check_domain_name(name) {
            invalid.push(("subject_alternative_names".to_string(), e));
        } else if !seen.insert(name.to_ascii_lowercase()) {
            invalid.push((
                "subject_alternative_names".to_string(),
                format!("`{name}` is listed twice (the domain name is always covered)"),
            ));
        }
    }
    if sans.len() + 1 > MAX_NAMES {
        invalid.push((
            "subject_alternative_names".to_string(),
            format!(
                "{} names in all; a certificate covers at most {MAX_NAMES}",
                sans.len() + 1
            ),
        ));
    }
    if let Some(Err(e)) = inputs["key_algorithm"].as_str().map(check_key_algorithm) {
        invalid.push(("key_algorithm".to_string(), e));
    }
    invalid
}

impl ResourceArgs for CertificateArgs {
    type Handle = Certificate;

    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn props(&self) -> Props {
        Props::new()
            .set("domain_name", &self.domain_name)
            .set("subject_alternative_names", &self.subject_alternative_names)
            .set("key_algorithm", &self.key_algorithm)
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        fn known(input: &Input<String>) -> Value {
            input
                .known()
                .map(|s| json!(s))
                .unwrap_or_else(|| json!({ "$unknown": "declared" }))
        }
        let view = json!({
            "domain_name": known(&self.domain_name),
            "subject_alternative_names":
                self.subject_alternative_names.iter().map(known).collect::<Vec<_>>(),
            "key_algorithm": known(&self.key_algorithm),
        });
        for (field, message) in check_inputs(&view) {
            errors.add(field, message);
        }
    }
}

handle! {
    /// A declared certificate.
    Certificate {
        /// The certificate's ARN (also its id).
        arn: String,
        /// The domain name.
        domain_name: String,
        /// The status when last read: `PENDING_VALIDATION`, `ISSUED`, ...
        status: String,
        /// One DNS validation record per name, the domain name first, then the
        /// alternative names in declared order. Names under one wildcard share a record.
        domain_validation_options: Vec<DomainValidationOption>,
    }
}

impl Certificate {
    /// The name of the validation record of the `index`-th name (0: the domain name).
    pub fn validation_record_name(&self, index: usize) -> iac_dsl::Output<String> {
        self.validation_field(index, "resource_record_name")
    }

    /// The type (`CNAME`) of the validation record of the `index`-th name.
    pub fn validation_record_type(&self, index: usize) -> iac_dsl::Output<String> {
        self.validation_field(index, "resource_record_type")
    }

    /// The value of the validation record of the `index`-th name.
    pub fn validation_record_value(&self, index: usize) -> iac_dsl::Output<String> {
        self.validation_field(index, "resource_record_value")
    }

    fn validation_field(&self, index: usize, field: &str) -> iac_dsl::Output<String> {
        self.0
            .output(&format!("domain_validation_options.{index}.{field}"))
    }
}

/// The DNS record that proves control of one name of a certificate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DomainValidationOption {
    /// The name it validates.
    pub domain_name: String,
    /// The record's name (e.g. `_x1.api.example.com.`).
    pub resource_record_name: String,
    /// The record's type (`CNAME`).
    pub resource_record_type: String,
    /// The record's value.
    pub resource_record_value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct CertificateInputs {
    domain_name: String,
    #[serde(default)]
    subject_alternative_names: Vec<String>,
    key_algorithm: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// What a certificate exposes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CertificateOutputs {
    /// The ARN.
    pub arn: String,
    /// The domain name.
    pub domain_name: String,
    /// The status.
    pub status: String,
    /// The validation records.
    pub domain_validation_options: Vec<DomainValidationOption>,
}

/// An ACM idempotency token (at most 32 word characters) for an engine create token:
/// the token itself when it is one, a hash of it otherwise.
fn idempotency_token(token: &str) -> String {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    if !token.is_empty() && token.len() <= 32 && token.chars().all(word) {
        token.to_string()
    } else {
        hex::encode(Sha256::digest(token.as_bytes()))[..32].to_string()
    }
}

/// ACM answers key algorithms as `RSA-2048` where requests say `RSA_2048`.
fn key_algorithm_name(algorithm: &KeyAlgorithm) -> String {
    algorithm.as_str().replace('-', "_")
}

/// The validation records of a certificate, in the order of `names`, then any others.
fn validation_options(detail: &CertificateDetail, names: &[String]) -> Vec<DomainValidationOption> {
    let mut options: Vec<DomainValidationOption> = detail
        .domain_validation_options()
        .iter()
        .filter_map(|o| {
            let record = o.resource_record()?;
            Some(DomainValidationOption {
                domain_name: o.domain_name().to_string(),
                resource_record_name: record.name().to_string(),
                resource_record_type: record.r#type().as_str().to_string(),
                resource_record_value: record.value().to_string(),
            })
        })
        .collect();
    let rank = |name: &str| {
        names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .unwrap_or(names.len())
    };
    options.sort_by(|a, b| {
        (rank(&a.domain_name), &a.domain_name).cmp(&(rank(&b.domain_name), &b.domain_name))
    });
    options
}

/// Whether ACM has published a validation record for every name (or no longer needs them).
fn records_ready(detail: &CertificateDetail) -> bool {
    if detail.status() != Some(&CertificateStatus::PendingValidation) {
        return true;
    }
    let options = detail.domain_validation_options();
    !options.is_empty() && options.iter().all(|o| o.resource_record().is_some())
}

pub(super) async fn describe_detail(
    aws: &Aws,
    arn: &str,
) -> Result<Option<CertificateDetail>, ProviderError> {
    let out = none_if_not_found(
        aws.acm()
            .await
            .describe_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .op("DescribeCertificate"),
    )?;
    Ok(out.and_then(|o| o.certificate().cloned()))
}

fn outputs_of(arn: &str, detail: &CertificateDetail, names: &[String]) -> CertificateOutputs {
    CertificateOutputs {
        arn: arn.to_string(),
        domain_name: detail.domain_name().unwrap_or_default().to_string(),
        status: detail
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        domain_validation_options: validation_options(detail, names),
    }
}

fn names_of(inputs: &CertificateInputs) -> Vec<String> {
    std::iter::once(inputs.domain_name.clone())
        .chain(inputs.subject_alternative_names.iter().cloned())
        .collect()
}

async fn describe(
    aws: &Aws,
    arn: &str,
    recorded: Option<&CertificateInputs>,
) -> Result<Option<(CertificateInputs, CertificateOutputs)>, ProviderError> {
    let Some(detail) = describe_detail(aws, arn).await? else {
        return Ok(None);
    };
    Ok(Some(complete(aws, arn, &detail, recorded).await?))
}

/// A certificate's inputs and outputs: what DescribeCertificate said of it (`detail`),
/// and its tags (one call).
async fn complete(
    aws: &Aws,
    arn: &str,
    detail: &CertificateDetail,
    recorded: Option<&CertificateInputs>,
) -> Result<(CertificateInputs, CertificateOutputs), ProviderError> {
    let domain = detail.domain_name().unwrap_or_default().to_string();
    let domain_name = match recorded {
        Some(r) if r.domain_name.eq_ignore_ascii_case(&domain) => r.domain_name.clone(),
        _ => domain.clone(),
    };
    // ACM lists the domain name among the alternative names; the declaration does not.
    let found_sans: Vec<String> = detail
        .subject_alternative_names()
        .iter()
        .filter(|n| !n.eq_ignore_ascii_case(&domain))
        .cloned()
        .collect();
    let lower =
        |v: &[String]| -> BTreeSet<String> { v.iter().map(|s| s.to_ascii_lowercase()).collect() };
    let subject_alternative_names = match recorded {
        Some(r) if lower(&r.subject_alternative_names) == lower(&found_sans) => {
            r.subject_alternative_names.clone()
        }
        _ => found_sans,
    };
    let inputs = CertificateInputs {
        domain_name,
        subject_alternative_names,
        key_algorithm: detail
            .key_algorithm()
            .map(key_algorithm_name)
            .unwrap_or_else(|| "RSA_2048".to_string()),
        tags: aws.own_tags(aws.tags_or(arn, || tags_of(aws, arn)).await?),
    };
    let outputs = outputs_of(arn, detail, &names_of(&inputs));
    Ok((inputs, outputs))
}

/// The live certificate for `domain` (any, when `None`) tagged with the create `token`.
async fn find_by_token(
    aws: &Aws,
    domain: Option<&str>,
    token: &str,
) -> Result<Option<String>, ProviderError> {
    let client = aws.acm().await;
    // Without a key type filter ListCertificates only lists RSA 2048-bit certificates.
    let includes = Filters::builder()
        .set_key_types(Some(
            [
                "RSA_1024",
                "RSA_2048",
                "RSA_3072",
                "RSA_4096",
                "EC_prime256v1",
                "EC_secp384r1",
                "EC_secp521r1",
            ]
            .into_iter()
            .map(KeyAlgorithm::from)
            .collect(),
        ))
        .build();
    let mut next: Option<String> = None;
    loop {
        let page = client
            .list_certificates()
            .includes(includes.clone())
            .set_next_token(next)
            .send()
            .await
            .op("ListCertificates")?;
        for summary in page.certificate_summary_list() {
            let Some(arn) = summary.certificate_arn() else {
                continue;
            };
            if let (Some(want), Some(have)) = (domain, summary.domain_name())
                && !want.eq_ignore_ascii_case(have)
            {
                continue;
            }
            let tags = match none_if_not_found(tags_of(aws, arn).await)? {
                Some(tags) => tags,
                None => continue,
            };
            if tags.get(TAG_TOKEN).map(String::as_str) == Some(token) {
                return Ok(Some(arn.to_string()));
            }
        }
        match page.next_token() {
            Some(token) if !token.is_empty() => next = Some(token.to_string()),
            _ => return Ok(None),
        }
    }
}

pub(super) struct CertificateImpl;

#[async_trait]
impl ResourceImpl for CertificateImpl {
    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["domain_name", "subject_alternative_names", "key_algorithm"]
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        check_inputs(inputs)
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: CertificateInputs = decode(&req.inputs)?;
        let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
        // The idempotency token makes retries (and a repeated create after a lost answer,
        // within an hour) return the same certificate.
        let mut call = aws
            .acm()
            .await
            .request_certificate()
            .domain_name(&inputs.domain_name)
            .validation_method(ValidationMethod::Dns)
            .idempotency_token(idempotency_token(&req.token))
            .key_algorithm(KeyAlgorithm::from(inputs.key_algorithm.as_str()))
            .set_tags(Some(acm_tags(&tags, "RequestCertificate")?));
        if !inputs.subject_alternative_names.is_empty() {
            call = call.set_subject_alternative_names(Some(names_of(&inputs)));
        }
        let arn = call
            .send()
            .await
            .op("RequestCertificate")?
            .certificate_arn()
            .unwrap_or_default()
            .to_string();
        // ACM publishes the validation records a few seconds after the request.
        let limit = req.timeout.unwrap_or(RECORDS_WAIT);
        let started = Instant::now();
        let mut delay = Duration::from_millis(500);
        loop {
            let detail = describe_detail(aws, &arn).await?;
            if let Some(detail) = detail.as_ref().filter(|d| records_ready(d)) {
                return Ok(CreateResponse {
                    id: arn.clone(),
                    outputs: to_json(&outputs_of(&arn, detail, &names_of(&inputs))),
                });
            }
            let left = limit.saturating_sub(started.elapsed());
            if left.is_zero() {
                let mut e = ProviderError::new(
                    ErrorKind::Timeout,
                    "DescribeCertificate",
                    format!(
                        "certificate {arn} had no DNS validation records after {}s",
                        limit.as_secs()
                    ),
                );
                e.created = Some(CreateResponse {
                    id: arn.clone(),
                    outputs: json!({ "arn": arn, "domain_name": inputs.domain_name,
                                     "status": "PENDING_VALIDATION",
                                     "domain_validation_options": [] }),
                });
                return Err(e);
            }
            tokio::time::sleep(delay.min(left)).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let recorded = decode::<CertificateInputs>(&req.inputs).ok();
        Ok(found(
            &req.id,
            describe(aws, &req.id, recorded.as_ref()).await?,
        ))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        let details = batch_details(aws, batch, reqs.iter().map(|r| r.id.clone())).await;
        let with_tags = |r: ReadRequest, detail: Arc<Option<CertificateDetail>>| async move {
            let Some(detail) = detail.as_ref() else {
                return Ok(None);
            };
            let recorded = decode::<CertificateInputs>(&r.inputs).ok();
            let pair = complete(aws, &r.id, detail, recorded.as_ref()).await?;
            Ok(found(&r.id, Some(pair)))
        };
        batch
            .pick_then(reqs, details.map(Arc::new), with_tags, |r| {
                self.read(aws, r)
            })
            .await
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: CertificateInputs = decode(&req.old_inputs)?;
        let new: CertificateInputs = decode(&req.new_inputs)?;
        {
            let client = &aws.acm().await;
            let arn = req.id.as_str();
            update_tags(
                aws,
                &req.ctx,
                &old.tags,
                &new.tags,
                |keys| async move {
                    let gone = keys
                        .iter()
                        .map(|k| {
                            Tag::builder().key(k).build().map_err(|e| {
                                ProviderError::new(
                                    ErrorKind::Validation,
                                    "RemoveTagsFromCertificate",
                                    e.to_string(),
                                )
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    client
                        .remove_tags_from_certificate()
                        .certificate_arn(arn)
                        .set_tags(Some(gone))
                        .send()
                        .await
                        .op("RemoveTagsFromCertificate")
                        .map(|_| ())
                },
                |tags| async move {
                    client
                        .add_tags_to_certificate()
                        .certificate_arn(arn)
                        .set_tags(Some(acm_tags(&tags, "AddTagsToCertificate")?))
                        .send()
                        .await
                        .op("AddTagsToCertificate")
                        .map(|_| ())
                },
            )
            .await?;
        }
        let outputs = match describe(aws, &req.id, Some(&new)).await? {
            Some((_, outputs)) => to_json(&outputs),
            None => req.old_outputs,
        };
        Ok(UpdateResponse { outputs })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let client = aws.acm().await;
        let limit = req.timeout.unwrap_or(IN_USE_WAIT);
        let started = Instant::now();
        let mut delay = Duration::from_secs(2);
        loop {
            let result = client
                .delete_certificate()
                .certificate_arn(&req.id)
                .send()
                .await
                .op("DeleteCertificate");
            match result {
                // A load balancer or API domain releases the certificate shortly after
                // it stops using it.
                Err(e) if e.code.as_deref() == Some("ResourceInUseException") => {
                    let left = limit.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        return Err(ProviderError {
                            message: format!(
                                "certificate {} is still in use after {}s: {}",
                                req.id,
                                limit.as_secs(),
                                e.message
                            ),
                            ..e
                        });
                    }
                    tokio::time::sleep(delay.min(left)).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
                other => return none_if_not_found(other).map(|_| ()),
            }
        }
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let domain = req.inputs["domain_name"].as_str();
        let Some(arn) = find_by_token(aws, domain, &req.token).await? else {
            return Ok(None);
        };
        let recorded = decode::<CertificateInputs>(&req.inputs).ok();
        Ok(found(&arn, describe(aws, &arn, recorded.as_ref()).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_names_follow_acm_rules() {
        for ok in ["example.com", "*.payments.example.com", "a-b.c0.io"] {
            assert!(check_domain_name(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("localhost", "fully qualified"),
            ("bad_name.example.com", "`_`"),
            ("-x.example.com", "starts or ends"),
            ("a..example.com", "1 to 63"),
            ("*.*.example.com", "`*`"),
            ("example.com.", "1 to 63"),
        ] {
            let err = check_domain_name(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        let long = format!("{}.com", vec!["abcdefghij"; 25].join("."));
        assert!(check_domain_name(&long).unwrap_err().contains("253"));
    }

    #[test]
    fn inputs_are_checked_field_by_field() {
        let ok = json!({"domain_name": "api.example.com", "subject_alternative_names": ["www.example.com"],
                        "key_algorithm": "RSA_2048", "tags": {}});
        assert!(check_inputs(&ok).is_empty());
        let bad = json!({"domain_name": "api example", "subject_alternative_names": ["api.example.com", "x_y.example.com"],
                         "key_algorithm": "RSA_1024", "tags": {}});
        let fields: Vec<String> = check_inputs(&bad).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            ["domain_name", "subject_alternative_names", "key_algorithm"]
        );
        let dup = json!({"domain_name": "api.example.com", "subject_alternative_names": ["API.example.com"],
                         "key_algorithm": "RSA_2048"});
        assert!(check_inputs(&dup)[0].1.contains("twice"));
        let many: Vec<String> = (0..100).map(|i| format!("n{i}.example.com")).collect();
        let too_many = json!({"domain_name": "api.example.com", "subject_alternative_names": many,
                              "key_algorithm": "RSA_2048"});
        assert!(check_inputs(&too_many)[0].1.contains("101 names"));
    }

    #[test]
    fn idempotency_tokens_fit_acm() {
        assert_eq!(idempotency_token("abc_123"), "abc_123");
        let uuid = idempotency_token("0b6f8e34-6f0d-4c55-9a8e-1d2f3c4b5a69");
        assert_eq!(uuid.len(), 32);
        assert!(uuid.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(
            uuid,
            idempotency_token("0b6f8e34-6f0d-4c55-9a8e-1d2f3c4b5a69")
        );
        assert_ne!(
            uuid,
            idempotency_token("0b6f8e34-6f0d-4c55-9a8e-1d2f3c4b5a6a")
        );
    }

    #[test]
    fn key_algorithms_read_back_as_requested() {
        assert_eq!(
            key_algorithm_name(&KeyAlgorithm::from("RSA-2048")),
            "RSA_2048"
        );
        assert_eq!(key_algorithm_name(&KeyAlgorithm::Rsa2048), "RSA_2048");
    }
}
