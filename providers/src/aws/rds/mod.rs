//! RDS: the pieces of an Aurora global database. A [`DbSubnetGroupArgs`] places clusters
//! in a VPC, a [`GlobalClusterArgs`] spans regions, a [`ClusterArgs`] is the primary or a
//! secondary cluster in one region, and [`ClusterInstanceArgs`] are its instances.
//!
//! Every object has a fixed name that RDS keeps unique per account and region, so creates
//! are idempotent by name: a create that finds its object already there adopts it when its
//! `iac:stack` and `iac:name` tags say it is this resource, and refuses otherwise. For the
//! same reason a replacement deletes the old object first.
//!
//! Clusters and instances take minutes to create, change and delete; the provider waits
//! with the SDK's waiters, for the operation's timeout (60 minutes by default). A global
//! cluster's writer moves when its declared `writer` changes: a planned switchover, an
//! unplanned failover, or detaching the new writer and promoting it to a standalone
//! cluster ([`WriterChange`]).

mod cluster;
mod cluster_instance;
mod global_cluster;
#[cfg(test)]
mod mocks;
mod rules;
mod subnet_group;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use aws_sdk_rds::Client;
use aws_sdk_rds::config::Region;
use aws_sdk_rds::types::Tag;
use aws_smithy_runtime_api::client::waiters::FinalPoll;
use aws_smithy_runtime_api::client::waiters::error::WaiterError;
use iac_dsl::{CreateResponse, ErrorKind, ProviderError, ResourceContext, Value};

use super::{Aws, DataSourceImpl, ErrorContext, ResourceImpl, TAG_NAME, TAG_STACK, TAG_TOKEN};

pub use cluster::{Cluster, ClusterArgs, ClusterOutputs};
pub use cluster_instance::{ClusterInstance, ClusterInstanceArgs, ClusterInstanceOutputs};
pub use global_cluster::{
    GlobalCluster, GlobalClusterArgs, GlobalClusterMember, GlobalClusterOutputs, WriterChange,
    WriterChangeRecord, replication_lag_ms,
};
pub use rules::{
    ENGINES, check_backup_retention, check_backup_window, check_cluster_arn, check_database_name,
    check_engine, check_identifier, check_instance_class, check_master_password,
    check_master_username, check_snapshot_identifier, check_subnet_group_name,
};
pub use subnet_group::{DbSubnetGroup, DbSubnetGroupArgs, DbSubnetGroupOutputs};

/// The RDS resource types.
pub(crate) const RESOURCES: &[&dyn ResourceImpl] = &[
    &subnet_group::SubnetGroupImpl,
    &global_cluster::GlobalClusterImpl,
    &cluster::ClusterImpl,
    &cluster_instance::ClusterInstanceImpl,
];

/// RDS has no data sources here.
pub(crate) const DATA_SOURCES: &[&dyn DataSourceImpl] = &[];

/// How long create, update and delete wait unless the resource's timeouts say otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// Pause between two polls of a state that has no SDK waiter, or between two attempts of a
/// call that RDS refuses while the object is busy.
const POLL: Duration = Duration::from_secs(10);

fn rds_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

/// Every tag on the object `arn`.
async fn list_tags(client: &Client, arn: &str) -> Result<BTreeMap<String, String>, ProviderError> {
    let out = client
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .op("ListTagsForResource")?;
    Ok(tag_map(out.tag_list()))
}

/// Brings the tags of `arn` from a resource's `old` own tags to its `new` ones (default and
/// engine tags included; the creation token is kept).
async fn sync_tags(
    aws: &Aws,
    client: &Client,
    ctx: &ResourceContext,
    arn: &str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Result<(), ProviderError> {
    super::idempotent::update_tags(
        aws,
        ctx,
        old,
        new,
        |keys| async move {
            client
                .remove_tags_from_resource()
                .resource_name(arn)
                .set_tag_keys(Some(keys))
                .send()
                .await
                .op("RemoveTagsFromResource")
                .map(|_| ())
        },
        |tags| async move {
            client
                .add_tags_to_resource()
                .resource_name(arn)
                .set_tags(Some(rds_tags(&tags)))
                .send()
                .await
                .op("AddTagsToResource")
                .map(|_| ())
        },
    )
    .await
}

/// Whether an object's tags say it is the resource `ctx` (or was made with `token`).
fn managed_by(tags: &BTreeMap<String, String>, ctx: &ResourceContext, token: Option<&str>) -> bool {
    let by_name = tags.get(TAG_STACK) == Some(&ctx.stack) && tags.get(TAG_NAME) == Some(&ctx.name);
    let by_token = token.is_some_and(|t| tags.get(TAG_TOKEN).map(String::as_str) == Some(t));
    by_name || by_token
}

/// The refusal to adopt an object of the same name that another owner made.
fn not_managed(operation: &str, what: &str, id: &str, ctx: &ResourceContext) -> ProviderError {
    ProviderError::new(
        ErrorKind::Service,
        operation,
        format!(
            "{what} `{id}` already exists and is not managed by this stack as `{}`; import it \
             or choose another name",
            ctx.name
        ),
    )
    .with_code("AlreadyExists")
}

/// Whether a create failed because an object of that name exists.
fn already_exists(e: &ProviderError) -> bool {
    e.code
        .as_deref()
        .is_some_and(|c| c.contains("AlreadyExists"))
}

/// The region of an ARN (`arn:aws:rds:us-west-2:...`).
fn arn_region(arn: &str) -> Option<&str> {
    arn.split(':').nth(3).filter(|r| !r.is_empty())
}

/// The same client for another region (same credentials, endpoint and interceptors).
fn in_region(client: &Client, region: &str) -> Client {
    if client.config().region().map(|r| r.as_ref()) == Some(region) {
        return client.clone();
    }
    let conf = client
        .config()
        .to_builder()
        .region(Region::new(region.to_string()))
        .build();
    Client::from_conf(conf)
}

/// The last part of an identifier given as an ARN (`...:global-cluster:g1` is `g1`).
fn short_id(id: &str) -> &str {
    if id.starts_with("arn:") {
        id.rsplit(':').next().unwrap_or(id)
    } else {
        id
    }
}

/// The recorded spelling of a name when the cloud holds the same name (RDS lower-cases
/// identifiers), else the cloud's.
fn keep_spelling(recorded: &Value, cloud: &str) -> String {
    match recorded.as_str() {
        Some(r) if r.eq_ignore_ascii_case(cloud) => r.to_string(),
        _ => cloud.to_string(),
    }
}

/// An optional input that RDS fills with a default when it is not given: the cloud's value
/// when the input was given (or when importing, with nothing recorded), `None` otherwise,
/// so that an unset input does not show as drift.
fn computed(recorded: &Value, key: &str, cloud: Option<&str>) -> Option<String> {
    if recorded.is_null() || !recorded[key].is_null() {
        cloud.map(str::to_string)
    } else {
        None
    }
}

/// A list that RDS returns in its own order: the recorded order when it holds the same
/// items, else the cloud's, sorted.
fn keep_order(recorded: &Value, mut cloud: Vec<String>) -> Vec<String> {
    let recorded: Vec<String> = recorded
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let mut a = recorded.clone();
    a.sort();
    cloud.sort();
    if a == cloud { recorded } else { cloud }
}

/// What a waiter's last answer said of the object it waited for (`pick` takes it from the
/// answer), so that a create need not read it back; `None` when the wait failed.
fn last_answer<T, O, F, E>(
    result: &Result<FinalPoll<O, F>, WaiterError<O, E>>,
    pick: impl FnOnce(&O) -> Option<&T>,
) -> Option<T>
where
    T: Clone,
{
    result
        .as_ref()
        .ok()
        .and_then(|f| f.as_result().ok())
        .and_then(pick)
        .cloned()
}

/// Turns a waiter's failure into a provider error: a timeout names `what` and how long it
/// waited.
fn waited<T, O, E>(
    result: Result<T, WaiterError<O, E>>,
    operation: &str,
    what: &str,
    timeout: Duration,
) -> Result<(), ProviderError>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    match result {
        Ok(_) => Ok(()),
        Err(WaiterError::ExceededMaxWait(_)) => Err(timed_out(operation, what, timeout)),
        Err(WaiterError::FailureState(_)) => Err(ProviderError::new(
            ErrorKind::Service,
            operation,
            format!("{what} reached a state it cannot leave by itself (failed or deleted)"),
        )),
        Err(WaiterError::OperationFailed(e)) => Err(super::sdk_error(operation, e.into_error())),
        Err(e) => Err(ProviderError::new(
            ErrorKind::Service,
            operation,
            format!("waiting for {what}: {e}"),
        )),
    }
}

fn timed_out(operation: &str, what: &str, timeout: Duration) -> ProviderError {
    ProviderError::new(
        ErrorKind::Timeout,
        operation,
        format!(
            "gave up after {}s waiting for {what}; raise the resource's timeout or check it in \
             the console",
            timeout.as_secs()
        ),
    )
}

/// Polls `done` (at once, then every [`POLL`]) until it holds or `timeout` passes: for
/// states that have no SDK waiter, such as a global cluster's writer.
async fn poll_until<F, Fut>(
    timeout: Duration,
    operation: &str,
    what: &str,
    mut done: F,
) -> Result<(), ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool, ProviderError>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if done().await? {
            return Ok(());
        }
        if Instant::now() + POLL > deadline {
            return Err(timed_out(operation, what, timeout));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Runs `call` again while RDS refuses it with one of `busy` (an object still changing
/// state), until `deadline`.
async fn retry_while_busy<T, F, Fut>(
    busy: &[&str],
    deadline: Instant,
    mut call: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    loop {
        match call().await {
            Err(e)
                if e.code.as_deref().is_some_and(|c| busy.contains(&c))
                    && Instant::now() + POLL < deadline =>
            {
                tokio::time::sleep(POLL).await;
            }
            other => return other,
        }
    }
}

/// Records on an error after a successful create the object that was made, so that the
/// engine keeps it (tainted) instead of leaking it.
fn with_created(mut e: ProviderError, id: &str, outputs: Value) -> ProviderError {
    e.created = Some(CreateResponse {
        id: id.to_string(),
        outputs,
    });
    e
}
