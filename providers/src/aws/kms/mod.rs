//! KMS: customer managed keys and their aliases.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_kms::types::{KeyMetadata, KeyState, Tag};
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, FieldErrors, Input, LookupRequest, Props,
    ProviderError, ReadRequest, ReadResponse, ResourceArgs, UpdateRequest, UpdateResponse, Value,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::batch::{ReadBatch, ReadResult};
use super::error::none_if_not_found;
use super::idempotent::{Existing, create_or_adopt, is_not_found, update_tags};
use super::{
    Aws, DataSourceImpl, ErrorContext, ResourceImpl, TAG_TOKEN, create_once, decode, found,
    to_json, vanished,
};

const KEY: &str = "aws:kms/key";
const ALIAS: &str = "aws:kms/alias";

/// The KMS resource types.
pub(crate) const RESOURCES: &[&dyn ResourceImpl] = &[&KeyImpl, &AliasImpl];

/// KMS has no data sources here.
pub(crate) const DATA_SOURCES: &[&dyn DataSourceImpl] = &[];

/// Arguments of a symmetric encryption key. Deleting it schedules the deletion after
/// `deletion_window_in_days` (7 to 30), during which it can still be recovered.
#[derive(Debug, Clone)]
pub struct KeyArgs {
    description: Input<String>,
    deletion_window_in_days: Input<i32>,
    enable_key_rotation: Input<bool>,
    multi_region: Input<bool>,
    tags: BTreeMap<String, Input<String>>,
}

impl KeyArgs {
    /// A key described as `description`, rotated yearly, deleted after 30 days' notice.
    pub fn new(description: impl Into<Input<String>>) -> Self {
        KeyArgs {
            description: description.into(),
            deletion_window_in_days: Input::Value(30),
            enable_key_rotation: Input::Value(true),
            multi_region: Input::Value(false),
            tags: BTreeMap::new(),
        }
    }

    /// Days between a delete and the key's destruction, 7 to 30.
    pub fn deletion_window_in_days(mut self, days: impl Into<Input<i32>>) -> Self {
        self.deletion_window_in_days = days.into();
        self
    }

    /// Whether AWS rotates the key material yearly.
    pub fn enable_key_rotation(mut self, on: impl Into<Input<bool>>) -> Self {
        self.enable_key_rotation = on.into();
        self
    }

    /// Whether the key can be replicated to other regions (fixed at creation).
    pub fn multi_region(mut self, on: impl Into<Input<bool>>) -> Self {
        self.multi_region = on.into();
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

impl ResourceArgs for KeyArgs {
    type Handle = Key;

    fn type_token(&self) -> &'static str {
        KEY
    }

    fn props(&self) -> Props {
        Props::new()
            .set("description", &self.description)
            .set("deletion_window_in_days", &self.deletion_window_in_days)
            .set("enable_key_rotation", &self.enable_key_rotation)
            .set("multi_region", &self.multi_region)
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check(
            "deletion_window_in_days",
            &self.deletion_window_in_days,
            |d| check_window(*d),
        );
        errors.check("description", &self.description, |d| {
            crate::validate::length(d, 0, 8192)
        });
    }
}

fn check_window(days: i32) -> Result<(), String> {
    if (7..=30).contains(&days) {
        Ok(())
    } else {
        Err(format!("{days} is not within 7..30 days"))
    }
}

handle! {
    /// A declared KMS key.
    Key {
        /// The key id (a UUID, or `mrk-...` for multi-region keys).
        key_id: String,
        /// The key's ARN.
        arn: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct KeyInputs {
    description: String,
    deletion_window_in_days: i32,
    enable_key_rotation: bool,
    multi_region: bool,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// What a key exposes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyOutputs {
    /// The key id.
    pub key_id: String,
    /// The ARN.
    pub arn: String,
}

fn kms_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .filter_map(|(k, v)| Tag::builder().tag_key(k).tag_value(v).build().ok())
        .collect()
}

struct KeyImpl;

#[async_trait]
impl ResourceImpl for KeyImpl {
    fn type_token(&self) -> &'static str {
        KEY
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["multi_region"]
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        let mut invalid = Vec::new();
        if let Some(d) = inputs["deletion_window_in_days"].as_i64()
            && let Err(e) = check_window(d as i32)
        {
            invalid.push(("deletion_window_in_days".to_string(), e));
        }
        invalid
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: KeyInputs = decode(&req.inputs)?;
        let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
        let once = aws.kms_once().await;
        // CreateKey is not idempotent: after a lost answer, find the key by its token tag.
        let (id, answer) = create_once(
            || async {
                let out = once
                    .create_key()
                    .description(&inputs.description)
                    .multi_region(inputs.multi_region)
                    .set_tags(Some(kms_tags(&tags)))
                    .send()
                    .await
                    .op("CreateKey")?;
                let meta = out.key_metadata();
                let key_id = meta.map(|m| m.key_id().to_string()).unwrap_or_default();
                let outputs = meta.and_then(|m| m.arn()).map(|arn| KeyOutputs {
                    key_id: key_id.clone(),
                    arn: arn.to_string(),
                });
                Ok((key_id, outputs))
            },
            || async { Ok(find_by_token(aws, &req.token).await?.map(|id| (id, None))) },
        )
        .await?;
        if inputs.enable_key_rotation {
            set_rotation(aws, &id, true).await?;
        }
        // The answer's metadata holds the id and ARN; only an adopted key is read.
        let outputs = match answer {
            Some(outputs) => outputs,
            None => {
                describe(aws, &id)
                    .await?
                    .ok_or_else(|| vanished("DescribeKey", "key", &id))?
                    .1
            }
        };
        Ok(CreateResponse {
            id,
            outputs: to_json(&outputs),
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        Ok(with_window(&req, describe(aws, &req.id).await?))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        // A key that one of the refresh's aliases names is described through the alias:
        // the alias's read needs that very call.
        let by_alias = aliased(aws, batch).await;
        batch
            .each(reqs, |r| {
                let meta = by_alias
                    .values()
                    .filter_map(|m| m.as_ref().as_ref())
                    .find(|m| m.key_id() == r.id)
                    .cloned();
                async move {
                    let described = match meta {
                        Some(meta) => describe_from(aws, &r.id, meta).await?,
                        None => describe(aws, &r.id).await?,
                    };
                    Ok(with_window(&r, described))
                }
            })
            .await
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: KeyInputs = decode(&req.old_inputs)?;
        let new: KeyInputs = decode(&req.new_inputs)?;
        let client = aws.kms().await;
        if old.description != new.description {
            client
                .update_key_description()
                .key_id(&req.id)
                .description(&new.description)
                .send()
                .await
                .op("UpdateKeyDescription")?;
        }
        if old.enable_key_rotation != new.enable_key_rotation {
            set_rotation(aws, &req.id, new.enable_key_rotation).await?;
        }
        let client = &client;
        let id = req.id.as_str();
        update_tags(
            aws,
            &req.ctx,
            &old.tags,
            &new.tags,
            |keys| async move {
                client
                    .untag_resource()
                    .key_id(id)
                    .set_tag_keys(Some(keys))
                    .send()
                    .await
                    .op("UntagResource")
                    .map(|_| ())
            },
            |tags| async move {
                client
                    .tag_resource()
                    .key_id(id)
                    .set_tags(Some(kms_tags(&tags)))
                    .send()
                    .await
                    .op("TagResource")
                    .map(|_| ())
            },
        )
        .await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        if describe(aws, &req.id).await?.is_none() {
            return Ok(());
        }
        let window = req.inputs["deletion_window_in_days"].as_i64().unwrap_or(30) as i32;
        let result = aws
            .kms()
            .await
            .schedule_key_deletion()
            .key_id(&req.id)
            .pending_window_in_days(window)
            .send()
            .await
            .op("ScheduleKeyDeletion");
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // A retry after a lost answer meets the key already pending deletion.
            Err(_) if describe(aws, &req.id).await?.is_none() => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some(id) = find_by_token(aws, &req.token).await? else {
            return Ok(None);
        };
        self.read(
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
}

async fn set_rotation(aws: &Aws, id: &str, on: bool) -> Result<(), ProviderError> {
    let client = aws.kms().await;
    if on {
        client
            .enable_key_rotation()
            .key_id(id)
            .send()
            .await
            .op("EnableKeyRotation")?;
    } else {
        client
            .disable_key_rotation()
            .key_id(id)
            .send()
            .await
            .op("DisableKeyRotation")?;
    }
    Ok(())
}

async fn tags_of(aws: &Aws, id: &str) -> Result<BTreeMap<String, String>, ProviderError> {
    let out = aws
        .kms()
        .await
        .list_resource_tags()
        .key_id(id)
        .send()
        .await
        .op("ListResourceTags")?;
    Ok(out
        .tags()
        .iter()
        .map(|t| (t.tag_key().to_string(), t.tag_value().to_string()))
        .collect())
}

/// The live key tagged with `token`, scanning the account's keys.
async fn find_by_token(aws: &Aws, token: &str) -> Result<Option<String>, ProviderError> {
    let client = aws.kms().await;
    let mut marker = None;
    loop {
        let page = client
            .list_keys()
            .set_marker(marker)
            .send()
            .await
            .op("ListKeys")?;
        for key in page.keys() {
            let Some(id) = key.key_id() else { continue };
            if tags_of(aws, id).await?.get(TAG_TOKEN).map(String::as_str) == Some(token)
                && describe(aws, id).await?.is_some()
            {
                return Ok(Some(id.to_string()));
            }
        }
        match page.next_marker() {
            Some(next) if page.truncated() => marker = Some(next.to_string()),
            _ => return Ok(None),
        }
    }
}

/// The key's metadata by its id or an alias name; `None` when no such key or alias exists.
async fn metadata(aws: &Aws, id: &str) -> Result<Option<KeyMetadata>, ProviderError> {
    let out = none_if_not_found(
        aws.kms()
            .await
            .describe_key()
            .key_id(id)
            .send()
            .await
            .op("DescribeKey"),
    )?;
    Ok(out.and_then(|o| o.key_metadata().cloned()))
}

async fn describe(aws: &Aws, id: &str) -> Result<Option<(KeyInputs, KeyOutputs)>, ProviderError> {
    match metadata(aws, id).await? {
        Some(meta) => describe_from(aws, id, meta).await,
        None => Ok(None),
    }
}

/// The key's record from its metadata `meta` (one more call: its rotation).
async fn describe_from(
    aws: &Aws,
    id: &str,
    meta: KeyMetadata,
) -> Result<Option<(KeyInputs, KeyOutputs)>, ProviderError> {
    let client = aws.kms().await;
    if matches!(
        meta.key_state(),
        Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion)
    ) {
        return Ok(None);
    }
    let rotation = client
        .get_key_rotation_status()
        .key_id(id)
        .send()
        .await
        .op("GetKeyRotationStatus")?
        .key_rotation_enabled();
    Ok(Some((
        KeyInputs {
            description: meta.description().unwrap_or_default().to_string(),
            deletion_window_in_days: 30,
            enable_key_rotation: rotation,
            multi_region: meta.multi_region().unwrap_or(false),
            tags: aws.own_tags(
                aws.tags_or(meta.arn().unwrap_or_default(), || tags_of(aws, id))
                    .await?,
            ),
        },
        KeyOutputs {
            key_id: meta.key_id().to_string(),
            arn: meta.arn().unwrap_or_default().to_string(),
        },
    )))
}

/// The read's answer for a key described as `described`, with the deletion window the
/// record says: it is only known to us, and applies when the key is deleted.
fn with_window(
    req: &ReadRequest,
    described: Option<(KeyInputs, KeyOutputs)>,
) -> Option<ReadResponse> {
    let described = described.map(|(mut inputs, outputs)| {
        inputs.deletion_window_in_days =
            req.inputs["deletion_window_in_days"].as_i64().unwrap_or(30) as i32;
        (inputs, outputs)
    });
    found(&req.id, described)
}

/// `DescribeKey` by alias name for each of the refresh's aliases whose recorded key is
/// also read in it (one call serves the alias and its key), shared by the two types;
/// `None` for an alias that does not exist.
async fn aliased(aws: &Aws, batch: &ReadBatch) -> BTreeMap<String, Arc<Option<KeyMetadata>>> {
    let keys: Vec<&str> = batch.of_type(KEY).map(|r| r.id.as_str()).collect();
    let names = batch.of_type(ALIAS).filter_map(|r| {
        let target = r.inputs["target_key_id"].as_str()?;
        keys.contains(&target).then(|| r.id.clone())
    });
    batch
        .shared_each("kms:describe-key", names, |name| async move {
            metadata(aws, &name).await
        })
        .await
        .unwrap_or_default()
}

/// Arguments of an alias: a friendly name (`alias/...`) for a key.
#[derive(Debug, Clone)]
pub struct AliasArgs {
    name: Input<String>,
    target_key_id: Input<String>,
}

impl AliasArgs {
    /// The alias `name` (starting with `alias/`) for the key `target_key_id` (its id).
    pub fn new(name: impl Into<Input<String>>, target_key_id: impl Into<Input<String>>) -> Self {
        AliasArgs {
            name: name.into(),
            target_key_id: target_key_id.into(),
        }
    }
}

/// Alias names: `alias/` then 1 to 250 letters, digits, `/`, `_` or `-`, never under
/// `alias/aws/` (reserved for AWS managed keys).
fn check_alias(name: &str) -> Result<(), String> {
    let Some(rest) = name.strip_prefix("alias/") else {
        return Err(format!("`{name}` must start with `alias/`"));
    };
    if name.starts_with("alias/aws/") {
        return Err(format!("`{name}`: `alias/aws/` is reserved for AWS"));
    }
    crate::validate::length(rest, 1, 250)?;
    match rest
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "/_-".contains(*c)))
    {
        Some(c) => Err(format!(
            "`{name}` has `{c}`; aliases allow letters, digits and /_-"
        )),
        None => Ok(()),
    }
}

impl ResourceArgs for AliasArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["target_key_id"], &[])
    }

    type Handle = Alias;

    fn type_token(&self) -> &'static str {
        ALIAS
    }

    fn props(&self) -> Props {
        Props::new()
            .set("name", &self.name)
            .set("target_key_id", &self.target_key_id)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("name", &self.name, |n| check_alias(n));
    }
}

handle! {
    /// A declared alias.
    Alias {
        /// The alias name.
        name: String,
        /// The alias ARN.
        arn: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct AliasInputs {
    name: String,
    target_key_id: String,
}

struct AliasImpl;

#[async_trait]
impl ResourceImpl for AliasImpl {
    fn type_token(&self) -> &'static str {
        ALIAS
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["name"]
    }

    fn delete_before_replace(&self) -> bool {
        true
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        match inputs["name"].as_str().map(check_alias) {
            Some(Err(e)) => vec![("name".to_string(), e)],
            _ => Vec::new(),
        }
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: AliasInputs = decode(&req.inputs)?;
        let made = async {
            aws.kms()
                .await
                .create_alias()
                .alias_name(&inputs.name)
                .target_key_id(&inputs.target_key_id)
                .send()
                .await
                .op("CreateAlias")
                .map(|_| ())
        };
        // A retry after a lost answer finds its own alias in place: an alias of this name
        // for this key is ours, one for another key is not.
        create_or_adopt(&format!("alias `{}`", inputs.name), made, || async {
            Ok(match describe_alias(aws, &inputs.name).await? {
                Some((live, _)) if same_key(&live.target_key_id, &inputs.target_key_id) => {
                    Existing::Ours(())
                }
                Some((live, _)) => {
                    Existing::NotOurs(format!("it names key {}", live.target_key_id))
                }
                None => Existing::Gone,
            })
        })
        .await?;
        // An alias's ARN is made of its region, account and name: no read back.
        let outputs = json!({
            "name": inputs.name,
            "arn": format!(
                "arn:aws:kms:{}:{}:{}",
                aws.region_name(),
                aws.account_id().await?,
                inputs.name
            ),
        });
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
        Ok(found(&req.id, describe_alias(aws, &req.id).await?))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        // An alias whose key the refresh also reads is described by name: the answer
        // says whether it exists and which key it names.
        let by_alias = aliased(aws, batch).await;
        let shape = |r: &ReadRequest, meta: &Arc<Option<KeyMetadata>>| {
            Ok(found(
                &r.id,
                meta.as_ref().as_ref().map(|m| alias_of(&r.id, m)),
            ))
        };
        batch
            .pick(reqs, Ok(Arc::new(by_alias)), shape, |r| self.read(aws, r))
            .await
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let new: AliasInputs = decode(&req.new_inputs)?;
        aws.kms()
            .await
            .update_alias()
            .alias_name(&req.id)
            .target_key_id(&new.target_key_id)
            .send()
            .await
            .op("UpdateAlias")?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let result = aws
            .kms()
            .await
            .delete_alias()
            .alias_name(&req.id)
            .send()
            .await
            .op("DeleteAlias");
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
        Ok(found(name, describe_alias(aws, name).await?))
    }
}

/// Whether two key references (ids or ARNs) name the same key.
fn same_key(a: &str, b: &str) -> bool {
    let id = |k: &str| k.rsplit_once("key/").map_or(k, |(_, id)| id).to_string();
    id(a) == id(b)
}

/// The record of the alias `name` that names the key `meta` describes. The alias's ARN
/// is the key's with the alias name in place of `key/<id>`.
fn alias_of(name: &str, meta: &KeyMetadata) -> (AliasInputs, Value) {
    let key_arn = meta.arn().unwrap_or_default();
    let arn = match key_arn.rsplit_once(':') {
        Some((prefix, _)) => format!("{prefix}:{name}"),
        None => String::new(),
    };
    (
        AliasInputs {
            name: name.to_string(),
            target_key_id: meta.key_id().to_string(),
        },
        json!({ "name": name, "arn": arn }),
    )
}

async fn describe_alias(
    aws: &Aws,
    name: &str,
) -> Result<Option<(AliasInputs, Value)>, ProviderError> {
    let client = aws.kms().await;
    let mut marker = None;
    loop {
        let page = client
            .list_aliases()
            .set_marker(marker)
            .send()
            .await
            .op("ListAliases")?;
        if let Some(a) = page.aliases().iter().find(|a| a.alias_name() == Some(name)) {
            return Ok(Some((
                AliasInputs {
                    name: name.to_string(),
                    target_key_id: a.target_key_id().unwrap_or_default().to_string(),
                },
                json!({ "name": name, "arn": a.alias_arn().unwrap_or_default() }),
            )));
        }
        match page.next_marker() {
            Some(next) if page.truncated() => marker = Some(next.to_string()),
            _ => return Ok(None),
        }
    }
}
