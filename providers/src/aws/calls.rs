//! Counting the calls a provider makes, by `service:Operation`, with an SDK interceptor
//! that every client of the provider carries: each attempt counts (a retry is a call AWS
//! answers too), so a run's report shows what it cost in requests, not what the code meant.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// The calls made through one provider's clients since it was made.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallCounter(Arc<Mutex<BTreeMap<String, u64>>>);

impl CallCounter {
    /// The counts so far, by `service:Operation`.
    pub(crate) fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "iac-call-counter"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>()
            && let Ok(mut counts) = self.0.lock()
        {
            *counts
                .entry(format!("{}:{}", m.service(), m.name()))
                .or_default() += 1;
        }
        Ok(())
    }
}
