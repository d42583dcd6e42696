//! The probe object against a store the test controls ([`FakeStore`]): a
//! store that returns other bytes than it stored fails the connection with
//! its own reason; the probe object is deleted on condition of the ETag the
//! store gave it (and, where the store cannot do that, only after its
//! marker was checked); the marker's key is made once, in a Secret every
//! process reads, and a rotated key still recognises what the previous one
//! marked.

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::PostParams;
use testkit::{Operator, TestEnv, condition, permission};

use super::store::{FakeStore, Quirk, header};
use super::{AK, SK, spec_at};
use crate::OPERATOR;

/// A namespace with a Secret `creds` the fake store accepts (it checks no
/// signature).
async fn tenant(env: &TestEnv, prefix: &str) -> String {
    let ns = env.namespace(prefix).await;
    env.secret(&ns, "creds", &[(AK, "AKIAFAKESTORE"), (SK, "fake-secret")])
        .await;
    ns
}

/// A tenant namespace ([`tenant`]), a store for each of `quirks` with a
/// connection `name` to it, and an operator that allows them all.
async fn stores<const N: usize>(
    env: &TestEnv,
    prefix: &str,
    quirks: [(&str, Quirk); N],
) -> (String, [FakeStore; N], Operator) {
    let ns = tenant(env, prefix).await;
    let mut stores = vec![];
    for (_, quirk) in quirks {
        stores.push(FakeStore::start(quirk).await);
    }
    let mut flags = vec![];
    for s in &stores {
        flags.extend(["--allowed-endpoint", s.url.as_str()]);
    }
    let op = Operator::start(env, &ns, &flags).await;
    for ((name, _), store) in quirks.iter().zip(&stores) {
        env.apply_connection(&ns, name, spec_at(&store.url, "data", "creds"))
            .await;
    }
    let Ok(stores) = <[FakeStore; N]>::try_from(stores) else {
        unreachable!("one store per quirk")
    };
    (ns, stores, op)
}

/// The request heads of `method` for keys under the probe directory.
fn probe_requests(store: &FakeStore, method: &str) -> Vec<String> {
    store
        .requests()
        .into_iter()
        .filter(|h| h.starts_with(&format!("{method} ")) && h.contains("/.s3connection-probe/"))
        .collect()
}

#[tokio::test]
async fn a_store_that_returns_other_content_than_it_stored_fails_with_its_own_reason() {
    let env = TestEnv::new(OPERATOR).await;
    let (ns, [other, huge], mut op) = stores(
        &env,
        "liar",
        [
            ("other-body", Quirk::OtherBody),
            ("huge-length", Quirk::HugeLength),
        ],
    )
    .await;
    for (name, store, how) in [
        ("other-body", &other, "differ"),
        ("huge-length", &huge, "68719476736"),
    ] {
        let c = env
            .wait_ready(&ns, name, "False", Some("ProbeContentMismatch"))
            .await;
        assert_eq!(condition(&c, "Failed").status, "True", "{name}");
        let msg = condition(&c, "Ready").message;
        assert!(msg.contains("other content"), "{name}: {msg}");
        assert!(msg.contains(how), "{name}: {msg}");
        assert_eq!(permission(&c, "s3:PutObject"), "Allowed", "{name}");
        assert_eq!(permission(&c, "s3:GetObject"), "Unverified", "{name}");
        // The probe object is still cleaned up.
        assert!(store.keys().is_empty(), "{name}: {:?}", store.keys());
    }
    assert!(op.try_wait().is_none(), "operator exited:\n{}", op.log());
}

#[tokio::test]
async fn the_probe_object_is_deleted_on_condition_of_its_etag_or_after_a_check() {
    let env = TestEnv::new(OPERATOR).await;
    let (ns, [honest, no_if_match], _op) = stores(
        &env,
        "ifmatch",
        [
            ("honest", Quirk::Honest),
            ("no-if-match", Quirk::NoConditionalDeletes),
        ],
    )
    .await;

    // A store that supports it: every delete carries If-Match with the ETag
    // the store answered to the write.
    let c = env
        .wait_ready(&ns, "honest", "True", Some("Validated"))
        .await;
    assert_eq!(permission(&c, "s3:DeleteObject"), "Allowed");
    let deletes = probe_requests(&honest, "DELETE");
    assert!(!deletes.is_empty());
    for d in &deletes {
        assert_eq!(header(d, "if-match"), Some("\"etag-1\""), "{d}");
    }
    assert!(honest.keys().is_empty());

    // A store that answers 501 to If-Match: the object is read and its
    // marker checked, then deleted without the condition.
    let c = env
        .wait_ready(&ns, "no-if-match", "True", Some("Validated"))
        .await;
    assert_eq!(permission(&c, "s3:DeleteObject"), "Allowed");
    let deletes = probe_requests(&no_if_match, "DELETE");
    let conditional: Vec<_> = deletes
        .iter()
        .map(|d| header(d, "if-match").is_some())
        .collect();
    assert_eq!(conditional, [true, false], "{deletes:?}");
    let all = no_if_match.requests();
    let at = |needle: &dyn Fn(&String) -> bool| all.iter().position(needle).unwrap();
    let refused = at(&|h| h.starts_with("DELETE ") && header(h, "if-match").is_some());
    let plain = at(&|h| h.starts_with("DELETE ") && header(h, "if-match").is_none());
    let reads: Vec<usize> = (refused..plain)
        .filter(|i| all[*i].starts_with("GET ") && all[*i].contains("/.s3connection-probe/"))
        .collect();
    assert!(!reads.is_empty(), "checked between: {all:?}");
    assert!(no_if_match.keys().is_empty());
}

#[tokio::test]
async fn the_marker_key_is_made_once_shared_by_every_process_and_survives_a_rotation() {
    let env = TestEnv::new(OPERATOR).await;
    let ns = tenant(&env, "markerkey").await;
    let store = FakeStore::start(Quirk::DenyDeletes).await;
    let flags = [
        "--allowed-endpoint",
        &store.url,
        "--probe-key-secret",
        "probe-key",
        "--probe-key-namespace",
        &ns,
    ];
    let secrets: Api<Secret> = Api::namespaced(env.kube.clone(), &ns);

    // The first process makes the key, a second one uses it as it is.
    let first = Operator::start(&env, &ns, &flags).await;
    let made = secrets.get("probe-key").await.expect("the key Secret");
    let current = made.data.as_ref().unwrap()["current"].0.clone();
    assert_eq!(current.len(), 32);
    assert_eq!(made.type_.as_deref(), Some("Opaque"));
    let second = Operator::start(&env, &ns, &flags).await;
    let again = secrets.get("probe-key").await.unwrap();
    assert_eq!(
        again.metadata.resource_version,
        made.metadata.resource_version
    );
    second
        .stop(std::time::Duration::from_secs(10))
        .await
        .unwrap();

    // A probe object the first process could not delete is left behind.
    let spec = spec_at(&store.url, "data", "creds");
    env.apply_connection(&ns, "data", spec.clone()).await;
    let c = env
        .wait_ready(&ns, "data", "False", Some("PermissionDenied"))
        .await;
    let leftover = c.status.unwrap().leftover_probe_object.expect("a leftover");
    assert_eq!(store.keys(), [leftover]);
    first
        .stop(std::time::Duration::from_secs(10))
        .await
        .unwrap();

    // Rotation: the old key moves to `previous`, a new one is `current`.
    let mut rotated = again.clone();
    let data = rotated.data.get_or_insert_default();
    data.insert("previous".into(), ByteString(current));
    data.insert("current".into(), ByteString(vec![42; 32]));
    secrets
        .replace("probe-key", &PostParams::default(), &rotated)
        .await
        .unwrap();

    // A new process, after the rotation, recognises the leftover as the
    // operator's (the previous key verifies it) and deletes it.
    store.set_quirk(Quirk::Honest);
    let _third = Operator::start(&env, &ns, &flags).await;
    env.apply_connection(&ns, "data", spec.interval("2m")).await;
    let c = env.wait_ready(&ns, "data", "True", Some("Validated")).await;
    assert!(c.status.unwrap().leftover_probe_object.is_none());
    assert!(store.keys().is_empty(), "{:?}", store.keys());
}
