//! `aws:rds/globalCluster`: an Aurora global database, one writer cluster and read-only
//! secondaries in other regions, and the way its writer moves between them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_rds::Client;
use aws_sdk_rds::client::Waiters;
use aws_sdk_rds::types::GlobalCluster as SdkGlobalCluster;
use iac_dsl::{
    CreateRequest, CreateResponse, DeleteRequest, ErrorKind, FieldErrors, Input, LookupRequest,
    Props, ProviderError, ReadRequest, ReadResponse, ResourceArgs, ResourceOptions, UpdateRequest,
    UpdateResponse, Value,
};
use serde::{Deserialize, Serialize};

use super::rules::{Arg, check_cluster_arn, check_database_name, check_engine, check_identifier};
use super::{
    DEFAULT_TIMEOUT, POLL, already_exists, arn_region, computed, in_region, keep_spelling,
    managed_by, not_managed, poll_until, rds_tags, sync_tags, tag_map, timed_out, waited,
    with_created,
};
use crate::aws::error::none_if_not_found;
use crate::aws::{Aws, ErrorContext, ResourceImpl, decode, found, to_json, vanished};

const TYPE: &str = "aws:rds/globalCluster";

/// How a change of a global cluster's declared writer is carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriterChange {
    /// A planned switchover (`SwitchoverGlobalCluster`): both regions are healthy, the
    /// clusters synchronise first and no data is lost. The old writer becomes a secondary.
    #[default]
    Switchover,
    /// An unplanned failover (`FailoverGlobalCluster` with `AllowDataLoss`): for when the
    /// writer's region is impaired. Writes not yet replicated are lost; the old writer
    /// rejoins as a secondary when it recovers.
    Failover,
    /// Detaches the new writer from the global cluster (`RemoveFromGlobalCluster`), which
    /// promotes it to a standalone cluster that takes writes at once. The global cluster
    /// keeps the old writer; the detached cluster no longer replicates from it.
    DetachAndPromote,
}

/// Arguments of a global database. Create it empty, then create its primary cluster and
/// secondaries with [`super::ClusterArgs::global_cluster_identifier`].
///
/// With [`GlobalClusterArgs::writer`] set, changing the writer is an update that moves
/// the writer role as [`GlobalClusterArgs::writer_change`] says; a plan shows it as such,
/// never as a replacement. Without it, the provider leaves writers alone.
#[derive(Debug, Clone)]
pub struct GlobalClusterArgs {
    identifier: Input<String>,
    engine: Input<String>,
    engine_version: Option<Input<String>>,
    database_name: Option<Input<String>>,
    storage_encrypted: Input<bool>,
    deletion_protection: Input<bool>,
    writer: Option<Input<String>>,
    writer_change: WriterChange,
    tags: BTreeMap<String, Input<String>>,
}

impl GlobalClusterArgs {
    /// An Aurora PostgreSQL global database named `identifier`.
    pub fn new(identifier: impl Into<Input<String>>) -> Self {
        GlobalClusterArgs {
            identifier: identifier.into(),
            engine: Input::Value("aurora-postgresql".to_string()),
            engine_version: None,
            database_name: None,
            storage_encrypted: Input::Value(false),
            deletion_protection: Input::Value(false),
            writer: None,
            writer_change: WriterChange::default(),
            tags: BTreeMap::new(),
        }
    }

    /// The engine, `aurora-postgresql` (the default) or `aurora-mysql`.
    pub fn engine(mut self, engine: impl Into<Input<String>>) -> Self {
        self.engine = engine.into();
        self
    }

    /// The engine version; a change upgrades every member in place.
    pub fn engine_version(mut self, version: impl Into<Input<String>>) -> Self {
        self.engine_version = Some(version.into());
        self
    }

    /// The database created in the primary cluster.
    pub fn database_name(mut self, name: impl Into<Input<String>>) -> Self {
        self.database_name = Some(name.into());
        self
    }

    /// Whether members must be encrypted at rest (fixed at creation).
    pub fn storage_encrypted(mut self, on: impl Into<Input<bool>>) -> Self {
        self.storage_encrypted = on.into();
        self
    }

    /// Refuses deletion while set.
    pub fn deletion_protection(mut self, on: impl Into<Input<bool>>) -> Self {
        self.deletion_protection = on.into();
        self
    }

    /// The ARN of the member cluster that should take writes. Build it from the region,
    /// account and identifier (a cluster's own `arn` output would make a cycle, since the
    /// cluster refers to this global cluster).
    pub fn writer(mut self, cluster_arn: impl Into<Input<String>>) -> Self {
        self.writer = Some(cluster_arn.into());
        self
    }

    /// How a change of [`GlobalClusterArgs::writer`] is made (default: switchover).
    pub fn writer_change(mut self, how: WriterChange) -> Self {
        self.writer_change = how;
        self
    }

    /// Adds a tag (on top of the provider's default tags).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<Input<String>>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
}

impl ResourceArgs for GlobalClusterArgs {
    fn region_fields(&self) -> iac_dsl::RegionFields {
        iac_dsl::RegionFields::new(&[], &["writer"])
    }

    type Handle = GlobalCluster;

    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn props(&self) -> Props {
        Props::new()
            .set("identifier", &self.identifier)
            .set("engine", &self.engine)
            .set("engine_version", &self.engine_version)
            .set("database_name", &self.database_name)
            .set("storage_encrypted", &self.storage_encrypted)
            .set("deletion_protection", &self.deletion_protection)
            .set("writer", &self.writer)
            .value("writer_change", &self.writer_change)
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        let view = View {
            identifier: Arg::input(&self.identifier),
            engine: Arg::input(&self.engine),
            database_name: Arg::optional(&self.database_name),
            writer: Arg::optional(&self.writer),
        };
        for (field, message) in view.problems() {
            errors.add(field, message);
        }
    }

    fn default_options(&self) -> ResourceOptions {
        ResourceOptions::new().delete_before_replace(true)
    }
}

struct View<'a> {
    identifier: Arg<'a>,
    engine: Arg<'a>,
    database_name: Arg<'a>,
    writer: Arg<'a>,
}

impl View<'_> {
    fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        self.identifier
            .check("identifier", check_identifier, &mut problems);
        self.engine.check("engine", check_engine, &mut problems);
        self.database_name
            .check("database_name", check_database_name, &mut problems);
        self.writer
            .check("writer", check_cluster_arn, &mut problems);
        problems
    }
}

handle! {
    /// A declared global database.
    GlobalCluster {
        /// The global cluster identifier (also its id), for a member's
        /// `global_cluster_identifier`.
        id: String,
        /// Its ARN.
        arn: String,
        /// Its member clusters and which one writes.
        members: Vec<GlobalClusterMember>,
    }
}

/// A cluster of a global database.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GlobalClusterMember {
    /// The member cluster's ARN.
    pub cluster_arn: String,
    /// Whether it is the writer.
    pub is_writer: bool,
}

/// What a global cluster exposes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GlobalClusterOutputs {
    /// The identifier.
    pub id: String,
    /// The ARN.
    pub arn: String,
    /// The member clusters.
    pub members: Vec<GlobalClusterMember>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct GlobalInputs {
    identifier: String,
    engine: String,
    #[serde(default)]
    engine_version: Option<String>,
    #[serde(default)]
    database_name: Option<String>,
    #[serde(default)]
    storage_encrypted: bool,
    #[serde(default)]
    deletion_protection: bool,
    #[serde(default)]
    writer: Option<String>,
    #[serde(default)]
    writer_change: WriterChange,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

pub(super) struct GlobalClusterImpl;

#[async_trait]
impl ResourceImpl for GlobalClusterImpl {
    fn type_token(&self) -> &'static str {
        TYPE
    }

    fn force_new(&self) -> &'static [&'static str] {
        &["identifier", "engine", "database_name", "storage_encrypted"]
    }

    fn delete_before_replace(&self) -> bool {
        true
    }

    fn check(&self, inputs: &Value) -> Vec<(String, String)> {
        View {
            identifier: Arg::json(&inputs["identifier"]),
            engine: Arg::json(&inputs["engine"]),
            database_name: Arg::json(&inputs["database_name"]),
            writer: Arg::json(&inputs["writer"]),
        }
        .problems()
    }

    async fn create(&self, aws: &Aws, req: CreateRequest) -> Result<CreateResponse, ProviderError> {
        create(aws, &aws.rds().await, req).await
    }

    async fn read(
        &self,
        aws: &Aws,
        req: ReadRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let client = aws.rds().await;
        let global = find(&client, &req.id).await?;
        Ok(found(
            &req.id,
            global.map(|g| (inputs_of(aws, &g, &req.inputs), outputs_of(&g))),
        ))
    }

    async fn update(&self, aws: &Aws, req: UpdateRequest) -> Result<UpdateResponse, ProviderError> {
        update(aws, &aws.rds().await, req).await
    }

    async fn delete(&self, aws: &Aws, req: DeleteRequest) -> Result<(), ProviderError> {
        delete(&aws.rds().await, req).await
    }

    async fn lookup(
        &self,
        aws: &Aws,
        req: LookupRequest,
    ) -> Result<Option<ReadResponse>, ProviderError> {
        let Some(id) = req.inputs["identifier"].as_str() else {
            return Ok(None);
        };
        let client = aws.rds().await;
        let Some(g) = find(&client, id).await? else {
            return Ok(None);
        };
        if !managed_by(&tag_map(g.tag_list()), &req.ctx, Some(&req.token)) {
            return Ok(None);
        }
        let outputs = outputs_of(&g);
        Ok(found(
            &outputs.id.clone(),
            Some((inputs_of(aws, &g, &req.inputs), outputs)),
        ))
    }
}

async fn create(
    aws: &Aws,
    client: &Client,
    req: CreateRequest,
) -> Result<CreateResponse, ProviderError> {
    let inputs: GlobalInputs = decode(&req.inputs)?;
    let id = inputs.identifier.to_lowercase();
    let timeout = req.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let adopt = |g: &SdkGlobalCluster| {
        if managed_by(&tag_map(g.tag_list()), &req.ctx, Some(&req.token)) {
            Ok(CreateResponse {
                id: id.clone(),
                outputs: to_json(&outputs_of(g)),
            })
        } else {
            Err(not_managed(
                "CreateGlobalCluster",
                "global cluster",
                &id,
                &req.ctx,
            ))
        }
    };
    // Identifiers are unique per account: one already there is adopted only when ours.
    if let Some(g) = find(client, &id).await? {
        return adopt(&g);
    }
    let tags = aws.tags_for(&req.ctx, &inputs.tags, Some(&req.token));
    let result = client
        .create_global_cluster()
        .global_cluster_identifier(&id)
        .engine(&inputs.engine)
        .set_engine_version(inputs.engine_version.clone())
        .set_database_name(inputs.database_name.clone())
        .storage_encrypted(inputs.storage_encrypted)
        .deletion_protection(inputs.deletion_protection)
        .set_tags(Some(rds_tags(&tags)))
        .send()
        .await
        .op("CreateGlobalCluster");
    match result {
        Ok(_) => {}
        Err(e) if already_exists(&e) => {
            return match find(client, &id).await? {
                Some(g) => adopt(&g),
                None => Err(e),
            };
        }
        Err(e) => return Err(e),
    }
    let what = format!("global cluster `{id}` to become available");
    let ready = poll_until(timeout, "DescribeGlobalClusters", &what, || async {
        Ok(find(client, &id).await?.is_some_and(|g| is_available(&g)))
    })
    .await;
    let g = find(client, &id)
        .await?
        .ok_or_else(|| vanished("DescribeGlobalClusters", "global cluster", &id))?;
    let outputs = to_json(&outputs_of(&g));
    ready.map_err(|e| with_created(e, &id, outputs.clone()))?;
    Ok(CreateResponse { id, outputs })
}

/// Updates version and deletion protection, tags, and moves the writer when the declared
/// one changed.
pub(super) async fn update(
    aws: &Aws,
    client: &Client,
    req: UpdateRequest,
) -> Result<UpdateResponse, ProviderError> {
    let old: GlobalInputs = decode(&req.old_inputs)?;
    let new: GlobalInputs = decode(&req.new_inputs)?;
    let timeout = req.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let id = req.id.as_str();
    let version_changed = new.engine_version.is_some() && old.engine_version != new.engine_version;
    if old.deletion_protection != new.deletion_protection || version_changed {
        let mut call = client
            .modify_global_cluster()
            .global_cluster_identifier(id)
            .deletion_protection(new.deletion_protection);
        if version_changed && let Some(version) = &new.engine_version {
            let major = |v: &Option<String>| {
                v.as_deref()
                    .and_then(|v| v.split('.').next())
                    .map(str::to_string)
            };
            call = call.engine_version(version).allow_major_version_upgrade(
                major(&old.engine_version) != major(&new.engine_version),
            );
        }
        call.send().await.op("ModifyGlobalCluster")?;
        let what = format!("global cluster `{id}` to finish its modification");
        poll_until(timeout, "DescribeGlobalClusters", &what, || async {
            Ok(find(client, id).await?.is_some_and(|g| is_available(&g)))
        })
        .await?;
    }
    if old.tags != new.tags {
        let g = find(client, id)
            .await?
            .ok_or_else(|| vanished("DescribeGlobalClusters", "global cluster", id))?;
        let arn = g.global_cluster_arn().unwrap_or_default();
        sync_tags(aws, client, &req.ctx, arn, &old.tags, &new.tags).await?;
    }
    if let Some(target) = &new.writer
        && old.writer.as_ref() != Some(target)
    {
        change_writer(client, id, target, new.writer_change, timeout).await?;
    }
    let g = find(client, id)
        .await?
        .ok_or_else(|| vanished("DescribeGlobalClusters", "global cluster", id))?;
    Ok(UpdateResponse {
        outputs: to_json(&outputs_of(&g)),
    })
}

/// Whether a member's ARN is the declared writer `declared`: equal, or, when the declared
/// ARN leaves the account empty (`arn:aws:rds:<region>::cluster:<id>`, which a stack can
/// write before anything exists and without naming its account), the same region and id.
fn same_cluster(member: &str, declared: &str) -> bool {
    if member == declared {
        return true;
    }
    let m: Vec<&str> = member.split(':').collect();
    let d: Vec<&str> = declared.split(':').collect();
    m.len() == 7 && d.len() == 7 && d[4].is_empty() && m[3] == d[3] && m[6] == d[6]
}

/// Makes `target` (a member cluster's ARN) the writer of global cluster `id`, or, for
/// [`WriterChange::DetachAndPromote`], a standalone cluster. Nothing is done when that is
/// already so (an update retried after a lost answer).
async fn change_writer(
    client: &Client,
    id: &str,
    target: &str,
    how: WriterChange,
    timeout: Duration,
) -> Result<(), ProviderError> {
    let g = find(client, id)
        .await?
        .ok_or_else(|| vanished("DescribeGlobalClusters", "global cluster", id))?;
    let member = members_of(&g)
        .into_iter()
        .find(|m| same_cluster(&m.cluster_arn, target));
    // The declared ARN may leave the account out; use the member's full ARN from here on.
    let full_target = member.as_ref().map(|m| m.cluster_arn.clone());
    let target = full_target.as_deref().unwrap_or(target);
    match (how, member) {
        (_, Some(m)) if m.is_writer => return Ok(()),
        (WriterChange::DetachAndPromote, None) => return Ok(()),
        (_, None) => {
            return Err(ProviderError::new(
                ErrorKind::Service,
                "DescribeGlobalClusters",
                format!(
                    "cluster `{target}` is not a member of global cluster `{id}`, so it cannot \
                     become its writer"
                ),
            ));
        }
        _ => {}
    }
    match how {
        WriterChange::Switchover => {
            client
                .switchover_global_cluster()
                .global_cluster_identifier(id)
                .target_db_cluster_identifier(target)
                .send()
                .await
                .op("SwitchoverGlobalCluster")?;
            wait_for_writer(client, id, target, timeout, "SwitchoverGlobalCluster").await
        }
        WriterChange::Failover => {
            client
                .failover_global_cluster()
                .global_cluster_identifier(id)
                .target_db_cluster_identifier(target)
                .allow_data_loss(true)
                .send()
                .await
                .op("FailoverGlobalCluster")?;
            wait_for_writer(client, id, target, timeout, "FailoverGlobalCluster").await
        }
        WriterChange::DetachAndPromote => {
            // The detach is asked of the detached cluster's own region.
            let regional = match arn_region(target) {
                Some(region) => in_region(client, region),
                None => client.clone(),
            };
            regional
                .remove_from_global_cluster()
                .global_cluster_identifier(id)
                .db_cluster_identifier(target)
                .send()
                .await
                .op("RemoveFromGlobalCluster")?;
            let what = format!("cluster `{target}` to leave global cluster `{id}`");
            poll_until(timeout, "RemoveFromGlobalCluster", &what, || async {
                Ok(!has_member(client, id, target).await?)
            })
            .await?;
            let result = regional
                .wait_until_db_cluster_available()
                .db_cluster_identifier(target)
                .wait(timeout)
                .await;
            let what = format!("cluster `{target}` to be promoted to a standalone cluster");
            waited(result, "DescribeDBClusters", &what, timeout)
        }
    }
}

async fn wait_for_writer(
    client: &Client,
    id: &str,
    target: &str,
    timeout: Duration,
    operation: &str,
) -> Result<(), ProviderError> {
    let what = format!("cluster `{target}` to become the writer of global cluster `{id}`");
    poll_until(timeout, operation, &what, || async {
        Ok(find(client, id).await?.is_some_and(|g| {
            is_available(&g)
                && members_of(&g)
                    .iter()
                    .any(|m| m.cluster_arn == target && m.is_writer)
        }))
    })
    .await
}

async fn delete(client: &Client, req: DeleteRequest) -> Result<(), ProviderError> {
    let id = req.id.as_str();
    let timeout = req.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let deadline = Instant::now() + timeout;
    if find(client, id).await?.is_none() {
        return Ok(());
    }
    loop {
        let result = client
            .delete_global_cluster()
            .global_cluster_identifier(id)
            .send()
            .await
            .op("DeleteGlobalCluster");
        match none_if_not_found(result) {
            Ok(_) => break,
            Err(e) if e.code.as_deref() == Some("InvalidGlobalClusterStateFault") => {
                let Some(g) = find(client, id).await? else {
                    return Ok(());
                };
                let members = members_of(&g);
                if !members.is_empty() {
                    let arns: Vec<&str> = members.iter().map(|m| m.cluster_arn.as_str()).collect();
                    return Err(ProviderError::new(
                        ErrorKind::Service,
                        "DeleteGlobalCluster",
                        format!(
                            "global cluster `{id}` still has member clusters ({}); delete or \
                             detach them first",
                            arns.join(", ")
                        ),
                    )
                    .with_code("InvalidGlobalClusterStateFault"));
                }
                // Empty but still settling after its last member left.
                if Instant::now() + POLL > deadline {
                    return Err(timed_out(
                        "DeleteGlobalCluster",
                        &format!("global cluster `{id}` to accept its deletion"),
                        timeout,
                    ));
                }
                tokio::time::sleep(POLL).await;
            }
            Err(e) => return Err(e),
        }
    }
    let what = format!("global cluster `{id}` to be deleted");
    let left = deadline.saturating_duration_since(Instant::now());
    poll_until(left, "DescribeGlobalClusters", &what, || async {
        Ok(find(client, id).await?.is_none())
    })
    .await
}

/// The global cluster `id`, or `None` when it does not exist (or is being deleted).
pub(super) async fn find(
    client: &Client,
    id: &str,
) -> Result<Option<SdkGlobalCluster>, ProviderError> {
    let out = none_if_not_found(
        client
            .describe_global_clusters()
            .global_cluster_identifier(id)
            .send()
            .await
            .op("DescribeGlobalClusters"),
    )?;
    // Some endpoints answer with every global cluster: pick this one.
    Ok(out.and_then(|o| {
        o.global_clusters()
            .iter()
            .find(|g| {
                g.global_cluster_identifier()
                    .is_some_and(|x| x.eq_ignore_ascii_case(id))
                    && !matches!(g.status(), Some("deleting" | "deleted"))
            })
            .cloned()
    }))
}

/// Whether the cluster `arn` is a member of the global cluster `id` (false when that
/// global cluster does not exist).
pub(super) async fn has_member(
    client: &Client,
    id: &str,
    arn: &str,
) -> Result<bool, ProviderError> {
    Ok(find(client, id)
        .await?
        .is_some_and(|g| members_of(&g).iter().any(|m| m.cluster_arn == arn)))
}

fn is_available(g: &SdkGlobalCluster) -> bool {
    g.status().is_none_or(|s| s == "available")
}

fn members_of(g: &SdkGlobalCluster) -> Vec<GlobalClusterMember> {
    g.global_cluster_members()
        .iter()
        .filter_map(|m| {
            Some(GlobalClusterMember {
                cluster_arn: m.db_cluster_arn()?.to_string(),
                is_writer: m.is_writer().unwrap_or(false),
            })
        })
        .collect()
}

fn outputs_of(g: &SdkGlobalCluster) -> GlobalClusterOutputs {
    GlobalClusterOutputs {
        id: g
            .global_cluster_identifier()
            .unwrap_or_default()
            .to_string(),
        arn: g.global_cluster_arn().unwrap_or_default().to_string(),
        members: members_of(g),
    }
}

/// The inputs as found. The declared writer is kept while it writes, and also once it has
/// left the global cluster (detached and promoted, or not yet joined); when another member
/// writes, that member is reported, so that the next update moves the writer back.
fn inputs_of(aws: &Aws, g: &SdkGlobalCluster, recorded: &Value) -> GlobalInputs {
    let members = members_of(g);
    let actual = members
        .iter()
        .find(|m| m.is_writer)
        .map(|m| m.cluster_arn.clone());
    let writer = if recorded.is_null() {
        actual
    } else {
        recorded["writer"].as_str().map(|declared| {
            match members.iter().find(|m| m.cluster_arn == declared) {
                Some(m) if !m.is_writer => actual.unwrap_or_else(|| declared.to_string()),
                _ => declared.to_string(),
            }
        })
    };
    GlobalInputs {
        identifier: keep_spelling(
            &recorded["identifier"],
            g.global_cluster_identifier().unwrap_or_default(),
        ),
        engine: g.engine().unwrap_or_default().to_string(),
        engine_version: computed(recorded, "engine_version", g.engine_version()),
        // Not every endpoint reports the database name (the emulator does not): keep the
        // recorded one rather than read a change that did not happen.
        database_name: g
            .database_name()
            .map(str::to_string)
            .or_else(|| recorded["database_name"].as_str().map(str::to_string)),
        storage_encrypted: g.storage_encrypted().unwrap_or(false),
        deletion_protection: g.deletion_protection().unwrap_or(false),
        writer,
        writer_change: serde_json::from_value(recorded["writer_change"].clone())
            .unwrap_or_default(),
        tags: aws.own_tags(tag_map(g.tag_list())),
    }
}
