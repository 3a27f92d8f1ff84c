//! Embedded panels: which panel a signed link opens, and the record of every link issued.
//!
//! The link's token itself is never part of the domain: it is a bearer credential, derived
//! from these facts and the signing key by the adapter that signs it.

mod aggregate;
mod commands;
mod errors;
mod events;
mod panel;

pub use aggregate::EmbedLink;
pub use commands::EmbedLinkCommand;
pub use errors::EmbedLinkError;
pub use events::EmbedLinkEvent;
pub use panel::{PanelType, UnknownPanelType};
