//! `CaseSpec`: everything one run needs (topology, link, router, endpoint,
//! traffic, faults, seed) as one document, so a failing fuzz case prints as TOML and replays
//! from it exactly.

use super::faults::Fault;
use super::{EndpointSpec, FabricSpec, LinkSpec, RouterSpec, TopologySpec};
use crate::error::Result;
use crate::traffic::MessageTraffic;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseSpec {
    #[serde(default)]
    pub seed: u64,
    pub topology: TopologySpec,
    pub link: LinkSpec,
    #[serde(default)]
    pub router: RouterSpec,
    #[serde(default)]
    pub endpoint: EndpointSpec,
    pub traffic: MessageTraffic,
    #[serde(default)]
    pub faults: Vec<Fault>,
}

impl CaseSpec {
    pub fn fabric(&self) -> FabricSpec {
        FabricSpec {
            endpoint: self.endpoint.clone(),
            router: self.router.clone(),
            ..FabricSpec::new(self.topology.clone(), self.link.clone())
        }
    }

    pub fn validate(&self) -> Result<()> {
        let fabric = self.fabric();
        fabric.validate()?;
        let vcs = fabric.vcs();
        self.traffic
            .validate(fabric.topology.num_endpoints(), vcs)?;
        // every link direction a fault may name, router-to-router ones too
        let links = crate::network::Network::count_link_directions(&fabric);
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
