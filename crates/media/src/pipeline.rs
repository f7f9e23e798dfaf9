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
        self.config.max_bytes(kind)
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
///
/// The format is sniffed and compared with the declared type and the expected kind first, so
/// bytes of the other kind are a [`MediaError::TypeMismatch`] whatever the format-specific
/// inspection would have said of them (an HEVC or over-long video sent as an image is a
/// mismatch, not a video error). Only then is the format inspected.
fn check(
    bytes: &Bytes,
    declared: Option<&str>,
    expected: Option<MediaKind>,
    config: &MediaConfig,
) -> Result<Inspected, MediaError> {
    if bytes.is_empty() {
        return Err(MediaError::Empty);
    }
    let format = inspect::sniff(bytes).ok_or(MediaError::UnsupportedType)?;
    inspect::check_declared(declared, format)?;
    let kind = format.kind();
    if let Some(expected) = expected.filter(|expected| *expected != kind) {
        let declared = match expected {
            MediaKind::Image => "an image",
            MediaKind::Video => "a video",
        };
        return Err(MediaError::TypeMismatch { declared: declared.to_owned(), detected: format.mime_type() });
    }
    let inspected = match kind {
        MediaKind::Image => inspect::inspect_image(bytes, format, config).map(Inspected::Image)?,
        MediaKind::Video => inspect::inspect_video(bytes, format, config).map(Inspected::Video)?,
    };
    let limit = config.max_bytes(Some(kind));
    if bytes.len() > limit {
        return Err(MediaError::TooLarge { limit });
    }
    Ok(inspected)
}

#[cfg(test)]
mod tests {
    use image::ImageFormat;

    use super::*;
    use crate::fixtures::{self, Video};

    fn checked(bytes: Vec<u8>, declared: Option<&str>, expected: Option<MediaKind>) -> Result<Inspected, MediaError> {
        check(&Bytes::from(bytes), declared, expected, &MediaConfig::default())
    }

    #[test]
    fn a_video_that_is_not_the_expected_kind_is_a_mismatch_before_it_is_inspected() {
        let mismatch = MediaError::TypeMismatch { declared: "an image".to_owned(), detected: "video/mp4" };
        for video in [
            Video::default(),
            Video { codec: *b"hvc1", ..Video::default() },
            Video { duration_ms: 600_000, ..Video::default() },
        ] {
            assert_eq!(checked(video.build(), None, Some(MediaKind::Image)), Err(mismatch.clone()), "{video:?}");
        }
        // Without an expected kind, the video's own errors stand.
        let hevc = Video { codec: *b"hvc1", ..Video::default() }.build();
        assert_eq!(checked(hevc, None, None), Err(MediaError::UnsupportedCodec("hvc1".to_owned())));
    }

    #[test]
    fn an_image_that_is_not_the_expected_kind_is_a_mismatch_before_it_is_inspected() {
        let mismatch = MediaError::TypeMismatch { declared: "a video".to_owned(), detected: "image/png" };
        let bomb = fixtures::png_declaring(100_000, 100_000);
        assert_eq!(checked(bomb.clone(), None, Some(MediaKind::Video)), Err(mismatch));
        assert!(matches!(checked(bomb, None, Some(MediaKind::Image)), Err(MediaError::TooManyPixels { .. })));
    }

    #[test]
    fn the_declared_type_is_still_checked_first_and_valid_media_passes() {
        let png = fixtures::image(8, 8, ImageFormat::Png);
        let declared = MediaError::TypeMismatch { declared: "video/mp4".to_owned(), detected: "image/png" };
        assert_eq!(checked(png.clone(), Some("video/mp4"), Some(MediaKind::Video)), Err(declared));
        assert!(matches!(checked(png, Some("image/png"), Some(MediaKind::Image)), Ok(Inspected::Image(_))));
        assert!(matches!(checked(Video::default().build(), None, None), Ok(Inspected::Video(_))));
        assert_eq!(checked(Vec::new(), None, None), Err(MediaError::Empty));
        assert_eq!(checked(b"<html>".to_vec(), None, Some(MediaKind::Image)), Err(MediaError::UnsupportedType));
    }
}
