//! The whole way from what a client gave to media ready to send.

use bytes::Bytes;

use crate::fetch::Fetcher;
use crate::inspect::{self, Inspected};
use crate::prepare::{self, Prepared};
use crate::{MediaConfig, MediaError, MediaKind, Source};

/// Fetches (when given a URL), inspects and prepares media.
#[derive(Clone)]
pub struct MediaPipeline {
    fetcher: Fetcher,
    config: MediaConfig,
}

impl MediaPipeline {
    pub fn new(config: MediaConfig) -> Self {
        Self { fetcher: Fetcher::new(&config), config }
    }

    /// A pipeline with a fetcher of the caller's making (tests use their own address policy).
    pub fn with_fetcher(config: MediaConfig, fetcher: Fetcher) -> Self {
        Self { fetcher, config }
    }

    pub fn config(&self) -> &MediaConfig {
        &self.config
    }

    /// The largest input accepted for media expected to be of `kind` (either kind when `None`).
    pub fn limit(&self, kind: Option<MediaKind>) -> usize {
        match kind {
            Some(MediaKind::Image) => self.config.max_image_bytes,
            Some(MediaKind::Video) => self.config.max_video_bytes,
            None => self.config.max_image_bytes.max(self.config.max_video_bytes),
        }
    }

    /// Turns `source` into prepared media.
    ///
    /// `declared_mime` is what the client said the media is; it must agree with the bytes.
    /// `expected` is the kind the request asked for (`type: image`); bytes of the other kind
    /// are refused. The type the origin server announced is not trusted either way.
    pub async fn process(
        &self,
        source: Source,
        declared_mime: Option<&str>,
        expected: Option<MediaKind>,
    ) -> Result<Prepared, MediaError> {
        let limit = self.limit(expected);
        let bytes = match source {
            Source::Url(url) => self.fetcher.fetch(&url, limit).await?.bytes,
            Source::Bytes(bytes) if bytes.len() > limit => return Err(MediaError::TooLarge { limit }),
            Source::Bytes(bytes) => bytes,
        };
        // Inspection only walks headers (microseconds, even for a large video), so it runs here;
        // preparation decodes and encodes, on the blocking pool, a limited number at a time.
        let inspected = check(&bytes, declared_mime, expected, &self.config)?;
        prepare::prepare(bytes, inspected, self.config.clone()).await
    }
}

/// Inspects the bytes and checks them against what the request expected.
fn check(
    bytes: &Bytes,
    declared: Option<&str>,
    expected: Option<MediaKind>,
    config: &MediaConfig,
) -> Result<Inspected, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    let inspected = inspect::inspect(bytes, declared, config)?;
    let (format, kind) = match &inspected {
        Inspected::Image(info) => (info.format, MediaKind::Image),
        Inspected::Video(info) => (info.format, MediaKind::Video),
    };
    if let Some(expected) = expected.filter(|expected| *expected != kind) {
        let declared = match expected {
            MediaKind::Image => "an image",
            MediaKind::Video => "a video",
        };
        return Err(MediaError::TypeMismatch { declared: declared.to_owned(), detected: format.mime_type() });
    }
    let limit = match kind {
        MediaKind::Image => config.max_image_bytes,
        MediaKind::Video => config.max_video_bytes,
    };
    if bytes.len() > limit {
        return Err(MediaError::TooLarge { limit });
    }
    Ok(inspected)
}
