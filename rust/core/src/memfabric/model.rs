//! The memory fabric as an engine model: requesters, the network and the
//! memory devices, stepped together on the fabric clock.
//!
//! ```text
//!  requester --read req (header) / write req (header + data), request VCs--> device
//!     ^                                                                        | HBM
//!     +---- read resp (header + data) / write completion (header), response VCs+
//!  local requests go straight to the requester's own stack (no fabric)
//! ```
//!
//! Per fabric cycle `c` (time `t`): the stacks run up to `t` and finished
//! accesses become responses (or complete local requests); requesters with
//! a free tag issue one request each; the network steps; devices free the
//! slots of responses whose last flit left, then take arriving flits while
//! they have room (a request reserves a slot at its first flit; responses
//! are always taken: their requester holds a tag for them); delivered
//! requests enter their stack, delivered responses complete their request.

use super::address::AddressMap;
use super::device::Device;
use super::requester::Requester;
use crate::engine::{Activity, Model};
use crate::error::{Result, WaitingChannel};
use crate::ids::MsgId;
use crate::network::Network;
use crate::time::{ClockDomain, Cycle, Ps};

/// Never reached (a time column's value for a step that did not happen).
pub const NEVER_PS: Ps = Ps::MAX;

/// One row per request issued.
#[derive(Clone, Debug, Default)]
pub struct Rows {
    pub requester: Vec<u32>,
    pub device: Vec<u32>,
    pub write: Vec<bool>,
    pub addr: Vec<u64>,
    /// Issued; reached the device (its request message delivered); its
    /// access finished in the stack; completed at the requester.
    pub issue_ps: Vec<Ps>,
    pub device_ps: Vec<Ps>,
    pub memory_ps: Vec<Ps>,
    pub complete_ps: Vec<Ps>,
}

/// Every message sent (requests and responses), in order: the rows of the
/// network result's messages.
#[derive(Clone, Debug, Default)]
pub struct Messages {
    pub src: Vec<u32>,
    pub dst: Vec<u32>,
    pub bytes: Vec<u64>,
    pub vc: Vec<u8>,
    pub inject_ps: Vec<Ps>,
    /// Its request row.
    pub row: Vec<u32>,
}

/// What a message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Request,
    Response,
}

pub struct MemoryFabric {
    pub net: Network,
    clock: ClockDomain,
    pub devices: Vec<Device>,
    pub requesters: Vec<Requester>,
    map: AddressMap,
    pub rows: Rows,
    pub messages: Messages,
    msg_kind: Vec<Kind>,
    request_vc: u8,
    response_vc: u8,
    request_header: u64,
    response_header: u64,
    device_queue: u32,
    left: u64,
    /// Scratch (reused: no allocation per cycle).
    done: Vec<(u32, Ps)>,
    feed: Vec<MsgId>,
}

impl MemoryFabric {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        mut net: Network,
        devices: Vec<Device>,
        requesters: Vec<Requester>,
        map: AddressMap,
        classes: u32,
        headers: (u32, u32),
        device_queue: u32,
    ) -> Self {
        let vcs = net.params.vcs;
        net.set_message_classes(classes as usize);
        for d in &devices {
            net.hold_inputs_of(d.endpoint);
        }
        net.tally.fresh = Some(Vec::new());
        net.tally.sent = Some(Vec::new());
        let left = requesters.iter().map(|r| r.total_requests()).sum();
        Self {
            clock: net.params.clock,
            net,
            devices,
            requesters,
            map,
            rows: Rows::default(),
            messages: Messages::default(),
            msg_kind: Vec::new(),
            request_vc: 0,
            response_vc: (vcs - vcs / classes) as u8,
            request_header: headers.0 as u64,
            response_header: headers.1 as u64,
            device_queue,
            left,
            done: Vec::new(),
            feed: Vec::new(),
        }
    }

    fn send(&mut self, src: u32, dst: u32, bytes: u64, kind: Kind, row: u32, c: Cycle) {
        let vc = match kind {
            Kind::Request => self.request_vc,
            Kind::Response => self.response_vc,
        };
        let m = self.net.inject(src, dst, bytes, vc, c);
        debug_assert_eq!(m.index(), self.msg_kind.len());
        let log = &mut self.messages;
        log.src.push(src);
        log.dst.push(dst);
        log.bytes.push(bytes);
        log.vc.push(vc);
        log.inject_ps.push(self.clock.start_ps(c));
        log.row.push(row);
        self.msg_kind.push(kind);
    }

    fn complete(&mut self, row: u32, t: Ps) {
        let r = row as usize;
        self.rows.complete_ps[r] = t;
        self.requesters[self.rows.requester[r] as usize].complete(t);
        self.left -= 1;
    }

    /// Stacks run up to `t`; finished accesses answer.
    fn run_memories(&mut self, c: Cycle, t: Ps, act: &mut Activity) -> Result<()> {
        for d in 0..self.devices.len() {
            if self.devices[d].wake(&self.clock).is_none_or(|w| w > c) {
                continue;
            }
            let mut done = std::mem::take(&mut self.done);
            self.devices[d].advance(t, &mut done)?;
            for &(row, at) in &done {
                act.progressed = true;
                let r = row as usize;
                self.rows.memory_ps[r] = at;
                let (requester, endpoint) =
                    (self.rows.requester[r] as usize, self.devices[d].endpoint);
                let from = self.requesters[requester].endpoint;
                if from == endpoint {
                    self.complete(row, t);
                } else {
                    let data = if self.rows.write[r] {
                        0
                    } else {
                        self.requesters[requester].bytes as u64
                    };
                    self.send(
                        endpoint,
                        from,
                        self.response_header + data,
                        Kind::Response,
                        row,
                        c,
                    );
                }
            }
            done.clear();
            self.done = done;
        }
        Ok(())
    }

    fn issue(&mut self, c: Cycle, t: Ps, act: &mut Activity) {
        for q in 0..self.requesters.len() {
            while self.requesters[q].can_issue(c, t) {
                self.issue_one(q, c, t);
                act.progressed = true;
            }
        }
    }

    /// Issues requester `q`'s next request at cycle `c` (time `t`).
    fn issue_one(&mut self, q: usize, c: Cycle, t: Ps) {
        let a = self.requesters[q].issue(t, &self.map);
        let (from, bytes) = (self.requesters[q].endpoint, self.requesters[q].bytes);
        let row = self.rows.issue_ps.len() as u32;
        let rows = &mut self.rows;
        rows.requester.push(q as u32);
        rows.device.push(a.device);
        rows.write.push(a.write);
        rows.addr.push(a.addr);
        rows.issue_ps.push(t);
        rows.device_ps.push(NEVER_PS);
        rows.memory_ps.push(NEVER_PS);
        rows.complete_ps.push(NEVER_PS);
        if a.device == from {
            rows.device_ps[row as usize] = t;
            self.devices[a.device as usize].push(row, a.addr, bytes, a.write, t);
        } else {
            let data = if a.write { bytes as u64 } else { 0 };
            self.send(
                from,
                a.device,
                self.request_header + data,
                Kind::Request,
                row,
                c,
            );
        }
    }

    /// Devices take the flits that arrived, as far as their queues allow.
    fn take_inputs(&mut self, c: Cycle, act: &mut Activity) -> Result<()> {
        let vcs = self.net.params.vcs as usize;
        for d in 0..self.devices.len() {
            for i in 0..self.devices[d].inputs.len() {
                let dir = self.devices[d].inputs[i];
                if self.net.dirs[dir].rx.is_empty() {
                    continue;
                }
                for vc in 0..vcs {
                    while let Some(f) = self.net.dirs[dir].rx.front(vc) {
                        let dev = &mut self.devices[d];
                        let part_way = &mut dev.receiving[i * vcs + vc];
                        if self.msg_kind[f.msg.index()] == Kind::Request && !*part_way {
                            if dev.slots >= self.device_queue {
                                break; // full: the request waits in the fabric
                            }
                            dev.slots += 1;
                            *part_way = true;
                        }
                        let f = self.net.take(dir, vc, c)?;
                        if f.is(crate::link::Flit::MSG_TAIL) {
                            self.devices[d].receiving[i * vcs + vc] = false;
                        }
                        act.progressed = true;
                    }
                }
            }
        }
        Ok(())
    }

    /// Responses whose last flit left free their device's slot.
    fn free_sent(&mut self) {
        let mut feed = std::mem::take(&mut self.feed);
        std::mem::swap(&mut feed, self.net.tally.sent.as_mut().expect("set in new"));
        for m in feed.drain(..) {
            if self.msg_kind[m.index()] == Kind::Response {
                let row = self.messages.row[m.index()] as usize;
                self.devices[self.rows.device[row] as usize].slots -= 1;
            }
        }
        self.feed = feed;
    }

    /// Requests that reached their device enter its stack; responses
    /// complete their request.
    fn deliveries(&mut self, t: Ps) {
        let mut feed = std::mem::take(&mut self.feed);
        std::mem::swap(
            &mut feed,
            self.net.tally.fresh.as_mut().expect("set in new"),
        );
        for m in feed.drain(..) {
            let row = self.messages.row[m.index()];
            let r = row as usize;
            match self.msg_kind[m.index()] {
                Kind::Request => {
                    self.rows.device_ps[r] = t;
                    let bytes = self.requesters[self.rows.requester[r] as usize].bytes;
                    let (addr, write) = (self.rows.addr[r], self.rows.write[r]);
                    self.devices[self.rows.device[r] as usize].push(row, addr, bytes, write, t);
                }
                Kind::Response => self.complete(row, t),
            }
        }
        self.feed = feed;
    }
}

impl Model for MemoryFabric {
    fn step(&mut self, c: Cycle) -> Result<Activity> {
        let t = self.clock.start_ps(c);
        let mut act = Activity::default();
        self.run_memories(c, t, &mut act)?;
        self.issue(c, t, &mut act);
        let net = self.net.step(c)?;
        act.busy |= net.busy;
        act.progressed |= net.progressed;
        self.free_sent();
        self.take_inputs(c, &mut act)?;
        self.deliveries(t);
        let next = self.clock.start_ps(c + 1);
        act.busy |= self.requesters.iter().any(|q| q.can_issue(c + 1, next));
        Ok(act)
    }

    fn account_idle(&mut self, from: Cycle, to: Cycle) {
        self.net.account_idle(from, to);
    }

    fn next_event(&self) -> Option<Cycle> {
        let net = self.net.next_event();
        let mem = self.devices.iter().filter_map(|d| d.wake(&self.clock));
        let issue = self
            .requesters
            .iter()
            .filter_map(|q| q.next_issue(&self.clock));
        net.into_iter().chain(mem).chain(issue).min()
    }

    fn done(&self) -> bool {
        self.left == 0
    }

    fn work_in_system(&self) -> bool {
        self.requesters.iter().any(|q| q.in_flight > 0)
    }

    fn min_watchdog_cycles(&self) -> u64 {
        let refresh = self
            .devices
            .iter()
            .map(|d| {
                let ck = d.ck.start_ps(d.mem.min_watchdog_cycles());
                self.clock.cycle_at_or_after(ck)
            })
            .max()
            .unwrap_or(0);
        self.net.min_watchdog_cycles() + refresh
    }

    fn check_invariants(&self, c: Cycle) -> Result<()> {
        self.net.check_invariants(c)?;
        for d in &self.devices {
            d.mem.check_invariants(c)?;
        }
        Ok(())
    }

    fn waiting(&self) -> Vec<WaitingChannel> {
        let mut out = self.net.waiting();
        let vcs = self.net.params.vcs as usize;
        for d in &self.devices {
            let blocked: Vec<usize> = d
                .inputs
                .iter()
                .flat_map(|&dir| {
                    (0..vcs).filter(move |&v| self.net.dirs[dir].rx.front(v).is_some())
                })
                .collect();
            if d.slots >= self.device_queue && !blocked.is_empty() {
                out.push(WaitingChannel {
                    node: d.endpoint,
                    port: 0,
                    vc: blocked[0] as u32,
                    reason: format!(
                        "memory device at endpoint {} is full ({} of {} requests held until their responses leave) and takes no more: a request heads its input VC {:?}, and every flit behind it waits",
                        d.endpoint, d.slots, self.device_queue, blocked
                    ),
                });
            }
        }
        out
    }
}
