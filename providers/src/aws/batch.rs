//! Reading many objects with few calls: the refresh of one provider as one batch.
//!
//! The engine hands a provider every resource it refreshes at once
//! ([`iac_dsl::Provider::read_many`]). [`super::Aws`] groups them by type and gives each
//! type its requests together with a [`ReadBatch`]: every request of the refresh, and the
//! answers of listing calls made so far. A type whose API describes many objects in one
//! call (EC2 describes by an id filter, CloudWatch alarms by a name list, one record
//! listing per hosted zone) makes that call once and picks its objects from the answer.
//! Types whose objects come in one answer (route tables with their associations, an API's
//! resources with their methods and integrations) share it through [`ReadBatch::shared`]:
//! the first type to ask makes the call, the others wait for it. A global service's
//! listing (IAM, Route 53) is shared with the refresh's other providers of the same
//! account through [`ReadBatch::shared_global`]: read once per refresh, not per region.
//!
//! A batch answer is trusted only for what it holds: an object it does not list is read
//! again on its own, so a batch can never call an object gone that a read would find.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::{Either, join_all};
use iac_dsl::{ProviderError, ReadRequest, ReadResponse, SharedReads, Value};
use tokio::sync::Semaphore;

use super::{Aws, ErrorContext};

/// One read's answer: the object, `None` when it is gone, or why it could not be read.
pub(crate) type ReadResult = Result<Option<ReadResponse>, ProviderError>;

/// The requests of one provider's refresh and the listing answers fetched for them.
pub(crate) struct ReadBatch {
    requests: Vec<ReadRequest>,
    /// Answers of this provider's listings.
    answers: SharedReads,
    /// Answers of global services' listings, shared with the refresh's other providers,
    /// and the prefix of their keys (the endpoint and the account); `None` when the
    /// account is unknown.
    global: Option<(SharedReads, String)>,
    permits: Semaphore,
}

impl ReadBatch {
    /// A batch over `requests`, sending at most `parallelism` calls at once.
    pub(crate) fn new(requests: Vec<ReadRequest>, parallelism: usize) -> ReadBatch {
        ReadBatch {
            requests,
            answers: SharedReads::default(),
            global: None,
            permits: Semaphore::new(parallelism.max(1)),
        }
    }

    /// Shares global listings through `shared` under keys starting with `prefix`, which
    /// names the endpoint and the account (the same for every provider that may share).
    pub(crate) fn sharing(mut self, shared: &SharedReads, prefix: String) -> ReadBatch {
        self.global = Some((shared.clone(), prefix));
        self
    }

    /// Every request of the refresh for resources of `type_token`.
    pub(crate) fn of_type<'a>(
        &'a self,
        type_token: &'a str,
    ) -> impl Iterator<Item = &'a ReadRequest> + 'a {
        self.requests
            .iter()
            .filter(move |r| r.ctx.type_token == type_token)
    }

    /// The answer of the listing call named `key`, made by `fetch` the first time it is
    /// asked for and shared by every later asker (a failed fetch is made again by the
    /// next). Keys name the call and what it covers, e.g. `ec2:route-tables`.
    pub(crate) async fn shared<T, F, Fut>(
        &self,
        key: &str,
        fetch: F,
    ) -> Result<Arc<T>, ProviderError>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        self.fetch_in(&self.answers, key, fetch).await
    }

    /// Like [`ReadBatch::shared`], for a listing of a global service (IAM, Route 53): the
    /// refresh's other providers of the same endpoint and account use the same answer, so
    /// the call is made once per refresh, not once per region.
    pub(crate) async fn shared_global<T, F, Fut>(
        &self,
        key: &str,
        fetch: F,
    ) -> Result<Arc<T>, ProviderError>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        match &self.global {
            Some((shared, prefix)) => {
                self.fetch_in(shared, &format!("{prefix}|{key}"), fetch)
                    .await
            }
            None => self.shared(key, fetch).await,
        }
    }

    /// The answer under `key` in `memo`, fetched holding one of this batch's permits.
    async fn fetch_in<T, F, Fut>(
        &self,
        memo: &SharedReads,
        key: &str,
        fetch: F,
    ) -> Result<Arc<T>, ProviderError>
    where
        T: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        memo.get_or_fetch(key, || async {
            let _permit = self.permits.acquire().await;
            fetch().await
        })
        .await
    }

    /// The answers of one call per object among `ids` (each made once, `fetch(id)`), shared
    /// under `prefix:id` by every type that asks for the same object, by id.
    pub(crate) async fn shared_each<T, F, Fut>(
        &self,
        prefix: &str,
        ids: impl Iterator<Item = String>,
        fetch: F,
    ) -> Result<BTreeMap<String, Arc<T>>, ProviderError>
    where
        T: Send + Sync + 'static,
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let ids: std::collections::BTreeSet<String> = ids.collect();
        let answers = join_all(ids.iter().map(|id| {
            let fetch = &fetch;
            async move {
                let key = format!("{prefix}:{id}");
                self.shared(&key, || fetch(id.clone())).await
            }
        }))
        .await;
        ids.into_iter()
            .zip(answers)
            .map(|(id, a)| a.map(|a| (id, a)))
            .collect()
    }

    /// Runs `read` for each request, at most `parallelism` at once, answering in order.
    /// `read` holds a permit while it runs, so it must not ask for a shared answer: ask
    /// for those first.
    pub(crate) async fn each<F, Fut>(&self, reqs: Vec<ReadRequest>, read: F) -> Vec<ReadResult>
    where
        F: Fn(ReadRequest) -> Fut,
        Fut: Future<Output = ReadResult>,
    {
        join_all(reqs.into_iter().map(|r| {
            let read = &read;
            async move {
                let _permit = self.permits.acquire().await;
                read(r).await
            }
        }))
        .await
    }

    /// Answers `reqs` from a batched listing: `listed` maps ids to what the listing said,
    /// `shape` makes a read's answer of one; a request the listing does not hold is read
    /// on its own by `single`, and a listing that failed fails every request.
    pub(crate) async fn pick<T, S, F, Fut>(
        &self,
        reqs: Vec<ReadRequest>,
        listed: Result<Arc<BTreeMap<String, T>>, ProviderError>,
        shape: S,
        single: F,
    ) -> Vec<ReadResult>
    where
        T: Clone,
        S: Fn(&ReadRequest, &T) -> ReadResult,
        F: Fn(ReadRequest) -> Fut,
        Fut: Future<Output = ReadResult>,
    {
        let shape = |r: ReadRequest, t: T| std::future::ready(shape(&r, &t));
        self.pick_then(reqs, listed, shape, single).await
    }

    /// Like [`ReadBatch::pick`], for a type whose answer needs more than the listing says
    /// (its tags, its attributes): `complete` makes the answer of a listed object, one
    /// call or more, at most `parallelism` at once.
    pub(crate) async fn pick_then<T, C, CF, F, Fut>(
        &self,
        reqs: Vec<ReadRequest>,
        listed: Result<Arc<BTreeMap<String, T>>, ProviderError>,
        complete: C,
        single: F,
    ) -> Vec<ReadResult>
    where
        T: Clone,
        C: Fn(ReadRequest, T) -> CF,
        CF: Future<Output = ReadResult>,
        F: Fn(ReadRequest) -> Fut,
        Fut: Future<Output = ReadResult>,
    {
        let listed = match listed {
            Ok(listed) => listed,
            Err(e) => return failed_all(&reqs, &e),
        };
        self.each(reqs, |r| match listed.get(&r.id).cloned() {
            Some(t) => Either::Left(complete(r, t)),
            None => Either::Right(single(r)),
        })
        .await
    }
}

/// Answers `reqs` in order: each from `known` where it has the answer already (from
/// another type's listing), the rest together by one `rest` (a batched read of them).
pub(crate) async fn known_or<K, R, RF>(reqs: Vec<ReadRequest>, known: K, rest: R) -> Vec<ReadResult>
where
    K: Fn(&ReadRequest) -> Option<ReadResult>,
    R: FnOnce(Vec<ReadRequest>) -> RF,
    RF: Future<Output = Vec<ReadResult>>,
{
    let mut unknown = Vec::new();
    let answers: Vec<Option<ReadResult>> = reqs
        .into_iter()
        .map(|r| {
            let answer = known(&r);
            if answer.is_none() {
                unknown.push(r);
            }
            answer
        })
        .collect();
    let mut read = rest(unknown).await.into_iter();
    answers
        .into_iter()
        .map(|answer| {
            answer.or_else(|| read.next()).unwrap_or_else(|| {
                Err(ProviderError::new(
                    iac_dsl::ErrorKind::Service,
                    "read",
                    "a batched read answered fewer reads than it was asked",
                ))
            })
        })
        .collect()
}

/// A read's answer from a listing that holds the object's inputs and outputs whole: a
/// [`ReadBatch::pick`] shape.
pub(crate) fn whole<I: serde::Serialize, O: serde::Serialize>(
    r: &ReadRequest,
    pair: &(I, O),
) -> ReadResult {
    Ok(super::found(&r.id, Some((&pair.0, &pair.1))))
}

/// Every request of `reqs` failed with `e` (a listing they all depended on failed).
pub(crate) fn failed_all(reqs: &[ReadRequest], e: &ProviderError) -> Vec<ReadResult> {
    reqs.iter().map(|_| Err(e.clone())).collect()
}

/// How a request names its object's ARN, given the provider (its region and, when known,
/// its account).
type ArnOf = fn(&ReadRequest, &Aws) -> Option<String>;

/// Types whose service keeps tags apart from its describe call (one more call per object),
/// and how a request of each names its object's ARN.
const TAGGED_APART: &[(&str, ArnOf)] = &[
    ("aws:cloudwatch/metricAlarm", output_arn),
    ("aws:sns/topic", id_arn),
    ("aws:acm/certificate", id_arn),
    ("aws:kms/key", output_arn),
    ("aws:rds/subnetGroup", output_arn),
    ("aws:s3/bucket", bucket_arn),
    ("aws:ec2/eip", super::ec2::eip::arn_of),
];

fn output_arn(r: &ReadRequest, _: &Aws) -> Option<String> {
    r.outputs["arn"].as_str().map(str::to_string)
}

fn id_arn(r: &ReadRequest, _: &Aws) -> Option<String> {
    r.id.starts_with("arn:").then(|| r.id.clone())
}

fn bucket_arn(r: &ReadRequest, _: &Aws) -> Option<String> {
    Some(format!("arn:aws:s3:::{}", r.id))
}

/// The most ARNs one GetResources of the tagging API takes.
const ARNS_PER_CALL: usize = 100;

/// The most tags a page of GetResources may hold (AWS allows 100 to 500). Pages end at
/// 100 tags unless asked for more, which with the stack's and engine's tags on every
/// object is about fifteen objects: a region's listing took two pages.
const TAGS_PER_PAGE: i32 = 500;

/// What the Resource Groups Tagging API lists for a refresh's objects whose tags live
/// apart, by ARN, beside what the record says their own tags are. A hint, never the last
/// word: [`TagHints::agreeing`] gives a listing only where it matches the record.
pub(crate) struct TagHints {
    listed: BTreeMap<String, BTreeMap<String, String>>,
    recorded: BTreeMap<String, Value>,
}

impl TagHints {
    /// One GetResources per 100 ARNs for the `reqs` of types that keep tags apart; `None`
    /// when there are none or the listing fails (each read then asks its service).
    pub(crate) async fn list(aws: &Aws, reqs: &[ReadRequest]) -> Option<TagHints> {
        let mut recorded = BTreeMap::new();
        for r in reqs {
            let arn_of = TAGGED_APART
                .iter()
                .find(|(token, _)| *token == r.ctx.type_token)
                .map(|(_, arn_of)| arn_of);
            if let Some(arn) = arn_of.and_then(|arn_of| arn_of(r, aws)) {
                recorded.insert(arn, r.inputs["tags"].clone());
            }
        }
        if recorded.is_empty() {
            return None;
        }
        let arns: Vec<String> = recorded.keys().cloned().collect();
        let client = aws.tagging().await;
        let mut listed = BTreeMap::new();
        for chunk in arns.chunks(ARNS_PER_CALL) {
            let mut token: Option<String> = None;
            loop {
                let out = client
                    .get_resources()
                    .set_resource_arn_list(Some(chunk.to_vec()))
                    .tags_per_page(TAGS_PER_PAGE)
                    .set_pagination_token(token.take())
                    .send()
                    .await
                    .op("GetResources");
                let out = match out {
                    Ok(out) => out,
                    Err(e) => {
                        tracing::debug!(
                            "the tagging API did not list tags ({e}); each read asks its service"
                        );
                        return None;
                    }
                };
                for m in out.resource_tag_mapping_list() {
                    let tags = m
                        .tags()
                        .iter()
                        .map(|t| (t.key().to_string(), t.value().to_string()))
                        .collect();
                    listed.insert(m.resource_arn().unwrap_or_default().to_string(), tags);
                }
                match out.pagination_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_string()),
                    _ => break,
                }
            }
        }
        Some(TagHints { listed, recorded })
    }

    /// Every tag listed for `arn`, when its own tags among them are the recorded ones.
    pub(crate) fn agreeing(&self, aws: &Aws, arn: &str) -> Option<BTreeMap<String, String>> {
        let tags = self.listed.get(arn)?;
        let own = serde_json::to_value(aws.own_tags(tags.clone())).ok()?;
        (Some(&own) == self.recorded.get(arn)).then(|| tags.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hints(listed: serde_json::Value, recorded: serde_json::Value) -> TagHints {
        TagHints {
            listed: BTreeMap::from([(
                "arn:a".to_string(),
                serde_json::from_value(listed).unwrap(),
            )]),
            recorded: BTreeMap::from([("arn:a".to_string(), recorded)]),
        }
    }

    #[test]
    fn listed_tags_are_used_only_where_they_agree_with_the_record() {
        let aws = Aws::region("eu-west-1").with_default_tags([("ManagedBy", "iac")]);
        let listed = json!({"team": "payments", "ManagedBy": "iac", "iac:stack": "p/s"});
        let agreeing = hints(listed.clone(), json!({"team": "payments"}));
        assert_eq!(
            agreeing.agreeing(&aws, "arn:a").map(|t| t.len()),
            Some(3),
            "every tag, the engine's and the defaults included"
        );
        let stale = hints(listed, json!({"team": "cards"}));
        assert_eq!(
            stale.agreeing(&aws, "arn:a"),
            None,
            "a difference is asked again"
        );
        assert_eq!(agreeing.agreeing(&aws, "arn:b"), None, "not listed: asked");
    }
}
