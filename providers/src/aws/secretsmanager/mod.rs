//! Secrets Manager: secrets (with replicas in other regions) and their values.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::types::{ReplicaRegionType, Tag};
use iac_dsl::value::secret;
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, FieldErrors, Input, LookupRequest, Props,
    ProviderError, ReadRequest, ReadResponse, ResourceArgs, ResourceContext, UpdateRequest,
    UpdateResponse, Value,
};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::batch::{ReadBatch, ReadResult, failed_all};
use super::error::none_if_not_found;
use super::idempotent::{
    Same, create_or_adopt, done_if_duplicate, done_if_not_found, existing_by_tags, update_tags,
};
use super::{
    Aws, DataSourceImpl, ErrorContext, ResourceImpl, TAG_NAME, TAG_STACK, TAG_TOKEN, create_once,
    decode, found, to_json, vanished,
};

const SECRET: &str = "aws:secretsmanager/secret";
const VERSION: &str = "aws:secretsmanager/secretVersion";

/// The Secrets Manager resource types.
pub(crate) const RESOURCES: &[&dyn ResourceImpl] = &[&SecretImpl, &VersionImpl];

/// Secrets Manager has no data sources here.
pub(crate) const DATA_SOURCES: &[&dyn DataSourceImpl] = &[];

/// A region the secret is replicated to, optionally encrypted there with its own key.
#[derive(Debug, Clone)]
pub struct Replica {
    region: Input<String>,
    kms_key_id: Option<Input<String>>,
}

impl Replica {
    /// A replica in `region` encrypted with the region's default key.
    pub fn new(region: impl Into<Input<String>>) -> Self {
        Replica {
            region: region.into(),
            kms_key_id: None,
        }
    }

    /// Encrypts the replica with `key` (an id, ARN or alias in the replica's region).
    pub fn kms_key_id(mut self, key: impl Into<Input<String>>) -> Self {
        self.kms_key_id = Some(key.into());
        self
    }
}

/// Arguments of a secret (the container; its value is a [`SecretVersionArgs`]).
#[derive(Debug, Clone)]
pub struct SecretArgs {
    name: Input<String>,
    description: Input<String>,
    kms_key_id: Option<Input<String>>,
    replicas: Vec<Replica>,
    recovery_window_in_days: Input<i32>,
    tags: BTreeMap<String, Input<String>>,
}

impl SecretArgs {
    /// A secret named `name`, recoverable for 30 days after a delete.
    pub fn new(name: impl Into<Input<String>>) -> Self {
        SecretArgs {
            name: name.into(),
            description: Input::Value(String::new()),
            kms_key_id: None,
            replicas: Vec::new(),
            recovery_window_in_days: Input::Value(30),
            tags: BTreeMap::new(),
        }
    }

    /// What the secret holds.
    pub fn description(mut self, text: impl Into<Input<String>>) -> Self {
        self.description = text.into();
        self
    }

    /// Encrypts the secret with `key` instead of the account's default key.
    pub fn kms_key_id(mut self, key: impl Into<Input<String>>) -> Self {
        self.kms_key_id = Some(key.into());
        self
    }

    /// Replicates the secret to another region.
    pub fn replica(mut self, replica: Replica) -> Self {
        self.replicas.push(replica);
        self
    }

    /// Days a deleted secret stays recoverable: 0 (delete at once) or 7 to 30.
    pub fn recovery_window_in_days(mut self, days: impl Into<Input<i32>>) -> Self {
        self.recovery_window_in_days = days.into();
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

fn check_secret_name(name: &str) -> Result<(), String> {
    crate::validate::length(name, 1, 512)?;
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/_+=.@-".contains(*c)))
    {
        Some(c) => Err(format!(
            "`{name}` has `{c}`; secret names allow letters, digits and /_+=.@-"
        )),
        None => Ok(()),
    }
}

fn check_window(days: i32) -> Result<(), String> {
    if days == 0 || (7..=30).contains(&days) {
        Ok(())
    } else {
        Err(format!("{days} is neither 0 nor within 7..30 days"))
    }
}

impl ResourceArgs for SecretArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["kms_key_id"], &["replicas"])
    }

    type Handle = Secret;

    fn type_token(&self) -> &'static str {
        SECRET
    }

    fn props(&self) -> Props {
        let replicas = self
            .replicas
            .iter()
            .map(|r| {
                Props::new()
                    .set("region", &r.region)
                    .set("kms_key_id", &r.kms_key_id)
            })
            .collect::<Vec<_>>();
        Props::new()
            .set("name", &self.name)
            .set("description", &self.description)
            .set("kms_key_id", &self.kms_key_id)
            .set("replicas", replicas)
            .set("recovery_window_in_days", &self.recovery_window_in_days)
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("name", &self.name, |n| check_secret_name(n));
        errors.check(
            "recovery_window_in_days",
            &self.recovery_window_in_days,
            |d| check_window(*d),
        );
        for (i, r) in self.replicas.iter().enumerate() {
            errors.check(&format!("replicas[{i}].region"), &r.region, |r| {
                crate::validate::region(r)
            });
        }
    }
}

handle! {
    /// A declared secret.
    Secret {
        /// The secret's ARN (also its id).
        arn: String,
        /// Its name.
        name: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
struct ReplicaInputs {
    region: String,
    #[serde(default)]
    kms_key_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct SecretInputs {
    name: String,
    description: String,
    #[serde(default)]
    kms_key_id: Option<String>,
    #[serde(default)]
    replicas: Vec<ReplicaInputs>,
    recovery_window_in_days: i32,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

fn sm_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn replica_types(replicas: &[ReplicaInputs]) -> Vec<ReplicaRegionType> {
    replicas
        .iter()
        .map(|r| {
            ReplicaRegionType::builder()
                .region(&r.region)
                .set_kms_key_id(r.kms_key_id.clone())
                .build()
        })
        .collect()
}

struct SecretImpl;

#[async_trait]
impl ResourceImpl for SecretImpl {
    fn type_token(&self) -> &'static str {
        SECRET
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["name"]
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        let mut invalid = Vec::new();
        if let Some(n) = inputs["name"].as_str()
            && let Err(e) = check_secret_name(n)
        {
            invalid.push(("name".to_string(), e));
        }
        if let Some(d) = inputs["recovery_window_in_days"].as_i64()
            && let Err(e) = check_window(d as i32)
        {
            invalid.push(("recovery_window_in_days".to_string(), e));
        }
        for (i, r) in inputs["replicas"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(region) = r["region"].as_str()
                && let Err(e) = crate::validate::region(region)
            {
                invalid.push((format!("replicas[{i}].region"), e));
            }
        }
        invalid
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: SecretInputs = decode(&req.inputs)?;
        if let Some(r) = inputs
            .replicas
            .iter()
            .find(|r| r.region == aws.region_name())
        {
            return Err(ProviderError::validation(vec![(
                "replicas".into(),
                format!("{} is the secret's own region", r.region),
            )]));
        }
        let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
        let client = aws.secretsmanager().await;
        let made = async {
            let out = client
                .create_secret()
                .name(&inputs.name)
                .description(&inputs.description)
                .set_kms_key_id(inputs.kms_key_id.clone())
                .set_add_replica_regions(
                    (!inputs.replicas.is_empty()).then(|| replica_types(&inputs.replicas)),
                )
                .set_tags(Some(sm_tags(&tags)))
                .send()
                .await
                .op("CreateSecret")?;
            Ok((
                out.arn().unwrap_or_default().to_string(),
                out.name().map(str::to_string),
            ))
        };
        // A retry after a lost answer, or an earlier run of this resource, finds the secret
        // under its name: adopt it when it is ours and bring it to what is declared.
        let what = format!("secret `{}`", inputs.name);
        let (arn, answered) = create_or_adopt(&what, made, || async {
            let found = describe(aws, &inputs.name).await?;
            Ok(existing_by_tags(
                found.as_ref().map(|(_, o, all)| {
                    (
                        (o["arn"].as_str().unwrap_or_default().to_string(), None),
                        all,
                    )
                }),
                &req.ctx,
                Some(&req.token),
            ))
        })
        .await?;
        // A new secret is what was declared, and the answer names it: no read back.
        if let Some(name) = answered {
            return Ok(CreateResponse {
                outputs: json!({ "arn": arn, "name": name }),
                id: arn,
            });
        }
        // An adopted secret may differ from the declaration (an earlier run's inputs).
        if let Some((live, _, _)) = describe(aws, &arn).await? {
            let mut live = live;
            live.recovery_window_in_days = inputs.recovery_window_in_days;
            if live != inputs {
                converge(aws, &req.ctx, &arn, &live, &inputs).await?;
            }
        }
        let (_, outputs, _) = describe(aws, &arn)
            .await?
            .ok_or_else(|| vanished("DescribeSecret", "secret", &arn))?;
        Ok(CreateResponse { id: arn, outputs })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let window = req.inputs["recovery_window_in_days"].as_i64().unwrap_or(30) as i32;
        Ok(found(
            &req.id,
            describe(aws, &req.id).await?.map(|(mut i, o, _)| {
                i.recovery_window_in_days = window;
                (i, o)
            }),
        ))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        let described = match batch_describe(aws, batch, reqs.iter().map(|r| r.id.clone())).await {
            Ok(described) => described,
            Err(e) => return failed_all(&reqs, &e),
        };
        reqs.iter()
            .map(|r| {
                let window = r.inputs["recovery_window_in_days"].as_i64().unwrap_or(30) as i32;
                let answer = described.get(&r.id).and_then(|d| d.as_ref().as_ref());
                Ok(found(
                    &r.id,
                    answer.and_then(|d| shape(aws, d)).map(|(mut i, o, _)| {
                        i.recovery_window_in_days = window;
                        (i, o)
                    }),
                ))
            })
            .collect()
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: SecretInputs = decode(&req.old_inputs)?;
        let new: SecretInputs = decode(&req.new_inputs)?;
        converge(aws, &req.ctx, &req.id, &old, &new).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let Some((inputs, _, _)) = describe(aws, &req.id).await? else {
            return Ok(());
        };
        let client = aws.secretsmanager().await;
        // A primary with replicas cannot be deleted: the replicas go first.
        if !inputs.replicas.is_empty() {
            done_if_not_found(
                client
                    .remove_regions_from_replication()
                    .secret_id(&req.id)
                    .set_remove_replica_regions(Some(
                        inputs.replicas.iter().map(|r| r.region.clone()).collect(),
                    ))
                    .send()
                    .await
                    .op("RemoveRegionsFromReplication"),
            )?;
        }
        let window = req.inputs["recovery_window_in_days"].as_i64().unwrap_or(30);
        let call = client.delete_secret().secret_id(&req.id);
        let call = if window == 0 {
            call.force_delete_without_recovery(true)
        } else {
            call.recovery_window_in_days(window)
        };
        none_if_not_found(call.send().await.op("DeleteSecret")).map(|_| ())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some(name) = req.inputs["name"].as_str() else {
            return Ok(None);
        };
        let Some((inputs, outputs, all)) = describe(aws, name).await? else {
            return Ok(None);
        };
        let ours = all.get(TAG_TOKEN) == Some(&req.token)
            || (all.get(TAG_STACK) == Some(&req.ctx.stack)
                && all.get(TAG_NAME) == Some(&req.ctx.name));
        let id = outputs["arn"].as_str().unwrap_or_default().to_string();
        Ok(ours.then(|| ReadResponse {
            id,
            inputs: to_json(&inputs),
            outputs,
        }))
    }
}

/// Brings the secret `id` from `old` to `new` inputs. Replicas are compared with those the
/// secret has now, so a repeat after a lost answer adds and removes only what is left.
async fn converge(
    aws: &Aws,
    ctx: &ResourceContext,
    id: &str,
    old: &SecretInputs,
    new: &SecretInputs,
) -> Result<(), ProviderError> {
    let client = aws.secretsmanager().await;
    if old.description != new.description || old.kms_key_id != new.kms_key_id {
        client
            .update_secret()
            .secret_id(id)
            .description(&new.description)
            .set_kms_key_id(new.kms_key_id.clone())
            .send()
            .await
            .op("UpdateSecret")?;
    }
    let live = match describe(aws, id).await? {
        Some((inputs, _, _)) => inputs.replicas,
        None => return Err(vanished("DescribeSecret", "secret", id)),
    };
    let live_regions: Vec<&str> = live.iter().map(|r| r.region.as_str()).collect();
    let gone: Vec<String> = live
        .iter()
        .filter(|r| !new.replicas.contains(r))
        .map(|r| r.region.clone())
        .collect();
    if !gone.is_empty() {
        let result = client
            .remove_regions_from_replication()
            .secret_id(id)
            .set_remove_replica_regions(Some(gone))
            .send()
            .await
            .op("RemoveRegionsFromReplication");
        done_if_not_found(result)?;
    }
    let added: Vec<ReplicaInputs> = new
        .replicas
        .iter()
        .filter(|r| !live.contains(r))
        .cloned()
        .collect();
    if !added.is_empty() {
        // Replicating is not idempotent everywhere (a repeat can add the region twice): it
        // goes through a client that does not retry, and after a transient failure the
        // secret is read again before trying again.
        let once = aws.secretsmanager_once().await;
        let present = || async {
            let now = describe(aws, id)
                .await?
                .map(|(i, _, _)| i.replicas)
                .unwrap_or_default();
            Ok(added.iter().all(|r| now.contains(r)).then_some(()))
        };
        let made = create_once(
            || async {
                once.replicate_secret_to_regions()
                    .secret_id(id)
                    .set_add_replica_regions(Some(replica_types(&added)))
                    .send()
                    .await
                    .op("ReplicateSecretToRegions")
                    .map(|_| ())
            },
            present,
        )
        .await;
        let what = format!("replica of secret {id}");
        done_if_duplicate(made, &what, || async {
            let now = describe(aws, id)
                .await?
                .map(|(i, _, _)| i.replicas)
                .unwrap_or_default();
            Ok(match added.iter().find(|r| !now.contains(r)) {
                None => Same::Yes,
                Some(r) if live_regions.contains(&r.region.as_str()) => {
                    Same::No(format!("the replica in {} has another key", r.region))
                }
                Some(r) => Same::No(format!("there is no replica in {}", r.region)),
            })
        })
        .await?;
    }
    update_tags(
        aws,
        ctx,
        &old.tags,
        &new.tags,
        |keys| {
            let client = &client;
            async move {
                client
                    .untag_resource()
                    .secret_id(id)
                    .set_tag_keys(Some(keys))
                    .send()
                    .await
                    .op("UntagResource")
                    .map(|_| ())
            }
        },
        |tags| {
            let client = &client;
            async move {
                client
                    .tag_resource()
                    .secret_id(id)
                    .set_tags(Some(sm_tags(&tags)))
                    .send()
                    .await
                    .op("TagResource")
                    .map(|_| ())
            }
        },
    )
    .await
}

/// The secret's inputs, outputs and every tag on it; `None` when gone or scheduled for
/// deletion.
async fn describe(
    aws: &Aws,
    id: &str,
) -> Result<Option<(SecretInputs, Value, BTreeMap<String, String>)>, ProviderError> {
    Ok(describe_raw(aws, id)
        .await?
        .as_ref()
        .and_then(|s| shape(aws, s)))
}

/// What DescribeSecret says of `id`; `None` when it is gone.
async fn describe_raw(aws: &Aws, id: &str) -> Result<Option<DescribeSecretOutput>, ProviderError> {
    none_if_not_found(
        aws.secretsmanager()
            .await
            .describe_secret()
            .secret_id(id)
            .send()
            .await
            .op("DescribeSecret"),
    )
}

/// What DescribeSecret says of each of `ids`, for a refresh batch: one call per secret,
/// shared by the secret and its value.
async fn batch_describe(
    aws: &Aws,
    batch: &ReadBatch,
    ids: impl Iterator<Item = String>,
) -> Result<BTreeMap<String, Arc<Option<DescribeSecretOutput>>>, ProviderError> {
    batch
        .shared_each("secretsmanager:secret", ids, |id| async move {
            describe_raw(aws, &id).await
        })
        .await
}

/// A secret's inputs, outputs and every tag as DescribeSecret says; `None` once it is
/// scheduled for deletion.
fn shape(
    aws: &Aws,
    s: &DescribeSecretOutput,
) -> Option<(SecretInputs, Value, BTreeMap<String, String>)> {
    if s.deleted_date().is_some() {
        return None;
    }
    let all: BTreeMap<String, String> = s
        .tags()
        .iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect();
    let mut replicas: Vec<ReplicaInputs> = s
        .replication_status()
        .iter()
        .filter_map(|r| {
            Some(ReplicaInputs {
                region: r.region()?.to_string(),
                kms_key_id: r
                    .kms_key_id()
                    .filter(|k| *k != "alias/aws/secretsmanager")
                    .map(str::to_string),
            })
        })
        .collect();
    replicas.sort();
    let arn = s.arn().unwrap_or_default().to_string();
    let name = s.name().unwrap_or_default().to_string();
    Some((
        SecretInputs {
            name: name.clone(),
            description: s.description().unwrap_or_default().to_string(),
            kms_key_id: s.kms_key_id().map(str::to_string),
            replicas,
            recovery_window_in_days: 30,
            tags: aws.own_tags(all.clone()),
        },
        json!({ "arn": arn, "name": name }),
        all,
    ))
}

/// Arguments of a secret's value. Any change of the value writes a new version (an update,
/// not a replacement). The value is secret: the engine encrypts it in state and redacts it
/// in plans, and the provider never puts it in a log or an error.
#[derive(Debug, Clone)]
pub struct SecretVersionArgs {
    secret_id: Input<String>,
    secret_string: Input<String>,
}

impl SecretVersionArgs {
    /// The value `secret_string` (mark it secret, e.g. `password.result()`) of `secret_id`.
    pub fn new(
        secret_id: impl Into<Input<String>>,
        secret_string: impl Into<Input<String>>,
    ) -> Self {
        SecretVersionArgs {
            secret_id: secret_id.into(),
            secret_string: secret_string.into(),
        }
    }
}

impl ResourceArgs for SecretVersionArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["secret_id"], &["secret_string"])
    }

    type Handle = SecretVersion;

    fn type_token(&self) -> &'static str {
        VERSION
    }

    fn props(&self) -> Props {
        Props::new()
            .set("secret_id", &self.secret_id)
            .set("secret_string", &self.secret_string.clone().into_secret())
    }
}

handle! {
    /// A declared secret value.
    SecretVersion {
        /// The secret's ARN.
        arn: String,
        /// The current version's id.
        version_id: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct VersionInputs {
    secret_id: String,
    secret_string: String,
}

/// A Secrets Manager request token (32 to 64 characters) from an engine token, so that a
/// retried put of the same value is recognised as the same version.
fn request_token(seed: &str) -> String {
    hex::encode(Sha256::digest(seed.as_bytes()))
}

struct VersionImpl;

impl VersionImpl {
    async fn put(aws: &Aws, inputs: &VersionInputs, token: String) -> Result<Value, ProviderError> {
        let out = aws
            .secretsmanager()
            .await
            .put_secret_value()
            .secret_id(&inputs.secret_id)
            .secret_string(&inputs.secret_string)
            .client_request_token(token)
            .send()
            .await
            .op("PutSecretValue")?;
        Ok(json!({
            "arn": out.arn().unwrap_or_default(),
            "version_id": out.version_id().unwrap_or_default(),
        }))
    }
}

#[async_trait]
impl ResourceImpl for VersionImpl {
    fn type_token(&self) -> &'static str {
        VERSION
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["secret_id"]
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: VersionInputs = decode(&req.inputs)?;
        let outputs = Self::put(aws, &inputs, request_token(&req.token)).await?;
        Ok(CreateResponse {
            id: inputs.secret_id,
            outputs,
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let got = none_if_not_found(
            aws.secretsmanager()
                .await
                .get_secret_value()
                .secret_id(&req.id)
                .send()
                .await
                .op("GetSecretValue"),
        )?;
        let secret_id = req.inputs["secret_id"]
            .as_str()
            .unwrap_or(&req.id)
            .to_string();
        Ok(got.map(|g| ReadResponse {
            id: req.id.clone(),
            inputs: json!({
                "secret_id": secret_id,
                "secret_string": secret(Value::String(g.secret_string().unwrap_or_default().to_string())),
            }),
            outputs: json!({
                "arn": g.arn().unwrap_or_default(),
                "version_id": g.version_id().unwrap_or_default(),
            }),
        }))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        let secret_of =
            |r: &ReadRequest| r.inputs["secret_id"].as_str().unwrap_or(&r.id).to_string();
        let described = batch_describe(aws, batch, reqs.iter().map(secret_of)).await;
        let described = match described {
            Ok(described) => described,
            Err(e) => return failed_all(&reqs, &e),
        };
        // A version's value never changes: while the recorded version is still the current
        // one, the value is the recorded one, and no value is fetched to know it.
        let listed = reqs
            .iter()
            .filter_map(|r| {
                let secret_id = secret_of(r);
                let d = described.get(&secret_id)?.as_ref().as_ref();
                let version = r.outputs["version_id"].as_str()?;
                let current = d.and_then(|d| d.version_ids_to_stages())?.get(version)?;
                current.iter().any(|s| s == "AWSCURRENT").then(|| {
                    let read = ReadResponse {
                        id: r.id.clone(),
                        inputs: json!({
                            "secret_id": secret_id,
                            "secret_string": secret(r.inputs["secret_string"].clone()),
                        }),
                        outputs: json!({
                            "arn": d.and_then(|d| d.arn()).unwrap_or_default(),
                            "version_id": version,
                        }),
                    };
                    (r.id.clone(), read)
                })
            })
            .collect();
        let shape = |_: &ReadRequest, read: &ReadResponse| Ok(Some(read.clone()));
        batch
            .pick(reqs, Ok(Arc::new(listed)), shape, |r| self.read(aws, r))
            .await
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let new: VersionInputs = decode(&req.new_inputs)?;
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        let outputs = Self::put(aws, &new, request_token(&hex::encode(nonce))).await?;
        Ok(UpdateResponse { outputs })
    }

    async fn delete(&self, _aws: &Aws, _req: DeleteRequest) -> Result<(), ProviderError> {
        // A value lives and dies with its secret; there is nothing to delete on its own.
        Ok(())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some(id) = req.inputs["secret_id"].as_str() else {
            return Ok(None);
        };
        self.read(
            aws,
            ReadRequest {
                ctx: req.ctx,
                id: id.to_string(),
                inputs: req.inputs.clone(),
                ..Default::default()
            },
        )
        .await
    }
}
