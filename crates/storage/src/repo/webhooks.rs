//! The webhook ports on `webhook_endpoints`, `webhook_deliveries`, `webhook_attempts` and
//! `outbox_events`: [`WebhookEndpointRepository`], [`WebhookDeliveryRepository`] and
//! [`WebhookOutbox`].
//!
//! An endpoint's signing secrets are stored in clear: signing needs them.
//!
//! Fanning out is one write transaction (opened only when a read finds an undispatched event,
//! so idle polls take no write lock): it reads undispatched events (on PostgreSQL `FOR
//! UPDATE SKIP LOCKED`, so concurrent dispatchers take different events; on SQLite the
//! transaction holds the write lock from its start, so dispatchers take turns), the enabled
//! endpoints of their tenants, inserts the deliveries (`ON CONFLICT DO NOTHING` on
//! (`endpoint_id`, `event_id`): an event reaches an endpoint once) and marks the events
//! dispatched. An event whose payload this version cannot read is marked dispatched without
//! deliveries, so that it does not block the ones after it, and counted in the result.
//!
//! Claiming due deliveries is one `UPDATE … SET lease_until … WHERE id IN (SELECT …) RETURNING
//! *` statement, as for statuses: the inner select ranks due deliveries per endpoint (at most
//! `per_endpoint` of one endpoint), and on PostgreSQL locks the chosen rows `FOR UPDATE SKIP
//! LOCKED`; the lease conditions are checked again on the rows updated, so a row another
//! claimer leased meanwhile is not taken. Recording an attempt is a compare-and-set on the
//! lease.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use async_trait::async_trait;
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Statement, Value,
};
use uuid::Uuid;
use wastatus_domain::ports::{
    ClaimedDelivery, DueClaim, FanOut, IdGenerator, InsertError, StorageError, WebhookDeliveryRepository,
    WebhookEndpointRepository, WebhookOutbox,
};
use wastatus_domain::{
    Delivery, DeliveryAttempt, DeliveryCursor, DeliveryId, DeliveryPage, DeliveryQuery, DeliveryRecord, Event,
    EventFilter, PING_TYPE, Ping, PreviousSecret, SessionId, SigningSecrets, TenantId, Timestamp, WebhookEndpoint,
    WebhookId, WebhookMessage, WebhookSecret, WebhookUrl,
};

use super::{convert_all, convert_one, parse_stored};
use crate::entity::{outbox_event, webhook_attempt, webhook_delivery, webhook_endpoint};
use crate::error::{failed, insert_failed, storage_error};
use crate::{Backend, Storage};

/// Deliveries inserted per statement when fanning out (17 bound values each).
const INSERT_CHUNK: usize = 200;

#[async_trait]
impl WebhookEndpointRepository for Storage {
    async fn insert(&self, endpoint: &WebhookEndpoint) -> Result<(), InsertError> {
        const DOING: &str = "inserting a webhook endpoint";
        let row = endpoint_row(endpoint).map_err(|err| storage_error(DOING, err))?;
        self.execute(webhook_endpoint::Entity::insert(row)).await.map_err(insert_failed(DOING))?;
        Ok(())
    }

    async fn get(&self, tenant: TenantId, id: WebhookId) -> Result<Option<WebhookEndpoint>, StorageError> {
        const DOING: &str = "reading a webhook endpoint";
        let select = webhook_endpoint::Entity::find().filter(is_endpoint(tenant, id));
        let row = self.fetch_optional(select).await.map_err(failed(DOING))?;
        convert_one(DOING, row, endpoint_from_row)
    }

    async fn list(&self, tenant: TenantId) -> Result<Vec<WebhookEndpoint>, StorageError> {
        const DOING: &str = "listing webhook endpoints";
        let select = webhook_endpoint::Entity::find()
            .filter(webhook_endpoint::Column::TenantId.eq(*tenant.as_uuid()))
            .order_by_asc(webhook_endpoint::Column::CreatedAt)
            .order_by_asc(webhook_endpoint::Column::Id);
        let rows = self.fetch_all(select).await.map_err(failed(DOING))?;
        convert_all(DOING, rows, endpoint_from_row)
    }

    async fn update(&self, endpoint: &WebhookEndpoint) -> Result<bool, StorageError> {
        const DOING: &str = "updating a webhook endpoint";
        let mut row = endpoint_row(endpoint).map_err(|err| storage_error(DOING, err))?;
        row.id = sea_orm::ActiveValue::NotSet;
        row.tenant_id = sea_orm::ActiveValue::NotSet;
        row.created_at = sea_orm::ActiveValue::NotSet;
        let update = webhook_endpoint::Entity::update_many().set(row).filter(is_endpoint(endpoint.tenant, endpoint.id));
        Ok(self.execute(update).await.map_err(failed(DOING))? > 0)
    }

    /// Its deliveries and their attempts go with it, by the foreign keys' `ON DELETE CASCADE`.
    async fn delete(&self, tenant: TenantId, id: WebhookId) -> Result<bool, StorageError> {
        let delete = webhook_endpoint::Entity::delete_many().filter(is_endpoint(tenant, id));
        Ok(self.execute(delete).await.map_err(failed("deleting a webhook endpoint"))? > 0)
    }

    async fn disable(
        &self,
        tenant: TenantId,
        id: WebhookId,
        reason: &str,
        at: Timestamp,
    ) -> Result<bool, StorageError> {
        const DOING: &str = "disabling a webhook endpoint";
        let update = webhook_endpoint::Entity::update_many()
            .col_expr(webhook_endpoint::Column::Enabled, Expr::value(false))
            .col_expr(webhook_endpoint::Column::DisabledReason, Expr::value(reason))
            .col_expr(webhook_endpoint::Column::UpdatedAt, Expr::value(at))
            .filter(is_endpoint(tenant, id))
            .filter(webhook_endpoint::Column::Enabled.eq(true));
        if self.execute(update).await.map_err(failed(DOING))? > 0 {
            return Ok(true);
        }
        Ok(WebhookEndpointRepository::get(self, tenant, id).await?.is_some())
    }
}

#[async_trait]
impl WebhookOutbox for Storage {
    async fn fan_out(&self, limit: u32, now: Timestamp, ids: Arc<dyn IdGenerator>) -> Result<FanOut, StorageError> {
        const DOING: &str = "fanning out outbox events to webhooks";
        // A read first: most calls find nothing, and then take no write lock.
        let waiting = "SELECT id FROM outbox_events WHERE dispatched_at IS NULL LIMIT 1";
        if self.read_one_raw(self.raw_statement(waiting, [])).await.map_err(failed(DOING))?.is_none() {
            return Ok(FanOut::default());
        }
        let txn = self.begin_write().await.map_err(failed(DOING))?;
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT * FROM outbox_events WHERE dispatched_at IS NULL ORDER BY occurred_at, id LIMIT ?"
            }
            Backend::Postgres => {
                "SELECT * FROM outbox_events WHERE dispatched_at IS NULL ORDER BY occurred_at, id LIMIT $1 \
                 FOR UPDATE SKIP LOCKED"
            }
        };
        let events: Vec<outbox_event::Model> =
            read_in(&txn, self.raw_statement(sql, [i64::from(limit).into()])).await.map_err(failed(DOING))?;
        if events.is_empty() {
            txn.rollback().await.map_err(failed(DOING))?;
            return Ok(FanOut::default());
        }

        let tenants: BTreeSet<Uuid> = events.iter().map(|e| e.tenant_id).collect();
        let select = webhook_endpoint::Entity::find()
            .filter(webhook_endpoint::Column::TenantId.is_in(tenants))
            .filter(webhook_endpoint::Column::Enabled.eq(true))
            .order_by_asc(webhook_endpoint::Column::CreatedAt)
            .order_by_asc(webhook_endpoint::Column::Id);
        let rows: Vec<webhook_endpoint::Model> =
            read_in(&txn, self.rendered(select.as_query())).await.map_err(failed(DOING))?;
        let endpoints = convert_all(DOING, rows, endpoint_from_row)?;

        let mut report = FanOut { events: events.len() as u32, ..FanOut::default() };
        let mut deliveries = Vec::new();
        for row in &events {
            let Ok(event) = serde_json::from_str::<Event>(&row.payload) else {
                report.unreadable += 1;
                continue;
            };
            for endpoint in endpoints.iter().filter(|e| e.wants(&event)) {
                let id = DeliveryId::from_uuid(ids.uuid());
                let delivery = Delivery::new(id, endpoint, WebhookMessage::Event(event.clone()), now);
                deliveries.push(delivery_row(&delivery).map_err(|err| storage_error(DOING, err))?);
            }
        }
        for chunk in deliveries.chunks(INSERT_CHUNK) {
            let insert = webhook_delivery::Entity::insert_many(chunk.to_vec()).on_conflict(
                OnConflict::columns([webhook_delivery::Column::EndpointId, webhook_delivery::Column::EventId])
                    .do_nothing()
                    .to_owned(),
            );
            report.deliveries += self.execute_in(&txn, insert).await.map_err(failed(DOING))? as u32;
        }
        let dispatched = outbox_event::Entity::update_many()
            .col_expr(outbox_event::Column::DispatchedAt, Expr::value(now))
            .filter(outbox_event::Column::Id.is_in(events.iter().map(|e| e.id)));
        self.execute_in(&txn, dispatched).await.map_err(failed(DOING))?;
        txn.commit().await.map_err(failed(DOING))?;
        Ok(report)
    }
}

#[async_trait]
impl WebhookDeliveryRepository for Storage {
    async fn insert(&self, delivery: &Delivery, attempts: &[DeliveryAttempt]) -> Result<(), InsertError> {
        const DOING: &str = "inserting a webhook delivery";
        let row = delivery_row(delivery).map_err(|err| storage_error(DOING, err))?;
        let attempt_rows = attempts.iter().map(attempt_row).collect::<anyhow::Result<Vec<_>>>();
        let attempt_rows = attempt_rows.map_err(|err| storage_error(DOING, err))?;
        let txn = self.begin_write().await.map_err(failed(DOING))?;
        self.execute_in(&txn, webhook_delivery::Entity::insert(row)).await.map_err(insert_failed(DOING))?;
        if !attempt_rows.is_empty() {
            let insert = webhook_attempt::Entity::insert_many(attempt_rows);
            self.execute_in(&txn, insert).await.map_err(insert_failed(DOING))?;
        }
        txn.commit().await.map_err(failed(DOING))?;
        Ok(())
    }

    /// Returned oldest due first (by `next_attempt_at`, then id).
    async fn claim_due(&self, claim: &DueClaim) -> Result<Vec<ClaimedDelivery>, StorageError> {
        const DOING: &str = "claiming due webhook deliveries";
        let statement = self.claim_statement(claim);
        let rows = self.write_returning::<webhook_delivery::Entity>(statement).await.map_err(failed(DOING))?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let endpoint_ids: BTreeSet<Uuid> = rows.iter().map(|r| r.endpoint_id).collect();
        let select = webhook_endpoint::Entity::find().filter(webhook_endpoint::Column::Id.is_in(endpoint_ids));
        let endpoint_rows = self.fetch_all(select).await.map_err(failed(DOING))?;
        let endpoints: HashMap<Uuid, WebhookEndpoint> =
            convert_all(DOING, endpoint_rows, endpoint_from_row)?.into_iter().map(|e| (*e.id.as_uuid(), e)).collect();
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            // An endpoint deleted since takes its deliveries with it: nothing to attempt.
            let Some(endpoint) = endpoints.get(&row.endpoint_id).cloned() else { continue };
            let delivery = delivery_from_row(row).map_err(|err| storage_error(DOING, err))?;
            claimed.push(ClaimedDelivery { delivery, endpoint, lease_until: claim.lease_until });
        }
        claimed.sort_by_key(|c| (c.delivery.next_attempt_at, c.delivery.id));
        Ok(claimed)
    }

    async fn record_attempt(
        &self,
        delivery: &Delivery,
        attempt: &DeliveryAttempt,
        lease_until: Timestamp,
    ) -> Result<bool, StorageError> {
        const DOING: &str = "recording a webhook delivery attempt";
        let mut columns = delivery_row(delivery).map_err(|err| storage_error(DOING, err))?;
        columns.id = sea_orm::ActiveValue::NotSet;
        columns.tenant_id = sea_orm::ActiveValue::NotSet;
        columns.endpoint_id = sea_orm::ActiveValue::NotSet;
        columns.event_id = sea_orm::ActiveValue::NotSet;
        columns.event_type = sea_orm::ActiveValue::NotSet;
        columns.payload = sea_orm::ActiveValue::NotSet;
        columns.created_at = sea_orm::ActiveValue::NotSet;
        columns.lease_until = Set(None);
        let attempt = attempt_row(attempt).map_err(|err| storage_error(DOING, err))?;
        let update = webhook_delivery::Entity::update_many()
            .set(columns)
            .filter(webhook_delivery::Column::Id.eq(*delivery.id.as_uuid()))
            .filter(webhook_delivery::Column::LeaseUntil.eq(lease_until));
        let txn = self.begin_write().await.map_err(failed(DOING))?;
        if self.execute_in(&txn, update).await.map_err(failed(DOING))? == 0 {
            txn.rollback().await.map_err(failed(DOING))?;
            return Ok(false);
        }
        let insert = webhook_attempt::Entity::insert(attempt).on_conflict(
            OnConflict::columns([webhook_attempt::Column::DeliveryId, webhook_attempt::Column::Number])
                .do_nothing()
                .to_owned(),
        );
        self.execute_in(&txn, insert).await.map_err(failed(DOING))?;
        txn.commit().await.map_err(failed(DOING))?;
        Ok(true)
    }

    async fn list(
        &self,
        tenant: TenantId,
        endpoint: WebhookId,
        query: &DeliveryQuery,
    ) -> Result<DeliveryPage, StorageError> {
        const DOING: &str = "listing webhook deliveries";
        use webhook_delivery::Column;
        let limit = usize::from(query.limit.get());
        let select = webhook_delivery::Entity::find()
            .filter(of_endpoint(tenant, endpoint))
            .apply_if(query.state, |select, state| select.filter(Column::State.eq(state.as_str())))
            .apply_if(query.after, |select, cursor| select.filter(older_than(&cursor)))
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            // One more than asked tells whether there is a next page.
            .limit(u64::from(query.limit.get()) + 1);
        let mut rows = self.fetch_all(select).await.map_err(failed(DOING))?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let deliveries = convert_all(DOING, rows, delivery_from_row)?;
        let mut attempts = self.attempts_of(deliveries.iter().map(|d| d.id)).await?;
        let next = match deliveries.last() {
            Some(last) if more => Some(DeliveryCursor { created_at: last.created_at, id: last.id }),
            _ => None,
        };
        let items = deliveries
            .into_iter()
            .map(|delivery| DeliveryRecord { attempts: attempts.remove(&delivery.id).unwrap_or_default(), delivery })
            .collect();
        Ok(DeliveryPage { items, next })
    }

    async fn get(
        &self,
        tenant: TenantId,
        endpoint: WebhookId,
        id: DeliveryId,
    ) -> Result<Option<DeliveryRecord>, StorageError> {
        const DOING: &str = "reading a webhook delivery";
        let select = webhook_delivery::Entity::find()
            .filter(of_endpoint(tenant, endpoint))
            .filter(webhook_delivery::Column::Id.eq(*id.as_uuid()));
        let row = self.fetch_optional(select).await.map_err(failed(DOING))?;
        let Some(delivery) = convert_one(DOING, row, delivery_from_row)? else {
            return Ok(None);
        };
        let attempts = self.attempts_of([delivery.id]).await?.remove(&delivery.id).unwrap_or_default();
        Ok(Some(DeliveryRecord { delivery, attempts }))
    }

    async fn requeue(
        &self,
        tenant: TenantId,
        endpoint: WebhookId,
        id: DeliveryId,
        at: Timestamp,
    ) -> Result<Option<DeliveryRecord>, StorageError> {
        use webhook_delivery::Column;
        let update = webhook_delivery::Entity::update_many()
            .col_expr(Column::State, Expr::value("pending"))
            .col_expr(Column::NextAttemptAt, Expr::value(at))
            .col_expr(Column::RoundStart, Expr::col(Column::Attempts))
            .col_expr(Column::UpdatedAt, Expr::value(at))
            .filter(of_endpoint(tenant, endpoint))
            .filter(Column::Id.eq(*id.as_uuid()));
        if self.execute(update).await.map_err(failed("requeueing a webhook delivery"))? == 0 {
            return Ok(None);
        }
        WebhookDeliveryRepository::get(self, tenant, endpoint, id).await
    }

    async fn next_due(&self) -> Result<Option<Timestamp>, StorageError> {
        const DOING: &str = "finding when the next webhook delivery is due";
        const SQL: &str = "\
SELECT MIN(CASE WHEN d.lease_until IS NOT NULL AND d.lease_until > d.next_attempt_at \
THEN d.lease_until ELSE d.next_attempt_at END) AS next_due \
FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
WHERE d.state = 'pending' AND e.enabled";
        let row = self.read_one_raw(self.raw_statement(SQL, [])).await.map_err(failed(DOING))?;
        match row {
            Some(row) => row.try_get::<Option<Timestamp>>("", "next_due").map_err(failed(DOING)),
            None => Ok(None),
        }
    }
}

impl Storage {
    /// A typed query rendered for this backend, timestamps encoded as this crate stores them.
    fn rendered<S: sea_orm::StatementBuilder>(&self, query: &S) -> Statement {
        let statement = self.writer.get_database_backend().build(query);
        self.raw_statement(&statement.sql, statement.values.map(|v| v.0).unwrap_or_default())
    }

    /// The attempts of these deliveries, oldest first, by delivery.
    async fn attempts_of(
        &self,
        deliveries: impl IntoIterator<Item = DeliveryId>,
    ) -> Result<HashMap<DeliveryId, Vec<DeliveryAttempt>>, StorageError> {
        const DOING: &str = "reading webhook delivery attempts";
        let ids: Vec<Uuid> = deliveries.into_iter().map(|d| *d.as_uuid()).collect();
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let select = webhook_attempt::Entity::find()
            .filter(webhook_attempt::Column::DeliveryId.is_in(ids))
            .order_by_asc(webhook_attempt::Column::DeliveryId)
            .order_by_asc(webhook_attempt::Column::Number);
        let rows = self.fetch_all(select).await.map_err(failed(DOING))?;
        let mut by_delivery: HashMap<DeliveryId, Vec<DeliveryAttempt>> = HashMap::new();
        for attempt in convert_all(DOING, rows, attempt_from_row)? {
            by_delivery.entry(attempt.delivery).or_default().push(attempt);
        }
        Ok(by_delivery)
    }

    /// The claiming statement for this backend (see the module's documentation).
    fn claim_statement(&self, claim: &DueClaim) -> Statement {
        let mut values: Vec<Value> = Vec::new();
        let backend = self.backend;
        let mut bind = |value: Value| {
            values.push(value);
            match backend {
                Backend::Sqlite => "?".to_owned(),
                Backend::Postgres => format!("${}", values.len()),
            }
        };
        let lease = bind(claim.lease_until.into());
        let now_1 = bind(claim.now.into());
        let now_2 = bind(claim.now.into());
        let skip = if claim.skip.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = claim.skip.iter().map(|id| bind((*id.as_uuid()).into())).collect();
            format!("AND d.endpoint_id NOT IN ({})", list.join(", "))
        };
        let per_endpoint = bind(i64::from(claim.per_endpoint).into());
        let now_3 = bind(claim.now.into());
        let limit = bind(i64::from(claim.limit).into());
        let now_4 = bind(claim.now.into());
        let lock = match backend {
            Backend::Sqlite => "",
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE webhook_deliveries SET lease_until = {lease} \
WHERE id IN ( \
    SELECT id FROM webhook_deliveries \
    WHERE id IN ( \
        SELECT ranked.id FROM ( \
            SELECT d.id AS id, ROW_NUMBER() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) AS rn \
            FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
            WHERE d.state = 'pending' AND d.next_attempt_at <= {now_1} \
              AND (d.lease_until IS NULL OR d.lease_until <= {now_2}) AND e.enabled {skip} \
        ) ranked WHERE ranked.rn <= {per_endpoint} \
    ) AND state = 'pending' AND (lease_until IS NULL OR lease_until <= {now_3}) \
    ORDER BY next_attempt_at, id \
    LIMIT {limit} {lock} \
) AND state = 'pending' AND (lease_until IS NULL OR lease_until <= {now_4}) \
RETURNING *"
        );
        self.raw_statement(&sql, values)
    }
}

/// Reads the rows of `statement` in `txn` as `M`.
async fn read_in<M: FromQueryResult>(
    txn: &DatabaseTransaction,
    statement: Statement,
) -> Result<Vec<M>, sea_orm::DbErr> {
    let rows = txn.query_all_raw(statement).await?;
    rows.iter().map(|row| M::from_query_result(row, "")).collect()
}

/// The endpoint `id` of `tenant` (and never another tenant's).
fn is_endpoint(tenant: TenantId, id: WebhookId) -> Condition {
    Condition::all()
        .add(webhook_endpoint::Column::TenantId.eq(*tenant.as_uuid()))
        .add(webhook_endpoint::Column::Id.eq(*id.as_uuid()))
}

/// The deliveries of the endpoint `endpoint` of `tenant`.
fn of_endpoint(tenant: TenantId, endpoint: WebhookId) -> Condition {
    Condition::all()
        .add(webhook_delivery::Column::TenantId.eq(*tenant.as_uuid()))
        .add(webhook_delivery::Column::EndpointId.eq(*endpoint.as_uuid()))
}

/// The deliveries after `cursor` in newest-first order: `(created_at, id) < (cursor's pair)`.
fn older_than(cursor: &DeliveryCursor) -> Expr {
    use webhook_delivery::{Column, Entity};
    Expr::tuple([Expr::col((Entity, Column::CreatedAt)), Expr::col((Entity, Column::Id))])
        .lt(Expr::tuple([Expr::value(cursor.created_at), Expr::value(*cursor.id.as_uuid())]))
}

fn endpoint_row(endpoint: &WebhookEndpoint) -> anyhow::Result<webhook_endpoint::ActiveModel> {
    let previous = endpoint.secrets.previous.as_ref();
    Ok(webhook_endpoint::ActiveModel {
        id: Set(*endpoint.id.as_uuid()),
        tenant_id: Set(*endpoint.tenant.as_uuid()),
        url: Set(endpoint.url.as_str().to_owned()),
        events: Set(endpoint.events.names().join(" ")),
        format: Set(endpoint.format.as_str().to_owned()),
        session_id: Set(endpoint.session.as_ref().map(|s| s.as_str().to_owned())),
        enabled: Set(endpoint.enabled),
        disabled_reason: Set(endpoint.disabled_reason.clone()),
        secret: Set(endpoint.secrets.current.expose().to_owned()),
        previous_secret: Set(previous.map(|p| p.secret.expose().to_owned())),
        previous_secret_expires_at: Set(previous.map(|p| p.expires_at)),
        created_at: Set(endpoint.created_at),
        updated_at: Set(endpoint.updated_at),
    })
}

fn endpoint_from_row(row: webhook_endpoint::Model) -> anyhow::Result<WebhookEndpoint> {
    let names: Vec<&str> = row.events.split_whitespace().collect();
    let events = EventFilter::parse(&names).context("column webhook_endpoints.events holds an unknown event type")?;
    let previous = match (row.previous_secret, row.previous_secret_expires_at) {
        (Some(secret), Some(expires_at)) => Some(PreviousSecret { secret: WebhookSecret::new(secret)?, expires_at }),
        (None, None) => None,
        _ => return Err(anyhow!("webhook_endpoints.previous_secret and its expiry are set only together")),
    };
    Ok(WebhookEndpoint {
        id: WebhookId::from_uuid(row.id),
        tenant: TenantId::from_uuid(row.tenant_id),
        url: WebhookUrl::new(row.url)?,
        events,
        format: parse_stored("webhook_endpoints.format", &row.format)?,
        session: row.session_id.map(SessionId::new).transpose()?,
        enabled: row.enabled,
        disabled_reason: row.disabled_reason,
        secrets: SigningSecrets { current: WebhookSecret::new(row.secret)?, previous },
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn delivery_row(delivery: &Delivery) -> anyhow::Result<webhook_delivery::ActiveModel> {
    let payload = match &delivery.message {
        WebhookMessage::Event(event) => serde_json::to_string(event),
        WebhookMessage::Ping(ping) => serde_json::to_string(ping),
    }
    .context("could not serialise a webhook message")?;
    Ok(webhook_delivery::ActiveModel {
        id: Set(*delivery.id.as_uuid()),
        tenant_id: Set(*delivery.tenant.as_uuid()),
        endpoint_id: Set(*delivery.endpoint.as_uuid()),
        event_id: Set(*delivery.message.id().as_uuid()),
        event_type: Set(delivery.message.type_name().to_owned()),
        payload: Set(payload),
        state: Set(delivery.state.as_str().to_owned()),
        attempts: Set(i32::try_from(delivery.attempts).context("webhook_deliveries.attempts out of range")?),
        round_start: Set(i32::try_from(delivery.round_start).context("webhook_deliveries.round_start out of range")?),
        next_attempt_at: Set(delivery.next_attempt_at),
        lease_until: Set(None),
        last_attempt_at: Set(delivery.last_attempt_at),
        last_status_code: Set(delivery.last_status_code.map(i32::from)),
        last_error: Set(delivery.last_error.clone()),
        last_latency_ms: Set(delivery.last_latency.map(millis)),
        created_at: Set(delivery.created_at),
        updated_at: Set(delivery.updated_at),
    })
}

fn delivery_from_row(row: webhook_delivery::Model) -> anyhow::Result<Delivery> {
    let message = if row.event_type == PING_TYPE {
        WebhookMessage::Ping(serde_json::from_str::<Ping>(&row.payload).context("webhook_deliveries.payload")?)
    } else {
        WebhookMessage::Event(serde_json::from_str::<Event>(&row.payload).context("webhook_deliveries.payload")?)
    };
    Ok(Delivery {
        id: DeliveryId::from_uuid(row.id),
        tenant: TenantId::from_uuid(row.tenant_id),
        endpoint: WebhookId::from_uuid(row.endpoint_id),
        message,
        state: parse_stored("webhook_deliveries.state", &row.state)?,
        attempts: u32::try_from(row.attempts).context("webhook_deliveries.attempts out of range")?,
        round_start: u32::try_from(row.round_start).context("webhook_deliveries.round_start out of range")?,
        next_attempt_at: row.next_attempt_at,
        last_attempt_at: row.last_attempt_at,
        last_status_code: row.last_status_code.map(status_code).transpose()?,
        last_error: row.last_error,
        last_latency: row.last_latency_ms.map(duration).transpose()?,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn attempt_row(attempt: &DeliveryAttempt) -> anyhow::Result<webhook_attempt::ActiveModel> {
    Ok(webhook_attempt::ActiveModel {
        delivery_id: Set(*attempt.delivery.as_uuid()),
        number: Set(i32::try_from(attempt.number).context("webhook_attempts.number out of range")?),
        attempted_at: Set(attempt.attempted_at),
        status_code: Set(attempt.status_code.map(i32::from)),
        latency_ms: Set(millis(attempt.latency)),
        error: Set(attempt.error.clone()),
        response_excerpt: Set(attempt.response_excerpt.clone()),
    })
}

fn attempt_from_row(row: webhook_attempt::Model) -> anyhow::Result<DeliveryAttempt> {
    Ok(DeliveryAttempt {
        delivery: DeliveryId::from_uuid(row.delivery_id),
        number: u32::try_from(row.number).context("webhook_attempts.number out of range")?,
        attempted_at: row.attempted_at,
        status_code: row.status_code.map(status_code).transpose()?,
        latency: duration(row.latency_ms)?,
        error: row.error,
        response_excerpt: row.response_excerpt,
    })
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn duration(millis: i64) -> anyhow::Result<Duration> {
    Ok(Duration::from_millis(u64::try_from(millis).context("a negative latency")?))
}

fn status_code(code: i32) -> anyhow::Result<u16> {
    u16::try_from(code).context("an HTTP status code out of range")
}
