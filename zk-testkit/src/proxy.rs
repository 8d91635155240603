//! A TCP forwarder between a client and a server that can fail on demand,
//! as zookeeper-client's own tests do: partitions without root.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Listens on a free loopback port and forwards every connection to
/// `upstream`.
pub struct Proxy {
    address: SocketAddr,
    state: Arc<State>,
}

struct State {
    blackholed: AtomicBool,
    /// Set by [`Proxy::refuse`]: new connections are closed as soon as they
    /// are accepted, as by a port nobody listens on.
    refusing: AtomicBool,
    /// Set by [`Proxy::sever_client_side`]: ending a connection leaves its
    /// upstream end open (and silent) instead of closing it too.
    hold_upstream: AtomicBool,
    /// Set by [`Proxy::delay`]: each chunk waits this long (milliseconds),
    /// plus up to `jitter_ms` more, before it is passed on.
    delay_ms: std::sync::atomic::AtomicU64,
    jitter_ms: std::sync::atomic::AtomicU64,
    /// Armed by [`Proxy::cut_before_request`]: the client request (counting
    /// the connect request as 0) before which the next connection to reach
    /// it is closed. One shot.
    cut_before: Mutex<Option<usize>>,
    closed: AtomicBool,
    /// Both ends of every open connection, by pair id, the client's end
    /// marked `true`; a pair leaves the list when its first pump ends, so a
    /// long run leaks no descriptors.
    connections: Mutex<Vec<(u64, bool, TcpStream)>>,
    next_pair: std::sync::atomic::AtomicU64,
}

impl Proxy {
    pub fn start(upstream: &str) -> std::io::Result<Proxy> {
        Self::start_inner(upstream, false, false)
    }

    /// A proxy on a link between two ZooKeeper servers: a connection
    /// accepted while the upstream does not listen yet waits for it (see
    /// [`forward`]) instead of being closed.
    pub(crate) fn start_peer(upstream: &str) -> std::io::Result<Proxy> {
        Self::start_inner(upstream, false, true)
    }

    /// A proxy in front of a ZooKeeper server's leader-election port.
    ///
    /// A server that receives an election connection from a peer with a
    /// lower id drops it and calls back to the address the peer advertised
    /// in its first message, which is the peer's real port: that call-back
    /// would bypass every proxy. So the proxy rewrites that first message to
    /// the older form, which carries the server id alone; the receiver then
    /// calls back to the address in its own configuration, a proxy too.
    pub(crate) fn start_election(upstream: &str) -> std::io::Result<Proxy> {
        Self::start_inner(upstream, true, true)
    }

    fn start_inner(upstream: &str, election: bool, patient: bool) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let upstream: SocketAddr = upstream.parse().map_err(std::io::Error::other)?;
        let state = Arc::new(State {
            blackholed: AtomicBool::new(false),
            refusing: AtomicBool::new(false),
            hold_upstream: AtomicBool::new(false),
            delay_ms: std::sync::atomic::AtomicU64::new(0),
            jitter_ms: std::sync::atomic::AtomicU64::new(0),
            cut_before: Mutex::new(None),
            closed: AtomicBool::new(false),
            connections: Mutex::new(Vec::new()),
            next_pair: std::sync::atomic::AtomicU64::new(0),
        });
        let accept_state = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if accept_state.closed.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                if accept_state.refusing.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let state = accept_state.clone();
                let wait = if patient {
                    std::time::Duration::from_secs(3)
                } else {
                    std::time::Duration::ZERO
                };
                std::thread::spawn(move || forward(client, upstream, state, election, wait));
            }
        });
        Ok(Proxy { address, state })
    }

    /// `127.0.0.1:PORT` for the client to connect to.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Closes every open connection (both ends see EOF) and keeps
    /// accepting new ones.
    pub fn reset(&self) {
        if let Ok(mut conns) = self.state.connections.lock() {
            for (_, _, conn) in conns.drain(..) {
                let _ = conn.shutdown(Shutdown::Both);
            }
        }
    }

    /// A one-sided reset: every open connection is closed on the client's
    /// side only, while its upstream end stays open and hears nothing more,
    /// and new connections go nowhere (as [`Proxy::blackhole`]). What a
    /// middlebox that drops state, a REJECT rule on one host, or one host
    /// restarting during a partition does: one end knows the connection is
    /// gone, the other waits on silence until its own timeout.
    pub fn sever_client_side(&self) {
        self.state.hold_upstream.store(true, Ordering::SeqCst);
        self.state.blackholed.store(true, Ordering::SeqCst);
        if let Ok(conns) = self.state.connections.lock() {
            for (_, _, conn) in conns.iter().filter(|(_, client, _)| *client) {
                let _ = conn.shutdown(Shutdown::Both);
            }
        }
    }

    /// Latency on every connection, both ways: each chunk read waits
    /// `base` plus up to `jitter` before it is passed on (in order: a slow
    /// chunk holds up those behind it, as on a congested link). Zero ends it.
    pub fn delay(&self, base: std::time::Duration, jitter: std::time::Duration) {
        let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.state.jitter_ms.store(millis(jitter), Ordering::SeqCst);
        self.state.delay_ms.store(millis(base), Ordering::SeqCst);
    }

    /// While `on`, new connections are closed as soon as they are accepted:
    /// a client tries its next server at once instead of waiting on silence.
    pub fn refuse(&self, on: bool) {
        self.state.refusing.store(on, Ordering::SeqCst);
    }

    /// How many connections are open through the proxy now.
    pub fn open_connections(&self) -> usize {
        self.state.connections.lock().map_or(0, |conns| {
            conns.iter().filter(|(_, client, _)| *client).count()
        })
    }

    /// Silently drops all bytes both ways, on open and new connections, as
    /// a network partition does: nobody sees an error, only silence.
    pub fn blackhole(&self) {
        self.state.blackholed.store(true, Ordering::SeqCst);
    }

    /// Closes the next connection that gets as far as the client's request
    /// number `n` (0 is the connect request), just before that request
    /// reaches the server: the client sees its request fail with the
    /// connection, and never learns (here: it did not) whether the server
    /// got it. One shot: later connections pass.
    pub fn cut_before_request(&self, n: usize) {
        if let Ok(mut cut) = self.state.cut_before.lock() {
            *cut = Some(n);
        }
    }

    /// Whether an armed [`Proxy::cut_before_request`] has fired.
    pub fn cut_done(&self) -> bool {
        self.state.cut_before.lock().is_ok_and(|c| c.is_none())
    }

    /// Ends a [`Proxy::blackhole`]. Bytes dropped meanwhile stay lost, so
    /// the old connections are usually dead by then.
    pub fn restore(&self) {
        self.state.hold_upstream.store(false, Ordering::SeqCst);
        self.state.blackholed.store(false, Ordering::SeqCst);
    }
}

/// Connects to `upstream` for `client` and pumps both ways. The upstream may
/// not listen yet (a newly elected leader opens its quorum port only once
/// elected, and a follower that meets a closed connection instead of a
/// refused one gives up on that leader until the next election): a real
/// client would see the refusal and retry, but ours is already connected to
/// us, so we retry for it for up to `wait`, then close its connection.
fn forward(
    client: TcpStream,
    upstream: SocketAddr,
    state: Arc<State>,
    election: bool,
    wait: std::time::Duration,
) {
    let give_up = std::time::Instant::now() + wait;
    let server = loop {
        match TcpStream::connect(upstream) {
            Ok(server) => break server,
            Err(_)
                if std::time::Instant::now() < give_up && !state.closed.load(Ordering::SeqCst) =>
            {
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            Err(_) => {
                let _ = client.shutdown(Shutdown::Both);
                return;
            }
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let pair = state.next_pair.fetch_add(1, Ordering::SeqCst);
    if let Ok(mut conns) = state.connections.lock() {
        conns.extend(client.try_clone().ok().map(|c| (pair, true, c)));
        conns.extend(server.try_clone().ok().map(|c| (pair, false, c)));
    }
    pump(
        client.try_clone(),
        server.try_clone(),
        (state.clone(), pair),
        (election, true),
    );
    pump(Ok(server), Ok(client), (state, pair), (false, false));
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.closed.store(true, Ordering::SeqCst);
        self.reset();
        // Wake the accept loop so it sees `closed`.
        let _ = TcpStream::connect(self.address);
    }
}

fn pump(
    from: std::io::Result<TcpStream>,
    to: std::io::Result<TcpStream>,
    (state, pair): (Arc<State>, u64),
    (election_hello, client_to_server): (bool, bool),
) {
    let (Ok(mut from), Ok(mut to)) = (from, to) else {
        return;
    };
    std::thread::spawn(move || {
        if election_hello {
            match strip_election_address(&mut from) {
                Ok(hello) => {
                    if !state.blackholed.load(Ordering::SeqCst) && to.write_all(&hello).is_err() {
                        let _ = from.shutdown(Shutdown::Both);
                        return;
                    }
                }
                Err(_) => {
                    let _ = to.shutdown(Shutdown::Both);
                    let _ = from.shutdown(Shutdown::Both);
                    return;
                }
            }
        }
        let mut buf = [0u8; 16 * 1024];
        let mut frames = Frames::default();
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(mut n) => {
                    if state.blackholed.load(Ordering::SeqCst) {
                        continue;
                    }
                    let delay = state.delay_ms.load(Ordering::SeqCst);
                    if delay > 0 {
                        let jitter = state.jitter_ms.load(Ordering::SeqCst);
                        // Cheap and good enough: the clock's low bits.
                        let noise = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| u64::from(d.subsec_nanos()));
                        let extra = if jitter > 0 { noise % (jitter + 1) } else { 0 };
                        std::thread::sleep(std::time::Duration::from_millis(delay + extra));
                    }
                    let mut cut = false;
                    if client_to_server {
                        if let Ok(mut armed) = state.cut_before.lock() {
                            if let Some(at) = frames.feed(&buf[..n], armed.unwrap_or(usize::MAX)) {
                                *armed = None;
                                (n, cut) = (at, true);
                            }
                        }
                    }
                    if cut {
                        let _ = to.write_all(&buf[..n]);
                        break;
                    }
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        // After a one-sided reset the upstream end is left open: the
        // server must learn nothing from us.
        let (client_end, server_end) = if client_to_server {
            (&from, &to)
        } else {
            (&to, &from)
        };
        let _ = client_end.shutdown(Shutdown::Both);
        if !state.hold_upstream.load(Ordering::SeqCst) {
            let _ = server_end.shutdown(Shutdown::Both);
        }
        if let Ok(mut conns) = state.connections.lock() {
            conns.retain(|(id, _, _)| *id != pair);
        }
    });
}

/// Counts ZooKeeper's length-prefixed frames in a byte stream.
#[derive(Default)]
struct Frames {
    header: Vec<u8>,
    left: usize,
    started: usize,
}

impl Frames {
    /// Feeds `bytes`; the offset in them where frame number `cut` would
    /// start, if it starts there.
    fn feed(&mut self, bytes: &[u8], cut: usize) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            if self.left == 0 {
                if self.header.is_empty() && self.started == cut {
                    return Some(i);
                }
                self.header.push(bytes[i]);
                i += 1;
                if let Ok(header) = <[u8; 4]>::try_from(&self.header[..]) {
                    self.left = u32::from_be_bytes(header) as usize;
                    self.header.clear();
                    self.started += 1;
                }
            } else {
                let take = self.left.min(bytes.len() - i);
                self.left -= take;
                i += take;
            }
        }
        None
    }
}

/// Reads the first message a ZooKeeper server sends on an election
/// connection and returns it without the sender's own address.
///
/// The message is a negative protocol version (i64), the sender's id (i64),
/// and a length-prefixed `host:port`; the older form, which every server
/// still accepts, is the id alone. Anything else passes through unchanged.
fn strip_election_address(from: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut version = [0u8; 8];
    from.read_exact(&mut version)?;
    if i64::from_be_bytes(version) >= 0 {
        return Ok(version.to_vec());
    }
    let mut sid = [0u8; 8];
    from.read_exact(&mut sid)?;
    let mut len = [0u8; 4];
    from.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len);
    if len > 64 * 1024 {
        return Err(std::io::Error::other("election hello too long"));
    }
    std::io::copy(&mut from.take(u64::from(len)), &mut std::io::sink())?;
    Ok(sid.to_vec())
}
