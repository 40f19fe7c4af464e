//! API Gateway (REST APIs): the API, its resources (paths), methods and their integrations
//! and responses, deployments and stages, and regional custom domain names with their base
//! path mappings.
//!
//! A [`DeploymentArgs`] is told which methods and integrations it serves; their
//! fingerprints are its inputs, so changing any of them replaces the deployment (a REST API
//! deployment is an immutable snapshot) and the stage moves to the new one in place.

mod deploy;
mod domain;
mod methods;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_apigateway::types::{EndpointConfiguration, EndpointType, Op, PatchOperation};
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, FieldErrors, Input, LookupRequest, Props,
    ProviderError, ReadRequest, ReadResponse, ResourceArgs, UpdateRequest, UpdateResponse, Value,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::batch::{ReadBatch, ReadResult};
use super::error::none_if_not_found;
use super::idempotent::{Existing, create_or_adopt, done_if_gone, update_tags};
use super::{
    Aws, DataSourceImpl, ErrorContext, ResourceImpl, TAG_TOKEN, create_once, decode, found,
};

pub use deploy::{Deployment, DeploymentArgs, Stage, StageArgs};
pub use domain::{BasePathMapping, BasePathMappingArgs, DomainName, DomainNameArgs};
pub use methods::{
    Integration, IntegrationArgs, IntegrationResponse, IntegrationResponseArgs, Method, MethodArgs,
    MethodResponse, MethodResponseArgs,
};

const REST_API: &str = "aws:apigateway/restApi";
const RESOURCE: &str = "aws:apigateway/resource";

/// The API Gateway resource types.
pub(crate) const RESOURCES: &[&dyn ResourceImpl] = &[
    &RestApiImpl,
    &ResourceImplApi,
    &methods::MethodImpl,
    &methods::IntegrationImpl,
    &methods::MethodResponseImpl,
    &methods::IntegrationResponseImpl,
    &deploy::DeploymentImpl,
    &deploy::StageImpl,
    &domain::DomainNameImpl,
    &domain::BasePathMappingImpl,
];

/// API Gateway has no data sources here.
pub(crate) const DATA_SOURCES: &[&dyn DataSourceImpl] = &[];

/// A `replace` patch operation.
pub(crate) fn replace(path: &str, value: impl Into<String>) -> PatchOperation {
    PatchOperation::builder()
        .op(Op::Replace)
        .path(path)
        .value(value)
        .build()
}

/// A stable digest of inputs, published as an output so that a deployment can depend on
/// exactly what its methods and integrations say.
pub(crate) fn fingerprint(inputs: &Value) -> String {
    hex::encode(Sha256::digest(inputs.to_string().as_bytes()))
}

// ---------------------------------------------------------------------------------------
// REST API

/// Arguments of a REST API (regional unless told otherwise).
#[derive(Debug, Clone)]
pub struct RestApiArgs {
    name: Input<String>,
    description: Input<String>,
    endpoint_type: String,
    tags: BTreeMap<String, Input<String>>,
}

impl RestApiArgs {
    /// A regional REST API named `name`.
    pub fn new(name: impl Into<Input<String>>) -> Self {
        RestApiArgs {
            name: name.into(),
            description: Input::Value(String::new()),
            endpoint_type: "REGIONAL".to_string(),
            tags: BTreeMap::new(),
        }
    }

    /// A description.
    pub fn description(mut self, text: impl Into<Input<String>>) -> Self {
        self.description = text.into();
        self
    }

    /// `REGIONAL`, `EDGE` or `PRIVATE`.
    pub fn endpoint_type(mut self, kind: impl Into<String>) -> Self {
        self.endpoint_type = kind.into();
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

fn endpoint_problem(kind: &str) -> Option<(String, String)> {
    (!matches!(kind, "REGIONAL" | "EDGE" | "PRIVATE")).then(|| {
        (
            "endpoint_type".to_string(),
            format!("`{kind}` is not REGIONAL, EDGE or PRIVATE"),
        )
    })
}

impl ResourceArgs for RestApiArgs {
    type Handle = RestApi;

    fn type_token(&self) -> &'static str {
        REST_API
    }

    fn props(&self) -> Props {
        Props::new()
            .set("name", &self.name)
            .set("description", &self.description)
            .value("endpoint_type", &self.endpoint_type)
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("name", &self.name, |n| crate::validate::length(n, 1, 1024));
        if let Some((field, message)) = endpoint_problem(&self.endpoint_type) {
            errors.add(field, message);
        }
    }
}

handle! {
    /// A declared REST API.
    RestApi {
        /// The API's id.
        id: String,
        /// The id of its root resource (`/`).
        root_resource_id: String,
        /// The ARN that IAM and Lambda permissions use for invocations,
        /// `arn:aws:execute-api:region:account:id`.
        execution_arn: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct RestApiInputs {
    name: String,
    #[serde(default)]
    description: String,
    endpoint_type: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

struct RestApiImpl;

#[async_trait]
impl ResourceImpl for RestApiImpl {
    fn type_token(&self) -> &'static str {
        REST_API
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["endpoint_type"]
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        inputs["endpoint_type"]
            .as_str()
            .and_then(endpoint_problem)
            .into_iter()
            .collect()
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: RestApiInputs = decode(&req.inputs)?;
        let tags: HashMap<String, String> = aws
            .tags_for(&req.ctx, &inputs.tags, Some(&req.token))
            .into_iter()
            .collect();
        // CreateRestApi is not idempotent: never let the SDK repeat it; after a lost answer
        // look for the API tagged with this create's token before trying again.
        let client = aws.apigateway_once().await;
        let made = create_once(
            || async {
                let mut call = client
                    .create_rest_api()
                    .name(&inputs.name)
                    .set_tags(Some(tags.clone()))
                    .endpoint_configuration(
                        EndpointConfiguration::builder()
                            .types(EndpointType::from(inputs.endpoint_type.as_str()))
                            .build(),
                    );
                if !inputs.description.is_empty() {
                    call = call.description(&inputs.description);
                }
                let out = call.send().await.op("CreateRestApi")?;
                Ok((
                    out.id().unwrap_or_default().to_string(),
                    out.root_resource_id().map(str::to_string),
                ))
            },
            || async { Ok(find_by_token(aws, &req.token).await?.map(|id| (id, None))) },
        )
        .await?;
        let (id, root) = made;
        // The answer names the root resource; only an adopted API is read.
        let outputs = match root {
            Some(root) => api_outputs(aws, &id, &root).await?,
            None => {
                describe_api(aws, &id)
                    .await?
                    .ok_or_else(|| super::vanished("GetRestApi", "REST API", &id))?
                    .1
            }
        };
        Ok(CreateResponse { id, outputs })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        Ok(found(&req.id, describe_api(aws, &req.id).await?))
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: RestApiInputs = decode(&req.old_inputs)?;
        let new: RestApiInputs = decode(&req.new_inputs)?;
        let client = aws.apigateway().await;
        let mut ops = Vec::new();
        if old.name != new.name {
            ops.push(replace("/name", &new.name));
        }
        if old.description != new.description {
            ops.push(replace("/description", &new.description));
        }
        if !ops.is_empty() {
            client
                .update_rest_api()
                .rest_api_id(&req.id)
                .set_patch_operations(Some(ops))
                .send()
                .await
                .op("UpdateRestApi")?;
        }
        {
            let arn = &format!(
                "arn:aws:apigateway:{}::/restapis/{}",
                aws.region_name(),
                req.id
            );
            let client = &client;
            update_tags(
                aws,
                &req.ctx,
                &old.tags,
                &new.tags,
                |keys| async move {
                    client
                        .untag_resource()
                        .resource_arn(arn)
                        .set_tag_keys(Some(keys))
                        .send()
                        .await
                        .op("UntagResource")
                        .map(|_| ())
                },
                |tags| async move {
                    client
                        .tag_resource()
                        .resource_arn(arn)
                        .set_tags(Some(tags.into_iter().collect()))
                        .send()
                        .await
                        .op("TagResource")
                        .map(|_| ())
                },
            )
            .await?;
        }
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let result = aws
            .apigateway()
            .await
            .delete_rest_api()
            .rest_api_id(&req.id)
            .send()
            .await
            .op("DeleteRestApi");
        // The emulator answers a repeat with a 500: done when it is listed no more.
        done_if_gone(result, || async {
            let listed = aws
                .apigateway()
                .await
                .get_rest_apis()
                .limit(500)
                .send()
                .await
                .op("GetRestApis")?;
            Ok(listed
                .items()
                .iter()
                .any(|a| a.id() == Some(req.id.as_str())))
        })
        .await
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some(id) = find_by_token(aws, &req.token).await? else {
            return Ok(None);
        };
        Ok(found(&id, describe_api(aws, &id).await?))
    }
}

/// The id of the REST API tagged with a create's token.
async fn find_by_token(aws: &Aws, token: &str) -> Result<Option<String>, ProviderError> {
    let client = aws.apigateway().await;
    let mut position = None;
    loop {
        let page = client
            .get_rest_apis()
            .set_position(position)
            .limit(500)
            .send()
            .await
            .op("GetRestApis")?;
        if let Some(api) = page.items().iter().find(|api| {
            api.tags()
                .and_then(|t| t.get(TAG_TOKEN))
                .is_some_and(|t| t == token)
        }) {
            return Ok(api.id().map(str::to_string));
        }
        match page.position() {
            Some(next) if !page.items().is_empty() => position = Some(next.to_string()),
            _ => return Ok(None),
        }
    }
}

async fn describe_api(
    aws: &Aws,
    id: &str,
) -> Result<Option<(RestApiInputs, Value)>, ProviderError> {
    let result = aws
        .apigateway()
        .await
        .get_rest_api()
        .rest_api_id(id)
        .send()
        .await
        .op("GetRestApi");
    let Some(api) = none_if_not_found(result)? else {
        return Ok(None);
    };
    let tags: BTreeMap<String, String> = api
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let inputs = RestApiInputs {
        name: api.name().unwrap_or_default().to_string(),
        description: api.description().unwrap_or_default().to_string(),
        endpoint_type: api
            .endpoint_configuration()
            .and_then(|c| c.types().first())
            .map(|t| t.as_str().to_string())
            .unwrap_or_else(|| "EDGE".to_string()),
        tags: aws.own_tags(tags),
    };
    let outputs = api_outputs(aws, id, api.root_resource_id().unwrap_or_default()).await?;
    Ok(Some((inputs, outputs)))
}

/// An API's outputs: its id, its root resource and its execution ARN (from the account).
async fn api_outputs(aws: &Aws, id: &str, root: &str) -> Result<Value, ProviderError> {
    let account = aws.account_id().await?;
    Ok(json!({
        "id": id,
        "root_resource_id": root,
        "execution_arn": format!("arn:aws:execute-api:{}:{account}:{id}", aws.region_name()),
    }))
}

// ---------------------------------------------------------------------------------------
// Resource (a path segment)

/// Arguments of an API resource: the path segment `path_part` under `parent_id`.
#[derive(Debug, Clone)]
pub struct ApiResourceArgs {
    rest_api_id: Input<String>,
    parent_id: Input<String>,
    path_part: Input<String>,
}

impl ApiResourceArgs {
    /// The resource `path_part` (e.g. `payment`, `{id}`, `{proxy+}`) under `parent_id`
    /// (the API's `root_resource_id` for a top-level path).
    pub fn new(
        rest_api_id: impl Into<Input<String>>,
        parent_id: impl Into<Input<String>>,
        path_part: impl Into<Input<String>>,
    ) -> Self {
        ApiResourceArgs {
            rest_api_id: rest_api_id.into(),
            parent_id: parent_id.into(),
            path_part: path_part.into(),
        }
    }
}

fn check_path_part(part: &str) -> Result<(), String> {
    let inner = part
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .map(|p| p.strip_suffix('+').unwrap_or(p))
        .unwrap_or(part);
    if inner.is_empty()
        || !inner
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
    {
        return Err(format!(
            "`{part}` is not a path segment (letters, digits, - _ . :, or {{param}}, {{proxy+}})"
        ));
    }
    Ok(())
}

impl ResourceArgs for ApiResourceArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["rest_api_id", "parent_id"], &[])
    }

    type Handle = ApiResource;

    fn type_token(&self) -> &'static str {
        RESOURCE
    }

    fn props(&self) -> Props {
        Props::new()
            .set("rest_api_id", &self.rest_api_id)
            .set("parent_id", &self.parent_id)
            .set("path_part", &self.path_part)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("path_part", &self.path_part, |p| check_path_part(p));
    }
}

handle! {
    /// A declared API resource.
    ApiResource {
        /// The resource's id.
        id: String,
        /// Its full path, e.g. `/payment`.
        path: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct ResourceInputs {
    rest_api_id: String,
    parent_id: String,
    path_part: String,
}

struct ResourceImplApi;

/// Resource ids are unique only within their API: the engine's id is `api/resource`.
fn split_id(id: &str) -> (&str, &str) {
    id.split_once('/').unwrap_or((id, ""))
}

/// An API's resources with their methods and integrations embedded, by resource id, for a
/// refresh batch: one GetResources per API (500 a page), shared by the resource, method
/// and integration types. An API that is gone lists nothing.
async fn api_resources(
    aws: &Aws,
    batch: &ReadBatch,
    api: &str,
) -> Result<Arc<BTreeMap<String, aws_sdk_apigateway::types::Resource>>, ProviderError> {
    batch
        .shared(&format!("apigateway:resources:{api}"), || async {
            let client = aws.apigateway().await;
            let mut all = BTreeMap::new();
            let mut position = None;
            loop {
                let out = none_if_not_found(
                    client
                        .get_resources()
                        .rest_api_id(api)
                        .embed("methods")
                        .limit(500)
                        .set_position(position.take())
                        .send()
                        .await
                        .op("GetResources"),
                )?;
                let Some(out) = out else { break };
                for r in out.items() {
                    all.insert(r.id().unwrap_or_default().to_string(), r.clone());
                }
                match out.position() {
                    Some(p) if !p.is_empty() => position = Some(p.to_string()),
                    _ => break,
                }
            }
            Ok(all)
        })
        .await
}

/// What the APIs' resource listings say of each of `reqs` (ids start with the API's id),
/// by request id: `pick` finds a request's object in its API's listing.
pub(super) async fn from_api_resources<T, P>(
    aws: &Aws,
    batch: &ReadBatch,
    reqs: &[ReadRequest],
    pick: P,
) -> Result<Arc<BTreeMap<String, T>>, ProviderError>
where
    T: Send + Sync + 'static,
    P: Fn(&ReadRequest, &BTreeMap<String, aws_sdk_apigateway::types::Resource>) -> Option<T>,
{
    let apis: BTreeSet<&str> = reqs.iter().map(|r| split_id(&r.id).0).collect();
    let mut all = BTreeMap::new();
    for api in apis {
        let listed = api_resources(aws, batch, api).await?;
        for r in reqs.iter().filter(|r| split_id(&r.id).0 == api) {
            if let Some(t) = pick(r, &listed) {
                all.insert(r.id.clone(), t);
            }
        }
    }
    Ok(Arc::new(all))
}

async fn describe_resource(
    aws: &Aws,
    api: &str,
    resource: &str,
) -> Result<Option<(ResourceInputs, Value)>, ProviderError> {
    let result = aws
        .apigateway()
        .await
        .get_resource()
        .rest_api_id(api)
        .resource_id(resource)
        .send()
        .await
        .op("GetResource");
    let Some(r) = none_if_not_found(result)? else {
        return Ok(None);
    };
    Ok(Some(resource_shape(
        api,
        resource,
        r.parent_id(),
        r.path_part(),
        r.path(),
    )))
}

/// A resource's inputs and outputs from what AWS says of it.
fn resource_shape(
    api: &str,
    resource: &str,
    parent_id: Option<&str>,
    path_part: Option<&str>,
    path: Option<&str>,
) -> (ResourceInputs, Value) {
    (
        ResourceInputs {
            rest_api_id: api.to_string(),
            parent_id: parent_id.unwrap_or_default().to_string(),
            path_part: path_part.unwrap_or_default().to_string(),
        },
        json!({ "id": resource, "path": path.unwrap_or_default() }),
    )
}

#[async_trait]
impl ResourceImpl for ResourceImplApi {
    fn type_token(&self) -> &'static str {
        RESOURCE
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["rest_api_id", "parent_id", "path_part"]
    }

    fn delete_before_replace(&self) -> bool {
        // A path segment is unique under its parent.
        true
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        match inputs["path_part"].as_str().map(check_path_part) {
            Some(Err(e)) => vec![("path_part".to_string(), e)],
            _ => Vec::new(),
        }
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: ResourceInputs = decode(&req.inputs)?;
        // CreateResource is not idempotent where the service does not refuse a second
        // resource of the same path (a lost answer would make two): it goes through a
        // client that does not retry, and a transient failure looks for the path first.
        let once = aws.apigateway_once().await;
        let made = create_once(
            || async {
                let out = once
                    .create_resource()
                    .rest_api_id(&inputs.rest_api_id)
                    .parent_id(&inputs.parent_id)
                    .path_part(&inputs.path_part)
                    .send()
                    .await
                    .op("CreateResource")?;
                Ok((
                    out.id().unwrap_or_default().to_string(),
                    out.path().map(str::to_string),
                ))
            },
            || async { Ok(find_resource(aws, &inputs).await?.map(|id| (id, None))) },
        );
        // The path is unique under its parent in our API: what is there is ours.
        let what = format!("API resource `{}`", inputs.path_part);
        let (resource_id, path) = create_or_adopt(&what, made, || async {
            Ok(match find_resource(aws, &inputs).await? {
                Some(id) => Existing::Ours((id, None)),
                None => Existing::Gone,
            })
        })
        .await?;
        let id = format!("{}/{resource_id}", inputs.rest_api_id);
        // The answer holds the path; only an adopted resource is read.
        let outputs = match path {
            Some(path) => json!({ "id": resource_id, "path": path }),
            None => {
                describe_resource(aws, &inputs.rest_api_id, &resource_id)
                    .await?
                    .ok_or_else(|| super::vanished("GetResource", "API resource", &id))?
                    .1
            }
        };
        Ok(CreateResponse { id, outputs })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let (api, resource) = split_id(&req.id);
        Ok(found(&req.id, describe_resource(aws, api, resource).await?))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        let listed = from_api_resources(aws, batch, &reqs, |r, listed| {
            listed.get(split_id(&r.id).1).cloned()
        })
        .await;
        let shape = |r: &ReadRequest, x: &aws_sdk_apigateway::types::Resource| {
            let (api, resource) = split_id(&r.id);
            let pair = resource_shape(api, resource, x.parent_id(), x.path_part(), x.path());
            Ok(found(&r.id, Some(pair)))
        };
        batch.pick(reqs, listed, shape, |r| self.read(aws, r)).await
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let (api, resource) = split_id(&req.id);
        let result = aws
            .apigateway()
            .await
            .delete_resource()
            .rest_api_id(api)
            .resource_id(resource)
            .send()
            .await
            .op("DeleteResource");
        // The emulator answers a repeat with a 500: done when the API lists it no more.
        done_if_gone(result, || async {
            let listed = none_if_not_found(
                aws.apigateway()
                    .await
                    .get_resources()
                    .rest_api_id(api)
                    .limit(500)
                    .send()
                    .await
                    .op("GetResources"),
            )?;
            Ok(listed.is_some_and(|l| l.items().iter().any(|r| r.id() == Some(resource))))
        })
        .await
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let inputs: ResourceInputs = decode(&req.inputs)?;
        let Some(resource) = find_resource(aws, &inputs).await? else {
            return Ok(None);
        };
        let id = format!("{}/{resource}", inputs.rest_api_id);
        Ok(found(
            &id,
            describe_resource(aws, &inputs.rest_api_id, &resource).await?,
        ))
    }
}

/// The id of the resource with this parent and path segment.
async fn find_resource(
    aws: &Aws,
    inputs: &ResourceInputs,
) -> Result<Option<String>, ProviderError> {
    let client = aws.apigateway().await;
    let mut position = None;
    loop {
        let result = client
            .get_resources()
            .rest_api_id(&inputs.rest_api_id)
            .set_position(position)
            .limit(500)
            .send()
            .await
            .op("GetResources");
        let Some(page) = none_if_not_found(result)? else {
            return Ok(None);
        };
        if let Some(r) = page.items().iter().find(|r| {
            r.parent_id() == Some(inputs.parent_id.as_str())
                && r.path_part() == Some(inputs.path_part.as_str())
        }) {
            return Ok(r.id().map(str::to_string));
        }
        match page.position() {
            Some(next) if !page.items().is_empty() => position = Some(next.to_string()),
            _ => return Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments() {
        for ok in ["payment", "{id}", "{proxy+}", "v1.2"] {
            assert!(check_path_part(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/b", "{}", "pay ment"] {
            assert!(check_path_part(bad).is_err(), "{bad}");
        }
    }
}
