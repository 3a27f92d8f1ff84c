//! Connection-level faults. Poem offers no way for a handler to close its connection without
//! answering, so the acceptor wraps every socket in a [`KillableStream`] registered by peer
//! address; a handler that wants the connection dropped flips the switch, and the stream then
//! fails every read and write, so hyper closes it before writing a byte of the response.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use poem::http::uri::Scheme;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The open connections' switches, by peer address.
#[derive(Clone, Default)]
pub(crate) struct KillSwitches {
    switches: Arc<Mutex<HashMap<SocketAddr, Arc<AtomicBool>>>>,
}

impl KillSwitches {
    /// Marks the connection from `peer` for closing; false if it is not ours (or gone).
    pub(crate) fn kill(&self, peer: &RemoteAddr) -> bool {
        let Some(addr) = peer.0.as_socket_addr() else {
            return false;
        };
        let switches = self.switches.lock().unwrap_or_else(PoisonError::into_inner);
        match switches.get(addr) {
            Some(switch) => {
                switch.store(true, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    fn register(&self, peer: SocketAddr) -> Arc<AtomicBool> {
        let switch = Arc::new(AtomicBool::new(false));
        self.switches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(peer, switch.clone());
        switch
    }

    fn forget(&self, peer: &SocketAddr) {
        self.switches
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(peer);
    }
}

/// A TCP acceptor whose connections can be killed from a handler.
pub(crate) struct KillableAcceptor {
    inner: TcpAcceptor,
    switches: KillSwitches,
}

impl KillableAcceptor {
    pub(crate) fn new(inner: TcpAcceptor, switches: KillSwitches) -> Self {
        Self { inner, switches }
    }
}

impl Acceptor for KillableAcceptor {
    type Io = KillableStream;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (stream, local, remote, scheme) = self.inner.accept().await?;
        let peer = remote.0.as_socket_addr().copied();
        let killed = match peer {
            Some(peer) => self.switches.register(peer),
            None => Arc::new(AtomicBool::new(false)),
        };
        let io = KillableStream {
            inner: stream,
            killed,
            peer,
            switches: self.switches.clone(),
        };
        Ok((io, local, remote, scheme))
    }
}

/// A TCP stream that fails all I/O once its switch is flipped.
pub(crate) struct KillableStream {
    inner: TcpStream,
    killed: Arc<AtomicBool>,
    peer: Option<SocketAddr>,
    switches: KillSwitches,
}

impl KillableStream {
    fn check(&self) -> io::Result<()> {
        if self.killed.load(Ordering::SeqCst) {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "sandbox fault: connection dropped",
            ))
        } else {
            Ok(())
        }
    }
}

impl Drop for KillableStream {
    fn drop(&mut self) {
        if let Some(peer) = &self.peer {
            self.switches.forget(peer);
        }
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
