//! The QUIC mesh on loopback: the real engine over it, pinned keys, rounds cut into frames and
//! reassembled, frame and round limits, hand-made frames that break the rules, noise on the
//! port, and a peer that leaves. Every address is 127.0.0.1 with an ephemeral port.

use bytes::Bytes;
use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mpc::identity::Identity;
use mpc::net::{NetError, Network, Round, SessionId};
use mpc::quic::frame::{self, ACK_LEN, FrameHeader, Hello, decode_ack};
use mpc::quic::{
    MeshConfig, Peer, QuicError, QuicMesh, QuicNetwork, QuicNode, local_mesh, local_meshes, tls,
};
use mpc::{Engine, EngineConfig, MulProtocol, Params, PartyId};
use quinn::crypto::rustls::QuicClientConfig;
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
            ..Default::default()
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
        max_round_bytes: 1 << 20,
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
    // The receiver's limit, checked on the first header before the payload is read.
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

/// Tiny frames: every round of more than 4 KiB travels as several chunks, and a single frame
/// of more than 16 KiB would be refused.
fn tiny_frames() -> MeshConfig {
    MeshConfig {
        max_chunk: 4 << 10,
        max_frame: 16 << 10,
        ..quick()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_rounds_larger_than_a_frame_are_chunked_and_reassembled() {
    let meshes = local_meshes(&vec![tiny_frames(); 3]).await.unwrap();
    // 2000 inputs are 64 000 bytes to each peer in the input round alone, 16 chunks; the
    // comparisons' rounds are larger still.
    let (a, b) = batches(6, 2000);
    run_engine(
        sessions(&meshes, 1),
        MulProtocol::Dn07,
        a.clone(),
        b.clone(),
    )
    .await;
    run_engine(sessions(&meshes, 2), MulProtocol::Grr, a, b).await;
    // Payloads around the chunk size, empty, and far over max_frame, in consecutive rounds.
    let mut nets = sessions(&meshes, 3);
    let sizes = [0, 1, 4095, 4096, 4097, 3 * 4096, (1 << 20) + 5, 0, 7];
    let payload = |round: usize, len: usize| -> Vec<u8> {
        (0..len).map(|i| (i * 31 + round * 7) as u8).collect()
    };
    for (round, &len) in sizes.iter().enumerate() {
        nets[0]
            .send(
                PartyId(2),
                Round(round as u32),
                Bytes::from(payload(round, len)),
            )
            .unwrap();
    }
    for (round, &len) in sizes.iter().enumerate() {
        let got = nets[2].recv(PartyId(0), Round(round as u32)).await.unwrap();
        assert_eq!(got.len(), len, "round {round}");
        assert!(got == payload(round, len), "round {round}'s bytes");
    }
}

#[test]
fn quic_chunks_must_fit_the_frame_limit() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _inside = runtime.enter();
    let mut rng = ChaCha20Rng::seed_from_u64(20);
    let local = SocketAddr::from(([127, 0, 0, 1], 0));
    for bad in [
        MeshConfig {
            max_chunk: 0,
            ..quick()
        },
        MeshConfig {
            max_chunk: 32 << 10,
            ..tiny_frames()
        },
    ] {
        match QuicNode::bind(Identity::generate(&mut rng), local, bad) {
            Err(QuicError::Config(reason)) => assert!(reason.contains("max_chunk"), "{reason}"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a chunk size of 0 or over max_frame was accepted"),
        }
    }
}

/// A two-party mesh whose party 0 is played by hand (TLS with its pinned key, the hello,
/// then whatever frames the test writes) and party 1 is a real node with `config`.
async fn hand_made_peer(
    config: MeshConfig,
) -> (QuicMesh, quinn::Endpoint, quinn::Connection, Identity) {
    let mut rng = ChaCha20Rng::seed_from_u64(21);
    let local = SocketAddr::from(([127, 0, 0, 1], 0));
    let me = Identity::generate(&mut rng);
    let node = QuicNode::bind(Identity::generate(&mut rng), local, config).unwrap();
    let endpoint = quinn::Endpoint::client(local).unwrap();
    let roster = [
        Peer {
            key: me.public_key(),
            addr: endpoint.local_addr().unwrap(),
        },
        Peer {
            key: node.public_key(),
            addr: node.local_addr().unwrap(),
        },
    ];
    let target = roster[1];
    let joined = tokio::spawn(async move { node.connect(PartyId(1), &roster).await });
    let tls = tls::client_config(&me, target.key).unwrap();
    let client = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls).unwrap()));
    let conn = endpoint
        .connect_with(client, target.addr, "quorate.invalid")
        .unwrap()
        .await
        .unwrap();
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let hello = Hello {
        from: PartyId(0),
        to: PartyId(1),
        parties: 2,
    };
    send.write_all(&hello.encode()).await.unwrap();
    send.finish().unwrap();
    let mut ack = [0u8; ACK_LEN];
    recv.read_exact(&mut ack).await.unwrap();
    assert_eq!(decode_ack(&ack), Ok(0));
    (joined.await.unwrap().unwrap(), endpoint, conn, me)
}

fn chunk(session: u64, round: u32, total: u64, offset: u64, len: u32) -> FrameHeader {
    FrameHeader {
        session: SessionId(session),
        round: Round(round),
        total,
        offset,
        len,
    }
}

/// Opens a stream and writes `frames` (each header with `len` bytes after it), leaving the
/// stream open so that what the receiver reports is the frames' fault. Writes may fail once
/// the receiver has stopped the stream.
async fn write_frames(conn: &quinn::Connection, frames: &[FrameHeader]) -> quinn::SendStream {
    let mut stream = conn.open_uni().await.unwrap();
    for h in frames {
        let _ = stream.write_all(&h.encode()).await;
        let _ = stream.write_all(&vec![7u8; h.len as usize]).await;
    }
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_bad_chunk_sequences_are_refused_naming_the_peer() {
    let config = MeshConfig {
        max_chunk: 16 << 10,
        max_frame: 64 << 10,
        max_round_bytes: 1 << 20,
        ..quick()
    };
    let (mesh, endpoint, conn, me) = hand_made_peer(config).await;
    let mut open = Vec::new();
    // Session 1: a round announced over max_round_bytes, refused on its first header.
    open.push(write_frames(&conn, &[chunk(1, 0, 1 << 30, 0, 100)]).await);
    // Session 2: a frame over max_frame inside a round that is within its limit.
    open.push(write_frames(&conn, &[chunk(2, 0, 1 << 20, 0, 100_000)]).await);
    // Sessions 3 to 7: an overlap, a gap, a changed total, another round inside a payload,
    // a stream that ends inside a payload.
    let bad: [(&[FrameHeader], &str); 5] = [
        (
            &[chunk(3, 0, 1000, 0, 400), chunk(3, 0, 1000, 300, 400)],
            "at offset 300, expected at 400",
        ),
        (
            &[chunk(4, 0, 1000, 0, 400), chunk(4, 0, 1000, 500, 400)],
            "at offset 500, expected at 400",
        ),
        (
            &[chunk(5, 0, 1000, 0, 400), chunk(5, 0, 2000, 400, 400)],
            "announces 2000 bytes in all, its first chunk 1000",
        ),
        (
            &[chunk(6, 0, 1000, 0, 400), chunk(6, 1, 100, 0, 100)],
            "a frame of round 1 inside the payload of round 0",
        ),
        (
            &[chunk(7, 0, 1000, 0, 400)],
            "stream ended 400 bytes into the 1000-byte payload of round 0",
        ),
    ];
    for (frames, _) in &bad {
        let mut stream = write_frames(&conn, frames).await;
        if frames.len() == 1 {
            stream.finish().unwrap();
        }
        open.push(stream);
    }
    // Session 8: a good payload in three chunks, then a frame of the old version.
    let mut good = write_frames(
        &conn,
        &[
            chunk(8, 0, 2500, 0, 1000),
            chunk(8, 0, 2500, 1000, 1000),
            chunk(8, 0, 2500, 2000, 500),
        ],
    )
    .await;
    let mut old = chunk(8, 1, 3, 0, 3).encode();
    old[0] = 1;
    good.write_all(&old[..17]).await.unwrap();
    good.write_all(&[0u8; 19]).await.unwrap();

    let party0 = PartyId(0);
    let mut net = mesh.session(SessionId(1)).unwrap();
    let err = net.recv(party0, Round(0)).await.unwrap_err();
    assert_eq!(
        err,
        NetError::Oversize {
            peer: party0,
            size: 1 << 30,
            limit: 1 << 20
        }
    );
    assert!(err.to_string().contains("party 0"), "{err}");
    let mut net = mesh.session(SessionId(2)).unwrap();
    let err = net.recv(party0, Round(0)).await.unwrap_err();
    assert_eq!(
        err,
        NetError::Oversize {
            peer: party0,
            size: 100_000,
            limit: 64 << 10
        }
    );
    for (i, (_, reason)) in bad.iter().enumerate() {
        let mut net = mesh.session(SessionId(3 + i as u64)).unwrap();
        match net.recv(party0, Round(0)).await {
            Err(NetError::Transport { peer, reason: got }) => {
                assert_eq!(peer, party0);
                assert!(got.contains(reason), "session {}: {got}", 3 + i);
            }
            other => panic!("session {}: {other:?}", 3 + i),
        }
    }
    // The node still serves the peer's other sessions.
    let mut net = mesh.session(SessionId(8)).unwrap();
    assert_eq!(net.recv(party0, Round(0)).await.unwrap(), vec![7u8; 2500]);
    let err = net.recv(party0, Round(1)).await.unwrap_err();
    assert!(
        matches!(&err, NetError::Transport { peer, reason } if *peer == party0 && reason.contains("wire version 1, this node speaks 2")),
        "{err}"
    );
    // And answers, reassembled on our side by hand.
    let mut reply = mesh.session(SessionId(9)).unwrap();
    reply
        .send(party0, Round(4), Bytes::from(vec![3u8; 40_000]))
        .unwrap();
    let mut incoming = conn.accept_uni().await.unwrap();
    let mut got = Vec::new();
    let mut at = frame::Position::Boundary;
    let limits = frame::Limits {
        max_frame: 16 << 10,
        max_round_bytes: 40_000,
    };
    loop {
        let mut h = [0u8; frame::HEADER_LEN];
        incoming.read_exact(&mut h).await.unwrap();
        let h = FrameHeader::decode(&h).unwrap();
        let len = h.check(SessionId(9), at, limits).unwrap();
        let mut bytes = vec![0u8; len];
        incoming.read_exact(&mut bytes).await.unwrap();
        got.extend_from_slice(&bytes);
        at = h.after();
        if at == frame::Position::Boundary {
            break;
        }
    }
    assert_eq!(got, vec![3u8; 40_000]);

    // A dialer speaking the old wire version fails the TLS handshake (ALPN).
    let mut tls_v1 = tls::client_config(&me, mesh.roster()[1].key).unwrap();
    tls_v1.alpn_protocols = vec![b"quorate-mesh/1".to_vec()];
    let client = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls_v1).unwrap()));
    let err = endpoint
        .connect_with(client, mesh.roster()[1].addr, "quorate.invalid")
        .unwrap()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, quinn::ConnectionError::ConnectionClosed(c) if c.error_code == quinn::TransportErrorCode::crypto(120)),
        "{err}"
    );
    drop(open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_payloads_sent_before_a_peer_leaves_are_delivered_first() {
    // The last round of a job: party 0 sends large payloads and closes its node at once; the
    // connection's loss must not overtake what party 0 sent (and QUIC acknowledged) before.
    for attempt in 0..10 {
        let mut meshes = local_meshes(&vec![quick(); 2]).await.unwrap();
        let mut nets = sessions(&meshes, 1);
        let sizes = [24 << 20, 24 << 20, 5];
        for (round, &len) in sizes.iter().enumerate() {
            nets[0]
                .send(
                    PartyId(1),
                    Round(round as u32),
                    Bytes::from(vec![round as u8; len]),
                )
                .unwrap();
        }
        let mut receiver = nets.pop().unwrap();
        drop(nets);
        let _kept = meshes.pop();
        drop(meshes);
        for (round, &len) in sizes.iter().enumerate() {
            let got = receiver
                .recv(PartyId(0), Round(round as u32))
                .await
                .unwrap_or_else(|e| panic!("attempt {attempt}, round {round}: {e}"));
            assert_eq!(got.len(), len);
        }
        assert_eq!(
            receiver.recv(PartyId(0), Round(3)).await.unwrap_err(),
            NetError::PeerGone(PartyId(0))
        );
    }
}

/// Issue 20: a formation given up by its caller (its future dropped, as a timeout does) stops
/// its accept loop and closes its endpoint, so the port can be bound again at once. Before, a
/// stray accept loop kept the endpoint, and every later formation failed with "Address already
/// in use" until the process restarted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_formation_given_up_frees_its_port() {
    let mut rng = ChaCha20Rng::seed_from_u64(20);
    let (me, other) = (Identity::generate(&mut rng), Identity::generate(&mut rng));
    let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let node = QuicNode::bind(me.clone(), local, quick()).unwrap();
    let addr = node.local_addr().unwrap();
    // The other party's port answers nobody: the formation waits for it.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let roster = vec![
        Peer {
            key: me.public_key(),
            addr,
        },
        Peer {
            key: other.public_key(),
            addr: silent.local_addr().unwrap(),
        },
    ];
    let forming = node.connect(PartyId(0), &roster);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), forming)
            .await
            .is_err(),
        "the formation cannot complete"
    );
    // The port is free again within a short bound (quinn drains the closed endpoint).
    let mut rebound = None;
    for _ in 0..50 {
        match QuicNode::bind(me.clone(), addr, quick()) {
            Ok(node) => {
                rebound = Some(node);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(
        rebound.is_some(),
        "{addr} is still bound 5 s after the formation was dropped"
    );
}
