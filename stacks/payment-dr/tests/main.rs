//! The payment-dr stack's integration tests, in one binary so that the AWS SDK is linked
//! once: the end-to-end deployment checked through the AWS API (`e2e`), and the crash and
//! fault torture (`torture`), both running the real `payment-dr-stack` binary against
//! moto; and the Lambda package built for AWS, read back (`package`).

mod e2e;
mod package;
mod torture;
