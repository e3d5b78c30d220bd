//! Bounds on what one client can hold: a deadline for each request body,
//! and a cap on open connections that sheds the slowest bodies first.
//!
//! actix bounds the wait for a request's head (`client_request_timeout`)
//! and for the next request on an idle connection (keep-alive), but not for
//! a body: a client that sends its headers, `Content-Length: 1000` and one
//! byte keeps its connection, and its file descriptor, for as long as it
//! likes. Here:
//!
//! - [`guard_bodies`] gives every request body a deadline
//!   (`--client-body-timeout`). A body that is not complete by then ends in
//!   an error that the extractors answer with 408, and the connection is
//!   closed.
//! - Every open connection is counted ([`on_connect`]). Past the cap
//!   (`--max-connections`), the requests that have waited longest for their
//!   bodies are cut off in the same way to make room, so that a crowd of slow
//!   clients cannot keep others out.
//! - A body that the handler leaves unread is held until the answer is
//!   written, so that actix closes the connection rather than draining a
//!   chunked body for as long as the client keeps sending it.

use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{Extensions, Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::HttpMessage;
use futures_util::task::AtomicWaker;

/// The limits, shared by every worker.
#[derive(Debug)]
pub struct ConnectionLimits {
    body_timeout: Duration,
    max_connections: usize,
    open: AtomicUsize,
    next_ticket: AtomicU64,
    /// Requests waiting for their bodies, oldest first.
    waiting: Mutex<BTreeMap<u64, Arc<Cutoff>>>,
}

/// The signal that cuts a waiting body off.
#[derive(Debug, Default)]
struct Cutoff {
    cut: AtomicBool,
    waker: AtomicWaker,
}

impl ConnectionLimits {
    pub fn new(body_timeout: Duration, max_connections: usize) -> Arc<Self> {
        Arc::new(Self {
            body_timeout,
            max_connections: max_connections.max(1),
            open: AtomicUsize::new(0),
            next_ticket: AtomicU64::new(0),
            waiting: Mutex::new(BTreeMap::new()),
        })
    }

    /// Open connections right now.
    pub fn open_connections(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Cutoff>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Cuts off the `n` requests that have waited longest for their bodies.
    fn shed(&self, n: usize) {
        let mut waiting = self.waiting();
        for _ in 0..n {
            let Some((_, cutoff)) = waiting.pop_first() else {
                break;
            };
            cutoff.cut.store(true, Ordering::SeqCst);
            cutoff.waker.wake();
        }
    }

    fn register(&self) -> (u64, Arc<Cutoff>) {
        let ticket = self.next_ticket.fetch_add(1, Ordering::SeqCst);
        let cutoff = Arc::new(Cutoff::default());
        self.waiting().insert(ticket, cutoff.clone());
        (ticket, cutoff)
    }

    fn deregister(&self, ticket: u64) {
        self.waiting().remove(&ticket);
    }
}

/// Counts a connection for as long as it is open.
struct Counted(Arc<ConnectionLimits>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// For `HttpServer::on_connect`: counts the new connection and, past the
/// cap, sheds the slowest bodies.
pub fn on_connect(limits: &Arc<ConnectionLimits>, _io: &dyn Any, data: &mut Extensions) {
    let open = limits.open.fetch_add(1, Ordering::SeqCst) + 1;
    data.insert(Counted(limits.clone()));
    if open > limits.max_connections {
        limits.shed(open - limits.max_connections);
    }
}

/// Whether a request has a body to wait for.
fn has_body(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    chunked || length.is_some_and(|n| n > 0)
}

/// The error a body read ends with when it is too slow or cut off: the
/// extractors' error handlers answer it with 408.
pub fn is_body_timeout(e: &PayloadError) -> bool {
    matches!(e, PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut)
}

fn body_timeout_error(why: &str) -> PayloadError {
    PayloadError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        why.to_owned(),
    ))
}

/// The middleware: see the module documentation.
pub async fn guard_bodies(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let limits = req
        .app_data::<web::Data<Arc<ConnectionLimits>>>()
        .map(|l| Arc::clone(l.get_ref()));
    let (Some(limits), true) = (limits, has_body(&req)) else {
        let res = next.call(req).await?;
        return Ok(res.map_body(|_, body| Holding { body, _held: None }));
    };
    let inner = Rc::new(RefCell::new(req.take_payload()));
    let (ticket, cutoff) = limits.register();
    let stream = Deadline {
        inner: inner.clone(),
        sleep: Box::pin(tokio::time::sleep(limits.body_timeout)),
        cutoff,
        ticket: Some(ticket),
        limits: limits.clone(),
    };
    req.set_payload(Payload::Stream {
        payload: Box::pin(stream),
    });
    let res = next.call(req).await?;
    // If the handler has not read the body to its end, the payload is kept
    // alive until the answer is written, and actix then closes the connection.
    Ok(res.map_body(|_, body| Holding {
        body,
        _held: Some(inner),
    }))
}

/// A body stream with a deadline, that [`ConnectionLimits::shed`] can cut off.
struct Deadline {
    inner: Rc<RefCell<Payload>>,
    sleep: Pin<Box<tokio::time::Sleep>>,
    cutoff: Arc<Cutoff>,
    /// `None` once the body has ended, one way or another.
    ticket: Option<u64>,
    limits: Arc<ConnectionLimits>,
}

impl Deadline {
    fn finish(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.limits.deregister(ticket);
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        self.finish();
    }
}

impl futures_util::Stream for Deadline {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ticket.is_none() {
            return Poll::Ready(None);
        }
        let polled = {
            let mut inner = self.inner.borrow_mut();
            Pin::new(&mut *inner).poll_next(cx)
        };
        match polled {
            Poll::Ready(Some(Ok(chunk))) => return Poll::Ready(Some(Ok(chunk))),
            Poll::Ready(other) => {
                self.finish();
                return Poll::Ready(other);
            }
            Poll::Pending => {}
        }
        self.cutoff.waker.register(cx.waker());
        let why = if self.cutoff.cut.load(Ordering::SeqCst) {
            "too many connections are open; the slowest request bodies were cut off"
        } else if self.sleep.as_mut().poll(cx).is_ready() {
            "the request body did not arrive in time"
        } else {
            return Poll::Pending;
        };
        self.finish();
        tracing::info!(reason = why, "request body cut off");
        Poll::Ready(Some(Err(body_timeout_error(why))))
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps the request's payload alive until it is
    /// dropped, after the last byte is written.
    struct Holding<B> {
        #[pin]
        body: B,
        _held: Option<Rc<RefCell<Payload>>>,
    }
}

impl<B: MessageBody> MessageBody for Holding<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        self.project().body.poll_next(cx)
    }
}
