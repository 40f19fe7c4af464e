//! IAM: roles, managed policies, role policy attachments and inline role policies, with
//! typed policy documents ([`PolicyDocument`]).

mod listing;
mod policies;
mod policy;
mod role;

use std::collections::BTreeMap;

use aws_sdk_iam::types::Tag;

pub use policies::{
    Policy, PolicyArgs, PolicyOutputs, RolePolicy, RolePolicyArgs, RolePolicyAttachment,
    RolePolicyAttachmentArgs,
};
pub use policy::{PolicyDocument, Statement};
pub use role::{Role, RoleArgs, RoleOutputs};

use super::{DataSourceImpl, ResourceImpl};

/// The IAM resource types.
pub(crate) const RESOURCES: &[&dyn ResourceImpl] = &[
    &role::RoleImpl,
    &policies::PolicyImpl,
    &policies::AttachmentImpl,
    &policies::RolePolicyImpl,
];

/// IAM has no data sources here.
pub(crate) const DATA_SOURCES: &[&dyn DataSourceImpl] = &[];

/// IAM names of roles and policies: `max` characters at most of letters, digits and
/// `+=,.@_-`.
pub(crate) fn check_name(name: &str, max: usize) -> Result<(), String> {
    crate::validate::length(name, 1, max)?;
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "+=,.@_-".contains(*c)))
    {
        Some(c) => Err(format!(
            "`{name}` has `{c}`; IAM names allow letters, digits and +=,.@_-"
        )),
        None => Ok(()),
    }
}

/// IAM paths: `/` or `/a/b/`, at most 512 characters.
pub(crate) fn check_path(path: &str) -> Result<(), String> {
    crate::validate::length(path, 1, 512)?;
    if !path.starts_with('/') || !path.ends_with('/') {
        return Err(format!("`{path}` must start and end with `/`"));
    }
    Ok(())
}

fn to_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect()
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

/// Whether tags found on an object say it is the one `ctx` made (same stack and name, or
/// the create's token).
fn is_ours(tags: &BTreeMap<String, String>, ctx: &iac_dsl::ResourceContext, token: &str) -> bool {
    tags.get(super::TAG_TOKEN).is_some_and(|t| t == token)
        || (tags.get(super::TAG_STACK) == Some(&ctx.stack)
            && tags.get(super::TAG_NAME) == Some(&ctx.name))
}
