//! Strings that come from a server (error codes, region headers, identity
//! ARNs, error messages) are tamed before they reach status, events, logs or
//! metric labels: every character outside a small safe set becomes `?`, and
//! anything longer than a limit is cut (marked with `...`). An endpoint can
//! then neither inject control characters or markup into a status nor grow
//! it without bound.

fn tame(s: &str, allowed: fn(char) -> bool, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max + 3));
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push_str("...");
            break;
        }
        out.push(if allowed(c) { c } else { '?' });
    }
    out
}

/// Error codes such as `AccessDenied`: letters, digits, `.`, `_`, `-`.
pub fn code(s: &str) -> String {
    tame(s, |c| c.is_ascii_alphanumeric() || "._-".contains(c), 64)
}

/// Region names such as `eu-west-1`.
pub fn region(s: &str) -> String {
    tame(
        s,
        |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
        32,
    )
}

/// ARNs such as `arn:aws:sts::123456789012:assumed-role/r/s`.
pub fn arn(s: &str) -> String {
    tame(
        s,
        |c| c.is_ascii_alphanumeric() || ":/+=,.@_-".contains(c),
        256,
    )
}

/// Free text such as an error message: printable ASCII.
pub fn text(s: &str) -> String {
    tame(s, |c| c.is_ascii_graphic() || c == ' ', 512)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_strings_pass_unchanged() {
        assert_eq!(code("AccessDenied"), "AccessDenied");
        assert_eq!(region("eu-west-1"), "eu-west-1");
        let a = "arn:aws:sts::123456789012:assumed-role/sync/s3connection-ns-x";
        assert_eq!(arn(a), a);
        assert_eq!(text("The bucket is gone."), "The bucket is gone.");
    }

    #[test]
    fn hostile_strings_are_neutralised_and_bounded() {
        assert_eq!(code("Access\nDenied<script>"), "Access?Denied?script?");
        assert_eq!(
            region("us-east-1\r\nX-Injected: 1"),
            "us-east-1???-?njected??1"
        );
        assert_eq!(region("EU"), "??");
        assert_eq!(
            arn("arn:aws:iam::1:user/a b\u{0}"),
            "arn:aws:iam::1:user/a?b?"
        );
        let long = "A".repeat(10_000);
        assert_eq!(code(&long).len(), 64 + 3);
        assert!(code(&long).ends_with("..."));
        assert_eq!(text(&long).len(), 512 + 3);
        assert_eq!(text("é\u{7}"), "??");
    }
}
