//! One write, for every write endpoint that is not a zone write of its own: its
//! transaction, the audit records it makes, and `?dry_run=true`.
//!
//! [`Write::begin`] opens the transaction; the service does its checks and statements on
//! [`Write::txn`] and records each row it creates, changes or deletes with
//! [`Write::audit`] — the audit row, in the same transaction, which is also that row's
//! entry in the write's [`Diff::changes`]. [`Write::finish`] commits, or for a dry run
//! rolls back and answers the [`Diff`] (the zones' own shape, with `changes`), so a dry run
//! runs every check and statement of the real write and its answer is exactly what the
//! write would do. Writes that also change zones (a domain deleted with its zones) hand
//! their zone hostnames to [`Write::finish_routing`], which goes through the zones' own
//! commit and write-through ([`super::zones::finish`]).

use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use serde::Serialize;

use super::Stores;
use super::zones::{Diff, finish};
use super::{Actor, AuditEntry, audit, sync};
use crate::error::ApiError;

/// One row a write creates, changes or deletes, as its audit record summarises it
/// (never a secret: a password or DNS secret shows as `"changed"`, keys by prefix).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Effect {
    /// The audit action, e.g. `domain.delete`, `user.update`, `certificate.delete`.
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    /// The row's summary before (an object); `null` for something created.
    pub before: Option<serde_json::Value>,
    /// The row's summary after (an object); `null` for something deleted.
    pub after: Option<serde_json::Value>,
}

/// What a write answers: what it made (a real write), or its diff (a dry run).
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per request, moved once into the response; boxing buys nothing"
)]
pub enum Answer<T> {
    Done(T),
    DryRun(Diff),
}

impl<T> Answer<T> {
    /// The real write's value, for callers that do not take dry runs.
    pub fn done(self) -> Option<T> {
        match self {
            Answer::Done(v) => Some(v),
            Answer::DryRun(_) => None,
        }
    }

    pub fn is_dry_run(&self) -> bool {
        matches!(self, Answer::DryRun(_))
    }
}

/// An open write: see the module doc.
pub struct Write {
    txn: DatabaseTransaction,
    dry_run: bool,
    changes: Vec<Effect>,
}

impl Write {
    pub async fn begin(db: &DatabaseConnection, dry_run: bool) -> Result<Write, DbErr> {
        Ok(Write {
            txn: db.begin().await?,
            dry_run,
            changes: Vec::new(),
        })
    }

    /// The write's transaction: every read that decides and every statement.
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// Writes the audit row of one change (in the write's transaction) and notes it for
    /// the diff.
    pub async fn audit(&mut self, actor: &Actor, entry: AuditEntry<'_>) -> Result<(), DbErr> {
        let effect = Effect {
            action: entry.action.to_owned(),
            resource_type: entry.resource_type.to_owned(),
            resource_id: entry.resource_id.clone(),
            before: entry.before.clone(),
            after: entry.after.clone(),
        };
        audit(&self.txn, actor, entry).await?;
        self.changes.push(effect);
        Ok(())
    }

    /// Commits and answers `value`; a dry run rolls back and answers the diff instead.
    pub async fn finish<T>(self, value: T) -> Result<Answer<T>, ApiError> {
        if self.dry_run {
            self.txn.rollback().await?;
            return Ok(Answer::DryRun(Diff {
                dry_run: true,
                changes: self.changes,
                ..Default::default()
            }));
        }
        self.txn.commit().await?;
        Ok(Answer::Done(value))
    }

    /// The transaction and the changes recorded so far, for a write that goes on as a
    /// zone write of its own ([`super::zones::bulk_in`]: an import).
    pub fn into_parts(self) -> (DatabaseTransaction, Vec<Effect>) {
        (self.txn, self.changes)
    }

    /// [`Write::finish`] for a write that also changed zones (their rows deleted on this
    /// transaction, `pending` their hostnames and certificates queued for Redis): commits
    /// and writes through like every zone write, and answers the diff with `zones` (the
    /// zones' part: `deleted`, and for a dry run their Redis `records`) and the write's
    /// version and commit time; a dry run rolls back.
    pub async fn finish_routing(
        self,
        state: &Stores,
        pending: sync::Pending,
        zones: Diff,
    ) -> Result<Diff, ApiError> {
        let dry_run = self.dry_run;
        let written = finish(state, self.txn, pending, dry_run).await?;
        Ok(Diff {
            dry_run,
            changes: self.changes,
            ..zones
        }
        .written(written))
    }
}

impl<T: Serialize> Answer<T> {
    /// The HTTP answer: the real write's value with `status`, or the dry run's diff (200).
    pub fn respond(self, status: axum::http::StatusCode) -> axum::response::Response {
        use axum::response::IntoResponse as _;
        match self {
            Answer::Done(value) => (status, axum::Json(value)).into_response(),
            Answer::DryRun(diff) => (axum::http::StatusCode::OK, axum::Json(diff)).into_response(),
        }
    }
}
