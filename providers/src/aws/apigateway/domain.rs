//! Regional custom domain names and the base path mappings that route them to a stage.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_apigateway::types::{EndpointConfiguration, EndpointType, SecurityPolicy};
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, ErrorKind, FieldErrors, Input, LookupRequest,
    Output, Props, ProviderError, ReadRequest, ReadResponse, ResourceArgs, UpdateRequest,
    UpdateResponse, Value,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::super::error::none_if_not_found;
use super::super::{Aws, ErrorContext, ResourceImpl, decode, found};
use super::deploy::Stage;
use super::replace;

const DOMAIN_NAME: &str = "aws:apigateway/domainName";
const BASE_PATH_MAPPING: &str = "aws:apigateway/basePathMapping";

/// Arguments of a regional custom domain name.
#[derive(Debug, Clone)]
pub struct DomainNameArgs {
    domain_name: Input<String>,
    certificate_arn: Input<String>,
    security_policy: String,
    tags: BTreeMap<String, Input<String>>,
}

impl DomainNameArgs {
    /// `domain_name` served regionally with the ACM certificate `certificate_arn` (in the
    /// same region), TLS 1.2.
    pub fn regional(
        domain_name: impl Into<Input<String>>,
        certificate_arn: impl Into<Input<String>>,
    ) -> Self {
        DomainNameArgs {
            domain_name: domain_name.into(),
            certificate_arn: certificate_arn.into(),
            security_policy: "TLS_1_2".to_string(),
            tags: BTreeMap::new(),
        }
    }

    /// `TLS_1_0` or `TLS_1_2`.
    pub fn security_policy(mut self, policy: impl Into<String>) -> Self {
        self.security_policy = policy.into();
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

/// A DNS name: labels of 1 to 63 letters, digits or hyphens, 253 characters in all.
pub fn check_domain_name(name: &str) -> Result<(), String> {
    let name = name.trim_end_matches('.');
    let labels_ok = name.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    if name.len() > 253 || !labels_ok || !name.contains('.') {
        Err(format!("`{name}` is not a fully qualified domain name"))
    } else {
        Ok(())
    }
}

fn policy_problem(policy: &str) -> Option<(String, String)> {
    (!matches!(policy, "TLS_1_0" | "TLS_1_2")).then(|| {
        (
            "security_policy".to_string(),
            format!("`{policy}` is not TLS_1_0 or TLS_1_2"),
        )
    })
}

impl ResourceArgs for DomainNameArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["regional_certificate_arn"], &[])
    }

    type Handle = DomainName;

    fn type_token(&self) -> &'static str {
        DOMAIN_NAME
    }

    fn props(&self) -> Props {
        Props::new()
            .set("domain_name", &self.domain_name)
            .set("regional_certificate_arn", &self.certificate_arn)
            .value("security_policy", &self.security_policy)
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("domain_name", &self.domain_name, |d| check_domain_name(d));
        errors.check("regional_certificate_arn", &self.certificate_arn, |a| {
            if a.starts_with("arn:") && a.contains(":certificate/") {
                Ok(())
            } else {
                Err(format!("`{a}` is not an ACM certificate ARN"))
            }
        });
        if let Some((field, message)) = policy_problem(&self.security_policy) {
            errors.add(field, message);
        }
    }
}

handle! {
    /// A declared custom domain name.
    DomainName {
        /// The domain name (also its id).
        domain_name: String,
        /// The API Gateway host name that DNS aliases point at.
        regional_domain_name: String,
        /// The Route 53 zone id of that host name (for alias records).
        regional_zone_id: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct DomainInputs {
    domain_name: String,
    regional_certificate_arn: String,
    security_policy: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

pub(super) struct DomainNameImpl;

async fn describe_domain(
    aws: &Aws,
    name: &str,
) -> Result<Option<(DomainInputs, Value)>, ProviderError> {
    let result = aws
        .apigateway()
        .await
        .get_domain_name()
        .domain_name(name)
        .send()
        .await
        .op("GetDomainName");
    let Some(d) = none_if_not_found(result)? else {
        return Ok(None);
    };
    let tags: BTreeMap<String, String> = d
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let inputs = DomainInputs {
        domain_name: name.to_string(),
        regional_certificate_arn: d.regional_certificate_arn().unwrap_or_default().to_string(),
        security_policy: d
            .security_policy()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "TLS_1_2".to_string()),
        tags: aws.own_tags(tags),
    };
    let outputs = domain_outputs(name, d.regional_domain_name(), d.regional_hosted_zone_id());
    Ok(Some((inputs, outputs)))
}

/// A domain's outputs: its name, and the regional name and zone its alias records target.
fn domain_outputs(name: &str, regional_name: Option<&str>, regional_zone: Option<&str>) -> Value {
    json!({
        "domain_name": name,
        "regional_domain_name": regional_name.unwrap_or_default(),
        "regional_zone_id": regional_zone.unwrap_or_default(),
    })
}

#[async_trait]
impl ResourceImpl for DomainNameImpl {
    fn type_token(&self) -> &'static str {
        DOMAIN_NAME
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["domain_name"]
    }

    fn delete_before_replace(&self) -> bool {
        true
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        let mut errors: Vec<(String, String)> = inputs["security_policy"]
            .as_str()
            .and_then(policy_problem)
            .into_iter()
            .collect();
        if let Some(Err(e)) = inputs["domain_name"].as_str().map(check_domain_name) {
            errors.push(("domain_name".to_string(), e));
        }
        errors
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: DomainInputs = decode(&req.inputs)?;
        let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
        let result = aws
            .apigateway()
            .await
            .create_domain_name()
            .domain_name(&inputs.domain_name)
            .regional_certificate_arn(&inputs.regional_certificate_arn)
            .endpoint_configuration(
                EndpointConfiguration::builder()
                    .types(EndpointType::Regional)
                    .build(),
            )
            .security_policy(SecurityPolicy::from(inputs.security_policy.as_str()))
            .set_tags(Some(tags.into_iter().collect()))
            .send()
            .await
            .op("CreateDomainName");
        let answer = match result {
            // The answer describes the domain whole: no read back.
            Ok(d) => Some(domain_outputs(
                &inputs.domain_name,
                d.regional_domain_name(),
                d.regional_hosted_zone_id(),
            )),
            // Domain names are unique: a retried create finds the one it made.
            Err(e) if e.code.as_deref() == Some("ConflictException") => None,
            Err(e) => return Err(e),
        };
        let outputs = match answer {
            Some(outputs) => outputs,
            None => {
                describe_domain(aws, &inputs.domain_name)
                    .await?
                    .ok_or_else(|| {
                        super::super::vanished("GetDomainName", "domain name", &inputs.domain_name)
                    })?
                    .1
            }
        };
        Ok(CreateResponse {
            id: inputs.domain_name,
            outputs,
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        Ok(found(&req.id, describe_domain(aws, &req.id).await?))
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: DomainInputs = decode(&req.old_inputs)?;
        let new: DomainInputs = decode(&req.new_inputs)?;
        let mut ops = Vec::new();
        if old.regional_certificate_arn != new.regional_certificate_arn {
            ops.push(replace(
                "/regionalCertificateArn",
                &new.regional_certificate_arn,
            ));
        }
        if old.security_policy != new.security_policy {
            ops.push(replace("/securityPolicy", &new.security_policy));
        }
        if !ops.is_empty() {
            aws.apigateway()
                .await
                .update_domain_name()
                .domain_name(&req.id)
                .set_patch_operations(Some(ops))
                .send()
                .await
                .op("UpdateDomainName")?;
        }
        let (_, outputs) = describe_domain(aws, &req.id)
            .await?
            .ok_or_else(|| super::super::vanished("GetDomainName", "domain name", &req.id))?;
        Ok(UpdateResponse { outputs })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let result = aws
            .apigateway()
            .await
            .delete_domain_name()
            .domain_name(&req.id)
            .send()
            .await
            .op("DeleteDomainName");
        none_if_not_found(result).map(|_| ())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some(name) = req.inputs["domain_name"].as_str() else {
            return Ok(None);
        };
        Ok(found(name, describe_domain(aws, name).await?))
    }
}

// ---------------------------------------------------------------------------------------
// Base path mapping

/// Arguments of a base path mapping: requests to `domain/base_path` go to a stage.
#[derive(Debug, Clone)]
pub struct BasePathMappingArgs {
    domain_name: Input<String>,
    rest_api_id: Output<String>,
    stage: Output<String>,
    base_path: String,
}

impl BasePathMappingArgs {
    /// Maps the whole of `domain_name` to `stage`.
    pub fn new(domain_name: impl Into<Input<String>>, stage: &Stage) -> Self {
        BasePathMappingArgs {
            domain_name: domain_name.into(),
            rest_api_id: stage.rest_api_id(),
            stage: stage.stage_name(),
            base_path: String::new(),
        }
    }

    /// Maps only `domain/base_path/...` instead of the whole domain.
    pub fn base_path(mut self, path: impl Into<String>) -> Self {
        self.base_path = path.into();
        self
    }
}

impl ResourceArgs for BasePathMappingArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["domain_name", "rest_api_id", "stage"], &[])
    }

    type Handle = BasePathMapping;

    fn type_token(&self) -> &'static str {
        BASE_PATH_MAPPING
    }

    fn props(&self) -> Props {
        Props::new()
            .set("domain_name", &self.domain_name)
            .set("rest_api_id", &self.rest_api_id)
            .set("stage", &self.stage)
            .value("base_path", &self.base_path)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        if self.base_path.contains('/') || self.base_path.contains(' ') {
            errors.add(
                "base_path",
                format!("`{}` must be one path segment", self.base_path),
            );
        }
    }
}

handle! {
    /// A declared base path mapping.
    BasePathMapping {
        /// The domain name.
        domain_name: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct MappingInputs {
    domain_name: String,
    rest_api_id: String,
    stage: String,
    #[serde(default)]
    base_path: String,
}

/// AWS names the empty base path `(none)`.
fn aws_base_path(path: &str) -> &str {
    if path.is_empty() { "(none)" } else { path }
}

pub(super) struct BasePathMappingImpl;

#[async_trait]
impl ResourceImpl for BasePathMappingImpl {
    fn type_token(&self) -> &'static str {
        BASE_PATH_MAPPING
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["domain_name", "base_path"]
    }

    fn delete_before_replace(&self) -> bool {
        true
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: MappingInputs = decode(&req.inputs)?;
        let mut call = aws
            .apigateway()
            .await
            .create_base_path_mapping()
            .domain_name(&inputs.domain_name)
            .rest_api_id(&inputs.rest_api_id)
            .stage(&inputs.stage);
        if !inputs.base_path.is_empty() {
            call = call.base_path(&inputs.base_path);
        }
        match call.send().await.op("CreateBasePathMapping") {
            Ok(_) => {}
            Err(e) if e.code.as_deref() == Some("ConflictException") => {}
            Err(e) => return Err(e),
        }
        Ok(CreateResponse {
            id: format!(
                "{}/{}",
                inputs.domain_name,
                aws_base_path(&inputs.base_path)
            ),
            outputs: json!({ "domain_name": inputs.domain_name }),
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some((domain, base_path)) = req.id.split_once('/') else {
            return Ok(None);
        };
        let result = aws
            .apigateway()
            .await
            .get_base_path_mapping()
            .domain_name(domain)
            .base_path(base_path)
            .send()
            .await
            .op("GetBasePathMapping");
        let Some(m) = none_if_not_found(result)? else {
            return Ok(None);
        };
        let inputs = MappingInputs {
            domain_name: domain.to_string(),
            rest_api_id: m.rest_api_id().unwrap_or_default().to_string(),
            stage: m.stage().unwrap_or_default().to_string(),
            base_path: m
                .base_path()
                .filter(|p| *p != "(none)")
                .unwrap_or_default()
                .to_string(),
        };
        Ok(found(
            &req.id,
            Some((inputs, json!({ "domain_name": domain }))),
        ))
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let new: MappingInputs = decode(&req.new_inputs)?;
        let (domain, base_path) = req.id.split_once('/').unwrap_or((&req.id, "(none)"));
        aws.apigateway()
            .await
            .update_base_path_mapping()
            .domain_name(domain)
            .base_path(base_path)
            .patch_operations(replace("/restapiId", &new.rest_api_id))
            .patch_operations(replace("/stage", &new.stage))
            .send()
            .await
            .op("UpdateBasePathMapping")?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let Some((domain, base_path)) = req.id.split_once('/') else {
            return Ok(());
        };
        let result = aws
            .apigateway()
            .await
            .delete_base_path_mapping()
            .domain_name(domain)
            .base_path(base_path)
            .send()
            .await
            .op("DeleteBasePathMapping");
        none_if_not_found(result).map(|_| ())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let inputs: MappingInputs = decode(&req.inputs)?;
        let read = self
            .read(
                aws,
                ReadRequest {
                    ctx: req.ctx,
                    id: format!(
                        "{}/{}",
                        inputs.domain_name,
                        aws_base_path(&inputs.base_path)
                    ),
                    inputs: req.inputs,
                    ..Default::default()
                },
            )
            .await;
        match read {
            // The emulator (moto 5.2.5) answers a server error, never NotFound, for any
            // mapping of a domain that has none yet: a run killed between the domain and
            // its mapping could never be recovered. Not knowing is safe here: "not made"
            // makes the next run create the mapping, and a create that meets it adopts it.
            Err(e) if e.kind == ErrorKind::Transient => {
                tracing::debug!("base path mapping lookup: {e}; taken as not made");
                Ok(None)
            }
            other => other,
        }
    }
}
