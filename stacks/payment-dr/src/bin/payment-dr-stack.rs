//! `payment-dr-stack`: the engine's command line over the payment DR topology
//! (`preview`, `up`, `destroy`, `outputs`, `state`, ...; `--help` lists them), and the
//! stack's own `drill` (a measured failover, `payment_dr_stack::drill`).

use std::process::ExitCode;

use iac_dsl::Stack;
use iac_dsl::cli;
use payment_dr_stack::drill::StackCommand;
use payment_dr_stack::{PaymentDrConfig, lambda_package, payment_dr};

/// The engine allocates many small JSON values and strings; mimalloc handles them better
/// than the system allocator (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn build(config: &PaymentDrConfig) -> Stack {
    let mut stack = Stack::new("payment-dr", &config.environment_suffix);
    // Never builds here: the Lambda is built only if a create or a code update needs it.
    match lambda_package(config, cli::note) {
        Ok(code) => {
            payment_dr(&mut stack, config, &code);
        }
        Err(e) => stack.invalid("lambda", "asset", "code", e.to_string()),
    }
    stack
}

fn main() -> ExitCode {
    cli::run_with::<PaymentDrConfig, _, StackCommand>("payment-dr", "payment-dr.toml", build)
}
