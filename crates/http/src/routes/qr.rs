//! Rendering a QR payload as PNG, SVG, text or JSON.

use std::io::Cursor;

use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use image::{ImageFormat, Luma};
use qrcode::QrCode;
use qrcode::render::{svg, unicode};
use wastatus_domain::QrCode as Qr;

use super::dto::QrJson;
use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrFormat {
    Png,
    Svg,
    Text,
    Json,
}

impl QrFormat {
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        match raw.map(str::to_ascii_lowercase).as_deref() {
            None | Some("png") => Ok(Self::Png),
            Some("svg") => Ok(Self::Svg),
            Some("text") => Ok(Self::Text),
            Some("json") => Ok(Self::Json),
            Some(other) => Err(ApiError::new(
                "invalid_qr_format",
                format!("{other:?} is not a format; use png, svg, text or json"),
            )),
        }
    }
}

pub fn render(qr: &Qr, format: QrFormat) -> Result<Response, ApiError> {
    // A QR code is valid for seconds; nothing on the way should keep it.
    let no_store = (header::CACHE_CONTROL, "no-store");
    let response = match format {
        QrFormat::Json => {
            ([no_store], Json(QrJson { payload: qr.payload.clone(), expires_at: qr.expires_at })).into_response()
        }
        QrFormat::Png => {
            let image = encode(qr)?.render::<Luma<u8>>().min_dimensions(256, 256).build();
            let mut png = Vec::new();
            image.write_to(&mut Cursor::new(&mut png), ImageFormat::Png).map_err(|e| {
                tracing::error!(error = %e, "QR image could not be encoded");
                ApiError::internal()
            })?;
            ([no_store, (header::CONTENT_TYPE, "image/png")], png).into_response()
        }
        QrFormat::Svg => {
            let svg = encode(qr)?.render::<svg::Color<'_>>().min_dimensions(256, 256).build();
            ([no_store, (header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
        }
        QrFormat::Text => {
            let text = encode(qr)?.render::<unicode::Dense1x2>().quiet_zone(true).build();
            ([no_store, (header::CONTENT_TYPE, "text/plain; charset=utf-8")], text + "\n").into_response()
        }
    };
    Ok(response)
}

fn encode(qr: &Qr) -> Result<QrCode, ApiError> {
    QrCode::new(qr.payload.as_bytes()).map_err(|e| {
        tracing::error!(error = %e, "QR payload could not be encoded");
        ApiError::internal()
    })
}
