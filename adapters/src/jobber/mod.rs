//! Jobber (GraphQL API behind OAuth 2.0, reference/external-apis.md §2): the OAuth client,
//! the few GraphQL calls a connection needs, the connection use cases, and a sandbox that
//! behaves like the real service, strictness included, so all of it is tested without a
//! Jobber developer account.

mod connections;
mod error;
mod graphql;
mod oauth;
pub mod oauth_state;
pub mod sandbox;
mod token_expiry;
pub mod webhook;

pub use connections::{
    Connected, ConnectionFailure, JobberConnections, RefreshOutcome, RefreshPolicy, RefreshSweep,
    RefreshTrigger,
};
pub use error::JobberError;
pub use graphql::{GraphqlClient, JobberAccount, DEFAULT_GRAPHQL_VERSION};
pub use oauth::{IssuedTokens, OAuthClient, OAuthConfig};
pub use token_expiry::access_token_expiry;
