//! `aws:iam/role`: a role with its trust policy.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, FieldErrors, Input, LookupRequest, Props,
    ProviderError, ReadRequest, ReadResponse, ResourceArgs, ResourceOptions, UpdateRequest,
    UpdateResponse, Value,
};
use serde::{Deserialize, Serialize};

use aws_sdk_iam::types::Role as IamRole;

use super::listing;
use super::policy::{PolicyDocument, canonical, parse_returned};
use super::{check_name, check_path, is_ours, tag_map, to_tags};
use crate::aws::batch::{ReadBatch, ReadResult, whole};
use crate::aws::error::none_if_not_found;
use crate::aws::idempotent::{done_if_not_found, update_tags};
use crate::aws::{Aws, ErrorContext, ResourceImpl, decode, found, to_json, vanished};

const TYPE: &str = "aws:iam/role";

/// Arguments of an IAM role. Its name is unique in the account and fixed: a new name
/// replaces the role (deleting the old one first).
#[derive(Debug, Clone)]
pub struct RoleArgs {
    name: Input<String>,
    assume_role_policy: PolicyDocument,
    description: Input<String>,
    path: Input<String>,
    max_session_duration: Input<i32>,
    tags: BTreeMap<String, Input<String>>,
}

impl RoleArgs {
    /// A role named `name` that the principals of `trust` may assume.
    pub fn new(name: impl Into<Input<String>>, trust: PolicyDocument) -> Self {
        RoleArgs {
            name: name.into(),
            assume_role_policy: trust,
            description: Input::Value(String::new()),
            path: Input::Value("/".to_string()),
            max_session_duration: Input::Value(3600),
            tags: BTreeMap::new(),
        }
    }

    /// What the role is for.
    pub fn description(mut self, text: impl Into<Input<String>>) -> Self {
        self.description = text.into();
        self
    }

    /// The role's path (`/` by default).
    pub fn path(mut self, path: impl Into<Input<String>>) -> Self {
        self.path = path.into();
        self
    }

    /// How long sessions last, 3600 to 43200 seconds.
    pub fn max_session_duration(mut self, seconds: impl Into<Input<i32>>) -> Self {
        self.max_session_duration = seconds.into();
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

impl ResourceArgs for RoleArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&[], &["assume_role_policy"])
    }

    type Handle = Role;

    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn props(&self) -> Props {
        Props::new()
            .set("name", &self.name)
            .set("assume_role_policy", &self.assume_role_policy)
            .set("description", &self.description)
            .set("path", &self.path)
            .set("max_session_duration", &self.max_session_duration)
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("name", &self.name, |n| check_name(n, 64));
        errors.check("path", &self.path, |p| check_path(p));
        errors.check("max_session_duration", &self.max_session_duration, |s| {
            check_session(*s)
        });
        self.assume_role_policy
            .validate("assume_role_policy", errors);
    }

    fn default_options(&self) -> ResourceOptions {
        ResourceOptions::new().delete_before_replace(true)
    }
}

fn check_session(seconds: i32) -> Result<(), String> {
    if (3600..=43200).contains(&seconds) {
        Ok(())
    } else {
        Err(format!("{seconds} is not within 3600..43200 seconds"))
    }
}

handle! {
    /// A declared IAM role.
    Role {
        /// The role's ARN.
        arn: String,
        /// Its name.
        name: String,
        /// Its stable id (`AROA...`).
        unique_id: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct RoleInputs {
    name: String,
    assume_role_policy: Value,
    description: String,
    path: String,
    max_session_duration: i32,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// What a role exposes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RoleOutputs {
    /// The ARN.
    pub arn: String,
    /// The name.
    pub name: String,
    /// The stable id.
    pub unique_id: String,
}

pub(super) struct RoleImpl;

#[async_trait]
impl ResourceImpl for RoleImpl {
    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["name", "path"]
    }

    fn delete_before_replace(&self) -> bool {
        true
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        let mut invalid = Vec::new();
        if let Some(n) = inputs["name"].as_str()
            && let Err(e) = check_name(n, 64)
        {
            invalid.push(("name".to_string(), e));
        }
        if let Some(p) = inputs["path"].as_str()
            && let Err(e) = check_path(p)
        {
            invalid.push(("path".to_string(), e));
        }
        if let Some(s) = inputs["max_session_duration"].as_i64()
            && let Err(e) = check_session(s as i32)
        {
            invalid.push(("max_session_duration".to_string(), e));
        }
        invalid
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: RoleInputs = decode(&req.inputs)?;
        let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
        let client = aws.iam().await;
        let result = client
            .create_role()
            .role_name(&inputs.name)
            .assume_role_policy_document(inputs.assume_role_policy.to_string())
            .description(&inputs.description)
            .path(&inputs.path)
            .max_session_duration(inputs.max_session_duration)
            .set_tags(Some(to_tags(&tags)))
            .send()
            .await
            .op("CreateRole");
        let answer = match result {
            // The answer describes the role whole: no read back.
            Ok(out) => out.role().map(|role| RoleOutputs {
                arn: role.arn().to_string(),
                name: inputs.name.clone(),
                unique_id: role.role_id().to_string(),
            }),
            // A retried create whose first answer was lost: adopt our own role only.
            Err(e) if e.code.as_deref() == Some("EntityAlreadyExists") => {
                let theirs = describe(aws, &inputs.name).await?;
                let ours = theirs
                    .as_ref()
                    .is_some_and(|(_, _, t)| is_ours(t, &req.ctx, &req.token));
                if !ours {
                    return Err(ProviderError {
                        fields: vec![("name".into(), "a role of this name already exists".into())],
                        ..e
                    });
                }
                None
            }
            Err(e) => return Err(e),
        };
        let outputs = match answer {
            Some(outputs) => outputs,
            None => {
                describe(aws, &inputs.name)
                    .await?
                    .ok_or_else(|| vanished("GetRole", "role", &inputs.name))?
                    .1
            }
        };
        Ok(CreateResponse {
            id: inputs.name,
            outputs: to_json(&outputs),
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        Ok(found(
            &req.id,
            describe(aws, &req.id).await?.map(|(i, o, _)| (i, o)),
        ))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        let mut listed = BTreeMap::new();
        if listing::plan(batch).roles {
            let details = listing::authorization(aws, batch).await;
            // Without the details a role is read whole by GetRole: no ListRoles then.
            let roles = match details.as_ref() {
                Some(_) => listing::roles(aws, batch).await,
                None => Arc::new(None),
            };
            if let (Some(details), Some(roles)) = (details.as_ref(), roles.as_ref()) {
                for r in &reqs {
                    // A role both listings hold is whole: ListRoles has all but its tags.
                    if let (Some(role), Some(detail)) = (roles.get(&r.id), details.roles.get(&r.id))
                    {
                        let (inputs, outputs) = shape(aws, role, tag_map(detail.tags()));
                        listed.insert(r.id.clone(), (inputs, outputs));
                    }
                }
            }
        }
        batch
            .pick(reqs, Ok(Arc::new(listed)), whole, |r| self.read(aws, r))
            .await
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: RoleInputs = decode(&req.old_inputs)?;
        let new: RoleInputs = decode(&req.new_inputs)?;
        let client = aws.iam().await;
        if canonical(&old.assume_role_policy) != canonical(&new.assume_role_policy) {
            client
                .update_assume_role_policy()
                .role_name(&req.id)
                .policy_document(new.assume_role_policy.to_string())
                .send()
                .await
                .op("UpdateAssumeRolePolicy")?;
        }
        if old.description != new.description
            || old.max_session_duration != new.max_session_duration
        {
            client
                .update_role()
                .role_name(&req.id)
                .description(&new.description)
                .max_session_duration(new.max_session_duration)
                .send()
                .await
                .op("UpdateRole")?;
        }
        {
            let name = req.id.as_str();
            let client = &client;
            update_tags(
                aws,
                &req.ctx,
                &old.tags,
                &new.tags,
                |keys| async move {
                    client
                        .untag_role()
                        .role_name(name)
                        .set_tag_keys(Some(keys))
                        .send()
                        .await
                        .op("UntagRole")
                        .map(|_| ())
                },
                |tags| async move {
                    client
                        .tag_role()
                        .role_name(name)
                        .set_tags(Some(to_tags(&tags)))
                        .send()
                        .await
                        .op("TagRole")
                        .map(|_| ())
                },
            )
            .await?;
        }
        let (_, outputs, _) = describe(aws, &req.id)
            .await?
            .ok_or_else(|| vanished("GetRole", "role", &req.id))?;
        Ok(UpdateResponse {
            outputs: to_json(&outputs),
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let client = aws.iam().await;
        // Policies attached out of band would block the delete; the role owns them.
        let attached = none_if_not_found(
            client
                .list_attached_role_policies()
                .role_name(&req.id)
                .send()
                .await
                .op("ListAttachedRolePolicies"),
        )?;
        let Some(attached) = attached else {
            return Ok(());
        };
        for p in attached.attached_policies() {
            if let Some(arn) = p.policy_arn() {
                done_if_not_found(
                    client
                        .detach_role_policy()
                        .role_name(&req.id)
                        .policy_arn(arn)
                        .send()
                        .await
                        .op("DetachRolePolicy"),
                )?;
            }
        }
        let inline = client
            .list_role_policies()
            .role_name(&req.id)
            .send()
            .await
            .op("ListRolePolicies")?;
        for name in inline.policy_names() {
            done_if_not_found(
                client
                    .delete_role_policy()
                    .role_name(&req.id)
                    .policy_name(name)
                    .send()
                    .await
                    .op("DeleteRolePolicy"),
            )?;
        }
        let result = client
            .delete_role()
            .role_name(&req.id)
            .send()
            .await
            .op("DeleteRole");
        none_if_not_found(result).map(|_| ())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some(name) = req.inputs["name"].as_str() else {
            return Ok(None);
        };
        Ok(describe(aws, name)
            .await?
            .filter(|(_, _, tags)| is_ours(tags, &req.ctx, &req.token))
            .and_then(|(i, o, _)| found(name, Some((i, o)))))
    }
}

/// The role's inputs, outputs and every tag on it.
async fn describe(
    aws: &Aws,
    name: &str,
) -> Result<Option<(RoleInputs, RoleOutputs, BTreeMap<String, String>)>, ProviderError> {
    let out = none_if_not_found(
        aws.iam()
            .await
            .get_role()
            .role_name(name)
            .send()
            .await
            .op("GetRole"),
    )?;
    let Some(role) = out.and_then(|o| o.role().cloned()) else {
        return Ok(None);
    };
    let all_tags = tag_map(role.tags());
    let (inputs, outputs) = shape(aws, &role, all_tags.clone());
    Ok(Some((inputs, outputs, all_tags)))
}

/// The record of `role`, whose tags are `all_tags` (the engine's and the defaults too).
fn shape(
    aws: &Aws,
    role: &IamRole,
    all_tags: BTreeMap<String, String>,
) -> (RoleInputs, RoleOutputs) {
    let inputs = RoleInputs {
        name: role.role_name().to_string(),
        assume_role_policy: parse_returned(role.assume_role_policy_document().unwrap_or("{}")),
        description: role.description().unwrap_or_default().to_string(),
        path: role.path().to_string(),
        max_session_duration: role.max_session_duration().unwrap_or(3600),
        tags: aws.own_tags(all_tags),
    };
    let outputs = RoleOutputs {
        arn: role.arn().to_string(),
        name: role.role_name().to_string(),
        unique_id: role.role_id().to_string(),
    };
    (inputs, outputs)
}
