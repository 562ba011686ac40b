//! Postgres `LISTEN` feeds every gateway node follows: API-key revocations and catalog
//! changes. A notification is delivered at the commit of the transaction that sent it, so a
//! node never hears of a change it cannot read yet.

use super::{Ledger, LedgerError};
use std::time::Duration;
use tokio_postgres::{AsyncMessage, NoTls};

/// What a follower hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Feed {
    /// Listening (again). Anything learned before may have missed a notification.
    Listening,
    /// The feed is down until the next `Listening`.
    Lost,
    /// One notification's payload.
    Notified(String),
}

/// Follow `channel` forever: connect, `LISTEN`, report [`Feed`] events; on any failure
/// report `Lost`, back off (up to 2 s) and reconnect. A ping every `PING_EVERY` notices a
/// connection that died silently.
pub async fn watch(ledger: Ledger, channel: &'static str, mut on_event: impl FnMut(Feed) + Send) {
    const PING_EVERY: Duration = Duration::from_millis(500);
    let mut backoff = Duration::from_millis(50);
    loop {
        match listen_once(&ledger.config, channel, &mut on_event, PING_EVERY).await {
            Ok(()) => backoff = Duration::from_millis(50),
            Err(e) => log::warn!("{channel} feed: {e}; reconnecting"),
        }
        on_event(Feed::Lost);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// One connection's worth of the feed; returns when the connection ends.
async fn listen_once(
    config: &tokio_postgres::Config,
    channel: &'static str,
    on_event: &mut (impl FnMut(Feed) + Send),
    ping_every: Duration,
) -> Result<(), LedgerError> {
    let mut config = config.clone();
    config.connect_timeout(Duration::from_secs(2));
    let (client, mut connection) = config.connect(NoTls).await?;
    // The connection yields notifications only while polled; a bounded channel carries them
    // to this loop (the connection task waits when the loop is behind, nothing is dropped).
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(1024);
    let driver = tokio::spawn(async move {
        while let Some(msg) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match msg {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_string()).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    log::warn!("{channel} feed connection: {e}");
                    return;
                }
            }
        }
    });
    let result = async {
        client.batch_execute(&format!("LISTEN {channel}")).await?;
        on_event(Feed::Listening);
        let mut ping = tokio::time::interval(ping_every);
        loop {
            tokio::select! {
                payload = rx.recv() => match payload {
                    Some(p) => on_event(Feed::Notified(p)),
                    None => return Ok(()),
                },
                _ = ping.tick() => {
                    match tokio::time::timeout(ping_every, client.simple_query("")).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Err(e.into()),
                        Err(_) => return Err(LedgerError::Pool("ping timed out".into())),
                    }
                }
            }
        }
    }
    .await;
    driver.abort();
    result
}
