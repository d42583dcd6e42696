//! Just enough HTTP/1.1 for the relay: a message head, how its body is
//! framed, and a buffered reader that hands bytes on without copying them
//! twice.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

#[derive(Debug, Clone, Copy)]
pub(super) enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// A request or response head: first line split in three, headers with
/// lowercase names.
pub(super) struct Head {
    pub(super) first: String,
    pub(super) second: String,
    headers: Vec<(String, String)>,
}

impl Head {
    pub(super) fn parse(raw: &[u8]) -> io::Result<Head> {
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

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn framing(&self) -> Framing {
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

/// A buffered reader that can hand bytes on without copying them twice.
pub(super) struct Reader<R> {
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
    pub(super) fn new(r: R) -> Self {
        Self {
            r,
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
        }
    }

    /// Read more; 0 at the end of the stream.
    pub(super) async fn fill(&mut self) -> io::Result<usize> {
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
    pub(super) async fn read_until(
        &mut self,
        delim: &[u8],
        max: usize,
    ) -> io::Result<Option<Vec<u8>>> {
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

    pub(super) async fn read_n(&mut self, n: usize) -> io::Result<Vec<u8>> {
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

    pub(super) async fn copy_n<W: AsyncWrite + Unpin>(
        &mut self,
        mut n: u64,
        w: &mut W,
    ) -> io::Result<()> {
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

    pub(super) async fn copy_chunked<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
    ) -> io::Result<()> {
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

    pub(super) async fn copy_to_eof<W: AsyncWrite + Unpin>(&mut self, w: &mut W) -> io::Result<()> {
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
