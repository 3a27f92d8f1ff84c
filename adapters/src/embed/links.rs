//! Issuing embed links: each one recorded as an `EmbedLinkIssued` event (who asked, for which
//! job and panel, until when) before its token is handed out; the token is never stored.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use cqrs_es::AggregateError;
use domain::{EmbedLink, EmbedLinkCommand, EmbedLinkError, JobId, PanelType};

use super::{EmbedGrant, EmbedSession, EmbedSigner, TokenRejection};
use crate::store::{AppendSignal, CommandBus, Db, LogPosition};

/// A link issued: its token (a bearer credential for the caller to hand to the CRM) and what
/// it opens.
pub struct IssuedLink {
    pub grant: EmbedGrant,
    pub token: String,
    /// Position of the `EmbedLinkIssued` event, for read-your-writes waits.
    pub position: Option<LogPosition>,
}

impl std::fmt::Debug for IssuedLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a credential: never in a debug print.
        f.debug_struct("IssuedLink")
            .field("grant", &self.grant)
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

/// Why a link could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error("the embed link was refused: {0}")]
    Refused(EmbedLinkError),
    #[error("the event store failed: {0}")]
    Store(String),
    #[error("the token could not be signed: {0}")]
    Signing(String),
}

/// Issues and resolves embed links. Cheap to clone.
#[derive(Clone)]
pub struct EmbedLinks {
    signer: EmbedSigner,
    links: Arc<CommandBus<EmbedLink>>,
}

impl EmbedLinks {
    pub fn new(db: &Db, signal: &AppendSignal, signer: EmbedSigner) -> Self {
        Self {
            signer,
            links: Arc::new(CommandBus::new(db, signal)),
        }
    }

    /// How long a link stays valid.
    pub fn ttl(&self) -> chrono::Duration {
        self.signer.ttl()
    }

    /// Records a link to `panel` of `job_id`, issued at `now`, then signs it. `metadata` says
    /// who asked. The caller checks that the job is mirrored.
    pub async fn issue(
        &self,
        job_id: JobId,
        panel: PanelType,
        now: DateTime<Utc>,
        metadata: HashMap<String, String>,
    ) -> Result<IssuedLink, IssueError> {
        let grant = self.signer.grant(job_id, panel, now);
        // Signed first, so a signing failure records nothing; handed out only once recorded.
        let token = self
            .signer
            .sign(&grant)
            .map_err(|e| IssueError::Signing(e.to_string()))?;
        let command = EmbedLinkCommand::Issue {
            job_id: grant.job_id.clone(),
            panel: grant.panel,
            issued_at: grant.issued_at,
            expires_at: grant.expires_at,
        };
        let position = self
            .links
            .execute(&grant.link_id.to_string(), command, metadata)
            .await
            .map_err(|error| match error {
                AggregateError::UserError(refusal) => IssueError::Refused(refusal),
                other => IssueError::Store(other.to_string()),
            })?;
        Ok(IssuedLink {
            grant,
            token,
            position,
        })
    }

    /// What `token` opens at `now` (signature, algorithm, issuer, audience and expiry; the
    /// caller checks that the job is still mirrored).
    pub fn resolve(&self, token: &str, now: DateTime<Utc>) -> Result<EmbedSession, TokenRejection> {
        self.signer.verify(token, now)
    }
}
