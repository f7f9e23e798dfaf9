//! The media pipeline as the domain's [`MediaPreparer`].

use async_trait::async_trait;
use bytes::Bytes;
use wastatus_domain::ports::{MediaPreparer, MediaRejected};
use wastatus_domain::{MediaInput, MediaSource, PreparedMedia};

use crate::prepare::Prepared;
use crate::{MediaError, MediaKind, MediaPipeline, Source, decode_base64};

#[async_trait]
impl MediaPreparer for MediaPipeline {
    async fn prepare(&self, input: MediaInput, kind: Option<MediaKind>) -> Result<PreparedMedia, MediaRejected> {
        let MediaInput { source, declared_mime } = input;
        let (source, declared) = match source {
            MediaSource::Url(url) => (Source::Url(url), declared_mime),
            MediaSource::Bytes(bytes) => (Source::Bytes(bytes), declared_mime),
            MediaSource::Base64(data) => {
                let decoded = decode_base64(&data, self.limit(kind)).map_err(rejected)?;
                // An explicit `mime_type` speaks louder than a `data:` prefix.
                (Source::Bytes(decoded.bytes), declared_mime.or(decoded.declared_mime))
            }
        };
        let prepared = self.process(source, declared.as_deref(), kind).await.map_err(rejected)?;
        Ok(into_domain(prepared))
    }
}

fn rejected(error: MediaError) -> MediaRejected {
    if let MediaError::BlockedAddress { address } = &error {
        // The client is not told the address; the operator may need it.
        tracing::info!(%address, "a media URL was refused: it resolves to a non-public address");
    }
    MediaRejected { code: error.code(), message: error.to_string() }
}

fn into_domain(prepared: Prepared) -> PreparedMedia {
    match prepared {
        Prepared::Image(image) => PreparedMedia {
            kind: MediaKind::Image,
            mime_type: image.mime_type.to_owned(),
            bytes: image.bytes,
            width: image.width,
            height: image.height,
            duration_secs: None,
            thumbnail: Bytes::from(image.thumbnail),
            thumbnail_is_placeholder: false,
        },
        Prepared::Video(video) => PreparedMedia {
            kind: MediaKind::Video,
            mime_type: video.mime_type.to_owned(),
            bytes: video.bytes,
            width: video.width,
            height: video.height,
            duration_secs: Some(video.duration_secs),
            thumbnail: Bytes::from(video.thumbnail),
            thumbnail_is_placeholder: video.thumbnail_is_placeholder,
        },
    }
}
