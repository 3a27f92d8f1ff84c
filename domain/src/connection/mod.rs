//! A user's connection to a CRM we hold credentials for (Jobber, per user, through OAuth):
//! granted, refreshed, failing, needing a new consent, or revoked.
//!
//! The tokens themselves are not here: they live encrypted in the vault
//! (`adapters::vault`), and the events name the vault's secret version.

mod aggregate;
mod commands;
mod errors;
mod events;
mod ids;
mod values;

pub use aggregate::Connection;
pub use commands::ConnectionCommand;
pub use errors::ConnectionError;
pub use events::ConnectionEvent;
pub use ids::{ConnectionId, InvalidUserId, ParseConnectionIdError, UserId};
pub use values::{refresh_due, ConnectionStatus, RevokeCause, SecretVersion};
