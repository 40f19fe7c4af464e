//! What the AWS provider adds to every preview: its built-in policy pack
//! ([`policies::pack`]), and its cost model ([`cost::AwsCostModel`]) over the price list
//! `prices.toml`. Both are data and pure functions; neither calls AWS.

pub mod cost;
pub mod policies;
