//! Provider tests against the emulator, one module per service.

mod acm;
mod apigateway;
mod batch;
mod cloudwatch;
mod ec2;
mod ec2_vpc;
mod iam;
mod kms;
mod lambda;
mod random;
mod rds;
mod route53;
mod s3;
mod secretsmanager;
mod sns;
mod support;
