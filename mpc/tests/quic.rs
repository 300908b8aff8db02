//! The QUIC mesh on loopback: the real engine over it, pinned keys, frame limits, noise on the
//! port, and a peer that leaves. Every address is 127.0.0.1 with an ephemeral port.

use bytes::Bytes;
use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mpc::identity::Identity;
use mpc::net::{NetError, Network, Round, SessionId};
use mpc::quic::{
    MeshConfig, Peer, QuicError, QuicMesh, QuicNetwork, QuicNode, local_mesh, local_meshes,
};
use mpc::{Engine, EngineConfig, MulProtocol, Params, PartyId};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn quick() -> MeshConfig {
    MeshConfig {
        recv_timeout_ms: 10_000,
        connect_timeout_ms: 10_000,
        linger_ms: 1_000,
        ..MeshConfig::default()
    }
}

fn seed(party: usize) -> [u8; 32] {
    let mut s = [7u8; 32];
    s[0] = party as u8;
    s
}

/// Products and comparisons of two private batches, opened.
async fn mul_and_compare(
    net: QuicNetwork,
    params: Params,
    mul: MulProtocol,
    a: Vec<i128>,
    b: Vec<i128>,
) -> mpc::Result<(Vec<i128>, Vec<i128>)> {
    let me = net.me();
    let mut e: Engine<QuicNetwork> = Engine::new(
        net,
        params,
        EngineConfig {
            mul,
            check_openings: true,
        },
        seed(me.index()),
    )?;
    let len = a.len();
    let x = e
        .input_ints(PartyId(0), (me == PartyId(0)).then_some(&a[..]), len, 40)
        .await?;
    let y = e
        .input_ints(PartyId(1), (me == PartyId(1)).then_some(&b[..]), len, 40)
        .await?;
    let p = e.mul(&x, &y).await?;
    let lt = e.lt(&x, &y).await?;
    Ok((e.open_ints(&p).await?, e.open_ints(&lt).await?))
}

fn batches(seed: u64, len: usize) -> (Vec<i128>, Vec<i128>) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut draw = || {
        (0..len)
            .map(|_| rng.random_range(-(1i128 << 30)..(1i128 << 30)))
            .collect::<Vec<_>>()
    };
    (draw(), draw())
}

async fn run_engine(nets: Vec<QuicNetwork>, mul: MulProtocol, a: Vec<i128>, b: Vec<i128>) {
    let params = Params::new(nets.len(), 1).unwrap();
    let tasks: Vec<_> = nets
        .into_iter()
        .map(|net| tokio::spawn(mul_and_compare(net, params, mul, a.clone(), b.clone())))
        .collect();
    let want_p: Vec<i128> = a.iter().zip(&b).map(|(x, y)| x * y).collect();
    let want_lt: Vec<i128> = a.iter().zip(&b).map(|(x, y)| (x < y) as i128).collect();
    for (i, t) in tasks.into_iter().enumerate() {
        let (p, lt) = t
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("party {i}: {e}"));
        assert_eq!(p, want_p, "products at party {i}");
        assert_eq!(lt, want_lt, "comparisons at party {i}");
    }
}

/// Every party sends `tag` to every other in round `round` and checks what it receives.
async fn exchange(nets: &mut [QuicNetwork], round: u32, tag: u8) {
    let n = nets.len();
    for net in nets.iter_mut() {
        let me = net.me();
        for to in (0..n as u16).map(PartyId).filter(|&p| p != me) {
            net.send(to, Round(round), Bytes::from(vec![tag, me.0 as u8]))
                .unwrap();
        }
    }
    for net in nets.iter_mut() {
        let me = net.me();
        for from in (0..n as u16).map(PartyId).filter(|&p| p != me) {
            let got = net
                .recv(from, Round(round))
                .await
                .unwrap_or_else(|e| panic!("party {me}: {e}"));
            assert_eq!(got, vec![tag, from.0 as u8]);
        }
    }
}

fn sessions(meshes: &[QuicMesh], id: u64) -> Vec<QuicNetwork> {
    meshes
        .iter()
        .map(|m| m.session(SessionId(id)).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_engine_matches_the_clear_computation() {
    let (a, b) = batches(1, 300);
    run_engine(local_mesh(3).await.unwrap(), MulProtocol::Dn07, a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_sessions_share_a_mesh() {
    let meshes = local_meshes(&vec![quick(); 3]).await.unwrap();
    // Two jobs at once over the same connections, with different protocols.
    let (a, b) = batches(2, 100);
    let (c, d) = batches(3, 50);
    let first = tokio::spawn(run_engine(sessions(&meshes, 1), MulProtocol::Grr, a, b));
    let second = tokio::spawn(run_engine(sessions(&meshes, 2), MulProtocol::Dn07, c, d));
    first.await.unwrap();
    second.await.unwrap();
    // Frames sent before the receiver opens the session wait for it; an id opens once.
    let mut early = meshes[0].session(SessionId(3)).unwrap();
    early
        .send(PartyId(1), Round(0), Bytes::from_static(b"early"))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut late = meshes[1].session(SessionId(3)).unwrap();
    assert_eq!(
        &late.recv(PartyId(0), Round(0)).await.unwrap()[..],
        b"early"
    );
    assert!(matches!(
        meshes[1].session(SessionId(3)),
        Err(QuicError::SessionInUse(_))
    ));
    early.send(PartyId(1), Round(1), Bytes::new()).unwrap();
    let err = late.recv(PartyId(0), Round(2)).await.unwrap_err();
    assert_eq!(
        err,
        NetError::RoundMismatch {
            peer: PartyId(0),
            expected: Round(2),
            got: Round(1)
        }
    );
    assert!(matches!(
        late.send(PartyId(1), Round(0), Bytes::new()),
        Err(NetError::NoSuchPeer { .. })
    ));
}

/// A writer that keeps what tracing prints, to check that refusals are logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// Single-threaded, so that the subscriber set for this thread sees every task's logs.
#[tokio::test]
async fn quic_unknown_keys_are_refused_and_the_mesh_keeps_working() {
    let logs = Captured::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let meshes = local_meshes(&vec![quick(); 3]).await.unwrap();
    let victim = meshes[2].roster()[2];
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    let local = SocketAddr::from(([127, 0, 0, 1], 0));

    // An intruder with its own key dials party 2, claiming to be party 0 of a mesh of two.
    let intruder = QuicNode::bind(Identity::generate(&mut rng), local, quick()).unwrap();
    let roster = [
        Peer {
            key: intruder.public_key(),
            addr: intruder.local_addr().unwrap(),
        },
        victim,
    ];
    let err = match intruder.connect(PartyId(0), &roster).await {
        Err(e) => e,
        Ok(_) => panic!("party 2 admitted a key outside its roster"),
    };
    assert!(
        matches!(
            err,
            QuicError::Refused {
                peer: PartyId(1),
                ..
            }
        ),
        "{err}"
    );
    let printed = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let fingerprint = roster[0].key.fingerprint();
    assert!(
        printed.contains("not pinned by the roster") && printed.contains(&fingerprint),
        "{printed}"
    );

    // A dialer that expects another key at party 2's address refuses party 2 itself.
    let dialer = QuicNode::bind(Identity::generate(&mut rng), local, quick()).unwrap();
    let impostor_key = Identity::generate(&mut rng).public_key();
    let roster = [
        Peer {
            key: dialer.public_key(),
            addr: dialer.local_addr().unwrap(),
        },
        Peer {
            key: impostor_key,
            addr: victim.addr,
        },
    ];
    let err = match dialer.connect(PartyId(0), &roster).await {
        Err(e) => e,
        Ok(_) => panic!("a server with the wrong key was accepted"),
    };
    assert!(
        matches!(
            err,
            QuicError::Refused {
                peer: PartyId(1),
                ..
            }
        ),
        "{err}"
    );

    let mut nets = sessions(&meshes, 1);
    exchange(&mut nets, 0, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_oversized_frames_are_refused_naming_the_peer() {
    let small = MeshConfig {
        max_frame: 1 << 20,
        ..quick()
    };
    let meshes = local_meshes(&[small, quick(), quick()]).await.unwrap();
    let mut nets = sessions(&meshes, 1);
    // Our own limit, before anything is queued.
    let err = nets[0]
        .send(PartyId(1), Round(0), Bytes::from(vec![0; (1 << 20) + 1]))
        .unwrap_err();
    assert_eq!(
        err,
        NetError::Oversize {
            peer: PartyId(1),
            size: (1 << 20) + 1,
            limit: 1 << 20
        }
    );
    // The receiver's limit, checked on the header before the payload is read.
    nets[1]
        .send(PartyId(0), Round(0), Bytes::from(vec![0; 2 << 20]))
        .unwrap();
    let err = nets[0].recv(PartyId(1), Round(0)).await.unwrap_err();
    assert_eq!(
        err,
        NetError::Oversize {
            peer: PartyId(1),
            size: 2 << 20,
            limit: 1 << 20
        }
    );
    assert!(err.to_string().contains("party 1"), "{err}");
    // Sticky for that peer, and the other links are untouched.
    assert!(matches!(
        nets[0].recv(PartyId(1), Round(1)).await,
        Err(NetError::Oversize { .. })
    ));
    nets[2]
        .send(PartyId(0), Round(0), Bytes::from(vec![5; 1 << 20]))
        .unwrap();
    assert_eq!(
        nets[0].recv(PartyId(2), Round(0)).await.unwrap().len(),
        1 << 20
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_garbage_datagrams_do_not_disturb_a_session() {
    let meshes = local_meshes(&vec![quick(); 3]).await.unwrap();
    let noise = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    for mesh in &meshes {
        let addr = mesh.local_addr().unwrap();
        for i in 0..100usize {
            let len = [1, 20, 1200, 1500][i % 4];
            let mut junk: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            // Some look like QUIC long-header (Initial) and short-header packets.
            junk[0] = [0xc0, 0x40, junk[0], 0xff][i % 4];
            noise.send_to(&junk, addr).unwrap();
        }
    }
    let mut nets = sessions(&meshes, 1);
    exchange(&mut nets, 0, 9).await;
    let (a, b) = batches(4, 40);
    run_engine(sessions(&meshes, 2), MulProtocol::Dn07, a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_a_departed_peer_is_named() {
    let config = MeshConfig {
        recv_timeout_ms: 5_000,
        ..quick()
    };
    let mut meshes = local_meshes(&vec![config; 3]).await.unwrap();
    let mut nets = sessions(&meshes, 1);
    exchange(&mut nets, 0, 1).await;
    // Party 2 crashes mid-session: its session and its node are dropped.
    drop(nets.pop());
    drop(meshes.pop());
    for net in nets.iter_mut() {
        let err = net.recv(PartyId(2), Round(1)).await.unwrap_err();
        assert!(
            matches!(
                err,
                NetError::PeerGone(PartyId(2))
                    | NetError::Timeout {
                        peer: PartyId(2),
                        ..
                    }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("party 2"), "{err}");
    }
    // The others can still talk.
    nets[0]
        .send(PartyId(1), Round(1), Bytes::from_static(b"still here"))
        .unwrap();
    assert_eq!(
        &nets[1].recv(PartyId(0), Round(1)).await.unwrap()[..],
        b"still here"
    );
    // A session opened after the departure learns it at once.
    let mut later = meshes[0].session(SessionId(2)).unwrap();
    assert_eq!(
        later.recv(PartyId(2), Round(0)).await.unwrap_err(),
        NetError::PeerGone(PartyId(2))
    );
}

/// Binds `n` nodes with fresh keys and returns them with their roster.
fn bind_nodes(n: usize, config: &MeshConfig, rng: &mut ChaCha20Rng) -> (Vec<QuicNode>, Vec<Peer>) {
    let local = SocketAddr::from(([127, 0, 0, 1], 0));
    let nodes: Vec<QuicNode> = (0..n)
        .map(|_| QuicNode::bind(Identity::generate(rng), local, config.clone()).unwrap())
        .collect();
    let roster = nodes
        .iter()
        .map(|node| Peer {
            key: node.public_key(),
            addr: node.local_addr().unwrap(),
        })
        .collect();
    (nodes, roster)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_dialers_wait_for_late_peers_and_name_absent_ones() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    // Party 2 joins a second after the others have started dialing it.
    let (mut nodes, roster) = bind_nodes(3, &quick(), &mut rng);
    let late = nodes.pop().unwrap();
    let early: Vec<_> = nodes
        .into_iter()
        .enumerate()
        .map(|(i, node)| {
            let roster = roster.clone();
            tokio::spawn(async move { node.connect(PartyId(i as u16), &roster).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mut meshes = vec![late.connect(PartyId(2), &roster).await.unwrap()];
    for task in early {
        meshes.insert(meshes.len() - 1, task.await.unwrap().unwrap());
    }
    let mut nets = sessions(&meshes, 1);
    exchange(&mut nets, 0, 3).await;

    // Party 1 never joins: party 0 gives up at its deadline, naming it.
    let config = MeshConfig {
        connect_timeout_ms: 1_500,
        ..quick()
    };
    let (mut nodes, roster) = bind_nodes(2, &config, &mut rng);
    let _absent = nodes.pop();
    let err = match nodes.pop().unwrap().connect(PartyId(0), &roster).await {
        Err(e) => e,
        Ok(_) => panic!("a mesh formed without party 1"),
    };
    assert!(
        matches!(
            err,
            QuicError::Connect {
                peer: PartyId(1),
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("party 1"), "{err}");
}

#[tokio::test]
async fn quic_rosters_are_checked() {
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let (mut nodes, roster) = bind_nodes(3, &quick(), &mut rng);
    let node = nodes.remove(0);
    let twice = [
        roster[0],
        roster[1],
        Peer {
            key: roster[1].key,
            addr: roster[2].addr,
        },
    ];
    let err = match node.connect(PartyId(0), &twice).await {
        Err(e) => e,
        Ok(_) => panic!("a roster with a key twice was accepted"),
    };
    assert!(
        err.to_string().contains("parties 1 and 2 share key"),
        "{err}"
    );
    let node = nodes.remove(0);
    let err = match node.connect(PartyId(0), &roster).await {
        Err(e) => e,
        Ok(_) => panic!("a node joined under another party's key"),
    };
    assert!(matches!(err, QuicError::Roster(_)), "{err}");
}
