//! The `[network]` table of a scenario: a named preset, overrides of its fields for every
//! link, and per-pair overrides; turned into a [`LinkTable`].
//!
//! What this module does not do: model delays (see [`crate::link`]).

use serde::{Deserialize, Serialize};

use crate::link::{BandwidthScope, Jitter, LinkModel, LinkTable, ms_to_ns};

fn yes() -> bool {
    true
}

/// A named link preset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// 0.2 ms one way, 10 Gbit/s (the default).
    #[default]
    Lan,
    /// 50 ms one way, 100 Mbit/s.
    Wan,
    /// No latency, unlimited bandwidth.
    Ideal,
}

impl Preset {
    /// The preset's link model.
    pub fn model(self) -> LinkModel {
        match self {
            Preset::Lan => LinkModel::lan(),
            Preset::Wan => LinkModel::wan(),
            Preset::Ideal => LinkModel::ideal(0),
        }
    }
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Lan => "lan",
            Preset::Wan => "wan",
            Preset::Ideal => "ideal",
        }
    }
}

/// Link fields that a preset provides and a scenario may override (`None`: keep the base).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkSpec {
    /// One-way latency in milliseconds.
    pub latency_ms: Option<f64>,
    /// Bandwidth in megabits per second; 0 = unlimited.
    pub bandwidth_mbps: Option<f64>,
    /// Jitter.
    pub jitter: Option<Jitter>,
    /// Loss rate per transmission, in `[0, 1)`.
    pub loss: Option<f64>,
    /// Retransmission timeout in milliseconds.
    pub rto_ms: Option<f64>,
}

impl LinkOverride {
    /// The overridden fields.
    pub fn link(&self) -> LinkSpec {
        LinkSpec {
            latency_ms: self.latency_ms,
            bandwidth_mbps: self.bandwidth_mbps,
            jitter: self.jitter,
            loss: self.loss,
            rto_ms: self.rto_ms,
        }
    }
}

impl LinkSpec {
    fn apply(&self, base: LinkModel) -> LinkModel {
        LinkModel {
            latency_ns: self.latency_ms.map_or(base.latency_ns, ms_to_ns),
            bandwidth: match self.bandwidth_mbps {
                None => base.bandwidth,
                Some(m) if m <= 0.0 => None,
                Some(m) => Some((m * 1e6 / 8.0).round() as u64),
            },
            jitter: self.jitter.unwrap_or(base.jitter),
            loss: self.loss.unwrap_or(base.loss),
            rto_ns: self.rto_ms.map_or(base.rto_ns, ms_to_ns),
        }
    }
}

/// The `[network]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSpec {
    /// The preset the other fields override. Default: `lan`.
    #[serde(default)]
    pub preset: Preset,
    /// One-way latency in milliseconds. Default: the preset's.
    pub latency_ms: Option<f64>,
    /// Bandwidth in megabits per second; 0 = unlimited. Default: the preset's.
    pub bandwidth_mbps: Option<f64>,
    /// Jitter. Default: none.
    pub jitter: Option<Jitter>,
    /// Loss rate per transmission, in `[0, 1)`. Default: 0.
    pub loss: Option<f64>,
    /// Retransmission timeout in milliseconds. Default: 200.
    pub rto_ms: Option<f64>,
    /// How bandwidth is shared. Default: per link.
    #[serde(default)]
    pub bandwidth_scope: BandwidthScope,
    /// Virtual receive deadline in milliseconds; 0 = none. Default: 30 000.
    #[serde(default = "default_timeout_ms")]
    pub recv_timeout_ms: f64,
    /// Where the workers are: party `i` at `sites[i mod len]` (names from [`crate::sites`]).
    /// Links between sites take half the measured round-trip time one way and
    /// `site_bandwidth_mbps`; links within a site are the preset's. Default: none (every link
    /// is the preset's).
    #[serde(default)]
    pub sites: Vec<String>,
    /// Bandwidth between different sites, megabits per second (0 = unlimited). Default: the
    /// preset's. An assumption of the scenario: the measured table has none.
    #[serde(default)]
    pub site_bandwidth_mbps: Option<f64>,
    /// Per-pair overrides, applied last (`symmetric = false` for an asymmetric link).
    #[serde(default)]
    pub links: Vec<LinkOverride>,
}

fn default_timeout_ms() -> f64 {
    30_000.0
}

impl Default for NetworkSpec {
    fn default() -> Self {
        NetworkSpec {
            preset: Preset::Lan,
            latency_ms: None,
            bandwidth_mbps: None,
            jitter: None,
            loss: None,
            rto_ms: None,
            bandwidth_scope: BandwidthScope::Link,
            recv_timeout_ms: default_timeout_ms(),
            sites: Vec::new(),
            site_bandwidth_mbps: None,
            links: Vec::new(),
        }
    }
}

impl NetworkSpec {
    /// A preset with nothing overridden.
    pub fn preset(preset: Preset) -> Self {
        NetworkSpec {
            preset,
            ..Default::default()
        }
    }

    /// The fields that override the preset.
    pub fn link(&self) -> LinkSpec {
        LinkSpec {
            latency_ms: self.latency_ms,
            bandwidth_mbps: self.bandwidth_mbps,
            jitter: self.jitter,
            loss: self.loss,
            rto_ms: self.rto_ms,
        }
    }

    /// The site of `party`, when the network names sites.
    pub fn site_of(&self, party: u16) -> Option<String> {
        (!self.sites.is_empty()).then(|| self.sites[party as usize % self.sites.len()].clone())
    }

    /// Checks the site names.
    pub fn validate_sites(&self) -> Result<(), crate::sites::UnknownSite> {
        for s in &self.sites {
            crate::sites::site(s)?;
        }
        Ok(())
    }

    /// A short description for reports: the preset, with `+custom` when a field changes it,
    /// or the sites.
    pub fn label(&self) -> String {
        if !self.sites.is_empty() {
            let mut distinct: Vec<&str> = Vec::new();
            for s in &self.sites {
                if !distinct.contains(&s.as_str()) {
                    distinct.push(s);
                }
            }
            let custom = if self.links.is_empty() { "" } else { "+custom" };
            return format!("sites:{}{custom}", distinct.join("+"));
        }
        if self.link().apply(self.preset.model()) == self.preset.model() && self.links.is_empty() {
            self.preset.name().to_string()
        } else {
            format!("{}+custom", self.preset.name())
        }
    }
}

/// A per-pair override.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkOverride {
    /// Sender.
    pub from: u16,
    /// Receiver.
    pub to: u16,
    /// Also override `to -> from`. Default: true.
    #[serde(default = "yes")]
    pub symmetric: bool,
    /// One-way latency in milliseconds. Default: `[network]`'s.
    pub latency_ms: Option<f64>,
    /// Bandwidth in megabits per second; 0 = unlimited. Default: `[network]`'s.
    pub bandwidth_mbps: Option<f64>,
    /// Jitter. Default: `[network]`'s.
    pub jitter: Option<Jitter>,
    /// Loss rate per transmission, in `[0, 1)`. Default: `[network]`'s.
    pub loss: Option<f64>,
    /// Retransmission timeout in milliseconds. Default: `[network]`'s.
    pub rto_ms: Option<f64>,
}

impl NetworkSpec {
    /// The links this table describes.
    pub fn link_table(&self, parties: usize) -> LinkTable {
        let default = self.link().apply(self.preset.model());
        let mut links = LinkTable::uniform(default);
        links.scope = self.bandwidth_scope;
        if !self.sites.is_empty() {
            // Unknown names are refused by validation; here they are read as the preset.
            let index: Vec<Option<usize>> = self
                .sites
                .iter()
                .map(|s| crate::sites::site(s).ok())
                .collect();
            let n = parties;
            for a in 0..n {
                for b in 0..n {
                    let (Some(sa), Some(sb)) = (index[a % index.len()], index[b % index.len()])
                    else {
                        continue;
                    };
                    if a == b || sa == sb {
                        continue;
                    }
                    let wan = LinkSpec {
                        latency_ms: Some(crate::sites::rtt_ms(sa, sb) / 2.0),
                        bandwidth_mbps: self.site_bandwidth_mbps,
                        ..LinkSpec::default()
                    };
                    links
                        .overrides
                        .insert((a as u16, b as u16), wan.apply(default));
                }
            }
        }
        for o in &self.links {
            let forward = o.link().apply(*links.model(o.from, o.to));
            let backward = o.link().apply(*links.model(o.to, o.from));
            links.overrides.insert((o.from, o.to), forward);
            if o.symmetric {
                links.overrides.insert((o.to, o.from), backward);
            }
        }
        links
    }
}
