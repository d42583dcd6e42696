//! A status condition: the JSON and schema of `metav1.Condition`, kept
//! compactly in memory. The operator caches every S3Connection, and with
//! k8s-openapi's `Condition` (five owned Strings each) the six conditions of
//! a connection were most of its cached size. Here type, status and reason
//! are shared from a small, bounded table of words ([`Text::word`]), and a
//! message that several conditions of one object repeat (Ready, Failed and
//! Stalled say the same) is held once ([`dedup_messages`]).

use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{Mutex, OnceLock};

use arcstr::ArcStr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An immutable string whose clones share one allocation, its count and
/// length in front of its bytes. One pointer wide (an `Arc<str>` is two): a
/// cached connection holds four per condition, and most of them are shared
/// words.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(ArcStr);

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self
    }
}

/// Words longer than this are not shared (a condition's type, status and
/// reason are identifiers; the API server limits a reason to 1024 bytes).
const WORD_MAX: usize = 64;
/// At most this many distinct words are shared; later ones are not, so
/// whatever a status holds, the table stays small.
const WORDS_MAX: usize = 512;

/// Messages longer than this are not shared: those of many connections
/// alike ("Permissions not checked because of SecretNotFound.") are short;
/// a longer one mostly names the connection's own objects.
const MESSAGE_MAX: usize = 128;
/// At most this many distinct messages are shared (at most about 600 KiB
/// however the first ones came to be; later ones are not shared).
const MESSAGES_MAX: usize = 4096;

/// Shared texts: at most `count` of them, none longer than `len`.
struct Words {
    table: Mutex<HashSet<Text>>,
    len: usize,
    count: usize,
}

impl Words {
    fn new(len: usize, count: usize) -> Self {
        Self {
            table: Mutex::default(),
            len,
            count,
        }
    }

    fn get(&self, s: &str) -> Text {
        if s.len() > self.len {
            return Text::from(s);
        }
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(w) = table.get(s) {
            return w.clone();
        }
        let w = Text::from(s);
        if table.len() < self.count {
            table.insert(w.clone());
        }
        w
    }
}

impl Text {
    /// A short identifier (a condition type, status or reason), shared with
    /// every other use of the same word while the table has room.
    pub fn word(s: &str) -> Self {
        static WORDS: OnceLock<Words> = OnceLock::new();
        WORDS.get_or_init(|| Words::new(WORD_MAX, WORDS_MAX)).get(s)
    }

    /// A message: shared with every other use of the same text when it is
    /// short and the table has room (the cache of 100,000 connections that
    /// fail alike holds their "not checked" messages once).
    pub fn message(s: &str) -> Self {
        static MESSAGES: OnceLock<Words> = OnceLock::new();
        MESSAGES
            .get_or_init(|| Words::new(MESSAGE_MAX, MESSAGES_MAX))
            .get(s)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0[..]
    }

    /// Whether both share one allocation (tests of the sharing itself).
    pub fn shares(&self, other: &Text) -> bool {
        ArcStr::ptr_eq(&self.0, &other.0)
    }
}

impl Default for Text {
    fn default() -> Self {
        Self::word("")
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0[..]
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0[..]
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.0.as_str(), f)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Self(ArcStr::from(s))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Self(ArcStr::from(s))
    }
}

impl From<Text> for String {
    fn from(t: Text) -> Self {
        t.0.to_string()
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.0.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.0.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.0.as_str() == other.as_str()
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        *self == other.0.as_str()
    }
}

impl PartialEq<Text> for str {
    fn eq(&self, other: &Text) -> bool {
        self == other.0.as_str()
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0[..])
    }
}

/// Deserialized as a word (see [`Text::word`]): every field of this type
/// but a message is one.
fn word<'de, D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
    let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
    Ok(Text::word(&s))
}

/// Deserialized as a message (see [`Text::message`]).
fn message<'de, D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
    let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
    Ok(Text::message(&s))
}

/// A condition's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
pub enum CondStatus {
    /// It holds.
    True,
    /// It does not hold.
    False,
    /// Not known (yet).
    Unknown,
}

impl CondStatus {
    /// The status' name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The fields and JSON of `metav1.Condition` (as k8s-openapi reads it:
/// strings default to empty, `lastTransitionTime` is required).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// When `status` last changed.
    pub last_transition_time: Time,
    /// What the condition means now, for people.
    #[serde(default, deserialize_with = "message")]
    pub message: Text,
    /// The generation the condition describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Why, in one CamelCase word.
    #[serde(default, deserialize_with = "word")]
    pub reason: Text,
    /// `True`, `False` or `Unknown`.
    #[serde(default, deserialize_with = "word")]
    pub status: Text,
    /// Which condition.
    #[serde(rename = "type", default, deserialize_with = "word")]
    pub type_: Text,
}

/// Conditions of one object, a message repeated by several of them held
/// once (`deserialize_with` for a status' `conditions`).
pub fn dedup_messages<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Condition>, D::Error> {
    let mut all = Vec::<Condition>::deserialize(d)?;
    share_messages(&mut all);
    Ok(all)
}

/// Conditions beyond this many are left as they are: the comparison is
/// quadratic, and a status holds eight conditions of the operator's.
const SHARE_MAX: usize = 16;

/// Make equal messages share the first one's allocation.
pub fn share_messages(all: &mut [Condition]) {
    for i in 1..all.len().min(SHARE_MAX) {
        let (before, rest) = all.split_at_mut(i);
        let this = &mut rest[0].message;
        if let Some(same) = before.iter().find(|c| c.message == *this) {
            *this = same.message.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    type K8sCondition = k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

    fn sample() -> serde_json::Value {
        json!([
            {"type": "Ready", "status": "False", "reason": "SecretNotFound",
             "message": "Secret ns/s not found.", "observedGeneration": 2,
             "lastTransitionTime": "2026-11-28T10:00:00Z"},
            {"type": "Failed", "status": "True", "reason": "SecretNotFound",
             "message": "Secret ns/s not found.", "observedGeneration": 2,
             "lastTransitionTime": "2026-11-28T10:00:00Z"},
            {"type": "Custom", "status": "True", "reason": "",
             "message": "", "lastTransitionTime": "2026-11-28T10:00:01Z"},
        ])
    }

    #[test]
    fn same_json_as_metav1_condition_both_ways() {
        let ours: Vec<Condition> = serde_json::from_value(sample()).unwrap();
        let theirs: Vec<K8sCondition> = serde_json::from_value(sample()).unwrap();
        assert_eq!(
            serde_json::to_value(&ours).unwrap(),
            serde_json::to_value(&theirs).unwrap()
        );
        assert_eq!(serde_json::to_value(&ours).unwrap(), sample());
        // Missing strings default, a missing time is an error, like k8s-openapi.
        let partial = json!({"type": "Ready", "lastTransitionTime": "2026-11-28T10:00:00Z"});
        let c: Condition = serde_json::from_value(partial).unwrap();
        assert_eq!((c.status.as_str(), c.message.as_str()), ("", ""));
        assert!(serde_json::from_value::<Condition>(json!({"type": "Ready"})).is_err());
    }

    #[test]
    fn words_are_shared_and_repeated_messages_held_once() {
        #[derive(Deserialize)]
        struct S {
            #[serde(deserialize_with = "dedup_messages")]
            c: Vec<Condition>,
        }
        let a: S = serde_json::from_value(json!({ "c": sample() })).unwrap();
        let b: S = serde_json::from_value(json!({ "c": sample() })).unwrap();
        assert!(a.c[0].reason.shares(&a.c[1].reason));
        assert!(a.c[0].type_.shares(&b.c[0].type_), "across objects");
        assert!(a.c[0].message.shares(&a.c[1].message), "within an object");
        assert!(a.c[0].message.shares(&b.c[0].message), "a short message");
        // A long message is shared within its object only.
        let long = |c: &mut serde_json::Value| {
            for c in c.as_array_mut().unwrap() {
                c["message"] = json!("y".repeat(MESSAGE_MAX + 1));
            }
        };
        let (mut a, mut b) = (sample(), sample());
        long(&mut a);
        long(&mut b);
        let a: S = serde_json::from_value(json!({ "c": a })).unwrap();
        let b: S = serde_json::from_value(json!({ "c": b })).unwrap();
        assert!(a.c[0].message.shares(&a.c[1].message), "within an object");
        assert!(!a.c[0].message.shares(&b.c[0].message));
    }

    #[test]
    fn a_status_with_many_conditions_is_read_in_linear_time() {
        let one = |i: usize| {
            json!({"type": format!("T{i}"), "status": "True", "reason": "R",
                   "message": "s".repeat(MESSAGE_MAX + 1),
                   "lastTransitionTime": "2026-11-28T10:00:00Z"})
        };
        let many: Vec<_> = (0..SHARE_MAX * 4).map(one).collect();
        let mut all: Vec<Condition> = serde_json::from_value(json!(many)).unwrap();
        share_messages(&mut all);
        assert!(all[SHARE_MAX - 1].message.shares(&all[0].message));
        assert!(
            !all[SHARE_MAX].message.shares(&all[0].message),
            "not looked at"
        );
        assert!(
            all.iter()
                .all(|c| c.message == *"s".repeat(MESSAGE_MAX + 1))
        );
    }

    #[test]
    fn the_word_table_is_bounded() {
        let table = Words::new(WORD_MAX, WORDS_MAX);
        let first = table.get("Ready");
        for i in 0..WORDS_MAX * 2 {
            let _ = table.get(&format!("Reason{i}"));
        }
        assert_eq!(table.table.lock().unwrap().len(), WORDS_MAX);
        assert!(table.get("Ready").shares(&first), "kept");
        let late = table.get("NeverSeen");
        assert!(!table.get("NeverSeen").shares(&late), "no room: not shared");
        let long = "x".repeat(WORD_MAX + 1);
        assert!(!table.get(&long).shares(&table.get(&long)));
        assert_eq!(late, "NeverSeen");
    }
}
