//! Methods, their integrations, and the responses of both. Each takes the handle of what
//! it belongs to (an integration its method, a response its method or integration), so the
//! order AWS requires is part of the graph, and the engine id is
//! `api/resource/METHOD[/status]`.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_apigateway::types::IntegrationType;
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, FieldErrors, Input, LookupRequest, Props,
    ProviderError, ReadRequest, ReadResponse, ResourceArgs, UpdateRequest, UpdateResponse, Value,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::super::batch::{ReadBatch, ReadResult, whole};
use super::super::error::none_if_not_found;
use super::super::idempotent::done_if_gone;
use super::super::{Aws, ErrorContext, ResourceImpl, decode, found, to_json};
use super::{fingerprint, from_api_resources, replace};

const METHOD: &str = "aws:apigateway/method";
const INTEGRATION: &str = "aws:apigateway/integration";
const METHOD_RESPONSE: &str = "aws:apigateway/methodResponse";
const INTEGRATION_RESPONSE: &str = "aws:apigateway/integrationResponse";

const HTTP_METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "ANY",
];

/// Where a method lives; every type here is keyed by it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct MethodKey {
    rest_api_id: String,
    resource_id: String,
    http_method: String,
}

impl MethodKey {
    fn id(&self) -> String {
        format!(
            "{}/{}/{}",
            self.rest_api_id, self.resource_id, self.http_method
        )
    }

    fn parse(id: &str) -> Option<(MethodKey, Option<&str>)> {
        let mut parts = id.splitn(4, '/');
        let key = MethodKey {
            rest_api_id: parts.next()?.to_string(),
            resource_id: parts.next()?.to_string(),
            http_method: parts.next()?.to_string(),
        };
        Some((key, parts.next()))
    }

    fn outputs(&self) -> Value {
        json!({
            "rest_api_id": self.rest_api_id,
            "resource_id": self.resource_id,
            "http_method": self.http_method,
        })
    }
}

/// The key props shared by everything attached to a method, from its handle's outputs.
fn key_props(
    props: Props,
    api: &iac_dsl::Output<String>,
    resource: &iac_dsl::Output<String>,
    method: &iac_dsl::Output<String>,
) -> Props {
    props
        .set("rest_api_id", api)
        .set("resource_id", resource)
        .set("http_method", method)
}

fn status_problem(code: &str) -> Option<(String, String)> {
    let ok = code.len() == 3
        && code.chars().all(|c| c.is_ascii_digit())
        && ('1'..='5').contains(&code.chars().next().unwrap_or('0'));
    (!ok).then(|| {
        (
            "status_code".to_string(),
            format!("`{code}` is not an HTTP status code"),
        )
    })
}

// ---------------------------------------------------------------------------------------
// Method

/// Arguments of a method (an HTTP verb on a resource).
#[derive(Debug, Clone)]
pub struct MethodArgs {
    rest_api_id: Input<String>,
    resource_id: Input<String>,
    http_method: String,
    authorization: String,
    api_key_required: bool,
}

impl MethodArgs {
    /// `http_method` (GET, POST, ..., ANY) on the resource `resource_id` of `rest_api_id`,
    /// without authorization.
    pub fn new(
        rest_api_id: impl Into<Input<String>>,
        resource_id: impl Into<Input<String>>,
        http_method: impl Into<String>,
    ) -> Self {
        MethodArgs {
            rest_api_id: rest_api_id.into(),
            resource_id: resource_id.into(),
            http_method: http_method.into(),
            authorization: "NONE".to_string(),
            api_key_required: false,
        }
    }

    /// `NONE`, `AWS_IAM`, `CUSTOM` or `COGNITO_USER_POOLS`.
    pub fn authorization(mut self, kind: impl Into<String>) -> Self {
        self.authorization = kind.into();
        self
    }

    /// Requires an API key.
    pub fn api_key_required(mut self, on: bool) -> Self {
        self.api_key_required = on;
        self
    }
}

fn method_problems(http_method: &str, authorization: &str) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    if !HTTP_METHODS.contains(&http_method) {
        errors.push((
            "http_method".to_string(),
            format!("`{http_method}` is not one of {}", HTTP_METHODS.join(", ")),
        ));
    }
    if !matches!(
        authorization,
        "NONE" | "AWS_IAM" | "CUSTOM" | "COGNITO_USER_POOLS"
    ) {
        errors.push((
            "authorization".to_string(),
            format!("`{authorization}` is not NONE, AWS_IAM, CUSTOM or COGNITO_USER_POOLS"),
        ));
    }
    errors
}

impl ResourceArgs for MethodArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["rest_api_id", "resource_id"], &[])
    }

    type Handle = Method;

    fn type_token(&self) -> &'static str {
        METHOD
    }

    fn props(&self) -> Props {
        Props::new()
            .set("rest_api_id", &self.rest_api_id)
            .set("resource_id", &self.resource_id)
            .value("http_method", &self.http_method)
            .value("authorization", &self.authorization)
            .value("api_key_required", &self.api_key_required)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        for (field, message) in method_problems(&self.http_method, &self.authorization) {
            errors.add(field, message);
        }
    }
}

handle! {
    /// A declared method.
    Method {
        /// The API's id.
        rest_api_id: String,
        /// The resource's id.
        resource_id: String,
        /// The HTTP verb.
        http_method: String,
        /// A digest of the method's settings (what deployments depend on).
        fingerprint: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct MethodInputs {
    #[serde(flatten)]
    key: MethodKey,
    authorization: String,
    api_key_required: bool,
}

pub(super) struct MethodImpl;

/// A method's inputs and outputs from what AWS says of it.
fn method_shape(
    key: MethodKey,
    authorization: Option<&str>,
    api_key_required: Option<bool>,
) -> (MethodInputs, Value) {
    let inputs = MethodInputs {
        authorization: authorization.unwrap_or("NONE").to_string(),
        api_key_required: api_key_required.unwrap_or(false),
        key,
    };
    let outputs = with_fingerprint(&inputs.key, &to_json(&inputs));
    (inputs, outputs)
}

/// An integration's inputs and outputs from what AWS says of it.
fn integration_shape(
    key: MethodKey,
    kind: Option<&IntegrationType>,
    http_method: Option<&str>,
    uri: Option<&str>,
    templates: Option<&HashMap<String, String>>,
    timeout_ms: i32,
) -> (IntegrationInputs, Value) {
    let inputs = IntegrationInputs {
        kind: kind.map(|t| t.as_str().to_string()).unwrap_or_default(),
        integration_http_method: http_method.unwrap_or_default().to_string(),
        uri: uri.filter(|u| !u.is_empty()).map(str::to_string),
        request_templates: templates
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        timeout_ms,
        key,
    };
    let outputs = with_fingerprint(&inputs.key, &to_json(&inputs));
    (inputs, outputs)
}

fn with_fingerprint(key: &MethodKey, inputs: &Value) -> Value {
    let mut outputs = key.outputs();
    outputs["fingerprint"] = json!(fingerprint(inputs));
    outputs
}

#[async_trait]
impl ResourceImpl for MethodImpl {
    fn outputs_changed_by_update(&self) -> &'static [&'static str] {
        &["fingerprint"]
    }

    fn type_token(&self) -> &'static str {
        METHOD
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["rest_api_id", "resource_id", "http_method"]
    }

    fn delete_before_replace(&self) -> bool {
        true
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        method_problems(
            inputs["http_method"].as_str().unwrap_or("GET"),
            inputs["authorization"].as_str().unwrap_or("NONE"),
        )
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: MethodInputs = decode(&req.inputs)?;
        let k = &inputs.key;
        // PutMethod replaces whatever is there, so a retry is harmless.
        aws.apigateway()
            .await
            .put_method()
            .rest_api_id(&k.rest_api_id)
            .resource_id(&k.resource_id)
            .http_method(&k.http_method)
            .authorization_type(&inputs.authorization)
            .api_key_required(inputs.api_key_required)
            .send()
            .await
            .op("PutMethod")?;
        Ok(CreateResponse {
            id: k.id(),
            outputs: with_fingerprint(k, &to_json(&inputs)),
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some((key, _)) = MethodKey::parse(&req.id) else {
            return Ok(None);
        };
        let result = aws
            .apigateway()
            .await
            .get_method()
            .rest_api_id(&key.rest_api_id)
            .resource_id(&key.resource_id)
            .http_method(&key.http_method)
            .send()
            .await
            .op("GetMethod");
        let Some(m) = none_if_not_found(result)? else {
            return Ok(None);
        };
        let pair = method_shape(key, m.authorization_type(), m.api_key_required());
        Ok(found(&req.id, Some(pair)))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        let listed = from_api_resources(aws, batch, &reqs, |r, listed| {
            let (key, _) = MethodKey::parse(&r.id)?;
            let m = listed
                .get(&key.resource_id)?
                .resource_methods()?
                .get(&key.http_method)?;
            Some(method_shape(
                key,
                m.authorization_type(),
                m.api_key_required(),
            ))
        })
        .await;
        batch.pick(reqs, listed, whole, |r| self.read(aws, r)).await
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let new: MethodInputs = decode(&req.new_inputs)?;
        let k = &new.key;
        aws.apigateway()
            .await
            .update_method()
            .rest_api_id(&k.rest_api_id)
            .resource_id(&k.resource_id)
            .http_method(&k.http_method)
            .patch_operations(replace("/authorizationType", &new.authorization))
            .patch_operations(replace("/apiKeyRequired", new.api_key_required.to_string()))
            .send()
            .await
            .op("UpdateMethod")?;
        Ok(UpdateResponse {
            outputs: with_fingerprint(k, &to_json(&new)),
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let Some((k, _)) = MethodKey::parse(&req.id) else {
            return Ok(());
        };
        let result = aws
            .apigateway()
            .await
            .delete_method()
            .rest_api_id(&k.rest_api_id)
            .resource_id(&k.resource_id)
            .http_method(&k.http_method)
            .send()
            .await
            .op("DeleteMethod");
        // The emulator answers a repeat with a 500: done when it is gone.
        done_if_gone(result, || has_method(aws, &k)).await
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let key: MethodKey = decode(&req.inputs)?;
        read_by_id(self, aws, req, key.id()).await
    }
}

/// Reads the object whose engine id follows from the inputs (these types have no other).
async fn read_by_id(
    imp: &dyn ResourceImpl,
    aws: &Aws,
    req: LookupRequest,
    id: String,
) -> Result<Option<ReadResponse>, ProviderError> {
    imp.read(
        aws,
        ReadRequest {
            ctx: req.ctx,
            id,
            inputs: req.inputs,
            ..Default::default()
        },
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Integration

/// Arguments of a method's integration (what the method calls).
#[derive(Debug, Clone)]
pub struct IntegrationArgs {
    method: Method,
    kind: String,
    integration_http_method: String,
    uri: Option<Input<String>>,
    request_templates: BTreeMap<String, String>,
    timeout_ms: i32,
}

impl IntegrationArgs {
    /// A Lambda proxy integration (`AWS_PROXY`): the method invokes the function whose
    /// `invoke_arn` is given, passing the whole request.
    pub fn lambda_proxy(method: &Method, invoke_arn: impl Into<Input<String>>) -> Self {
        IntegrationArgs {
            method: method.clone(),
            kind: "AWS_PROXY".to_string(),
            integration_http_method: "POST".to_string(),
            uri: Some(invoke_arn.into()),
            request_templates: BTreeMap::new(),
            timeout_ms: 29_000,
        }
    }

    /// A `MOCK` integration answering from its integration responses; the request
    /// template picks the status (`{"statusCode": 200}` by default).
    pub fn mock(method: &Method) -> Self {
        IntegrationArgs {
            method: method.clone(),
            kind: "MOCK".to_string(),
            integration_http_method: String::new(),
            uri: None,
            request_templates: BTreeMap::from([(
                "application/json".to_string(),
                r#"{"statusCode": 200}"#.to_string(),
            )]),
            timeout_ms: 29_000,
        }
    }

    /// Sets the request template for a content type.
    pub fn request_template(
        mut self,
        content_type: impl Into<String>,
        template: impl Into<String>,
    ) -> Self {
        self.request_templates
            .insert(content_type.into(), template.into());
        self
    }

    /// How long the integration may take, in ms (50..=29000).
    pub fn timeout_ms(mut self, ms: i32) -> Self {
        self.timeout_ms = ms;
        self
    }
}

fn integration_problems(
    kind: &str,
    http_method: &str,
    has_uri: bool,
    timeout: i64,
) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    if !matches!(kind, "AWS" | "AWS_PROXY" | "HTTP" | "HTTP_PROXY" | "MOCK") {
        errors.push((
            "type".to_string(),
            format!("`{kind}` is not an integration type"),
        ));
    }
    if kind != "MOCK" && !has_uri {
        errors.push((
            "uri".to_string(),
            format!("a {kind} integration needs a uri"),
        ));
    }
    if kind == "AWS_PROXY" && http_method != "POST" {
        errors.push((
            "integration_http_method".to_string(),
            "Lambda proxy integrations call the function with POST".to_string(),
        ));
    }
    if !(50..=29_000).contains(&timeout) {
        errors.push((
            "timeout_ms".to_string(),
            format!("{timeout} ms is outside 50..=29000"),
        ));
    }
    errors
}

impl ResourceArgs for IntegrationArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["rest_api_id", "resource_id", "http_method"], &["uri"])
    }

    type Handle = Integration;

    fn type_token(&self) -> &'static str {
        INTEGRATION
    }

    fn props(&self) -> Props {
        let m = &self.method;
        key_props(
            Props::new(),
            &m.rest_api_id(),
            &m.resource_id(),
            &m.http_method(),
        )
        .value("type", &self.kind)
        .value("integration_http_method", &self.integration_http_method)
        .set("uri", &self.uri)
        .value("request_templates", &self.request_templates)
        .value("timeout_ms", &self.timeout_ms)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        for (field, message) in integration_problems(
            &self.kind,
            &self.integration_http_method,
            self.uri.is_some(),
            self.timeout_ms.into(),
        ) {
            errors.add(field, message);
        }
    }
}

handle! {
    /// A declared integration.
    Integration {
        /// The API's id.
        rest_api_id: String,
        /// The resource's id.
        resource_id: String,
        /// The HTTP verb of its method.
        http_method: String,
        /// A digest of the integration's settings (what deployments depend on).
        fingerprint: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct IntegrationInputs {
    #[serde(flatten)]
    key: MethodKey,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    integration_http_method: String,
    #[serde(default)]
    uri: Option<String>,
    #[serde(default)]
    request_templates: BTreeMap<String, String>,
    timeout_ms: i32,
}

pub(super) struct IntegrationImpl;

async fn put_integration(aws: &Aws, inputs: &IntegrationInputs) -> Result<(), ProviderError> {
    let k = &inputs.key;
    let mut call = aws
        .apigateway()
        .await
        .put_integration()
        .rest_api_id(&k.rest_api_id)
        .resource_id(&k.resource_id)
        .http_method(&k.http_method)
        .r#type(IntegrationType::from(inputs.kind.as_str()))
        .set_uri(inputs.uri.clone())
        .timeout_in_millis(inputs.timeout_ms)
        .set_request_templates(Some(
            inputs
                .request_templates
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>(),
        ));
    if !inputs.integration_http_method.is_empty() {
        call = call.integration_http_method(&inputs.integration_http_method);
    }
    call.send().await.op("PutIntegration")?;
    Ok(())
}

#[async_trait]
impl ResourceImpl for IntegrationImpl {
    fn outputs_changed_by_update(&self) -> &'static [&'static str] {
        &["fingerprint"]
    }

    fn type_token(&self) -> &'static str {
        INTEGRATION
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["rest_api_id", "resource_id", "http_method"]
    }

    fn delete_before_replace(&self) -> bool {
        true
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        integration_problems(
            inputs["type"].as_str().unwrap_or("MOCK"),
            inputs["integration_http_method"].as_str().unwrap_or(""),
            !inputs["uri"].is_null(),
            inputs["timeout_ms"].as_i64().unwrap_or(29_000),
        )
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: IntegrationInputs = decode(&req.inputs)?;
        put_integration(aws, &inputs).await?;
        Ok(CreateResponse {
            id: inputs.key.id(),
            outputs: with_fingerprint(&inputs.key, &to_json(&inputs)),
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some((key, _)) = MethodKey::parse(&req.id) else {
            return Ok(None);
        };
        let result = aws
            .apigateway()
            .await
            .get_integration()
            .rest_api_id(&key.rest_api_id)
            .resource_id(&key.resource_id)
            .http_method(&key.http_method)
            .send()
            .await
            .op("GetIntegration");
        let Some(i) = none_if_not_found(result)? else {
            return Ok(None);
        };
        let pair = integration_shape(
            key,
            i.r#type(),
            i.http_method(),
            i.uri(),
            i.request_templates(),
            i.timeout_in_millis(),
        );
        Ok(found(&req.id, Some(pair)))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        let listed = from_api_resources(aws, batch, &reqs, |r, listed| {
            let (key, _) = MethodKey::parse(&r.id)?;
            let i = listed
                .get(&key.resource_id)?
                .resource_methods()?
                .get(&key.http_method)?
                .method_integration()?;
            Some(integration_shape(
                key,
                i.r#type(),
                i.http_method(),
                i.uri(),
                i.request_templates(),
                i.timeout_in_millis(),
            ))
        })
        .await;
        batch.pick(reqs, listed, whole, |r| self.read(aws, r)).await
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let new: IntegrationInputs = decode(&req.new_inputs)?;
        // PutIntegration replaces the integration as a whole.
        put_integration(aws, &new).await?;
        Ok(UpdateResponse {
            outputs: with_fingerprint(&new.key, &to_json(&new)),
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let Some((k, _)) = MethodKey::parse(&req.id) else {
            return Ok(());
        };
        let result = aws
            .apigateway()
            .await
            .delete_integration()
            .rest_api_id(&k.rest_api_id)
            .resource_id(&k.resource_id)
            .http_method(&k.http_method)
            .send()
            .await
            .op("DeleteIntegration");
        // The emulator answers a repeat with a 500: done when it is gone.
        done_if_gone(result, || has_integration(aws, &k)).await
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let key: MethodKey = decode(&req.inputs)?;
        read_by_id(self, aws, req, key.id()).await
    }
}

// ---------------------------------------------------------------------------------------
// Method response

/// Arguments of a method response (a status code the method may answer with).
#[derive(Debug, Clone)]
pub struct MethodResponseArgs {
    method: Method,
    status_code: String,
    response_models: BTreeMap<String, String>,
}

impl MethodResponseArgs {
    /// The method may answer `status_code`.
    pub fn new(method: &Method, status_code: impl Into<String>) -> Self {
        MethodResponseArgs {
            method: method.clone(),
            status_code: status_code.into(),
            response_models: BTreeMap::new(),
        }
    }

    /// Declares the model of the body for a content type (e.g. `Empty`).
    pub fn response_model(
        mut self,
        content_type: impl Into<String>,
        model: impl Into<String>,
    ) -> Self {
        self.response_models
            .insert(content_type.into(), model.into());
        self
    }
}

impl ResourceArgs for MethodResponseArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["rest_api_id", "resource_id", "http_method"], &[])
    }

    type Handle = MethodResponse;

    fn type_token(&self) -> &'static str {
        METHOD_RESPONSE
    }

    fn props(&self) -> Props {
        let m = &self.method;
        key_props(
            Props::new(),
            &m.rest_api_id(),
            &m.resource_id(),
            &m.http_method(),
        )
        .value("status_code", &self.status_code)
        .value("response_models", &self.response_models)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        if let Some((field, message)) = status_problem(&self.status_code) {
            errors.add(field, message);
        }
    }
}

handle! {
    /// A declared method response.
    MethodResponse {
        /// The status code.
        status_code: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct MethodResponseInputs {
    #[serde(flatten)]
    key: MethodKey,
    status_code: String,
    #[serde(default)]
    response_models: BTreeMap<String, String>,
}

pub(super) struct MethodResponseImpl;

async fn put_method_response(
    aws: &Aws,
    inputs: &MethodResponseInputs,
) -> Result<(), ProviderError> {
    let k = &inputs.key;
    aws.apigateway()
        .await
        .put_method_response()
        .rest_api_id(&k.rest_api_id)
        .resource_id(&k.resource_id)
        .http_method(&k.http_method)
        .status_code(&inputs.status_code)
        .set_response_models(Some(
            inputs
                .response_models
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ))
        .send()
        .await
        .op("PutMethodResponse")?;
    Ok(())
}

fn response_outputs(key: &MethodKey, status: &str) -> Value {
    let mut outputs = key.outputs();
    outputs["status_code"] = json!(status);
    outputs
}

#[async_trait]
impl ResourceImpl for MethodResponseImpl {
    fn type_token(&self) -> &'static str {
        METHOD_RESPONSE
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["rest_api_id", "resource_id", "http_method", "status_code"]
    }

    fn delete_before_replace(&self) -> bool {
        true
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        inputs["status_code"]
            .as_str()
            .and_then(status_problem)
            .into_iter()
            .collect()
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: MethodResponseInputs = decode(&req.inputs)?;
        put_method_response(aws, &inputs).await?;
        Ok(CreateResponse {
            id: format!("{}/{}", inputs.key.id(), inputs.status_code),
            outputs: response_outputs(&inputs.key, &inputs.status_code),
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some((key, Some(status))) = MethodKey::parse(&req.id) else {
            return Ok(None);
        };
        let result = aws
            .apigateway()
            .await
            .get_method_response()
            .rest_api_id(&key.rest_api_id)
            .resource_id(&key.resource_id)
            .http_method(&key.http_method)
            .status_code(status)
            .send()
            .await
            .op("GetMethodResponse");
        let Some(r) = none_if_not_found(result)? else {
            return Ok(None);
        };
        let outputs = response_outputs(&key, status);
        let inputs = MethodResponseInputs {
            key,
            status_code: status.to_string(),
            response_models: r
                .response_models()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        };
        Ok(found(&req.id, Some((inputs, outputs))))
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let new: MethodResponseInputs = decode(&req.new_inputs)?;
        put_method_response(aws, &new).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let Some((k, Some(status))) = MethodKey::parse(&req.id) else {
            return Ok(());
        };
        let result = aws
            .apigateway()
            .await
            .delete_method_response()
            .rest_api_id(&k.rest_api_id)
            .resource_id(&k.resource_id)
            .http_method(&k.http_method)
            .status_code(status)
            .send()
            .await
            .op("DeleteMethodResponse");
        // The emulator answers a repeat with a 500: done when the method lists it no more.
        done_if_gone(result, || has_response(aws, &k, status, false)).await
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let inputs: MethodResponseInputs = decode(&req.inputs)?;
        let id = format!("{}/{}", inputs.key.id(), inputs.status_code);
        read_by_id(self, aws, req, id).await
    }
}

// ---------------------------------------------------------------------------------------
// Integration response

/// Arguments of an integration response (how an integration's answer maps to a method
/// response).
#[derive(Debug, Clone)]
pub struct IntegrationResponseArgs {
    integration: Integration,
    response: MethodResponse,
    selection_pattern: String,
    response_templates: BTreeMap<String, String>,
}

impl IntegrationResponseArgs {
    /// Maps `integration`'s answers to the method response `response` (the default
    /// mapping unless a selection pattern is set).
    pub fn new(integration: &Integration, response: &MethodResponse) -> Self {
        IntegrationResponseArgs {
            integration: integration.clone(),
            response: response.clone(),
            selection_pattern: String::new(),
            response_templates: BTreeMap::new(),
        }
    }

    /// The regular expression over the backend's answer that selects this response.
    pub fn selection_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.selection_pattern = pattern.into();
        self
    }

    /// Sets the response body template for a content type.
    pub fn response_template(
        mut self,
        content_type: impl Into<String>,
        template: impl Into<String>,
    ) -> Self {
        self.response_templates
            .insert(content_type.into(), template.into());
        self
    }
}

impl ResourceArgs for IntegrationResponseArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["rest_api_id", "resource_id", "http_method"], &[])
    }

    type Handle = IntegrationResponse;

    fn type_token(&self) -> &'static str {
        INTEGRATION_RESPONSE
    }

    fn props(&self) -> Props {
        let i = &self.integration;
        key_props(
            Props::new(),
            &i.rest_api_id(),
            &i.resource_id(),
            &i.http_method(),
        )
        .set("status_code", &self.response.status_code())
        .value("selection_pattern", &self.selection_pattern)
        .value("response_templates", &self.response_templates)
    }
}

handle! {
    /// A declared integration response.
    IntegrationResponse {
        /// The status code.
        status_code: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct IntegrationResponseInputs {
    #[serde(flatten)]
    key: MethodKey,
    status_code: String,
    #[serde(default)]
    selection_pattern: String,
    #[serde(default)]
    response_templates: BTreeMap<String, String>,
}

pub(super) struct IntegrationResponseImpl;

async fn put_integration_response(
    aws: &Aws,
    inputs: &IntegrationResponseInputs,
) -> Result<(), ProviderError> {
    let k = &inputs.key;
    let mut call = aws
        .apigateway()
        .await
        .put_integration_response()
        .rest_api_id(&k.rest_api_id)
        .resource_id(&k.resource_id)
        .http_method(&k.http_method)
        .status_code(&inputs.status_code)
        .set_response_templates(Some(
            inputs
                .response_templates
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ));
    if !inputs.selection_pattern.is_empty() {
        call = call.selection_pattern(&inputs.selection_pattern);
    }
    call.send().await.op("PutIntegrationResponse")?;
    Ok(())
}

#[async_trait]
impl ResourceImpl for IntegrationResponseImpl {
    fn type_token(&self) -> &'static str {
        INTEGRATION_RESPONSE
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["rest_api_id", "resource_id", "http_method", "status_code"]
    }

    fn delete_before_replace(&self) -> bool {
        true
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: IntegrationResponseInputs = decode(&req.inputs)?;
        put_integration_response(aws, &inputs).await?;
        Ok(CreateResponse {
            id: format!("{}/{}", inputs.key.id(), inputs.status_code),
            outputs: response_outputs(&inputs.key, &inputs.status_code),
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some((key, Some(status))) = MethodKey::parse(&req.id) else {
            return Ok(None);
        };
        let result = aws
            .apigateway()
            .await
            .get_integration_response()
            .rest_api_id(&key.rest_api_id)
            .resource_id(&key.resource_id)
            .http_method(&key.http_method)
            .status_code(status)
            .send()
            .await
            .op("GetIntegrationResponse");
        let Some(r) = none_if_not_found(result)? else {
            return Ok(None);
        };
        let outputs = response_outputs(&key, status);
        let inputs = IntegrationResponseInputs {
            key,
            status_code: status.to_string(),
            selection_pattern: r.selection_pattern().unwrap_or_default().to_string(),
            response_templates: r
                .response_templates()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        };
        Ok(found(&req.id, Some((inputs, outputs))))
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let new: IntegrationResponseInputs = decode(&req.new_inputs)?;
        put_integration_response(aws, &new).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let Some((k, Some(status))) = MethodKey::parse(&req.id) else {
            return Ok(());
        };
        let result = aws
            .apigateway()
            .await
            .delete_integration_response()
            .rest_api_id(&k.rest_api_id)
            .resource_id(&k.resource_id)
            .http_method(&k.http_method)
            .status_code(status)
            .send()
            .await
            .op("DeleteIntegrationResponse");
        // The emulator answers a repeat with a 500: done when the integration lists it
        // no more.
        done_if_gone(result, || has_response(aws, &k, status, true)).await
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let inputs: IntegrationResponseInputs = decode(&req.inputs)?;
        let id = format!("{}/{}", inputs.key.id(), inputs.status_code);
        read_by_id(self, aws, req, id).await
    }
}

/// Whether the method (or, with `integration`, its integration) has a response for
/// `status`; `false` when the method or integration is gone.
async fn has_response(
    aws: &Aws,
    k: &MethodKey,
    status: &str,
    integration: bool,
) -> Result<bool, ProviderError> {
    let client = aws.apigateway().await;
    if integration {
        let got = none_if_not_found(
            client
                .get_integration()
                .rest_api_id(&k.rest_api_id)
                .resource_id(&k.resource_id)
                .http_method(&k.http_method)
                .send()
                .await
                .op("GetIntegration"),
        )?;
        Ok(got.is_some_and(|i| {
            i.integration_responses()
                .is_some_and(|r| r.contains_key(status))
        }))
    } else {
        let got = none_if_not_found(
            client
                .get_method()
                .rest_api_id(&k.rest_api_id)
                .resource_id(&k.resource_id)
                .http_method(&k.http_method)
                .send()
                .await
                .op("GetMethod"),
        )?;
        Ok(got.is_some_and(|m| m.method_responses().is_some_and(|r| r.contains_key(status))))
    }
}

/// Whether the method has an integration; `false` when the method is gone.
async fn has_integration(aws: &Aws, k: &MethodKey) -> Result<bool, ProviderError> {
    let got = none_if_not_found(
        aws.apigateway()
            .await
            .get_method()
            .rest_api_id(&k.rest_api_id)
            .resource_id(&k.resource_id)
            .http_method(&k.http_method)
            .send()
            .await
            .op("GetMethod"),
    )?;
    Ok(got.is_some_and(|m| m.method_integration().is_some()))
}

/// Whether the resource has the method; `false` when the resource is gone.
async fn has_method(aws: &Aws, k: &MethodKey) -> Result<bool, ProviderError> {
    let got = none_if_not_found(
        aws.apigateway()
            .await
            .get_resource()
            .rest_api_id(&k.rest_api_id)
            .resource_id(&k.resource_id)
            .send()
            .await
            .op("GetResource"),
    )?;
    Ok(got.is_some_and(|r| {
        r.resource_methods()
            .is_some_and(|m| m.contains_key(&k.http_method))
    }))
}
