//! Unit tests of the validation engine against the fake S3/STS/IAM in
//! [`crate::testing`]: one scenario per outcome the engine can reach, by
//! topic. This file holds what they share: a plan, and runs against a world.

mod failures;
mod identity;
mod permissions;
mod plan;
mod probe_object;
mod rules;

use std::sync::Arc;

use strum::IntoEnumIterator;

use crate::aws::{Clients, Outages, Remote};
use crate::crd::Permission;
use crate::crd::PermissionOutcome;
use crate::outcome::Outcome;
use crate::probe::{self, Plan};
use crate::testing::{World, iam_client, s3_client, sts_client};

/// All five permissions, in their canonical order.
fn all() -> Vec<Permission> {
    Permission::iter().collect()
}

const KEY: &str = "customers/.s3connection-probe/uid-1";

/// The marker keys of every test plan.
fn keys() -> Arc<crate::probe::MarkerKeys> {
    Arc::new(crate::probe::MarkerKeys::new(&[7; 32], None).unwrap())
}

fn plan(perms: &[Permission]) -> Plan {
    Plan {
        bucket: "output".into(),
        prefix: "customers/".into(),
        region: "us-east-1".into(),
        endpoint: "https://s3.us-east-1.amazonaws.com".into(),
        permissions: perms.to_vec(),
        probe_key: KEY.into(),
        uid: "uid-1".into(),
        keys: keys(),
        probe_body: "probe body".into(),
        leftover: None,
        previous: vec![],
        previous_identity: None,
        previous_region: None,
        sts_authoritative: true,
        role_arn: None,
        expected_owner: None,
        known_identity: None,
        probe: Default::default(),
    }
}

struct Run {
    world: crate::testing::Shared,
    out: Outcome,
}

async fn run_with(world: World, plan: &Plan) -> Run {
    let world = Arc::new(std::sync::Mutex::new(world));
    run_shared(&world, plan).await
}

async fn run_shared(world: &crate::testing::Shared, plan: &Plan) -> Run {
    run_remembering(world, plan, Arc::default()).await
}

/// A run whose STS and IAM outages are remembered in `outages`.
async fn run_remembering(
    world: &crate::testing::Shared,
    plan: &Plan,
    outages: Arc<Outages>,
) -> Run {
    let clients = Clients {
        s3: s3_client(world),
        sts: Remote {
            client: sts_client(world, None),
            location: "https://sts.fake".into(),
        },
        iam: Some(Remote {
            client: iam_client(world),
            location: "https://iam.fake".into(),
        }),
        outages,
        scope: "AKIDTEST".into(),
    };
    let out = probe::run(&clients, plan).await;
    Run {
        world: world.clone(),
        out,
    }
}

fn result(o: &Outcome, action: Permission) -> PermissionOutcome {
    o.permissions
        .iter()
        .find(|p| p.permission == action)
        .unwrap_or_else(|| panic!("no result for {action} in {:?}", o.permissions))
        .result
}

fn world_denying(actions: &[&'static str]) -> World {
    World {
        deny: actions.iter().copied().collect(),
        ..Default::default()
    }
}

/// A world holding an object at the probe key, with the marker the
/// operator writes for connection `marker` (signed with [`keys`]).
fn world_with_object(w: World, body: &[u8], marker: Option<&str>) -> World {
    let meta = marker.map(|uid| crate::testing::marker(&keys(), uid, KEY, body));
    world_with(w, KEY, body, meta)
}

/// A world holding an object at `key` with user metadata `meta`.
fn world_with(
    mut w: World,
    key: &str,
    body: &[u8],
    meta: Option<std::collections::HashMap<String, String>>,
) -> World {
    w.objects.insert(key.into(), body.to_vec());
    if let Some(m) = meta {
        w.metadata.insert(key.into(), m);
    }
    w
}
