//! The payment-dr stack's integration tests, in one binary so that the AWS SDK is linked
//! once: the end-to-end deployment checked through the AWS API (`e2e`), and the crash and
//! fault torture (`torture`). Both run the real `payment-dr-stack` binary against moto.

mod checks;
mod e2e;
mod torture;
