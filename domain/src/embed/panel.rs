use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The panels a CRM can embed (the seed's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PanelType {
    /// The job's photo QC: counts per category and what is missing.
    QcPanel,
    /// The job's risk level, reasons and recommended actions.
    RiskView,
    /// What the customer sees of the job.
    CustomerPortalView,
}

impl PanelType {
    pub const ALL: [PanelType; 3] = [
        PanelType::QcPanel,
        PanelType::RiskView,
        PanelType::CustomerPortalView,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PanelType::QcPanel => "QC_PANEL",
            PanelType::RiskView => "RISK_VIEW",
            PanelType::CustomerPortalView => "CUSTOMER_PORTAL_VIEW",
        }
    }

    /// The page that renders it, under the server's base URL.
    pub fn page_path(self) -> &'static str {
        match self {
            PanelType::QcPanel => "/embed/qc",
            PanelType::RiskView => "/embed/risk",
            PanelType::CustomerPortalView => "/embed/portal",
        }
    }
}

impl fmt::Display for PanelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A panel name that is not one of [`PanelType::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown panel type {0:?}; expected QC_PANEL, RISK_VIEW or CUSTOMER_PORTAL_VIEW")]
pub struct UnknownPanelType(pub String);

impl FromStr for PanelType {
    type Err = UnknownPanelType;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        PanelType::ALL
            .into_iter()
            .find(|panel| panel.as_str() == text)
            .ok_or_else(|| UnknownPanelType(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panel_names_round_trip_and_unknown_names_are_refused() {
        for panel in PanelType::ALL {
            assert_eq!(panel.as_str().parse::<PanelType>(), Ok(panel));
            let json = serde_json::to_string(&panel).unwrap();
            assert_eq!(json, format!("\"{}\"", panel.as_str()));
        }
        assert!("qc_panel".parse::<PanelType>().is_err());
        assert!("".parse::<PanelType>().is_err());
    }
}
