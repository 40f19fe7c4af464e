//! `payment-monitoring-stack`: the engine's command line over the monitoring stack
//! (`preview`, `up`, `destroy`, `outputs`, ...; `--help` lists them). It reads the
//! deployed DR stack's outputs through a stack reference.

use std::process::ExitCode;

use iac_dsl::{Stack, StateLocation, cli};
use payment_dr_stack::PaymentDrView;
use payment_dr_stack::view::stack_id;
use payment_monitoring_stack::{MonitoringConfig, PROJECT, payment_monitoring};

/// The engine allocates many small JSON values and strings; mimalloc handles them better
/// than the system allocator (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn build(config: &MonitoringConfig) -> Stack {
    let mut stack = Stack::new(PROJECT, &config.environment_suffix);
    let location = match &config.dr_state {
        Some(path) => StateLocation::File(path.clone()),
        None => StateLocation::Current,
    };
    let dr = stack.stack_reference_at("dr-stack", stack_id(config.dr_stack_name()), location);
    let monitoring = payment_monitoring(&mut stack, config, &PaymentDrView::from_reference(&dr));
    stack.export_output("dashboard_name", &monitoring.dashboard.name());
    stack.export_output("dashboard_arn", &monitoring.dashboard.arn());
    stack.export::<Vec<String>>(
        "alarm_names",
        iac_dsl::Output::all(monitoring.alarms.iter().map(|a| a.name())),
    );
    stack
}

fn main() -> ExitCode {
    cli::run::<MonitoringConfig, _>(PROJECT, "payment-monitoring.toml", build)
}
