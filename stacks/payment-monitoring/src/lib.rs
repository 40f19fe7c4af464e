//! `payment-monitoring-stack`: a CloudWatch dashboard and alarms over a payment DR
//! topology, and the example of composing stacks.
//!
//! It uses both kinds of reuse: the DR stack as a library (its [`PaymentDrView`] of what
//! the topology exposes, its regional providers and defaults), and the deployed DR stack's
//! recorded outputs through a stack reference ([`PaymentDrView::from_reference`]), so the
//! dashboard and alarms name the DR stack's real functions and clusters without
//! declaring them again. [`payment_monitoring`] works over either view:
//!
//! ```
//! use iac_dsl::Stack;
//! use payment_dr_stack::{PaymentDrView, view::stack_id};
//! use payment_monitoring_stack::{MonitoringConfig, payment_monitoring};
//!
//! let config = MonitoringConfig::new("dev-001");
//! let mut stack = Stack::new("payment-monitoring", "dev-001");
//! let dr = stack.stack_reference("dr-stack", stack_id(config.dr_stack_name()));
//! let monitoring = payment_monitoring(&mut stack, &config, &PaymentDrView::from_reference(&dr));
//! stack.export_output("dashboard", &monitoring.dashboard.name());
//! ```

pub mod config;

use iac_dsl::{Output, ProviderRef, ResourceOptions, Stack};
use iac_providers::aws::cloudwatch::{Dashboard, DashboardArgs, MetricAlarm, MetricAlarmArgs};
use payment_dr_stack::{PaymentDrView, RegionView, region_provider};
use serde_json::{Value, json};

pub use config::MonitoringConfig;

/// The project the monitoring stack is recorded under.
pub const PROJECT: &str = "payment-monitoring";

/// What the monitoring component made.
#[derive(Debug, Clone)]
pub struct Monitoring {
    /// The dashboard over both regions.
    pub dashboard: Dashboard,
    /// The alarms, primary region first.
    pub alarms: Vec<MetricAlarm>,
}

/// Adds the dashboard and the alarms over `dr` to `stack`, under the prefix
/// `monitoring/`. Registers `aws-primary` and `aws-dr` in the configured regions unless
/// the stack has them (a stack composing the DR component itself has).
pub fn payment_monitoring(
    stack: &mut Stack,
    config: &MonitoringConfig,
    dr: &PaymentDrView,
) -> Monitoring {
    let primary = stack.provider_or_register("aws-primary", || {
        region_provider(&config.primary_region, "primary")
    });
    let secondary =
        stack.provider_or_register("aws-dr", || region_provider(&config.dr_region, "dr"));
    let s = &config.environment_suffix;
    stack.component("monitoring", |m| {
        let mut alarms = region_alarms(m, config, "primary", &dr.primary, &primary);
        alarms.extend(region_alarms(m, config, "dr", &dr.dr, &secondary));
        let widgets = Output::all([
            dr.primary.function_name.clone(),
            dr.primary.cluster_id.clone(),
            dr.dr.function_name.clone(),
            dr.dr.cluster_id.clone(),
            dr.health_check_id.clone(),
        ]);
        let regions = [config.primary_region.clone(), config.dr_region.clone()];
        let body = widgets.map(move |ids: Vec<String>| dashboard_body(&regions, &ids));
        let dashboard = m.add_with(
            "dashboard",
            DashboardArgs::new(format!("payment-dr-{s}"), body),
            ResourceOptions::default().provider(&primary),
        );
        Monitoring { dashboard, alarms }
    })
}

/// One region's alarms: Lambda throttles and duration, and the Aurora cluster's CPU, each
/// notifying the region's alarm topic of the DR stack.
fn region_alarms(
    m: &mut Stack,
    config: &MonitoringConfig,
    word: &str,
    region: &RegionView,
    provider: &ProviderRef,
) -> Vec<MetricAlarm> {
    let s = &config.environment_suffix;
    let specs = [
        (
            "lambda-throttles",
            "AWS/Lambda",
            "Throttles",
            "Sum",
            config.lambda_throttles_threshold,
            "FunctionName",
            &region.function_name,
        ),
        (
            "lambda-duration",
            "AWS/Lambda",
            "Duration",
            "Average",
            config.lambda_duration_ms_threshold,
            "FunctionName",
            &region.function_name,
        ),
        (
            "db-cpu",
            "AWS/RDS",
            "CPUUtilization",
            "Average",
            config.db_cpu_percent_threshold,
            "DBClusterIdentifier",
            &region.cluster_id,
        ),
    ];
    specs
        .into_iter()
        .map(
            |(what, namespace, metric, statistic, threshold, dimension, value)| {
                m.add_with(
                    &format!("{word}/{what}"),
                    MetricAlarmArgs::new(
                        format!("payment-{what}-{word}-{s}"),
                        namespace,
                        metric,
                        statistic,
                        "GreaterThanThreshold",
                        threshold,
                    )
                    .period(config.period_seconds)
                    .evaluation_periods(config.evaluation_periods)
                    .description(format!("{metric} of the payment DR stack's {word} region"))
                    .treat_missing_data("notBreaching")
                    .dimension(dimension, value)
                    .alarm_action(&region.alarms_topic_arn),
                    ResourceOptions::default().provider(provider),
                )
            },
        )
        .collect()
}

/// The dashboard's JSON: per region, the function's invocations and errors and the
/// cluster's CPU; then the health check's status. `ids` are the primary function and
/// cluster, the DR function and cluster, and the health check, in that order.
fn dashboard_body(regions: &[String; 2], ids: &[String]) -> String {
    let metric = |title: String, region: &str, metrics: Value, y: i64, x: i64| {
        json!({
            "type": "metric", "x": x, "y": y, "width": 12, "height": 6,
            "properties": {"title": title, "region": region, "metrics": metrics,
                           "stat": "Sum", "period": 300, "view": "timeSeries"}
        })
    };
    let mut widgets = Vec::new();
    for (i, (word, region)) in ["primary", "dr"].iter().zip(regions).enumerate() {
        let (function, cluster) = (&ids[2 * i], &ids[2 * i + 1]);
        let y = 6 * i as i64;
        widgets.push(metric(
            format!("Payments Lambda {function} ({word}, {region})"),
            region,
            json!([
                ["AWS/Lambda", "Invocations", "FunctionName", function],
                ["AWS/Lambda", "Errors", "FunctionName", function]
            ]),
            y,
            0,
        ));
        widgets.push(metric(
            format!("Aurora {cluster} CPU ({word}, {region})"),
            region,
            json!([["AWS/RDS", "CPUUtilization", "DBClusterIdentifier", cluster]]),
            y,
            12,
        ));
    }
    widgets.push(metric(
        "Primary API health check".to_string(),
        "us-east-1",
        json!([["AWS/Route53", "HealthCheckStatus", "HealthCheckId", &ids[4]]]),
        12,
        0,
    ));
    json!({ "widgets": widgets }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use iac_dsl::asset::Asset;
    use payment_dr_stack::{PaymentDrConfig, payment_dr};

    /// Composed in one stack with the DR component, over its handles: the alarms and the
    /// dashboard depend on the DR resources they watch.
    #[test]
    fn the_component_composes_over_the_dr_components_handles() {
        let mut stack = Stack::new("both", "dev-001");
        let dr = payment_dr(
            &mut stack,
            &PaymentDrConfig::new("dev-001"),
            &Asset::unavailable("not needed"),
        );
        let config = MonitoringConfig::new("dev-001");
        let made = payment_monitoring(&mut stack, &config, &PaymentDrView::from_handles(&dr));
        if let Err(e) = stack.validate() {
            panic!("{e}");
        }
        assert_eq!(made.alarms.len(), 6);
        let throttles = stack.find("monitoring/dr/lambda-throttles").unwrap();
        assert!(
            throttles
                .dependencies()
                .contains(&"dr/lambda-function".to_string()),
            "{:?}",
            throttles.dependencies()
        );
        let dashboard = stack.find("monitoring/dashboard").unwrap();
        assert!(
            dashboard
                .dependencies()
                .contains(&"primary/aurora-cluster".to_string())
        );
    }

    #[test]
    fn the_dashboard_names_each_regions_function_and_cluster() {
        let regions = ["us-east-1".to_string(), "us-east-2".to_string()];
        let ids: Vec<String> = ["fp", "cp", "fd", "cd", "hc"].map(String::from).to_vec();
        let body: Value = serde_json::from_str(&dashboard_body(&regions, &ids)).unwrap();
        let text = body.to_string();
        for id in &ids {
            assert!(text.contains(&format!("\"{id}\"")), "{id} in {text}");
        }
        assert_eq!(body["widgets"].as_array().unwrap().len(), 5);
        assert_eq!(body["widgets"][2]["properties"]["region"], "us-east-2");
    }
}
