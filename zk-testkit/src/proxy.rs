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
    closed: AtomicBool,
    connections: Mutex<Vec<TcpStream>>,
}

impl Proxy {
    pub fn start(upstream: &str) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let upstream: SocketAddr = upstream.parse().map_err(std::io::Error::other)?;
        let state = Arc::new(State {
            blackholed: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            connections: Mutex::new(Vec::new()),
        });
        let accept_state = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if accept_state.closed.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(upstream) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                if let Ok(mut conns) = accept_state.connections.lock() {
                    conns.extend(client.try_clone().ok());
                    conns.extend(server.try_clone().ok());
                }
                pump(client.try_clone(), server.try_clone(), accept_state.clone());
                pump(Ok(server), Ok(client), accept_state.clone());
            }
        });
        Ok(Proxy { address, state })
    }

    /// `127.0.0.1:PORT` for the client to connect to.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// Closes every open connection (both ends see EOF) and keeps
    /// accepting new ones.
    pub fn reset(&self) {
        if let Ok(mut conns) = self.state.connections.lock() {
            for conn in conns.drain(..) {
                let _ = conn.shutdown(Shutdown::Both);
            }
        }
    }

    /// Silently drops all bytes both ways, on open and new connections, as
    /// a network partition does: nobody sees an error, only silence.
    pub fn blackhole(&self) {
        self.state.blackholed.store(true, Ordering::SeqCst);
    }

    /// Ends a [`Proxy::blackhole`]. Bytes dropped meanwhile stay lost, so
    /// the old connections are usually dead by then.
    pub fn restore(&self) {
        self.state.blackholed.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.closed.store(true, Ordering::SeqCst);
        self.reset();
        // Wake the accept loop so it sees `closed`.
        let _ = TcpStream::connect(self.address);
    }
}

fn pump(from: std::io::Result<TcpStream>, to: std::io::Result<TcpStream>, state: Arc<State>) {
    let (Ok(mut from), Ok(mut to)) = (from, to) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if state.blackholed.load(Ordering::SeqCst) {
                        continue;
                    }
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
