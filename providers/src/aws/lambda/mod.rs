//! Lambda: functions deployed from a zip asset, and resource-based permissions (who may
//! invoke a function).
//!
//! A function's inputs carry its code's identity ([`Asset::id`]), not its bytes or path:
//! the SHA-256 of a zip file, or of the sources a built asset is made from. The same code
//! gives the same inputs on any machine, a changed build shows in `preview` as an update
//! of `code_sha256` before anything is built or uploaded, and the bytes are made or read
//! only when a create or a code update needs them, through
//! [`iac_dsl::asset::bytes_for`]. The outputs' `code_sha256` is what Lambda reports for
//! the deployed zip; a read keeps the recorded identity while Lambda still reports the
//! zip deployed for it, so refreshing never shows a change that is not there.
//! [`check_bootstrap`] tells whether a custom runtime's executable starts on Lambda's
//! Linux.

mod bootstrap;
mod permission;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_lambda::client::Waiters;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Architecture, Environment, FunctionCode, Runtime, VpcConfig};
use base64::Engine as _;
use iac_dsl::asset::Asset;
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, ErrorKind, FieldErrors, Input, LookupRequest,
    Props, ProviderError, ReadRequest, ReadResponse, ResourceArgs, UpdateRequest, UpdateResponse,
    Value,
};
use serde::{Deserialize, Serialize};

use super::error::none_if_not_found;
use super::idempotent::update_tags;
use super::{Aws, DataSourceImpl, ErrorContext, ResourceImpl, TAG_NAME, TAG_STACK, decode, found};

pub use bootstrap::{
    BootstrapInfo, bootstrap_of_zip, check_bootstrap, inspect_bootstrap, runtime_glibc,
};
pub use permission::{Permission, PermissionArgs};

const FUNCTION: &str = "aws:lambda/function";

/// The Lambda resource types.
pub(crate) const RESOURCES: &[&dyn ResourceImpl] = &[&FunctionImpl, &permission::PermissionImpl];

/// Lambda has no data sources here.
pub(crate) const DATA_SOURCES: &[&dyn DataSourceImpl] = &[];

/// Runtimes a function may declare (those AWS still accepts for new functions).
const RUNTIMES: &[&str] = &[
    "provided.al2023",
    "provided.al2",
    "nodejs18.x",
    "nodejs20.x",
    "nodejs22.x",
    "python3.9",
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "java11",
    "java17",
    "java21",
    "dotnet8",
    "ruby3.2",
    "ruby3.3",
];

/// Environment variable names the Lambda service reserves for itself.
const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

/// Arguments of a function.
#[derive(Debug, Clone)]
pub struct FunctionArgs {
    function_name: Input<String>,
    role: Input<String>,
    code_sha256: String,
    runtime: String,
    handler: String,
    timeout: i32,
    memory_size: i32,
    architecture: String,
    description: String,
    environment: BTreeMap<String, Input<String>>,
    subnet_ids: Vec<Input<String>>,
    security_group_ids: Vec<Input<String>>,
    tags: BTreeMap<String, Input<String>>,
}

impl FunctionArgs {
    /// A function named `name` running `code` (a zip asset) as the IAM role `role` (an
    /// ARN), on the `provided.al2023` runtime with handler `bootstrap`, 128 MB and a 3 s
    /// timeout until told otherwise.
    pub fn new(
        name: impl Into<Input<String>>,
        role: impl Into<Input<String>>,
        code: &Asset,
    ) -> Self {
        FunctionArgs {
            function_name: name.into(),
            role: role.into(),
            code_sha256: code.id().to_string(),
            runtime: "provided.al2023".to_string(),
            handler: "bootstrap".to_string(),
            timeout: 3,
            memory_size: 128,
            architecture: "x86_64".to_string(),
            description: String::new(),
            environment: BTreeMap::new(),
            subnet_ids: Vec::new(),
            security_group_ids: Vec::new(),
            tags: BTreeMap::new(),
        }
    }

    /// The runtime identifier (e.g. `provided.al2023`, `nodejs20.x`).
    pub fn runtime(mut self, runtime: impl Into<String>) -> Self {
        self.runtime = runtime.into();
        self
    }

    /// The handler the runtime calls (`bootstrap` for custom runtimes).
    pub fn handler(mut self, handler: impl Into<String>) -> Self {
        self.handler = handler.into();
        self
    }

    /// How long one invocation may run, in seconds (1..=900).
    pub fn timeout(mut self, seconds: i32) -> Self {
        self.timeout = seconds;
        self
    }

    /// Memory in MB (128..=10240); CPU grows with it.
    pub fn memory_size(mut self, mb: i32) -> Self {
        self.memory_size = mb;
        self
    }

    /// `x86_64` (default) or `arm64`.
    pub fn architecture(mut self, arch: impl Into<String>) -> Self {
        self.architecture = arch.into();
        self
    }

    /// A description shown in the console.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Sets an environment variable (a secret input stays redacted in plans and state).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.environment.insert(key.into(), value.into());
        self
    }

    /// Runs the function inside a VPC: network interfaces in `subnet_ids` with
    /// `security_group_ids`.
    pub fn vpc<S, G>(mut self, subnet_ids: S, security_group_ids: G) -> Self
    where
        S: IntoIterator,
        S::Item: Into<Input<String>>,
        G: IntoIterator,
        G::Item: Into<Input<String>>,
    {
        self.subnet_ids = subnet_ids.into_iter().map(Into::into).collect();
        self.security_group_ids = security_group_ids.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

/// Function names: 1 to 64 letters, digits, `-` or `_`.
pub fn check_function_name(name: &str) -> Result<(), String> {
    crate::validate::length(name, 1, 64)?;
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        Some(c) => Err(format!(
            "`{name}` has `{c}`; function names allow letters, digits, - and _"
        )),
        None => Ok(()),
    }
}

/// Every problem with the parts of a function's configuration known now.
fn config_problems(
    runtime: &str,
    timeout: i64,
    memory: i64,
    architecture: &str,
    env_keys: &mut dyn Iterator<Item = &str>,
    vpc: (usize, usize),
) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let mut add = |field: &str, message: String| errors.push((field.to_string(), message));
    if !RUNTIMES.contains(&runtime) {
        add(
            "runtime",
            format!(
                "`{runtime}` is not a supported runtime ({})",
                RUNTIMES.join(", ")
            ),
        );
    }
    if !(1..=900).contains(&timeout) {
        add("timeout", format!("{timeout} s is outside 1..=900 seconds"));
    }
    if !(128..=10240).contains(&memory) {
        add(
            "memory_size",
            format!("{memory} MB is outside 128..=10240 MB"),
        );
    }
    if !matches!(architecture, "x86_64" | "arm64") {
        add(
            "architecture",
            format!("`{architecture}` is not x86_64 or arm64"),
        );
    }
    for key in env_keys {
        let valid = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            add(
                "environment",
                format!(
                    "`{key}` is not a valid variable name (a letter, then letters, digits or _)"
                ),
            );
        } else if RESERVED_ENV.contains(&key) {
            add(
                "environment",
                format!("`{key}` is reserved by the Lambda service"),
            );
        }
    }
    if (vpc.0 == 0) != (vpc.1 == 0) {
        add(
            "vpc",
            "a VPC configuration needs both subnets and security groups".to_string(),
        );
    }
    errors
}

impl ResourceArgs for FunctionArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(
            &["subnet_ids", "security_group_ids"],
            &["role", "environment"],
        )
    }

    type Handle = Function;

    fn type_token(&self) -> &'static str {
        FUNCTION
    }

    fn props(&self) -> Props {
        Props::new()
            .set("function_name", &self.function_name)
            .set("role", &self.role)
            .value("code_sha256", &self.code_sha256)
            .value("runtime", &self.runtime)
            .value("handler", &self.handler)
            .value("timeout", &self.timeout)
            .value("memory_size", &self.memory_size)
            .value("architecture", &self.architecture)
            .value("description", &self.description)
            .set("environment", &self.environment)
            .set("subnet_ids", &self.subnet_ids)
            .set("security_group_ids", &self.security_group_ids)
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("function_name", &self.function_name, |n| {
            check_function_name(n)
        });
        errors.check("role", &self.role, |r| {
            if r.starts_with("arn:") && r.contains(":role/") {
                Ok(())
            } else {
                Err(format!("`{r}` is not an IAM role ARN"))
            }
        });
        for (field, message) in config_problems(
            &self.runtime,
            self.timeout.into(),
            self.memory_size.into(),
            &self.architecture,
            &mut self.environment.keys().map(String::as_str),
            (self.subnet_ids.len(), self.security_group_ids.len()),
        ) {
            errors.add(field, message);
        }
    }
}

handle! {
    /// A declared function.
    Function {
        /// The function's ARN (its id is its name).
        arn: String,
        /// Its name.
        function_name: String,
        /// The ARN API Gateway integrations invoke it by.
        invoke_arn: String,
        /// The SHA-256 (hex) of the deployed code.
        code_sha256: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct FunctionInputs {
    function_name: String,
    role: String,
    code_sha256: String,
    runtime: String,
    handler: String,
    timeout: i32,
    memory_size: i32,
    architecture: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    subnet_ids: Vec<String>,
    #[serde(default)]
    security_group_ids: Vec<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct FunctionOutputs {
    arn: String,
    function_name: String,
    invoke_arn: String,
    code_sha256: String,
}

/// Lambda reports `CodeSha256` as base64; inputs and outputs use hex like everything else.
fn hex_of_base64(value: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .map(hex::encode)
        .unwrap_or_else(|_| value.to_string())
}

/// The bytes of the code whose identity is `id`, built now if it is a built asset that
/// was not yet (on a blocking thread: a build takes minutes).
async fn code_bytes(id: &str) -> Result<Vec<u8>, ProviderError> {
    let owned = id.to_string();
    tokio::task::spawn_blocking(move || iac_dsl::asset::bytes_for(&owned))
        .await
        .map_err(|e| {
            ProviderError::validation(vec![(
                "code_sha256".to_string(),
                format!("packaging the code stopped: {e}"),
            )])
        })?
        .map_err(|e| ProviderError::validation(vec![("code_sha256".to_string(), e.to_string())]))
}

struct FunctionImpl;

fn vpc_config(inputs: &FunctionInputs) -> VpcConfig {
    VpcConfig::builder()
        .set_subnet_ids(Some(inputs.subnet_ids.clone()))
        .set_security_group_ids(Some(inputs.security_group_ids.clone()))
        .build()
}

fn environment(inputs: &FunctionInputs) -> Environment {
    Environment::builder()
        .set_variables(Some(
            inputs
                .environment
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ))
        .build()
}

/// Whether a create or update failed only because a new IAM role has not reached Lambda
/// yet (IAM is eventually consistent; the same call succeeds seconds later).
fn role_not_ready(e: &ProviderError) -> bool {
    e.code.as_deref() == Some("InvalidParameterValueException")
        && e.message.contains("cannot be assumed")
}

async fn wait_updated(
    aws: &Aws,
    name: &str,
    timeout: Option<Duration>,
) -> Result<(), ProviderError> {
    aws.lambda()
        .await
        .wait_until_function_updated_v2()
        .function_name(name)
        .wait(timeout.unwrap_or(Duration::from_secs(600)))
        .await
        .map_err(|e| {
            ProviderError::new(
                ErrorKind::Timeout,
                "GetFunction",
                format!("function `{name}` did not finish updating: {e}"),
            )
        })?;
    Ok(())
}

#[async_trait]
impl ResourceImpl for FunctionImpl {
    fn type_token(&self) -> &'static str {
        FUNCTION
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["function_name"]
    }

    fn delete_before_replace(&self) -> bool {
        true
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        let Ok(f) = serde_json::from_value::<FunctionInputs>(inputs.clone()) else {
            return Vec::new();
        };
        let mut errors = match check_function_name(&f.function_name) {
            Err(e) => vec![("function_name".to_string(), e)],
            Ok(()) => Vec::new(),
        };
        errors.extend(config_problems(
            &f.runtime,
            f.timeout.into(),
            f.memory_size.into(),
            &f.architecture,
            &mut f.environment.keys().map(String::as_str),
            (f.subnet_ids.len(), f.security_group_ids.len()),
        ));
        errors
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: FunctionInputs = decode(&req.inputs)?;
        let zip = code_bytes(&inputs.code_sha256).await?;
        let tags: HashMap<String, String> = aws
            .tags_for(&req.ctx, &inputs.tags, Some(&req.token))
            .into_iter()
            .collect();
        let client = aws.lambda().await;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut call = client
                .create_function()
                .function_name(&inputs.function_name)
                .role(&inputs.role)
                .runtime(Runtime::from(inputs.runtime.as_str()))
                .handler(&inputs.handler)
                .code(
                    FunctionCode::builder()
                        .zip_file(Blob::new(zip.clone()))
                        .build(),
                )
                .timeout(inputs.timeout)
                .memory_size(inputs.memory_size)
                .architectures(Architecture::from(inputs.architecture.as_str()))
                .description(&inputs.description)
                .environment(environment(&inputs))
                .set_tags(Some(tags.clone()));
            if !inputs.subnet_ids.is_empty() {
                call = call.vpc_config(vpc_config(&inputs));
            }
            match call.send().await.op("CreateFunction") {
                Ok(_) => break,
                Err(e) if role_not_ready(&e) && attempt < 10 => {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                }
                // CreateFunction is unique by name: a retried create finds its own function.
                Err(e) if e.code.as_deref() == Some("ResourceConflictException") => {
                    let existing = function_tags(aws, &inputs.function_name).await?;
                    if existing.get(TAG_STACK) != Some(&req.ctx.stack)
                        || existing.get(TAG_NAME) != Some(&req.ctx.name)
                    {
                        return Err(ProviderError::new(
                            ErrorKind::Service,
                            "CreateFunction",
                            format!(
                                "function `{}` already exists and is not managed by this stack \
                                 as `{}`; import it or choose another name",
                                inputs.function_name, req.ctx.name
                            ),
                        ));
                    }
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        let active = client
            .wait_until_function_active_v2()
            .function_name(&inputs.function_name)
            .wait(req.timeout.unwrap_or(Duration::from_secs(600)))
            .await
            .map_err(|e| {
                ProviderError::new(
                    ErrorKind::Timeout,
                    "GetFunction",
                    format!(
                        "function `{}` did not become active: {e}",
                        inputs.function_name
                    ),
                )
            })?;
        // The waiter's last answer is a GetFunction of the active function: no read back.
        let (_, outputs) = active
            .as_result()
            .ok()
            .and_then(|out| shape(aws, &inputs.function_name, out))
            .ok_or_else(|| super::vanished("GetFunction", "function", &inputs.function_name))?;
        Ok(CreateResponse {
            id: inputs.function_name,
            outputs: super::to_json(&outputs),
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let described = describe(aws, &req.id).await?.map(|(mut inputs, outputs)| {
            // The recorded identity stands while Lambda still reports the zip deployed for
            // it (a built asset's identity is a digest of its sources, not of the zip);
            // other code shows as a change of `code_sha256`.
            if req.outputs["code_sha256"].as_str() == Some(outputs.code_sha256.as_str())
                && let Some(recorded) = req.inputs["code_sha256"].as_str()
            {
                inputs.code_sha256 = recorded.to_string();
            }
            // Lambda lists a VPC's subnets and groups in its own order: keep the recorded
            // order when the sets agree.
            for (key, read) in [
                ("subnet_ids", &mut inputs.subnet_ids),
                ("security_group_ids", &mut inputs.security_group_ids),
            ] {
                if let Ok(recorded) = serde_json::from_value::<Vec<String>>(req.inputs[key].clone())
                    && sorted(&recorded) == sorted(read)
                {
                    *read = recorded;
                }
            }
            (inputs, outputs)
        });
        Ok(found(&req.id, described))
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: FunctionInputs = decode(&req.old_inputs)?;
        let new: FunctionInputs = decode(&req.new_inputs)?;
        let client = aws.lambda().await;
        // The architecture travels with the code: one UpdateFunctionCode carries both, so a
        // change of either (or both) is made together.
        if old.code_sha256 != new.code_sha256 || old.architecture != new.architecture {
            client
                .update_function_code()
                .function_name(&req.id)
                .zip_file(Blob::new(code_bytes(&new.code_sha256).await?))
                .architectures(Architecture::from(new.architecture.as_str()))
                .send()
                .await
                .op("UpdateFunctionCode")?;
            wait_updated(aws, &req.id, req.timeout).await?;
        }
        let config_changed = old.role != new.role
            || old.runtime != new.runtime
            || old.handler != new.handler
            || old.timeout != new.timeout
            || old.memory_size != new.memory_size
            || old.description != new.description
            || old.environment != new.environment
            || old.subnet_ids != new.subnet_ids
            || old.security_group_ids != new.security_group_ids;
        if config_changed {
            let mut attempt = 0;
            loop {
                attempt += 1;
                let result = client
                    .update_function_configuration()
                    .function_name(&req.id)
                    .role(&new.role)
                    .runtime(Runtime::from(new.runtime.as_str()))
                    .handler(&new.handler)
                    .timeout(new.timeout)
                    .memory_size(new.memory_size)
                    .description(&new.description)
                    .environment(environment(&new))
                    .vpc_config(vpc_config(&new))
                    .send()
                    .await
                    .op("UpdateFunctionConfiguration");
                match result {
                    Ok(_) => break,
                    Err(e) if role_not_ready(&e) && attempt < 10 => {
                        tokio::time::sleep(Duration::from_secs(3)).await;
                    }
                    Err(e) => return Err(e),
                }
            }
            wait_updated(aws, &req.id, req.timeout).await?;
        }
        {
            let arn = req.old_outputs["arn"].as_str().unwrap_or_default();
            let client = &client;
            update_tags(
                aws,
                &req.ctx,
                &old.tags,
                &new.tags,
                |keys| async move {
                    client
                        .untag_resource()
                        .resource(arn)
                        .set_tag_keys(Some(keys))
                        .send()
                        .await
                        .op("UntagResource")
                        .map(|_| ())
                },
                |tags| async move {
                    client
                        .tag_resource()
                        .resource(arn)
                        .set_tags(Some(tags.into_iter().collect()))
                        .send()
                        .await
                        .op("TagResource")
                        .map(|_| ())
                },
            )
            .await?;
        }
        let (_, outputs) = describe(aws, &req.id)
            .await?
            .ok_or_else(|| super::vanished("GetFunction", "function", &req.id))?;
        Ok(UpdateResponse {
            outputs: super::to_json(&outputs),
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let result = aws
            .lambda()
            .await
            .delete_function()
            .function_name(&req.id)
            .send()
            .await
            .op("DeleteFunction");
        none_if_not_found(result).map(|_| ())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some(name) = req.inputs["function_name"].as_str() else {
            return Ok(None);
        };
        let Some((inputs, outputs)) = describe(aws, name).await? else {
            return Ok(None);
        };
        let tags = function_tags(aws, name).await?;
        if tags.get(TAG_STACK) != Some(&req.ctx.stack) || tags.get(TAG_NAME) != Some(&req.ctx.name)
        {
            return Ok(None);
        }
        Ok(found(name, Some((inputs, outputs))))
    }
}

async fn function_tags(aws: &Aws, name: &str) -> Result<BTreeMap<String, String>, ProviderError> {
    let out = aws
        .lambda()
        .await
        .get_function()
        .function_name(name)
        .send()
        .await
        .op("GetFunction")?;
    Ok(out
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default())
}

async fn describe(
    aws: &Aws,
    name: &str,
) -> Result<Option<(FunctionInputs, FunctionOutputs)>, ProviderError> {
    let result = aws
        .lambda()
        .await
        .get_function()
        .function_name(name)
        .send()
        .await
        .op("GetFunction");
    let Some(out) = none_if_not_found(result)? else {
        return Ok(None);
    };
    Ok(shape(aws, name, &out))
}

/// A function's inputs and outputs from a GetFunction answer.
fn shape(
    aws: &Aws,
    name: &str,
    out: &aws_sdk_lambda::operation::get_function::GetFunctionOutput,
) -> Option<(FunctionInputs, FunctionOutputs)> {
    let c = out.configuration()?;
    let tags: BTreeMap<String, String> = out
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let arn = c.function_arn().unwrap_or_default().to_string();
    let code_sha256 = hex_of_base64(c.code_sha256().unwrap_or_default());
    let region = arn
        .split(':')
        .nth(3)
        .unwrap_or(aws.region_name())
        .to_string();
    let vpc = c.vpc_config();
    let inputs = FunctionInputs {
        function_name: c.function_name().unwrap_or(name).to_string(),
        role: c.role().unwrap_or_default().to_string(),
        code_sha256: code_sha256.clone(),
        runtime: c
            .runtime()
            .map(|r| r.as_str().to_string())
            .unwrap_or_default(),
        handler: c.handler().unwrap_or_default().to_string(),
        timeout: c.timeout().unwrap_or(3),
        memory_size: c.memory_size().unwrap_or(128),
        architecture: c
            .architectures()
            .first()
            .map(|a| a.as_str().to_string())
            .unwrap_or_else(|| "x86_64".to_string()),
        description: c.description().unwrap_or_default().to_string(),
        environment: c
            .environment()
            .and_then(|e| e.variables())
            .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        subnet_ids: vpc.map(|v| sorted(v.subnet_ids())).unwrap_or_default(),
        security_group_ids: vpc
            .map(|v| sorted(v.security_group_ids()))
            .unwrap_or_default(),
        tags: aws.own_tags(tags),
    };
    let outputs = FunctionOutputs {
        invoke_arn: format!(
            "arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations"
        ),
        arn,
        function_name: inputs.function_name.clone(),
        code_sha256,
    };
    Some((inputs, outputs))
}

fn sorted(items: &[String]) -> Vec<String> {
    let mut items = items.to_vec();
    items.sort();
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_problems_are_all_reported() {
        let keys = ["GOOD", "1BAD", "AWS_REGION"];
        let problems = config_problems(
            "nodejs4.3",
            0,
            64,
            "sparc",
            &mut keys.iter().copied(),
            (1, 0),
        );
        let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "runtime",
                "timeout",
                "memory_size",
                "architecture",
                "environment",
                "environment",
                "vpc"
            ]
        );
        assert!(problems[2].1.contains("128..=10240"));
        assert!(
            config_problems(
                "provided.al2023",
                30,
                10240,
                "arm64",
                &mut [].into_iter(),
                (0, 0)
            )
            .is_empty()
        );
        assert!(check_function_name("payment-processor_1").is_ok());
        assert!(check_function_name("pay.ment").is_err());
        assert!(check_function_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn code_hashes_are_hex() {
        let b64 = base64::engine::general_purpose::STANDARD.encode([0xab_u8; 32]);
        assert_eq!(hex_of_base64(&b64), "ab".repeat(32));
    }
}
