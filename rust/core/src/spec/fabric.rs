//! `FabricSpec`: topology + the link and endpoint types it is built of.

use super::{EndpointSpec, LinkSpec};
use crate::error::Result;
use serde::{Deserialize, Serialize};

/// The shape of the fabric. Tagged by `type` so that new topologies are new
/// variants, never a breaking change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TopologySpec {
    /// Two endpoints joined by one bidirectional link.
    PointToPoint,
}

impl TopologySpec {
    pub fn num_endpoints(&self) -> usize {
        match self {
            TopologySpec::PointToPoint => 2,
        }
    }

    /// Bidirectional links as `(a, b)` endpoint pairs; each gives two
    /// link directions, `a -> b` then `b -> a`.
    pub fn links(&self) -> Vec<(u32, u32)> {
        match self {
            TopologySpec::PointToPoint => vec![(0, 1)],
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FabricSpec {
    pub topology: TopologySpec,
    pub link: LinkSpec,
    #[serde(default)]
    pub endpoint: EndpointSpec,
}

impl FabricSpec {
    pub fn validate(&self) -> Result<()> {
        self.link.validate().map_err(|e| e.within("link"))?;
        self.endpoint.validate().map_err(|e| e.within("endpoint"))?;
        Ok(())
    }
}
