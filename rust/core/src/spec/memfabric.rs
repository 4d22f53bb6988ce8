//! The memory fabric: memory devices as fabric endpoints, the request /
//! response protocol that reaches them, and the requesters that load them.

use super::fabric::FabricSpec;
use super::hbm::HbmSpec;
use super::memory::ControllerSpec;
use super::{ensure, ensure_float};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// How requests and responses share the VCs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageClasses {
    /// Requests on the first half of the VCs, responses on the second: a
    /// response never waits behind a request, so the protocol cannot deadlock.
    #[default]
    Separate,
    /// Both on the same VCs (can deadlock under load: a device that cannot
    /// send its responses stops taking requests, which block the responses).
    Shared,
}

fn d_true() -> bool {
    true
}
fn d_interleave() -> u64 {
    4096
}
fn d_device_queue() -> u32 {
    256
}
fn d_max_request() -> u32 {
    4096
}

/// The request / response protocol (CXL.mem-like, NVLink-peer-like, ...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolSpec {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub sources: Vec<String>,
    /// Payload bytes of a request besides its write data, on top of the
    /// link's per-packet overhead (which is the header slot or header flit
    /// of a CXL- or NVLink-like link: then 0 here, and a read request is a
    /// header-only packet).
    #[serde(default)]
    pub request_header_bytes: u32,
    /// Payload bytes of a response besides its read data (likewise).
    #[serde(default)]
    pub response_header_bytes: u32,
    /// Requests (and responses) a network interface holds for the same
    /// endpoint, not yet started, share flits as far as one flit holds them
    /// (each keeping its header slot), as CXL packs slots into a flit; off:
    /// one message per request, each starting a new flit.
    #[serde(default = "d_true")]
    pub pack: bool,
    #[serde(default)]
    pub message_classes: MessageClasses,
    /// The global address space is interleaved over the memory devices in
    /// blocks of this many bytes.
    #[serde(default = "d_interleave")]
    pub interleave_bytes: u64,
    /// Requests a device holds from the moment it takes the first flit of
    /// one until the last flit of its response has left: when full, it takes
    /// no more, and requests back up into the fabric.
    #[serde(default = "d_device_queue")]
    pub device_queue: u32,
    /// The largest request (bytes of data) a requester may issue.
    #[serde(default = "d_max_request")]
    pub max_request_bytes: u32,
}

impl Default for ProtocolSpec {
    fn default() -> Self {
        crate::spec::parse::from_json("{}", "protocol").expect("all fields have defaults")
    }
}

impl ProtocolSpec {
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("request_header_bytes", self.request_header_bytes),
            ("response_header_bytes", self.response_header_bytes),
        ] {
            ensure(v <= 4096, name, "in 0..=4096", v)?;
        }
        ensure(
            self.interleave_bytes >= 64 && self.interleave_bytes.is_power_of_two(),
            "interleave_bytes",
            "a power of two >= 64",
            self.interleave_bytes,
        )?;
        ensure(
            (1..=1 << 20).contains(&self.device_queue),
            "device_queue",
            "in 1..=1048576",
            self.device_queue,
        )?;
        ensure(
            (1..=1 << 24).contains(&self.max_request_bytes),
            "max_request_bytes",
            "in 1..=16777216",
            self.max_request_bytes,
        )
    }

    /// Message classes in use (each gets an equal share of the VCs).
    pub fn classes(&self) -> u32 {
        match self.message_classes {
            MessageClasses::Separate => 2,
            MessageClasses::Shared => 1,
        }
    }
}

/// A fabric whose endpoints hold memory: accelerators with their own HBM
/// (reachable by peers), and memory expanders (memory, no requester).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryFabricSpec {
    pub fabric: FabricSpec,
    /// The HBM stack of every accelerator.
    pub hbm: HbmSpec,
    #[serde(default)]
    pub controller: ControllerSpec,
    /// Endpoints that are memory expanders.
    #[serde(default)]
    pub expanders: Vec<u32>,
    /// The memory of an expander (default: `hbm`).
    #[serde(default)]
    pub expander_memory: Option<HbmSpec>,
    #[serde(default)]
    pub protocol: ProtocolSpec,
}

impl MemoryFabricSpec {
    pub fn validate(&self) -> Result<()> {
        self.fabric.validate()?;
        self.hbm.validate().map_err(|e| e.within("hbm"))?;
        self.controller
            .validate()
            .map_err(|e| e.within("controller"))?;
        if let Some(m) = &self.expander_memory {
            m.validate().map_err(|e| e.within("expander_memory"))?;
        }
        self.protocol.validate().map_err(|e| e.within("protocol"))?;
        let n = self.fabric.topology.num_endpoints();
        if self.fabric.topology.memory_endpoints() != n {
            return Err(Error::spec(
                "topology.reduction_ports",
                "the memory fabric does not take switch reduction units (they hold no memory); build the fabric with reduction_ports = 0",
            ));
        }
        for (i, &e) in self.expanders.iter().enumerate() {
            ensure(
                (e as usize) < n && !self.expanders[..i].contains(&e),
                &format!("expanders[{i}]"),
                &format!("a distinct endpoint in 0..{n}"),
                e,
            )?;
        }
        let vcs = self.fabric.vcs();
        let k = self.protocol.classes();
        if vcs % k != 0 {
            return Err(Error::spec(
                self.fabric.vcs_field(),
                format!(
                    "separate request and response classes need an even number of VCs (one half each), got {vcs}; use more VCs or protocol.message_classes = \"shared\""
                ),
            ));
        }
        Ok(())
    }

    /// Whether endpoint `e` is a memory expander.
    pub fn is_expander(&self, e: u32) -> bool {
        self.expanders.contains(&e)
    }
}

/// Where a requester's addresses go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Its own HBM, without the fabric.
    Local,
    /// Accelerator `e`'s HBM.
    Peer(u32),
    /// The `k`-th memory expander.
    Expander(u32),
    /// The global address space, interleaved over every memory device.
    Global,
}

impl Target {
    /// Parses `"local"`, `"peer:N"`, `"expander:N"` or `"global"`.
    pub fn parse(text: &str) -> Option<Self> {
        let (kind, index) = match text.split_once(':') {
            Some((k, i)) => (k, Some(i.parse::<u32>().ok()?)),
            None => (text, None),
        };
        match (kind, index) {
            ("local", None) => Some(Target::Local),
            ("global", None) => Some(Target::Global),
            ("peer", Some(i)) => Some(Target::Peer(i)),
            ("expander", Some(i)) => Some(Target::Expander(i)),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressPattern {
    /// Uniformly random, aligned to the request size.
    #[default]
    Random,
    /// Consecutive requests from `base` on, wrapping at the end of the target.
    Stream,
}

fn d_one() -> f64 {
    1.0
}
fn d_bytes() -> u32 {
    64
}
fn d_outstanding() -> u32 {
    16
}

/// One requester: a load/store unit (or a DMA engine: a stream of
/// MTU-sized requests with an outstanding window) at an endpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequesterSpec {
    pub endpoint: u32,
    /// `"local"`, `"peer:N"`, `"expander:N"` or `"global"`.
    pub target: String,
    #[serde(default)]
    pub pattern: AddressPattern,
    /// Fraction of requests that are reads (the rest write).
    #[serde(default = "d_one")]
    pub read_ratio: f64,
    /// Data bytes per request.
    #[serde(default = "d_bytes")]
    pub bytes: u32,
    /// Requests in flight at most (tags).
    #[serde(default = "d_outstanding")]
    pub outstanding: u32,
    /// Requests to issue (ignored with a trace: its length).
    #[serde(default)]
    pub requests: u64,
    /// First address of a stream (bytes, within the target).
    #[serde(default)]
    pub base: u64,
    /// When the requester starts, ns.
    #[serde(default)]
    pub start_ns: f64,
    /// Least time between two issues, ns (0: as many per cycle as tags allow).
    /// With a gap the requester offers load at a set rate (up to its tags).
    #[serde(default)]
    pub issue_interval_ns: f64,
    /// A trace: explicit addresses within the target (replaces the pattern)
    /// and, if given, which of them are writes.
    #[serde(default)]
    pub addresses: Vec<u64>,
    #[serde(default)]
    pub writes: Vec<bool>,
}

impl RequesterSpec {
    pub fn count(&self) -> u64 {
        if self.addresses.is_empty() {
            self.requests
        } else {
            self.addresses.len() as u64
        }
    }

    pub fn validate(&self, spec: &MemoryFabricSpec) -> Result<Target> {
        let n = spec.fabric.topology.num_endpoints();
        ensure(
            (self.endpoint as usize) < n && !spec.is_expander(self.endpoint),
            "endpoint",
            &format!("an accelerator endpoint in 0..{n} (not an expander)"),
            self.endpoint,
        )?;
        let target = Target::parse(&self.target).ok_or_else(|| {
            Error::spec(
                "target",
                format!(
                    "must be \"local\", \"peer:N\", \"expander:N\" or \"global\", got {:?}",
                    self.target
                ),
            )
        })?;
        match target {
            Target::Peer(e) => ensure(
                (e as usize) < n && !spec.is_expander(e),
                "target",
                &format!("a peer accelerator in 0..{n} (not an expander)"),
                &self.target,
            )?,
            Target::Expander(k) => ensure(
                (k as usize) < spec.expanders.len(),
                "target",
                &format!(
                    "an expander in 0..{} (the fabric has {})",
                    spec.expanders.len(),
                    spec.expanders.len()
                ),
                &self.target,
            )?,
            Target::Local | Target::Global => {}
        }
        ensure_float(self.read_ratio, "read_ratio", 0.0, false)?;
        ensure(
            self.read_ratio <= 1.0,
            "read_ratio",
            "in [0, 1]",
            self.read_ratio,
        )?;
        let max = spec.protocol.max_request_bytes;
        ensure(
            (1..=max).contains(&self.bytes),
            "bytes",
            &format!("in 1..={max} (protocol.max_request_bytes)"),
            self.bytes,
        )?;
        if target == Target::Global {
            let gran = spec.protocol.interleave_bytes;
            ensure(
                gran % self.bytes as u64 == 0,
                "bytes",
                &format!(
                    "a divisor of protocol.interleave_bytes ({gran}) with a global target, so that no request spans two devices"
                ),
                self.bytes,
            )?;
        }
        ensure(
            (1..=1 << 16).contains(&self.outstanding),
            "outstanding",
            "in 1..=65536",
            self.outstanding,
        )?;
        ensure_float(self.start_ns, "start_ns", 0.0, false)?;
        ensure_float(self.issue_interval_ns, "issue_interval_ns", 0.0, false)?;
        ensure(
            self.writes.is_empty() || self.writes.len() == self.addresses.len(),
            "writes",
            &format!("empty or as long as addresses ({})", self.addresses.len()),
            self.writes.len(),
        )?;
        ensure(
            self.count() <= 1 << 32,
            "requests",
            "at most 2^32",
            self.count(),
        )?;
        Ok(target)
    }
}

/// What a memory-fabric run loads the fabric with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryLoadSpec {
    pub requesters: Vec<RequesterSpec>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(Target::parse("local"), Some(Target::Local));
        assert_eq!(Target::parse("peer:3"), Some(Target::Peer(3)));
        assert_eq!(Target::parse("expander:0"), Some(Target::Expander(0)));
        assert_eq!(Target::parse("global"), Some(Target::Global));
        for bad in ["peer", "peer:x", "local:1", "remote:1", ""] {
            assert_eq!(Target::parse(bad), None, "{bad}");
        }
    }
}
