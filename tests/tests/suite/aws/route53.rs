//! route53 against the emulator.
