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
    /// rejoins as a secondary when it recovers. Every call goes to the target's region.
    Failover,
    /// Detaches the new writer from the global cluster (`RemoveFromGlobalCluster`), which
    /// promotes it to a standalone cluster that takes writes at once. The global cluster
    /// keeps the old writer; the detached cluster no longer replicates from it. Every call
    /// goes to the target's region.
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
    max_switchover_lag_seconds: Option<u64>,
    source_cluster: Option<Input<String>>,
    generation: Option<u32>,
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
            max_switchover_lag_seconds: None,
            source_cluster: None,
            generation: None,
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

    /// Refuses a planned switchover while the target's replication lag
    /// (`AuroraGlobalDBReplicationLag` in CloudWatch, in the target's region) is over
    /// `seconds`: the switchover would pause writes until the secondary caught up. Where
    /// no datapoint exists (a new cluster, or an emulator that publishes no metrics) the
    /// lag is unknown and the switchover goes ahead, since `SwitchoverGlobalCluster`
    /// itself waits for the secondary to synchronise and loses nothing; the writer-change
    /// record in the outputs says which it was. Unset: no check.
    pub fn max_switchover_lag_seconds(mut self, seconds: u64) -> Self {
        self.max_switchover_lag_seconds = Some(seconds);
        self
    }

    /// Forms the global database from an existing standalone cluster (its ARN, the account
    /// may be left empty), which becomes its writer; engine, version and database come
    /// from it. This is how a failback after a detach-and-promote re-forms the global
    /// database from the promoted cluster. A change replaces the global cluster.
    pub fn source_cluster(mut self, cluster_arn: impl Into<Input<String>>) -> Self {
        self.source_cluster = Some(cluster_arn.into());
        self
    }

    /// The generation of the global database's membership: raising it replaces the global
    /// cluster (re-formed from [`GlobalClusterArgs::source_cluster`]), an explicit declared
    /// change. While it is replaced this way, the declared writer must be the source.
    pub fn generation(mut self, generation: u32) -> Self {
        self.generation = Some(generation);
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
            .set_opt(
                "max_switchover_lag_seconds",
                self.max_switchover_lag_seconds.map(Input::Value).as_ref(),
            )
            .set_opt("source_cluster", self.source_cluster.as_ref())
            .set_opt("generation", self.generation.map(Input::Value).as_ref())
            .set("tags", &self.tags)
    }

    fn validate(&self, errors: &mut FieldErrors) {
        let view = View {
            identifier: Arg::input(&self.identifier),
            engine: Arg::input(&self.engine),
            database_name: Arg::optional(&self.database_name),
            writer: Arg::optional(&self.writer),
            source: Arg::optional(&self.source_cluster),
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
    source: Arg<'a>,
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
        self.source
            .check("source_cluster", check_cluster_arn, &mut problems);
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
    /// How the writer last moved, kept until the next move (reads carry it over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_writer_change: Option<WriterChangeRecord>,
}

/// What one change of the writer did: which way, through which region's endpoints, the
/// replication lag it saw, and what it left for a later run because a region was not
/// contacted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WriterChangeRecord {
    /// How the writer moved.
    pub how: WriterChange,
    /// The writer before (`None` when no member wrote).
    pub from: Option<String>,
    /// The cluster that writes now.
    pub to: String,
    /// The region whose RDS endpoint every call of the change went to: the provider's own
    /// for a switchover, the surviving (target's) region for an unplanned change.
    pub via_region: String,
    /// `AuroraGlobalDBReplicationLag` of the target just before a switchover, in
    /// milliseconds (`None`: not measured, or no datapoint).
    pub replication_lag_ms: Option<f64>,
    /// What was known about the lag, in words (e.g. that no datapoint existed).
    pub lag_note: String,
    /// The old writer's region when the change was unplanned: nothing was sent there.
    pub unreached_region: Option<String>,
    /// After a detach: the old writer, still the global cluster's writer, whose data
    /// diverges from the promoted cluster's from the detach on. A failback replaces it.
    pub stale_writer: Option<String>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_switchover_lag_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source_cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    generation: Option<u32>,
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
        &[
            "identifier",
            "engine",
            "database_name",
            "storage_encrypted",
            "source_cluster",
            "generation",
        ]
    }

    fn refuse_change(&self, _old: &Value, new: &Value, replacing: bool) -> Option<String> {
        let (Some(source), Some(writer)) = (new["source_cluster"].as_str(), new["writer"].as_str())
        else {
            return None;
        };
        (replacing && !same_cluster(source, writer) && !same_cluster(writer, source)).then(|| {
            format!(
                "global cluster `{}` is re-formed from `{source}` in this change, so `{source}` \
                 is its writer afterwards; declare that writer now (for the payment stack: \
                 writer_region = the source's region), and move the writer in a later change, \
                 once the new member exists",
                new["identifier"].as_str().unwrap_or_default()
            )
        })
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
            source: Arg::json(&inputs["source_cluster"]),
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
            global.map(|g| {
                let mut outputs = outputs_of(&g);
                outputs.last_writer_change = recorded_change(&req.outputs);
                (inputs_of(aws, &g, &req.inputs), outputs)
            }),
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
    let call = client
        .create_global_cluster()
        .global_cluster_identifier(&id)
        .deletion_protection(inputs.deletion_protection)
        .set_tags(Some(rds_tags(&tags)));
    // From a source cluster, the engine, version, database and encryption are its own
    // (RDS refuses them beside a source).
    let call = match &inputs.source_cluster {
        Some(source) => call.source_db_cluster_identifier(source_arn(client, source).await?),
        None => call
            .engine(&inputs.engine)
            .set_engine_version(inputs.engine_version.clone())
            .set_database_name(inputs.database_name.clone())
            .storage_encrypted(inputs.storage_encrypted),
    };
    let result = call.send().await.op("CreateGlobalCluster");
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

/// The full ARN of the declared source cluster (whose account may be left empty), read in
/// its own region.
async fn source_arn(client: &Client, declared: &str) -> Result<String, ProviderError> {
    let client = surviving_client(client, declared);
    let id = super::short_id(declared);
    let out = client
        .describe_db_clusters()
        .db_cluster_identifier(id)
        .send()
        .await
        .op("DescribeDBClusters")?;
    out.db_clusters()
        .iter()
        .find_map(|c| c.db_cluster_arn().filter(|arn| same_cluster(arn, declared)))
        .map(str::to_string)
        .ok_or_else(|| vanished("DescribeDBClusters", "source DB cluster", declared))
}

/// Updates version and deletion protection, tags, and moves the writer when the declared
/// one changed.
///
/// An unplanned writer change ([`WriterChange::Failover`], [`WriterChange::DetachAndPromote`])
/// is made for a region that may be down: every call of the update, reads included, goes
/// to the target's (the surviving) region, and nothing to the old writer's.
pub(super) async fn update(
    aws: &Aws,
    client: &Client,
    req: UpdateRequest,
) -> Result<UpdateResponse, ProviderError> {
    let old: GlobalInputs = decode(&req.old_inputs)?;
    let new: GlobalInputs = decode(&req.new_inputs)?;
    let timeout = req.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let id = req.id.as_str();
    let moving = new
        .writer
        .as_deref()
        .filter(|target| old.writer.as_deref() != Some(*target));
    let client = &match moving {
        Some(target) if new.writer_change != WriterChange::Switchover => {
            surviving_client(client, target)
        }
        _ => client.clone(),
    };
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
    let mut record = recorded_change(&req.old_outputs);
    if let Some(target) = moving
        && let Some(last) = &record
    {
        refuse_stale_writer(id, target, last)?;
    }
    if let Some(target) = moving {
        let change = WriterMove {
            id,
            target,
            how: new.writer_change,
            max_lag_seconds: new.max_switchover_lag_seconds,
            timeout,
        };
        record = Some(change_writer(aws, client, change).await?);
    }
    let g = find(client, id)
        .await?
        .ok_or_else(|| vanished("DescribeGlobalClusters", "global cluster", id))?;
    let mut outputs = outputs_of(&g);
    outputs.last_writer_change = record;
    Ok(UpdateResponse {
        outputs: to_json(&outputs),
    })
}

/// Refuses to make `target` the writer when it is the stale writer a detach-and-promote
/// left in the global cluster: it lacks every write made to the promoted cluster since,
/// and switching back to it would drop them without a word.
fn refuse_stale_writer(
    id: &str,
    target: &str,
    last: &WriterChangeRecord,
) -> Result<(), ProviderError> {
    match &last.stale_writer {
        Some(stale) if same_cluster(stale, target) => Err(ProviderError::new(
            ErrorKind::Service,
            "SwitchoverGlobalCluster",
            format!(
                "cluster `{stale}` is the stale writer left by a detach-and-promote of \
                 `{}` in global cluster `{id}`: it lacks every write made to `{}` since, so \
                 making it the writer again would lose them. Failing back after a detach \
                 replaces the old cluster by a new member of a global database re-formed \
                 from `{}` (a new generation: `GlobalClusterArgs::generation`, for the \
                 payment stack `global_database_generation` raised with \
                 `global_database_source_region` = the promoted cluster's region, while the \
                 writer stays there); move the writer back after that",
                last.to, last.to, last.to
            ),
        )
        .with_code("StaleWriter")),
        _ => Ok(()),
    }
}

/// The RDS client of `target`'s own region (same credentials and endpoint): for an
/// unplanned change to it, so that no call depends on the region that failed, and to read
/// a cluster where it lives.
fn surviving_client(client: &Client, target: &str) -> Client {
    match arn_region(target) {
        Some(region) => in_region(client, region),
        None => client.clone(),
    }
}

/// The last writer change recorded in a global cluster's outputs.
fn recorded_change(outputs: &Value) -> Option<WriterChangeRecord> {
    serde_json::from_value(outputs.get("last_writer_change")?.clone()).ok()
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

/// One move of a global cluster's writer.
struct WriterMove<'a> {
    /// The global cluster.
    id: &'a str,
    /// The declared writer's ARN (maybe without the account).
    target: &'a str,
    how: WriterChange,
    max_lag_seconds: Option<u64>,
    timeout: Duration,
}

/// Makes the move's target (a member cluster's ARN) the writer of its global cluster, or,
/// for [`WriterChange::DetachAndPromote`], a standalone cluster, through `client` (already
/// the surviving region's for an unplanned change). Nothing is sent when that is already
/// so (an update retried after a lost answer). A switchover is refused while the target's
/// replication lag is over the limit.
async fn change_writer(
    aws: &Aws,
    client: &Client,
    change: WriterMove<'_>,
) -> Result<WriterChangeRecord, ProviderError> {
    let WriterMove {
        id,
        target,
        how,
        max_lag_seconds,
        timeout,
    } = change;
    let g = find(client, id)
        .await?
        .ok_or_else(|| vanished("DescribeGlobalClusters", "global cluster", id))?;
    let members = members_of(&g);
    let from = members
        .iter()
        .find(|m| m.is_writer)
        .map(|m| m.cluster_arn.clone());
    let member = members
        .into_iter()
        .find(|m| same_cluster(&m.cluster_arn, target));
    // The declared ARN may leave the account out; use the member's full ARN from here on.
    let full_target = member.as_ref().map(|m| m.cluster_arn.clone());
    let target = full_target.as_deref().unwrap_or(target);
    let via_region = client
        .config()
        .region()
        .map(|r| r.as_ref().to_string())
        .unwrap_or_default();
    let unplanned = how != WriterChange::Switchover;
    let mut record = WriterChangeRecord {
        how,
        from: from.clone().filter(|f| f != target),
        to: target.to_string(),
        via_region: via_region.clone(),
        replication_lag_ms: None,
        lag_note: "not measured: an unplanned change does not wait for replication".into(),
        unreached_region: from
            .as_deref()
            .and_then(arn_region)
            .filter(|r| unplanned && *r != via_region)
            .map(str::to_string),
        stale_writer: None,
    };
    match (how, member) {
        (_, Some(m)) if m.is_writer => {
            record.lag_note = "none: the target already wrote".into();
            return Ok(record);
        }
        (WriterChange::DetachAndPromote, None) => {
            record.lag_note = "none: the target had already left the global cluster".into();
            return Ok(record);
        }
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
            let (lag, note) = match max_lag_seconds {
                Some(limit) => {
                    // The metric is published in the secondary's (the target's) region.
                    let region = arn_region(target).unwrap_or(&via_region);
                    let lag = replication_lag_ms(aws, region, target).await?;
                    (lag, lag_verdict(id, target, lag, limit)?)
                }
                None => (None, "not checked: no limit is set".to_string()),
            };
            record.replication_lag_ms = lag;
            record.lag_note = note;
            client
                .switchover_global_cluster()
                .global_cluster_identifier(id)
                .target_db_cluster_identifier(target)
                .send()
                .await
                .op("SwitchoverGlobalCluster")?;
            wait_for_writer(client, id, target, timeout, "SwitchoverGlobalCluster").await?;
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
            wait_for_writer(client, id, target, timeout, "FailoverGlobalCluster").await?;
        }
        WriterChange::DetachAndPromote => {
            client
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
            let result = client
                .wait_until_db_cluster_available()
                .db_cluster_identifier(target)
                .wait(timeout)
                .await;
            let what = format!("cluster `{target}` to be promoted to a standalone cluster");
            waited(result, "DescribeDBClusters", &what, timeout)?;
            record.stale_writer = record.from.clone();
        }
    }
    Ok(record)
}

/// How far back a switchover looks for the target's replication lag.
const LAG_WINDOW: Duration = Duration::from_secs(5 * 60);

/// How far past "now" the lag read's window ends. `EndTime` is exclusive, and an endpoint
/// may compare it in whole seconds (moto truncates `StartTime` and `EndTime` to the second
/// but keeps a datapoint's fraction): a window ending at "now" missed a datapoint
/// published earlier in the same second (RELIABILITY.md, "The switchover lag read").
const LAG_WINDOW_AHEAD: Duration = Duration::from_secs(60);

/// A cluster's latest `AuroraGlobalDBReplicationLag` (maximum per minute over the last
/// five minutes, in milliseconds) from CloudWatch in `region`, or `None` when there is no
/// datapoint. `cluster` is the cluster's ARN or identifier. The window ends a minute
/// ahead of now, so a datapoint published this very second is included.
pub async fn replication_lag_ms(
    aws: &Aws,
    region: &str,
    cluster: &str,
) -> Result<Option<f64>, ProviderError> {
    let conf = aws_sdk_cloudwatch::config::Builder::from(aws.sdk_config().await)
        .region(aws_sdk_cloudwatch::config::Region::new(region.to_string()))
        .build();
    let cloudwatch = aws_sdk_cloudwatch::Client::from_conf(conf);
    let now = std::time::SystemTime::now();
    let out = cloudwatch
        .get_metric_statistics()
        .namespace("AWS/RDS")
        .metric_name("AuroraGlobalDBReplicationLag")
        .dimensions(
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name("DBClusterIdentifier")
                .value(super::short_id(cluster))
                .build(),
        )
        .start_time((now - LAG_WINDOW).into())
        .end_time((now + LAG_WINDOW_AHEAD).into())
        .period(60)
        .statistics(aws_sdk_cloudwatch::types::Statistic::Maximum)
        .send()
        .await
        .op("GetMetricStatistics")?;
    Ok(out
        .datapoints()
        .iter()
        .filter_map(|d| Some((d.timestamp()?.secs(), d.maximum()?)))
        .max_by_key(|(at, _)| *at)
        .map(|(_, lag)| lag))
}

/// Whether a switchover may go ahead with lag `lag_ms` under `limit_seconds`: the note
/// to record when it may, the refusal (naming the lag and the limit) when it may not.
/// An unknown lag (no datapoint) lets it go ahead: the switchover itself waits for the
/// secondary to catch up and loses nothing.
pub(super) fn lag_verdict(
    id: &str,
    target: &str,
    lag_ms: Option<f64>,
    limit_seconds: u64,
) -> Result<String, ProviderError> {
    let limit_ms = limit_seconds as f64 * 1000.0;
    match lag_ms {
        None => Ok(format!(
            "unknown: no AuroraGlobalDBReplicationLag datapoint for the target in the last \
             {} minutes (a new cluster, or an emulator that publishes no metrics); the \
             switchover went ahead, since it waits for the secondary to catch up",
            LAG_WINDOW.as_secs() / 60
        )),
        Some(lag) if lag <= limit_ms => Ok(format!(
            "{lag:.0} ms, within the limit of {limit_seconds} s"
        )),
        Some(lag) => Err(ProviderError::new(
            ErrorKind::Service,
            "SwitchoverGlobalCluster",
            format!(
                "refusing to switch global cluster `{id}` over to `{target}`: its replication \
                 lag is {:.1} s, over max_switchover_lag_seconds = {limit_seconds} s; wait for \
                 it to catch up, raise the limit, or make an unplanned change",
                lag / 1000.0
            ),
        )
        .with_code("ReplicationLagTooHigh")),
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
        last_writer_change: None,
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
        max_switchover_lag_seconds: recorded["max_switchover_lag_seconds"].as_u64(),
        source_cluster: recorded["source_cluster"].as_str().map(str::to_string),
        generation: recorded["generation"]
            .as_u64()
            .and_then(|g| u32::try_from(g).ok()),
        tags: aws.own_tags(tag_map(g.tag_list())),
    }
}
