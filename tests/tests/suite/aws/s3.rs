//! s3 against the emulator.
