//! The token vault: OAuth tokens encrypted at rest (AES-256-GCM) outside the event store.
//!
//! Events are kept forever and must never hold a secret; tokens must be revocable and
//! shreddable. So tokens live here, one ciphertext per connection, and events name the
//! version a ciphertext was stored under. Keys come from `TOKEN_ENCRYPTION_KEY` and carry
//! ids, so they can rotate without losing what older keys sealed.

mod cipher;
mod error;
mod keyring;
mod refresh;
mod table;
mod token_vault;
mod tokens;

pub use error::VaultError;
pub use keyring::{EntryProblem, Keyring, KeyringError, TOKEN_ENCRYPTION_KEY};
pub use refresh::{RefreshGuard, DEFAULT_LOCK_WAIT};
pub use token_vault::TokenVault;
pub use tokens::TokenSet;
