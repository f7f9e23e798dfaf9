//! Everything that can be wrong with media, each with a stable snake_case code.

use std::net::IpAddr;
use std::time::Duration;

/// Why media was refused. The messages say what was wrong in words a client can act on; they
/// never contain internal details beyond what the client itself sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The URL does not parse, or has no host.
    #[error("the media URL is not valid: {0}")]
    InvalidUrl(String),
    /// The scheme is not `https` (or `http` when allowed).
    #[error("media URLs must use https{}", if *.http_allowed { " or http" } else { "" })]
    SchemeNotAllowed { http_allowed: bool },
    /// The host resolves to (or is) an address that is not public. The address is kept for the
    /// server's logs but not put in the message: for a host name it would tell a client what
    /// the server's own DNS says about internal names.
    #[error("the media URL points to a non-public address; it is refused")]
    BlockedAddress { address: IpAddr },
    /// The host name does not resolve.
    #[error("the media host {0} could not be resolved")]
    UnresolvableHost(String),
    /// More redirects than allowed.
    #[error("the media URL redirected more than {0} times")]
    TooManyRedirects(usize),
    /// The origin answered with a non-success status.
    #[error("the media server answered HTTP {0}")]
    OriginStatus(u16),
    /// Connecting, or the whole fetch, took too long.
    #[error("fetching the media took longer than {0:?}")]
    FetchTimeout(Duration),
    /// The connection failed or broke off.
    #[error("the media could not be fetched: {0}")]
    FetchFailed(String),
    /// More bytes than the limit for this kind of media.
    #[error("the media is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// No bytes at all.
    #[error("the media is empty")]
    Empty,
    /// `media.data` is not valid base64.
    #[error("the media data is not valid base64")]
    InvalidBase64,
    /// The bytes are not JPEG, PNG, WEBP, MP4 or MOV.
    #[error("the media is not a supported image or video (JPEG, PNG, WEBP, MP4, MOV)")]
    UnsupportedType,
    /// The declared type contradicts the bytes.
    #[error("the media was declared as {declared} but its bytes are {detected}")]
    TypeMismatch { declared: String, detected: &'static str },
    /// The bytes start like a supported format but cannot be read (truncated, damaged).
    #[error("the media is damaged or truncated: {0}")]
    Corrupt(String),
    /// The image declares more pixels than allowed (a decompression bomb, or simply too big).
    #[error("the image is {width}×{height} pixels; at most {limit} pixels are accepted")]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    /// An edge is longer than the JPEG format can encode.
    #[error("the image is {width}×{height} pixels; JPEG allows at most {max} pixels on an edge")]
    DimensionsUnsupported { width: u32, height: u32, max: u32 },
    /// The work could not complete for a reason of the server's own (it is shutting down).
    #[error("the media could not be prepared: {0}")]
    Internal(String),
    /// The video has no `moov` box, so no player can read it.
    #[error("the video has no moov box (its index); it cannot be played")]
    MissingMoov,
    /// The video is longer than a status may be.
    #[error("the video lasts {seconds} s; a status allows at most {limit} s")]
    VideoTooLong { seconds: u32, limit: u32 },
    /// The video's codec is not one WhatsApp clients play.
    #[error("the video codec {0} is not supported; use H.264 (avc1)")]
    UnsupportedCodec(String),
    /// The video has no video track.
    #[error("the video has no video track")]
    NoVideoTrack,
}

impl MediaError {
    /// Every code [`MediaError::code`] can return.
    pub const CODES: &'static [&'static str] = &[
        "media_invalid_url",
        "media_scheme_not_allowed",
        "media_blocked_address",
        "media_unresolvable_host",
        "media_too_many_redirects",
        "media_origin_error",
        "media_fetch_timeout",
        "media_fetch_failed",
        "media_too_large",
        "media_empty",
        "media_invalid_base64",
        "media_unsupported_type",
        "media_type_mismatch",
        "media_corrupt",
        "media_too_many_pixels",
        "media_dimensions_unsupported",
        "internal",
        "video_missing_moov",
        "video_too_long",
        "video_unsupported_codec",
        "video_no_video_track",
    ];

    /// The stable code clients switch on.
    pub const fn code(&self) -> &'static str {
        match self {
            MediaError::InvalidUrl(_) => "media_invalid_url",
            MediaError::SchemeNotAllowed { .. } => "media_scheme_not_allowed",
            MediaError::BlockedAddress { .. } => "media_blocked_address",
            MediaError::UnresolvableHost(_) => "media_unresolvable_host",
            MediaError::TooManyRedirects(_) => "media_too_many_redirects",
            MediaError::OriginStatus(_) => "media_origin_error",
            MediaError::FetchTimeout(_) => "media_fetch_timeout",
            MediaError::FetchFailed(_) => "media_fetch_failed",
            MediaError::TooLarge { .. } => "media_too_large",
            MediaError::Empty => "media_empty",
            MediaError::InvalidBase64 => "media_invalid_base64",
            MediaError::UnsupportedType => "media_unsupported_type",
            MediaError::TypeMismatch { .. } => "media_type_mismatch",
            MediaError::Corrupt(_) => "media_corrupt",
            MediaError::TooManyPixels { .. } => "media_too_many_pixels",
            MediaError::DimensionsUnsupported { .. } => "media_dimensions_unsupported",
            MediaError::Internal(_) => "internal",
            MediaError::MissingMoov => "video_missing_moov",
            MediaError::VideoTooLong { .. } => "video_too_long",
            MediaError::UnsupportedCodec(_) => "video_unsupported_codec",
            MediaError::NoVideoTrack => "video_no_video_track",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    /// One of each variant; the match makes a new variant fail to compile here until it is added.
    fn one_of_each() -> Vec<MediaError> {
        let all = vec![
            MediaError::InvalidUrl(String::new()),
            MediaError::SchemeNotAllowed { http_allowed: false },
            MediaError::BlockedAddress { address: IpAddr::V4(Ipv4Addr::LOCALHOST) },
            MediaError::UnresolvableHost(String::new()),
            MediaError::TooManyRedirects(5),
            MediaError::OriginStatus(404),
            MediaError::FetchTimeout(Duration::from_secs(1)),
            MediaError::FetchFailed(String::new()),
            MediaError::TooLarge { limit: 1 },
            MediaError::Empty,
            MediaError::InvalidBase64,
            MediaError::UnsupportedType,
            MediaError::TypeMismatch { declared: String::new(), detected: "image/jpeg" },
            MediaError::Corrupt(String::new()),
            MediaError::TooManyPixels { width: 1, height: 1, limit: 0 },
            MediaError::DimensionsUnsupported { width: 1, height: 1, max: 0 },
            MediaError::Internal(String::new()),
            MediaError::MissingMoov,
            MediaError::VideoTooLong { seconds: 61, limit: 60 },
            MediaError::UnsupportedCodec(String::new()),
            MediaError::NoVideoTrack,
        ];
        for e in &all {
            match e {
                MediaError::InvalidUrl(_)
                | MediaError::SchemeNotAllowed { .. }
                | MediaError::BlockedAddress { .. }
                | MediaError::UnresolvableHost(_)
                | MediaError::TooManyRedirects(_)
                | MediaError::OriginStatus(_)
                | MediaError::FetchTimeout(_)
                | MediaError::FetchFailed(_)
                | MediaError::TooLarge { .. }
                | MediaError::Empty
                | MediaError::InvalidBase64
                | MediaError::UnsupportedType
                | MediaError::TypeMismatch { .. }
                | MediaError::Corrupt(_)
                | MediaError::TooManyPixels { .. }
                | MediaError::DimensionsUnsupported { .. }
                | MediaError::Internal(_)
                | MediaError::MissingMoov
                | MediaError::VideoTooLong { .. }
                | MediaError::UnsupportedCodec(_)
                | MediaError::NoVideoTrack => {}
            }
        }
        all
    }

    #[test]
    fn the_code_list_is_complete_and_exact() {
        let codes: Vec<_> = one_of_each().iter().map(MediaError::code).collect();
        assert_eq!(codes, MediaError::CODES);
    }

    #[test]
    fn a_blocked_address_is_not_told_to_the_client() {
        let e = MediaError::BlockedAddress { address: "10.1.2.3".parse().unwrap() };
        assert!(!e.to_string().contains("10.1.2.3"));
    }
}
