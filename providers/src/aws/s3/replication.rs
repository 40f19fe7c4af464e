//! Bucket replication: the configuration that copies new objects of a versioned bucket to
//! versioned buckets elsewhere (cross-region replication of transaction logs).

use async_trait::async_trait;
use aws_sdk_s3::types::{
    DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination, ReplicationConfiguration,
    ReplicationRuleFilter, ReplicationRuleStatus, StorageClass,
};
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, FieldErrors, Input, LookupRequest, Props,
    ProviderError, ReadRequest, ReadResponse, ResourceArgs, UpdateRequest, UpdateResponse, Value,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::super::error::none_if_not_found;
use super::super::{Aws, ErrorContext, ResourceImpl, decode, found};
use super::built;
use super::config::BucketVersioning;

const REPLICATION: &str = "aws:s3/bucketReplication";

/// Storage classes replicas may be written in.
const STORAGE_CLASSES: &[&str] = &[
    "STANDARD",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "GLACIER_IR",
    "DEEP_ARCHIVE",
    "REDUCED_REDUNDANCY",
];

/// One replication rule: objects under a prefix are copied to a destination bucket.
#[derive(Debug, Clone)]
pub struct ReplicationRule {
    id: String,
    priority: i32,
    prefix: String,
    destination: Input<String>,
    storage_class: String,
    delete_marker_replication: bool,
}

impl ReplicationRule {
    /// A rule `id` copying every object to the bucket whose versioning is `destination`,
    /// in the STANDARD storage class. Taking the versioning handle makes the destination's
    /// versioning exist before the rule is written.
    pub fn new(id: impl Into<String>, destination: &BucketVersioning) -> Self {
        ReplicationRule {
            id: id.into(),
            priority: 0,
            prefix: String::new(),
            destination: destination.bucket_arn().into(),
            storage_class: "STANDARD".to_string(),
            delete_marker_replication: false,
        }
    }

    /// Copies only keys starting with `prefix`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Which rule wins when several match (higher wins).
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// The storage class of the replicas.
    pub fn storage_class(mut self, class: impl Into<String>) -> Self {
        self.storage_class = class.into();
        self
    }

    /// Replicates delete markers too.
    pub fn delete_marker_replication(mut self, on: bool) -> Self {
        self.delete_marker_replication = on;
        self
    }

    fn props(&self) -> Props {
        Props::new()
            .value("id", &self.id)
            .value("priority", &self.priority)
            .value("prefix", &self.prefix)
            .set("destination_bucket", &self.destination)
            .value("storage_class", &self.storage_class)
            .value("delete_marker_replication", &self.delete_marker_replication)
    }
}

/// Arguments of a bucket's replication configuration.
#[derive(Debug, Clone)]
pub struct BucketReplicationArgs {
    bucket: Input<String>,
    role: Input<String>,
    rules: Vec<ReplicationRule>,
}

impl BucketReplicationArgs {
    /// Replication from the bucket whose versioning is `source`, performed by the IAM role
    /// `role` (an ARN). Add rules with [`BucketReplicationArgs::rule`].
    pub fn new(source: &BucketVersioning, role: impl Into<Input<String>>) -> Self {
        BucketReplicationArgs {
            bucket: source.bucket().into(),
            role: role.into(),
            rules: Vec::new(),
        }
    }

    /// Adds a rule.
    pub fn rule(mut self, rule: ReplicationRule) -> Self {
        self.rules.push(rule);
        self
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct RuleInputs {
    id: String,
    priority: i32,
    prefix: String,
    destination_bucket: String,
    storage_class: String,
    delete_marker_replication: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct ReplicationInputs {
    bucket: String,
    role: String,
    rules: Vec<RuleInputs>,
}

fn rule_problems(
    ids: &[&str],
    classes: &[&str],
    priorities: &[i32],
    errors: &mut Vec<(String, String)>,
) {
    if ids.is_empty() {
        errors.push(("rules".into(), "needs at least one rule".into()));
    }
    for (i, id) in ids.iter().enumerate() {
        let field = format!("rules[{i}]");
        if id.is_empty() || id.len() > 255 {
            errors.push((
                field.clone(),
                format!("rule id `{id}` must be 1 to 255 characters"),
            ));
        }
        if ids[..i].contains(id) {
            errors.push((field.clone(), format!("rule id `{id}` appears twice")));
        }
        if !STORAGE_CLASSES.contains(&classes[i]) {
            errors.push((
                field.clone(),
                format!(
                    "`{}` is not a storage class ({})",
                    classes[i],
                    STORAGE_CLASSES.join(", ")
                ),
            ));
        }
        if priorities[..i].contains(&priorities[i]) {
            errors.push((
                field,
                format!("priority {} is used by an earlier rule", priorities[i]),
            ));
        }
    }
}

impl ResourceArgs for BucketReplicationArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&["bucket"], &["role", "rules"])
    }

    type Handle = BucketReplication;

    fn type_token(&self) -> &'static str {
        REPLICATION
    }

    fn props(&self) -> Props {
        Props::new()
            .set("bucket", &self.bucket)
            .set("role", &self.role)
            .set(
                "rules",
                self.rules
                    .iter()
                    .map(ReplicationRule::props)
                    .collect::<Vec<_>>(),
            )
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("role", &self.role, |r| {
            if r.starts_with("arn:") && r.contains(":role/") {
                Ok(())
            } else {
                Err(format!("`{r}` is not an IAM role ARN"))
            }
        });
        let mut problems = Vec::new();
        let ids: Vec<&str> = self.rules.iter().map(|r| r.id.as_str()).collect();
        let classes: Vec<&str> = self
            .rules
            .iter()
            .map(|r| r.storage_class.as_str())
            .collect();
        let priorities: Vec<i32> = self.rules.iter().map(|r| r.priority).collect();
        rule_problems(&ids, &classes, &priorities, &mut problems);
        for (field, message) in problems {
            errors.add(field, message);
        }
    }
}

handle! {
    /// A bucket's declared replication configuration.
    BucketReplication {
        /// The source bucket's name.
        bucket: String,
    }
}

pub(super) struct ReplicationImpl;

async fn put_replication(aws: &Aws, inputs: &ReplicationInputs) -> Result<(), ProviderError> {
    let op = "PutBucketReplication";
    let mut rules = Vec::new();
    for rule in &inputs.rules {
        let destination = built(
            Destination::builder()
                .bucket(&rule.destination_bucket)
                .storage_class(StorageClass::from(rule.storage_class.as_str()))
                .build(),
            op,
        )?;
        rules.push(built(
            aws_sdk_s3::types::ReplicationRule::builder()
                .id(&rule.id)
                .priority(rule.priority)
                .status(ReplicationRuleStatus::Enabled)
                .filter(
                    ReplicationRuleFilter::builder()
                        .prefix(&rule.prefix)
                        .build(),
                )
                .delete_marker_replication(
                    DeleteMarkerReplication::builder()
                        .status(if rule.delete_marker_replication {
                            DeleteMarkerReplicationStatus::Enabled
                        } else {
                            DeleteMarkerReplicationStatus::Disabled
                        })
                        .build(),
                )
                .destination(destination)
                .build(),
            op,
        )?);
    }
    aws.s3()
        .await
        .put_bucket_replication()
        .bucket(&inputs.bucket)
        .replication_configuration(built(
            ReplicationConfiguration::builder()
                .role(&inputs.role)
                .set_rules(Some(rules))
                .build(),
            op,
        )?)
        .send()
        .await
        .op(op)?;
    Ok(())
}

#[async_trait]
impl ResourceImpl for ReplicationImpl {
    fn type_token(&self) -> &'static str {
        REPLICATION
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["bucket"]
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        let Ok(rules) = serde_json::from_value::<Vec<RuleInputs>>(inputs["rules"].clone()) else {
            return Vec::new();
        };
        let mut problems = Vec::new();
        let ids: Vec<&str> = rules.iter().map(|r| r.id.as_str()).collect();
        let classes: Vec<&str> = rules.iter().map(|r| r.storage_class.as_str()).collect();
        let priorities: Vec<i32> = rules.iter().map(|r| r.priority).collect();
        rule_problems(&ids, &classes, &priorities, &mut problems);
        problems
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: ReplicationInputs = decode(&req.inputs)?;
        put_replication(aws, &inputs).await?;
        Ok(CreateResponse {
            outputs: json!({ "bucket": inputs.bucket }),
            id: inputs.bucket,
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let result = aws
            .s3()
            .await
            .get_bucket_replication()
            .bucket(&req.id)
            .send()
            .await
            .op("GetBucketReplication");
        let Some(out) = none_if_not_found(result)? else {
            return Ok(None);
        };
        let Some(config) = out.replication_configuration() else {
            return Ok(None);
        };
        let rules = config
            .rules()
            .iter()
            .map(|r| {
                #[allow(deprecated)]
                let prefix = r
                    .filter()
                    .and_then(|f| f.prefix())
                    .or(r.prefix())
                    .unwrap_or_default()
                    .to_string();
                RuleInputs {
                    id: r.id().unwrap_or_default().to_string(),
                    priority: r.priority().unwrap_or_default(),
                    prefix,
                    destination_bucket: r
                        .destination()
                        .map(|d| d.bucket().to_string())
                        .unwrap_or_default(),
                    storage_class: r
                        .destination()
                        .and_then(|d| d.storage_class())
                        .map(|c| c.as_str().to_string())
                        .unwrap_or_else(|| "STANDARD".to_string()),
                    delete_marker_replication: r
                        .delete_marker_replication()
                        .and_then(|d| d.status())
                        == Some(&DeleteMarkerReplicationStatus::Enabled),
                }
            })
            .collect();
        let inputs = ReplicationInputs {
            bucket: req.id.clone(),
            role: config.role().to_string(),
            rules,
        };
        Ok(found(&req.id, Some((inputs, json!({ "bucket": req.id })))))
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        put_replication(aws, &decode(&req.new_inputs)?).await?;
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let result = aws
            .s3()
            .await
            .delete_bucket_replication()
            .bucket(&req.id)
            .send()
            .await
            .op("DeleteBucketReplication");
        none_if_not_found(result).map(|_| ())
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        super::config::lookup_by_bucket(self, aws, req).await
    }
}
