//! Local ports and one plain HTTP/1.1 GET, for the operator's `/metrics`,
//! `/healthz` and `/readyz` (no HTTP client library needed for that).

use std::net::{SocketAddr, TcpListener};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A local address no one listens on right now (the kernel's choice of a
/// free port on 127.0.0.1).
pub fn free_addr() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// A free port on 127.0.0.1 (see [`free_addr`]).
pub fn free_port() -> std::io::Result<u16> {
    Ok(free_addr()?.port())
}

/// GET `path` from `addr` (`host:port`): the status code and the body.
pub async fn http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf);
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((code, body))
}
