//! The link between the demo and its database: a loopback TCP proxy that
//! forwards bytes as they come, or delays them, holds them (a stall), or
//! cuts every connection, as the harness commands.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What the link does to the bytes that cross it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    /// Forwards at once.
    Normal,
    /// Delivers each chunk this long after it was read, in each direction,
    /// as a long or slow path would.
    Delay(Duration),
    /// Forwards nothing, in either direction, on any connection (new ones
    /// are accepted and held too), until the link changes: a hung peer or
    /// a partition that drops packets without a reset.
    Stall,
    /// Closes every open connection, and every new one as soon as it is
    /// accepted: the peer is gone, and says so.
    Cut,
}

/// A running proxy; stops when dropped.
pub(crate) struct Proxy {
    port: u16,
    link: watch::Sender<Link>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards to
    /// `127.0.0.1:upstream`.
    pub(crate) async fn start(upstream: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (link, watcher) = watch::channel(Link::Normal);
        let accept = tokio::spawn(accept(listener, upstream, watcher));
        Ok(Self { port, link, accept })
    }

    /// The port the demo connects to.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Changes what the link does, on open connections and new ones.
    pub(crate) fn set(&self, link: Link) {
        self.link.send_replace(link);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.set(Link::Cut);
        self.accept.abort();
    }
}

async fn accept(listener: TcpListener, upstream: u16, link: watch::Receiver<Link>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        if *link.borrow() == Link::Cut {
            drop(client);
            continue;
        }
        tokio::spawn(connection(client, upstream, link.clone()));
    }
}

/// One proxied connection: two pumps, until both sides are done or the
/// link is cut.
async fn connection(client: TcpStream, upstream: u16, mut link: watch::Receiver<Link>) {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        // The database is down: the client sees its connection closed,
        // as it would connecting to the database itself.
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let both = futures_util::future::join(
        pump(client_read, server_write, link.clone()),
        pump(server_read, client_write, link.clone()),
    );
    tokio::select! {
        _ = both => {}
        _ = link.wait_for(|l| *l == Link::Cut) => {}
    }
}

/// Chunks in flight on one direction of a connection: a delay line holds
/// a rate's worth of chunks for the delay (a multiplexed Redis connection
/// carries thousands a second), and a stall as many before the reading
/// stops too (TCP's own buffers then fill, as on a real link).
const IN_FLIGHT: usize = 16 * 1024;

/// Copies `from` to `to` as the link allows. Reading goes on while a
/// stall holds the writes back, up to a bounded queue.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, link: watch::Receiver<Link>) {
    let (queue, mut queued) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
    let read = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let chunk = buf.get(..n).unwrap_or_default().to_vec();
                    if queue.send((Instant::now(), chunk)).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    let write = async move {
        let mut link = link;
        while let Some((read_at, chunk)) = queued.recv().await {
            loop {
                let now = *link.borrow_and_update();
                match now {
                    Link::Normal => break,
                    Link::Delay(delay) => {
                        // A change of link during the wait applies to
                        // this chunk too.
                        tokio::select! {
                            () = tokio::time::sleep_until(read_at + delay) => break,
                            changed = link.changed() => {
                                if changed.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                    Link::Stall => {
                        if link.changed().await.is_err() {
                            return;
                        }
                    }
                    Link::Cut => return,
                }
            }
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(read, write);
}
