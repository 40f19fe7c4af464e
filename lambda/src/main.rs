//! The payment processor Lambda (work in progress: see lambda/README once implemented).

fn main() {}
