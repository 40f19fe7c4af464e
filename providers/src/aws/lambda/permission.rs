//! Lambda permissions: one statement of a function's resource-based policy, such as
//! "API Gateway may invoke this function from this API".

use async_trait::async_trait;
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, FieldErrors, Input, LookupRequest, Props,
    ProviderError, ReadRequest, ReadResponse, ResourceArgs, Value,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::super::error::none_if_not_found;
use super::super::idempotent::{Same, done_if_duplicate};
use super::super::{Aws, ErrorContext, ResourceImpl, create_once, decode, found};

const PERMISSION: &str = "aws:lambda/permission";

/// Arguments of a permission.
#[derive(Debug, Clone)]
pub struct PermissionArgs {
    function_name: Input<String>,
    statement_id: String,
    action: String,
    principal: String,
    source_arn: Option<Input<String>>,
}

impl PermissionArgs {
    /// Lets `principal` (a service such as `apigateway.amazonaws.com`, or an account) call
    /// `action` on the function, under the statement id `statement_id`.
    pub fn new(
        function_name: impl Into<Input<String>>,
        statement_id: impl Into<String>,
        action: impl Into<String>,
        principal: impl Into<String>,
    ) -> Self {
        PermissionArgs {
            function_name: function_name.into(),
            statement_id: statement_id.into(),
            action: action.into(),
            principal: principal.into(),
            source_arn: None,
        }
    }

    /// API Gateway may invoke the function from `source_arn` (an execute-api ARN pattern
    /// such as `arn:aws:execute-api:region:account:api-id/*/*`).
    pub fn api_gateway(
        function_name: impl Into<Input<String>>,
        source_arn: impl Into<Input<String>>,
    ) -> Self {
        PermissionArgs::new(
            function_name,
            "AllowAPIGatewayInvoke",
            "lambda:InvokeFunction",
            "apigateway.amazonaws.com",
        )
        .source_arn(source_arn)
    }

    /// Limits the permission to calls on behalf of this resource.
    pub fn source_arn(mut self, arn: impl Into<Input<String>>) -> Self {
        self.source_arn = Some(arn.into());
        self
    }
}

fn statement_problems(statement_id: &str, action: &str) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    if statement_id.is_empty()
        || statement_id.len() > 100
        || !statement_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        errors.push((
            "statement_id".to_string(),
            format!("`{statement_id}` must be 1 to 100 letters, digits, - or _"),
        ));
    }
    if !action.starts_with("lambda:") {
        errors.push((
            "action".to_string(),
            format!("`{action}` is not a Lambda action (lambda:...)"),
        ));
    }
    errors
}

impl ResourceArgs for PermissionArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["function_name"], &["source_arn"])
    }

    type Handle = Permission;

    fn type_token(&self) -> &'static str {
        PERMISSION
    }

    fn props(&self) -> Props {
        Props::new()
            .set("function_name", &self.function_name)
            .value("statement_id", &self.statement_id)
            .value("action", &self.action)
            .value("principal", &self.principal)
            .set("source_arn", &self.source_arn)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("function_name", &self.function_name, |n| {
            // A name, or an ARN of the function.
            match n.rsplit(':').next() {
                Some(short) if n.starts_with("arn:") => super::check_function_name(short),
                _ => super::check_function_name(n),
            }
        });
        for (field, message) in statement_problems(&self.statement_id, &self.action) {
            errors.add(field, message);
        }
    }
}

handle! {
    /// A declared permission.
    Permission {
        /// The statement id.
        statement_id: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct PermissionInputs {
    function_name: String,
    statement_id: String,
    action: String,
    principal: String,
    #[serde(default)]
    source_arn: Option<String>,
}

pub(super) struct PermissionImpl;

#[async_trait]
impl ResourceImpl for PermissionImpl {
    fn type_token(&self) -> &'static str {
        PERMISSION
    }

    fn force_new(&self) -> &'static [&'static str] {
        // A policy statement cannot be edited, only removed and added again.
        &[
            "function_name",
            "statement_id",
            "action",
            "principal",
            "source_arn",
        ]
    }

    fn delete_before_replace(&self) -> bool {
        // The statement id is unique within the function's policy.
        true
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        statement_problems(
            inputs["statement_id"].as_str().unwrap_or_default(),
            inputs["action"].as_str().unwrap_or_default(),
        )
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: PermissionInputs = decode(&req.inputs)?;
        let id = format!("{}/{}", inputs.function_name, inputs.statement_id);
        // AddPermission goes through a client that does not retry: after a transient
        // failure the policy is read before trying again, so a statement is added once.
        let once = aws.lambda_once().await;
        let same = || async {
            Ok(
                match statement(aws, &inputs.function_name, &inputs.statement_id).await? {
                    Some(existing) if existing == inputs => Some(()),
                    _ => None,
                },
            )
        };
        let added = create_once(
            || async {
                once.add_permission()
                    .function_name(&inputs.function_name)
                    .statement_id(&inputs.statement_id)
                    .action(&inputs.action)
                    .principal(&inputs.principal)
                    .set_source_arn(inputs.source_arn.clone())
                    .send()
                    .await
                    .op("AddPermission")
                    .map(|_| ())
            },
            same,
        )
        .await;
        // A statement id already there is done when it says the same.
        let what = format!(
            "permission `{}` of function `{}`",
            inputs.statement_id, inputs.function_name
        );
        done_if_duplicate(added, &what, || async {
            Ok(
                match statement(aws, &inputs.function_name, &inputs.statement_id).await? {
                    Some(existing) if existing == inputs => Same::Yes,
                    Some(_) => Same::No("it grants something else".to_string()),
                    None => Same::No("it is gone".to_string()),
                },
            )
        })
        .await?;
        Ok(CreateResponse {
            outputs: json!({ "statement_id": inputs.statement_id }),
            id,
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some((function, sid)) = req.id.rsplit_once('/') else {
            return Ok(None);
        };
        let found_statement = statement(aws, function, sid).await?;
        Ok(found(
            &req.id,
            found_statement.map(|s| (s, json!({ "statement_id": sid }))),
        ))
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let Some((function, sid)) = req.id.rsplit_once('/') else {
            return Ok(());
        };
        let result = aws
            .lambda()
            .await
            .remove_permission()
            .function_name(function)
            .statement_id(sid)
            .send()
            .await
            .op("RemovePermission");
        none_if_not_found(result).map(|_| ())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let inputs: PermissionInputs = decode(&req.inputs)?;
        let id = format!("{}/{}", inputs.function_name, inputs.statement_id);
        self.read(
            aws,
            ReadRequest {
                ctx: req.ctx,
                id,
                inputs: req.inputs.clone(),
                ..Default::default()
            },
        )
        .await
    }
}

/// The statement `sid` of the function's policy, as inputs; `None` when the function, its
/// policy or the statement is gone.
async fn statement(
    aws: &Aws,
    function: &str,
    sid: &str,
) -> Result<Option<PermissionInputs>, ProviderError> {
    let result = aws
        .lambda()
        .await
        .get_policy()
        .function_name(function)
        .send()
        .await
        .op("GetPolicy");
    let Some(out) = none_if_not_found(result)? else {
        return Ok(None);
    };
    let policy: Value = serde_json::from_str(out.policy().unwrap_or("{}")).unwrap_or_default();
    let statements = match &policy["Statement"] {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        one => vec![one.clone()],
    };
    let Some(s) = statements.iter().find(|s| s["Sid"] == sid) else {
        return Ok(None);
    };
    let principal = match &s["Principal"] {
        Value::String(p) => p.clone(),
        p => p["Service"]
            .as_str()
            .or_else(|| p["AWS"].as_str())
            .unwrap_or_default()
            .to_string(),
    };
    let action = match &s["Action"] {
        Value::Array(a) => a.first().and_then(Value::as_str).unwrap_or_default(),
        a => a.as_str().unwrap_or_default(),
    }
    .to_string();
    let source_arn = s["Condition"]["ArnLike"]["AWS:SourceArn"]
        .as_str()
        .map(str::to_string);
    Ok(Some(PermissionInputs {
        function_name: function.to_string(),
        statement_id: sid.to_string(),
        action,
        principal,
        source_arn,
    }))
}
