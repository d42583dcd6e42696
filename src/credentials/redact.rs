//! Keeping secret values out of text. Messages are built from error codes
//! and our own words, but S3-compatible stores are free to echo request
//! details, so every text that reaches a log, an event or the status is
//! scrubbed of the values a validation handled.

use crate::outcome::{Outcome, Problem};

/// Removes every occurrence of the given secret strings from text.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// A secret value to remove from texts.
    pub fn add(&mut self, secret: &str) {
        let s = secret.trim();
        if s.len() >= 4 && !self.secrets.iter().any(|x| x == s) {
            // Longest first: a value that contains another is replaced
            // whole, not around the shorter one.
            let at = self.secrets.partition_point(|x| x.len() >= s.len());
            self.secrets.insert(at, s.to_string());
        }
    }

    /// Every secret value `other` knows, known here too.
    pub fn merge(&mut self, other: &Redactor) {
        for s in &other.secrets {
            self.add(s);
        }
    }

    /// `text` with every secret value replaced.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "[REDACTED]");
            }
        }
        out
    }

    /// `p` with its message scrubbed.
    pub fn scrub_problem(&self, p: Problem) -> Problem {
        Problem::new(p.reason, self.scrub(&p.message))
    }

    /// `o` with every text it carries scrubbed.
    pub fn scrub_outcome(&self, mut o: Outcome) -> Outcome {
        o.message = self.scrub(&o.message);
        for p in &mut o.permissions {
            p.message = self.scrub(&p.message);
        }
        // What the endpoint said about the caller and the bucket reaches
        // the status too (and the Authenticated condition's message).
        for v in [&mut o.identity, &mut o.bucket_region]
            .into_iter()
            .flatten()
        {
            *v = self.scrub(v);
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redactor_removes_secrets_and_ignores_tiny_strings() {
        let mut r = Redactor::default();
        r.add("AKIAEXAMPLE123");
        r.add("wJalrXUtnFEMI/K7MDENG");
        r.add("ab");
        let s = r.scrub("key AKIAEXAMPLE123 secret wJalrXUtnFEMI/K7MDENG ab");
        assert_eq!(s, "key [REDACTED] secret [REDACTED] ab");
        assert!(format!("{r:?}").contains("2 secrets"));
    }

    #[test]
    fn a_value_that_contains_another_is_replaced_whole() {
        let mut r = Redactor::default();
        r.add("ABCD");
        let mut other = Redactor::default();
        other.add("ABCDEFGH");
        r.merge(&other);
        assert_eq!(r.scrub("x ABCDEFGH ABCD"), "x [REDACTED] [REDACTED]");
    }

    #[test]
    fn what_the_endpoint_said_about_the_caller_and_bucket_is_scrubbed() {
        let mut r = Redactor::default();
        r.add("AKIAEXAMPLE123");
        let mut o = Outcome::new(crate::outcome::Reason::Validated, String::new());
        o.identity = Some("arn:aws:iam::1:user/AKIAEXAMPLE123".into());
        o.bucket_region = Some("AKIAEXAMPLE123".into());
        let o = r.scrub_outcome(o);
        assert_eq!(
            o.identity.as_deref(),
            Some("arn:aws:iam::1:user/[REDACTED]")
        );
        assert_eq!(o.bucket_region.as_deref(), Some("[REDACTED]"));
    }
}
