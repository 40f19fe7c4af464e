//! `aws:ec2/availabilityZones`: the zones a region offers, read during preview.

use async_trait::async_trait;
use aws_sdk_ec2::types::AvailabilityZoneState;
use iac_dsl::{DataSourceArgs, Input, Output, Props, ProviderError, ResourceRef, Value};

use super::filter;
use crate::aws::{Aws, DataSourceImpl, ErrorContext};

const TOKEN: &str = "aws:ec2/availabilityZones";

/// The query: zones in the `available` state, sorted by name.
#[derive(Debug, Clone, Default)]
pub struct AvailabilityZonesArgs {
    exclude_names: Vec<String>,
}

impl AvailabilityZonesArgs {
    /// Every available zone of the provider's region.
    pub fn new() -> Self {
        AvailabilityZonesArgs::default()
    }

    /// Leaves out a zone (for example one lacking an instance class).
    pub fn exclude(mut self, name: impl Into<String>) -> Self {
        self.exclude_names.push(name.into());
        self
    }
}

impl DataSourceArgs for AvailabilityZonesArgs {
    type Handle = AvailabilityZones;

    fn token(&self) -> &'static str {
        TOKEN
    }

    fn props(&self) -> Props {
        Props::new().set("exclude_names", &Input::Value(self.exclude_names.clone()))
    }
}

/// The zones found: `names` and `zone_ids`, in the same order.
#[derive(Debug, Clone)]
pub struct AvailabilityZones(ResourceRef);

impl From<ResourceRef> for AvailabilityZones {
    fn from(r: ResourceRef) -> Self {
        AvailabilityZones(r)
    }
}

impl AvailabilityZones {
    /// Every zone name, sorted.
    pub fn names(&self) -> Output<Vec<String>> {
        self.0.output("names")
    }

    /// The `index`-th zone name.
    pub fn name(&self, index: usize) -> Output<String> {
        self.0.output(&format!("names.{index}"))
    }

    /// The zone ids (stable across accounts), in the order of [`Self::names`].
    pub fn zone_ids(&self) -> Output<Vec<String>> {
        self.0.output("zone_ids")
    }
}

pub(super) struct AvailabilityZonesImpl;

#[async_trait]
impl DataSourceImpl for AvailabilityZonesImpl {
    fn token(&self) -> &'static str {
        TOKEN
    }

    async fn invoke(&self, aws: &Aws, args: Value) -> Result<Value, ProviderError> {
        let exclude: Vec<String> =
            serde_json::from_value(args["exclude_names"].clone()).unwrap_or_default();
        let out = aws
            .ec2()
            .await
            .describe_availability_zones()
            .filters(filter("region-name", aws.region_name()))
            .send()
            .await
            .op("DescribeAvailabilityZones")?;
        let mut zones: Vec<(String, String)> = out
            .availability_zones()
            .iter()
            .filter(|z| z.state() == Some(&AvailabilityZoneState::Available))
            .filter_map(|z| {
                Some((
                    z.zone_name()?.to_string(),
                    z.zone_id().unwrap_or_default().to_string(),
                ))
            })
            .filter(|(name, _)| !exclude.contains(name))
            .collect();
        zones.sort();
        let (names, ids): (Vec<String>, Vec<String>) = zones.into_iter().unzip();
        Ok(serde_json::json!({ "names": names, "zone_ids": ids }))
    }
}
