//! Reading a response body under a byte limit that is enforced while streaming.

use bytes::Bytes;
use futures::{Stream, StreamExt};

/// The most memory reserved up front from a declared `Content-Length`; past it the buffer grows
/// as bytes actually arrive.
const MAX_UPFRONT_RESERVATION: usize = 4 * 1024 * 1024;

/// Why reading a body stopped early.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BodyError<E> {
    /// More bytes arrived than the limit allows.
    TooLarge,
    /// The stream failed.
    Stream(E),
}

/// Reads a whole body, stopping as soon as its length passes `limit`.
///
/// `declared` is the length the response announced, used only to size the first allocation. The
/// buffer never holds more than `limit` bytes, and never reserves more than `limit`; the chunk
/// that would pass the limit is dropped without being copied.
pub(crate) async fn read_capped<S, E>(stream: S, limit: usize, declared: Option<u64>) -> Result<Bytes, BodyError<E>>
where
    S: Stream<Item = Result<Bytes, E>>,
{
    let mut stream = std::pin::pin!(stream);
    let mut buffer = CappedBuffer::new(limit, declared);
    while let Some(chunk) = stream.next().await {
        buffer.push(&chunk.map_err(BodyError::Stream)?)?;
    }
    Ok(buffer.into_bytes())
}

/// A byte buffer that refuses to grow past its limit.
struct CappedBuffer {
    data: Vec<u8>,
    limit: usize,
}

impl CappedBuffer {
    /// An empty buffer, with room reserved for the declared length when it is within the limit.
    fn new(limit: usize, declared: Option<u64>) -> Self {
        let declared = declared.and_then(|length| usize::try_from(length).ok()).unwrap_or(0);
        let upfront = declared.min(limit).min(MAX_UPFRONT_RESERVATION);
        Self { data: Vec::with_capacity(upfront), limit }
    }

    /// Appends a chunk, or refuses it when the total would pass the limit.
    fn push<E>(&mut self, chunk: &[u8]) -> Result<(), BodyError<E>> {
        let needed = self.data.len().checked_add(chunk.len()).filter(|&needed| needed <= self.limit);
        let needed = needed.ok_or(BodyError::TooLarge)?;
        if needed > self.data.capacity() {
            let target = needed.max(self.data.capacity().saturating_mul(2)).min(self.limit);
            self.data.reserve_exact(target - self.data.len());
        }
        self.data.extend_from_slice(chunk);
        Ok(())
    }

    fn into_bytes(self) -> Bytes {
        Bytes::from(self.data)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::stream;

    use super::*;

    type Chunks = Vec<Result<Bytes, ()>>;

    fn chunks(sizes: &[usize]) -> Chunks {
        sizes.iter().map(|&size| Ok(Bytes::from(vec![7u8; size]))).collect()
    }

    #[tokio::test]
    async fn a_body_exactly_at_the_limit_is_read_whole() {
        let body = read_capped(stream::iter(chunks(&[4, 3, 3])), 10, None).await.expect("within the limit");
        assert_eq!(body.len(), 10);
    }

    #[tokio::test]
    async fn one_byte_over_the_limit_is_too_large() {
        let result = read_capped(stream::iter(chunks(&[4, 3, 4])), 10, None).await;
        assert_eq!(result, Err(BodyError::TooLarge));
    }

    #[tokio::test]
    async fn an_endless_body_stops_at_the_limit() {
        let pulled = AtomicUsize::new(0);
        let endless = stream::repeat_with(|| {
            pulled.fetch_add(1, Ordering::Relaxed);
            Ok::<_, ()>(Bytes::from_static(&[1; 1000]))
        });
        assert_eq!(read_capped(endless, 10_000, None).await, Err(BodyError::TooLarge));
        assert_eq!(pulled.load(Ordering::Relaxed), 11);
    }

    #[tokio::test]
    async fn a_stream_error_is_passed_on() {
        let failing: Chunks = vec![Ok(Bytes::from_static(b"abc")), Err(())];
        assert_eq!(read_capped(stream::iter(failing), 10, None).await, Err(BodyError::Stream(())));
    }

    #[test]
    fn the_buffer_never_reserves_more_than_the_limit() {
        let mut buffer = CappedBuffer::new(1000, Some(u64::MAX));
        assert!(buffer.data.capacity() <= 1000);
        for _ in 0..10 {
            buffer.push::<()>(&[0; 99]).expect("within the limit");
            assert!(buffer.data.capacity() <= 1000, "capacity {}", buffer.data.capacity());
        }
        assert_eq!(buffer.push::<()>(&[0; 11]), Err(BodyError::TooLarge));
        assert_eq!(buffer.data.len(), 990);
    }
}
