//! S3: buckets and their configuration, one resource type per concern as in Terraform's
//! AWS provider 4+ (versioning, encryption, public access block, lifecycle, replication),
//! so that each can change without touching the others.
//!
//! Replication takes [`BucketVersioning`] handles for both buckets rather than bucket
//! names: versioning must be enabled on both sides before S3 accepts a replication
//! configuration, and taking the handles makes that order part of the graph.

mod config;
mod replication;

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier, Tag, Tagging,
};
use aws_smithy_types::error::operation::BuildError;
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, ErrorKind, FieldErrors, Input, LookupRequest,
    Props, ProviderError, ReadRequest, ReadResponse, ResourceArgs, UpdateRequest, UpdateResponse,
    Value,
};
use serde::{Deserialize, Serialize};

use super::batch::{ReadBatch, ReadResult};
use super::error::none_if_not_found;
use super::idempotent::{Existing, create_or_adopt, done_if_not_found, owned};
use super::{Aws, DataSourceImpl, ErrorContext, ResourceImpl, TAG_NAME, TAG_STACK, decode, found};

pub use config::{
    BucketEncryption, BucketEncryptionArgs, BucketLifecycle, BucketLifecycleArgs,
    BucketPublicAccessBlock, BucketPublicAccessBlockArgs, BucketVersioning, BucketVersioningArgs,
    LifecycleRule,
};
pub use replication::{BucketReplication, BucketReplicationArgs, ReplicationRule};

const BUCKET: &str = "aws:s3/bucket";

/// The S3 resource types.
pub(crate) const RESOURCES: &[&dyn ResourceImpl] = &[
    &BucketImpl,
    &config::VersioningImpl,
    &config::EncryptionImpl,
    &config::PublicAccessBlockImpl,
    &config::LifecycleImpl,
    &replication::ReplicationImpl,
];

/// S3 has no data sources here.
pub(crate) const DATA_SOURCES: &[&dyn DataSourceImpl] = &[];

/// Arguments of a bucket, created in its provider's region.
#[derive(Debug, Clone)]
pub struct BucketArgs {
    bucket: Input<String>,
    force_destroy: bool,
    tags: BTreeMap<String, Input<String>>,
}

impl BucketArgs {
    /// A bucket named `bucket` (globally unique, see [`check_bucket_name`]).
    pub fn new(bucket: impl Into<Input<String>>) -> Self {
        BucketArgs {
            bucket: bucket.into(),
            force_destroy: false,
            tags: BTreeMap::new(),
        }
    }

    /// Deletes every object version and delete marker when the bucket is deleted. Without
    /// it, deleting a bucket that still holds objects fails and names the bucket, which is
    /// the safe default for transaction logs.
    pub fn force_destroy(mut self, on: bool) -> Self {
        self.force_destroy = on;
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

/// S3 bucket naming rules: 3 to 63 characters of lowercase letters, digits, `.` and `-`,
/// starting and ending with a letter or digit, no `..`, not shaped like an IP address,
/// and none of the prefixes and suffixes S3 reserves.
pub fn check_bucket_name(name: &str) -> Result<(), String> {
    let mut problems = Vec::new();
    if !(3..=63).contains(&name.len()) {
        problems.push(format!("is {} characters long (3..63 allowed)", name.len()));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        problems.push(format!(
            "has `{c}` (only lowercase letters, digits, `.` and `-`)"
        ));
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !name.is_empty() && (!edge_ok(name.chars().next()) || !edge_ok(name.chars().last())) {
        problems.push("must start and end with a letter or digit".to_string());
    }
    if name.contains("..") {
        problems.push("has `..`".to_string());
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        problems.push("is formatted as an IP address".to_string());
    }
    for prefix in ["xn--", "sthree-", "amzn-s3-demo-"] {
        if name.starts_with(prefix) {
            problems.push(format!("starts with the reserved prefix `{prefix}`"));
        }
    }
    for suffix in ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"] {
        if name.ends_with(suffix) {
            problems.push(format!("ends with the reserved suffix `{suffix}`"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("bucket name `{name}` {}", problems.join("; ")))
    }
}

impl ResourceArgs for BucketArgs {
    type Handle = Bucket;

    fn type_token(&self) -> &'static str {
        BUCKET
    }

    fn props(&self) -> Props {
        Props::new()
            .set("bucket", &self.bucket)
            .value("force_destroy", &self.force_destroy)
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        errors.check("bucket", &self.bucket, |n| check_bucket_name(n));
    }
}

handle! {
    /// A declared bucket.
    Bucket {
        /// The bucket's name (also its id).
        bucket: String,
        /// Its ARN, `arn:aws:s3:::name`.
        arn: String,
        /// The region it lives in.
        region: String,
        /// The regional endpoint host, `name.s3.region.amazonaws.com`.
        bucket_regional_domain_name: String,
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct BucketInputs {
    bucket: String,
    #[serde(default)]
    force_destroy: bool,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct BucketOutputs {
    bucket: String,
    arn: String,
    region: String,
    bucket_regional_domain_name: String,
}

impl BucketOutputs {
    fn new(bucket: &str, region: &str) -> BucketOutputs {
        BucketOutputs {
            bucket: bucket.to_string(),
            arn: format!("arn:aws:s3:::{bucket}"),
            region: region.to_string(),
            bucket_regional_domain_name: format!("{bucket}.s3.{region}.amazonaws.com"),
        }
    }
}

/// Turns an SDK builder's missing-field error into a provider error naming the operation.
pub(crate) fn built<T>(result: Result<T, BuildError>, operation: &str) -> Result<T, ProviderError> {
    result.map_err(|e| ProviderError::new(ErrorKind::Validation, operation, e.to_string()))
}

fn s3_tags(tags: &BTreeMap<String, String>, operation: &str) -> Result<Tagging, ProviderError> {
    let set = tags
        .iter()
        .map(|(k, v)| built(Tag::builder().key(k).value(v).build(), operation))
        .collect::<Result<Vec<_>, _>>()?;
    built(Tagging::builder().set_tag_set(Some(set)).build(), operation)
}

async fn put_tags(
    aws: &Aws,
    bucket: &str,
    tags: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    aws.s3()
        .await
        .put_bucket_tagging()
        .bucket(bucket)
        .tagging(s3_tags(tags, "PutBucketTagging")?)
        .send()
        .await
        .op("PutBucketTagging")?;
    Ok(())
}

async fn bucket_tags(aws: &Aws, bucket: &str) -> Result<BTreeMap<String, String>, ProviderError> {
    let result = aws
        .s3()
        .await
        .get_bucket_tagging()
        .bucket(bucket)
        .send()
        .await
        .op("GetBucketTagging");
    match result {
        Ok(out) => Ok(out
            .tag_set()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect()),
        // A bucket without tags answers NoSuchTagSet.
        Err(e) if e.code.as_deref() == Some("NoSuchTagSet") => Ok(BTreeMap::new()),
        Err(e) => Err(e),
    }
}

/// Whether the bucket exists (and is reachable with these credentials).
pub(crate) async fn bucket_exists(aws: &Aws, bucket: &str) -> Result<bool, ProviderError> {
    let result = aws
        .s3()
        .await
        .head_bucket()
        .bucket(bucket)
        .send()
        .await
        .op("HeadBucket");
    Ok(none_if_not_found(result)?.is_some())
}

struct BucketImpl;

#[async_trait]
impl ResourceImpl for BucketImpl {
    fn type_token(&self) -> &'static str {
        BUCKET
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["bucket"]
    }

    fn delete_before_replace(&self) -> bool {
        // Bucket names are global: a replacement under the same name must go first.
        true
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        match inputs["bucket"].as_str().map(check_bucket_name) {
            Some(Err(e)) => vec![("bucket".into(), e)],
            _ => Vec::new(),
        }
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        let inputs: BucketInputs = decode(&req.inputs)?;
        let region = aws.region_name().to_string();
        let mut call = aws.s3().await.create_bucket().bucket(&inputs.bucket);
        if region != "us-east-1" {
            call = call.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region.as_str()))
                    .build(),
            );
        }
        let made = async { call.send().await.op("CreateBucket").map(|_| ()) };
        // A retried create (or a run after a lost answer) finds the bucket it made: adopt
        // it when its tags say it is this resource, or when it has no tags yet (the lost
        // create made it in this account under this deterministic name and never got to
        // tag it); never a bucket tagged as something else.
        let what = format!("bucket `{}`", inputs.bucket);
        create_or_adopt(&what, made, || async {
            let tags = bucket_tags(aws, &inputs.bucket).await?;
            if tags.is_empty() {
                return Ok(Existing::Ours(()));
            }
            Ok(match owned(&tags, &req.ctx, Some(&req.token)) {
                Ok(()) => Existing::Ours(()),
                Err(why) => Existing::NotOurs(why),
            })
        })
        .await?;
        let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
        put_tags(aws, &inputs.bucket, &tags).await?;
        Ok(CreateResponse {
            id: inputs.bucket.clone(),
            outputs: super::to_json(&BucketOutputs::new(&inputs.bucket, &region)),
        })
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let force_destroy = req.inputs["force_destroy"].as_bool().unwrap_or(false);
        Ok(found(&req.id, describe(aws, &req.id, force_destroy).await?))
    }

    async fn read_many(
        &self,
        aws: &Aws,
        batch: &ReadBatch,
        reqs: Vec<ReadRequest>,
    ) -> Vec<ReadResult> {
        // A bucket whose versioning the refresh reads too is known to exist (and to be in
        // this provider's region, whose endpoint answered) from that one call.
        let versioned = config::versioned(aws, batch).await;
        batch
            .each(reqs, |r| {
                let answer = versioned.get(&r.id).cloned();
                let force_destroy = r.inputs["force_destroy"].as_bool().unwrap_or(false);
                let here = r.outputs["region"].as_str() == Some(aws.region_name());
                async move {
                    match answer {
                        Some(config::Versioning::Gone) => Ok(None),
                        Some(_) if here => {
                            let record = record(aws, &r.id, force_destroy, aws.region_name());
                            Ok(found(&r.id, Some(record.await?)))
                        }
                        _ => self.read(aws, r).await,
                    }
                }
            })
            .await
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        let old: BucketInputs = decode(&req.old_inputs)?;
        let new: BucketInputs = decode(&req.new_inputs)?;
        if old.tags != new.tags {
            let mut tags = aws.tags_for(&req.ctx, &new.tags, None);
            // Keep the creation token so a later lookup still recognises the bucket.
            if let Some(token) = bucket_tags(aws, &req.id).await?.remove(super::TAG_TOKEN) {
                tags.insert(super::TAG_TOKEN.to_string(), token);
            }
            put_tags(aws, &req.id, &tags).await?;
        }
        // `force_destroy` only changes what delete does.
        Ok(UpdateResponse {
            outputs: req.old_outputs,
        })
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        let inputs: BucketInputs = decode(&req.inputs)?;
        if inputs.force_destroy {
            empty_bucket(aws, &req.id).await?;
        }
        let result = aws
            .s3()
            .await
            .delete_bucket()
            .bucket(&req.id)
            .send()
            .await
            .op("DeleteBucket");
        match result {
            Err(e) if e.code.as_deref() == Some("BucketNotEmpty") => Err(ProviderError::new(
                ErrorKind::Service,
                "DeleteBucket",
                format!(
                    "bucket `{}` still holds objects; empty it first or set force_destroy",
                    req.id
                ),
            )),
            other => none_if_not_found(other).map(|_| ()),
        }
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some(bucket) = req.inputs["bucket"].as_str() else {
            return Ok(None);
        };
        if !bucket_exists(aws, bucket).await? {
            return Ok(None);
        }
        let tags = bucket_tags(aws, bucket).await?;
        if tags.get(TAG_STACK) != Some(&req.ctx.stack) || tags.get(TAG_NAME) != Some(&req.ctx.name)
        {
            return Ok(None);
        }
        let force_destroy = req.inputs["force_destroy"].as_bool().unwrap_or(false);
        Ok(found(bucket, describe(aws, bucket, force_destroy).await?))
    }
}

async fn describe(
    aws: &Aws,
    bucket: &str,
    force_destroy: bool,
) -> Result<Option<(BucketInputs, BucketOutputs)>, ProviderError> {
    // HeadBucket says whether the bucket exists and, in its answer, where.
    let head = none_if_not_found(
        aws.s3()
            .await
            .head_bucket()
            .bucket(bucket)
            .send()
            .await
            .op("HeadBucket"),
    )?;
    let Some(head) = head else {
        return Ok(None);
    };
    let region = match head.bucket_region().filter(|r| !r.is_empty()) {
        Some(region) => region.to_string(),
        None => {
            let location = aws
                .s3()
                .await
                .get_bucket_location()
                .bucket(bucket)
                .send()
                .await
                .op("GetBucketLocation")?;
            // S3 reports us-east-1 as an empty location constraint.
            location
                .location_constraint()
                .map(|c| c.as_str().to_string())
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "us-east-1".to_string())
        }
    };
    Ok(Some(record(aws, bucket, force_destroy, &region).await?))
}

/// The record of `bucket`, known to exist in `region`: one more call for its tags unless
/// the refresh's tagging listing agrees with the record.
async fn record(
    aws: &Aws,
    bucket: &str,
    force_destroy: bool,
    region: &str,
) -> Result<(BucketInputs, BucketOutputs), ProviderError> {
    let arn = format!("arn:aws:s3:::{bucket}");
    let tags = aws.tags_or(&arn, || bucket_tags(aws, bucket)).await?;
    Ok((
        BucketInputs {
            bucket: bucket.to_string(),
            force_destroy,
            tags: aws.own_tags(tags),
        },
        BucketOutputs::new(bucket, region),
    ))
}

/// Deletes every object version and delete marker, a page at a time.
async fn empty_bucket(aws: &Aws, bucket: &str) -> Result<(), ProviderError> {
    let client = aws.s3().await;
    loop {
        let page = client
            .list_object_versions()
            .bucket(bucket)
            .send()
            .await
            .op("ListObjectVersions");
        let Some(page) = none_if_not_found(page)? else {
            return Ok(());
        };
        let mut ids = Vec::new();
        for (key, version) in page
            .versions()
            .iter()
            .map(|v| (v.key(), v.version_id()))
            .chain(
                page.delete_markers()
                    .iter()
                    .map(|m| (m.key(), m.version_id())),
            )
        {
            let Some(key) = key else { continue };
            ids.push(built(
                ObjectIdentifier::builder()
                    .key(key)
                    .set_version_id(version.map(str::to_string))
                    .build(),
                "DeleteObjects",
            )?);
        }
        if ids.is_empty() {
            return Ok(());
        }
        done_if_not_found(
            client
                .delete_objects()
                .bucket(bucket)
                .delete(built(
                    Delete::builder().set_objects(Some(ids)).quiet(true).build(),
                    "DeleteObjects",
                )?)
                .send()
                .await
                .op("DeleteObjects"),
        )?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        for ok in ["payment-transactions-primary-dev", "a.b-c", "abc", "123"] {
            assert!(check_bucket_name(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("ab", "3..63"),
            ("Payments", "`P`"),
            ("under_score", "`_`"),
            ("-start", "start and end"),
            ("end.", "start and end"),
            ("a..b", "`..`"),
            ("192.168.1.1", "IP address"),
            ("xn--bucket", "xn--"),
            ("bucket-s3alias", "-s3alias"),
        ] {
            let err = check_bucket_name(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        let long = "a".repeat(64);
        assert!(
            check_bucket_name(&long)
                .unwrap_err()
                .contains("64 characters")
        );
    }
}
