//! The response body type of the mock: pre-rendered bytes sent as frames,
//! optionally paced (TTFT, inter-token delay) and optionally cut off with an
//! error, which makes hyper drop the connection mid-body.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

use super::sse::EventMark;

pub(crate) struct MockBody {
    data: Bytes,
    frames: Vec<EventMark>,
    next: usize,
    sent: usize,
    sleep: Option<Pin<Box<Sleep>>>,
    sleeping: bool,
    ending: Ending,
    exact_len: Option<u64>,
}

enum Ending {
    Finish,
    /// Abort after the last frame; `flushed` is set once hyper had a chance
    /// to write the frames already handed over (it drops unflushed bytes on error).
    Abort {
        flushed: bool,
    },
}

/// The error that tells hyper to abort the connection.
#[derive(Debug)]
pub(crate) struct MockAbort;

impl std::fmt::Display for MockAbort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("mock aborted the response on purpose")
    }
}

impl std::error::Error for MockAbort {}

impl MockBody {
    /// The whole body in one frame, with a Content-Length.
    pub fn full(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        let len = data.len();
        MockBody::new(data, vec![frame(len, 0)], Ending::Finish, Some(len as u64))
    }

    /// Announces the full length but sends only `keep` bytes, then aborts.
    pub fn truncated(data: Bytes, keep: usize) -> Self {
        let len = data.len() as u64;
        let keep = keep.min(data.len());
        let ending = Ending::Abort { flushed: false };
        MockBody::new(data, vec![frame(keep, 0)], ending, Some(len))
    }

    /// A chunked stream of events. Consecutive events without a delay go out
    /// as one frame. With `close_after`, only that many events are sent and
    /// the connection is then aborted.
    pub fn events(data: Bytes, marks: &[EventMark], close_after: Option<usize>) -> Self {
        let marks = match close_after {
            Some(n) => &marks[..n.min(marks.len())],
            None => marks,
        };
        let mut frames: Vec<EventMark> = Vec::new();
        for mark in marks {
            match frames.last_mut() {
                Some(last) if mark.delay_ms == 0 => last.end = mark.end,
                _ => frames.push(*mark),
            }
        }
        let ending = match close_after {
            Some(_) => Ending::Abort { flushed: false },
            None => Ending::Finish,
        };
        let data = match close_after {
            Some(_) => data.slice(..frames.last().map_or(0, |f| f.end)),
            None => data,
        };
        MockBody::new(data, frames, ending, None)
    }

    fn new(data: Bytes, frames: Vec<EventMark>, ending: Ending, exact_len: Option<u64>) -> Self {
        MockBody {
            data,
            frames,
            next: 0,
            sent: 0,
            sleep: None,
            sleeping: false,
            ending,
            exact_len,
        }
    }
}

fn frame(end: usize, delay_ms: u64) -> EventMark {
    EventMark { end, delay_ms }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = MockAbort;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, MockAbort>>> {
        let this = self.get_mut();
        if let Some(next) = this.frames.get(this.next).copied() {
            if next.delay_ms > 0 {
                if !this.sleeping {
                    let deadline =
                        tokio::time::Instant::now() + Duration::from_millis(next.delay_ms);
                    match this.sleep.as_mut() {
                        Some(sleep) => sleep.as_mut().reset(deadline),
                        None => this.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
                    }
                    this.sleeping = true;
                }
                if let Some(sleep) = this.sleep.as_mut() {
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                this.sleeping = false;
            }
            this.next += 1;
            let chunk = this.data.slice(this.sent..next.end);
            this.sent = next.end;
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        match &mut this.ending {
            Ending::Finish => Poll::Ready(None),
            Ending::Abort { flushed: false } => {
                this.ending = Ending::Abort { flushed: true };
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Ending::Abort { flushed: true } => Poll::Ready(Some(Err(MockAbort))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.next >= self.frames.len() && matches!(self.ending, Ending::Finish)
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact_len {
            Some(len) => SizeHint::with_exact(len),
            None => SizeHint::default(),
        }
    }
}
