//! Deployments (immutable snapshots of an API's methods) and stages (named, mutable
//! pointers to a deployment, with the URL clients call).

use std::collections::BTreeMap;

use async_trait::async_trait;
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, FieldErrors, Input, LookupRequest, Output, Props,
    ProviderError, ReadRequest, ReadResponse, ResourceArgs, UpdateRequest, UpdateResponse, Value,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::super::error::none_if_not_found;
use super::super::idempotent::done_if_gone;
use super::super::{Aws, ErrorContext, ResourceImpl, create_once, decode, found};
use super::methods::{Integration, Method};
use super::{replace, split_id};

const DEPLOYMENT: &str = "aws:apigateway/deployment";
const STAGE: &str = "aws:apigateway/stage";

/// Arguments of a deployment.
#[derive(Debug, Clone)]
pub struct DeploymentArgs {
    rest_api_id: Input<String>,
    description: String,
    triggers: Vec<Output<String>>,
}

impl DeploymentArgs {
    /// A deployment of `rest_api_id`. Name what it serves with
    /// [`DeploymentArgs::method`] and [`DeploymentArgs::integration`]: a change to any of
    /// them replaces the deployment.
    pub fn new(rest_api_id: impl Into<Input<String>>) -> Self {
        DeploymentArgs {
            rest_api_id: rest_api_id.into(),
            description: String::new(),
            triggers: Vec::new(),
        }
    }

    /// A description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// The deployment serves this method.
    pub fn method(mut self, method: &Method) -> Self {
        self.triggers.push(method.fingerprint());
        self
    }

    /// The deployment serves this integration.
    pub fn integration(mut self, integration: &Integration) -> Self {
        self.triggers.push(integration.fingerprint());
        self
    }
}

impl ResourceArgs for DeploymentArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["rest_api_id", "triggers"], &[])
    }

    type Handle = Deployment;

    fn type_token(&self) -> &'static str {
        DEPLOYMENT
    }

    fn props(&self) -> Props {
        let triggers: Vec<Input<String>> = self.triggers.iter().cloned().map(Input::from).collect();
        Props::new()
            .set("rest_api_id", &self.rest_api_id)
            .value("description", &self.description)
            .set("triggers", &triggers)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        if self.triggers.is_empty() {
            errors.add(
                "triggers",
                "a deployment must name the methods or integrations it serves, so that \
                 changing them deploys again",
            );
        }
    }
}

handle! {
    /// A declared deployment.
    Deployment {
        /// The deployment's id.
        id: String,
        /// The API's id.
        rest_api_id: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct DeploymentInputs {
    rest_api_id: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    triggers: Vec<String>,
}

pub(super) struct DeploymentImpl;

#[async_trait]
impl ResourceImpl for DeploymentImpl {
    fn type_token(&self) -> &'static str {
        DEPLOYMENT
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["rest_api_id", "triggers"]
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: DeploymentInputs = decode(&req.inputs)?;
        // CreateDeployment is not idempotent: it goes through a client that does not retry,
        // and a lost answer is looked for by the token its description carries before the
        // create is tried again, so that one create makes one deployment.
        let once = aws.apigateway_once().await;
        let description = with_token(&inputs.description, &req.token);
        let id = create_once(
            || async {
                let out = once
                    .create_deployment()
                    .rest_api_id(&inputs.rest_api_id)
                    .description(&description)
                    .send()
                    .await
                    .op("CreateDeployment")?;
                Ok(out.id().unwrap_or_default().to_string())
            },
            || async {
                Ok(find_deployment(aws, &inputs.rest_api_id, &req.token)
                    .await?
                    .map(|(id, _)| id))
            },
        )
        .await?;
        Ok(CreateResponse {
            id: format!("{}/{id}", inputs.rest_api_id),
            outputs: json!({ "id": id, "rest_api_id": inputs.rest_api_id }),
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let (api, deployment) = split_id(&req.id);
        let result = aws
            .apigateway()
            .await
            .get_deployment()
            .rest_api_id(api)
            .deployment_id(deployment)
            .send()
            .await
            .op("GetDeployment");
        let Some(d) = none_if_not_found(result)? else {
            return Ok(None);
        };
        let inputs = DeploymentInputs {
            rest_api_id: api.to_string(),
            description: strip_token(d.description().unwrap_or_default()).0,
            // What a deployment serves is not readable; keep what was recorded.
            triggers: serde_json::from_value(req.inputs["triggers"].clone()).unwrap_or_default(),
        };
        Ok(found(
            &req.id,
            Some((inputs, json!({ "id": deployment, "rest_api_id": api }))),
        ))
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let new: DeploymentInputs = decode(&req.new_inputs)?;
        let (api, deployment) = split_id(&req.id);
        let client = aws.apigateway().await;
        // Keep the creation token in the description, so `lookup` still finds it.
        let current = client
            .get_deployment()
            .rest_api_id(api)
            .deployment_id(deployment)
            .send()
            .await
            .op("GetDeployment")?;
        let description = match strip_token(current.description().unwrap_or_default()).1 {
            Some(token) => with_token(&new.description, &token),
            None => new.description.clone(),
        };
        client
            .update_deployment()
            .rest_api_id(api)
            .deployment_id(deployment)
            .patch_operations(replace("/description", description))
            .send()
            .await
            .op("UpdateDeployment")?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let (api, deployment) = split_id(&req.id);
        let result = aws
            .apigateway()
            .await
            .delete_deployment()
            .rest_api_id(api)
            .deployment_id(deployment)
            .send()
            .await
            .op("DeleteDeployment");
        // The emulator answers a repeat with a 500: done when the API lists it no more.
        done_if_gone(result, || async {
            let listed = none_if_not_found(
                aws.apigateway()
                    .await
                    .get_deployments()
                    .rest_api_id(api)
                    .limit(500)
                    .send()
                    .await
                    .op("GetDeployments"),
            )?;
            Ok(listed.is_some_and(|l| l.items().iter().any(|d| d.id() == Some(deployment))))
        })
        .await
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        // Deployments carry no tags or names; the create's token is in the description.
        let Some(api) = req.inputs["rest_api_id"].as_str() else {
            return Ok(None);
        };
        let Some((id, description)) = find_deployment(aws, api, &req.token).await? else {
            return Ok(None);
        };
        let inputs = DeploymentInputs {
            rest_api_id: api.to_string(),
            description: strip_token(&description).0,
            triggers: serde_json::from_value(req.inputs["triggers"].clone()).unwrap_or_default(),
        };
        Ok(found(
            &format!("{api}/{id}"),
            Some((inputs, json!({ "id": id, "rest_api_id": api }))),
        ))
    }
}

/// The marker that a deployment's description carries: `(iac:token=<token>)`.
const TOKEN_MARK: &str = "(iac:token=";

/// A description with the creation token appended.
fn with_token(description: &str, token: &str) -> String {
    if description.is_empty() {
        format!("{TOKEN_MARK}{token})")
    } else {
        format!("{description} {TOKEN_MARK}{token})")
    }
}

/// The declared description and the token of a description made by [`with_token`].
fn strip_token(description: &str) -> (String, Option<String>) {
    match description.rfind(TOKEN_MARK) {
        Some(at) if description.ends_with(')') => {
            let token = &description[at + TOKEN_MARK.len()..description.len() - 1];
            (
                description[..at].trim_end().to_string(),
                Some(token.to_string()),
            )
        }
        _ => (description.to_string(), None),
    }
}

/// The deployment of `api` whose description carries `token`: its id and description.
async fn find_deployment(
    aws: &Aws,
    api: &str,
    token: &str,
) -> Result<Option<(String, String)>, ProviderError> {
    let client = aws.apigateway().await;
    let mut position = None;
    loop {
        let page = none_if_not_found(
            client
                .get_deployments()
                .rest_api_id(api)
                .set_position(position)
                .limit(500)
                .send()
                .await
                .op("GetDeployments"),
        )?;
        let Some(page) = page else {
            return Ok(None);
        };
        let hit = page.items().iter().find(|d| {
            d.description()
                .is_some_and(|text| strip_token(text).1.as_deref() == Some(token))
        });
        if let Some(d) = hit {
            return Ok(Some((
                d.id().unwrap_or_default().to_string(),
                d.description().unwrap_or_default().to_string(),
            )));
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
    fn the_token_rides_in_the_description_and_reads_back_without_it() {
        assert_eq!(with_token("", "t1"), "(iac:token=t1)");
        assert_eq!(
            strip_token(&with_token("v2 of the API", "tok-9")),
            ("v2 of the API".to_string(), Some("tok-9".to_string()))
        );
        assert_eq!(strip_token("plain"), ("plain".to_string(), None));
        assert_eq!(
            strip_token(&with_token("", "x")),
            (String::new(), Some("x".into()))
        );
    }
}

// ---------------------------------------------------------------------------------------
// Stage

/// Arguments of a stage.
#[derive(Debug, Clone)]
pub struct StageArgs {
    rest_api_id: Input<String>,
    deployment_id: Output<String>,
    stage_name: String,
    description: String,
    variables: BTreeMap<String, Input<String>>,
    tracing_enabled: bool,
    tags: BTreeMap<String, Input<String>>,
}

impl StageArgs {
    /// The stage `stage_name` of `rest_api_id` serving `deployment`. A new deployment
    /// moves the stage in place; clients keep the same URL.
    pub fn new(
        rest_api_id: impl Into<Input<String>>,
        deployment: &Deployment,
        stage_name: impl Into<String>,
    ) -> Self {
        StageArgs {
            rest_api_id: rest_api_id.into(),
            deployment_id: deployment.id(),
            stage_name: stage_name.into(),
            description: String::new(),
            variables: BTreeMap::new(),
            tracing_enabled: false,
            tags: BTreeMap::new(),
        }
    }

    /// A description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Sets a stage variable.
    pub fn variable(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.variables.insert(key.into(), value.into());
        self
    }

    /// Turns on X-Ray tracing.
    pub fn tracing_enabled(mut self, on: bool) -> Self {
        self.tracing_enabled = on;
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

fn check_stage_name(name: &str) -> Result<(), String> {
    crate::validate::length(name, 1, 128)?;
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(())
    } else {
        Err(format!("`{name}` may hold only letters, digits, - and _"))
    }
}

impl ResourceArgs for StageArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["rest_api_id", "deployment_id"], &[])
    }

    type Handle = Stage;

    fn type_token(&self) -> &'static str {
        STAGE
    }

    fn props(&self) -> Props {
        Props::new()
            .set("rest_api_id", &self.rest_api_id)
            .set("deployment_id", &self.deployment_id)
            .value("stage_name", &self.stage_name)
            .value("description", &self.description)
            .set("variables", &self.variables)
            .value("tracing_enabled", &self.tracing_enabled)
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        if let Err(e) = check_stage_name(&self.stage_name) {
            errors.add("stage_name", e);
        }
    }
}

handle! {
    /// A declared stage.
    Stage {
        /// The stage's name.
        stage_name: String,
        /// The API's id.
        rest_api_id: String,
        /// The URL clients call, `https://api.execute-api.region.amazonaws.com/stage`.
        invoke_url: String,
        /// The execution ARN of the stage (for Lambda permissions), ending in `/stage`.
        execution_arn: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct StageInputs {
    rest_api_id: String,
    deployment_id: String,
    stage_name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    tracing_enabled: bool,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

pub(super) struct StageImpl;

async fn stage_outputs(aws: &Aws, api: &str, stage: &str) -> Result<Value, ProviderError> {
    let region = aws.region_name();
    let account = aws.account_id().await?;
    Ok(json!({
        "stage_name": stage,
        "rest_api_id": api,
        "invoke_url": format!("https://{api}.execute-api.{region}.amazonaws.com/{stage}"),
        "execution_arn": format!("arn:aws:execute-api:{region}:{account}:{api}/{stage}"),
    }))
}

#[async_trait]
impl ResourceImpl for StageImpl {
    fn type_token(&self) -> &'static str {
        STAGE
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["rest_api_id", "stage_name"]
    }

    fn delete_before_replace(&self) -> bool {
        true
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        match inputs["stage_name"].as_str().map(check_stage_name) {
            Some(Err(e)) => vec![("stage_name".to_string(), e)],
            _ => Vec::new(),
        }
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: StageInputs = decode(&req.inputs)?;
        let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
        let result = aws
            .apigateway()
            .await
            .create_stage()
            .rest_api_id(&inputs.rest_api_id)
            .stage_name(&inputs.stage_name)
            .deployment_id(&inputs.deployment_id)
            .description(&inputs.description)
            .tracing_enabled(inputs.tracing_enabled)
            .set_variables(Some(inputs.variables.clone().into_iter().collect()))
            .set_tags(Some(tags.into_iter().collect()))
            .send()
            .await
            .op("CreateStage");
        match result {
            Ok(_) => {}
            // The name is unique in the API: a retried create finds its stage.
            Err(e) if e.code.as_deref() == Some("ConflictException") => {}
            Err(e) => return Err(e),
        }
        Ok(CreateResponse {
            id: format!("{}/{}", inputs.rest_api_id, inputs.stage_name),
            outputs: stage_outputs(aws, &inputs.rest_api_id, &inputs.stage_name).await?,
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let (api, stage) = split_id(&req.id);
        let result = aws
            .apigateway()
            .await
            .get_stage()
            .rest_api_id(api)
            .stage_name(stage)
            .send()
            .await
            .op("GetStage");
        let Some(s) = none_if_not_found(result)? else {
            return Ok(None);
        };
        let tags: BTreeMap<String, String> = s
            .tags()
            .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let inputs = StageInputs {
            rest_api_id: api.to_string(),
            deployment_id: s.deployment_id().unwrap_or_default().to_string(),
            stage_name: stage.to_string(),
            description: s.description().unwrap_or_default().to_string(),
            variables: s
                .variables()
                .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            tracing_enabled: s.tracing_enabled(),
            tags: aws.own_tags(tags),
        };
        let outputs = stage_outputs(aws, api, stage).await?;
        Ok(found(&req.id, Some((inputs, outputs))))
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: StageInputs = decode(&req.old_inputs)?;
        let new: StageInputs = decode(&req.new_inputs)?;
        let (api, stage) = split_id(&req.id);
        let client = aws.apigateway().await;
        let mut ops = Vec::new();
        if old.deployment_id != new.deployment_id {
            ops.push(replace("/deploymentId", &new.deployment_id));
        }
        if old.description != new.description {
            ops.push(replace("/description", &new.description));
        }
        if old.tracing_enabled != new.tracing_enabled {
            ops.push(replace("/tracingEnabled", new.tracing_enabled.to_string()));
        }
        for (key, value) in &new.variables {
            if old.variables.get(key) != Some(value) {
                ops.push(replace(&format!("/variables/{key}"), value));
            }
        }
        for key in old
            .variables
            .keys()
            .filter(|k| !new.variables.contains_key(*k))
        {
            ops.push(
                aws_sdk_apigateway::types::PatchOperation::builder()
                    .op(aws_sdk_apigateway::types::Op::Remove)
                    .path(format!("/variables/{key}"))
                    .build(),
            );
        }
        if !ops.is_empty() {
            client
                .update_stage()
                .rest_api_id(api)
                .stage_name(stage)
                .set_patch_operations(Some(ops))
                .send()
                .await
                .op("UpdateStage")?;
        }
        if old.tags != new.tags {
            let arn = format!(
                "arn:aws:apigateway:{}::/restapis/{api}/stages/{stage}",
                aws.region_name()
            );
            client
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(
                    aws.tags_for(&req.ctx, &new.tags, None)
                        .into_iter()
                        .collect(),
                ))
                .send()
                .await
                .op("TagResource")?;
        }
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let (api, stage) = split_id(&req.id);
        let result = aws
            .apigateway()
            .await
            .delete_stage()
            .rest_api_id(api)
            .stage_name(stage)
            .send()
            .await
            .op("DeleteStage");
        // The emulator answers a repeat with a 500: done when the API lists it no more.
        done_if_gone(result, || async {
            let listed = none_if_not_found(
                aws.apigateway()
                    .await
                    .get_stages()
                    .rest_api_id(api)
                    .send()
                    .await
                    .op("GetStages"),
            )?;
            Ok(listed.is_some_and(|l| l.item().iter().any(|s| s.stage_name() == Some(stage))))
        })
        .await
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let inputs: StageInputs = decode(&req.inputs)?;
        self.read(
            aws,
            ReadRequest {
                ctx: req.ctx,
                id: format!("{}/{}", inputs.rest_api_id, inputs.stage_name),
                inputs: req.inputs,
                ..Default::default()
            },
        )
        .await
    }
}
