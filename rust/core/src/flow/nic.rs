//! The network interfaces' queues at flow fidelity: as in the cycle
//! engine's transmit port, each (endpoint port, VC) sends its messages one
//! after another in the order offered, and the VCs' head messages share the
//! port (round-robin there, max-min here). Only a queue's head is a flow;
//! the next starts when it has left. This keeps the pipelining of a
//! schedule's chunks (chunk 0 arrives first, not all chunks together).

use std::collections::VecDeque;

pub(crate) struct Nics {
    vcs: u32,
    /// Per (port, VC): the messages offered and not yet sent, head first.
    queues: Vec<VecDeque<u32>>,
    /// Per message: its queue.
    queue_of: Vec<u32>,
}

impl Nics {
    pub fn new(ports: usize, vcs: u32) -> Self {
        Self {
            vcs,
            queues: (0..ports * vcs as usize).map(|_| VecDeque::new()).collect(),
            queue_of: Vec::new(),
        }
    }

    /// Queues message `msg` on `port`'s `vc`; true when it is the head
    /// (its flow starts now).
    pub fn offer(&mut self, msg: u32, port: u32, vc: u32) -> bool {
        let q = port * self.vcs + vc;
        if self.queue_of.len() <= msg as usize {
            self.queue_of.resize(msg as usize + 1, u32::MAX);
        }
        self.queue_of[msg as usize] = q;
        let queue = &mut self.queues[q as usize];
        queue.push_back(msg);
        queue.len() == 1
    }

    /// The port message `msg` leaves on.
    pub fn port_of(&self, msg: u32) -> u32 {
        self.queue_of[msg as usize] / self.vcs
    }

    /// Message `msg` (its queue's head) has left: the next one of its
    /// queue, whose flow starts now, if any.
    pub fn sent(&mut self, msg: u32) -> Option<u32> {
        let queue = &mut self.queues[self.queue_of[msg as usize] as usize];
        let head = queue.pop_front();
        debug_assert_eq!(head, Some(msg));
        queue.front().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_sends_in_order_and_vcs_are_apart() {
        let mut n = Nics::new(2, 2);
        assert!(n.offer(0, 1, 0));
        assert!(!n.offer(1, 1, 0));
        assert!(n.offer(2, 1, 1), "another VC has its own queue");
        assert!(!n.offer(3, 1, 0));
        assert_eq!(n.port_of(3), 1);
        assert_eq!(n.sent(0), Some(1));
        assert_eq!(n.sent(1), Some(3));
        assert_eq!(n.sent(3), None);
        assert_eq!(n.sent(2), None);
    }
}
