//! `CaseSpec`: everything one run needs (link, endpoint, traffic, faults,
//! seed) as one document, so a failing fuzz case prints as TOML and replays
//! from it exactly.

use super::faults::Fault;
use super::{EndpointSpec, FabricSpec, LinkSpec, TopologySpec};
use crate::error::Result;
use crate::traffic::MessageTraffic;
use serde::{Deserialize, Serialize};

/// Message traffic as columns (one entry per message in each).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficColumns {
    pub src: Vec<u32>,
    pub dst: Vec<u32>,
    pub bytes: Vec<u64>,
    pub inject_ps: Vec<u64>,
    pub vc: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseSpec {
    #[serde(default)]
    pub seed: u64,
    pub topology: TopologySpec,
    pub link: LinkSpec,
    #[serde(default)]
    pub endpoint: EndpointSpec,
    pub traffic: TrafficColumns,
    #[serde(default)]
    pub faults: Vec<Fault>,
}

impl CaseSpec {
    pub fn fabric(&self) -> FabricSpec {
        FabricSpec {
            topology: self.topology.clone(),
            link: self.link.clone(),
            endpoint: self.endpoint.clone(),
        }
    }

    pub fn traffic(&self) -> MessageTraffic {
        let t = &self.traffic;
        MessageTraffic {
            src: t.src.clone(),
            dst: t.dst.clone(),
            bytes: t.bytes.clone(),
            inject_ps: t.inject_ps.clone(),
            vc: t.vc.clone(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        let fabric = self.fabric();
        fabric.validate()?;
        let vcs = self.link.vcs;
        self.traffic()
            .validate(fabric.topology.num_endpoints(), vcs)?;
        let links = 2 * fabric.topology.links().len();
        for (i, f) in self.faults.iter().enumerate() {
            f.validate(i, links).map_err(|e| match e {
                crate::Error::Spec { path, message } => {
                    crate::Error::spec(path.replacen("options.", "", 1), message)
                }
                other => other,
            })?;
        }
        Ok(())
    }
}
