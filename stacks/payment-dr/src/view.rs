//! A typed view of what the DR topology exposes to stacks that build on it, from either
//! kind of reuse: the component's handles when it is declared in the same stack
//! ([`PaymentDrView::from_handles`]), or a deployed DR stack's recorded outputs through a
//! stack reference ([`PaymentDrView::from_reference`]). Code written against the view
//! (dashboards, alarms, reports) works the same over both.

use iac_dsl::{Output, StackId, StackReference};

use crate::topology::{PaymentDr, RegionHandles};

/// The project every DR stack is recorded under (its stack name is the configuration's
/// `environment_suffix`).
pub const PROJECT: &str = "payment-dr";

/// The id of the DR stack deployed with `environment_suffix`.
pub fn stack_id(environment_suffix: &str) -> StackId {
    StackId::new(PROJECT, environment_suffix)
}

/// One region of the topology, as names and ids other stacks use.
#[derive(Debug, Clone)]
pub struct RegionView {
    /// The payment processor function's name.
    pub function_name: Output<String>,
    /// The Aurora cluster's identifier.
    pub cluster_id: Output<String>,
    /// The REST API's id.
    pub api_id: Output<String>,
    /// The transaction-log bucket's name.
    pub bucket: Output<String>,
    /// The ARN of the SNS topic the region's alarms notify.
    pub alarms_topic_arn: Output<String>,
}

/// Both regions and what spans them.
#[derive(Debug, Clone)]
pub struct PaymentDrView {
    /// The primary region.
    pub primary: RegionView,
    /// The DR region.
    pub dr: RegionView,
    /// The Route 53 health check probing the primary API.
    pub health_check_id: Output<String>,
    /// The ARN of the topic the health check alarm notifies.
    pub health_alerts_topic_arn: Output<String>,
}

impl PaymentDrView {
    /// The view of a topology declared in this stack ([`crate::payment_dr`]).
    pub fn from_handles(dr: &PaymentDr) -> Self {
        let region = |h: &RegionHandles| RegionView {
            function_name: h.function.function_name(),
            cluster_id: h.cluster.id(),
            api_id: h.api.id(),
            bucket: h.bucket.bucket(),
            alarms_topic_arn: h.alarms_topic.arn(),
        };
        PaymentDrView {
            primary: region(&dr.primary),
            dr: region(&dr.dr),
            health_check_id: dr.health_check.id(),
            health_alerts_topic_arn: dr.health_alerts_topic.arn(),
        }
    }

    /// The view of a deployed DR stack, read from its recorded outputs through
    /// `reference` (whatever uses it depends on the reference, and a missing output stops
    /// the run before any request, naming it).
    pub fn from_reference(reference: &StackReference) -> Self {
        let region = |w: &str, topic: &str| RegionView {
            function_name: reference.output(&format!("{w}_lambda_function_name")),
            cluster_id: reference.output(&format!("{w}_cluster_id")),
            api_id: reference.output(&format!("{w}_api_id")),
            bucket: reference.output(&format!("{w}_s3_bucket_name")),
            alarms_topic_arn: reference.output(topic),
        };
        PaymentDrView {
            primary: region("primary", "cloudwatch_alarms_topic_arn"),
            dr: region("dr", "cloudwatch_alarms_dr_topic_arn"),
            health_check_id: reference.output("route53_health_check_id"),
            health_alerts_topic_arn: reference.output("health_check_alerts_topic_arn"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{PaymentDrConfig, payment_dr};
    use iac_dsl::Stack;
    use iac_dsl::asset::Asset;

    /// Every output the view reads through a reference is one the topology exports.
    #[test]
    fn the_view_reads_only_outputs_the_topology_exports() {
        let config = PaymentDrConfig::new("view-001");
        let mut dr = Stack::new(PROJECT, "view-001");
        payment_dr(&mut dr, &config, &Asset::unavailable("not needed"));
        let exported = dr.output_names();

        let mut host = Stack::new("host", "dev");
        let reference = host.stack_reference("dr", stack_id("view-001"));
        let view = PaymentDrView::from_reference(&reference);
        let all = [
            &view.primary.function_name,
            &view.primary.cluster_id,
            &view.primary.api_id,
            &view.primary.bucket,
            &view.primary.alarms_topic_arn,
            &view.dr.function_name,
            &view.dr.cluster_id,
            &view.dr.api_id,
            &view.dr.bucket,
            &view.dr.alarms_topic_arn,
            &view.health_check_id,
            &view.health_alerts_topic_arn,
        ];
        for (i, output) in all.into_iter().enumerate() {
            host.export_output(&format!("o{i}"), output);
        }
        let read = host.referenced_outputs("dr");
        assert_eq!(read.len(), 12, "{read:?}");
        for name in &read {
            assert!(
                exported.contains(&name.as_str()),
                "`{name}` is not exported"
            );
        }
    }
}
