//! The hostile servers: on 127.0.0.1, each behaving one way with every
//! request.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What a hostile server does with each request.
#[derive(Clone, Copy)]
pub(super) enum Behaviour {
    /// Record the request head and answer 403 AccessDenied.
    Record,
    /// Answer 200 and stream a body that never ends.
    Endless,
    /// Accept the connection and never answer.
    Silent,
    /// Answer every request with a 301 whose region header and error code
    /// carry markup and control characters.
    Garbage,
    /// Like `Record` while [`HostileServer::answering`] is set, like
    /// `Silent` while it is not: the endpoint changes its answer at will.
    Flapping,
    /// Answer AssumeRole and AssumeRoleWithWebIdentity as [`super::sts`]
    /// does; record and refuse everything else as `Record`.
    Sts,
    /// Record every request; refuse STS and IAM calls (a form with an
    /// `Action`) as `Record` does and hold every S3 request unanswered: a
    /// store that stalls once the credentials are past STS.
    StallingS3,
}

pub(super) struct HostileServer {
    pub(super) url: String,
    /// Requests received, head and body (Record, Sts).
    requests: Arc<Mutex<Vec<String>>>,
    /// Connections accepted.
    pub(super) connections: Arc<AtomicUsize>,
    /// Whether a `Flapping` server answers (else it holds the request).
    pub(super) answering: Arc<AtomicBool>,
    task: JoinHandle<()>,
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HostileServer {
    pub(super) async fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let connections: Arc<AtomicUsize> = Arc::default();
        let answering: Arc<AtomicBool> = Arc::new(AtomicBool::new(true));
        let (seen, count, answers) = (requests.clone(), connections.clone(), answering.clone());
        let task = tokio::spawn(async move {
            let mut held = vec![];
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                match behaviour {
                    Behaviour::Silent => held.push(socket),
                    _ => {
                        tokio::spawn(serve(socket, behaviour, seen.clone(), answers.clone()));
                    }
                }
            }
        });
        Self {
            url,
            requests,
            connections,
            answering,
            task,
        }
    }

    pub(super) fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Serve requests on one connection until it closes.
async fn serve(
    mut socket: TcpStream,
    behaviour: Behaviour,
    seen: Arc<Mutex<Vec<String>>>,
    answering: Arc<AtomicBool>,
) {
    loop {
        let Some((head, body)) = read_request(&mut socket).await else {
            return;
        };
        let is_head = head.starts_with("HEAD ");
        let body = String::from_utf8_lossy(&body).to_string();
        let sts = matches!(behaviour, Behaviour::Sts)
            .then(|| super::sts::answer(&body))
            .flatten();
        // What was sent, whole: the head and the body.
        seen.lock().unwrap().push(format!("{head}{body}"));
        let behaviour = match behaviour {
            Behaviour::Flapping if answering.load(Ordering::SeqCst) => Behaviour::Record,
            Behaviour::StallingS3 if body.contains("Action=") => Behaviour::Record,
            Behaviour::Flapping | Behaviour::StallingS3 => {
                // Hold the request until the client gives up.
                let mut byte = [0u8; 1];
                while matches!(socket.read(&mut byte).await, Ok(n) if n > 0) {}
                return;
            }
            b => b,
        };
        let ok = match behaviour {
            _ if sts.is_some() => {
                let reply = sts.as_deref().unwrap_or_default();
                socket.write_all(reply.as_bytes()).await.is_ok()
            }
            Behaviour::Record | Behaviour::Sts => {
                let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>denied</Message></Error>";
                let reply = if is_head {
                    "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n".to_string()
                } else {
                    format!(
                        "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                };
                socket.write_all(reply.as_bytes()).await.is_ok()
            }
            Behaviour::Garbage => {
                let body = "<?xml version=\"1.0\"?><Error><Code>Perm\u{7}<b>Redirect</b></Code><Message>\u{1b}[31mgo away</Message></Error>";
                let region = "eu-west-1<script>alert(1)</script>";
                let reply = if is_head {
                    format!(
                        "HTTP/1.1 301 Moved Permanently\r\nx-amz-bucket-region: {region}\r\nContent-Length: 0\r\n\r\n"
                    )
                } else {
                    format!(
                        "HTTP/1.1 301 Moved Permanently\r\nx-amz-bucket-region: {region}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                };
                socket.write_all(reply.as_bytes()).await.is_ok()
            }
            Behaviour::Endless => {
                if is_head {
                    socket
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                        .await
                        .is_ok()
                } else {
                    endless(&mut socket).await;
                    false
                }
            }
            Behaviour::Silent | Behaviour::Flapping | Behaviour::StallingS3 => false,
        };
        if !ok {
            return;
        }
    }
}

/// The request head (up to the blank line) and its body (Content-Length).
pub(super) async fn read_request(socket: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).await.ok()? == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    socket.read_exact(&mut body).await.ok()?;
    Some((head, body))
}

/// A 200 response whose chunked body never ends (until the peer hangs up).
async fn endless(socket: &mut TcpStream) {
    let head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nTransfer-Encoding: chunked\r\n\r\n";
    if socket.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let chunk = vec![b'A'; 64 * 1024];
    let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
    framed.extend_from_slice(&chunk);
    framed.extend_from_slice(b"\r\n");
    while socket.write_all(&framed).await.is_ok() {}
}
