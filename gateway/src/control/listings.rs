//! A provider's listings, managed with a provider key (`models:write`, `status:read`) or a
//! SIWE message of the owning wallet in the query (`?message=…&signature=…`):
//!
//! - `PUT /v1/provider/upstreams/:id` `{"kind","base_url","api_key","priority","enabled"}` →
//!   `{"id","created","kind","base_url","priority","enabled","api_key_last4","models":[…]}`;
//!   the key is sealed at once and never shown again (last 4 characters only);
//! - `DELETE /v1/provider/upstreams/:id` → `{"deleted":true}`;
//! - `PUT /v1/provider/models/:id` `{"upstream","upstream_model","display_name",
//!   "context_length","input_modalities","output_modalities","pricing":{…},"enabled"}` →
//!   `{"id","upstream","live","status","price_id"}`: live only once the probe succeeded with
//!   usage;
//! - `DELETE /v1/provider/models/:id?upstream=…` → `{"deleted":true}`;
//! - `GET /v1/provider/status` → every upstream and model of the caller, with probe status,
//!   suspension, this node's health view and the last day's counts.
//!
//! Every write notifies the fleet (see [`crate::market::feed`]); in-flight requests finish on
//! the snapshot they were admitted under.

use super::caller::ledger_error;
use super::listing_body::{ModelBody, UpstreamBody};
use super::Accounts;
use crate::market::probe::{self, ProbeTarget};
use crate::market::{rows, sealed};
use crate::wire::{read_json, reply, ApiError};
use pingora::proxy::Session;
use serde_json::{json, Value};
use tollgate_billing::ledger::market::{ModelRow, PriceRow, Refused, UpstreamRow};
use tollgate_billing::Price;

pub async fn put_upstream(session: &mut Session, a: &Accounts, id: &str) -> pingora::Result<()> {
    let r = upsert_upstream(session, a, id).await;
    let r = seen_here(a, r).await;
    reply(session, 200, r).await
}

pub async fn delete_upstream(session: &mut Session, a: &Accounts, id: &str) -> pingora::Result<()> {
    let r = async {
        let wallet = a.provider_wallet(session, "models:write").await?;
        match a
            .ledger
            .delete_upstream(&wallet, id)
            .await
            .map_err(ledger_error)?
        {
            true => Ok(json!({ "deleted": true, "id": id })),
            false => Err(not_yours("upstream", id)),
        }
    }
    .await;
    let r = seen_here(a, r).await;
    reply(session, 200, r).await
}

pub async fn put_model(session: &mut Session, a: &Accounts, id: &str) -> pingora::Result<()> {
    let r = upsert_model(session, a, id).await;
    let r = seen_here(a, r).await;
    reply(session, 200, r).await
}

pub async fn delete_model(session: &mut Session, a: &Accounts, id: &str) -> pingora::Result<()> {
    let r = async {
        let wallet = a.provider_wallet(session, "models:write").await?;
        let q = session.req_header().uri.query().unwrap_or("");
        let upstream = form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "upstream")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| ApiError::validation("query parameter upstream is required"))?;
        match a
            .ledger
            .delete_model(&wallet, &upstream, id)
            .await
            .map_err(ledger_error)?
        {
            true => Ok(json!({ "deleted": true, "id": id, "upstream": upstream })),
            false => Err(not_yours("model", id)),
        }
    }
    .await;
    let r = seen_here(a, r).await;
    reply(session, 200, r).await
}

/// After a write that changed the catalog, this node's snapshot is rebuilt before the
/// answer: a client that reads `/v1/models` right after its `PUT` sees it here (read your
/// writes); the other nodes follow `NOTIFY` within a second.
async fn seen_here(a: &Accounts, r: Result<Value, ApiError>) -> Result<Value, ApiError> {
    if r.is_ok() {
        if let Err(e) = a.market.reload().await {
            log::warn!("marketplace reload after a listing change failed: {e}");
        }
    }
    r
}

pub async fn status(session: &mut Session, a: &Accounts) -> pingora::Result<()> {
    let r = status_of(session, a).await;
    reply(session, 200, r).await
}

fn not_yours(what: &str, id: &str) -> ApiError {
    ApiError::new(404, "NOT_FOUND", format!("You have no {what} {id:?}"))
}

fn refused(r: Refused, id: &str) -> ApiError {
    match r {
        Refused::NotOwner => ApiError::new(
            409,
            "CONFLICT",
            format!("Provider id {id:?} is taken by another wallet"),
        ),
        Refused::Unknown => ApiError::validation(format!(
            "upstream: you have no upstream {id:?} (PUT /v1/provider/upstreams/{id} first)"
        )),
    }
}

fn market(a: &Accounts) -> Result<(&crate::market::Market, &sealed::Keyring), ApiError> {
    let m = a.market.as_ref();
    match (&m.settings, &m.master) {
        (Some(_), Some(k)) => Ok((m, k)),
        _ => Err(ApiError::not_found(
            "the marketplace (configure the marketplace: section to enable it)",
        )),
    }
}

async fn upsert_upstream(session: &mut Session, a: &Accounts, id: &str) -> Result<Value, ApiError> {
    let (m, master) = market(a)?;
    let wallet = a.provider_wallet(session, "models:write").await?;
    let body = UpstreamBody::parse(read_json(session).await?, id)?;
    if m.is_yaml_provider(id) {
        return Err(ApiError::new(
            409,
            "CONFLICT",
            format!("Provider id {id:?} belongs to this gateway's configuration"),
        ));
    }
    let settings = m.settings.as_ref().expect("checked above");
    body.check_address(settings.allow_private_upstreams).await?;
    let row = UpstreamRow {
        id: id.to_string(),
        owner: wallet.clone(),
        kind: body.kind_text().to_string(),
        base_url: body.base_url.clone(),
        priority: body.priority as i32,
        key_sealed: body.api_key.as_deref().map(|k| master.current.seal(id, k)),
        key_master_id: body
            .api_key
            .as_ref()
            .map(|_| master.current.id().to_string()),
        key_last4: body.api_key.as_deref().map(sealed::last4),
        enabled: body.enabled,
        suspended_reason: None,
    };
    let created = a
        .ledger
        .put_upstream(&row)
        .await
        .map_err(ledger_error)?
        .map_err(|r| refused(r, id))?;
    // The upstream changed: its models are probed again before they route.
    let (ups, models) = a.ledger.market().await.map_err(ledger_error)?;
    let stored = ups.iter().find(|u| u.id == id).cloned().unwrap_or(row);
    let mut verdicts = Vec::new();
    for model in models.iter().filter(|x| x.upstream_id == id) {
        verdicts.push(probe_and_record(a, &stored, model).await?);
    }
    Ok(json!({
        "id": id,
        "created": created,
        "kind": stored.kind,
        "base_url": stored.base_url,
        "priority": stored.priority,
        "enabled": stored.enabled,
        "api_key_last4": stored.key_last4,
        "models": verdicts,
    }))
}

async fn upsert_model(session: &mut Session, a: &Accounts, id: &str) -> Result<Value, ApiError> {
    market(a)?;
    let wallet = a.provider_wallet(session, "models:write").await?;
    let body = ModelBody::parse(read_json(session).await?, id)?;
    // `acme/x` would read as provider acme's pin of `x`: refused while `acme` is a provider.
    if let Some((prefix, _)) = id.split_once('/') {
        let (ups, _) = a.ledger.market().await.map_err(ledger_error)?;
        if a.market.is_yaml_provider(prefix) || ups.iter().any(|u| u.id == prefix) {
            return Err(ApiError::validation(format!(
                "id: {id:?} starts with provider id {prefix:?}, so buyers would read it as that provider's pin"
            )));
        }
    }
    let mut row = body.row(id);
    let (price_id, revision) = a
        .ledger
        .put_model(&wallet, &row)
        .await
        .map_err(ledger_error)?
        .map_err(|r| refused(r, &body.upstream))?;
    row.price_id = price_id;
    row.revision = revision;
    let up = a
        .ledger
        .upstream(&body.upstream)
        .await
        .map_err(ledger_error)?
        .ok_or_else(|| refused(Refused::Unknown, &body.upstream))?;
    probe_and_record(a, &up, &row).await
}

/// Probe one model (unless it or its upstream is off) and record the verdict.
async fn probe_and_record(
    a: &Accounts,
    up: &UpstreamRow,
    model: &ModelRow,
) -> Result<Value, ApiError> {
    let (m, master) = market(a)?;
    let settings = m.settings.as_ref().expect("checked by market()");
    let verdict: Result<(), String> = if !model.enabled {
        Err("disabled".into())
    } else if !up.enabled {
        Err("upstream disabled".into())
    } else if let Some(why) = &up.suspended_reason {
        Err(format!("upstream suspended: {why}"))
    } else {
        match rows::provider(
            up,
            &[&ModelRow {
                live: true,
                ..model.clone()
            }],
            master,
        ) {
            Err(e) => Err(e),
            Ok(p) => {
                let target = ProbeTarget {
                    kind: p.kind,
                    upstream: &p.upstream,
                    api_key: p.api_key.expose(),
                    upstream_model: &model.upstream_model,
                    checked: !settings.allow_private_upstreams,
                };
                probe::probe(&target, settings.probe_timeout).await
            }
        }
    };
    let (mut live, mut status) = match &verdict {
        Ok(()) => (true, "live".to_string()),
        Err(why) => (false, why.clone()),
    };
    let recorded = a
        .ledger
        .set_model_live(&up.id, &model.id, model.revision, live, &status)
        .await
        .map_err(ledger_error)?;
    if !recorded {
        // Changed while this probe ran: the newer change's own probe decides.
        (live, status) = (
            false,
            "changed during the probe; the newer change is probed".into(),
        );
    }
    Ok(json!({
        "id": model.id,
        "upstream": up.id,
        "live": live,
        "status": status,
        "price_id": model.price_id,
    }))
}

/// The provider's own prices as listed (USD per 1M tokens; `request` per request, `image`
/// per image), so a listing can be edited without retyping them.
fn listed_prices(p: &PriceRow) -> Value {
    let usd = |m: i64| Price::from_micros_per_million(m.max(0) as u64).to_string();
    let mut v = json!({
        "prompt": usd(p.prompt),
        "completion": usd(p.completion),
        "cache_read": usd(p.cache_read),
        "cache_write_5m": usd(p.cache_write_5m),
        "cache_write_1h": usd(p.cache_write_1h),
    });
    if let Some(i) = p.image {
        v["image"] = json!(usd(i));
    }
    if p.request > 0 {
        v["request"] = json!(usd(p.request));
    }
    v
}

async fn status_of(session: &Session, a: &Accounts) -> Result<Value, ApiError> {
    market(a)?;
    let wallet = a.provider_wallet(session, "status:read").await?;
    let (ups, models) = a.ledger.market().await.map_err(ledger_error)?;
    let flags = a.ledger.usage_flags(24, true).await.map_err(ledger_error)?;
    let listings = a.market.current();
    let mine: Vec<Value> = ups
        .iter()
        .filter(|u| u.owner == wallet)
        .map(|u| {
            let health = listings
                .providers
                .iter()
                .position(|p| p.id == u.id)
                .map(|i| super::public::health_name(listings.pool.health(i)));
            let day = flags.iter().find(|f| f.0 == u.id);
            json!({
                "id": u.id,
                "kind": u.kind,
                "base_url": u.base_url,
                "priority": u.priority,
                "enabled": u.enabled,
                "api_key_last4": u.key_last4,
                "suspended": u.suspended_reason.is_some(),
                "suspended_reason": u.suspended_reason,
                "routed": health.is_some(),
                "health": health,
                "last_24h": {
                    "requests": day.map_or(0, |d| d.1),
                    "usage_missing": day.map_or(0, |d| d.2),
                    "usage_disproved": day.map_or(0, |d| d.3),
                },
                "models": models.iter().filter(|m| m.upstream_id == u.id).map(|m| json!({
                    "id": m.id,
                    "upstream_model": m.upstream_model,
                    "display_name": m.display_name,
                    "context_length": m.context_length,
                    "input_modalities": m.input_modalities,
                    "output_modalities": m.output_modalities,
                    "pricing": listed_prices(&m.prices),
                    "enabled": m.enabled,
                    "live": m.live,
                    "status": m.status,
                    "price_id": m.price_id,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({ "wallet": wallet, "upstreams": mine }))
}
