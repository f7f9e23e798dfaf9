//! Appending events to the outbox (`outbox_events`), in the transaction of the change that
//! caused them. Each event is stored whole, as the JSON of its serde form, with its id, tenant,
//! session, kind and time in columns of their own; `dispatched_at` starts NULL. Reading the
//! outbox and delivering its events is the webhook dispatcher's business.

use anyhow::Context;
use sea_orm::ActiveValue::Set;
use sea_orm::{DatabaseTransaction, EntityTrait};
use wastatus_domain::Event;
use wastatus_domain::ports::StorageError;

use crate::Storage;
use crate::entity::outbox_event;
use crate::error::{failed, storage_error};

impl Storage {
    /// Appends `events` to the outbox within `txn`.
    pub(super) async fn append_events(&self, txn: &DatabaseTransaction, events: &[Event]) -> Result<(), StorageError> {
        const DOING: &str = "appending events to the outbox";
        for event in events {
            let row = event_row(event).map_err(|err| storage_error(DOING, err))?;
            self.execute_in(txn, outbox_event::Entity::insert(row)).await.map_err(failed(DOING))?;
        }
        Ok(())
    }
}

/// The row that stores `event`.
fn event_row(event: &Event) -> anyhow::Result<outbox_event::ActiveModel> {
    Ok(outbox_event::ActiveModel {
        id: Set(*event.id.as_uuid()),
        tenant_id: Set(*event.tenant.as_uuid()),
        session_id: Set(event.session.as_str().to_owned()),
        kind: Set(event.kind.as_str().to_owned()),
        payload: Set(serde_json::to_string(event).context("could not serialise an event")?),
        occurred_at: Set(event.occurred_at),
        dispatched_at: Set(None),
    })
}
