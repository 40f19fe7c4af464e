//! Argument checks shared by declaration-time validation (on values known then) and the
//! providers' own check before a call (on fully resolved values).

use iac_dsl::{FieldErrors, Input};

/// Records `check(value)`'s error for `field` when `input` is known now.
pub fn known<T>(
    errors: &mut FieldErrors,
    field: &str,
    input: &Input<T>,
    check: impl FnOnce(&T) -> Result<(), String>,
) {
    errors.check(field, input, check);
}

/// Checks a string's length is within `min..=max` characters.
pub fn length(value: &str, min: usize, max: usize) -> Result<(), String> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(format!("must be {min} to {max} characters long, got {n}"));
    }
    Ok(())
}

/// Checks a region name has the shape of an AWS region and is one AWS has.
pub fn region(value: &str) -> Result<(), String> {
    if KNOWN_REGIONS.contains(&value) {
        Ok(())
    } else {
        Err(format!("`{value}` is not an AWS region"))
    }
}

/// The commercial and GovCloud regions, for validating region arguments offline.
pub const KNOWN_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "mx-central-1",
    "sa-east-1",
    "us-gov-east-1",
    "us-gov-west-1",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_and_lengths() {
        assert!(region("us-east-2").is_ok());
        assert!(region("us-middle-9").unwrap_err().contains("us-middle-9"));
        assert!(length("abc", 1, 3).is_ok());
        assert!(length("abcd", 1, 3).is_err());
    }
}
