//! What `policy` prints, and a document rendered as JSON or YAML.

use serde::Serialize;

use super::args::Format;
use crate::cli::one_line;

/// What the command prints: the document on stdout, notes on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed {
    /// The policy document, ending in a newline.
    pub stdout: String,
    /// Sentences about what the document cannot contain.
    pub notes: Vec<String>,
}

/// `document` as `format`, ending in a newline.
pub(super) fn render(document: &impl Serialize, format: Format) -> Result<String, String> {
    match format {
        Format::Json => serde_json::to_string_pretty(document)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        Format::Yaml => yaml_serde::to_string(document).map_err(|e| e.to_string()),
    }
    .map_err(|e| one_line(&format!("cannot print the policy: {e}")))
}
