//! Provider tests against the emulator, one module per service.

mod support;
mod ec2_vpc;
mod ec2;
mod iam;
mod kms;
mod secretsmanager;
mod random;
mod rds;
mod s3;
mod lambda;
mod apigateway;
mod acm;
mod route53;
mod cloudwatch;
mod sns;
