//! IAM's account-wide listings, read once per refresh for every IAM object of the stack.
//!
//! IAM reads one object per call (`GetRole`, `ListAttachedRolePolicies`, `GetRolePolicy`,
//! `GetPolicyVersion`), and IAM is global: every region's provider reads its own roles.
//! `GetAccountAuthorizationDetails` lists the account's roles with their inline policies,
//! attached policies and tags, and its managed policies with their versions' documents;
//! `ListRoles` adds the two things that listing leaves out of a role (its description and
//! its session length). Both are shared by the refresh's providers of one account
//! ([`ReadBatch::shared_global`]), so a stack's IAM costs the same few calls however many
//! regions hold its objects.
//!
//! A listing is a hint for what it holds, like every batch answer: an object it does not
//! list is read on its own. A listing that fails (credentials allowed `GetRole` but not
//! `GetAccountAuthorizationDetails`) leaves every object to its own read. An account with
//! many roles is listed a bounded number of pages: no more pages than the stack has IAM
//! objects to read (what the pages did not reach is read on its own), so even in a large
//! account a listing at most doubles what single reads would cost.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_iam::types::{EntityType, ManagedPolicyDetail, Role, RoleDetail};

use crate::aws::batch::ReadBatch;
use crate::aws::{Aws, ErrorContext};

/// The IAM types a refresh reads through the listings.
const TYPES: &[&str] = &[
    "aws:iam/role",
    "aws:iam/policy",
    "aws:iam/rolePolicy",
    "aws:iam/rolePolicyAttachment",
];

/// The most items IAM lists in one page.
const PAGE: i32 = 1000;

/// What `GetAccountAuthorizationDetails` said of the account's roles (by name) and its
/// customer managed policies (by ARN).
#[derive(Debug, Default)]
pub(super) struct Authorization {
    pub(super) roles: BTreeMap<String, RoleDetail>,
    pub(super) policies: BTreeMap<String, ManagedPolicyDetail>,
}

/// A listing's answer: `None` inside when it could not be read (each object is then read
/// on its own).
pub(super) type Listed<T> = Arc<Option<T>>;

/// The account's roles and policies as `GetAccountAuthorizationDetails` lists them, shared
/// by every provider of the refresh.
pub(super) async fn authorization(aws: &Aws, batch: &ReadBatch) -> Listed<Authorization> {
    let pages = pages_for(batch);
    batch
        .shared_global("iam:authorization", || async move {
            Ok(list_authorization(aws, pages).await)
        })
        .await
        .unwrap_or_default()
}

/// The account's roles as `ListRoles` lists them (with their descriptions and session
/// lengths), by name, shared like [`authorization`].
pub(super) async fn roles(aws: &Aws, batch: &ReadBatch) -> Listed<BTreeMap<String, Role>> {
    let pages = pages_for(batch);
    batch
        .shared_global(
            "iam:roles",
            || async move { Ok(list_roles(aws, pages).await) },
        )
        .await
        .unwrap_or_default()
}

/// Which listings a batch reads through: the cheapest way for its own IAM objects, ties
/// going to the listings (another region's provider may share them at no cost).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Plan {
    /// `GetAccountAuthorizationDetails`, for attachments, inline policies, policy
    /// documents and role tags.
    pub(super) authorization: bool,
    /// `ListRoles` too: roles come whole from the two listings.
    pub(super) roles: bool,
}

/// The plan for `batch`: with `r` roles, `a` attachments and inline policies and `p`
/// managed policies, reading each alone costs `r + a + 2p` calls (a policy's document is
/// a second call), the authorization listing `1 + r + p`, both listings `2 + p`.
pub(super) fn plan(batch: &ReadBatch) -> Plan {
    let count = |t: &str| batch.of_type(t).count();
    let (r, a, p) = (
        count(TYPES[0]),
        count(TYPES[2]) + count(TYPES[3]),
        count(TYPES[1]),
    );
    choose(r, a, p)
}

fn choose(r: usize, a: usize, p: usize) -> Plan {
    let alone = r + a + 2 * p;
    let authorization = 1 + r + p;
    let both = if r > 0 { 2 + p } else { usize::MAX };
    if r + a + p == 0 {
        Plan {
            authorization: false,
            roles: false,
        }
    } else if both <= authorization && both <= alone {
        Plan {
            authorization: true,
            roles: true,
        }
    } else {
        Plan {
            authorization: authorization <= alone,
            roles: false,
        }
    }
}

/// Pages a listing may take: the IAM objects this batch would otherwise read one by one.
fn pages_for(batch: &ReadBatch) -> usize {
    TYPES
        .iter()
        .map(|t| batch.of_type(t).count())
        .sum::<usize>()
        .max(1)
}

async fn list_authorization(aws: &Aws, pages: usize) -> Option<Authorization> {
    let client = aws.iam().await;
    let mut listed = Authorization::default();
    let mut marker: Option<String> = None;
    for _ in 0..pages {
        let page = client
            .get_account_authorization_details()
            .filter(EntityType::Role)
            .filter(EntityType::LocalManagedPolicy)
            .max_items(PAGE)
            .set_marker(marker.take())
            .send()
            .await
            .op("GetAccountAuthorizationDetails");
        let page = match page {
            Ok(page) => page,
            Err(e) => {
                tracing::debug!(
                    "IAM's authorization details were not listed ({e}); each IAM object is read on its own"
                );
                return None;
            }
        };
        for role in page.role_detail_list() {
            if let Some(name) = role.role_name() {
                listed.roles.insert(name.to_string(), role.clone());
            }
        }
        for policy in page.policies() {
            if let Some(arn) = policy.arn() {
                listed.policies.insert(arn.to_string(), policy.clone());
            }
        }
        match page.marker() {
            Some(m) if page.is_truncated() => marker = Some(m.to_string()),
            _ => break,
        }
    }
    Some(listed)
}

async fn list_roles(aws: &Aws, pages: usize) -> Option<BTreeMap<String, Role>> {
    let client = aws.iam().await;
    let mut listed = BTreeMap::new();
    let mut marker: Option<String> = None;
    for _ in 0..pages {
        let page = client
            .list_roles()
            .max_items(PAGE)
            .set_marker(marker.take())
            .send()
            .await
            .op("ListRoles");
        let page = match page {
            Ok(page) => page,
            Err(e) => {
                tracing::debug!("IAM's roles were not listed ({e}); each role is read on its own");
                return None;
            }
        };
        for role in page.roles() {
            listed.insert(role.role_name().to_string(), role.clone());
        }
        match page.marker() {
            Some(m) if page.is_truncated() => marker = Some(m.to_string()),
            _ => break,
        }
    }
    Some(listed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listings_are_read_only_where_they_cost_no_more_than_single_reads() {
        let none = Plan {
            authorization: false,
            roles: false,
        };
        let authorization = Plan {
            authorization: true,
            roles: false,
        };
        let both = Plan {
            authorization: true,
            roles: true,
        };
        assert_eq!(choose(0, 0, 0), none, "nothing to read");
        assert_eq!(choose(1, 0, 0), none, "one role: one GetRole");
        assert_eq!(choose(0, 1, 0), authorization, "a tie goes to the listing");
        assert_eq!(
            choose(2, 0, 0),
            both,
            "two roles: ListRoles and the details"
        );
        assert_eq!(choose(1, 2, 0), both, "a role and its attachments");
        assert_eq!(choose(0, 0, 1), authorization, "a policy's document");
        assert_eq!(choose(2, 3, 1), both, "the DR stack's primary region");
    }
}
