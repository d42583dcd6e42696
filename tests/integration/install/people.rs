//! The aggregated roles for people, bound the way `view` and `edit` reach
//! them: connections, but never their status.

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;
use testkit::TestEnv;

use super::{Installed, as_service_account, can, can_connections, install, uninstall};
use crate::OPERATOR;

#[tokio::test]
async fn the_roles_for_people_give_connections_but_never_their_status() {
    let env = TestEnv::new(OPERATOR).await;
    let tenant = env.namespace("people").await;
    let Installed {
        namespace: ns,
        release,
        ..
    } = install(&env, &[&tenant], &[]).await;
    // The test API server runs no controller-manager to aggregate them into
    // view/edit/admin, so bind each in the tenant namespace the way a
    // RoleBinding to `view` or `edit` would reach it.
    let bindings: Api<RoleBinding> = Api::namespaced(env.kube.clone(), &tenant);
    let dir = tempfile::tempdir().unwrap();
    let mut clients = BTreeMap::new();
    for kind in ["view", "edit"] {
        let sa = format!("{kind}er");
        env.service_account(&tenant, &sa, &[]).await;
        let rb: RoleBinding = serde_json::from_value(json!({
            "metadata": {"name": &sa},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("{release}-{kind}")},
            "subjects": [{"kind": "ServiceAccount", "name": &sa, "namespace": &tenant}],
        }))
        .unwrap();
        bindings.create(&PostParams::default(), &rb).await.unwrap();
        let sub = dir.path().join(kind);
        std::fs::create_dir(&sub).unwrap();
        clients.insert(
            kind,
            as_service_account(&env, &tenant, &sa, &sub).await.client,
        );
    }
    let (viewer, editor) = (&clients["view"], &clients["edit"]);
    for verb in ["get", "list", "watch"] {
        assert!(
            can_connections(viewer, &tenant, verb, "").await,
            "view may {verb}"
        );
        assert!(
            can_connections(editor, &tenant, verb, "").await,
            "edit may {verb}"
        );
    }
    for verb in ["create", "update", "patch", "delete", "deletecollection"] {
        assert!(
            !can_connections(viewer, &tenant, verb, "").await,
            "view may not {verb}"
        );
        assert!(
            can_connections(editor, &tenant, verb, "").await,
            "edit may {verb}"
        );
    }
    for client in [viewer, editor] {
        for verb in ["update", "patch"] {
            assert!(
                !can_connections(client, &tenant, verb, "status").await,
                "only the operator writes status ({verb})"
            );
        }
        assert!(
            !can_connections(client, "default", "get", "").await,
            "only where bound"
        );
        assert!(!can(client, &tenant, "get", "", "secrets").await);
    }
    uninstall(&env, &release, &ns).await;
}
