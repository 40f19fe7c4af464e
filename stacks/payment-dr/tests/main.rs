//! The payment-dr stack's integration tests, in one binary so that the AWS SDK is linked
//! once: the end-to-end deployment checked through the AWS API (`e2e`), writer changes
//! planned and unplanned with a region unreachable (`failover`), the crash and fault
//! torture (`torture`), failover drills and their reports (`drill`), all running the real `payment-dr-stack` binary against moto; and
//! the Lambda package built for AWS, read back (`package`).

mod checks;
mod drill;
mod e2e;
mod failover;
mod package;
mod torture;
