//! The emulator support itself: moto starts, answers and is reachable through the SDK.

use iac_tests::{Moto, RequestCounter};

#[tokio::test]
async fn moto_answers_sdk_calls() {
    let moto = Moto::shared();
    let sts = aws_sdk_sts::Client::new(&moto.sdk_config("us-east-1"));
    let me = sts.get_caller_identity().send().await.expect("sts answers");
    assert!(me.account().is_some_and(|a| a.len() == 12));
}

#[tokio::test]
async fn request_counter_counts_connections() {
    let counter = RequestCounter::start();
    assert_eq!(counter.connections(), 0);
    let sts = aws_sdk_sts::Client::new(&counter.sdk_config("us-east-1"));
    // The counter closes the connection, so the call fails; what matters is that it counted.
    let _ = sts.get_caller_identity().send().await;
    assert!(counter.connections() >= 1);
}
