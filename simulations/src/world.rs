//! The shared state of a simulated session, behind every [`crate::sim_net::SimNetwork`]
//! endpoint of a run.
//!
//! Per directed link a FIFO queue of entries stamped with their virtual arrival time (a
//! message, a lost message, or the close of the connection), per party a local clock, the
//! message it waits for and its per-phase counters, and a queue of timed events: wake a party
//! when its message arrives, fire a receive deadline, crash a party. A send is computed
//! completely when it happens: the link model and the fault schedule give its arrival time, so
//! the event queue only holds the instants a blocked party must be woken at.
//!
//! A message is available to a party once its arrival time is not after the party's clock.
//! Receives wait for one named peer, so the result of a run does not depend on the order the
//! executor polls parties in, only on the seed.
//!
//! What this module does not do: poll futures ([`crate::executor`]), decide link delays
//! ([`crate::link`]) or the fault schedule ([`crate::faults`]).

use bytes::Bytes;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::task::Poll;
use std::time::Instant;

use mpc::PartyId;
use mpc::net::{NetError, NetStats, Round};

use crate::accounting::{ComputeModel, PhaseStats};
use crate::faults::{Crash, Cut, FaultPlan};
use crate::link::{BandwidthScope, LinkClock, LinkTable};

/// What a party's run ended as, from the network's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    Running,
    Finished,
    Crashed { at_ns: u64 },
}

/// The message a blocked party waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Wait {
    pub(crate) from: u16,
    pub(crate) round: u32,
    id: u64,
    timed_out: bool,
    wake_at: Option<u64>,
}

pub(crate) struct PartyState {
    pub(crate) clock: u64,
    pub(crate) status: Status,
    pub(crate) wait: Option<Wait>,
    pub(crate) phases: Vec<PhaseStats>,
    last_round: Option<u32>,
    crash: Option<Crash>,
    cpu_multiplier: f64,
    extra_delay_ns: u64,
    poll_started: Option<(Instant, u64)>,
}

#[derive(Debug)]
enum Entry {
    Msg {
        arrival: u64,
        round: u32,
        payload: Bytes,
    },
    Lost,
    Closed {
        arrival: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Event {
    Wake(u16),
    Deadline { party: u16, wait: u64 },
    Crash(u16),
}

/// The state every endpoint of a run shares.
pub(crate) struct World {
    pub(crate) n: usize,
    pub(crate) now: u64,
    links: LinkTable,
    clocks: Vec<LinkClock>,
    busy: Vec<u64>,
    queues: Vec<VecDeque<Entry>>,
    pub(crate) parties: Vec<PartyState>,
    events: BinaryHeap<Reverse<(u64, u64, Event)>>,
    seq: u64,
    faults: FaultPlan,
    compute: ComputeModel,
    recv_timeout_ns: Option<u64>,
    pub(crate) round_end: Vec<u64>,
    pub(crate) runnable: Vec<bool>,
}

impl World {
    pub(crate) fn new(
        n: usize,
        seed: u64,
        links: LinkTable,
        faults: FaultPlan,
        compute: ComputeModel,
        recv_timeout_ns: Option<u64>,
    ) -> Self {
        let parties = (0..n as u16)
            .map(|p| {
                let (cpu_multiplier, extra_delay_ns) = faults.slowness(p);
                PartyState {
                    clock: 0,
                    status: Status::Running,
                    wait: None,
                    phases: vec![PhaseStats {
                        name: "main".into(),
                        ..Default::default()
                    }],
                    last_round: None,
                    crash: faults.crash_of(p),
                    cpu_multiplier,
                    extra_delay_ns,
                    poll_started: None,
                }
            })
            .collect();
        let mut world = World {
            n,
            now: 0,
            clocks: (0..n * n)
                .map(|i| LinkClock::new(seed, (i / n) as u16, (i % n) as u16))
                .collect(),
            busy: vec![0; n * n],
            queues: (0..n * n).map(|_| VecDeque::new()).collect(),
            links,
            parties,
            events: BinaryHeap::new(),
            seq: 0,
            faults,
            compute,
            recv_timeout_ns,
            round_end: Vec::new(),
            runnable: vec![true; n],
        };
        for p in 0..n as u16 {
            if let Some(at) = world.parties[p as usize].crash.and_then(|c| c.at_ns) {
                world.schedule(at, Event::Crash(p));
            }
        }
        world
    }

    fn schedule(&mut self, at: u64, event: Event) {
        self.seq += 1;
        self.events
            .push(Reverse((at.max(self.now), self.seq, event)));
    }

    /// The time of the next pending event.
    pub(crate) fn next_event_time(&self) -> Option<u64> {
        self.events.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Advances to `time` and applies every event due then; returns the parties crashed by it.
    pub(crate) fn advance_to(&mut self, time: u64) -> Vec<u16> {
        self.now = self.now.max(time);
        let mut crashed = Vec::new();
        while let Some(&Reverse((t, _, event))) = self.events.peek() {
            if t > self.now {
                break;
            }
            self.events.pop();
            match event {
                Event::Wake(p) => self.wake(p),
                Event::Deadline { party, wait } => {
                    let state = &mut self.parties[party as usize];
                    if let Some(w) = state.wait.as_mut().filter(|w| w.id == wait) {
                        w.timed_out = true;
                        self.wake(party);
                    }
                }
                Event::Crash(p) => {
                    if self.parties[p as usize].status == Status::Running {
                        self.crash(p, self.now);
                        crashed.push(p);
                    }
                }
            }
        }
        crashed
    }

    fn wake(&mut self, p: u16) {
        if self.parties[p as usize].status == Status::Running {
            self.runnable[p as usize] = true;
        }
    }

    /// Called by the executor before polling `p`.
    pub(crate) fn start_poll(&mut self, p: u16, measured: bool) {
        let now = self.now;
        let state = &mut self.parties[p as usize];
        state.clock = state.clock.max(now);
        state.poll_started = measured.then(|| (Instant::now(), state.clock));
    }

    /// Called by the executor after polling `p`: charges measured compute time.
    pub(crate) fn end_poll(&mut self, p: u16) {
        self.charge_measured(p);
        self.parties[p as usize].poll_started = None;
    }

    pub(crate) fn measured(&self) -> bool {
        matches!(self.compute, ComputeModel::Measured { .. })
    }

    fn charge_measured(&mut self, p: u16) {
        if let (ComputeModel::Measured { scale }, Some((wall, clock0))) =
            (self.compute, self.parties[p as usize].poll_started)
        {
            let state = &mut self.parties[p as usize];
            let ns = wall.elapsed().as_nanos() as f64 * scale * state.cpu_multiplier;
            state.clock = state.clock.max(clock0 + ns as u64);
        }
    }

    fn charge(&mut self, p: u16, bytes: usize) {
        match self.compute {
            ComputeModel::None => {}
            ComputeModel::PerByte {
                ns_per_message,
                ns_per_byte,
            } => {
                let state = &mut self.parties[p as usize];
                let cost = (ns_per_message + ns_per_byte * bytes as f64) * state.cpu_multiplier;
                state.clock += cost.round() as u64;
            }
            ComputeModel::Measured { .. } => self.charge_measured(p),
        }
    }

    fn phase(&mut self, p: u16) -> &mut PhaseStats {
        self.parties[p as usize]
            .phases
            .last_mut()
            .expect("a party always has a phase")
    }

    /// Starts a named phase for `p` at its clock.
    pub(crate) fn set_phase(&mut self, p: u16, name: &str) {
        let clock = self.parties[p as usize].clock;
        let state = &mut self.parties[p as usize];
        let current = state.phases.last_mut().expect("a party always has a phase");
        current.end_ns = clock;
        if current.net == NetStats::default() && current.name == "main" {
            *current = PhaseStats {
                name: name.into(),
                start_ns: clock,
                end_ns: clock,
                net: NetStats::default(),
            };
        } else {
            state.phases.push(PhaseStats {
                name: name.into(),
                start_ns: clock,
                end_ns: clock,
                net: NetStats::default(),
            });
        }
        state.last_round = None;
    }

    /// Counts a round for `p` and applies a crash scheduled at this round or earlier instant.
    /// Returns false when `p` is (now) crashed.
    fn touch(&mut self, p: u16, round: u32) -> bool {
        let state = &mut self.parties[p as usize];
        if state.status != Status::Running {
            return false;
        }
        if let Some(c) = state.crash {
            let at_round = c.at_round.is_some_and(|r| round >= r);
            let at_time = c.at_ns.is_some_and(|t| state.clock >= t);
            if at_round || at_time {
                let at = c.at_ns.filter(|_| at_time).unwrap_or(state.clock);
                self.crash(p, at);
                return false;
            }
        }
        if state.last_round != Some(round) {
            state.last_round = Some(round);
            self.phase(p).net.rounds += 1;
        }
        true
    }

    /// Crashes `p` at `at_ns`: its connections close behind what it already sent.
    pub(crate) fn crash(&mut self, p: u16, at_ns: u64) {
        let state = &mut self.parties[p as usize];
        state.status = Status::Crashed { at_ns };
        state.clock = at_ns;
        state.wait = None;
        if let Some(phase) = state.phases.last_mut() {
            phase.end_ns = at_ns;
        }
        self.runnable[p as usize] = false;
        self.close_links(p, at_ns);
    }

    /// `p`'s program returned: its connections close.
    pub(crate) fn finish(&mut self, p: u16) {
        let state = &mut self.parties[p as usize];
        if state.status != Status::Running {
            return; // a crashed party's links closed at the crash
        }
        state.status = Status::Finished;
        let clock = state.clock;
        state
            .phases
            .last_mut()
            .expect("a party always has a phase")
            .end_ns = clock;
        state.wait = None;
        self.close_links(p, clock);
    }

    fn close_links(&mut self, p: u16, at: u64) {
        for to in 0..self.n as u16 {
            if to != p {
                let latency = self.links.model(p, to).latency_ns;
                let i = self.index(p, to);
                let arrival = self.clocks[i].order(at + latency);
                self.enqueue(p, to, Entry::Closed { arrival });
            }
        }
    }

    fn index(&self, from: u16, to: u16) -> usize {
        from as usize * self.n + to as usize
    }

    fn enqueue(&mut self, from: u16, to: u16, entry: Entry) {
        let i = self.index(from, to);
        let arrival = match entry {
            Entry::Msg { arrival, .. } | Entry::Closed { arrival } => Some(arrival),
            Entry::Lost => None,
        };
        self.queues[i].push_back(entry);
        let head = self.queues[i].len() == 1;
        let waiting = self.parties[to as usize]
            .wait
            .is_some_and(|w| w.from == from);
        if let (true, true, Some(at)) = (head, waiting, arrival) {
            self.wake_at(to, at);
        }
    }

    fn wake_at(&mut self, p: u16, at: u64) {
        let Some(w) = self.parties[p as usize].wait.as_mut() else {
            return;
        };
        if w.wake_at != Some(at) {
            w.wake_at = Some(at);
            self.schedule(at, Event::Wake(p));
        }
    }

    fn check_peer(&self, me: u16, peer: PartyId) -> Result<u16, NetError> {
        if peer.index() >= self.n || peer.0 == me {
            Err(NetError::NoSuchPeer { peer, n: self.n })
        } else {
            Ok(peer.0)
        }
    }

    /// `me` sends `payload` to `to`.
    pub(crate) fn send(
        &mut self,
        me: u16,
        to: PartyId,
        round: Round,
        payload: Bytes,
    ) -> Result<(), NetError> {
        let to = self.check_peer(me, to)?;
        if !self.touch(me, round.0) {
            return Ok(()); // a crashed party's sends go nowhere
        }
        let bytes = payload.len();
        self.charge(me, bytes);
        if !self.touch(me, round.0) {
            return Ok(());
        }
        let stats = &mut self.phase(me).net;
        stats.bytes_sent += bytes as u64;
        stats.messages_sent += 1;

        let model = *self.links.model(me, to);
        let start = self.parties[me as usize].clock + self.parties[me as usize].extra_delay_ns;
        let link = self.index(me, to);
        let busy = match self.links.scope {
            BandwidthScope::Link => link,
            BandwidthScope::Sender => self.index(me, me),
        };
        let transit = self.clocks[link].transmit(&model, start, bytes, &mut self.busy[busy]);
        let entry = match self.faults.cut(me, to, start, transit.arrival_ns) {
            Cut::Clear => Entry::Msg {
                arrival: transit.arrival_ns,
                round: round.0,
                payload,
            },
            Cut::HeldUntil(heal) => {
                let arrival = self.clocks[link].order(heal + model.latency_ns);
                Entry::Msg {
                    arrival,
                    round: round.0,
                    payload,
                }
            }
            Cut::Dropped => Entry::Lost,
        };
        self.enqueue(me, to, entry);
        Ok(())
    }

    /// `me` tries to receive the next message from `from`, which must carry `round`.
    pub(crate) fn try_recv(
        &mut self,
        me: u16,
        from: PartyId,
        round: Round,
    ) -> Poll<Result<Bytes, NetError>> {
        let from = match self.check_peer(me, from) {
            Ok(f) => f,
            Err(e) => return Poll::Ready(Err(e)),
        };
        if !self.touch(me, round.0) {
            return Poll::Pending; // crashed: the executor drops the party
        }
        let peer = PartyId(from);
        let state = &mut self.parties[me as usize];
        if state
            .wait
            .is_some_and(|w| w.timed_out && w.from == from && w.round == round.0)
        {
            state.wait = None;
            let millis = self.recv_timeout_ns.unwrap_or(0) / crate::link::NS_PER_MS;
            return Poll::Ready(Err(NetError::Timeout {
                peer,
                round,
                millis,
            }));
        }
        let clock = state.clock;
        let i = self.index(from, me);
        match self.queues[i].front() {
            Some(Entry::Msg { arrival, .. }) if *arrival <= clock => {
                let Some(Entry::Msg {
                    round: got,
                    payload,
                    ..
                }) = self.queues[i].pop_front()
                else {
                    unreachable!("the front was a message")
                };
                self.parties[me as usize].wait = None;
                if got != round.0 {
                    return Poll::Ready(Err(NetError::RoundMismatch {
                        peer,
                        expected: round,
                        got: Round(got),
                    }));
                }
                self.charge(me, payload.len());
                let clock = self.parties[me as usize].clock;
                let stats = &mut self.phase(me).net;
                stats.bytes_received += payload.len() as u64;
                stats.messages_received += 1;
                let r = round.0 as usize;
                if self.round_end.len() <= r {
                    self.round_end.resize(r + 1, 0);
                }
                self.round_end[r] = self.round_end[r].max(clock);
                Poll::Ready(Ok(payload))
            }
            Some(Entry::Closed { arrival }) if *arrival <= clock => {
                self.parties[me as usize].wait = None;
                Poll::Ready(Err(NetError::PeerGone(peer)))
            }
            front => {
                let wake = match front {
                    Some(Entry::Msg { arrival, .. } | Entry::Closed { arrival }) => Some(*arrival),
                    _ => None,
                };
                self.register_wait(me, from, round.0);
                if let Some(at) = wake {
                    self.wake_at(me, at);
                }
                Poll::Pending
            }
        }
    }

    fn register_wait(&mut self, me: u16, from: u16, round: u32) {
        let state = &mut self.parties[me as usize];
        if state
            .wait
            .is_some_and(|w| w.from == from && w.round == round)
        {
            return;
        }
        self.seq += 1;
        let id = self.seq;
        state.wait = Some(Wait {
            from,
            round,
            id,
            timed_out: false,
            wake_at: None,
        });
        let deadline = self.recv_timeout_ns.map(|t| state.clock + t);
        if let Some(at) = deadline {
            self.schedule(
                at,
                Event::Deadline {
                    party: me,
                    wait: id,
                },
            );
        }
    }
}
