//! The planner of `fabricsim.collectives.algorithms` in Rust, for schedules
//! too large to build an operation at a time in Python: an algorithm gives
//! its data movements as columns (made with numpy), and this adds the
//! operations and the dependencies buffer accesses need, exactly as the
//! Python `Planner` does (a read waits for the buffer's last write; a write
//! for its last write and every read since).
//!
//! ```text
//!  move        src.buf  --send/recv-->  dst.into
//!  move_reduce src.piece --send/recv--> dst.scratch ; dst.piece += dst.scratch
//! ```
//!
//! Time and memory are linear in the operations: buffers are dense slots
//! (each rank's layout buffers, then its scratch buffers), and the reads
//! since a write are a linked list in one arena.

use crate::collective::{RECV, REDUCE, SEND};

pub const MOVE: u8 = 0;
pub const MOVE_REDUCE: u8 = 1;

/// A schedule's columns, as Python's `ScheduleBuilder.build` makes them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Planned {
    pub op: Vec<u8>,
    pub rank: Vec<i32>,
    pub peer: Vec<i32>,
    pub a: Vec<i32>,
    pub b: Vec<i32>,
    pub out: Vec<i32>,
    pub tag: Vec<i64>,
    pub bytes: Vec<i64>,
    pub dep_ptr: Vec<i64>,
    pub deps: Vec<i32>,
}

const NONE: u32 = u32::MAX;

/// One buffer's accesses: its last write, and the reads since (a list
/// through `Planner::read_next`).
#[derive(Clone, Copy)]
struct Access {
    write: u32,
    reads: u32,
}

struct Planner {
    out: Planned,
    /// Per slot (see `slot`): its accesses.
    access: Vec<Access>,
    /// Layout buffers per rank, and where each rank's slots start.
    width: i32,
    first: Vec<usize>,
    read_op: Vec<u32>,
    read_next: Vec<u32>,
    scratch: Vec<i32>,
    scratch_base: i32,
    deps: Vec<i32>,
}

impl Planner {
    /// The slot of (rank, buf): a layout buffer below `width`, a scratch
    /// buffer (from `scratch_base`) after the rank's layout buffers.
    fn slot(&self, rank: i32, buf: i32) -> usize {
        let within = if buf >= self.scratch_base {
            self.width + (buf - self.scratch_base)
        } else {
            buf
        };
        self.first[rank as usize] + within as usize
    }

    fn state(&mut self, rank: i32, buf: i32) -> Access {
        self.access[self.slot(rank, buf)]
    }

    /// What a read of (rank, buf) waits for: its last write.
    fn read_deps(&mut self, rank: i32, buf: i32) {
        let w = self.state(rank, buf).write;
        if w != NONE {
            self.deps.push(w as i32);
        }
    }

    /// What a write of (rank, buf) waits for: its last write, then every
    /// read since, in the order they came.
    fn write_deps(&mut self, rank: i32, buf: i32) {
        self.read_deps(rank, buf);
        let start = self.deps.len();
        let mut r = self.state(rank, buf).reads;
        while r != NONE {
            self.deps.push(self.read_op[r as usize] as i32);
            r = self.read_next[r as usize];
        }
        self.deps[start..].reverse(); // the list is newest first
    }

    fn did_read(&mut self, rank: i32, buf: i32, op: u32) {
        let head = self.state(rank, buf).reads;
        self.read_op.push(op);
        self.read_next.push(head);
        let at = (self.read_op.len() - 1) as u32;
        let slot = self.slot(rank, buf);
        self.access[slot].reads = at;
    }

    fn did_write(&mut self, rank: i32, buf: i32, op: u32) {
        let slot = self.slot(rank, buf);
        self.access[slot] = Access {
            write: op,
            reads: NONE,
        };
    }

    /// Adds an operation waiting for `self.deps` (taken).
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        kind: u8,
        rank: i32,
        peer: i32,
        a: i32,
        b: i32,
        out: i32,
        tag: i64,
        bytes: i64,
    ) -> u32 {
        let o = &mut self.out;
        o.op.push(kind);
        o.rank.push(rank);
        o.peer.push(peer);
        o.a.push(a);
        o.b.push(b);
        o.out.push(out);
        o.tag.push(tag);
        o.bytes.push(bytes);
        o.deps.append(&mut self.deps);
        o.dep_ptr.push(o.deps.len() as i64);
        (o.op.len() - 1) as u32
    }

    fn take_scratch(&mut self, rank: i32) -> i32 {
        let i = &mut self.scratch[rank as usize];
        *i += 1;
        self.scratch_base + *i - 1
    }

    /// `Planner.move`: returns the receive.
    fn move_(&mut self, src: i32, dst: i32, buf: i32, into: i32, piece: i64, bytes: i64) -> u32 {
        self.read_deps(src, buf);
        let s = self.add(SEND, src, dst, buf, -1, -1, piece, bytes);
        self.did_read(src, buf, s);
        self.write_deps(dst, into);
        let r = self.add(RECV, dst, src, into, -1, into, piece, bytes);
        self.did_write(dst, into, r);
        r
    }

    /// `Planner.add_into`: `buf += other` at `rank`.
    fn add_into(&mut self, rank: i32, buf: i32, other: i32, bytes: i64) {
        self.write_deps(rank, buf);
        self.read_deps(rank, other);
        let op = self.add(REDUCE, rank, -1, buf, other, buf, 0, bytes);
        self.did_read(rank, other, op);
        self.did_write(rank, buf, op);
    }
}

/// Data movements as columns, one row per movement, in the order the
/// algorithm makes them (`into` is read by `MOVE` only).
pub struct Moves<'a> {
    pub kind: &'a [u8],
    pub src: &'a [i32],
    pub dst: &'a [i32],
    pub buf: &'a [i32],
    pub into: &'a [i32],
    pub piece: &'a [i64],
}

/// The schedule of `moves` over `ranks` ranks (and helpers) whose data is
/// `piece_bytes.len()` pieces; scratch buffers are numbered from
/// `scratch_base` per rank.
pub fn plan(moves: &Moves<'_>, piece_bytes: &[i64], ranks: usize, scratch_base: i32) -> Planned {
    let Moves {
        kind,
        src,
        dst,
        buf,
        into,
        piece,
    } = *moves;
    let n = kind.len();
    // Slots: every rank's layout buffers (below the largest index moved),
    // then one per move_reduce it receives (its scratch buffers).
    let width = buf
        .iter()
        .chain(into)
        .copied()
        .filter(|&b| b < scratch_base)
        .max()
        .map_or(0, |b| b + 1);
    let mut first = vec![0usize; ranks + 1];
    for i in 0..n {
        if kind[i] == MOVE_REDUCE {
            first[dst[i] as usize + 1] += 1;
        }
    }
    for r in 0..ranks {
        first[r + 1] += first[r] + width as usize;
    }
    let unused = Access {
        write: NONE,
        reads: NONE,
    };
    // (sized up front: a move is 2 operations, a move_reduce 3; reallocating
    // columns of millions of rows costs more than planning them)
    let reducing = kind.iter().filter(|&&k| k == MOVE_REDUCE).count();
    let ops = 2 * n + reducing;
    let mut dep_ptr = Vec::with_capacity(ops + 1);
    dep_ptr.push(0);
    let mut p = Planner {
        out: Planned {
            op: Vec::with_capacity(ops),
            rank: Vec::with_capacity(ops),
            peer: Vec::with_capacity(ops),
            a: Vec::with_capacity(ops),
            b: Vec::with_capacity(ops),
            out: Vec::with_capacity(ops),
            tag: Vec::with_capacity(ops),
            bytes: Vec::with_capacity(ops),
            dep_ptr,
            deps: Vec::with_capacity(2 * ops),
        },
        access: vec![unused; first[ranks]],
        width,
        first,
        read_op: Vec::with_capacity(n),
        read_next: Vec::with_capacity(n),
        scratch: vec![0; ranks],
        scratch_base,
        deps: Vec::new(),
    };
    for i in 0..n {
        let bytes = piece_bytes[piece[i] as usize];
        if kind[i] == MOVE_REDUCE {
            let tmp = p.take_scratch(dst[i]);
            p.move_(src[i], dst[i], buf[i], tmp, piece[i], bytes);
            p.add_into(dst[i], buf[i], tmp, bytes);
        } else {
            p.move_(src[i], dst[i], buf[i], into[i], piece[i], bytes);
        }
    }
    p.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_reduce_then_a_move_back_wait_as_the_planner_says() {
        // rank 0's piece 0 is added into rank 1's (through scratch 10), then
        // rank 1 sends the sum back into rank 0's piece 0
        let moves = Moves {
            kind: &[MOVE_REDUCE, MOVE],
            src: &[0, 1],
            dst: &[1, 0],
            buf: &[0, 0],
            into: &[0, 0],
            piece: &[0, 0],
        };
        let p = plan(&moves, &[8], 2, 10);
        assert_eq!(p.op, vec![SEND, RECV, REDUCE, SEND, RECV]);
        assert_eq!(p.rank, vec![0, 1, 1, 1, 0]);
        assert_eq!(p.a, vec![0, 10, 0, 0, 0]);
        assert_eq!(p.b, vec![-1, -1, 10, -1, -1]);
        // the reduce waits for its receive; the send back for the reduce (its
        // buffer's last write); the receive at 0 for rank 0's send (a read of
        // the buffer it overwrites)
        assert_eq!(p.dep_ptr, vec![0, 0, 0, 1, 2, 3]);
        assert_eq!(p.deps, vec![1, 2, 0]);
        assert_eq!(p.bytes, vec![8; 5]);
    }
}
