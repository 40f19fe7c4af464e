//! iam resources.

use super::{DataSourceImpl, ResourceImpl};

/// The resource types of this service.
pub(crate) const RESOURCES: &[&dyn ResourceImpl] = &[];

/// The data sources of this service.
pub(crate) const DATA_SOURCES: &[&dyn DataSourceImpl] = &[];
