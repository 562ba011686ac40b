//! One keep-alive HTTP/1.1 client connection and a body reader that notes
//! when the first body byte arrived.

use std::io;
use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
}

impl Connection {
    /// Connects to `addr` (`host:port`); the connection is driven by its own task.
    pub async fn open(addr: &str) -> io::Result<Connection> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(io::Error::other)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Connection { sender })
    }

    /// Waits until the connection can take a request; false once it is closed
    /// (e.g. the server ended keep-alive), which is not an error.
    pub async fn ready(&mut self) -> bool {
        self.sender.ready().await.is_ok()
    }

    pub async fn send(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<Incoming>, hyper::Error> {
        self.sender.send_request(request).await
    }
}

/// What was observed while reading one response to its end.
#[derive(Clone, Copy, Debug)]
pub struct Completed {
    pub status: StatusCode,
    pub first_byte: Option<Instant>,
    pub last_byte: Instant,
    pub body_bytes: u64,
}

/// Reads the whole body (streams included) without keeping it.
pub async fn drain(response: Response<Incoming>) -> Result<Completed, hyper::Error> {
    let status = response.status();
    let mut body = response.into_body();
    let mut first_byte = None;
    let mut body_bytes = 0u64;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame?.data_ref() {
            if first_byte.is_none() && !data.is_empty() {
                first_byte = Some(Instant::now());
            }
            body_bytes += data.len() as u64;
        }
    }
    Ok(Completed {
        status,
        first_byte,
        last_byte: Instant::now(),
        body_bytes,
    })
}
