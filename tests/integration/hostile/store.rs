//! A small S3 store on 127.0.0.1 that the test controls (path style, one
//! bucket, objects in memory): honest, or with one [`Quirk`]. It records
//! every request head, so a test can see what the operator sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::server::read_request;

/// How the store departs from S3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Quirk {
    /// None: it answers as S3 does (`If-None-Match`, `If-Match`, ETags,
    /// user metadata).
    Honest,
    /// GetObject returns other bytes of the same length than were stored.
    OtherBody,
    /// GetObject announces 64 GiB for what was stored, sends the stored
    /// bytes, and hangs up.
    HugeLength,
    /// DeleteObject with `If-Match` answers 501 NotImplemented.
    NoConditionalDeletes,
    /// DeleteObject answers 403 AccessDenied.
    DenyDeletes,
}

#[derive(Clone)]
struct Object {
    body: Vec<u8>,
    /// `x-amz-meta-*` header lines as sent.
    meta: Vec<String>,
    etag: String,
}

struct State {
    quirk: Quirk,
    objects: HashMap<String, Object>,
    heads: Vec<String>,
    written: u64,
}

pub(super) struct FakeStore {
    pub(super) url: String,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for FakeStore {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeStore {
    pub(super) async fn start(quirk: Quirk) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            quirk,
            objects: HashMap::new(),
            heads: vec![],
            written: 0,
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, shared.clone()));
            }
        });
        Self { url, state, task }
    }

    /// Behave so from the next request on.
    pub(super) fn set_quirk(&self, quirk: Quirk) {
        self.state.lock().unwrap().quirk = quirk;
    }

    /// Every request head received, in order.
    pub(super) fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().heads.clone()
    }

    /// The keys stored now.
    pub(super) fn keys(&self) -> Vec<String> {
        self.state.lock().unwrap().objects.keys().cloned().collect()
    }
}

/// The value of header `name` in a request head.
pub(super) fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn error(status: &str, code: &str) -> String {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{code}</Message></Error>"
    );
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Serve requests on one connection until it closes.
async fn serve(mut socket: TcpStream, state: Arc<Mutex<State>>) {
    while let Some((head, body)) = read_request(&mut socket).await {
        let (reply, more) = answer(&head, body, &state);
        if socket.write_all(&reply).await.is_err() || !more {
            return;
        }
    }
}

/// The reply to one request, and whether the connection goes on.
fn answer(head: &str, body: Vec<u8>, state: &Mutex<State>) -> (Vec<u8>, bool) {
    let mut s = state.lock().unwrap();
    s.heads.push(head.to_string());
    let quirk = s.quirk;
    let mut first = head.lines().next().unwrap_or_default().split(' ');
    let (method, target) = (
        first.next().unwrap_or_default(),
        first.next().unwrap_or_default(),
    );
    let path = target.split('?').next().unwrap_or_default();
    let key = path.trim_start_matches('/').split_once('/').map(|(_, k)| k);
    let text = |r: String| (r.into_bytes(), true);
    match (method, key) {
        ("HEAD", None) => text(
            "HTTP/1.1 200 OK\r\nx-amz-bucket-region: us-east-1\r\nContent-Length: 0\r\n\r\n".into(),
        ),
        ("GET", None) => {
            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name><KeyCount>0</KeyCount><MaxKeys>1</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>";
            text(format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ))
        }
        ("PUT", Some(k)) => {
            if header(head, "if-none-match") == Some("*") && s.objects.contains_key(k) {
                return text(error("412 Precondition Failed", "PreconditionFailed"));
            }
            s.written += 1;
            let etag = format!("\"etag-{}\"", s.written);
            let meta = head
                .lines()
                .filter(|l| l.to_ascii_lowercase().starts_with("x-amz-meta-"))
                .map(str::to_string)
                .collect();
            s.objects.insert(
                k.to_string(),
                Object {
                    body,
                    meta,
                    etag: etag.clone(),
                },
            );
            text(format!(
                "HTTP/1.1 200 OK\r\nETag: {etag}\r\nContent-Length: 0\r\n\r\n"
            ))
        }
        ("GET" | "HEAD", Some(k)) => {
            let Some(o) = s.objects.get(k).cloned() else {
                return text(if method == "HEAD" {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".into()
                } else {
                    error("404 Not Found", "NoSuchKey")
                });
            };
            let (length, content) = match quirk {
                Quirk::OtherBody => (o.body.len() as u64, vec![b'x'; o.body.len()]),
                Quirk::HugeLength => (64 << 30, o.body.clone()),
                _ => (o.body.len() as u64, o.body.clone()),
            };
            let mut reply = format!(
                "HTTP/1.1 200 OK\r\nETag: {}\r\nContent-Type: text/plain\r\nContent-Length: {length}\r\n",
                o.etag
            );
            for m in &o.meta {
                reply.push_str(m);
                reply.push_str("\r\n");
            }
            reply.push_str("\r\n");
            let mut bytes = reply.into_bytes();
            if method == "GET" {
                bytes.extend_from_slice(&content);
            }
            (bytes, quirk != Quirk::HugeLength)
        }
        ("DELETE", Some(_)) if quirk == Quirk::DenyDeletes => {
            text(error("403 Forbidden", "AccessDenied"))
        }
        ("DELETE", Some(k)) => {
            if let Some(tag) = header(head, "if-match") {
                if quirk == Quirk::NoConditionalDeletes {
                    return text(error("501 Not Implemented", "NotImplemented"));
                }
                match s.objects.get(k) {
                    Some(o) if o.etag == tag => {}
                    Some(_) => return text(error("412 Precondition Failed", "PreconditionFailed")),
                    None => return text(error("404 Not Found", "NoSuchKey")),
                }
            }
            s.objects.remove(k);
            text("HTTP/1.1 204 No Content\r\n\r\n".into())
        }
        // STS and anything else: refused, as a store without them would.
        _ => text(error("403 Forbidden", "AccessDenied")),
    }
}
