//! Symbolic verification of a collective schedule, at any scale: the
//! schedule runs on symbols instead of data, and every buffer of the
//! collective's layout must end holding what the collective promises.
//!
//! ```text
//!  buffer = (piece label, contributions)   contributions = (count, sum of the
//!  send -> snapshot; recv -> write it       contributing ranks' random 64-bit
//!  reduce a + b (same piece) ; copy         weights, wrapping): a set with a
//!  end: every layout buffer as promised     rank twice or one missing differs
//! ```
//!
//! Python's exact verifier (`fabricsim.collectives.verify`) keeps a count
//! per contributing rank: exact, and it names the operation that counted a
//! rank twice, but it needs ranks x buffers x ranks counters (32 GiB for
//! 256 ranks of a hierarchical all-reduce). Here a contribution set is 12
//! bytes; a wrong set passes only if two sums of random weights collide
//! (2^-64). Order: Kahn's algorithm over the dependencies and
//! receive-after-send, lowest operation index first, as Python's.

use crate::collective::{COPY, RECV, REDUCE, SEND};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The collectives and their layouts (see `fabricsim.collectives.verify`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    AllReduce,
    ReduceScatter,
    AllGather,
    AllToAll,
    Broadcast,
    Reduce,
}

impl Kind {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "all_reduce" => Kind::AllReduce,
            "reduce_scatter" => Kind::ReduceScatter,
            "all_gather" => Kind::AllGather,
            "all_to_all" => Kind::AllToAll,
            "broadcast" => Kind::Broadcast,
            "reduce" => Kind::Reduce,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::AllReduce => "all_reduce",
            Kind::ReduceScatter => "reduce_scatter",
            Kind::AllGather => "all_gather",
            Kind::AllToAll => "all_to_all",
            Kind::Broadcast => "broadcast",
            Kind::Reduce => "reduce",
        }
    }
}

/// A schedule as the verifier reads it (columns, one row per operation).
pub struct Symbolic<'a> {
    pub op: &'a [u8],
    pub rank: &'a [i32],
    pub peer: &'a [i32],
    pub a: &'a [i32],
    pub b: &'a [i32],
    pub out: &'a [i32],
    pub tag: &'a [i64],
    pub bytes: &'a [i64],
    pub dep_ptr: &'a [i64],
    pub deps: &'a [i32],
    pub kind: Kind,
    pub ranks: u32,
    pub helpers: u32,
    pub pieces: u32,
    pub root: u32,
}

/// Why a schedule does not compute its collective: the first wrong
/// operation (-1 when the fault is in the final state) and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub op: i64,
    pub message: String,
}

fn fail(op: usize, message: String) -> Failure {
    Failure {
        op: op as i64,
        message,
    }
}

/// A buffer's symbol: which piece, and whose contributions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Held {
    label: i32,
    count: u32,
    sum: u64,
}

const EMPTY: Held = Held {
    label: -1,
    count: 0,
    sum: 0,
};

/// Rank `r`'s weight: fixed, odd, spread over 64 bits.
fn weight(r: u32) -> u64 {
    crate::rng::flow_hash(r, 0x5eed) | 1
}

impl Symbolic<'_> {
    /// Every column has a row per operation and the dependencies are a
    /// CSR index.
    fn check_shape(&self) -> Result<(), Failure> {
        let n = self.op.len();
        let lens = [
            self.rank.len(),
            self.peer.len(),
            self.a.len(),
            self.b.len(),
            self.out.len(),
            self.tag.len(),
            self.bytes.len(),
        ];
        let csr = self.dep_ptr.len() == n + 1
            && self.dep_ptr.first() == Some(&0)
            && self.dep_ptr.windows(2).all(|w| w[0] <= w[1])
            && self.dep_ptr.last() == Some(&(self.deps.len() as i64));
        if lens.iter().any(|&l| l != n) || !csr {
            return Err(Failure {
                op: -1,
                message: format!("the schedule's columns do not all have its {n} rows, or dep_ptr is not a CSR index of deps"),
            });
        }
        Ok(())
    }
}

/// For every receive, its send: sends and receives of one (sender,
/// receiver, tag) match in index order; -1 elsewhere.
pub fn match_receives(s: &Symbolic<'_>) -> Result<Vec<i64>, Failure> {
    s.check_shape()?;
    let n = s.op.len();
    let key = |i: usize| -> (i32, i32, i64) {
        if s.op[i] == SEND {
            (s.rank[i], s.peer[i], s.tag[i])
        } else {
            (s.peer[i], s.rank[i], s.tag[i])
        }
    };
    let keyed = |kind: u8| -> Vec<((i32, i32, i64), u32)> {
        let mut v: Vec<_> = (0..n)
            .filter(|&i| s.op[i] == kind)
            .map(|i| (key(i), i as u32))
            .collect();
        v.sort_unstable();
        v
    };
    let (sends, recvs) = (keyed(SEND), keyed(RECV));
    let mut matched = vec![-1i64; n];
    let (mut x, mut y) = (0, 0);
    while x < sends.len() || y < recvs.len() {
        let ks = sends.get(x).map(|e| e.0);
        let kr = recvs.get(y).map(|e| e.0);
        match (ks, kr) {
            (Some(a), Some(b)) if a == b => {
                let (snd, rcv) = (sends[x].1 as usize, recvs[y].1 as usize);
                if s.bytes[snd] != s.bytes[rcv] {
                    return Err(fail(
                        rcv,
                        format!(
                            "op {rcv} receives {} B but its send, op {snd}, sends {} B",
                            s.bytes[rcv], s.bytes[snd]
                        ),
                    ));
                }
                matched[rcv] = snd as i64;
                x += 1;
                y += 1;
            }
            (Some(a), b) if b.is_none_or(|b| a < b) => {
                let i = sends[x].1 as usize;
                return Err(fail(i, format!("op {i} (a send) has no matching receive")));
            }
            _ => {
                let i = recvs[y].1 as usize;
                return Err(fail(i, format!("op {i} (a receive) has no matching send")));
            }
        }
    }
    Ok(matched)
}

/// Where each (rank, buffer) lives: the layout's buffers densely, rank by
/// rank; then scratch buffers (any other index): each rank's range of them
/// densely when the ranges are compact (as generated schedules number
/// them), else by their sorted keys.
struct Slots {
    width: u64,
    layout: usize,
    scratch: Scratch,
}

enum Scratch {
    /// Per rank: its lowest scratch index and where its range starts.
    Ranges {
        low: Vec<i32>,
        start: Vec<usize>,
        len: usize,
    },
    Keys(Vec<u64>),
}

impl Slots {
    fn new(s: &Symbolic<'_>, width: u64) -> Self {
        let total = (s.ranks + s.helpers) as usize;
        let (mut low, mut high) = (vec![i32::MAX; total], vec![i32::MIN; total]);
        let mut accesses = 0usize;
        let each = |f: &mut dyn FnMut(usize, i32)| {
            for i in 0..s.op.len() {
                let r = s.rank[i] as usize;
                f(r, s.a[i]);
                if s.op[i] == REDUCE {
                    f(r, s.b[i]);
                }
                if s.op[i] != SEND {
                    f(r, s.out[i]);
                }
            }
        };
        each(&mut |r, buf| {
            if buf >= 0 && buf as u64 >= width {
                low[r] = low[r].min(buf);
                high[r] = high[r].max(buf);
                accesses += 1;
            }
        });
        let spans: Vec<usize> = (0..total)
            .map(|r| {
                if low[r] <= high[r] {
                    (high[r] - low[r]) as usize + 1
                } else {
                    0
                }
            })
            .collect();
        let dense: usize = spans.iter().sum();
        let scratch = if dense <= 2 * accesses + 1024 {
            let mut start = Vec::with_capacity(total);
            let mut at = 0;
            for span in &spans {
                start.push(at);
                at += span;
            }
            Scratch::Ranges {
                low,
                start,
                len: at,
            }
        } else {
            let mut keys = Vec::with_capacity(accesses);
            each(&mut |r, buf| {
                if buf >= 0 && buf as u64 >= width {
                    keys.push(((r as u64) << 32) | buf as u64);
                }
            });
            keys.sort_unstable();
            keys.dedup();
            Scratch::Keys(keys)
        };
        Self {
            width,
            layout: total * width as usize,
            scratch,
        }
    }

    fn len(&self) -> usize {
        self.layout
            + match &self.scratch {
                Scratch::Ranges { len, .. } => *len,
                Scratch::Keys(keys) => keys.len(),
            }
    }

    fn of(&self, r: i32, buf: i32) -> usize {
        if (buf as u64) < self.width {
            return (r as u64 * self.width + buf as u64) as usize;
        }
        self.layout
            + match &self.scratch {
                Scratch::Ranges { low, start, .. } => {
                    start[r as usize] + (buf - low[r as usize]) as usize
                }
                Scratch::Keys(keys) => {
                    let key = ((r as u64) << 32) | buf as u64;
                    keys.binary_search(&key).expect("noted")
                }
            }
    }
}

/// The initial and final symbols of the layout's buffers (`want` has
/// `None` where the final state says nothing).
fn layout(s: &Symbolic<'_>, width: u64, m: u32) -> (Vec<Held>, Vec<Option<Held>>) {
    let (n, k) = (s.ranks, s.pieces);
    let total = (n + s.helpers) as usize;
    let mut held = vec![EMPTY; total * width as usize];
    let mut want = vec![None; total * width as usize];
    let all = (0..n).fold(0u64, |acc, r| acc.wrapping_add(weight(r)));
    let owner = |piece: u32| piece.checked_div(m).unwrap_or(piece);
    let at = |r: u32, buf: u32| r as usize * width as usize + buf as usize;
    let one = |label: u32, r: u32| Held {
        label: label as i32,
        count: 1,
        sum: weight(r),
    };
    let reduced = |label: u32| Held {
        label: label as i32,
        count: n,
        sum: all,
    };
    for r in 0..n {
        for p in 0..k {
            let start = match s.kind {
                Kind::AllReduce | Kind::ReduceScatter | Kind::Reduce | Kind::AllToAll => true,
                Kind::AllGather => owner(p) == r,
                Kind::Broadcast => r == s.root,
            };
            if start {
                held[at(r, p)] = one(p, r);
            }
            let end = match s.kind {
                Kind::AllReduce => Some(reduced(p)),
                Kind::Reduce if r == s.root => Some(reduced(p)),
                Kind::ReduceScatter if owner(p) == r => Some(reduced(p)),
                Kind::AllGather => Some(one(p, owner(p))),
                Kind::Broadcast => Some(one(p, s.root)),
                _ => None,
            };
            want[at(r, p)] = end;
        }
        if s.kind == Kind::AllToAll {
            for i in 0..n {
                for t in 0..m {
                    want[at(r, k + i * m + t)] = Some(one(r * m + t, i));
                }
            }
        }
    }
    (held, want)
}

/// Per op, how many ops it waits for (its dependencies and its send), and
/// who waits for each op (a CSR index `ptr` into `users`).
fn waiting_lists(s: &Symbolic<'_>, matched: &[i64]) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let n_ops = s.op.len();
    let waiting: Vec<u32> = (0..n_ops)
        .map(|i| (s.dep_ptr[i + 1] - s.dep_ptr[i]) as u32 + u32::from(matched[i] >= 0))
        .collect();
    let mut ptr = vec![0u32; n_ops + 1];
    for i in 0..n_ops {
        for &d in &s.deps[s.dep_ptr[i] as usize..s.dep_ptr[i + 1] as usize] {
            ptr[d as usize + 1] += 1;
        }
        if matched[i] >= 0 {
            ptr[matched[i] as usize + 1] += 1;
        }
    }
    for i in 0..n_ops {
        ptr[i + 1] += ptr[i];
    }
    let mut fill = ptr.clone();
    let mut users = vec![0u32; ptr[n_ops] as usize];
    for (i, &m) in matched.iter().enumerate() {
        let deps = s.deps[s.dep_ptr[i] as usize..s.dep_ptr[i + 1] as usize].iter();
        let send = (m >= 0).then_some(m as i32);
        for d in deps.copied().chain(send) {
            users[fill[d as usize] as usize] = i as u32;
            fill[d as usize] += 1;
        }
    }
    (waiting, ptr, users)
}

/// Checks that `s` computes its collective; returns each receive's send.
pub fn verify(s: &Symbolic<'_>) -> Result<Vec<i64>, Failure> {
    s.check_shape()?;
    let n_ops = s.op.len();
    let total = (s.ranks + s.helpers) as i32;
    let per_rank = matches!(
        s.kind,
        Kind::ReduceScatter | Kind::AllGather | Kind::AllToAll
    );
    if per_rank && s.pieces % s.ranks != 0 {
        return Err(Failure {
            op: -1,
            message: format!(
                "{} needs pieces ({}) to be a multiple of ranks ({})",
                s.kind.name(),
                s.pieces,
                s.ranks
            ),
        });
    }
    let m = if per_rank {
        s.pieces / s.ranks
    } else {
        s.pieces
    };
    for i in 0..n_ops {
        let (r, p, kind) = (s.rank[i], s.peer[i], s.op[i]);
        let pair = kind == SEND || kind == RECV;
        if kind > COPY || !(0..total).contains(&r) || (pair && (!(0..total).contains(&p) || p == r))
        {
            return Err(fail(
                i,
                format!(
                    "op {i}: ranks must be in 0..{} and a peer another rank",
                    total - 1
                ),
            ));
        }
        let out = if kind != SEND { s.out[i] } else { 0 };
        let b = if kind == REDUCE { s.b[i] } else { 0 };
        if s.a[i].min(out).min(b) < 0 {
            return Err(fail(i, format!("op {i}: buffer indices must be >= 0")));
        }
        for &d in &s.deps[s.dep_ptr[i] as usize..s.dep_ptr[i + 1] as usize] {
            if d < 0 || d as usize >= n_ops {
                return Err(fail(
                    i,
                    format!("op {i} waits for op {d}, which does not exist"),
                ));
            }
        }
    }
    let matched = match_receives(s)?;
    let extra = if s.kind == Kind::AllToAll {
        s.ranks * m
    } else {
        0
    };
    let width = (s.pieces + extra) as u64;
    let slots = Slots::new(s, width);
    let (mut held, want) = layout(s, width, m);
    held.resize(slots.len(), EMPTY);
    // Who waits for each op (CSR), then Kahn's algorithm, lowest index first.
    // When every op waits only for ops before it (a dependency or its send),
    // that order is the index order: no queue and no waiting lists needed
    // (generated schedules are written so).
    let in_order = (0..n_ops).all(|i| {
        matched[i] < i as i64
            && s.deps[s.dep_ptr[i] as usize..s.dep_ptr[i + 1] as usize]
                .iter()
                .all(|&d| (d as usize) < i)
    });
    let (mut waiting, ptr, users) = if in_order {
        (Vec::new(), Vec::new(), Vec::new())
    } else {
        waiting_lists(s, &matched)
    };
    let mut ready: BinaryHeap<Reverse<u32>> = if in_order {
        BinaryHeap::new()
    } else {
        (0..n_ops as u32)
            .filter(|&i| waiting[i as usize] == 0)
            .map(Reverse)
            .collect()
    };
    let mut sent = vec![EMPTY; n_ops];
    let mut writer = vec![u32::MAX; held.len()];
    let mut done = 0usize;
    loop {
        let i = if in_order {
            if done == n_ops {
                break;
            }
            done
        } else {
            match ready.pop() {
                Some(Reverse(i)) => i as usize,
                None => break,
            }
        };
        done += 1;
        let (r, kind) = (s.rank[i], s.op[i]);
        let a = slots.of(r, s.a[i]);
        if kind != RECV && held[a].label < 0 {
            return Err(fail(
                i,
                format!(
                    "op {i} reads buffer {} of rank {r} before anything was written to it",
                    s.a[i]
                ),
            ));
        }
        if kind == SEND {
            sent[i] = held[a];
        } else {
            let out = slots.of(r, s.out[i]);
            held[out] = match kind {
                RECV => sent[matched[i] as usize],
                COPY => held[a],
                _ => {
                    let b = slots.of(r, s.b[i]);
                    let (x, y) = (held[a], held[b]);
                    if y.label < 0 {
                        return Err(fail(
                            i,
                            format!("op {i} reads buffer {} of rank {r} before anything was written to it", s.b[i]),
                        ));
                    }
                    if x.label != y.label {
                        return Err(fail(
                            i,
                            format!("op {i} adds piece {} to piece {}", x.label, y.label),
                        ));
                    }
                    Held {
                        label: x.label,
                        count: x.count + y.count,
                        sum: x.sum.wrapping_add(y.sum),
                    }
                }
            };
            writer[out] = i as u32;
        }
        if !in_order {
            for &u in &users[ptr[i] as usize..ptr[i + 1] as usize] {
                let w = &mut waiting[u as usize];
                *w -= 1;
                if *w == 0 {
                    ready.push(Reverse(u));
                }
            }
        }
    }
    if done < n_ops {
        let stuck = waiting.iter().position(|&w| w > 0).expect("some op waits");
        return Err(fail(
            stuck,
            format!("op {stuck} never becomes ready: a dependency cycle (a receive waiting, through its send, on itself)"),
        ));
    }
    for (slot, w) in want.iter().enumerate() {
        let Some(w) = w else { continue };
        let got = held[slot];
        if got != *w {
            let (r, buf) = (slot as u64 / width, slot as u64 % width);
            let describe = |h: Held| {
                if h.label < 0 {
                    "nothing".to_string()
                } else {
                    format!("piece {} with {} contribution(s)", h.label, h.count)
                }
            };
            let by = writer[slot];
            let last = if by == u32::MAX {
                String::new()
            } else {
                format!(", last written by op {by}")
            };
            return Err(Failure {
                op: if by == u32::MAX { -1 } else { by as i64 },
                message: format!(
                    "{}: rank {r} buffer {buf} ends with {}, not {} (or not from the right ranks){last}",
                    s.kind.name(),
                    describe(got),
                    describe(*w),
                ),
            });
        }
    }
    Ok(matched)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two ranks, one piece: each sends its copy to the other, which adds
    /// it into its own (through scratch buffer 5).
    #[allow(clippy::type_complexity)]
    fn two_rank_all_reduce() -> (
        Vec<u8>,
        Vec<i32>,
        Vec<i32>,
        Vec<i32>,
        Vec<i32>,
        Vec<i32>,
        Vec<i64>,
    ) {
        // ops: 0 send 0->1, 1 recv at 1, 2 reduce at 1, 3 send 1->0, 4 recv at 0, 5 reduce at 0
        let op = vec![SEND, RECV, REDUCE, SEND, RECV, REDUCE];
        let rank = vec![0, 1, 1, 1, 0, 0];
        let peer = vec![1, 0, -1, 0, 1, -1];
        let a = vec![0, 5, 0, 0, 5, 0];
        let b = vec![-1, -1, 5, -1, -1, 5];
        let out = vec![-1, 5, 0, -1, 5, 0];
        // the sends read the original pieces: each reduce waits for its
        // own rank's send (write after read) and its receive
        let dep_ptr = vec![0, 0, 0, 2, 2, 2, 4];
        (op, rank, peer, a, b, out, dep_ptr)
    }

    fn check(deps: &[i32]) -> Result<Vec<i64>, Failure> {
        let (op, rank, peer, a, b, out, dep_ptr) = two_rank_all_reduce();
        let tag = vec![0i64; 6];
        let bytes = vec![8i64; 6];
        let s = Symbolic {
            op: &op,
            rank: &rank,
            peer: &peer,
            a: &a,
            b: &b,
            out: &out,
            tag: &tag,
            bytes: &bytes,
            dep_ptr: &dep_ptr,
            deps,
            kind: Kind::AllReduce,
            ranks: 2,
            helpers: 0,
            pieces: 1,
            root: 0,
        };
        verify(&s)
    }

    #[test]
    fn a_correct_all_reduce_verifies_and_matches_its_receives() {
        let matched = check(&[1, 3, 4, 0]).expect("correct");
        assert_eq!(matched, vec![-1, 0, -1, -1, 3, -1]);
    }

    #[test]
    fn a_send_racing_its_own_rank_s_reduce_is_caught_in_the_final_state() {
        // rank 1's reduce no longer waits for rank 1's send (op 3): by index
        // order it adds first, and rank 1 then sends the sum: rank 0 counts
        // its own contribution twice
        let err = check(&[1, 1, 4, 0]).unwrap_err();
        assert!(
            err.message
                .contains("rank 0 buffer 0 ends with piece 0 with 3 contribution(s)"),
            "{}",
            err.message
        );
    }
}
