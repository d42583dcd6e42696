//! The NOTES `helm install` prints: where the metrics are, what a
//! host-network install changes, and whether credentials need a label.

use std::path::Path;

use testkit::chart::{CHART, docs, helm};

/// The chart's NOTES as `helm install` prints them for release `s3c` in
/// `s3c-system`, rendered without a cluster: `helm template` never renders
/// NOTES.txt, so a copy of the chart gets a template that carries its text.
pub(super) fn notes(sets: &[&str]) -> String {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("s3-connection-operator");
    copy(Path::new(CHART), &chart);
    let text = std::fs::read_to_string(chart.join("templates/NOTES.txt")).unwrap();
    std::fs::write(
        chart.join("templates/_notes_as_value.tpl"),
        format!("{{{{- define \"test.notes\" -}}}}\n{text}{{{{- end }}}}\n"),
    )
    .unwrap();
    std::fs::write(
        chart.join("templates/notes-as-value.yaml"),
        "notes: {{ include \"test.notes\" . | toJson }}\n",
    )
    .unwrap();
    let chart = chart.to_str().unwrap();
    let mut args = vec![
        "template",
        "s3c",
        chart,
        "--namespace",
        "s3c-system",
        "--show-only",
        "templates/notes-as-value.yaml",
    ];
    for s in sets {
        args.extend(["--set", s]);
    }
    let (ok, out) = helm(&args, None);
    assert!(ok, "helm template {sets:?}:\n{out}");
    docs(&out)[0]["notes"].as_str().unwrap().to_string()
}

#[test]
fn chart_notes_say_where_metrics_are_and_what_host_network_changes() {
    let n = notes(&[]);
    assert!(
        n.contains("Network:    the pod network: /metrics on 0.0.0.0:8080, /healthz and /readyz on 0.0.0.0:8081 of each pod"),
        "{n}"
    );
    assert!(
        n.contains("Monitoring: Service \"s3c-s3-connection-operator-metrics\" port 8080"),
        "{n}"
    );
    assert!(!n.contains("hostNetwork"), "{n}");
    assert!(
        n.contains("Image:      ghcr.io/s3-connection-operator/s3-connection-operator:0.1.0\n"),
        "{n}"
    );

    let digest = format!("image.digest=sha256:{}", "ab".repeat(32));
    let n = notes(&[
        "hostNetwork=true",
        "metricsBindAddress=127.0.0.1",
        "probes.host=127.0.0.1",
        "metricsPort=18080",
        &digest,
    ]);
    for expected in [
        "Network:    the node's network (hostNetwork): /metrics on 127.0.0.1:18080, /healthz and /readyz on 127.0.0.1:8081 of each node running a pod",
        "must allow privileged pods",
        "Each pod holds ports 18080 and 8081 on its node",
        "NetworkPolicy does not apply to hostNetwork pods",
        "the new pod stays Pending",
        "The metrics Service cannot reach 127.0.0.1:18080 (loopback)",
        &format!(":0.1.0@sha256:{}", "ab".repeat(32)),
    ] {
        assert!(n.contains(expected), "NOTES say {expected:?}:\n{n}");
    }

    // The old pod goes first, and no Service: nothing to warn about there.
    let n = notes(&[
        "hostNetwork=true",
        "updateStrategy.rollingUpdate.maxSurge=0",
        "updateStrategy.rollingUpdate.maxUnavailable=1",
        "metrics.service.enabled=false",
    ]);
    assert!(n.contains("must allow privileged pods"), "{n}");
    assert!(n.contains("Monitoring: no metrics Service"), "{n}");
    assert!(!n.contains("stays Pending"), "{n}");
    assert!(!n.contains("cannot reach"), "{n}");
}

#[test]
fn chart_notes_warn_while_credentials_need_no_label() {
    let n = notes(&[]);
    assert!(n.contains("WARNING: requireCredentialsLabel is off"), "{n}");
    assert!(
        n.contains("From the next minor release it is on by default"),
        "{n}"
    );
    assert!(
        n.contains("label secret <name> s3connection.dev/credentials=true"),
        "{n}"
    );
    assert!(
        n.contains("labelled or not (requireCredentialsLabel=false)"),
        "{n}"
    );
    let n = notes(&["requireCredentialsLabel=true"]);
    assert!(!n.contains("WARNING: requireCredentialsLabel"), "{n}");
    assert!(
        n.contains("labelled s3connection.dev/credentials=true (only those are watched)"),
        "{n}"
    );
}
