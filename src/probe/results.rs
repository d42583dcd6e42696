//! What each requested permission came to ([`Results`]), kept apart from
//! the requests that find it out.

use crate::crd::{Permission, PermissionOutcome};
use crate::outcome::PermissionCheck;

/// The result of each requested permission, as the steps find it.
/// Permissions that were not requested are never recorded.
#[derive(Debug)]
pub(super) struct Results<'a> {
    /// The requested permissions, in the order they were requested.
    wanted: &'a [Permission],
    checks: Vec<PermissionCheck>,
}

impl<'a> Results<'a> {
    /// No results yet for `wanted`.
    pub(super) fn new(wanted: &'a [Permission]) -> Self {
        Self {
            wanted,
            checks: vec![],
        }
    }

    /// Record what `p` came to, replacing what an earlier step said; nothing
    /// if `p` was not requested.
    pub(super) fn set(
        &mut self,
        p: Permission,
        result: PermissionOutcome,
        message: impl Into<String>,
    ) {
        if !self.wanted.contains(&p) {
            return;
        }
        self.checks.retain(|r| r.permission != p);
        self.checks.push(PermissionCheck {
            permission: p,
            result,
            message: message.into(),
            proved_at: None,
        });
    }

    /// What `p` came to so far.
    pub(super) fn get(&self, p: Permission) -> Option<PermissionOutcome> {
        self.checks
            .iter()
            .find(|r| r.permission == p)
            .map(|r| r.result)
    }

    /// The results in the order the permissions were requested.
    pub(super) fn ordered(&self) -> Vec<PermissionCheck> {
        self.wanted
            .iter()
            .filter_map(|p| self.checks.iter().find(|r| r.permission == *p).cloned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::Permission::*;
    use crate::crd::PermissionOutcome::*;

    #[test]
    fn only_requested_permissions_are_kept_the_last_word_in_request_order() {
        let wanted = [GetObject, ListBucket];
        let mut r = Results::new(&wanted);
        r.set(ListBucket, Allowed, "listed");
        r.set(PutObject, Allowed, "not requested");
        r.set(GetObject, Unverified, "first");
        r.set(GetObject, Denied, "second");
        assert_eq!(r.get(PutObject), None);
        assert_eq!(r.get(GetObject), Some(Denied));
        let ordered = r.ordered();
        let got: Vec<_> = ordered
            .iter()
            .map(|c| (c.permission, c.result, c.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (GetObject, Denied, "second"),
                (ListBucket, Allowed, "listed")
            ]
        );
    }
}
