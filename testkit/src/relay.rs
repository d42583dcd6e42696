//! TCP relays a test owns in front of a server: a [`Relay`] that can be
//! stopped and resumed on the same address (the server seems gone while it
//! keeps running), and a [`Gate`] that holds connections unanswered until
//! opened (a validation waits there, mid-flight).

use crate::env::TIMEOUT;
use crate::net::free_addr;

/// A TCP relay owned by a test, between the operator and a server: stopping
/// it cuts every connection and refuses new ones, as if the server were
/// gone, while the server itself keeps running.
pub struct Relay {
    pub addr: std::net::SocketAddr,
    target: String,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    /// Relay a free local port to `target` (`host:port`).
    pub async fn start(target: &str) -> Self {
        let addr = free_addr().expect("a free port for the relay");
        let mut relay = Self {
            addr,
            target: target.to_string(),
            task: None,
        };
        relay.resume().await;
        relay
    }

    /// Cut all connections and refuse new ones.
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Accept and relay connections again, on the same address.
    pub async fn resume(&mut self) {
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("bind relay");
        let target = self.target.clone();
        self.task = Some(tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    break;
                };
                let target = target.clone();
                conns.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A TCP relay that accepts connections but holds them, unanswered, until
/// opened: a validation that reaches it waits there, so a test can look at
/// the status written while a validation is in flight, then let it finish.
pub struct Gate {
    /// `http://127.0.0.1:<port>`, to use as `spec.endpoint`.
    pub url: String,
    open: tokio::sync::watch::Sender<bool>,
    accepted: tokio::sync::watch::Receiver<usize>,
    task: tokio::task::JoinHandle<()>,
}

impl Gate {
    /// A closed gate in front of `target` (`http://host:port`).
    pub async fn closed(target: &str) -> Self {
        let target = target
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (open, is_open) = tokio::sync::watch::channel(false);
        let (count, accepted) = tokio::sync::watch::channel(0usize);
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                count.send_modify(|n| *n += 1);
                let (target, mut is_open) = (target.clone(), is_open.clone());
                conns.spawn(async move {
                    if is_open.wait_for(|o| *o).await.is_err() {
                        return;
                    }
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self {
            url,
            open,
            accepted,
            task,
        }
    }

    /// Relay held and new connections.
    pub fn open(&self) {
        self.open.send_replace(true);
    }

    /// Wait until more than `n` connections have arrived; returns how many.
    pub async fn wait_accepted_more_than(&self, n: usize) -> usize {
        let mut rx = self.accepted.clone();
        let seen = tokio::time::timeout(TIMEOUT, rx.wait_for(|c| *c > n))
            .await
            .unwrap_or_else(|_| panic!("no connection beyond {n} reached the gate in {TIMEOUT:?}"))
            .expect("gate task alive");
        *seen
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}
