//! systemd's notify protocol (`Type=notify` units): one datagram to
//! `$NOTIFY_SOCKET`. A dozen lines; no crate needed.

use std::os::unix::net::UnixDatagram;

/// Sends `state` (e.g. "READY=1\nSTATUS=registered") when systemd asked
/// for notifications; does nothing otherwise.
pub fn notify(state: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let socket = socket.to_string_lossy().into_owned();
    let sent = UnixDatagram::unbound().and_then(|sock| {
        if let Some(abstract_name) = socket.strip_prefix('@') {
            use std::os::linux::net::SocketAddrExt;
            let addr =
                std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes())?;
            sock.send_to_addr(state.as_bytes(), &addr)
        } else {
            sock.send_to(state.as_bytes(), &socket)
        }
    });
    if let Err(err) = sent {
        tracing::debug!("sd_notify to {socket}: {err}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sends_one_datagram_to_the_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        std::env::set_var("NOTIFY_SOCKET", &path);
        super::notify("READY=1\nSTATUS=registered");
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=registered");
    }
}
