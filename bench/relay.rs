//! A counting HTTP/1.1 relay: listens on a local port, forwards every
//! connection to one upstream (plain TCP, or TLS with a client certificate),
//! and counts each request by operation and response status.
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

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

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
        }
    }

    pub fn op(&self, name: &str) -> u64 {
        self.ops.get(name).map(|o| o.count).unwrap_or(0)
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
        let (op, tag) = match flavor {
            Flavor::Aws => classify_aws(&req, body.as_deref()),
            Flavor::Kube => classify_kube(&req),
        };
        let pending = Pending {
            op,
            tag,
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
}

#[derive(Debug, Clone, Copy)]
enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// A request or response head: first line split in three, headers with
/// lowercase names.
struct Head {
    first: String,
    second: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn parse(raw: &[u8]) -> io::Result<Head> {
        let text = String::from_utf8_lossy(raw);
        let mut lines = text.split("\r\n");
        let start = lines.next().unwrap_or_default();
        let mut parts = start.splitn(3, ' ');
        let first = parts.next().unwrap_or_default().to_string();
        let second = parts.next().unwrap_or_default().to_string();
        if first.is_empty() || second.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not an HTTP head: {start:?}"),
            ));
        }
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Ok(Head {
            first,
            second,
            headers,
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn framing(&self) -> Framing {
        if self
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            Framing::Chunked
        } else if let Some(n) = self
            .header("content-length")
            .and_then(|v| v.parse::<u64>().ok())
        {
            Framing::Length(n)
        } else {
            Framing::None
        }
    }
}

/// Percent-decoding of a form or query value.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form_value(form: &str, key: &str) -> Option<String> {
    form.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| decode(v))
}

fn classify_aws(req: &Head, body: Option<&[u8]>) -> (String, Option<String>) {
    let method = req.first.to_ascii_uppercase();
    let (path, query) = req.second.split_once('?').unwrap_or((&req.second, ""));
    // STS / IAM: query protocol, the action in the form body (or the query)
    let form = body.map(String::from_utf8_lossy).unwrap_or_default();
    let action = form_value(&form, "Action").or_else(|| form_value(query, "Action"));
    if let Some(action) = action {
        let tag = match action.as_str() {
            "AssumeRoleWithWebIdentity" | "AssumeRole" => Some(format!(
                "{action} {}",
                form_value(&form, "RoleArn").unwrap_or_default()
            )),
            _ => None,
        };
        return (action, tag);
    }
    if path.starts_with("/moto-api") {
        return ("moto-api".into(), None);
    }
    let trimmed = path.trim_start_matches('/');
    let (bucket, key) = match trimmed.split_once('/') {
        Some((b, k)) => (b, k),
        None => (trimmed, ""),
    };
    let first_query_key = query
        .split('&')
        .map(|kv| kv.split('=').next().unwrap_or_default())
        .find(|k| !k.is_empty() && *k != "x-id");
    let op = match (bucket.is_empty(), key.is_empty(), method.as_str()) {
        (true, _, "GET") => "ListBuckets".to_string(),
        (false, true, "HEAD") => "HeadBucket".into(),
        (false, true, "GET") if form_value(query, "list-type").as_deref() == Some("2") => {
            "ListObjectsV2".into()
        }
        (false, true, "GET") => match first_query_key {
            None => "ListObjects".into(),
            Some(k) => format!("GET bucket?{k}"),
        },
        (false, true, "PUT") if first_query_key.is_none() => "CreateBucket".into(),
        (false, true, "DELETE") if first_query_key.is_none() => "DeleteBucket".into(),
        (false, true, "POST") if first_query_key == Some("delete") => "DeleteObjects".into(),
        (false, false, m) if first_query_key.is_none() => match m {
            "GET" => "GetObject".into(),
            "HEAD" => "HeadObject".into(),
            "DELETE" => "DeleteObject".into(),
            "PUT" if req.header("x-amz-copy-source").is_some() => "CopyObject".into(),
            "PUT" => "PutObject".into(),
            m => format!("{m} object"),
        },
        (_, k, m) => format!(
            "{m} {}?{}",
            if k { "bucket" } else { "object" },
            first_query_key.unwrap_or_default()
        ),
    };
    (op, None)
}

fn classify_kube(req: &Head) -> (String, Option<String>) {
    let method = req.first.to_ascii_uppercase();
    let (path, query) = req.second.split_once('?').unwrap_or((&req.second, ""));
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    // /api/v1/... or /apis/<group>/<version>/...
    let rest: &[&str] = match segs.first().copied() {
        Some("api") if segs.len() >= 2 => &segs[2..],
        Some("apis") if segs.len() >= 3 => &segs[3..],
        _ => return (format!("{method} {path}"), None),
    };
    if rest.is_empty() {
        return (format!("{method} discovery"), None);
    }
    let (ns, rest): (Option<&str>, &[&str]) = if rest[0] == "namespaces" && rest.len() >= 3 {
        (Some(rest[1]), &rest[2..])
    } else {
        (None, rest)
    };
    let resource = rest[0];
    let name = rest.get(1).copied();
    let sub = rest.get(2).copied();
    let watch = matches!(
        form_value(query, "watch").as_deref(),
        Some("true") | Some("1")
    );
    let verb = match (method.as_str(), name.is_some()) {
        ("GET", _) if watch => "WATCH",
        ("GET", true) => "GET",
        ("GET", false) => "LIST",
        ("POST", _) => "CREATE",
        ("PUT", _) => "UPDATE",
        ("PATCH", _)
            if req
                .header("content-type")
                .is_some_and(|c| c.contains("apply-patch")) =>
        {
            "APPLY"
        }
        ("PATCH", _) => "PATCH",
        ("DELETE", true) => "DELETE",
        ("DELETE", false) => "DELETECOLLECTION",
        (m, _) => m,
    }
    .to_string();
    let what = match sub {
        Some(s) => format!("{resource}/{s}"),
        None => resource.to_string(),
    };
    let tag = match (resource, sub, ns, name) {
        ("serviceaccounts", Some("token"), Some(ns), Some(n)) => Some(format!("token {ns}/{n}")),
        _ => None,
    };
    (format!("{verb} {what}"), tag)
}

/// A buffered reader that can hand bytes on without copying them twice.
struct Reader<R> {
    r: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

fn eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "connection closed mid-message",
    )
}

impl<R: AsyncRead + Unpin> Reader<R> {
    fn new(r: R) -> Self {
        Self {
            r,
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
        }
    }

    /// Read more; 0 at the end of the stream.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                let grown = self.buf.len() * 2;
                self.buf.resize(grown, 0);
            }
        }
        let n = self.r.read(&mut self.buf[self.end..]).await?;
        self.end += n;
        Ok(n)
    }

    /// Everything up to and including `delim`; `None` at a clean end of the
    /// stream.
    async fn read_until(&mut self, delim: &[u8], max: usize) -> io::Result<Option<Vec<u8>>> {
        loop {
            let avail = &self.buf[self.start..self.end];
            if let Some(i) = avail.windows(delim.len()).position(|w| w == delim) {
                let out = avail[..i + delim.len()].to_vec();
                self.start += i + delim.len();
                return Ok(Some(out));
            }
            if avail.len() > max {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "head too long"));
            }
            if self.fill().await? == 0 {
                return if self.start == self.end {
                    Ok(None)
                } else {
                    Err(eof())
                };
            }
        }
    }

    async fn read_n(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            if self.start == self.end && self.fill().await? == 0 {
                return Err(eof());
            }
            let take = (n - out.len()).min(self.end - self.start);
            out.extend_from_slice(&self.buf[self.start..self.start + take]);
            self.start += take;
        }
        Ok(out)
    }

    async fn copy_n<W: AsyncWrite + Unpin>(&mut self, mut n: u64, w: &mut W) -> io::Result<()> {
        while n > 0 {
            if self.start == self.end && self.fill().await? == 0 {
                return Err(eof());
            }
            let take = (n as usize).min(self.end - self.start);
            w.write_all(&self.buf[self.start..self.start + take])
                .await?;
            self.start += take;
            n -= take as u64;
        }
        Ok(())
    }

    async fn copy_chunked<W: AsyncWrite + Unpin>(&mut self, w: &mut W) -> io::Result<()> {
        loop {
            let line = self.read_until(b"\r\n", 4096).await?.ok_or_else(eof)?;
            w.write_all(&line).await?;
            let text = String::from_utf8_lossy(&line);
            let size = text.trim_end().split(';').next().unwrap_or_default().trim();
            let size = u64::from_str_radix(size, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                // trailers, up to an empty line
                loop {
                    let l = self.read_until(b"\r\n", 64 * 1024).await?.ok_or_else(eof)?;
                    w.write_all(&l).await?;
                    if l == b"\r\n" {
                        return Ok(());
                    }
                }
            }
            self.copy_n(size + 2, w).await?;
            // watch events must reach the client as they come
            w.flush().await?;
        }
    }

    async fn copy_to_eof<W: AsyncWrite + Unpin>(&mut self, w: &mut W) -> io::Result<()> {
        loop {
            if self.start < self.end {
                w.write_all(&self.buf[self.start..self.end]).await?;
                w.flush().await?;
                self.start = self.end;
            }
            if self.fill().await? == 0 {
                return Ok(());
            }
        }
    }
}
