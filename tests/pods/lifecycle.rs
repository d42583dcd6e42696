//! One release through its life on the node: `helm install` to a Running,
//! Ready pod that runs as the chart says; connections validated by that
//! pod; logs, metrics, readiness, the Service's endpoints and the NOTES;
//! the pod deleted and the next one leading; `helm upgrade` to another tag
//! with no connection losing its status and at most one validation each
//! (Ready ones later in their interval); the CRD
//! upgraded as the NOTES say; `helm uninstall` leaving what the docs say,
//! its pre-delete hook releasing the finalizer of a connection with a
//! leftover probe object.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::ClusterRole;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ListParams};
use kube::{Api, ResourceExt};
use s3_connection_operator::crd::S3Connection;
use s3_connection_operator::reconcile::finalizer::FINALIZER;
use testkit::chart::CHART;
use testkit::process::container_process;
use testkit::{ALL, PROVABLE, TestEnv, await_object, s3_policy, total, unique};

use crate::OPERATOR;
use crate::node::{SCRAPER, images, metrics_port, values};
use crate::release::{ROLLOUT, Release, pod_get, pod_metrics, pod_metrics_as};

/// How soon a connection applied after a failover must be Ready.
const AFTER_FAILOVER: Duration = Duration::from_secs(30);

/// Wait until the pod's `s3connection_validations_total` reaches `n`
/// (read with the scraper's `token`).
async fn wait_validations(n: f64, token: &str) -> String {
    let deadline = Instant::now() + ROLLOUT;
    loop {
        let m = pod_metrics(token).await;
        let done = total(&m, "s3connection_validations_total");
        if done >= n {
            return m;
        }
        assert!(Instant::now() < deadline, "{done} of {n} validations:\n{m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn kubectl(env: &TestEnv, args: &[&str]) -> String {
    let out = env.kubectl(args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kubectl {args:?}:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[tokio::test]
async fn helm_install_runs_the_image_fails_over_upgrades_and_uninstalls() {
    // The node has one host port for the operator: one release at a time.
    let env = TestEnv::exclusive(OPERATOR).await;
    let (first, next) = images();
    first.import();
    next.import();

    // A tenant with a working and a failing connection, on the store the
    // other tests use.
    let tenant = env.setup("e2e", "", &ALL).await;
    let reader = env
        .user(
            "e2e-ro",
            s3_policy(&tenant.bucket, "", &["s3:ListBucket", "s3:GetObject"]),
        )
        .await;
    env.secret(
        &tenant.ns,
        "read-only",
        &[
            ("AWS_ACCESS_KEY_ID", &reader.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", &reader.secret_access_key),
        ],
    )
    .await;

    // The release namespace: hostNetwork is beyond `baseline`, so it is
    // privileged; a warning still names what `restricted` would refuse.
    let system = env
        .pod_security_namespace("s3c-system", "privileged", "restricted")
        .await;
    let name = unique("op");
    let release = Release {
        fullname: format!("{name}-s3-connection-operator"),
        name,
        namespace: system.clone(),
    };
    let crds: Api<CustomResourceDefinition> = Api::all(env.kube.clone());
    let crd_before = crds.get("s3connections.s3connection.dev").await.unwrap();

    // --- install ---------------------------------------------------------
    // The scraper the chart binds to its metrics-reader ClusterRole.
    env.service_account(&system, SCRAPER, &[]).await;
    let scraper = env.token(&system, SCRAPER).await;
    let mut install = values(&first, &[&tenant.ns], &env.endpoint, &system);
    install.extend(["--wait".into(), "--timeout".into(), "120s".into()]);
    // Uninstalled when the test ends, also after an install that failed
    // half-way.
    env.remember_helm_release(&release.name, &system);
    let notes = release.helm(&env, "install", &install);
    assert!(
        notes.contains("hostNetwork=true") || notes.contains("host namespaces"),
        "the restricted warning names hostNetwork:\n{notes}"
    );
    let pod = release.rolled_out(&env, &first).await;
    let pod_name = pod.name_any();

    // The pod as the chart promises it, seen by the kernel.
    let status = pod.status.clone().unwrap();
    let container = &status.container_statuses.clone().unwrap()[0];
    let proc = container_process(container.container_id.as_deref().unwrap());
    assert_eq!(proc.uids, [65532; 4], "{proc:?}");
    assert_eq!(proc.gids, [65532; 4], "{proc:?}");
    assert_eq!(proc.cap_eff, 0, "all capabilities dropped: {proc:?}");
    assert_eq!(proc.cap_bnd, 0, "{proc:?}");
    assert!(proc.no_new_privs, "{proc:?}");
    assert!(proc.root_read_only, "{proc:?}");
    assert_eq!(
        proc.cmdline[0], "/usr/local/bin/s3-connection-operator",
        "{proc:?}"
    );
    assert_eq!(proc.cmdline[1], "run");
    release.wait_leader(&env, &pod_name).await;

    // Connections, validated by that pod.
    let working = env.access_key_spec(&tenant.bucket, "creds");
    env.apply_connection(&tenant.ns, "working", working.clone())
        .await;
    env.apply_connection(
        &tenant.ns,
        "read-only",
        env.access_key_spec(&tenant.bucket, "read-only"),
    )
    .await;
    env.wait_ready(&tenant.ns, "working", "True", Some("Validated"))
        .await;
    env.wait_ready(&tenant.ns, "read-only", "False", Some("PermissionDenied"))
        .await;
    let m = pod_metrics(&scraper).await;
    assert_eq!(total(&m, "s3connection_validations_total"), 2.0, "{m}");
    assert_eq!(total(&m, "s3connection_leader"), 1.0, "{m}");
    let events: Api<Event> = Api::namespaced(env.kube.clone(), &tenant.ns);
    let warning = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|e| e.reason.as_deref() == Some("PermissionDenied"))
        .expect("a PermissionDenied event");
    assert_eq!(
        warning.reporting_instance.as_deref(),
        Some(pod_name.as_str())
    );

    // Logs through the kubelet, /readyz and /metrics on the node.
    let logs = kubectl(&env, &["-n", &system, "logs", &pod_name]);
    assert!(logs.contains("acquired leadership"), "{logs}");
    for conn in ["working", "read-only"] {
        assert!(
            logs.lines()
                .any(|l| l.contains("\"validated: ") && l.contains(&format!("\"name\":\"{conn}\""))),
            "{conn} in the log:\n{logs}"
        );
    }
    assert_eq!(pod_get("/readyz").await, (200, "ok".to_string()));
    assert_eq!(pod_get("/healthz").await.0, 200);
    // /metrics is HTTPS for tokens allowed to read it: none is 401, a
    // ServiceAccount without the reader binding 403.
    assert_eq!(pod_metrics_as(None).await.0, 401);
    env.service_account(&tenant.ns, "curious", &[]).await;
    let curious = env.token(&tenant.ns, "curious").await;
    assert_eq!(pod_metrics_as(Some(&curious)).await.0, 403);

    // The metrics Service's endpoints name the pod (read from the API:
    // nothing is sent to a Service or node IP here).
    let slices: Api<EndpointSlice> = Api::namespaced(env.kube.clone(), &system);
    let service = format!("{}-metrics", release.fullname);
    let deadline = Instant::now() + ROLLOUT;
    loop {
        let selector = format!("kubernetes.io/service-name={service}");
        let list = slices
            .list(&ListParams::default().labels(&selector))
            .await
            .unwrap();
        let ready_targets: Vec<String> = list
            .items
            .iter()
            .flat_map(|s| s.endpoints.iter())
            .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) == Some(true))
            .filter_map(|e| e.target_ref.as_ref()?.name.clone())
            .collect();
        let ports: Vec<i32> = list
            .items
            .iter()
            .flat_map(|s| s.ports.iter().flatten())
            .filter_map(|p| p.port)
            .collect();
        if ready_targets == [pod_name.clone()] {
            assert_eq!(ports, [i32::from(metrics_port())]);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "EndpointSlices of {service}: {:?}",
            list.items
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // What the NOTES promise, and their commands.
    for promise in [
        format!("release \"{}\" in namespace \"{system}\"", release.name),
        format!("Image:      {}", first.reference()),
        format!("127.0.0.1:{}", metrics_port()),
        format!("Lease \"{}\" in \"{system}\"", release.fullname),
        format!("kubectl -n {system} logs deploy/{}", release.fullname),
        format!("kubectl -n {system} get lease {}", release.fullname),
        format!("kubectl get s3connections -n {}", tenant.ns),
    ] {
        assert!(notes.contains(&promise), "NOTES say {promise:?}:\n{notes}");
    }
    let holder = kubectl(
        &env,
        &[
            "-n",
            &system,
            "get",
            "lease",
            &release.fullname,
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
    );
    assert_eq!(holder, pod_name);
    let logs = kubectl(
        &env,
        &[
            "-n",
            &system,
            "logs",
            &format!("deploy/{}", release.fullname),
        ],
    );
    assert!(logs.contains("acquired leadership"), "{logs}");
    let listed = kubectl(&env, &["get", "s3connections", "-n", &tenant.ns]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("working ") && l.contains("Validated")),
        "{listed}"
    );

    // --- failover --------------------------------------------------------
    let pods: Api<Pod> = Api::namespaced(env.kube.clone(), &system);
    pods.delete(&pod_name, &DeleteParams::default())
        .await
        .unwrap();
    let replacement = await_object(
        &pods,
        &pod_name,
        "the deleted pod gone",
        ROLLOUT,
        |p: Option<&Pod>| p.is_none(),
    )
    .await;
    assert!(replacement.is_none());
    let pod = release.rolled_out(&env, &first).await;
    let leader = pod.name_any();
    assert_ne!(leader, pod_name);
    release.wait_leader(&env, &leader).await;
    let applied = Instant::now();
    env.apply_connection(&tenant.ns, "after-failover", working.clone())
        .await;
    env.wait_ready_within(
        &tenant.ns,
        "after-failover",
        "True",
        Some("Validated"),
        AFTER_FAILOVER,
    )
    .await;
    eprintln!("after the failover, Ready in {:?}", applied.elapsed());
    // The new leader validated the failing connection and the new one at
    // once; `working`, Ready as its status says, waits for its point of
    // the interval (no stampede after a change of leader).
    wait_validations(2.0, &scraper).await;

    // --- upgrade ---------------------------------------------------------
    let conns = env.connections(&tenant.ns);
    let snapshot = |list: Vec<S3Connection>| -> BTreeMap<String, (String, String)> {
        list.into_iter()
            .map(|c| {
                let status = serde_json::to_string(&c.status).unwrap();
                (c.name_any(), (c.resource_version().unwrap(), status))
            })
            .collect()
    };
    let before = snapshot(conns.list(&ListParams::default()).await.unwrap().items);
    assert_eq!(before.len(), 3);
    let mut upgrade = vec!["--reuse-values".to_string(), "--set".into()];
    upgrade.push(format!("image.tag={}", next.tag));
    upgrade.extend(["--wait".into(), "--timeout".into(), "120s".into()]);
    release.helm(&env, "upgrade", &upgrade);
    let pod = release.rolled_out(&env, &next).await;
    let upgraded = pod.name_any();
    release.wait_leader(&env, &upgraded).await;
    // The new pod validates the failing connection at once and the Ready
    // ones later in their interval: none more than once, and none
    // rewritten.
    wait_validations(1.0, &scraper).await;
    let after = snapshot(conns.list(&ListParams::default()).await.unwrap().items);
    assert_eq!(after, before, "no status written by the upgrade");

    // Helm leaves the CRD alone on upgrade; the NOTES' command upgrades it.
    let crd_now = crds.get("s3connections.s3connection.dev").await.unwrap();
    assert_eq!(
        crd_now.resource_version(),
        crd_before.resource_version(),
        "helm upgrade did not touch the CRD"
    );
    assert!(
        notes.contains("kubectl apply -f <chart>/crds/s3connection.yaml"),
        "{notes}"
    );
    let crd_file = format!("{CHART}/crds/s3connection.yaml");
    kubectl(&env, &["apply", "-f", &crd_file]);
    let served = crds.get("s3connections.s3connection.dev").await.unwrap();
    let file: CustomResourceDefinition =
        yaml_serde::from_str(&std::fs::read_to_string(&crd_file).unwrap()).unwrap();
    assert_eq!(
        serde_json::to_value(&served.spec.versions[0].schema).unwrap(),
        serde_json::to_value(&file.spec.versions[0].schema).unwrap(),
        "the served schema is the chart's"
    );
    let m = pod_metrics(&scraper).await;
    let validated = total(&m, "s3connection_validations_total");
    assert!(
        (1.0..=3.0).contains(&validated),
        "at most one validation per connection after the upgrade:\n{m}"
    );

    // A connection whose probe object could not be deleted: it carries the
    // operator's finalizer while its status records the leftover.
    let keeper = env
        .user(
            "e2e-nodelete",
            s3_policy(
                &tenant.bucket,
                "",
                &["s3:ListBucket", "s3:GetObject", "s3:PutObject"],
            ),
        )
        .await;
    env.secret(
        &tenant.ns,
        "no-delete",
        &[
            ("AWS_ACCESS_KEY_ID", &keeper.access_key_id),
            ("AWS_SECRET_ACCESS_KEY", &keeper.secret_access_key),
        ],
    )
    .await;
    let sticky = env
        .access_key_spec(&tenant.bucket, "no-delete")
        .permissions(&PROVABLE);
    env.apply_connection(&tenant.ns, "sticky", sticky).await;
    env.wait_ready(&tenant.ns, "sticky", "False", Some("PermissionDenied"))
        .await;
    let has_finalizer = |c: &S3Connection| c.finalizers().iter().any(|f| f == FINALIZER);
    await_object(
        &conns,
        "sticky",
        "the finalizer on the connection with a leftover",
        ROLLOUT,
        move |c: Option<&S3Connection>| c.is_some_and(has_finalizer),
    )
    .await;

    // --- uninstall -------------------------------------------------------
    // The pre-delete hook (a Job on the node) releases the finalizer.
    release.helm(&env, "uninstall", &["--wait".into()]);
    let deployments: Api<Deployment> = Api::namespaced(env.kube.clone(), &system);
    assert!(
        deployments
            .get_opt(&release.fullname)
            .await
            .unwrap()
            .is_none()
    );
    await_object(
        &pods,
        &upgraded,
        "the pod gone",
        ROLLOUT,
        |p: Option<&Pod>| p.is_none(),
    )
    .await;
    let accounts: Api<ServiceAccount> = Api::namespaced(env.kube.clone(), &system);
    assert!(accounts.get_opt(&release.fullname).await.unwrap().is_none());
    let roles: Api<ClusterRole> = Api::all(env.kube.clone());
    assert!(roles.get_opt(&release.fullname).await.unwrap().is_none());
    // Left, as the chart's README says: the CRD, every connection with its
    // last status, and the Lease.
    assert!(
        crds.get_opt("s3connections.s3connection.dev")
            .await
            .unwrap()
            .is_some()
    );
    let mut left = snapshot(conns.list(&ListParams::default()).await.unwrap().items);
    left.remove("sticky");
    assert_eq!(left, before);
    // With no operator left, the connection with a leftover can still be
    // deleted: the hook took the finalizer away, the object stays.
    conns
        .delete("sticky", &DeleteParams::default())
        .await
        .unwrap();
    await_object(
        &conns,
        "sticky",
        "the connection with a leftover deleted after uninstall",
        ROLLOUT,
        |c: Option<&S3Connection>| c.is_none(),
    )
    .await;
    let jobs: Api<Job> = Api::namespaced(env.kube.clone(), &system);
    let hook = format!("{}-release-finalizers", release.fullname);
    assert!(
        jobs.get_opt(&hook).await.unwrap().is_none(),
        "the hook's Job is deleted once it succeeded"
    );
    let leases: Api<Lease> = Api::namespaced(env.kube.clone(), &system);
    assert!(leases.get_opt(&release.fullname).await.unwrap().is_some());
}
