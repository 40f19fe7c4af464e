//! The payment-dr stack's integration tests, in one binary so that the AWS SDK is linked
//! once: the end-to-end deployment checked through the AWS API (`e2e`), writer changes
//! planned and unplanned with a region unreachable (`failover`), and the crash and fault
//! torture (`torture`). All run the real `payment-dr-stack` binary against moto.

mod checks;
mod e2e;
mod failover;
mod torture;
