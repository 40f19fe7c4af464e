//! Making every mutating call safe to repeat.
//!
//! An answer can be lost after AWS acted (a timeout, a 5xx from a proxy), and the SDK then
//! retries the same call by itself, or the engine repeats a step on the next run. The
//! repeated call meets the effect of the first: "already exists" on a create, "not found"
//! on a delete, "duplicate" on an authorize or an add. The helpers here turn those answers
//! into success when what exists is what was asked for, and into an error naming the object
//! and why when it is not. Every provider calls them instead of matching error codes itself.

use std::collections::BTreeMap;
use std::future::Future;

use iac_dsl::{ErrorKind, ProviderError, ResourceContext};

use super::{Aws, TAG_NAME, TAG_STACK, TAG_TOKEN};

/// Whether an error says the object (or sub-object) to be made is there already.
///
/// The codes of every service the provider uses: EC2 `*.Duplicate` and
/// `RouteAlreadyExists` and `Resource.AlreadyAssociated`, KMS `AlreadyExistsException`, Secrets Manager
/// `ResourceExistsException`, IAM `EntityAlreadyExists`, Lambda and API Gateway
/// `ResourceConflictException`/`ConflictException`, RDS `*AlreadyExists*Fault`, Route 53
/// `*AlreadyExists`, S3 `BucketAlreadyOwnedByYou` (never `BucketAlreadyExists`, which is
/// another account's bucket).
pub(crate) fn is_already_exists(e: &ProviderError) -> bool {
    let Some(code) = e.code.as_deref() else {
        return false;
    };
    if code == "BucketAlreadyExists" {
        return false; // another account's bucket
    }
    code.contains("AlreadyExists")
        || code.contains("Duplicate")
        || code.contains("AlreadyAssociated")
        || code == "ResourceExistsException"
        || code == "ResourceConflictException"
        || code == "ConflictException"
        || code == "BucketAlreadyOwnedByYou"
        || code == "InvalidPermission.Duplicate"
}

/// Whether an error says the object is not there.
pub(crate) fn is_not_found(e: &ProviderError) -> bool {
    e.kind == ErrorKind::NotFound
}

/// A revoke, delete, remove, detach, disassociate or untag whose object is already gone
/// has done its work: "not found" counts as success.
pub(crate) fn done_if_not_found<T>(result: Result<T, ProviderError>) -> Result<(), ProviderError> {
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A delete that failed otherwise (a 5xx from a service that fails on a missing object, a
/// repeat meeting its own effect) has done its work when the object is gone: `still_there`
/// reads it again. The original error stands when it is still there or cannot be read.
pub(crate) async fn done_if_gone<T, F, Fut>(
    result: Result<T, ProviderError>,
    still_there: F,
) -> Result<(), ProviderError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<bool, ProviderError>>,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => match still_there().await {
            Ok(false) => Ok(()),
            _ => Err(e),
        },
    }
}

/// What a create found in place of the object it was to make.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Existing<T> {
    /// Ours (made with our token, or carrying our stack and name, or the deterministic
    /// name with the declared configuration): adopt it.
    Ours(T),
    /// Someone else's: fail, saying why it is not ours.
    NotOurs(String),
    /// Gone again by the time we looked.
    Gone,
}

/// Runs a create; when it fails with "already exists", asks `adopt` what is there and
/// adopts it when it is ours. Anything else that is there fails the create with an error
/// naming `what` (e.g. ``secret `payments-x` ``) and why it is not ours, keeping the
/// service's code and message.
pub(crate) async fn create_or_adopt<T, C, A, AF>(
    what: &str,
    create: C,
    adopt: A,
) -> Result<T, ProviderError>
where
    C: Future<Output = Result<T, ProviderError>>,
    A: FnOnce() -> AF,
    AF: Future<Output = Result<Existing<T>, ProviderError>>,
{
    match create.await {
        Ok(t) => Ok(t),
        Err(e) if is_already_exists(&e) => match adopt().await? {
            Existing::Ours(t) => Ok(t),
            Existing::NotOurs(why) => Err(not_ours(e, what, &why)),
            Existing::Gone => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// The error for an object that exists but is not ours.
pub(crate) fn not_ours(e: ProviderError, what: &str, why: &str) -> ProviderError {
    ProviderError {
        message: format!(
            "{what} already exists and is not this resource's: {why} ({})",
            e.message
        ),
        ..e
    }
}

/// Whether an object's tags say it is the resource of `ctx` made with `token`: `Ok` when it
/// carries our `iac:token`, or our `iac:stack` and `iac:name`; otherwise why it is not.
pub(crate) fn owned(
    tags: &BTreeMap<String, String>,
    ctx: &ResourceContext,
    token: Option<&str>,
) -> Result<(), String> {
    if token.is_some() && tags.get(TAG_TOKEN).map(String::as_str) == token {
        return Ok(());
    }
    let stack = tags.get(TAG_STACK);
    let name = tags.get(TAG_NAME);
    if stack == Some(&ctx.stack) && name == Some(&ctx.name) {
        return Ok(());
    }
    match (stack, name) {
        (None, None) => Err("it carries no iac:stack/iac:name tags".to_string()),
        (s, n) => Err(format!(
            "its tags name {}/{}, not {}/{}",
            s.map(String::as_str).unwrap_or("-"),
            n.map(String::as_str).unwrap_or("-"),
            ctx.stack,
            ctx.name
        )),
    }
}

/// [`Existing`] for an object found with `tags`: ours by [`owned`], or not ours.
pub(crate) fn existing_by_tags<T>(
    found: Option<(T, &BTreeMap<String, String>)>,
    ctx: &ResourceContext,
    token: Option<&str>,
) -> Existing<T> {
    match found {
        None => Existing::Gone,
        Some((t, tags)) => match owned(tags, ctx, token) {
            Ok(()) => Existing::Ours(t),
            Err(why) => Existing::NotOurs(why),
        },
    }
}

/// How a sub-object found in place of one we add compares with what we asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Same {
    /// It is what we asked for: the add is done.
    Yes,
    /// It differs, as described (e.g. "targets igw-1, not nat-2").
    No(String),
}

/// An authorize, add, attach or create of a sub-object (a route, a rule, a permission, a
/// replica) that failed with "duplicate" has done its work when what exists is what was
/// asked for; `compare` says so. Otherwise the error names `what` and the difference.
pub(crate) async fn done_if_duplicate<T, F, Fut>(
    result: Result<T, ProviderError>,
    what: &str,
    compare: F,
) -> Result<(), ProviderError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Same, ProviderError>>,
{
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_already_exists(&e) => match compare().await? {
            Same::Yes => Ok(()),
            Same::No(why) => Err(ProviderError {
                message: format!("{what} exists and differs: {why} ({})", e.message),
                ..e
            }),
        },
        Err(e) => Err(e),
    }
}

/// The change from one full set of tags to another: keys to remove, and keys to set
/// (new or with a new value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TagDiff {
    /// Keys in the old set only.
    pub removed: Vec<String>,
    /// Keys whose value is new or changed, with the new value.
    pub changed: BTreeMap<String, String>,
}

impl TagDiff {
    /// The change from `old` to `new`.
    pub(crate) fn between(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Self {
        TagDiff {
            removed: old
                .keys()
                .filter(|k| !new.contains_key(*k))
                .cloned()
                .collect(),
            changed: new
                .iter()
                .filter(|(k, v)| old.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// Whether nothing changes.
    pub(crate) fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.changed.is_empty()
    }
}

/// Brings an object's tags from a resource's `old` own tags to its `new` ones (the
/// provider's default tags and the engine's `iac:stack`/`iac:name` included; the creation
/// token is never removed): `untag` removes keys, `tag` sets keys, each called only when it
/// has something to do. Both are safe to repeat: an untag that finds the object or key gone
/// counts as done.
pub(crate) async fn update_tags<U, UF, G, GF>(
    aws: &Aws,
    ctx: &ResourceContext,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
    untag: U,
    tag: G,
) -> Result<(), ProviderError>
where
    U: FnOnce(Vec<String>) -> UF,
    UF: Future<Output = Result<(), ProviderError>>,
    G: FnOnce(BTreeMap<String, String>) -> GF,
    GF: Future<Output = Result<(), ProviderError>>,
{
    if old == new {
        return Ok(());
    }
    let diff = TagDiff::between(&aws.tags_for(ctx, old, None), &aws.tags_for(ctx, new, None));
    if diff.is_empty() {
        return Ok(());
    }
    if !diff.removed.is_empty() {
        done_if_not_found(untag(diff.removed).await)?;
    }
    if !diff.changed.is_empty() {
        tag(diff.changed).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: &str) -> ProviderError {
        ProviderError {
            code: Some(code.to_string()),
            message: "m".into(),
            operation: "Op".into(),
            kind: if code.contains("NotFound") {
                ErrorKind::NotFound
            } else {
                ErrorKind::Service
            },
            ..Default::default()
        }
    }

    fn ctx() -> ResourceContext {
        ResourceContext {
            stack: "p/s".into(),
            name: "sg".into(),
            type_token: "t".into(),
        }
    }

    #[test]
    fn duplicates_of_every_service_are_recognised() {
        for code in [
            "RouteAlreadyExists",
            "InvalidPermission.Duplicate",
            "InvalidGroup.Duplicate",
            "AlreadyExistsException",
            "ResourceExistsException",
            "EntityAlreadyExists",
            "ResourceConflictException",
            "ConflictException",
            "DBClusterAlreadyExistsFault",
            "HostedZoneAlreadyExists",
            "BucketAlreadyOwnedByYou",
        ] {
            assert!(is_already_exists(&err(code)), "{code}");
        }
        for code in [
            "BucketAlreadyExists",
            "InvalidParameterValue",
            "AccessDenied",
        ] {
            assert!(!is_already_exists(&err(code)), "{code}");
        }
        assert!(!is_already_exists(&ProviderError::default()));
    }

    #[test]
    fn not_found_counts_as_done_and_other_errors_stay() {
        assert!(done_if_not_found::<()>(Err(err("InvalidPermission.NotFound"))).is_ok());
        assert!(done_if_not_found(Ok(1)).is_ok());
        assert_eq!(
            done_if_not_found::<()>(Err(err("AccessDenied")))
                .unwrap_err()
                .code
                .as_deref(),
            Some("AccessDenied")
        );
    }

    #[tokio::test]
    async fn a_failed_delete_is_done_when_the_object_is_gone() {
        let failed = || Err::<(), _>(err("InternalFailure"));
        assert!(done_if_gone(failed(), || async { Ok(false) }).await.is_ok());
        assert!(done_if_gone(failed(), || async { Ok(true) }).await.is_err());
        let unreadable = done_if_gone(failed(), || async { Err(err("AccessDenied")) }).await;
        assert_eq!(
            unreadable.unwrap_err().code.as_deref(),
            Some("InternalFailure")
        );
    }

    #[test]
    fn ownership_is_the_token_or_the_stack_and_name() {
        let tags = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(owned(&tags(&[(TAG_TOKEN, "t1")]), &ctx(), Some("t1")).is_ok());
        assert!(
            owned(
                &tags(&[(TAG_STACK, "p/s"), (TAG_NAME, "sg")]),
                &ctx(),
                Some("t2")
            )
            .is_ok()
        );
        let why = owned(
            &tags(&[(TAG_STACK, "p/s"), (TAG_NAME, "other")]),
            &ctx(),
            None,
        )
        .unwrap_err();
        assert!(why.contains("p/s/other"), "{why}");
        assert!(
            owned(&tags(&[]), &ctx(), Some("t"))
                .unwrap_err()
                .contains("no iac")
        );
        assert!(owned(&tags(&[(TAG_TOKEN, "t1")]), &ctx(), None).is_err());
    }

    #[tokio::test]
    async fn a_create_adopts_what_is_ours_and_names_what_is_not() {
        let got = create_or_adopt(
            "group `g`",
            async { Err::<u32, _>(err("InvalidGroup.Duplicate")) },
            || async { Ok(Existing::Ours(7)) },
        )
        .await;
        assert_eq!(got.unwrap(), 7);
        let e = create_or_adopt(
            "group `g`",
            async { Err::<u32, _>(err("InvalidGroup.Duplicate")) },
            || async { Ok(Existing::NotOurs("its tags name a/b".into())) },
        )
        .await
        .unwrap_err();
        assert_eq!(e.code.as_deref(), Some("InvalidGroup.Duplicate"));
        assert!(
            e.message.contains("group `g`") && e.message.contains("a/b"),
            "{}",
            e.message
        );
        let e = create_or_adopt(
            "g",
            async { Err::<u32, _>(err("AccessDenied")) },
            || async { panic!("not asked") },
        )
        .await
        .unwrap_err();
        assert_eq!(e.code.as_deref(), Some("AccessDenied"));
    }

    #[tokio::test]
    async fn a_duplicate_is_done_only_when_it_is_the_same() {
        let ok = done_if_duplicate(Err::<(), _>(err("RouteAlreadyExists")), "route", || async {
            Ok(Same::Yes)
        })
        .await;
        assert!(ok.is_ok());
        let e = done_if_duplicate(
            Err::<(), _>(err("RouteAlreadyExists")),
            "route 0.0.0.0/0",
            || async { Ok(Same::No("targets igw-1".into())) },
        )
        .await
        .unwrap_err();
        assert!(e.message.contains("route 0.0.0.0/0") && e.message.contains("igw-1"));
    }

    #[test]
    fn the_tag_diff_removes_and_sets_only_what_changed() {
        let m = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let d = TagDiff::between(
            &m(&[("a", "1"), ("b", "2"), ("c", "3")]),
            &m(&[("a", "1"), ("b", "9"), ("d", "4")]),
        );
        assert_eq!(d.removed, vec!["c".to_string()]);
        assert_eq!(d.changed, m(&[("b", "9"), ("d", "4")]));
        assert!(TagDiff::between(&m(&[("a", "1")]), &m(&[("a", "1")])).is_empty());
    }
}
