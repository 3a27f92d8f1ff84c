use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::{EmbedLinkCommand, EmbedLinkError, EmbedLinkEvent, PanelType};
use crate::JobId;

/// One issued embed link (stream id = the token's `jti`), so auditors can see who opened
/// which job's panel to whom, and until when.
///
/// Invariant: issued at most once, and expiring after it was issued.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedLink {
    issued: Option<Issued>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Issued {
    job_id: JobId,
    panel: PanelType,
    expires_at: DateTime<Utc>,
}

impl EmbedLink {
    /// The job and panel the link opens, and until when; `None` before it is issued.
    pub fn issued(&self) -> Option<(&JobId, PanelType, DateTime<Utc>)> {
        self.issued
            .as_ref()
            .map(|issued| (&issued.job_id, issued.panel, issued.expires_at))
    }
}

impl Aggregate for EmbedLink {
    const TYPE: &'static str = "EmbedLink";
    type Command = EmbedLinkCommand;
    type Event = EmbedLinkEvent;
    type Error = EmbedLinkError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            EmbedLinkCommand::Issue {
                job_id,
                panel,
                issued_at,
                expires_at,
            } => {
                if self.issued.is_some() {
                    return Err(EmbedLinkError::AlreadyIssued);
                }
                if expires_at <= issued_at {
                    return Err(EmbedLinkError::ExpiresBeforeIssued);
                }
                let event = EmbedLinkEvent::EmbedLinkIssued {
                    job_id,
                    panel,
                    issued_at,
                    expires_at,
                };
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            EmbedLinkEvent::EmbedLinkIssued {
                job_id,
                panel,
                expires_at,
                ..
            } => {
                self.issued = Some(Issued {
                    job_id,
                    panel,
                    expires_at,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use cqrs_es::test::TestFramework;

    use super::*;

    type LinkTest = TestFramework<EmbedLink>;

    fn at(minutes: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_790_000_000 + minutes * 60, 0).unwrap()
    }

    fn job() -> JobId {
        JobId::jobnimbus("j1abc").unwrap()
    }

    fn issue(issued: i64, expires: i64) -> EmbedLinkCommand {
        EmbedLinkCommand::Issue {
            job_id: job(),
            panel: PanelType::RiskView,
            issued_at: at(issued),
            expires_at: at(expires),
        }
    }

    fn issued(issued: i64, expires: i64) -> EmbedLinkEvent {
        EmbedLinkEvent::EmbedLinkIssued {
            job_id: job(),
            panel: PanelType::RiskView,
            issued_at: at(issued),
            expires_at: at(expires),
        }
    }

    #[test]
    fn issuing_a_link_records_its_job_panel_and_expiry() {
        LinkTest::with(())
            .given_no_previous_events()
            .when(issue(0, 30))
            .then_expect_events(vec![issued(0, 30)]);
    }

    #[test]
    fn a_link_id_is_issued_once() {
        LinkTest::with(())
            .given(vec![issued(0, 30)])
            .when(issue(1, 31))
            .then_expect_error(EmbedLinkError::AlreadyIssued);
    }

    #[test]
    fn a_link_that_would_expire_when_or_before_it_is_issued_is_refused() {
        for expires in [0, -5] {
            LinkTest::with(())
                .given_no_previous_events()
                .when(issue(0, expires))
                .then_expect_error(EmbedLinkError::ExpiresBeforeIssued);
        }
    }
}
