//! The read and write queues of one pseudo-channel, kept per bank.
//!
//! Entries live in a slab with a free list (no allocation per access); each
//! (queue, bank) pair threads its entries oldest first through a doubly
//! linked list, and a bit mask says which banks have any. A scheduler then
//! looks at banks, not at every entry: the oldest request of a bank, and its
//! oldest row hit, are at or near the head of the bank's list. Per bank the
//! queues also count the entries that hit the open row and that want another
//! row, updated on every change so that no scan has to count.

use super::controller::Entry;
use super::timing::NO_ROW;

const NIL: u32 = u32::MAX;

/// Read queue index 0, write queue index 1 (`Entry::write as usize`).
pub type Kind = usize;

#[derive(Clone, Debug)]
pub struct BankQueues {
    slots: Vec<Entry>,
    prev: Vec<u32>,
    next: Vec<u32>,
    free: Vec<u32>,
    head: [Vec<u32>; 2],
    tail: [Vec<u32>; 2],
    len: [usize; 2],
    cap: [usize; 2],
    nonempty: [u64; 2],
    /// Per queue and bank: entries hitting the open row / wanting another row.
    pub hits: [Vec<u16>; 2],
    pub conflicts: [Vec<u16>; 2],
    seq: u64,
}

impl BankQueues {
    /// Queues of `read_cap` and `write_cap` entries over `banks` (<= 64) banks.
    pub fn new(banks: usize, read_cap: usize, write_cap: usize) -> Self {
        assert!(banks <= 64, "bank masks hold 64 banks");
        let n = read_cap + write_cap;
        Self {
            slots: Vec::with_capacity(n),
            prev: Vec::with_capacity(n),
            next: Vec::with_capacity(n),
            free: Vec::new(),
            head: [vec![NIL; banks], vec![NIL; banks]],
            tail: [vec![NIL; banks], vec![NIL; banks]],
            len: [0; 2],
            cap: [read_cap, write_cap],
            nonempty: [0; 2],
            hits: [vec![0; banks], vec![0; banks]],
            conflicts: [vec![0; banks], vec![0; banks]],
            seq: 0,
        }
    }

    #[inline]
    pub fn len(&self, k: Kind) -> usize {
        self.len[k]
    }

    #[inline]
    pub fn has_room(&self, k: Kind) -> bool {
        self.len[k] < self.cap[k]
    }

    /// Banks with entries in queue `k`, as a bit mask.
    #[inline]
    pub fn nonempty(&self, k: Kind) -> u64 {
        self.nonempty[k]
    }

    #[inline]
    pub fn entry(&self, slot: u32) -> &Entry {
        &self.slots[slot as usize]
    }

    #[inline]
    pub fn entry_mut(&mut self, slot: u32) -> &mut Entry {
        &mut self.slots[slot as usize]
    }

    /// The oldest entry of queue `k` for bank `b`.
    #[inline]
    pub fn head(&self, k: Kind, b: usize) -> u32 {
        self.head[k][b]
    }

    #[inline]
    pub fn next(&self, slot: u32) -> u32 {
        self.next[slot as usize]
    }

    /// The oldest entry of queue `k` for bank `b` whose row is (`want`
    /// true) or is not (`want` false) `row`, if any.
    pub fn oldest(&self, k: Kind, b: usize, row: u32, want: bool) -> Option<u32> {
        let mut s = self.head[k][b];
        while s != NIL {
            if (self.slots[s as usize].row == row) == want {
                return Some(s);
            }
            s = self.next[s as usize];
        }
        None
    }

    /// Appends `e` (its bank's open row is `open`); returns its slot.
    pub fn push(&mut self, mut e: Entry, open: u32) -> u32 {
        let (k, b) = (e.write as usize, e.bank as usize);
        e.seq = self.seq;
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = e;
                s
            }
            None => {
                self.slots.push(e);
                self.prev.push(NIL);
                self.next.push(NIL);
                (self.slots.len() - 1) as u32
            }
        };
        let tail = self.tail[k][b];
        self.prev[slot as usize] = tail;
        self.next[slot as usize] = NIL;
        if tail == NIL {
            self.head[k][b] = slot;
        } else {
            self.next[tail as usize] = slot;
        }
        self.tail[k][b] = slot;
        self.len[k] += 1;
        self.nonempty[k] |= 1 << b;
        if open == e.row {
            self.hits[k][b] += 1;
        } else if open != NO_ROW {
            self.conflicts[k][b] += 1;
        }
        slot
    }

    /// Removes the entry in `slot` (its bank's open row is `open`).
    pub fn remove(&mut self, slot: u32, open: u32) -> Entry {
        let e = self.slots[slot as usize];
        let (k, b) = (e.write as usize, e.bank as usize);
        let (p, n) = (self.prev[slot as usize], self.next[slot as usize]);
        if p == NIL {
            self.head[k][b] = n;
        } else {
            self.next[p as usize] = n;
        }
        if n == NIL {
            self.tail[k][b] = p;
        } else {
            self.prev[n as usize] = p;
        }
        if self.head[k][b] == NIL {
            self.nonempty[k] &= !(1 << b);
        }
        self.len[k] -= 1;
        self.free.push(slot);
        if open == e.row {
            self.hits[k][b] -= 1;
        } else if open != NO_ROW {
            self.conflicts[k][b] -= 1;
        }
        e
    }

    /// Row `row` opened in bank `b`: count its hits and conflicts.
    pub fn opened(&mut self, b: usize, row: u32) {
        for k in 0..2 {
            let (mut h, mut x) = (0, 0);
            let mut s = self.head[k][b];
            while s != NIL {
                if self.slots[s as usize].row == row {
                    h += 1;
                } else {
                    x += 1;
                }
                s = self.next[s as usize];
            }
            self.hits[k][b] = h;
            self.conflicts[k][b] = x;
        }
    }

    /// Bank `b` closed: nothing hits or conflicts.
    pub fn closed(&mut self, b: usize) {
        for k in 0..2 {
            self.hits[k][b] = 0;
            self.conflicts[k][b] = 0;
        }
    }

    /// A queued write to the same access as `e`.
    pub fn has_write(&self, e: &Entry) -> bool {
        let mut s = self.head[1][e.bank as usize];
        while s != NIL {
            let w = &self.slots[s as usize];
            if w.row == e.row && w.column == e.column {
                return true;
            }
            s = self.next[s as usize];
        }
        false
    }

    /// Checks lists, masks and counts against a recount (`open[b]` is bank
    /// `b`'s open row); returns what disagrees.
    pub fn mismatch(&self, open: impl Fn(usize) -> u32) -> Option<String> {
        for k in 0..2 {
            let mut total = 0;
            for b in 0..self.head[k].len() {
                let (mut h, mut x, mut n, mut last_seq) = (0, 0, 0, None);
                let mut s = self.head[k][b];
                while s != NIL {
                    let e = &self.slots[s as usize];
                    if e.bank as usize != b || e.write as usize != k {
                        return Some(format!(
                            "slot {s} is in list ({k}, {b}) but belongs elsewhere"
                        ));
                    }
                    if last_seq.is_some_and(|q| q >= e.seq) {
                        return Some(format!("list ({k}, {b}) is not oldest first"));
                    }
                    last_seq = Some(e.seq);
                    let o = open(b);
                    if e.row == o {
                        h += 1;
                    } else if o != NO_ROW {
                        x += 1;
                    }
                    n += 1;
                    s = self.next[s as usize];
                }
                total += n;
                if (n > 0) != (self.nonempty[k] >> b & 1 == 1) {
                    return Some(format!("mask of queue {k} wrong for bank {b}"));
                }
                if (h, x) != (self.hits[k][b], self.conflicts[k][b]) {
                    return Some(format!(
                        "bank {b} queue {k}: counted {h} hits / {x} conflicts, kept {} / {}",
                        self.hits[k][b], self.conflicts[k][b]
                    ));
                }
            }
            if total != self.len[k] {
                return Some(format!(
                    "queue {k} holds {total} entries but counts {}",
                    self.len[k]
                ));
            }
        }
        None
    }
}
