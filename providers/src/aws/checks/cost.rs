//! The AWS cost model: prices from `prices.toml` (each with its source page and date),
//! usage assumptions named and defaulted here, overridable by the stack.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use iac_dsl::Value;
use iac_dsl::cost::{Assumption, CostLine, CostModel, CostSubject, Usage};
use iac_dsl::value::unknown_source;
use serde::Deserialize;

/// The price list as the data file holds it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceList {
    /// Hours billed in a month for hourly prices.
    pub hours_per_month: f64,
    /// Every price.
    pub price: Vec<Price>,
    /// Types without a charge of their own.
    pub free: Vec<Free>,
}

/// One price, per region.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// What the model asks for (`ec2.nat.hour`).
    pub key: String,
    /// What one `usd` buys.
    pub unit: String,
    /// What it is, for the preview's table.
    pub item: String,
    /// USD per unit, by region.
    pub regions: BTreeMap<String, f64>,
    /// The pricing page it comes from.
    pub source: String,
    /// When it was taken from there.
    pub date: String,
}

/// Types that cost nothing of their own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Free {
    /// Their type tokens.
    pub types: Vec<String>,
    /// Why they are free.
    pub reason: String,
    /// Where that is said.
    pub source: String,
    /// When it was read.
    pub date: String,
}

/// The price list compiled into the provider (`prices.toml`). A malformed file is caught
/// by this module's tests; at run time it would price nothing rather than stop a preview.
pub fn prices() -> &'static PriceList {
    static LIST: OnceLock<PriceList> = OnceLock::new();
    LIST.get_or_init(|| {
        toml::from_str(include_str!("prices.toml")).unwrap_or(PriceList {
            hours_per_month: 730.0,
            price: Vec::new(),
            free: Vec::new(),
        })
    })
}

/// The usage assumptions: name, default, what it counts.
const ASSUMPTIONS: &[(&str, f64, &str)] = &[
    ("aurora_storage_gb", 100.0, "GB stored, per Aurora cluster"),
    (
        "aurora_io_millions_per_month",
        50.0,
        "million I/O requests a month, per Aurora cluster",
    ),
    (
        "aurora_replicated_write_io_millions_per_month",
        10.0,
        "million write I/Os replicated a month, per global database",
    ),
    (
        "nat_data_gb_per_month",
        50.0,
        "GB through each NAT gateway a month",
    ),
    (
        "lambda_requests_per_month",
        1_000_000.0,
        "invocations a month, per function",
    ),
    (
        "lambda_average_duration_ms",
        200.0,
        "milliseconds per invocation",
    ),
    (
        "api_requests_per_month",
        1_000_000.0,
        "requests a month, per REST API",
    ),
    ("s3_storage_gb", 100.0, "GB stored, per bucket"),
    (
        "s3_replicated_gb_per_month",
        10.0,
        "GB replicated a month, per replication configuration",
    ),
    (
        "route53_queries_millions_per_month",
        1.0,
        "million DNS queries a month, per hosted zone",
    ),
    (
        "kms_requests_per_month",
        10_000.0,
        "requests a month, per KMS key",
    ),
    (
        "sns_publishes_per_month",
        10_000.0,
        "messages published a month, per topic",
    ),
];

/// The AWS provider's cost model.
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsCostModel;

/// Builds the lines of one resource, looking prices up in one region.
struct Lines<'a> {
    region: &'a str,
    lines: Vec<CostLine>,
}

impl Lines<'_> {
    /// Adds `quantity` units of the price `key`.
    fn add(&mut self, key: &str, quantity: f64) -> Result<(), String> {
        let price = prices()
            .price
            .iter()
            .find(|p| p.key == key)
            .ok_or_else(|| format!("the price list has no `{key}`"))?;
        let usd = price
            .regions
            .get(self.region)
            .ok_or_else(|| format!("the price list has no `{key}` for {}", self.region))?;
        self.lines.push(CostLine::new(
            price.item.clone(),
            quantity,
            price.unit.clone(),
            *usd,
        ));
        Ok(())
    }
}

fn known_str<'a>(inputs: &'a Value, key: &str) -> Result<Option<&'a str>, String> {
    match inputs.get(key) {
        Some(v) if unknown_source(v).is_some() => Err(format!("`{key}` is known only after apply")),
        Some(v) => Ok(v.as_str()),
        None => Ok(None),
    }
}

impl CostModel for AwsCostModel {
    fn assumptions(&self) -> Vec<Assumption> {
        ASSUMPTIONS
            .iter()
            .map(|(name, default, description)| Assumption {
                name: name.to_string(),
                description: description.to_string(),
                default: *default,
            })
            .collect()
    }

    fn estimate(&self, s: &CostSubject<'_>, usage: &Usage) -> Result<Vec<CostLine>, String> {
        let hours = prices().hours_per_month;
        let mut l = Lines {
            region: s.region,
            lines: Vec::new(),
        };
        let inputs = s.inputs;
        match s.type_token {
            "aws:rds/clusterInstance" => {
                let class =
                    known_str(inputs, "instance_class")?.ok_or("`instance_class` is not set")?;
                l.add(&format!("rds.instance.{class}"), hours)?;
            }
            "aws:rds/cluster" => {
                l.add("rds.storage", usage.get("aurora_storage_gb"))?;
                l.add("rds.io", usage.get("aurora_io_millions_per_month"))?;
            }
            "aws:rds/globalCluster" => l.add(
                "rds.global.replicated_io",
                usage.get("aurora_replicated_write_io_millions_per_month"),
            )?,
            "aws:ec2/natGateway" => {
                l.add("ec2.nat.hour", hours)?;
                l.add("ec2.nat.data", usage.get("nat_data_gb_per_month"))?;
            }
            "aws:ec2/eip" => l.add("ec2.ipv4", hours)?,
            "aws:lambda/function" => {
                let requests = usage.get("lambda_requests_per_month");
                let memory_gb = inputs
                    .get("memory_size")
                    .and_then(Value::as_f64)
                    .unwrap_or(128.0)
                    / 1024.0;
                let seconds = usage.get("lambda_average_duration_ms") / 1000.0;
                let arch = known_str(inputs, "architecture")?.unwrap_or("x86_64");
                l.add("lambda.requests", requests / 1e6)?;
                l.add(
                    &format!("lambda.duration.{arch}"),
                    requests * seconds * memory_gb,
                )?;
            }
            "aws:apigateway/restApi" => l.add(
                "apigateway.rest.requests",
                usage.get("api_requests_per_month") / 1e6,
            )?,
            "aws:s3/bucket" => l.add("s3.storage", usage.get("s3_storage_gb"))?,
            "aws:s3/bucketReplication" => l.add(
                "s3.replication.transfer",
                usage.get("s3_replicated_gb_per_month"),
            )?,
            "aws:route53/zone" => {
                l.add("route53.zone", 1.0)?;
                l.add(
                    "route53.queries",
                    usage.get("route53_queries_millions_per_month"),
                )?;
            }
            "aws:route53/healthCheck" => {
                l.add("route53.health_check", 1.0)?;
                let kind = known_str(inputs, "type")?.unwrap_or("HTTP");
                let features = [
                    kind.starts_with("HTTPS"),
                    inputs
                        .get("search_string")
                        .and_then(Value::as_str)
                        .is_some_and(|t| !t.is_empty()),
                    inputs.get("request_interval").and_then(Value::as_i64) == Some(10),
                    inputs.get("measure_latency").and_then(Value::as_bool) == Some(true),
                ]
                .into_iter()
                .filter(|on| *on)
                .count();
                if features > 0 {
                    l.add("route53.health_check.feature", features as f64)?;
                }
            }
            "aws:secretsmanager/secret" => {
                let replicas = inputs
                    .get("replicas")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                l.add("secretsmanager.secret", 1.0 + replicas as f64)?;
            }
            "aws:kms/key" => {
                l.add("kms.key", 1.0)?;
                l.add("kms.requests", usage.get("kms_requests_per_month") / 1e4)?;
            }
            "aws:cloudwatch/metricAlarm" => l.add("cloudwatch.alarm", 1.0)?,
            "aws:sns/topic" => {
                l.add("sns.publishes", usage.get("sns_publishes_per_month") / 1e6)?;
            }
            other
                if prices()
                    .free
                    .iter()
                    .any(|f| f.types.iter().any(|t| t == other)) => {}
            other => return Err(format!("the AWS cost model has no entry for {other}")),
        }
        Ok(l.lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_price_list_parses_and_every_price_names_its_source_and_date() {
        let list: PriceList =
            toml::from_str(include_str!("prices.toml")).expect("prices.toml parses");
        assert!(!list.price.is_empty());
        for p in &list.price {
            assert!(p.source.starts_with("https://"), "{}: source", p.key);
            assert!(p.date.len() >= 7, "{}: date", p.key);
            for region in ["us-east-1", "us-east-2"] {
                assert!(
                    p.regions.contains_key(region),
                    "{} has no {region} price",
                    p.key
                );
            }
        }
        for f in &list.free {
            assert!(!f.source.is_empty() && !f.date.is_empty() && !f.reason.is_empty());
        }
    }

    #[test]
    fn an_instance_class_or_region_without_a_price_is_reported_not_guessed() {
        let usage = Usage::default();
        let inputs = json!({"instance_class": "db.x2g.16xlarge"});
        let s = CostSubject {
            name: "db",
            type_token: "aws:rds/clusterInstance",
            inputs: &inputs,
            region: "us-east-1",
        };
        let err = AwsCostModel.estimate(&s, &usage).unwrap_err();
        assert!(err.contains("rds.instance.db.x2g.16xlarge"), "{err}");
        let inputs = json!({"instance_class": "db.r6g.large"});
        let s = CostSubject {
            region: "ap-south-2",
            inputs: &inputs,
            ..s
        };
        let err = AwsCostModel.estimate(&s, &usage).unwrap_err();
        assert!(err.contains("ap-south-2"), "{err}");
    }
}
