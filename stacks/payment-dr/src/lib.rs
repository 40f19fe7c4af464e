//! `payment-dr-stack`: the two-region payment-processing disaster-recovery topology of the
//! reference, written with the DSL and the AWS providers, with the review's fixes.
//!
//! Other stacks compose it: build a [`PaymentDrConfig`], package the Lambda with
//! [`lambda_package`], and call [`payment_dr`] on a [`iac_dsl::Stack`]; the returned
//! [`PaymentDr`] holds typed handles to the endpoints, ARNs and ids worth building on.
//!
//! ```no_run
//! use iac_dsl::Stack;
//! use payment_dr_stack::{PaymentDrConfig, lambda_package, payment_dr};
//!
//! let config = PaymentDrConfig::new("dev-001");
//! let code = lambda_package(&config, |m| eprintln!("{m}")).expect("the Lambda builds");
//! let mut stack = Stack::new("payment-dr", &config.environment_suffix);
//! let dr = payment_dr(&mut stack, &config, &code);
//! stack.export_output("api", &dr.primary.stage.invoke_url());
//! ```

pub mod config;
mod topology;

use std::path::PathBuf;

use iac_dsl::asset::{Asset, AssetError, CargoBinary, ZipEntry, zip_asset};

pub use config::{FailoverMode, PaymentDrConfig};
pub use topology::{PaymentDr, RegionHandles, payment_dr, payment_dr_with, region_provider};

/// Packages the payment processor Lambda (`lambda/`, package `payment-processor`) as a
/// deterministic zip holding its `bootstrap`, building it first in the configured Cargo
/// profile when it is missing or older than its sources (`notify` hears why a build
/// starts). `PAYMENT_PROCESSOR_ZIP` names a ready zip instead (built elsewhere, e.g. for
/// AWS's Linux with a musl target); `PAYMENT_PROCESSOR_DIR` moves the crate.
pub fn lambda_package(
    config: &PaymentDrConfig,
    notify: impl FnOnce(&str),
) -> Result<Asset, AssetError> {
    if let Some(zip) = std::env::var_os("PAYMENT_PROCESSOR_ZIP") {
        return Asset::file(zip);
    }
    let crate_dir = std::env::var_os("PAYMENT_PROCESSOR_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../lambda")));
    let binary = CargoBinary::new(crate_dir, "payment-processor", "bootstrap")
        .profile(config.lambda_profile.clone());
    let bootstrap = binary.build_if_stale(notify)?;
    let zip = bootstrap.with_file_name("payment-processor-lambda.zip");
    zip_asset(&zip, &[ZipEntry::from_file("bootstrap", &bootstrap)?])
}
