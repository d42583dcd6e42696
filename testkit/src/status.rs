//! A connection's status as the tests read it: its conditions and the
//! result for each permission.

use s3_connection_operator::crd::S3Connection;

/// One condition of a connection, as the tests read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cond {
    pub status: String,
    pub reason: String,
    pub message: String,
    pub observed_generation: Option<i64>,
}

fn find_condition(c: &S3Connection, type_: &str) -> Option<Cond> {
    let s = c.status.as_ref()?;
    let r = s.conditions.iter().find(|c| c.type_ == type_)?;
    Some(Cond {
        status: r.status.to_string(),
        reason: r.reason.to_string(),
        message: r.message.to_string(),
        observed_generation: r.observed_generation,
    })
}

/// The Ready condition, if the connection has one.
pub fn ready_of(c: &S3Connection) -> Option<Cond> {
    find_condition(c, "Ready")
}

/// Whether the connection has a condition of `type_` at all.
pub fn has_condition(c: &S3Connection, type_: &str) -> bool {
    find_condition(c, type_).is_some()
}

/// The condition of `type_`; panics if there is none.
pub fn condition(c: &S3Connection, type_: &str) -> Cond {
    find_condition(c, type_).unwrap_or_else(|| panic!("no {type_} condition"))
}

/// Every one of `actions` is Allowed in the status.
pub fn assert_allowed(c: &S3Connection, actions: &[&str]) {
    for a in actions {
        assert_eq!(permission(c, a), "Allowed", "{a}");
    }
}

/// The result the status gives for `action`.
pub fn permission(c: &S3Connection, action: &str) -> String {
    let s = c.status.as_ref().expect("status");
    s.permissions
        .iter()
        .find(|p| p.action == action)
        .map(|p| p.result.as_str().to_string())
        .unwrap_or_else(|| panic!("no result for {action}: {:?}", s.permissions))
}

/// The message the status gives for `action`.
pub fn permission_message(c: &S3Connection, action: &str) -> String {
    let s = c.status.as_ref().expect("status");
    s.permissions
        .iter()
        .find(|p| p.action == action)
        .map(|p| p.message.clone())
        .unwrap_or_else(|| panic!("no result for {action}: {:?}", s.permissions))
}
