//! Assets (files and built artifacts) used as resource inputs.
