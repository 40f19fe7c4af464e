//! Locally generated values (filled in by the random provider work).
