//! `payment-dr-stack`: the two-region payment-processing disaster-recovery topology of the
//! reference, written with the DSL and the AWS providers, with the review's fixes.
//!
//! Other stacks compose it: build a [`PaymentDrConfig`], package the Lambda with
//! [`lambda_package`], and call [`payment_dr`] on a [`iac_dsl::Stack`]; the returned
//! [`PaymentDr`] holds typed handles to the endpoints, ARNs and ids worth building on.
//! Stacks that build on a deployed DR stack instead read its outputs through a stack
//! reference as a [`PaymentDrView`], the same view [`PaymentDrView::from_handles`] gives
//! of a topology declared in the stack itself.
//!
//! ```no_run
//! use iac_dsl::Stack;
//! use payment_dr_stack::{PaymentDrConfig, lambda_package, payment_dr};
//!
//! let config = PaymentDrConfig::new("dev-001");
//! let code = lambda_package(&config, |m| eprintln!("{m}")).expect("the Lambda's zip is readable");
//! let mut stack = Stack::new("payment-dr", &config.environment_suffix);
//! let dr = payment_dr(&mut stack, &config, &code);
//! stack.export_output("api", &dr.primary.stage.invoke_url());
//! ```

pub mod config;
pub mod drill;
mod topology;
pub mod view;

use std::path::{Path, PathBuf};

use iac_dsl::asset::{Asset, AssetError, CargoBinary, ZipEntry, deterministic_zip};
use iac_providers::aws::lambda::{bootstrap_of_zip, check_bootstrap};

pub use config::{FailoverMode, LambdaBuild, PaymentDrConfig};
pub use topology::{PaymentDr, RegionHandles, payment_dr, payment_dr_with, region_provider};
pub use view::{PaymentDrView, RegionView};

/// The Lambda runtime the function is declared with (see the topology) and its package is
/// checked against.
pub const LAMBDA_RUNTIME: &str = "provided.al2023";

/// The glibc version `aws` builds target: `provided.al2023`'s.
const LAMBDA_GLIBC: &str = "2.34";

/// The payment processor Lambda (`lambda/`, package `payment-processor`) as an asset, built
/// only when a create or a code update needs its bytes.
///
/// Its identity is a fingerprint of the crate's sources, its locked dependency tree and
/// the build settings ([`CargoBinary::fingerprint`]), computed from files without running
/// cargo: `preview`, `destroy`, `refresh` and an unchanged `up` never build. When the bytes
/// are needed, a zip cached under that fingerprint is used, else the binary is built (for
/// an `aws` build with `cargo zigbuild` for `provided.al2023`'s glibc; `notify` hears why a
/// build starts), checked with [`check_bootstrap`] (an `aws` build), zipped
/// deterministically and cached.
///
/// `PAYMENT_PROCESSOR_ZIP` names a ready zip instead (checked the same way); the crate is
/// found at `PAYMENT_PROCESSOR_DIR`, or where it was when this program was compiled. When
/// it is out of reach the asset is [`Asset::unavailable`]: the recorded code stands in,
/// and only a create or a code update fails, saying how to supply the zip. Errors only for
/// a `PAYMENT_PROCESSOR_ZIP` that cannot be read or would not start on Lambda.
pub fn lambda_package(
    config: &PaymentDrConfig,
    notify: impl Fn(&str) + Send + Sync + 'static,
) -> Result<Asset, AssetError> {
    let build = config.lambda_build();
    let architecture = config.lambda_architecture.clone();
    if let Some(zip) = std::env::var_os("PAYMENT_PROCESSOR_ZIP") {
        let asset = Asset::file(&zip)?;
        if build == LambdaBuild::Aws {
            check_zip(Path::new(&zip), &asset.read()?, &architecture)?;
        }
        return Ok(asset);
    }
    let crate_dir = std::env::var_os("PAYMENT_PROCESSOR_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../lambda")));
    let mut binary = CargoBinary::new(&crate_dir, "payment-processor", "bootstrap")
        .profile(config.lambda_profile());
    if build == LambdaBuild::Aws {
        let arch = if architecture == "arm64" {
            "aarch64"
        } else {
            "x86_64"
        };
        binary = binary
            .target(format!("{arch}-unknown-linux-gnu.{LAMBDA_GLIBC}"))
            .zigbuild(true)
            // scripts/setup installs cargo-zigbuild and Zig into the checkout's .venv.
            .path_prepend(crate_dir.join("../.venv/bin"));
    }
    let fingerprint = match binary.fingerprint() {
        Ok(fingerprint) => fingerprint,
        Err(e) => {
            return Ok(Asset::unavailable(format!(
                "the payment processor Lambda's sources are out of reach ({e}), so its code cannot be built here; set PAYMENT_PROCESSOR_DIR to the `lambda` directory of a checkout, or PAYMENT_PROCESSOR_ZIP to a zip holding its `bootstrap` built for {LAMBDA_RUNTIME} (lambda/README.md)"
            )));
        }
    };
    let label = format!("payment processor Lambda ({fingerprint})");
    Ok(Asset::built(fingerprint.clone(), label, move || {
        package(&binary, &fingerprint, build, &architecture, &notify)
    }))
}

/// Makes the zip of a built asset: from the cache when it holds one for `fingerprint`,
/// else by building, checking and zipping the binary, and caching the zip.
fn package(
    binary: &CargoBinary,
    fingerprint: &str,
    build: LambdaBuild,
    architecture: &str,
    notify: &dyn Fn(&str),
) -> Result<Vec<u8>, AssetError> {
    let bootstrap = binary.binary_path()?;
    let cached = bootstrap.with_file_name(format!("payment-processor-{fingerprint}.zip"));
    if let Ok(bytes) = std::fs::read(&cached) {
        return Ok(bytes);
    }
    let bootstrap = binary.build_if_stale(notify)?;
    let entry = ZipEntry::from_file("bootstrap", &bootstrap)?;
    let zip = deterministic_zip(&cached, &[entry])?;
    if build == LambdaBuild::Aws {
        check_zip(&bootstrap, &zip, architecture)?;
    }
    iac_dsl::asset::write_atomically(&cached, &zip)?;
    Ok(zip)
}

/// Refuses a zip whose `bootstrap` would not start on [`LAMBDA_RUNTIME`] on `architecture`.
fn check_zip(path: &Path, zip: &[u8], architecture: &str) -> Result<(), AssetError> {
    bootstrap_of_zip(zip)
        .and_then(|bootstrap| check_bootstrap(&bootstrap, LAMBDA_RUNTIME, architecture))
        .map(|_| ())
        .map_err(|message| AssetError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(format!(
                "the Lambda's bootstrap would not start on {LAMBDA_RUNTIME} ({architecture}): {message}"
            )),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use iac_dsl::Stack;

    fn declared(config: &PaymentDrConfig, code: &Asset) -> Stack {
        let mut stack = Stack::new("payment-dr", &config.environment_suffix);
        payment_dr(&mut stack, config, code);
        stack
    }

    #[test]
    fn a_production_config_protects_the_data_and_only_the_data() {
        let mut config = PaymentDrConfig::new("prod-001");
        let code = Asset::unavailable("not needed here");
        let protected = |stack: &Stack| -> Vec<String> {
            stack
                .declared()
                .iter()
                .filter(|d| d.is_protected())
                .map(|d| d.name().to_string())
                .collect()
        };
        assert!(protected(&declared(&config, &code)).is_empty());

        config.protect_data = Some(true);
        let stack = declared(&config, &code);
        let mut names = protected(&stack);
        names.sort();
        assert_eq!(
            names,
            [
                "dr/aurora-cluster",
                "dr/aurora-kms-key",
                "dr/bucket",
                "global/aurora-global-cluster",
                "global/db-secret",
                "primary/aurora-cluster",
                "primary/aurora-kms-key",
                "primary/bucket",
            ]
        );
        for side in ["primary", "dr"] {
            let cluster = stack.find(&format!("{side}/aurora-cluster")).unwrap();
            assert_eq!(cluster.declared_inputs()["deletion_protection"], true);
        }
    }

    #[test]
    fn out_of_reach_sources_keep_the_recorded_code_and_say_how_to_supply_it() {
        let config = PaymentDrConfig::new("dev-001");
        let code = Asset::unavailable("supply PAYMENT_PROCESSOR_ZIP");
        let stack = declared(&config, &code);
        for side in ["primary", "dr"] {
            let function = stack.find(&format!("{side}/lambda-function")).unwrap();
            assert_eq!(function.ignored_changes(), ["code_sha256"]);
        }
        let err = iac_dsl::asset::bytes_for(code.id()).unwrap_err();
        assert!(err.to_string().contains("PAYMENT_PROCESSOR_ZIP"), "{err}");

        // Sources in reach: the identity is their fingerprint, computed without building.
        let built = lambda_package(&config, |m| panic!("nothing is built: {m}")).unwrap();
        assert!(built.is_available());
        assert_eq!(built.id().len(), 64, "{built:?}");
        let stack = declared(&config, &built);
        let function = stack.find("primary/lambda-function").unwrap();
        assert!(function.ignored_changes().is_empty());
        assert_eq!(function.declared_inputs()["code_sha256"], built.id());
        assert_eq!(function.declared_inputs()["runtime"], LAMBDA_RUNTIME);
    }
}
