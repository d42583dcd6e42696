//! One tenant's principal that IAM fails for must not change another
//! tenant's answers: an IAM under the test's control answers policy
//! simulations for every principal but one, which it answers 503.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use testkit::{ALL, Operator, Setup, TestEnv, permission};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::server::read_request;
use super::{AK, SK};
use crate::OPERATOR;

/// An IAM that answers SimulatePrincipalPolicy with `allowed`, except to
/// requests signed with one access key ID, which get 503.
struct SplitIam {
    url: String,
    failed: Arc<AtomicUsize>,
    answered: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for SplitIam {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SplitIam {
    async fn failing_for(access_key_id: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (failed, answered): (Arc<AtomicUsize>, Arc<AtomicUsize>) = Default::default();
        let marker: Arc<str> = format!("Credential={access_key_id}/").into();
        let (f, a) = (failed.clone(), answered.clone());
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, marker.clone(), f.clone(), a.clone()));
            }
        });
        Self {
            url,
            failed,
            answered,
            task,
        }
    }
}

async fn serve(
    mut socket: TcpStream,
    failing: Arc<str>,
    failed: Arc<AtomicUsize>,
    answered: Arc<AtomicUsize>,
) {
    while let Some((head, _body)) = read_request(&mut socket).await {
        let reply = if head.contains(&*failing) {
            failed.fetch_add(1, Ordering::SeqCst);
            xml_reply(
                "503 Service Unavailable",
                "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>busy</Message></Error><RequestId>1</RequestId></ErrorResponse>",
            )
        } else {
            answered.fetch_add(1, Ordering::SeqCst);
            xml_reply(
                "200 OK",
                "<SimulatePrincipalPolicyResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated><EvaluationResults><member><EvalActionName>s3:ReplicateObject</EvalActionName><EvalResourceName>*</EvalResourceName><EvalDecision>allowed</EvalDecision></member></EvaluationResults></SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>2</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>",
            )
        };
        if socket.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn xml_reply(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn an_iam_failing_one_principal_still_answers_for_another() {
    let env = TestEnv::new(OPERATOR).await;
    let Setup { ns, bucket, user } = env.setup("iam-split", "", &ALL).await;
    let other = env
        .user("iam-other", testkit::s3_policy(&bucket, "", &ALL))
        .await;
    env.secret(
        &ns,
        "other",
        &[(AK, &other.access_key_id), (SK, &other.secret_access_key)],
    )
    .await;
    let iam = SplitIam::failing_for(&user.access_key_id).await;
    let vars = [
        ("KUBECONFIG", env.kubeconfig.as_str()),
        ("AWS_ENDPOINT_URL_IAM", iam.url.as_str()),
    ];
    let _op = Operator::start_with(&env, Some(&ns), &[], &vars).await;

    env.apply_connection(
        &ns,
        "failing",
        super::spec_at(&env.endpoint, &bucket, "creds"),
    )
    .await;
    let c = env
        .wait_ready(&ns, "failing", "True", Some("Validated"))
        .await;
    assert_eq!(permission(&c, "s3:ReplicateObject"), "Unverified");
    assert!(
        iam.failed.load(Ordering::SeqCst) > 0,
        "IAM was asked for the failing principal"
    );

    // The first principal's failure is remembered for it alone: the second
    // principal is simulated and allowed, not skipped as "IAM unavailable".
    env.apply_connection(
        &ns,
        "healthy",
        super::spec_at(&env.endpoint, &bucket, "other"),
    )
    .await;
    let c = env
        .wait_ready(&ns, "healthy", "True", Some("Validated"))
        .await;
    assert_eq!(
        permission(&c, "s3:ReplicateObject"),
        "Allowed",
        "{:?}",
        c.status.as_ref().map(|s| &s.permissions)
    );
    assert!(iam.answered.load(Ordering::SeqCst) > 0);
}
