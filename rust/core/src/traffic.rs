//! Traffic as columns: one message per row.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Messages to send, as parallel columns (the layout numpy hands us, and
/// the `[traffic]` table of a case file).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageTraffic {
    pub src: Vec<u32>,
    pub dst: Vec<u32>,
    pub bytes: Vec<u64>,
    /// When the message is offered to the source's network interface.
    pub inject_ps: Vec<u64>,
    pub vc: Vec<u32>,
}

/// Messages larger than this (1 PiB) are rejected: flit counts stay far from overflow.
pub const MAX_MESSAGE_BYTES: u64 = 1 << 50;

impl MessageTraffic {
    pub fn len(&self) -> usize {
        self.src.len()
    }

    pub fn is_empty(&self) -> bool {
        self.src.is_empty()
    }

    /// Checks the columns against a fabric of `endpoints` endpoints and `vcs`
    /// VCs; errors name the column and the row (`traffic.dst[3]`).
    /// Checks that every message has a route in `topology` (after `validate`).
    pub fn validate_routes(&self, topology: &crate::spec::TopologySpec) -> Result<()> {
        for (i, (&s, &d)) in self.src.iter().zip(&self.dst).enumerate() {
            if let Some(why) = topology.unroutable(s, d) {
                return Err(Error::spec(format!("traffic.dst[{i}]"), why));
            }
        }
        Ok(())
    }

    pub fn validate(&self, endpoints: usize, vcs: u32) -> Result<()> {
        let n = self.src.len();
        for (name, len) in [
            ("dst", self.dst.len()),
            ("bytes", self.bytes.len()),
            ("inject_ps", self.inject_ps.len()),
            ("vc", self.vc.len()),
        ] {
            if len != n {
                return Err(Error::spec(
                    format!("traffic.{name}"),
                    format!("has {len} rows but traffic.src has {n}; every column needs one row per message"),
                ));
            }
        }
        if n >= u32::MAX as usize {
            return Err(Error::spec(
                "traffic",
                format!("has {n} messages; at most {} are allowed", u32::MAX - 1),
            ));
        }
        for i in 0..n {
            let (s, d) = (self.src[i], self.dst[i]);
            if s as usize >= endpoints {
                return Err(Error::spec(
                    format!("traffic.src[{i}]"),
                    format!(
                        "names endpoint {s}, but the fabric has endpoints 0..{}",
                        endpoints - 1
                    ),
                ));
            }
            if d as usize >= endpoints {
                return Err(Error::spec(
                    format!("traffic.dst[{i}]"),
                    format!(
                        "names endpoint {d}, but the fabric has endpoints 0..{}",
                        endpoints - 1
                    ),
                ));
            }
            let b = self.bytes[i];
            if b == 0 || b > MAX_MESSAGE_BYTES {
                return Err(Error::spec(
                    format!("traffic.bytes[{i}]"),
                    format!("must be in 1..={MAX_MESSAGE_BYTES}, got {b}"),
                ));
            }
            if self.vc[i] >= vcs {
                return Err(Error::spec(
                    format!("traffic.vc[{i}]"),
                    format!(
                        "must be in 0..{vcs} (the link has {vcs} VCs), got {}",
                        self.vc[i]
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl MessageTraffic {
    /// Builds traffic from signed 64-bit columns (numpy's default integers),
    /// rejecting negative and out-of-range values with the column and row.
    pub fn from_i64_columns(
        src: &[i64],
        dst: &[i64],
        bytes: &[i64],
        inject_ps: &[i64],
        vc: &[i64],
    ) -> Result<Self> {
        fn narrow<T: TryFrom<i64>>(col: &[i64], name: &str) -> Result<Vec<T>> {
            col.iter()
                .enumerate()
                .map(|(i, &v)| {
                    T::try_from(v).map_err(|_| {
                        let allowed = if v < 0 {
                            "must be >= 0".to_string()
                        } else {
                            "is too large".to_string()
                        };
                        Error::spec(
                            format!("traffic.{name}[{i}]"),
                            format!("{allowed}, got {v}"),
                        )
                    })
                })
                .collect()
        }
        Ok(Self {
            src: narrow(src, "src")?,
            dst: narrow(dst, "dst")?,
            bytes: narrow(bytes, "bytes")?,
            inject_ps: narrow(inject_ps, "inject_ps")?,
            vc: narrow(vc, "vc")?,
        })
    }
}
