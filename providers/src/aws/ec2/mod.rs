//! EC2: networking resources and the availability-zones data source.

mod vpc;

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};

pub use vpc::{Vpc, VpcArgs, VpcOutputs};

use super::{DataSourceImpl, ResourceImpl};

/// The EC2 resource types.
pub(crate) const RESOURCES: &[&dyn ResourceImpl] = &[&vpc::VpcImpl];

/// The EC2 data sources.
pub(crate) const DATA_SOURCES: &[&dyn DataSourceImpl] = &[];

/// EC2 tags from a map.
pub(crate) fn to_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The tag specification that tags an object as it is created.
pub(crate) fn tag_spec(kind: ResourceType, tags: &BTreeMap<String, String>) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(to_tags(tags)))
        .build()
}

/// A map from EC2 tags.
pub(crate) fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

/// The filter that finds objects carrying `key=value`.
pub(crate) fn tag_filter(key: &str, value: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

/// Brings an object's tags from `old` to `new` (both the full set the provider manages).
pub(crate) async fn sync_tags(
    client: &aws_sdk_ec2::Client,
    id: &str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Result<(), iac_dsl::ProviderError> {
    use super::ErrorContext;
    let removed: Vec<Tag> = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .map(|k| Tag::builder().key(k).build())
        .collect();
    if !removed.is_empty() {
        client
            .delete_tags()
            .resources(id)
            .set_tags(Some(removed))
            .send()
            .await
            .op("DeleteTags")?;
    }
    let changed: BTreeMap<String, String> = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !changed.is_empty() {
        client
            .create_tags()
            .resources(id)
            .set_tags(Some(to_tags(&changed)))
            .send()
            .await
            .op("CreateTags")?;
    }
    Ok(())
}
