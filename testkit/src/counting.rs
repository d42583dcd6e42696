//! A counting HTTP/1.1 relay: listens on a local port, forwards every
//! connection to one upstream (plain TCP, or TLS with a client certificate),
//! and counts each request by operation and response status. `make bench`
//! puts it in front of moto and the API server; integration tests compare
//! what it counted with what the operator reports.
//!
//! It parses just enough HTTP/1.1 to find where each request and response
//! ends (Content-Length, chunked, or until close; no body for HEAD, 1xx, 204,
//! 304), forwards bytes as they arrive (watch streams pass through chunk by
//! chunk), and buffers only small request bodies, to read the `Action=`
//! (and `RoleArn=`) of STS/IAM query-protocol calls.
//!
//! - [`Flavor::Aws`]: S3 operations from method + path + query, STS/IAM from
//!   the `Action` form field; AssumeRoleWithWebIdentity is also tagged with
//!   its role ARN.
//! - [`Flavor::Kube`]: `VERB resource[/subresource]` (GET, LIST, WATCH,
//!   CREATE, APPLY, PATCH, UPDATE, DELETE, DELETECOLLECTION); TokenRequests
//!   are also tagged with their ServiceAccount.

mod classify;
mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use classify::{classify_aws, classify_kube};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use wire::{Framing, Head, Reader};

/// How requests are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Aws,
    Kube,
}

/// Where the relay forwards to.
#[derive(Clone)]
pub enum Upstream {
    /// `host:port`, plain TCP.
    Plain(String),
    /// `host:port` over TLS (the relay is the TLS client).
    Tls {
        addr: String,
        server_name: ServerName<'static>,
        config: Arc<rustls::ClientConfig>,
    },
}

/// Requests of one operation.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct OpStats {
    pub count: u64,
    /// Response status → count; 0 = no response (connection closed).
    pub statuses: BTreeMap<u16, u64>,
    /// Sum of the times from the request (head) to the response head, seconds.
    pub upstream_s: f64,
    pub max_s: f64,
}

/// What a relay has seen so far.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Counts {
    pub connections: u64,
    pub requests: u64,
    pub ops: BTreeMap<String, OpStats>,
    /// Extra keys, e.g. `AssumeRoleWithWebIdentity <role arn>`.
    pub tags: BTreeMap<String, u64>,
    /// The operations of `ops` that are STS or IAM actions (the query
    /// protocol's `Action`), not S3 requests.
    pub actions: BTreeSet<String>,
}

impl Counts {
    /// What happened between `before` and `self`.
    pub fn since(&self, before: &Counts) -> Counts {
        let mut ops = BTreeMap::new();
        for (k, v) in &self.ops {
            let b = before.ops.get(k).cloned().unwrap_or_default();
            if v.count == b.count {
                continue;
            }
            let mut statuses = BTreeMap::new();
            for (s, n) in &v.statuses {
                let d = n - b.statuses.get(s).copied().unwrap_or(0);
                if d > 0 {
                    statuses.insert(*s, d);
                }
            }
            ops.insert(
                k.clone(),
                OpStats {
                    count: v.count - b.count,
                    statuses,
                    upstream_s: v.upstream_s - b.upstream_s,
                    // not a difference: the largest seen so far
                    max_s: v.max_s,
                },
            );
        }
        let mut tags = BTreeMap::new();
        for (k, v) in &self.tags {
            let d = v - before.tags.get(k).copied().unwrap_or(0);
            if d > 0 {
                tags.insert(k.clone(), d);
            }
        }
        Counts {
            connections: self.connections - before.connections,
            requests: self.requests - before.requests,
            ops,
            tags,
            actions: self.actions.clone(),
        }
    }

    pub fn op(&self, name: &str) -> u64 {
        self.ops.get(name).map(|o| o.count).unwrap_or(0)
    }

    /// The S3 requests by operation: neither STS/IAM actions nor moto's
    /// own API.
    pub fn s3_ops(&self) -> BTreeMap<&str, u64> {
        self.ops
            .iter()
            .filter(|(op, _)| !self.actions.contains(*op) && op.as_str() != "moto-api")
            .map(|(op, o)| (op.as_str(), o.count))
            .collect()
    }

    /// All S3 requests.
    pub fn s3_requests(&self) -> u64 {
        self.s3_ops().values().sum()
    }
}

/// A running relay; stops (and cuts its connections) when dropped.
pub struct Relay {
    pub addr: SocketAddr,
    counts: Arc<Mutex<Counts>>,
    task: JoinHandle<()>,
}

impl Relay {
    pub async fn start(upstream: Upstream, flavor: Flavor) -> io::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(Mutex::new(Counts::default()));
        let c = counts.clone();
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((inbound, _)) = accepted else { break };
                        c.lock().unwrap().connections += 1;
                        conns.spawn(handle(inbound, upstream.clone(), flavor, c.clone()));
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(Relay { addr, counts, task })
    }

    /// A relay in front of the test environment's AWS endpoint (moto).
    pub async fn in_front_of(env: &crate::TestEnv) -> Relay {
        let upstream = env
            .endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/');
        Relay::start(Upstream::Plain(upstream.into()), Flavor::Aws)
            .await
            .expect("a relay in front of the endpoint")
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn counts(&self) -> Counts {
        self.counts.lock().unwrap().clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

async fn connect(upstream: &Upstream) -> io::Result<Box<dyn Io>> {
    match upstream {
        Upstream::Plain(addr) => {
            let s = TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            Ok(Box::new(s))
        }
        Upstream::Tls {
            addr,
            server_name,
            config,
        } => {
            let s = TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            let tls = tokio_rustls::TlsConnector::from(config.clone())
                .connect(server_name.clone(), s)
                .await?;
            Ok(Box::new(tls))
        }
    }
}

/// A request sent upstream, waiting for its response.
struct Pending {
    op: String,
    tag: Option<String>,
    action: bool,
    head_only: bool,
    start: Instant,
}

async fn handle(
    inbound: TcpStream,
    upstream: Upstream,
    flavor: Flavor,
    counts: Arc<Mutex<Counts>>,
) {
    let _ = inbound.set_nodelay(true);
    let Ok(out) = connect(&upstream).await else {
        return;
    };
    let (client_in, client_out) = tokio::io::split(inbound);
    let (up_in, up_out) = tokio::io::split(out);
    let (tx, rx) = mpsc::unbounded_channel();
    let req = tokio::spawn(requests(Reader::new(client_in), up_out, tx, flavor));
    let _ = responses(Reader::new(up_in), client_out, rx, counts).await;
    req.abort();
}

/// Client → upstream: one request after the other.
async fn requests<R, W>(
    mut rd: Reader<R>,
    mut up: W,
    tx: mpsc::UnboundedSender<Pending>,
    flavor: Flavor,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    const SMALL: u64 = 64 * 1024;
    while let Some(head) = rd.read_until(b"\r\n\r\n", 1 << 20).await? {
        let req = Head::parse(&head)?;
        let framing = req.framing();
        let body = match framing {
            Framing::Length(n) if n <= SMALL => Some(rd.read_n(n as usize).await?),
            _ => None,
        };
        let (op, tag, action) = match flavor {
            Flavor::Aws => classify_aws(&req, body.as_deref()),
            Flavor::Kube => {
                let (op, tag) = classify_kube(&req);
                (op, tag, false)
            }
        };
        let pending = Pending {
            op,
            tag,
            action,
            head_only: req.first.eq_ignore_ascii_case("HEAD"),
            start: Instant::now(),
        };
        if tx.send(pending).is_err() {
            break;
        }
        up.write_all(&head).await?;
        match (framing, body) {
            (_, Some(b)) => up.write_all(&b).await?,
            (Framing::Length(n), None) => rd.copy_n(n, &mut up).await?,
            (Framing::Chunked, None) => rd.copy_chunked(&mut up).await?,
            _ => {}
        }
        up.flush().await?;
    }
    up.shutdown().await
}

/// Upstream → client: one response per pending request.
async fn responses<R, W>(
    mut rd: Reader<R>,
    mut down: W,
    mut rx: mpsc::UnboundedReceiver<Pending>,
    counts: Arc<Mutex<Counts>>,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    while let Some(p) = rx.recv().await {
        loop {
            let Some(head) = rd.read_until(b"\r\n\r\n", 1 << 20).await? else {
                record(&counts, &p, 0);
                return Ok(());
            };
            let resp = Head::parse(&head)?;
            let status: u16 = resp.second.parse().unwrap_or(0);
            down.write_all(&head).await?;
            if (100..200).contains(&status) && status != 101 {
                down.flush().await?;
                continue; // interim response (100 Continue)
            }
            record(&counts, &p, status);
            if status == 101 {
                rd.copy_to_eof(&mut down).await?;
                return Ok(());
            }
            let no_body = p.head_only || status == 204 || status == 304;
            match resp.framing() {
                _ if no_body => {}
                Framing::Chunked => rd.copy_chunked(&mut down).await?,
                Framing::Length(n) => rd.copy_n(n, &mut down).await?,
                Framing::None => {
                    // delimited by the end of the connection
                    rd.copy_to_eof(&mut down).await?;
                    down.flush().await?;
                    let _ = down.shutdown().await;
                    return Ok(());
                }
            }
            down.flush().await?;
            break;
        }
    }
    Ok(())
}

fn record(counts: &Mutex<Counts>, p: &Pending, status: u16) {
    let took = p.start.elapsed().as_secs_f64();
    let mut c = counts.lock().unwrap();
    c.requests += 1;
    let o = c.ops.entry(p.op.clone()).or_default();
    o.count += 1;
    *o.statuses.entry(status).or_default() += 1;
    o.upstream_s += took;
    o.max_s = o.max_s.max(took);
    if let Some(t) = &p.tag {
        *c.tags.entry(t.clone()).or_default() += 1;
    }
    if p.action {
        c.actions.insert(p.op.clone());
    }
}
