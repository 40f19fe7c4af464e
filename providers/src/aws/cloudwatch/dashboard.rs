//! CloudWatch dashboards: a named JSON body of widgets.
//!
//! PutDashboard creates or replaces a dashboard by name, so create, update and a repeated
//! call after a lost answer are one idempotent call; dashboards take no tags, so an
//! interrupted create is found again by its (deterministic) name.

use async_trait::async_trait;
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, FieldErrors, Input, LookupRequest, Props,
    ProviderError, ReadRequest, ReadResponse, ResourceArgs, UpdateRequest, UpdateResponse, Value,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::super::error::none_if_not_found;
use super::super::idempotent::done_if_not_found;
use super::super::{Aws, ErrorContext, ResourceImpl, decode, found};

const DASHBOARD: &str = "aws:cloudwatch/dashboard";

/// Arguments of a CloudWatch dashboard. The name is its identity (a new name replaces
/// it); the body is updated in place.
#[derive(Debug, Clone)]
pub struct DashboardArgs {
    name: Input<String>,
    body: Input<String>,
}

impl DashboardArgs {
    /// A dashboard named `name` (letters, digits, `-` and `_`, at most 255) whose
    /// `body` is the dashboard's JSON (an object with a `widgets` list), usually built
    /// from other resources' outputs with [`iac_dsl::Output::map`].
    pub fn new(name: impl Into<Input<String>>, body: impl Into<Input<String>>) -> Self {
        DashboardArgs {
            name: name.into(),
            body: body.into(),
        }
    }
}

handle! {
    /// A declared CloudWatch dashboard.
    Dashboard {
        /// The dashboard's ARN.
        arn: String,
        /// Its name (also its id).
        name: String,
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let valid = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.is_empty() || name.len() > 255 {
        Err(format!("`{name}` must be 1 to 255 characters"))
    } else if !name.chars().all(valid) {
        Err(format!(
            "`{name}` may hold only letters, digits, `-` and `_`"
        ))
    } else {
        Ok(())
    }
}

fn check_body(body: &str) -> Result<(), String> {
    let doc: Value =
        serde_json::from_str(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    if doc.get("widgets").is_some_and(Value::is_array) {
        Ok(())
    } else {
        Err("the body must be a JSON object with a `widgets` list".into())
    }
}

impl ResourceArgs for DashboardArgs {
    type Handle = Dashboard;

    fn type_token(&self) -> &'static str {
        DASHBOARD
    }

    fn props(&self) -> Props {
        Props::new().set("name", &self.name).set("body", &self.body)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("name", &self.name, |n| check_name(n));
        errors.check("body", &self.body, |b| check_body(b));
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct DashboardInputs {
    name: String,
    body: String,
}

pub(crate) struct DashboardImpl;

async fn put(aws: &Aws, inputs: &DashboardInputs) -> Result<(), ProviderError> {
    aws.cloudwatch()
        .await
        .put_dashboard()
        .dashboard_name(&inputs.name)
        .dashboard_body(&inputs.body)
        .send()
        .await
        .op("PutDashboard")?;
    Ok(())
}

async fn describe(
    aws: &Aws,
    name: &str,
) -> Result<Option<(DashboardInputs, Value)>, ProviderError> {
    let got = aws
        .cloudwatch()
        .await
        .get_dashboard()
        .dashboard_name(name)
        .send()
        .await
        .op("GetDashboard");
    Ok(none_if_not_found(got)?.map(|d| {
        let inputs = DashboardInputs {
            name: name.to_string(),
            body: d.dashboard_body().unwrap_or_default().to_string(),
        };
        let outputs = json!({ "arn": d.dashboard_arn().unwrap_or_default(), "name": name });
        (inputs, outputs)
    }))
}

#[async_trait]
impl ResourceImpl for DashboardImpl {
    fn type_token(&self) -> &'static str {
        DASHBOARD
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["name"]
    }

    /// CloudWatch may return the body with other spacing or key order: the same JSON is
    /// the same dashboard.
    fn equivalent(&self, key: &str, old: &Value, new: &Value) -> bool {
        let parsed = |v: &Value| {
            v.as_str()
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
        };
        key == "body" && parsed(old).is_some() && parsed(old) == parsed(new)
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        let mut invalid = Vec::new();
        if let Some(name) = inputs["name"].as_str()
            && let Err(e) = check_name(name)
        {
            invalid.push(("name".to_string(), e));
        }
        if let Some(body) = inputs["body"].as_str()
            && let Err(e) = check_body(body)
        {
            invalid.push(("body".to_string(), e));
        }
        invalid
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: DashboardInputs = decode(&req.inputs)?;
        put(aws, &inputs).await?;
        let outputs = match describe(aws, &inputs.name).await? {
            Some((_, outputs)) => outputs,
            None => json!({ "arn": "", "name": inputs.name }),
        };
        Ok(CreateResponse {
            id: inputs.name,
            outputs,
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
        let new: DashboardInputs = decode(&req.new_inputs)?;
        put(aws, &new).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let deleted = aws
            .cloudwatch()
            .await
            .delete_dashboards()
            .dashboard_names(&req.id)
            .send()
            .await
            .op("DeleteDashboards");
        done_if_not_found(deleted)
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some(name) = req.inputs["name"].as_str() else {
            return Ok(None);
        };
        Ok(found(name, describe(aws, name).await?))
    }
}
