//! `aws:acm/certificateValidation`: waits until a DNS-validated certificate is issued.
//! It makes nothing in the cloud: deleting it only forgets it.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_acm::types::CertificateStatus;
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, ErrorKind, FieldErrors, Input, LookupRequest,
    Props, ProviderError, ReadRequest, ReadResponse, ResourceArgs, UpdateRequest, UpdateResponse,
    Value,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{batch_details, check_certificate_arn};
use crate::aws::batch::{ReadBatch, ReadResult, failed_all};
use crate::aws::error::none_if_not_found;
use crate::aws::{Aws, ErrorContext, ResourceImpl, decode, found};

const TYPE: &str = "aws:acm/certificateValidation";

/// How long create waits for the certificate when the resource sets no timeout. ACM
/// usually issues within minutes of the records resolving, but allows up to 72 hours.
const DEFAULT_WAIT: Duration = Duration::from_secs(45 * 60);

/// How often a validation still pending is reported while waiting.
const NOTICE_EVERY: Duration = Duration::from_secs(60);

/// What a certificate stuck in PENDING_VALIDATION usually lacks.
const PENDING_HINT: &str = "ACM issues it once the validation records resolve publicly, which needs the domain delegated to the hosted zone's name servers (the zone's `name_servers` output; check with `dig NS <domain>`)";

/// Arguments of the wait for a certificate's issue.
#[derive(Debug, Clone)]
pub struct CertificateValidationArgs {
    certificate_arn: Input<String>,
    validation_record_fqdns: Vec<Input<String>>,
}

impl CertificateValidationArgs {
    /// Waits until the certificate `certificate_arn` is issued (45 minutes unless the
    /// resource's create timeout says otherwise).
    pub fn new(certificate_arn: impl Into<Input<String>>) -> Self {
        CertificateValidationArgs {
            certificate_arn: certificate_arn.into(),
            validation_record_fqdns: Vec::new(),
        }
    }

    /// The validation records' names (usually `record.fqdn()` of each validation record):
    /// the wait then starts only after they exist.
    pub fn validation_record_fqdns<I, V>(mut self, fqdns: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<Input<String>>,
    {
        self.validation_record_fqdns
            .extend(fqdns.into_iter().map(Into::into));
        self
    }
}

impl ResourceArgs for CertificateValidationArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["certificate_arn"], &["validation_record_fqdns"])
    }

    type Handle = CertificateValidation;

    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn props(&self) -> Props {
        Props::new()
            .set("certificate_arn", &self.certificate_arn)
            .set("validation_record_fqdns", &self.validation_record_fqdns)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("certificate_arn", &self.certificate_arn, |a| {
            check_certificate_arn(a)
        });
    }
}

handle! {
    /// A declared wait for a certificate: depend on it (or use its ARN) where an issued
    /// certificate is needed.
    CertificateValidation {
        /// The ARN of the issued certificate.
        certificate_arn: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct ValidationInputs {
    certificate_arn: String,
    #[serde(default)]
    validation_record_fqdns: Vec<String>,
}

/// The certificate's status and, when it is pending, the names of the records ACM is
/// waiting for; `None` when the certificate is gone.
async fn status_of(
    aws: &Aws,
    arn: &str,
) -> Result<Option<(CertificateStatus, String)>, ProviderError> {
    let out = none_if_not_found(
        aws.acm()
            .await
            .describe_certificate()
            .certificate_arn(arn)
            .send()
            .await
            .op("DescribeCertificate"),
    )?;
    let Some(detail) = out.and_then(|o| o.certificate().cloned()) else {
        return Ok(None);
    };
    let status = detail
        .status()
        .cloned()
        .unwrap_or(CertificateStatus::PendingValidation);
    let detail_text = match &status {
        CertificateStatus::PendingValidation => {
            let records: Vec<String> = detail
                .domain_validation_options()
                .iter()
                .filter_map(|o| o.resource_record().map(|r| r.name().to_string()))
                .collect();
            if records.is_empty() {
                String::new()
            } else {
                format!(
                    "; ACM is looking for the CNAME records {}",
                    records.join(", ")
                )
            }
        }
        _ => detail
            .failure_reason()
            .map(|r| format!(" ({})", r.as_str()))
            .unwrap_or_default(),
    };
    Ok(Some((status, detail_text)))
}

/// The certificate a validation waits for: recorded in its inputs, else its id.
fn certificate_of(req: &ReadRequest) -> String {
    req.inputs["certificate_arn"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| req.id.clone())
}

/// What a read says of a validation whose certificate `arn` has `status` (`None`: gone).
/// Validated means issued: a certificate that expired or was revoked is no longer.
fn validated(
    req: &ReadRequest,
    arn: &str,
    status: Option<&CertificateStatus>,
) -> Option<ReadResponse> {
    let recorded = decode::<ValidationInputs>(&req.inputs).ok();
    let issued = matches!(status, Some(CertificateStatus::Issued));
    let pair = issued.then(|| {
        (
            ValidationInputs {
                certificate_arn: arn.to_string(),
                validation_record_fqdns: recorded
                    .map(|r| r.validation_record_fqdns)
                    .unwrap_or_default(),
            },
            json!({ "certificate_arn": arn }),
        )
    });
    found(&req.id, pair)
}

/// Polls until the certificate is issued, fails, or `limit` passes.
async fn wait_issued(aws: &Aws, arn: &str, limit: Duration) -> Result<(), ProviderError> {
    const OP: &str = "DescribeCertificate";
    let started = Instant::now();
    // ACM validates through DNS in tens of seconds at best: after the first look (an
    // already issued certificate), poll from 2 s, doubling up to 15 s.
    let mut delay = Duration::from_secs(2);
    let mut next_notice = NOTICE_EVERY;
    loop {
        let Some((status, detail)) = status_of(aws, arn).await? else {
            return Err(ProviderError::new(
                ErrorKind::NotFound,
                OP,
                format!("certificate {arn} does not exist"),
            ));
        };
        match status {
            CertificateStatus::Issued => return Ok(()),
            CertificateStatus::PendingValidation => {}
            other => {
                return Err(ProviderError::new(
                    ErrorKind::Service,
                    OP,
                    format!(
                        "certificate {arn} will not be issued: it is {}{detail}",
                        other.as_str()
                    ),
                ));
            }
        }
        let left = limit.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(ProviderError::new(
                ErrorKind::Timeout,
                OP,
                format!(
                    "certificate {arn} was not issued within {}s (still PENDING_VALIDATION{detail}): {PENDING_HINT}",
                    limit.as_secs()
                ),
            ));
        }
        if started.elapsed() >= next_notice {
            iac_dsl::notice(format!(
                "certificate {arn} still PENDING_VALIDATION after {}s of at most {}s{detail}: {PENDING_HINT}",
                started.elapsed().as_secs(),
                limit.as_secs()
            ));
            next_notice += NOTICE_EVERY;
        }
        tokio::time::sleep(delay.min(left)).await;
        delay = (delay * 2).min(Duration::from_secs(15));
    }
}

pub(super) struct CertificateValidationImpl;

#[async_trait]
impl ResourceImpl for CertificateValidationImpl {
    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["certificate_arn"]
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        match inputs["certificate_arn"]
            .as_str()
            .map(check_certificate_arn)
        {
            Some(Err(e)) => vec![("certificate_arn".to_string(), e)],
            _ => Vec::new(),
        }
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: ValidationInputs = decode(&req.inputs)?;
        wait_issued(
            aws,
            &inputs.certificate_arn,
            req.timeout.unwrap_or(DEFAULT_WAIT),
        )
        .await?;
        Ok(CreateResponse {
            outputs: json!({ "certificate_arn": inputs.certificate_arn }),
            id: inputs.certificate_arn,
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let arn = certificate_of(&req);
        let status = status_of(aws, &arn).await?.map(|(s, _)| s);
        Ok(validated(&req, &arn, status.as_ref()))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        match batch_details(aws, batch, reqs.iter().map(certificate_of)).await {
            Ok(details) => reqs
                .iter()
                .map(|r| {
                    let arn = certificate_of(r);
                    let detail = details.get(&arn).and_then(|d| d.as_ref().as_ref());
                    Ok(validated(r, &arn, detail.and_then(|d| d.status())))
                })
                .collect(),
            Err(e) => failed_all(&reqs, &e),
        }
    }

    async fn update(
        &self,
        _aws: &Aws,
        req: UpdateRequest,
    ) -> Result<UpdateResponse, ProviderError> {
        // Only the validation record names changed: they order the wait, nothing more.
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, _aws: &Aws, _req: DeleteRequest) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some(arn) = req.inputs["certificate_arn"].as_str() else {
            return Ok(None);
        };
        self.read(
            aws,
            ReadRequest {
                ctx: req.ctx,
                id: arn.to_string(),
                inputs: req.inputs.clone(),
                ..Default::default()
            },
        )
        .await
    }
}
