//! Texts of the conditions that are not an outcome's own message.

/// Ready and Reconciling while a new generation is being validated.
pub fn validating_generation(generation: i64) -> String {
    format!("Validating generation {generation}.")
}

/// Suspended while `spec.suspend` is set.
pub const SUSPENDED: &str =
    "Validation is suspended (spec.suspend); the conditions below are from the last validation.";

/// A check a transient problem kept from an answer.
pub fn not_known_yet(what: &str, why: &str) -> String {
    format!("{what} not known yet: {why}")
}

/// A check a definite problem kept this validation from.
pub fn not_checked(what: &str, reason: &str) -> String {
    format!("{what} not checked because of {reason}.")
}

/// Failed=False.
pub const NO_PROBLEM: &str = "No problem found.";

/// Authenticated=True.
pub fn credentials_valid(identity: Option<&str>) -> String {
    match identity {
        Some(id) => format!("The credentials are valid; they belong to {id}."),
        None => "The credentials were accepted by S3.".to_string(),
    }
}

/// BucketAccessible=True.
pub fn bucket_answers(region: Option<&str>) -> String {
    match region {
        Some(r) => format!("The bucket answers in region {r}."),
        None => "The bucket answers.".to_string(),
    }
}

/// PermissionsGranted=False.
pub fn denied_list(actions: &[&str]) -> String {
    format!("Denied: {}.", actions.join(", "))
}

/// PermissionsGranted=Unknown.
pub fn unverified_list(actions: &[&str]) -> String {
    format!(
        "Could not be proved either way: {}. See status.permissions for why.",
        actions.join(", ")
    )
}

/// PermissionsGranted=True.
pub const ALL_ALLOWED: &str = "Every requested permission was proved by a real request.";
