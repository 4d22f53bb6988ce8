//! A schedule's dependencies as the executors walk them: which operations
//! each one releases, how many each still waits for, and the cascade of a
//! completion. The cycle executor (`collective`) and the flow executor
//! (`flow::collective`) share it, so both release operations alike.

use crate::collective::{ScheduleColumns, RECV, SEND};

const NONE: u32 = u32::MAX;

pub(crate) struct Dag {
    /// Dependencies not yet done (and, for a receive, its message).
    waiting: Vec<u32>,
    /// Who waits for each op (CSR), and each send's receive.
    user_ptr: Vec<u32>,
    users: Vec<u32>,
    recv_of: Vec<u32>,
    /// Operations not done.
    pub left: usize,
    /// Completions to process (reused: no allocation per operation).
    stack: Vec<u32>,
}

impl Dag {
    /// The bookkeeping of `s` (validated), and the operations ready at once
    /// (in order).
    pub fn new(s: &ScheduleColumns) -> (Self, Vec<u32>) {
        let n = s.op.len();
        let mut waiting = vec![0u32; n];
        let mut count = vec![0u32; n + 1];
        let mut recv_of = vec![NONE; n];
        for i in 0..n {
            let deps = &s.deps[s.dep_ptr[i] as usize..s.dep_ptr[i + 1] as usize];
            waiting[i] = deps.len() as u32;
            for &d in deps {
                count[d as usize + 1] += 1;
            }
            if s.op[i] == RECV {
                waiting[i] += 1;
                recv_of[s.matched[i] as usize] = i as u32;
            }
        }
        for i in 0..n {
            count[i + 1] += count[i];
        }
        let mut fill = count.clone();
        let mut users = vec![0u32; count[n] as usize];
        for i in 0..n {
            for &d in &s.deps[s.dep_ptr[i] as usize..s.dep_ptr[i + 1] as usize] {
                users[fill[d as usize] as usize] = i as u32;
                fill[d as usize] += 1;
            }
        }
        let ready = (0..n as u32)
            .filter(|&i| waiting[i as usize] == 0)
            .collect();
        let dag = Self {
            waiting,
            user_ptr: count,
            users,
            recv_of,
            left: n,
            stack: Vec::new(),
        };
        (dag, ready)
    }

    /// How many operations (and messages) `op` still waits for.
    pub fn waiting(&self, op: usize) -> u32 {
        self.waiting[op]
    }

    /// Marks `op` done, and with it every receive whose last wait it was
    /// (its message already in); `done(i)` is called for each operation
    /// done, and what becomes ready is pushed on `ready`.
    pub fn complete(
        &mut self,
        op: u32,
        kinds: &[u8],
        ready: &mut Vec<u32>,
        mut done: impl FnMut(u32),
    ) {
        let mut stack = std::mem::take(&mut self.stack);
        stack.push(op);
        while let Some(i) = stack.pop() {
            let iu = i as usize;
            done(i);
            self.left -= 1;
            let mut release = |u: u32, stack: &mut Vec<u32>| {
                let w = &mut self.waiting[u as usize];
                *w -= 1;
                if *w == 0 {
                    if kinds[u as usize] == RECV {
                        stack.push(u); // its message is in: done now
                    } else {
                        ready.push(u);
                    }
                }
            };
            let (lo, hi) = (self.user_ptr[iu] as usize, self.user_ptr[iu + 1] as usize);
            for k in lo..hi {
                release(self.users[k], &mut stack);
            }
            if kinds[iu] == SEND && self.recv_of[iu] != NONE {
                release(self.recv_of[iu], &mut stack);
            }
        }
        self.stack = stack;
    }
}
