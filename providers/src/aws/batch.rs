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
//! the first type to ask makes the call, the others wait for it.
//!
//! A batch answer is trusted only for what it holds: an object it does not list is read
//! again on its own, so a batch can never call an object gone that a read would find.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures::future::join_all;
use iac_dsl::{ProviderError, ReadRequest, ReadResponse};
use tokio::sync::{OnceCell, Semaphore};

/// One read's answer: the object, `None` when it is gone, or why it could not be read.
pub(crate) type ReadResult = Result<Option<ReadResponse>, ProviderError>;

type Answer = Arc<dyn Any + Send + Sync>;

/// The requests of one provider's refresh and the listing answers fetched for them.
pub(crate) struct ReadBatch {
    requests: Vec<ReadRequest>,
    answers: Mutex<HashMap<String, Arc<OnceCell<Answer>>>>,
    permits: Semaphore,
}

impl ReadBatch {
    /// A batch over `requests`, sending at most `parallelism` calls at once.
    pub(crate) fn new(requests: Vec<ReadRequest>, parallelism: usize) -> ReadBatch {
        ReadBatch {
            requests,
            answers: Mutex::new(HashMap::new()),
            permits: Semaphore::new(parallelism.max(1)),
        }
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
        let cell = {
            let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
            answers.entry(key.to_string()).or_default().clone()
        };
        let answer = cell
            .get_or_try_init(|| async {
                let _permit = self.permits.acquire().await;
                fetch().await.map(|t| Arc::new(t) as Answer)
            })
            .await?
            .clone();
        answer.downcast::<T>().map_err(|_| {
            ProviderError::new(
                iac_dsl::ErrorKind::Service,
                "read",
                format!("the batched answer `{key}` was asked for as two different types"),
            )
        })
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
    /// `shape` makes a read's answer of one; a request the listing does not hold (or a
    /// listing that failed) is read on its own by `single`.
    pub(crate) async fn pick<T, S, F, Fut>(
        &self,
        reqs: Vec<ReadRequest>,
        listed: Result<Arc<BTreeMap<String, T>>, ProviderError>,
        shape: S,
        single: F,
    ) -> Vec<ReadResult>
    where
        S: Fn(&ReadRequest, &T) -> ReadResult,
        F: Fn(ReadRequest) -> Fut,
        Fut: Future<Output = ReadResult>,
    {
        let listed = match listed {
            Ok(listed) => listed,
            Err(e) => return reqs.iter().map(|_| Err(e.clone())).collect(),
        };
        let mut answers: Vec<Option<ReadResult>> = Vec::with_capacity(reqs.len());
        let mut missing = Vec::new();
        for (i, r) in reqs.into_iter().enumerate() {
            match listed.get(&r.id) {
                Some(t) => answers.push(Some(shape(&r, t))),
                None => {
                    answers.push(None);
                    missing.push((i, r));
                }
            }
        }
        let (at, missing): (Vec<usize>, Vec<ReadRequest>) = missing.into_iter().unzip();
        for (i, read) in at.into_iter().zip(self.each(missing, single).await) {
            answers[i] = Some(read);
        }
        answers.into_iter().flatten().collect()
    }
}
