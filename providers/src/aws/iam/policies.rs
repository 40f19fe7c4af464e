//! `aws:iam/policy` (a managed policy), `aws:iam/rolePolicyAttachment` (a managed policy
//! attached to a role) and `aws:iam/rolePolicy` (a policy inside one role).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, FieldErrors, Input, LookupRequest, Props,
    ProviderError, ReadRequest, ReadResponse, ResourceArgs, UpdateRequest, UpdateResponse, Value,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use aws_sdk_iam::types::{ManagedPolicyDetail, RoleDetail};

use super::listing;
use super::policy::{PolicyDocument, canonical, parse_returned};
use super::{check_name, check_path, is_ours, tag_map, to_tags};
use crate::aws::batch::{ReadBatch, ReadResult};
use crate::aws::error::none_if_not_found;
use crate::aws::idempotent::{done_if_not_found, update_tags};
use crate::aws::{Aws, ErrorContext, ResourceImpl, decode, found, to_json, vanished};

const POLICY: &str = "aws:iam/policy";
const ATTACHMENT: &str = "aws:iam/rolePolicyAttachment";
const ROLE_POLICY: &str = "aws:iam/rolePolicy";

/// Arguments of a customer managed policy. A changed document becomes a new default
/// policy version (the oldest is pruned at IAM's limit of five), not a new policy.
#[derive(Debug, Clone)]
pub struct PolicyArgs {
    name: Input<String>,
    document: PolicyDocument,
    description: Input<String>,
    path: Input<String>,
    tags: BTreeMap<String, Input<String>>,
}

impl PolicyArgs {
    /// A policy named `name` granting `document`.
    pub fn new(name: impl Into<Input<String>>, document: PolicyDocument) -> Self {
        PolicyArgs {
            name: name.into(),
            document,
            description: Input::Value(String::new()),
            path: Input::Value("/".to_string()),
            tags: BTreeMap::new(),
        }
    }

    /// What the policy is for (fixed once created).
    pub fn description(mut self, text: impl Into<Input<String>>) -> Self {
        self.description = text.into();
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

impl ResourceArgs for PolicyArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&[], &["document"])
    }

    type Handle = Policy;

    fn type_token(&self) -> &'static str {
        POLICY
    }

    fn props(&self) -> Props {
        Props::new()
            .set("name", &self.name)
            .set("document", &self.document)
            .set("description", &self.description)
            .set("path", &self.path)
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("name", &self.name, |n| check_name(n, 128));
        errors.check("path", &self.path, |p| check_path(p));
        self.document.validate("document", errors);
    }
}

handle! {
    /// A declared managed policy.
    Policy {
        /// The policy's ARN (also its id).
        arn: String,
        /// Its name.
        name: String,
        /// Its stable id (`ANPA...`).
        policy_id: String,
        /// The default version, e.g. `v2`.
        default_version_id: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct PolicyInputs {
    name: String,
    document: Value,
    description: String,
    path: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// What a managed policy exposes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PolicyOutputs {
    /// The ARN.
    pub arn: String,
    /// The name.
    pub name: String,
    /// The stable id.
    pub policy_id: String,
    /// The default version.
    pub default_version_id: String,
}

pub(super) struct PolicyImpl;

#[async_trait]
impl ResourceImpl for PolicyImpl {
    fn type_token(&self) -> &'static str {
        POLICY
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["name", "path", "description"]
    }

    fn delete_before_replace(&self) -> bool {
        true
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        let mut invalid = Vec::new();
        if let Some(n) = inputs["name"].as_str()
            && let Err(e) = check_name(n, 128)
        {
            invalid.push(("name".to_string(), e));
        }
        invalid
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: PolicyInputs = decode(&req.inputs)?;
        let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
        let client = aws.iam().await;
        let result = client
            .create_policy()
            .policy_name(&inputs.name)
            .path(&inputs.path)
            .description(&inputs.description)
            .policy_document(inputs.document.to_string())
            .set_tags(Some(to_tags(&tags)))
            .send()
            .await
            .op("CreatePolicy");
        let (arn, answer) = match result {
            // The answer describes the new policy (its document is the one sent): no read.
            Ok(out) => {
                let policy = out.policy();
                let arn = policy.and_then(|p| p.arn()).unwrap_or_default().to_string();
                let outputs = policy.map(|p| PolicyOutputs {
                    arn: arn.clone(),
                    name: p.policy_name().unwrap_or_default().to_string(),
                    policy_id: p.policy_id().unwrap_or_default().to_string(),
                    default_version_id: p.default_version_id().unwrap_or("v1").to_string(),
                });
                (arn, outputs)
            }
            Err(e) if e.code.as_deref() == Some("EntityAlreadyExists") => {
                match find(aws, &inputs.name, &inputs.path).await? {
                    Some((arn, tags)) if is_ours(&tags, &req.ctx, &req.token) => (arn, None),
                    _ => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        let outputs = match answer {
            Some(outputs) => outputs,
            None => {
                describe(aws, &arn)
                    .await?
                    .ok_or_else(|| vanished("GetPolicy", "policy", &arn))?
                    .1
            }
        };
        Ok(CreateResponse {
            id: arn,
            outputs: to_json(&outputs),
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        Ok(found(&req.id, describe(aws, &req.id).await?))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        // GetPolicy still says the tags; the document comes from the listing.
        let listed = if listing::plan(batch).authorization {
            listing::authorization(aws, batch).await
        } else {
            Arc::new(None)
        };
        let listed = listed.as_ref().as_ref();
        batch
            .each(reqs, |r| async move {
                let detail = listed.and_then(|l| l.policies.get(&r.id));
                Ok(found(&r.id, describe_with(aws, &r.id, detail).await?))
            })
            .await
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: PolicyInputs = decode(&req.old_inputs)?;
        let new: PolicyInputs = decode(&req.new_inputs)?;
        let client = aws.iam().await;
        if canonical(&old.document) != canonical(&new.document) {
            let versions = client
                .list_policy_versions()
                .policy_arn(&req.id)
                .send()
                .await
                .op("ListPolicyVersions")?;
            let mut old_versions: Vec<_> = versions
                .versions()
                .iter()
                .filter(|v| !v.is_default_version())
                .filter_map(|v| v.version_id().map(str::to_string))
                .collect();
            old_versions.sort_by_key(|v| v.trim_start_matches('v').parse::<u32>().unwrap_or(0));
            if versions.versions().len() >= 5
                && let Some(oldest) = old_versions.first()
            {
                done_if_not_found(
                    client
                        .delete_policy_version()
                        .policy_arn(&req.id)
                        .version_id(oldest)
                        .send()
                        .await
                        .op("DeletePolicyVersion"),
                )?;
            }
            client
                .create_policy_version()
                .policy_arn(&req.id)
                .policy_document(new.document.to_string())
                .set_as_default(true)
                .send()
                .await
                .op("CreatePolicyVersion")?;
        }
        {
            let arn = req.id.as_str();
            let client = &client;
            update_tags(
                aws,
                &req.ctx,
                &old.tags,
                &new.tags,
                |keys| async move {
                    client
                        .untag_policy()
                        .policy_arn(arn)
                        .set_tag_keys(Some(keys))
                        .send()
                        .await
                        .op("UntagPolicy")
                        .map(|_| ())
                },
                |tags| async move {
                    client
                        .tag_policy()
                        .policy_arn(arn)
                        .set_tags(Some(to_tags(&tags)))
                        .send()
                        .await
                        .op("TagPolicy")
                        .map(|_| ())
                },
            )
            .await?;
        }
        let (_, outputs) = describe(aws, &req.id)
            .await?
            .ok_or_else(|| vanished("GetPolicy", "policy", &req.id))?;
        Ok(UpdateResponse {
            outputs: to_json(&outputs),
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let client = aws.iam().await;
        let Some(versions) = none_if_not_found(
            client
                .list_policy_versions()
                .policy_arn(&req.id)
                .send()
                .await
                .op("ListPolicyVersions"),
        )?
        else {
            return Ok(());
        };
        for v in versions
            .versions()
            .iter()
            .filter(|v| !v.is_default_version())
        {
            done_if_not_found(
                client
                    .delete_policy_version()
                    .policy_arn(&req.id)
                    .set_version_id(v.version_id().map(str::to_string))
                    .send()
                    .await
                    .op("DeletePolicyVersion"),
            )?;
        }
        let result = client
            .delete_policy()
            .policy_arn(&req.id)
            .send()
            .await
            .op("DeletePolicy");
        none_if_not_found(result).map(|_| ())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let (Some(name), Some(path)) = (req.inputs["name"].as_str(), req.inputs["path"].as_str())
        else {
            return Ok(None);
        };
        match find(aws, name, path).await? {
            Some((arn, tags)) if is_ours(&tags, &req.ctx, &req.token) => {
                Ok(found(&arn, describe(aws, &arn).await?))
            }
            _ => Ok(None),
        }
    }
}

/// The ARN and tags of the customer managed policy `name` under `path`, if it exists.
async fn find(
    aws: &Aws,
    name: &str,
    path: &str,
) -> Result<Option<(String, BTreeMap<String, String>)>, ProviderError> {
    let account = aws
        .iam()
        .await
        .get_policy()
        .policy_arn(format!(
            "arn:aws:iam::{}:policy{path}{name}",
            account_of(aws).await?
        ))
        .send()
        .await
        .op("GetPolicy");
    Ok(none_if_not_found(account)?
        .and_then(|o| o.policy().cloned())
        .map(|p| (p.arn().unwrap_or_default().to_string(), tag_map(p.tags()))))
}

/// The account id, from the caller's identity.
async fn account_of(aws: &Aws) -> Result<String, ProviderError> {
    let users = aws.iam().await.get_user().send().await.op("GetUser");
    if let Ok(out) = users
        && let Some(user) = out.user()
        && let Some(account) = user.arn().split(':').nth(4)
    {
        return Ok(account.to_string());
    }
    Err(ProviderError::new(
        iac_dsl::ErrorKind::Service,
        "GetUser",
        "cannot tell which account the credentials belong to",
    ))
}

async fn describe(
    aws: &Aws,
    arn: &str,
) -> Result<Option<(PolicyInputs, PolicyOutputs)>, ProviderError> {
    describe_with(aws, arn, None).await
}

/// Like [`describe`], with what the authorization listing said of the policy, if anything.
async fn describe_with(
    aws: &Aws,
    arn: &str,
    listed: Option<&ManagedPolicyDetail>,
) -> Result<Option<(PolicyInputs, PolicyOutputs)>, ProviderError> {
    let client = aws.iam().await;
    let Some(policy) = none_if_not_found(
        client
            .get_policy()
            .policy_arn(arn)
            .send()
            .await
            .op("GetPolicy"),
    )?
    .and_then(|o| o.policy().cloned()) else {
        return Ok(None);
    };
    let version = policy.default_version_id().unwrap_or("v1").to_string();
    // The authorization listing holds the versions' documents: the default one's is
    // taken from there when the listing names the same default.
    let from_listing = listed
        .filter(|l| l.default_version_id() == Some(version.as_str()))
        .and_then(|l| {
            l.policy_version_list()
                .iter()
                .find(|v| v.version_id() == Some(version.as_str()))
        })
        .and_then(|v| v.document())
        .map(parse_returned);
    let document = match from_listing {
        Some(document) => document,
        None => client
            .get_policy_version()
            .policy_arn(arn)
            .version_id(&version)
            .send()
            .await
            .op("GetPolicyVersion")?
            .policy_version()
            .and_then(|v| v.document())
            .map(parse_returned)
            .unwrap_or_default(),
    };
    let name = policy.policy_name().unwrap_or_default().to_string();
    Ok(Some((
        PolicyInputs {
            name: name.clone(),
            document,
            description: policy.description().unwrap_or_default().to_string(),
            path: policy.path().unwrap_or("/").to_string(),
            tags: aws.own_tags(tag_map(policy.tags())),
        },
        PolicyOutputs {
            arn: arn.to_string(),
            name,
            policy_id: policy.policy_id().unwrap_or_default().to_string(),
            default_version_id: version,
        },
    )))
}

/// Arguments of a role policy attachment: the managed policy `policy_arn` (AWS managed,
/// like `arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole`, or one of
/// the stack's) attached to the role `role`.
#[derive(Debug, Clone)]
pub struct RolePolicyAttachmentArgs {
    role: Input<String>,
    policy_arn: Input<String>,
}

impl RolePolicyAttachmentArgs {
    /// Attaches `policy_arn` to the role named `role`.
    pub fn new(role: impl Into<Input<String>>, policy_arn: impl Into<Input<String>>) -> Self {
        RolePolicyAttachmentArgs {
            role: role.into(),
            policy_arn: policy_arn.into(),
        }
    }
}

impl ResourceArgs for RolePolicyAttachmentArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&[], &["role", "policy_arn"])
    }

    type Handle = RolePolicyAttachment;

    fn type_token(&self) -> &'static str {
        ATTACHMENT
    }

    fn props(&self) -> Props {
        Props::new()
            .set("role", &self.role)
            .set("policy_arn", &self.policy_arn)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("role", &self.role, |n| check_name(n, 64));
        errors.check("policy_arn", &self.policy_arn, |a| {
            if a.starts_with("arn:") && a.contains(":policy/") {
                Ok(())
            } else {
                Err(format!("`{a}` is not a policy ARN"))
            }
        });
    }
}

handle! {
    /// A declared attachment.
    RolePolicyAttachment {
        /// `role/policy-arn`.
        id: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct AttachmentInputs {
    role: String,
    policy_arn: String,
}

pub(super) struct AttachmentImpl;

#[async_trait]
impl ResourceImpl for AttachmentImpl {
    fn type_token(&self) -> &'static str {
        ATTACHMENT
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["role", "policy_arn"]
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: AttachmentInputs = decode(&req.inputs)?;
        // Attaching is idempotent: a retry attaches nothing twice.
        aws.iam()
            .await
            .attach_role_policy()
            .role_name(&inputs.role)
            .policy_arn(&inputs.policy_arn)
            .send()
            .await
            .op("AttachRolePolicy")?;
        let id = format!("{}/{}", inputs.role, inputs.policy_arn);
        Ok(CreateResponse {
            outputs: json!({ "id": id }),
            id,
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some((role, arn)) = req.id.split_once('/') else {
            return Ok(None);
        };
        let attached = none_if_not_found(
            aws.iam()
                .await
                .list_attached_role_policies()
                .role_name(role)
                .send()
                .await
                .op("ListAttachedRolePolicies"),
        )?;
        let present = attached.is_some_and(|a| {
            a.attached_policies()
                .iter()
                .any(|p| p.policy_arn() == Some(arn))
        });
        Ok(present.then(|| ReadResponse {
            id: req.id.clone(),
            inputs: json!({ "role": role, "policy_arn": arn }),
            outputs: json!({ "id": req.id }),
        }))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        // A role the listing holds comes with every policy attached to it.
        let listed = listed_roles(aws, batch, &reqs, '/', |role, arn| {
            role.attached_managed_policies()
                .iter()
                .any(|p| p.policy_arn() == Some(arn))
                .then(|| json!({ "role": role.role_name(), "policy_arn": arn }))
        })
        .await;
        batch
            .pick(reqs, Ok(Arc::new(listed)), present, |r| self.read(aws, r))
            .await
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let Some((role, arn)) = req.id.split_once('/') else {
            return Ok(());
        };
        let result = aws
            .iam()
            .await
            .detach_role_policy()
            .role_name(role)
            .policy_arn(arn)
            .send()
            .await
            .op("DetachRolePolicy");
        none_if_not_found(result).map(|_| ())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let inputs: AttachmentInputs = decode(&req.inputs)?;
        let id = format!("{}/{}", inputs.role, inputs.policy_arn);
        self.read(
            aws,
            ReadRequest {
                ctx: req.ctx,
                id,
                ..Default::default()
            },
        )
        .await
    }
}

/// Arguments of an inline role policy: `document` stored inside the role `role` under
/// `name`. A changed document is written in place.
#[derive(Debug, Clone)]
pub struct RolePolicyArgs {
    role: Input<String>,
    name: Input<String>,
    document: PolicyDocument,
}

impl RolePolicyArgs {
    /// The policy `name` of role `role` granting `document`.
    pub fn new(
        role: impl Into<Input<String>>,
        name: impl Into<Input<String>>,
        document: PolicyDocument,
    ) -> Self {
        RolePolicyArgs {
            role: role.into(),
            name: name.into(),
            document,
        }
    }
}

impl ResourceArgs for RolePolicyArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&[], &["role", "document"])
    }

    type Handle = RolePolicy;

    fn type_token(&self) -> &'static str {
        ROLE_POLICY
    }

    fn props(&self) -> Props {
        Props::new()
            .set("role", &self.role)
            .set("name", &self.name)
            .set("document", &self.document)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("role", &self.role, |n| check_name(n, 64));
        errors.check("name", &self.name, |n| check_name(n, 128));
        self.document.validate("document", errors);
    }
}

handle! {
    /// A declared inline role policy.
    RolePolicy {
        /// `role:name`.
        id: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct RolePolicyInputs {
    role: String,
    name: String,
    document: Value,
}

pub(super) struct RolePolicyImpl;

async fn put_role_policy(aws: &Aws, inputs: &RolePolicyInputs) -> Result<(), ProviderError> {
    aws.iam()
        .await
        .put_role_policy()
        .role_name(&inputs.role)
        .policy_name(&inputs.name)
        .policy_document(inputs.document.to_string())
        .send()
        .await
        .op("PutRolePolicy")?;
    Ok(())
}

#[async_trait]
impl ResourceImpl for RolePolicyImpl {
    fn type_token(&self) -> &'static str {
        ROLE_POLICY
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["role", "name"]
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: RolePolicyInputs = decode(&req.inputs)?;
        // PutRolePolicy overwrites: a retry writes the same document again.
        put_role_policy(aws, &inputs).await?;
        let id = format!("{}:{}", inputs.role, inputs.name);
        Ok(CreateResponse {
            outputs: json!({ "id": id }),
            id,
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some((role, name)) = req.id.split_once(':') else {
            return Ok(None);
        };
        let got = none_if_not_found(
            aws.iam()
                .await
                .get_role_policy()
                .role_name(role)
                .policy_name(name)
                .send()
                .await
                .op("GetRolePolicy"),
        )?;
        Ok(got.map(|g| ReadResponse {
            id: req.id.clone(),
            inputs: to_json(&RolePolicyInputs {
                role: role.to_string(),
                name: name.to_string(),
                document: parse_returned(g.policy_document()),
            }),
            outputs: json!({ "id": req.id }),
        }))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        // A role the listing holds comes with its inline policies' documents.
        let listed = listed_roles(aws, batch, &reqs, ':', |role, name| {
            let policy = role
                .role_policy_list()
                .iter()
                .find(|p| p.policy_name() == Some(name))?;
            Some(to_json(&RolePolicyInputs {
                role: role.role_name().unwrap_or_default().to_string(),
                name: name.to_string(),
                document: parse_returned(policy.policy_document().unwrap_or("{}")),
            }))
        })
        .await;
        batch
            .pick(reqs, Ok(Arc::new(listed)), present, |r| self.read(aws, r))
            .await
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let new: RolePolicyInputs = decode(&req.new_inputs)?;
        put_role_policy(aws, &new).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let Some((role, name)) = req.id.split_once(':') else {
            return Ok(());
        };
        let result = aws
            .iam()
            .await
            .delete_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .op("DeleteRolePolicy");
        none_if_not_found(result).map(|_| ())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let inputs: RolePolicyInputs = decode(&req.inputs)?;
        let id = format!("{}:{}", inputs.role, inputs.name);
        self.read(
            aws,
            ReadRequest {
                ctx: req.ctx,
                id,
                ..Default::default()
            },
        )
        .await
    }
}

/// What the authorization listing says of the objects of `reqs` that live inside a role
/// (ids `role{sep}name`): for each whose role it lists, the inputs `find` gives, or
/// `None` when the role holds no such object (it is gone). Objects of roles the listing
/// does not hold are left out, for their own reads.
async fn listed_roles<F>(
    aws: &Aws,
    batch: &ReadBatch,
    reqs: &[ReadRequest],
    sep: char,
    find: F,
) -> BTreeMap<String, Option<Value>>
where
    F: Fn(&RoleDetail, &str) -> Option<Value>,
{
    let mut listed = BTreeMap::new();
    if !listing::plan(batch).authorization {
        return listed;
    }
    let details = listing::authorization(aws, batch).await;
    let Some(details) = details.as_ref() else {
        return listed;
    };
    for r in reqs {
        if let Some((role, name)) = r.id.split_once(sep)
            && let Some(detail) = details.roles.get(role)
        {
            listed.insert(r.id.clone(), find(detail, name));
        }
    }
    listed
}

/// A read's answer from [`listed_roles`]: the object with its inputs, or gone.
fn present(r: &ReadRequest, inputs: &Option<Value>) -> ReadResult {
    Ok(inputs.as_ref().map(|inputs| ReadResponse {
        id: r.id.clone(),
        inputs: inputs.clone(),
        outputs: json!({ "id": r.id }),
    }))
}
