//! Embedded panels (the seed's "Embedded Panels for JobNimbus"): signed links issued to
//! internal callers, resolved by anyone holding one, and the pages they open.

mod api;
mod pages;
pub(crate) mod views;

pub use api::EmbedApi;
pub use pages::routes as page_routes;

use adapters::embed::EmbedLinks;

/// What the embed endpoints and pages share.
#[derive(Clone)]
pub struct EmbedPanels {
    pub links: EmbedLinks,
    /// Base of the links issued, without a trailing slash (`INTERNAL_DASHBOARD_BASE_URL`,
    /// else this server).
    pub base_url: String,
    /// Origins allowed to frame the panels (`EMBED_FRAME_ANCESTORS`).
    pub frame_ancestors: Vec<String>,
}

impl EmbedPanels {
    /// The URL that opens `panel` with `token`: the panel's page under the base URL.
    pub fn url(&self, panel: domain::PanelType, token: &str) -> String {
        format!("{}{}?token={token}", self.base_url, panel.page_path())
    }
}
