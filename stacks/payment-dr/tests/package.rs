//! The Lambda package deployed to AWS: built the way `up` builds it (the default `aws`
//! build, with cargo-zigbuild in the size-optimised `lambda` profile), then its
//! `bootstrap` is read back: machine, linkage, the glibc versions it needs, stripped, and
//! the zip's size. This is the test run's one optimised build of the Lambda's tree.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use iac_providers::aws::lambda::{bootstrap_of_zip, check_bootstrap, inspect_bootstrap};
use payment_dr_stack::{LAMBDA_RUNTIME, LambdaBuild, PaymentDrConfig, lambda_package};

/// The zip size the issue set as the target (what a cold start downloads and unpacks).
const MAX_ZIP_BYTES: usize = 6 * 1024 * 1024;

#[test]
fn the_aws_package_starts_on_provided_al2023_is_stripped_and_small() {
    let config = PaymentDrConfig::new("package");
    assert_eq!(config.lambda_build(), LambdaBuild::Aws, "the default build");
    let started = Instant::now();
    let code = lambda_package(&config, |m| eprintln!("{m}")).expect("the package is declared");
    assert!(code.is_available(), "{code:?}");
    let zip = code.read().unwrap_or_else(|e| {
        panic!("building the Lambda for AWS failed (scripts/setup installs cargo-zigbuild and Zig into .venv): {e}")
    });
    let bootstrap = bootstrap_of_zip(&zip).expect("the zip holds a bootstrap");
    eprintln!(
        "aws package: built and checked in {:.1?}; bootstrap {} bytes, zip {} bytes",
        started.elapsed(),
        bootstrap.len(),
        zip.len()
    );

    let info = inspect_bootstrap(&bootstrap).expect("the bootstrap is an ELF executable");
    assert_eq!(info.architecture, "x86_64", "{info:?}");
    if !info.is_static() {
        assert_eq!(
            info.interpreter.as_deref(),
            Some("/lib64/ld-linux-x86-64.so.2"),
            "{info:?}"
        );
        let newest = info
            .max_glibc()
            .expect("a glibc-linked binary names glibc versions");
        assert!(newest <= (2, 34), "needs glibc {newest:?}: {info:?}");
        assert!(info.needed.iter().any(|l| l == "libc.so.6"), "{info:?}");
    }
    check_bootstrap(&bootstrap, LAMBDA_RUNTIME, "x86_64").expect("it starts on the runtime");
    assert!(
        info.stripped,
        "no symbol table, no debug information: {info:?}"
    );
    assert!(
        zip.len() <= MAX_ZIP_BYTES,
        "the zip is {} bytes, over {MAX_ZIP_BYTES}",
        zip.len()
    );

    // The same sources give the same identity, and their zip comes from the cache: no
    // build, not even a call to cargo.
    let built = Arc::new(AtomicBool::new(false));
    let noticed = built.clone();
    let again = lambda_package(&config, move |_| noticed.store(true, Ordering::SeqCst))
        .expect("the package is declared");
    assert_eq!(again.id(), code.id());
    let started = Instant::now();
    assert_eq!(again.read().expect("the cached zip"), zip);
    assert!(
        !built.load(Ordering::SeqCst),
        "an unchanged tree was rebuilt"
    );
    eprintln!("aws package: from the cache in {:.1?}", started.elapsed());
}
