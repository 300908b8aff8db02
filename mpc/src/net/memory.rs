//! [`MemoryNetwork`]: `n` parties in one process, one unbounded channel per ordered pair.
//!
//! For tests, examples and the local demo. A party whose endpoint is dropped (its task ended,
//! failed or panicked) is reported as [`NetError::PeerGone`] to everyone waiting on it, and a
//! receive gives up after the deadline (when running inside a tokio runtime with a timer).

use bytes::Bytes;
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::{NetError, Network, Round};
use crate::party::PartyId;

/// How long a receive waits by default before reporting the peer as silent.
pub const DEFAULT_RECV_TIMEOUT: Duration = Duration::from_secs(120);

type Frame = (Round, Bytes);

/// One party's endpoint of an in-process mesh.
pub struct MemoryNetwork {
    me: PartyId,
    to: Vec<Option<UnboundedSender<Frame>>>,
    from: Vec<Option<UnboundedReceiver<Frame>>>,
    timeout: Duration,
}

impl MemoryNetwork {
    /// Endpoints for `n` fully connected parties, in party order.
    pub fn mesh(n: usize) -> Vec<MemoryNetwork> {
        let mut nets: Vec<MemoryNetwork> = (0..n)
            .map(|i| MemoryNetwork {
                me: PartyId(i as u16),
                to: (0..n).map(|_| None).collect(),
                from: (0..n).map(|_| None).collect(),
                timeout: DEFAULT_RECV_TIMEOUT,
            })
            .collect();
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    let (tx, rx) = unbounded_channel();
                    nets[i].to[j] = Some(tx);
                    nets[j].from[i] = Some(rx);
                }
            }
        }
        nets
    }

    /// Sets how long a receive waits before reporting [`NetError::Timeout`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn no_such_peer(&self, peer: PartyId) -> NetError {
        NetError::NoSuchPeer {
            peer,
            n: self.to.len(),
        }
    }
}

impl Network for MemoryNetwork {
    fn me(&self) -> PartyId {
        self.me
    }

    fn parties(&self) -> usize {
        self.to.len()
    }

    fn send(&mut self, to: PartyId, round: Round, payload: Bytes) -> Result<(), NetError> {
        let link = self
            .to
            .get(to.index())
            .and_then(|l| l.as_ref())
            .ok_or_else(|| self.no_such_peer(to))?;
        // A closed receiver means the peer is gone; the loss shows up on our next receive
        // from it, or in the peer's own failure, so a send to a departed peer is not an error.
        let _ = link.send((round, payload));
        Ok(())
    }

    async fn recv(&mut self, from: PartyId, round: Round) -> Result<Bytes, NetError> {
        let timeout = self.timeout;
        let rx = match self.from.get_mut(from.index()).and_then(|l| l.as_mut()) {
            Some(rx) => rx,
            None => {
                return Err(NetError::NoSuchPeer {
                    peer: from,
                    n: self.to.len(),
                });
            }
        };
        let frame = if tokio::runtime::Handle::try_current().is_ok() {
            match tokio::time::timeout(timeout, rx.recv()).await {
                Ok(frame) => frame,
                Err(_) => {
                    return Err(NetError::Timeout {
                        peer: from,
                        round,
                        millis: timeout.as_millis() as u64,
                    });
                }
            }
        } else {
            rx.recv().await
        };
        match frame {
            None => Err(NetError::PeerGone(from)),
            Some((got, _)) if got != round => Err(NetError::RoundMismatch {
                peer: from,
                expected: round,
                got,
            }),
            Some((_, payload)) => Ok(payload),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_arrive_in_order_and_departures_are_named() {
        let mut nets = MemoryNetwork::mesh(3);
        let _p2 = nets.pop().unwrap();
        let mut p1 = nets.pop().unwrap();
        let mut p0 = nets.pop().unwrap();
        p0.send(PartyId(1), Round(0), Bytes::from_static(&[1]))
            .unwrap();
        p0.send(PartyId(1), Round(1), Bytes::from_static(&[2]))
            .unwrap();
        assert_eq!(&p1.recv(PartyId(0), Round(0)).await.unwrap()[..], &[1]);
        let err = p1.recv(PartyId(0), Round(2)).await.unwrap_err();
        assert!(matches!(err, NetError::RoundMismatch { .. }), "{err}");
        drop(p0);
        assert_eq!(
            p1.recv(PartyId(0), Round(3)).await.unwrap_err(),
            NetError::PeerGone(PartyId(0))
        );
        assert!(matches!(
            p1.send(PartyId(7), Round(0), Bytes::new()),
            Err(NetError::NoSuchPeer { .. })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_times_out() {
        let mut nets = MemoryNetwork::mesh(2);
        let _p1 = nets.pop().unwrap();
        let mut p0 = nets.pop().unwrap().with_timeout(Duration::from_secs(5));
        let err = p0.recv(PartyId(1), Round(0)).await.unwrap_err();
        assert!(
            matches!(
                err,
                NetError::Timeout {
                    peer: PartyId(1),
                    ..
                }
            ),
            "{err}"
        );
    }
}
