//! `aws:route53/healthCheck`: an endpoint health check, for failover routing.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_route53::types::{
    HealthCheckConfig, HealthCheckType, ResettableElementName, TagResourceType,
};
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, FieldErrors, Input, LookupRequest, Props,
    ProviderError, ReadRequest, ReadResponse, ResourceArgs, UpdateRequest, UpdateResponse, Value,
};
use serde::{Deserialize, Serialize};

use super::{built, caller_reference, change_tags, check_dns_name, route53_once, tags_of};
use crate::aws::error::none_if_not_found;
use crate::aws::{Aws, ErrorContext, ResourceImpl, create_once, decode, found, to_json, vanished};

const TYPE: &str = "aws:route53/healthCheck";

/// The endpoint check types this resource supports.
const TYPES: &[&str] = &["HTTP", "HTTPS", "HTTP_STR_MATCH", "HTTPS_STR_MATCH", "TCP"];

/// Arguments of a health check of an endpoint by its domain name. Route 53 checks it from
/// several regions every `request_interval` seconds and calls it unhealthy after
/// `failure_threshold` failures in a row.
#[derive(Debug, Clone)]
pub struct HealthCheckArgs {
    check_type: Input<String>,
    fqdn: Input<String>,
    resource_path: Input<String>,
    port: Input<i32>,
    failure_threshold: Input<i32>,
    request_interval: Input<i32>,
    measure_latency: Input<bool>,
    search_string: Input<String>,
    tags: BTreeMap<String, Input<String>>,
}

impl HealthCheckArgs {
    /// An HTTPS check of `https://{fqdn}:443{resource_path}` (e.g. `/health`), every 30
    /// seconds, unhealthy after 3 failures.
    pub fn https(fqdn: impl Into<Input<String>>, resource_path: impl Into<Input<String>>) -> Self {
        HealthCheckArgs {
            check_type: Input::Value("HTTPS".to_string()),
            fqdn: fqdn.into(),
            resource_path: resource_path.into(),
            port: Input::Value(443),
            failure_threshold: Input::Value(3),
            request_interval: Input::Value(30),
            measure_latency: Input::Value(false),
            search_string: Input::Value(String::new()),
            tags: BTreeMap::new(),
        }
    }

    /// An HTTP check of `http://{fqdn}:80{resource_path}`.
    pub fn http(fqdn: impl Into<Input<String>>, resource_path: impl Into<Input<String>>) -> Self {
        HealthCheckArgs::https(fqdn, resource_path)
            .health_check_type("HTTP")
            .port(80)
    }

    /// A TCP connection check of `fqdn:port`.
    pub fn tcp(fqdn: impl Into<Input<String>>, port: impl Into<Input<i32>>) -> Self {
        HealthCheckArgs::https(fqdn, String::new())
            .health_check_type("TCP")
            .port(port)
    }

    /// The check type: `HTTPS`, `HTTP`, `HTTPS_STR_MATCH`, `HTTP_STR_MATCH` or `TCP`
    /// (fixed once created).
    pub fn health_check_type(mut self, check_type: impl Into<Input<String>>) -> Self {
        self.check_type = check_type.into();
        self
    }

    /// The port to check (1 to 65535).
    pub fn port(mut self, port: impl Into<Input<i32>>) -> Self {
        self.port = port.into();
        self
    }

    /// How many consecutive failures make the endpoint unhealthy (1 to 10, default 3).
    pub fn failure_threshold(mut self, count: impl Into<Input<i32>>) -> Self {
        self.failure_threshold = count.into();
        self
    }

    /// Seconds between checks: 10 (fast, billed extra) or 30 (default); fixed once created.
    pub fn request_interval(mut self, seconds: impl Into<Input<i32>>) -> Self {
        self.request_interval = seconds.into();
        self
    }

    /// Whether Route 53 records the latency it measures (fixed once created).
    pub fn measure_latency(mut self, on: impl Into<Input<bool>>) -> Self {
        self.measure_latency = on.into();
        self
    }

    /// The text a `*_STR_MATCH` check expects in the first 5,120 bytes of the answer.
    pub fn search_string(mut self, text: impl Into<Input<String>>) -> Self {
        self.search_string = text.into();
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

fn check_type(value: &str) -> Result<(), String> {
    if TYPES.contains(&value) {
        Ok(())
    } else {
        Err(format!("`{value}` is not one of {}", TYPES.join(", ")))
    }
}

fn check_interval(seconds: i32) -> Result<(), String> {
    if seconds == 10 || seconds == 30 {
        Ok(())
    } else {
        Err(format!(
            "{seconds} seconds is not a request interval Route 53 offers (10 or 30)"
        ))
    }
}

fn check_threshold(count: i32) -> Result<(), String> {
    if (1..=10).contains(&count) {
        Ok(())
    } else {
        Err(format!("{count} is not within 1..=10 failures"))
    }
}

fn check_port(port: i32) -> Result<(), String> {
    if (1..=65535).contains(&port) {
        Ok(())
    } else {
        Err(format!("{port} is not a port (1..=65535)"))
    }
}

fn check_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Ok(());
    }
    crate::validate::length(path, 1, 255)?;
    if path.starts_with('/') {
        Ok(())
    } else {
        Err(format!("`{path}` must start with `/`"))
    }
}

/// The checks that relate fields to one another (on known values only).
fn check_combination(
    check_type: Option<&str>,
    resource_path: Option<&str>,
    search_string: Option<&str>,
) -> Vec<(String, String)> {
    let mut invalid = Vec::new();
    let Some(t) = check_type else {
        return invalid;
    };
    if t == "TCP" && resource_path.is_some_and(|p| !p.is_empty()) {
        invalid.push((
            "resource_path".to_string(),
            "a TCP check has no resource path".to_string(),
        ));
    }
    match search_string {
        Some(s) if t.ends_with("_STR_MATCH") => {
            if let Err(e) = crate::validate::length(s, 1, 255) {
                invalid.push((
                    "search_string".to_string(),
                    format!("a {t} check needs a search string: {e}"),
                ));
            }
        }
        Some(s) if !s.is_empty() => invalid.push((
            "search_string".to_string(),
            format!("only *_STR_MATCH checks take a search string, not {t}"),
        )),
        _ => {}
    }
    invalid
}

impl ResourceArgs for HealthCheckArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&[], &["fqdn"])
    }

    type Handle = HealthCheck;

    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn props(&self) -> Props {
        Props::new()
            .set("type", &self.check_type)
            .set("fqdn", &self.fqdn)
            .set("resource_path", &self.resource_path)
            .set("port", &self.port)
            .set("failure_threshold", &self.failure_threshold)
            .set("request_interval", &self.request_interval)
            .set("measure_latency", &self.measure_latency)
            .set("search_string", &self.search_string)
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("type", &self.check_type, |t| check_type(t));
        errors.check("fqdn", &self.fqdn, |n| check_dns_name(n, false));
        errors.check("resource_path", &self.resource_path, |p| check_path(p));
        errors.check("port", &self.port, |p| check_port(*p));
        errors.check("failure_threshold", &self.failure_threshold, |n| {
            check_threshold(*n)
        });
        errors.check("request_interval", &self.request_interval, |s| {
            check_interval(*s)
        });
        for (field, message) in check_combination(
            self.check_type.known().map(String::as_str),
            self.resource_path.known().map(String::as_str),
            self.search_string.known().map(String::as_str),
        ) {
            errors.add(field, message);
        }
    }
}

handle! {
    /// A declared health check.
    HealthCheck {
        /// The health check id (a UUID; also the resource's id).
        id: String,
        /// Its ARN.
        arn: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct HealthCheckInputs {
    #[serde(rename = "type")]
    check_type: String,
    fqdn: String,
    #[serde(default)]
    resource_path: String,
    port: i32,
    failure_threshold: i32,
    request_interval: i32,
    #[serde(default)]
    measure_latency: bool,
    #[serde(default)]
    search_string: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// What a health check exposes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HealthCheckOutputs {
    /// The health check id.
    pub id: String,
    /// The ARN, `arn:aws:route53:::healthcheck/<id>`.
    pub arn: String,
}

impl HealthCheckOutputs {
    fn new(id: &str) -> HealthCheckOutputs {
        HealthCheckOutputs {
            id: id.to_string(),
            arn: format!("arn:aws:route53:::healthcheck/{id}"),
        }
    }
}

fn check_inputs(inputs: &Value) -> Vec<(String, String)> {
    let mut invalid = Vec::new();
    let mut push = |field: &str, result: Option<Result<(), String>>| {
        if let Some(Err(e)) = result {
            invalid.push((field.to_string(), e));
        }
    };
    push("type", inputs["type"].as_str().map(check_type));
    push(
        "fqdn",
        inputs["fqdn"].as_str().map(|n| check_dns_name(n, false)),
    );
    push(
        "resource_path",
        inputs["resource_path"].as_str().map(check_path),
    );
    let int = |key: &str| {
        inputs[key]
            .as_i64()
            .map(|n| i32::try_from(n).unwrap_or(i32::MAX))
    };
    push("port", int("port").map(check_port));
    push(
        "failure_threshold",
        int("failure_threshold").map(check_threshold),
    );
    push(
        "request_interval",
        int("request_interval").map(check_interval),
    );
    invalid.extend(check_combination(
        inputs["type"].as_str(),
        inputs["resource_path"].as_str(),
        inputs["search_string"].as_str(),
    ));
    invalid
}

pub(super) struct HealthCheckImpl;

#[async_trait]
impl ResourceImpl for HealthCheckImpl {
    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn force_new(&self) -> &'static [&'static str] {
        // Route 53 cannot change these on an existing check.
        &["type", "request_interval", "measure_latency"]
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        check_inputs(inputs)
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: HealthCheckInputs = decode(&req.inputs)?;
        let reference = caller_reference(&req.token);
        let mut config = HealthCheckConfig::builder()
            .r#type(HealthCheckType::from(inputs.check_type.as_str()))
            .fully_qualified_domain_name(&inputs.fqdn)
            .port(inputs.port)
            .failure_threshold(inputs.failure_threshold)
            .request_interval(inputs.request_interval)
            .measure_latency(inputs.measure_latency);
        if !inputs.resource_path.is_empty() {
            config = config.resource_path(&inputs.resource_path);
        }
        if !inputs.search_string.is_empty() {
            config = config.search_string(&inputs.search_string);
        }
        let config = built(config.build(), "CreateHealthCheck")?;
        let once = route53_once(aws).await;
        // The caller reference makes a repeated create fail (or, on emulators, make a
        // second check): after a lost answer, look for the check first.
        let id = create_once(
            || async {
                let result = once
                    .create_health_check()
                    .caller_reference(&reference)
                    .health_check_config(config.clone())
                    .send()
                    .await
                    .op("CreateHealthCheck");
                match result {
                    Ok(out) => Ok(out
                        .health_check()
                        .map(|h| h.id().to_string())
                        .unwrap_or_default()),
                    Err(e) if e.code.as_deref() == Some("HealthCheckAlreadyExists") => {
                        find_by_reference(aws, &reference).await?.ok_or(e)
                    }
                    Err(e) => Err(e),
                }
            },
            || find_by_reference(aws, &reference),
        )
        .await?;
        let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
        if let Err(mut e) = change_tags(
            aws,
            TagResourceType::Healthcheck,
            &id,
            &BTreeMap::new(),
            &tags,
        )
        .await
        {
            e.created = Some(CreateResponse {
                id: id.clone(),
                outputs: to_json(&HealthCheckOutputs::new(&id)),
            });
            return Err(e);
        }
        Ok(CreateResponse {
            outputs: to_json(&HealthCheckOutputs::new(&id)),
            id,
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        Ok(found(&req.id, describe(aws, &req.id).await?))
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: HealthCheckInputs = decode(&req.old_inputs)?;
        let new: HealthCheckInputs = decode(&req.new_inputs)?;
        let client = aws.route53().await;
        let settings = |i: &HealthCheckInputs| {
            (
                i.fqdn.clone(),
                i.resource_path.clone(),
                i.port,
                i.failure_threshold,
                i.search_string.clone(),
            )
        };
        if settings(&old) != settings(&new) {
            // UpdateHealthCheck refuses a change based on a stale version.
            let version = client
                .get_health_check()
                .health_check_id(&req.id)
                .send()
                .await
                .op("GetHealthCheck")?
                .health_check()
                .map(|h| h.health_check_version())
                .ok_or_else(|| vanished("GetHealthCheck", "health check", &req.id))?;
            let mut call = client
                .update_health_check()
                .health_check_id(&req.id)
                .health_check_version(version)
                .fully_qualified_domain_name(&new.fqdn)
                .port(new.port)
                .failure_threshold(new.failure_threshold);
            if new.resource_path.is_empty() {
                if !old.resource_path.is_empty() {
                    call = call.reset_elements(ResettableElementName::ResourcePath);
                }
            } else {
                call = call.resource_path(&new.resource_path);
            }
            if !new.search_string.is_empty() {
                call = call.search_string(&new.search_string);
            }
            call.send().await.op("UpdateHealthCheck")?;
        }
        if old.tags != new.tags {
            let before = aws.tags_for(&req.ctx, &old.tags, None);
            let after = aws.tags_for(&req.ctx, &new.tags, None);
            change_tags(aws, TagResourceType::Healthcheck, &req.id, &before, &after).await?;
        }
        Ok(UpdateResponse {
            outputs: to_json(&HealthCheckOutputs::new(&req.id)),
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let result = aws
            .route53()
            .await
            .delete_health_check()
            .health_check_id(&req.id)
            .send()
            .await
            .op("DeleteHealthCheck");
        none_if_not_found(result).map(|_| ())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        match find_by_reference(aws, &caller_reference(&req.token)).await? {
            Some(id) => Ok(found(&id, describe(aws, &id).await?)),
            None => Ok(None),
        }
    }
}

/// The health check created with `reference`.
async fn find_by_reference(aws: &Aws, reference: &str) -> Result<Option<String>, ProviderError> {
    let client = aws.route53().await;
    let mut marker: Option<String> = None;
    loop {
        let page = client
            .list_health_checks()
            .set_marker(marker)
            .send()
            .await
            .op("ListHealthChecks")?;
        if let Some(h) = page
            .health_checks()
            .iter()
            .find(|h| h.caller_reference() == reference)
        {
            return Ok(Some(h.id().to_string()));
        }
        match page.next_marker() {
            Some(next) if page.is_truncated() => marker = Some(next.to_string()),
            _ => return Ok(None),
        }
    }
}

async fn describe(
    aws: &Aws,
    id: &str,
) -> Result<Option<(HealthCheckInputs, HealthCheckOutputs)>, ProviderError> {
    let out = none_if_not_found(
        aws.route53()
            .await
            .get_health_check()
            .health_check_id(id)
            .send()
            .await
            .op("GetHealthCheck"),
    )?;
    let Some(config) = out
        .as_ref()
        .and_then(|o| o.health_check())
        .and_then(|h| h.health_check_config())
    else {
        return Ok(None);
    };
    let tags = tags_of(aws, TagResourceType::Healthcheck, id).await?;
    Ok(Some((
        HealthCheckInputs {
            check_type: config.r#type().as_str().to_string(),
            fqdn: config
                .fully_qualified_domain_name()
                .unwrap_or_default()
                .to_string(),
            resource_path: config.resource_path().unwrap_or_default().to_string(),
            port: config.port().unwrap_or_default(),
            failure_threshold: config.failure_threshold().unwrap_or(3),
            request_interval: config.request_interval().unwrap_or(30),
            measure_latency: config.measure_latency().unwrap_or(false),
            search_string: config.search_string().unwrap_or_default().to_string(),
            tags: aws.own_tags(tags),
        },
        HealthCheckOutputs::new(id),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inputs() -> Value {
        json!({"type": "HTTPS", "fqdn": "api.example.com", "resource_path": "/health", "port": 443,
               "failure_threshold": 3, "request_interval": 30, "measure_latency": false,
               "search_string": "", "tags": {}})
    }

    #[test]
    fn valid_inputs_pass() {
        assert!(check_inputs(&inputs()).is_empty());
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut bad = inputs();
        bad["request_interval"] = json!(15);
        bad["failure_threshold"] = json!(11);
        bad["port"] = json!(0);
        bad["resource_path"] = json!("health");
        bad["type"] = json!("HTTPS_STR_MATCH");
        let invalid = check_inputs(&bad);
        let fields: Vec<&str> = invalid.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "resource_path",
                "port",
                "failure_threshold",
                "request_interval",
                "search_string"
            ],
            "{invalid:?}"
        );
        assert!(invalid[3].1.contains("10 or 30"));
    }

    #[test]
    fn tcp_checks_have_no_path_and_plain_checks_no_search_string() {
        let mut bad = inputs();
        bad["type"] = json!("TCP");
        bad["search_string"] = json!("ok");
        let invalid = check_inputs(&bad);
        assert_eq!(invalid.len(), 2, "{invalid:?}");
        let mut unknown = inputs();
        unknown["request_interval"] = json!({"$unknown": "x.y"});
        assert!(check_inputs(&unknown).is_empty());
    }
}
