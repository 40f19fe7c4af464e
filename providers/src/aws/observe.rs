//! What a failover drill reads while it runs: which member of an Aurora global database
//! writes and each cluster's status, the answer Route 53 gives for a failover record by its
//! health check, and a function's HTTP routes invoked directly. Reads only, apart from the
//! invocations the caller asks for; each answer says what could not be read instead of
//! failing, since a drill reads regions that may be impaired.

use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Aws;

/// How long one read or invocation of a drill may take before it counts as unreachable.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One cluster as a drill sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterView {
    /// Its region.
    pub region: String,
    /// Its identifier.
    pub id: String,
    /// `writer` or `reader` of the global database, `standalone` (outside it: detached
    /// and promoted), `missing`, or `unknown` when it could not be read.
    pub role: String,
    /// Its RDS status (`available`, `failing-over`, ...), or why it is unknown.
    pub status: String,
}

impl ClusterView {
    /// Whether it takes writes: the global database's writer (or a standalone cluster),
    /// and available.
    pub fn accepts_writes(&self) -> bool {
        matches!(self.role.as_str(), "writer" | "standalone") && self.status == "available"
    }
}

/// Reads the roles and statuses of `clusters` (`(region, identifier)`) in the global
/// database `global_id`, asking for the global database in `via_region` (the surviving
/// region during an unplanned change). Never fails: what cannot be read says so.
pub async fn clusters(
    global_id: &str,
    clusters: &[(String, String)],
    via_region: &str,
) -> Vec<ClusterView> {
    let members: Result<Vec<(String, bool)>, String> = async {
        let rds = Aws::region(via_region).rds().await;
        let out = within(
            rds.describe_global_clusters()
                .global_cluster_identifier(global_id)
                .send(),
        )
        .await?
        .map_err(|e| format!("DescribeGlobalClusters: {}", e.into_service_error()))?;
        Ok(out
            .global_clusters()
            .iter()
            .filter(|g| g.global_cluster_identifier() == Some(global_id))
            .flat_map(|g| g.global_cluster_members())
            .filter_map(|m| Some((m.db_cluster_arn()?.to_string(), m.is_writer()?)))
            .collect())
    }
    .await;
    let mut views = Vec::new();
    for (region, id) in clusters {
        let rds = Aws::region(region).rds().await;
        let described = within(rds.describe_db_clusters().db_cluster_identifier(id).send()).await;
        let (exists, status) = match described {
            Ok(Ok(out)) => match out.db_clusters().first() {
                Some(c) => (true, c.status().unwrap_or("unknown").to_string()),
                None => (false, "missing".to_string()),
            },
            Ok(Err(e)) => {
                let e = e.into_service_error();
                if e.is_db_cluster_not_found_fault() {
                    (false, "missing".to_string())
                } else {
                    (true, format!("unknown: DescribeDBClusters: {e}"))
                }
            }
            Err(e) => (true, format!("unknown: {e}")),
        };
        let role = match &members {
            _ if !exists => "missing".to_string(),
            Ok(members) => match members
                .iter()
                .find(|(arn, _)| arn.rsplit(':').next() == Some(id.as_str()))
            {
                Some((_, true)) => "writer".to_string(),
                Some((_, false)) => "reader".to_string(),
                None => "standalone".to_string(),
            },
            Err(_) => "unknown".to_string(),
        };
        views.push(ClusterView {
            region: region.clone(),
            id: id.clone(),
            role,
            status,
        });
    }
    views
}

/// Route 53's view of a failover record: its health check's verdict and the answer it
/// gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsView {
    /// `healthy` or `unhealthy` (from the health checkers' latest observations), or why it
    /// is unknown.
    pub health_check: String,
    /// The failover role Route 53 answers with (`PRIMARY` while the health check is
    /// healthy, else `SECONDARY`), when known.
    pub answer_role: Option<String>,
    /// The target it answers with (the alias's DNS name, or the record's first value).
    pub answer: Option<String>,
}

/// Route 53's answer for the failover record `record_name` of zone `zone_name`, derived
/// from the health check `health_check_id`'s observations and the two failover records
/// (the same rule Route 53 applies). TestDNSAnswer would ask Route 53 itself; the
/// emulator lacks it, so the drill derives the answer the same way everywhere.
pub async fn dns_answer(zone_name: &str, record_name: &str, health_check_id: &str) -> DnsView {
    let route53 = Aws::region("us-east-1").route53().await;
    let health = match within(
        route53
            .get_health_check_status()
            .health_check_id(health_check_id)
            .send(),
    )
    .await
    {
        Ok(Ok(out)) => {
            let observations = out.health_check_observations();
            let ok = observations
                .iter()
                .filter(|o| {
                    o.status_report()
                        .and_then(|r| r.status())
                        .is_some_and(|s| s.starts_with("Success"))
                })
                .count();
            if observations.is_empty() {
                "unknown: no observation yet".to_string()
            } else if ok * 2 > observations.len() {
                "healthy".to_string()
            } else {
                "unhealthy".to_string()
            }
        }
        Ok(Err(e)) => format!("unknown: GetHealthCheckStatus: {}", e.into_service_error()),
        Err(e) => format!("unknown: {e}"),
    };
    let records = failover_records(&route53, zone_name, record_name).await;
    let role = match health.as_str() {
        "healthy" => Some("PRIMARY"),
        "unhealthy" => Some("SECONDARY"),
        _ => None,
    };
    let answer = role.and_then(|role| {
        records
            .iter()
            .find(|(r, _)| r == role)
            .map(|(_, target)| target.clone())
    });
    DnsView {
        health_check: health,
        answer_role: role.map(str::to_string),
        answer,
    }
}

/// `(failover role, target)` of the failover records named `record_name` in the zone
/// `zone_name`; empty when they cannot be read.
async fn failover_records(
    route53: &aws_sdk_route53::Client,
    zone_name: &str,
    record_name: &str,
) -> Vec<(String, String)> {
    let trim = |n: &str| n.trim_end_matches('.').to_ascii_lowercase();
    let Ok(Ok(zones)) = within(
        route53
            .list_hosted_zones_by_name()
            .dns_name(zone_name)
            .send(),
    )
    .await
    else {
        return Vec::new();
    };
    let Some(zone) = zones
        .hosted_zones()
        .iter()
        .find(|z| trim(z.name()) == trim(zone_name))
    else {
        return Vec::new();
    };
    let Ok(Ok(sets)) = within(
        route53
            .list_resource_record_sets()
            .hosted_zone_id(zone.id())
            .send(),
    )
    .await
    else {
        return Vec::new();
    };
    sets.resource_record_sets()
        .iter()
        .filter(|r| trim(r.name()) == trim(record_name))
        .filter_map(|r| {
            let role = r.failover()?.as_str().to_string();
            let target = r
                .alias_target()
                .map(|a| a.dns_name().trim_end_matches('.').to_string())
                .or_else(|| r.resource_records().first().map(|v| v.value().to_string()))?;
            Some((role, target))
        })
        .collect()
}

/// Invokes the function `function` of `region` with the API Gateway (REST) event of
/// `method path` and `body`, as its API would: the HTTP status and JSON body it answers
/// with, or why it did not answer. The API's public URL needs public DNS and TLS; the
/// function is what answers behind it.
pub async fn invoke_route(
    region: &str,
    function: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let event = json!({
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"content-type": "application/json"},
        "multiValueHeaders": {"content-type": ["application/json"]},
        "queryStringParameters": null,
        "pathParameters": null,
        "stageVariables": null,
        "requestContext": {
            "resourcePath": path, "httpMethod": method, "path": format!("/prod{path}"),
            "stage": "prod", "requestId": "iac-drill", "accountId": "", "apiId": "",
            "identity": {"sourceIp": "127.0.0.1", "userAgent": "iac-drill"}
        },
        "body": body.map(Value::to_string),
        "isBase64Encoded": false
    });
    let lambda = Aws::region(region).lambda().await;
    let out = within(
        lambda
            .invoke()
            .function_name(function)
            .payload(Blob::new(event.to_string()))
            .send(),
    )
    .await?
    .map_err(|e| format!("Invoke: {}", e.into_service_error()))?;
    if let Some(error) = out.function_error() {
        let said: String = out
            .payload()
            .map(|p| {
                String::from_utf8_lossy(p.as_ref())
                    .chars()
                    .take(200)
                    .collect()
            })
            .unwrap_or_default();
        return Err(format!("the function failed ({error}): {said}"));
    }
    let payload: Value = out
        .payload()
        .and_then(|p| serde_json::from_slice(p.as_ref()).ok())
        .ok_or("the function answered with no JSON")?;
    let status = payload["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .ok_or_else(|| format!("the function's answer has no statusCode: {payload}"))?;
    let body = match &payload["body"] {
        Value::String(text) => serde_json::from_str(text).unwrap_or(Value::String(text.clone())),
        other => other.clone(),
    };
    Ok((status, body))
}

/// `future`, or an error saying it took longer than [`READ_TIMEOUT`].
async fn within<F: std::future::Future>(future: F) -> Result<F::Output, String> {
    tokio::time::timeout(READ_TIMEOUT, future)
        .await
        .map_err(|_| format!("no answer within {} s", READ_TIMEOUT.as_secs()))
}
