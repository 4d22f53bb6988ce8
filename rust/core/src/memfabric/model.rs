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
//! accesses become responses (or complete local requests); requesters issue
//! while they have free tags (and their issue interval allows); the network
//! steps; devices free the slots of responses whose last flit left, then
//! take arriving flits while they have room (a request message reserves
//! its slots at its first flit to arrive; a request is one packet, so the
//! rest follows; responses are always taken: their requester holds a tag
//! for them); delivered requests enter their stack, delivered responses
//! complete their request.

use super::address::AddressMap;
use super::device::{advance_due, next_wake, Device, Finished};
use super::requester::Requester;
use crate::engine::{Activity, Model};
use crate::error::{Result, WaitingChannel};
use crate::ids::MsgId;
use crate::network::Network;
use crate::spec::memfabric::ProtocolSpec;
use crate::spec::LinkParams;
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
    /// The messages that carried its request and its response (`NONE` for
    /// a local request).
    pub request_msg: Vec<u32>,
    pub response_msg: Vec<u32>,
}

impl Rows {
    /// A row for a request requester `q` issued at `t` (its later times
    /// and messages not reached yet); returns its index.
    pub(crate) fn issued(&mut self, q: usize, a: &super::requester::Access, t: Ps) -> u32 {
        let row = self.issue_ps.len() as u32;
        self.requester.push(q as u32);
        self.device.push(a.device);
        self.write.push(a.write);
        self.addr.push(a.addr);
        self.issue_ps.push(t);
        self.device_ps.push(NEVER_PS);
        self.memory_ps.push(NEVER_PS);
        self.complete_ps.push(NEVER_PS);
        self.request_msg.push(NONE);
        self.response_msg.push(NONE);
        row
    }

    fn msg_of(&mut self, request: bool) -> &mut Vec<u32> {
        if request {
            &mut self.request_msg
        } else {
            &mut self.response_msg
        }
    }
}

/// Every message sent (requests and responses), in order: the rows of the
/// network result's messages. A message carries one request (or response)
/// or, packed, several bound for the same endpoint: its rows form a list.
#[derive(Clone, Debug, Default)]
pub struct Messages {
    pub src: Vec<u32>,
    pub dst: Vec<u32>,
    pub bytes: Vec<u64>,
    pub vc: Vec<u8>,
    pub inject_ps: Vec<Ps>,
    /// Its first and last request rows, and how many it carries.
    pub first_row: Vec<u32>,
    pub(crate) last_row: Vec<u32>,
    pub items: Vec<u32>,
}

impl Messages {
    /// A new message of one item (row `row`); returns its index.
    pub(crate) fn open(&mut self, src: u32, dst: u32, bytes: u64, vc: u8, at: Ps, row: u32) -> u32 {
        let m = self.src.len() as u32;
        self.src.push(src);
        self.dst.push(dst);
        self.bytes.push(bytes);
        self.vc.push(vc);
        self.inject_ps.push(at);
        self.first_row.push(row);
        self.last_row.push(row);
        self.items.push(1);
        m
    }

    /// Packs row `row` of `bytes` into message `m`, at the end of its list
    /// (`next_row`: per row, the next row of its message).
    pub(crate) fn append(&mut self, m: usize, row: u32, bytes: u64, next_row: &mut [u32]) {
        next_row[self.last_row[m] as usize] = row;
        self.last_row[m] = row;
        self.items[m] += 1;
        self.bytes[m] += bytes;
    }
}

/// What a message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Request,
    Response,
}

/// No row / no message.
pub const NONE: u32 = u32::MAX;

/// How many unstarted messages of a network interface packing looks back
/// through for one bound to the same endpoint (flits carry a message's items;
/// messages for other endpoints may sit in between).
pub(crate) const PACK_DEPTH: usize = 16;

/// What the protocol needs of the link to pack messages.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Packing {
    on: bool,
    mtu: u64,
    overhead: u64,
    flit_payload: u64,
}

impl Packing {
    pub fn new(protocol: &ProtocolSpec, p: &LinkParams) -> Self {
        Self {
            on: protocol.pack,
            mtu: p.mtu_bytes as u64,
            overhead: p.packet_overhead_bytes as u64,
            flit_payload: p.flit_payload_bytes as u64,
        }
    }

    /// Whether a message of `kind` holding `items` items of `payload` bytes
    /// in all fits one flit with their header slots (a request stays one
    /// packet: a device reserves room for a request message at its first
    /// flit, so its flits must arrive together); the overhead bytes its
    /// items beyond its packets add.
    pub fn fits(&self, kind: Kind, items: u64, payload: u64) -> Option<u64> {
        if !self.on {
            return None;
        }
        let packets = payload.div_ceil(self.mtu).max(1);
        let extra = items.saturating_sub(packets) * self.overhead;
        let one_packet = kind == Kind::Response || packets == 1;
        (one_packet && payload + packets * self.overhead + extra <= self.flit_payload)
            .then_some(extra)
    }
}

pub struct MemoryFabric {
    pub net: Network,
    clock: ClockDomain,
    pub devices: Vec<Device>,
    pub requesters: Vec<Requester>,
    map: AddressMap,
    pub rows: Rows,
    /// Per row: the next row in the list of the message carrying it.
    next_row: Vec<u32>,
    pub messages: Messages,
    msg_kind: Vec<Kind>,
    /// Per request message: its device has reserved its slots.
    reserved: Vec<bool>,
    request_vc: u8,
    response_vc: u8,
    request_header: u64,
    response_header: u64,
    device_queue: u32,
    packing: Packing,
    left: u64,
    /// Scratch (reused: no allocation per cycle).
    done: Vec<Finished>,
    feed: Vec<MsgId>,
}

impl MemoryFabric {
    pub fn new(
        mut net: Network,
        devices: Vec<Device>,
        requesters: Vec<Requester>,
        map: AddressMap,
        protocol: &ProtocolSpec,
    ) -> Self {
        let classes = protocol.classes();
        let vcs = net.params.vcs;
        net.set_message_classes(classes as usize);
        for d in &devices {
            net.hold_inputs_of(d.endpoint);
        }
        net.tally.fresh = Some(Vec::new());
        net.tally.sent = Some(Vec::new());
        let left = requesters.iter().map(|r| r.total_requests()).sum();
        let packing = Packing::new(protocol, &net.params);
        Self {
            clock: net.params.clock,
            net,
            devices,
            requesters,
            map,
            rows: Rows::default(),
            next_row: Vec::new(),
            messages: Messages::default(),
            msg_kind: Vec::new(),
            reserved: Vec::new(),
            request_vc: 0,
            response_vc: (vcs - vcs / classes) as u8,
            request_header: protocol.request_header_bytes as u64,
            response_header: protocol.response_header_bytes as u64,
            device_queue: protocol.device_queue,
            packing,
            left,
            done: Vec::new(),
            feed: Vec::new(),
        }
    }

    /// Sends `bytes` for request row `row` from `src` to `dst` at cycle `c`:
    /// packed into a message `src` has not started yet for `dst` on the same
    /// VC if they still fit one flit, else as a new message.
    fn send(&mut self, src: u32, dst: u32, bytes: u64, kind: Kind, row: u32, c: Cycle) {
        let vc = match kind {
            Kind::Request => self.request_vc,
            Kind::Response => self.response_vc,
        };
        // A row is in one request message, then (after that was delivered)
        // in one response message: its link is free again here.
        self.next_row[row as usize] = NONE;
        if let Some(m) = self.pack(src, dst, bytes, kind, vc) {
            self.messages.append(m, row, bytes, &mut self.next_row);
            self.rows.msg_of(kind == Kind::Request)[row as usize] = m as u32;
            return;
        }
        let m = self.net.inject(src, dst, bytes, vc, c);
        debug_assert_eq!(m.index(), self.msg_kind.len());
        let at = self.clock.start_ps(c);
        self.messages.open(src, dst, bytes, vc, at, row);
        self.msg_kind.push(kind);
        self.reserved.push(false);
        self.rows.msg_of(kind == Kind::Request)[row as usize] = m.0;
    }

    /// Grows an unstarted message from `src` to `dst` on `vc` (among the
    /// last `PACK_DEPTH`) by one item of `bytes` if the result fits one
    /// flit; returns it. Each item keeps its
    /// own header slot: the message's packets carry the link's per-packet
    /// overhead, and items beyond the packets add one overhead each.
    fn pack(&mut self, src: u32, dst: u32, bytes: u64, kind: Kind, vc: u8) -> Option<usize> {
        let k = self.packing;
        if !k.on {
            return None;
        }
        let fits = |items: u64, payload: u64| k.fits(kind, items, payload);
        let (kinds, log) = (&self.msg_kind, &self.messages);
        let (port, mut u) = self.net.unstarted_to(src, dst, vc, PACK_DEPTH, |m| {
            let i = m.index();
            kinds[i] == kind && fits(log.items[i] as u64 + 1, log.bytes[i] + bytes).is_some()
        })?;
        let m = u.msg.index();
        let items = self.messages.items[m] as u64 + 1;
        let payload = u.bytes + bytes;
        let extra = fits(items, payload)?;
        u.bytes = payload;
        u.extra = extra;
        self.net.grow(port, vc, u);
        Some(m)
    }

    fn complete(&mut self, row: u32, t: Ps) {
        let r = row as usize;
        self.rows.complete_ps[r] = t;
        self.requesters[self.rows.requester[r] as usize].complete(t);
        self.left -= 1;
    }

    /// Stacks run up to `t`; finished accesses answer.
    fn run_memories(&mut self, c: Cycle, t: Ps, act: &mut Activity) -> Result<()> {
        let mut done = std::mem::take(&mut self.done);
        advance_due(&mut self.devices, c, t, &mut done)?;
        for &(endpoint, row, at) in &done {
            act.progressed = true;
            let r = row as usize;
            self.rows.memory_ps[r] = at;
            let requester = self.rows.requester[r] as usize;
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
        let row = self.rows.issued(q, &a, t);
        self.next_row.push(NONE);
        if a.device == from {
            self.rows.device_ps[row as usize] = t;
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
                        let m = f.msg.index();
                        let dev = &mut self.devices[d];
                        // A message's requests take their slots together, at
                        // its first flit to arrive (its packets may come on
                        // several VCs, between other messages' packets); an
                        // empty device takes any message: no livelock.
                        if self.msg_kind[m] == Kind::Request && !self.reserved[m] {
                            let k = self.messages.items[m];
                            if dev.slots > 0 && dev.slots + k > self.device_queue {
                                break; // full: the request waits in the fabric
                            }
                            dev.slots += k;
                            self.reserved[m] = true;
                        }
                        self.net.take(dir, vc, c)?;
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
                let row = self.messages.first_row[m.index()] as usize;
                let device = self.rows.device[row] as usize;
                self.devices[device].slots -= self.messages.items[m.index()];
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
            let kind = self.msg_kind[m.index()];
            let mut next = self.messages.first_row[m.index()];
            while next != NONE {
                let row = next;
                next = self.next_row[row as usize];
                let r = row as usize;
                match kind {
                    Kind::Request => {
                        self.rows.device_ps[r] = t;
                        let bytes = self.requesters[self.rows.requester[r] as usize].bytes;
                        let (addr, write) = (self.rows.addr[r], self.rows.write[r]);
                        self.devices[self.rows.device[r] as usize].push(row, addr, bytes, write, t);
                    }
                    Kind::Response => self.complete(row, t),
                }
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
        let mem = next_wake(&self.devices);
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
        // Separate classes: every buffered flit sits in its class's share of
        // the VCs (requests below `response_vc`, responses from it on), at
        // every router input and endpoint alike.
        if self.response_vc != self.request_vc {
            let share = self.response_vc as usize;
            for d in self.net.dirs.iter() {
                for vc in 0..self.net.params.vcs as usize {
                    let (front, wrapped) = self.net.buffered(d, vc);
                    let want = if vc >= share {
                        Kind::Response
                    } else {
                        Kind::Request
                    };
                    if let Some(f) = front
                        .iter()
                        .chain(wrapped)
                        .find(|f| self.msg_kind[f.msg.index()] != want)
                    {
                        return Err(crate::error::Error::Invariant {
                            cycle: c,
                            message: format!(
                                "message class: a {:?} flit of message {} sits in VC {vc} of link {:?}->{:?}, in the {want:?} share",
                                self.msg_kind[f.msg.index()],
                                f.msg.0,
                                d.src,
                                d.dst
                            ),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    fn progress(&self) -> (u64, u64) {
        let total: u64 = self.requesters.iter().map(|r| r.total_requests()).sum();
        (total - self.left, total)
    }

    fn cyclic_wait(&self) -> bool {
        self.net.cyclic_wait()
    }

    fn sampled_links(&mut self) -> Option<&mut dyn crate::link_samples::SampledLinks> {
        Some(&mut self.net)
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
