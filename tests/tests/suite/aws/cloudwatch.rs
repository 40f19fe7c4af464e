//! cloudwatch against the emulator.
