//! The request body inactivity limit: a client that stops sending its body mid-upload
//! (deliberately or not) would otherwise hold an upstream request, a connection and a
//! permit for as long as the upstream waits. The clock only runs while the upstream is
//! asking for more and the client has nothing: time the upstream spends not reading
//! (back-pressure) is not the client's fault. When it runs out the body fails, the
//! forward is abandoned and the client gets 408; hyper then closes an HTTP/1.1
//! connection, since the rest of its body was never read.
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use tokio::time::{Instant, Sleep};

use crate::upstream::{empty, full, Body, BoxError};

/// The error a stalled body fails with.
#[derive(Debug, thiserror::Error)]
#[error("request body: nothing received from the client for {0:?}")]
pub struct BodyStalled(Duration);

/// Whether the body of one request stalled; read after the forward to pick the answer.
/// `None` for a request without a body, which cannot stall.
#[derive(Debug, Clone, Default)]
pub struct Stall(Option<Arc<AtomicBool>>);

impl Stall {
    /// A stalled upload is the client's fault: 408 (RFC 9110 §15.5.9), not the
    /// upstream error the abandoned forward produced. No `Connection: close` is
    /// needed (and HTTP/2 forbids it): hyper closes an HTTP/1.1 connection whose
    /// request body was left unread, and ends just the stream on HTTP/2.
    pub fn verdict<E>(&self, result: Result<Response<Body>, E>) -> Result<Response<Body>, E> {
        if !self.0.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
            return result;
        }
        let mut resp = Response::new(full("request body timed out\n"));
        *resp.status_mut() = StatusCode::REQUEST_TIMEOUT;
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        Ok(resp)
    }
}

/// Wraps a request's body in an [`IdleBody`] boxed as the pipeline's [`Body`]. A
/// request that has no body (most GETs) gets an empty one: nothing to time, nothing
/// to allocate.
pub fn wrap<B>(req: Request<B>, gap: Duration) -> (Request<Body>, Stall)
where
    B: HttpBody<Data = Bytes> + Unpin + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = req.into_parts();
    if body.is_end_stream() {
        return (Request::from_parts(parts, empty()), Stall::default());
    }
    let (body, stall) = IdleBody::new(body, gap);
    (Request::from_parts(parts, body.boxed_unsync()), stall)
}

/// A request body that fails when its client goes quiet for `gap` while it is read.
pub struct IdleBody<B> {
    inner: B,
    gap: Duration,
    /// Armed when a poll finds no data; `None` while data flows.
    waiting: Option<Pin<Box<Sleep>>>,
    /// Kept across waits so a slow upload re-arms a timer instead of allocating one.
    spare: Option<Pin<Box<Sleep>>>,
    stall: Stall,
}

impl<B> IdleBody<B> {
    pub fn new(inner: B, gap: Duration) -> (IdleBody<B>, Stall) {
        let stall = Stall(Some(Arc::default()));
        let body = IdleBody {
            inner,
            gap,
            waiting: None,
            spare: None,
            stall: stall.clone(),
        };
        (body, stall)
    }
}

impl<B> HttpBody for IdleBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.spare = this.waiting.take().or(this.spare.take());
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let gap = this.gap;
                let spare = &mut this.spare;
                let timer = this.waiting.get_or_insert_with(|| {
                    let deadline = Instant::now() + gap;
                    match spare.take() {
                        Some(mut t) => {
                            t.as_mut().reset(deadline);
                            t
                        }
                        None => Box::pin(tokio::time::sleep_until(deadline)),
                    }
                });
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                if let Some(flag) = &this.stall.0 {
                    flag.store(true, Ordering::Relaxed);
                }
                Poll::Ready(Some(Err(BodyStalled(gap).into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::StreamBody;

    #[tokio::test(start_paused = true)]
    async fn a_quiet_body_fails_and_marks_the_stall() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(1);
        let stream =
            futures_util::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|f| (f, rx)) },
            );
        let (mut body, stall) =
            IdleBody::new(StreamBody::new(Box::pin(stream)), Duration::from_secs(5));
        tx.send(Ok(Frame::data(Bytes::from_static(b"abc"))))
            .await
            .unwrap();
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "abc");
        assert!(stall.verdict::<()>(Ok(Response::new(full("up")))).is_ok());
        let err = body.frame().await.unwrap().unwrap_err();
        assert!(err.is::<BodyStalled>());
        let resp = stall.verdict::<()>(Ok(Response::new(full("up")))).unwrap();
        assert_eq!(resp.status(), StatusCode::REQUEST_TIMEOUT);
        drop(tx);
    }
}
