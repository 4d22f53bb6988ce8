//! The network interfaces' queues at flow fidelity: a port sends its
//! messages to one destination on one VC one after another, in the order offered
//! (a connection's, a queue pair's or a collective channel's order: the
//! chunks of a pipelined schedule arrive one by one, chunk 0 first), while
//! messages to different destinations share the port and the fabric
//! max-min fairly.
//!
//! The cycle engine's transmit port keeps one queue per VC, whatever the
//! destinations; with the network's buffers behind it, it runs ahead of a
//! congested destination by as much as those buffers hold. The flow model
//! has no buffers, so one queue per port would stall a port behind every
//! congested destination (a convoy the cycle engine does not show: an
//! all-to-all on `dgx8_cluster4` took 3.2x the cycle engine's time);
//! docs/fidelity.md gives the error that remains, measured.

const NONE: u32 = u32::MAX;

/// The messages a port has for one destination: the head is a flow, the
/// rest wait behind it (linked through `Nics::next`).
#[derive(Clone, Copy, Debug)]
struct Queue {
    dst: u32,
    vc: u32,
    head: u32,
    tail: u32,
}

pub(crate) struct Nics {
    /// Whether a port keeps a queue per destination (and VC), or one per
    /// VC whatever the destinations (as the cycle engine's transmit port).
    per_destination: bool,
    /// Per port: the destinations it has messages for.
    queues: Vec<Vec<Queue>>,
    /// Per message: its port, and the message behind it in its queue.
    port: Vec<u32>,
    dst: Vec<u32>,
    vc: Vec<u32>,
    next: Vec<u32>,
}

impl Nics {
    pub fn new(ports: usize) -> Self {
        Self::with_queues(ports, true)
    }

    /// `per_destination`: see [`Nics`]; false for one queue per VC.
    pub fn with_queues(ports: usize, per_destination: bool) -> Self {
        Self {
            per_destination,
            queues: vec![Vec::new(); ports],
            port: Vec::new(),
            dst: Vec::new(),
            vc: Vec::new(),
            next: Vec::new(),
        }
    }

    /// Queues message `msg` on `port` for `dst` on `vc`; true when it heads
    /// its queue (its flow starts now).
    pub fn offer(&mut self, msg: u32, port: u32, dst: u32, vc: u32) -> bool {
        let m = msg as usize;
        if self.port.len() <= m {
            self.port.resize(m + 1, NONE);
            self.dst.resize(m + 1, NONE);
            self.vc.resize(m + 1, NONE);
            self.next.resize(m + 1, NONE);
        }
        self.port[m] = port;
        self.dst[m] = dst;
        self.vc[m] = vc;
        self.next[m] = NONE;
        let dst = if self.per_destination { dst } else { NONE };
        self.dst[m] = dst;
        let queues = &mut self.queues[port as usize];
        match queues.iter_mut().find(|q| q.dst == dst && q.vc == vc) {
            Some(q) => {
                self.next[q.tail as usize] = msg;
                q.tail = msg;
                false
            }
            None => {
                queues.push(Queue {
                    dst,
                    vc,
                    head: msg,
                    tail: msg,
                });
                true
            }
        }
    }

    /// The port message `msg` leaves on.
    pub fn port_of(&self, msg: u32) -> u32 {
        self.port[msg as usize]
    }

    /// Message `msg` (its queue's head) has left: the next one of its
    /// queue, whose flow starts now, if any.
    pub fn sent(&mut self, msg: u32) -> Option<u32> {
        let m = msg as usize;
        let queues = &mut self.queues[self.port[m] as usize];
        let at = queues
            .iter()
            .position(|q| q.dst == self.dst[m] && q.vc == self.vc[m])
            .expect("a message in flight heads its queue");
        debug_assert_eq!(queues[at].head, msg);
        match self.next[m] {
            NONE => {
                queues.swap_remove(at);
                None
            }
            next => {
                queues[at].head = next;
                Some(next)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_destination_gets_its_messages_in_order_and_others_go_alongside() {
        let mut n = Nics::new(2);
        assert!(n.offer(0, 1, 5, 0));
        assert!(!n.offer(1, 1, 5, 0));
        assert!(n.offer(2, 1, 6, 0), "another destination has its own queue");
        assert!(n.offer(3, 0, 5, 0), "so has another port");
        assert!(!n.offer(4, 1, 5, 0));
        assert!(n.offer(6, 1, 5, 1), "and another VC");
        assert_eq!(n.port_of(4), 1);
        assert_eq!(n.sent(0), Some(1));
        assert_eq!(n.sent(1), Some(4));
        assert_eq!(n.sent(4), None);
        assert_eq!(n.sent(2), None);
        assert_eq!(n.sent(3), None);
        assert_eq!(n.sent(6), None);
        assert!(n.offer(5, 1, 5, 0), "an emptied queue starts afresh");
    }
}
