//! The shard this process serves (`--watch-label-selector`): a label
//! selector on S3Connections, so that several installs of the operator
//! share the connections of one cluster, each validating the connections
//! whose labels its selector matches (the label is [`SHARD_LABEL`]; a main
//! install takes `!sharding.s3connection.dev/key`, each shard install
//! `sharding.s3connection.dev/key=<shard>`).
//!
//! The selector is parsed here, strictly, in the forms Kubernetes' own
//! label selectors take (`key`, `!key`, `key=value`, `key==value`,
//! `key!=value`, `key in (a,b)`, `key notin (a,b)`, separated by commas),
//! with the key and value rules of labels: a bad one stops the operator at
//! startup with one line saying what is wrong, rather than a watch the API
//! server refuses over and over. The API server then filters the
//! S3Connection watch with it ([`Shard::watch`]), and a connection read
//! again by name is checked against it ([`Shard::holds`]): one relabelled
//! to another shard meanwhile is left to that shard.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use kube::core::{Expression, Selector, SelectorExt};
use kube::runtime::watcher;

#[cfg(test)]
mod tests;

/// The label whose value names a connection's shard.
pub const SHARD_LABEL: &str = "sharding.s3connection.dev/key";

/// The longest selector, in bytes.
pub const MAX_LEN: usize = 1024;

/// Longest label name (the part after a prefix) and label value.
const NAME_MAX: usize = 63;

/// The forms a selector takes, for error messages.
const FORMS: &str = "a selector is key, !key, key=value, key!=value, key in (a,b) or key notin (a,b), separated by commas";

/// A selector that is not one: what is wrong, where, and the forms a
/// selector takes. Quotes at most a short token of it, never the whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--watch-label-selector: {0}; {FORMS}")]
pub struct BadSelector(String);

/// The connections this process validates: those whose labels match a
/// selector (every connection when it is empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shard {
    /// The selector's requirements, sorted and without repeats, so that
    /// one shard written two ways is one shard.
    expressions: Vec<Expression>,
}

impl Shard {
    /// Every connection: no selector.
    pub fn all() -> Self {
        Self::default()
    }

    /// Parse `--watch-label-selector`; empty (or spaces) selects all.
    pub fn parse(text: &str) -> Result<Self, BadSelector> {
        if text.len() > MAX_LEN {
            return Err(BadSelector(format!(
                "{} bytes; at most {MAX_LEN}",
                text.len()
            )));
        }
        if let Some((at, c)) = text.char_indices().find(|(_, c)| c.is_control()) {
            return Err(BadSelector(format!(
                "a control character (U+{:04X}) at byte {at}",
                c as u32
            )));
        }
        if let Some((at, c)) = text.char_indices().find(|(_, c)| !c.is_ascii()) {
            return Err(BadSelector(format!("{c:?} at byte {at}: labels are ASCII")));
        }
        let tokens = lex(text)?;
        let mut expressions = Parser {
            tokens: &tokens,
            at: 0,
            end: text.len(),
        }
        .selector()?;
        expressions.sort();
        expressions.dedup();
        Ok(Self { expressions })
    }

    /// Whether every connection is selected.
    pub fn selects_all(&self) -> bool {
        self.expressions.is_empty()
    }

    /// Whether a connection with `labels` belongs to this shard.
    pub fn holds(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        let none = BTreeMap::new();
        self.selector().matches(labels.unwrap_or(&none))
    }

    /// The selector, as kube's type.
    pub fn selector(&self) -> Selector {
        self.expressions.iter().cloned().collect()
    }

    /// `config` restricted to this shard's connections (unchanged when it
    /// selects all).
    pub fn watch(&self, config: watcher::Config) -> watcher::Config {
        if self.selects_all() {
            config
        } else {
            config.labels_from(&self.selector())
        }
    }

    /// A short name of the selector, the same for one written two ways:
    /// the first 8 hex digits of the SHA-256 of [`Shard`]'s text (`None`
    /// when it selects all). Names the shard's Lease unless one is given.
    pub fn id(&self) -> Option<String> {
        use sha2::{Digest, Sha256};
        if self.selects_all() {
            return None;
        }
        let digest = Sha256::digest(self.to_string().as_bytes());
        Some(digest[..4].iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// The selector in its canonical form, as sent to the API server (empty
/// when it selects all).
impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.selector().fmt(f)
    }
}

/// One token of a selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    /// A key, value, `in` or `notin`.
    Word(&'a str),
    Not,
    Eq,
    NotEq,
    Open,
    Close,
    Comma,
}

impl fmt::Display for Tok<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Word(w) => write!(f, "{:?}", short(w)),
            Tok::Not => f.write_str("'!'"),
            Tok::Eq => f.write_str("'='"),
            Tok::NotEq => f.write_str("'!='"),
            Tok::Open => f.write_str("'('"),
            Tok::Close => f.write_str("')'"),
            Tok::Comma => f.write_str("','"),
        }
    }
}

/// At most 64 bytes of `word`, for a message.
fn short(word: &str) -> String {
    if word.len() <= 64 {
        word.to_string()
    } else {
        format!("{}...", &word[..64])
    }
}

fn word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/')
}

/// The tokens of `text` (printable ASCII), each with its byte offset.
fn lex(text: &str) -> Result<Vec<(usize, Tok<'_>)>, BadSelector> {
    let bytes = text.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        let (tok, len) = match b {
            b' ' => {
                i += 1;
                continue;
            }
            b'!' if next == Some(b'=') => (Tok::NotEq, 2),
            b'!' => (Tok::Not, 1),
            b'=' if next == Some(b'=') => (Tok::Eq, 2),
            b'=' => (Tok::Eq, 1),
            b'(' => (Tok::Open, 1),
            b')' => (Tok::Close, 1),
            b',' => (Tok::Comma, 1),
            b if word_byte(b) => {
                let len = bytes[i..].iter().take_while(|b| word_byte(**b)).count();
                (Tok::Word(&text[i..i + len]), len)
            }
            _ => {
                return Err(BadSelector(format!(
                    "unexpected {:?} at byte {i}",
                    b as char
                )));
            }
        };
        out.push((i, tok));
        i += len;
    }
    Ok(out)
}

struct Parser<'t, 'a> {
    tokens: &'t [(usize, Tok<'a>)],
    at: usize,
    /// The text's length: where "the end" is.
    end: usize,
}

impl<'a> Parser<'_, 'a> {
    fn peek(&self) -> Option<Tok<'a>> {
        self.tokens.get(self.at).map(|(_, t)| *t)
    }

    fn next(&mut self) -> Option<Tok<'a>> {
        let t = self.peek();
        self.at += 1;
        t
    }

    /// The byte offset of the current token (the end when there is none).
    fn offset(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |(o, _)| *o)
    }

    /// An error: `expected` where the current token (or the end) is.
    fn expected(&self, expected: &str) -> BadSelector {
        let found = match self.peek() {
            Some(t) => format!("{t} at byte {}", self.offset()),
            None => "the end".to_string(),
        };
        BadSelector(format!("expected {expected}, found {found}"))
    }

    fn selector(&mut self) -> Result<Vec<Expression>, BadSelector> {
        let mut out = vec![];
        if self.peek().is_none() {
            return Ok(out);
        }
        loop {
            out.push(self.requirement()?);
            match self.peek() {
                None => return Ok(out),
                Some(Tok::Comma) => {
                    self.next();
                }
                Some(_) => return Err(self.expected("',' or the end")),
            }
        }
    }

    fn requirement(&mut self) -> Result<Expression, BadSelector> {
        if self.peek() == Some(Tok::Not) {
            self.next();
            let key = self.key()?;
            return Ok(Expression::DoesNotExist(key));
        }
        let key = self.key()?;
        match self.peek() {
            None | Some(Tok::Comma) => Ok(Expression::Exists(key)),
            Some(Tok::Eq) => {
                self.next();
                Ok(Expression::Equal(key, self.value()?))
            }
            Some(Tok::NotEq) => {
                self.next();
                Ok(Expression::NotEqual(key, self.value()?))
            }
            Some(Tok::Word("in")) => {
                self.next();
                Ok(Expression::In(key, self.set()?))
            }
            Some(Tok::Word("notin")) => {
                self.next();
                Ok(Expression::NotIn(key, self.set()?))
            }
            Some(_) => Err(self.expected("'=', '!=', 'in', 'notin', ',' or the end")),
        }
    }

    fn key(&mut self) -> Result<String, BadSelector> {
        let at = self.offset();
        let Some(Tok::Word(key)) = self.peek() else {
            return Err(self.expected("a label key"));
        };
        self.next();
        check_key(key)
            .map_err(|why| BadSelector(format!("the key {:?} at byte {at} {why}", short(key))))?;
        Ok(key.to_string())
    }

    /// A value; empty when none follows (`key=` matches an empty value).
    fn value(&mut self) -> Result<String, BadSelector> {
        let at = self.offset();
        match self.peek() {
            None | Some(Tok::Comma) | Some(Tok::Close) => Ok(String::new()),
            Some(Tok::Word(value)) => {
                self.next();
                check_value(value).map_err(|why| {
                    BadSelector(format!("the value {:?} at byte {at} {why}", short(value)))
                })?;
                Ok(value.to_string())
            }
            Some(_) => Err(self.expected("a label value")),
        }
    }

    /// `(a,b,...)`: at least one value.
    fn set(&mut self) -> Result<BTreeSet<String>, BadSelector> {
        if self.next() != Some(Tok::Open) {
            self.at -= 1;
            return Err(self.expected("'('"));
        }
        if self.peek() == Some(Tok::Close) {
            return Err(BadSelector(format!(
                "an empty set of values at byte {}",
                self.offset()
            )));
        }
        let mut values = BTreeSet::new();
        loop {
            values.insert(self.value()?);
            match self.next() {
                Some(Tok::Comma) => {}
                Some(Tok::Close) => return Ok(values),
                _ => {
                    self.at -= 1;
                    return Err(self.expected("',' or ')'"));
                }
            }
        }
    }
}

/// A label key: `[prefix/]name`, the prefix a DNS subdomain.
fn check_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if prefix.is_some_and(|p| !crate::crd::rules::is_dns_subdomain(p)) {
        return Err(
            "has a prefix that is not a DNS subdomain (lower case, at most 253 characters)".into(),
        );
    }
    if !is_label_text(name) {
        return Err(format!(
            "is not a label key: a name of 1 to {NAME_MAX} letters, digits, '-', '_' or '.', beginning and ending with a letter or digit, after an optional DNS prefix and '/'"
        ));
    }
    Ok(())
}

/// A label value: empty, or like a key's name.
fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() || is_label_text(value) {
        Ok(())
    } else {
        Err(format!(
            "is not a label value: at most {NAME_MAX} letters, digits, '-', '_' or '.', beginning and ending with a letter or digit"
        ))
    }
}

/// 1 to 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends.
fn is_label_text(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= NAME_MAX
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}
