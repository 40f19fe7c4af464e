//! ec2 against the emulator.
