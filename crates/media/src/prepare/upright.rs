//! A read-only view of a decoded image as it should be seen: EXIF orientation applied and
//! transparency flattened onto white, computed pixel by pixel.
//!
//! 16-bit pixels are narrowed to 8 bits on the way, so a 16-bit PNG needs no converted copy either.
//!
//! The JPEG encoder and the thumbnail sampler both read images through [`GenericImageView`], one
//! pixel at a time, so this view gives them the upright, opaque image without a second full-size
//! buffer (rotating a 12-megapixel photo would otherwise cost another 36 MB).

use image::metadata::Orientation;
use image::{GenericImageView, ImageBuffer, Luma, LumaA, Pixel, Rgb, Rgba};

/// A pixel (8 or 16 bits per channel) that can be shown as opaque 8-bit RGB on a white background.
pub(super) trait OnWhite: Pixel {
    /// The colour seen when this pixel is laid over white.
    fn on_white(self) -> Rgb<u8>;
}

impl OnWhite for Rgb<u8> {
    fn on_white(self) -> Rgb<u8> {
        self
    }
}

impl OnWhite for Rgba<u8> {
    fn on_white(self) -> Rgb<u8> {
        let [red, green, blue, alpha] = self.0;
        Rgb([over_white(red, alpha), over_white(green, alpha), over_white(blue, alpha)])
    }
}

impl OnWhite for Luma<u8> {
    fn on_white(self) -> Rgb<u8> {
        let [grey] = self.0;
        Rgb([grey; 3])
    }
}

impl OnWhite for LumaA<u8> {
    fn on_white(self) -> Rgb<u8> {
        let [grey, alpha] = self.0;
        Rgb([over_white(grey, alpha); 3])
    }
}

impl OnWhite for Rgb<u16> {
    fn on_white(self) -> Rgb<u8> {
        Rgb(self.0.map(narrow))
    }
}

impl OnWhite for Rgba<u16> {
    fn on_white(self) -> Rgb<u8> {
        let [red, green, blue, alpha] = self.0;
        Rgb([over_white_16(red, alpha), over_white_16(green, alpha), over_white_16(blue, alpha)])
    }
}

impl OnWhite for Luma<u16> {
    fn on_white(self) -> Rgb<u8> {
        let [grey] = self.0;
        Rgb([narrow(grey); 3])
    }
}

impl OnWhite for LumaA<u16> {
    fn on_white(self) -> Rgb<u8> {
        let [grey, alpha] = self.0;
        Rgb([over_white_16(grey, alpha); 3])
    }
}

/// A 16-bit channel as 8 bits, rounded to the nearest value.
fn narrow(channel: u16) -> u8 {
    u8::try_from((u32::from(channel) * 255 + 32_767) / 65_535).unwrap_or(u8::MAX)
}

/// [`over_white`] for 16-bit channels, blended at 16 bits and then narrowed to 8.
fn over_white_16(channel: u16, alpha: u16) -> u8 {
    let (channel, alpha) = (u64::from(channel), u64::from(alpha));
    let blended = (channel * alpha + 65_535 * (65_535 - alpha) + 32_767) / 65_535;
    narrow(u16::try_from(blended).unwrap_or(u16::MAX))
}

/// One channel of a colour with opacity `alpha` laid over white, rounded to the nearest value.
fn over_white(channel: u8, alpha: u8) -> u8 {
    let (channel, alpha) = (u32::from(channel), u32::from(alpha));
    let blended = (channel * alpha + 255 * (255 - alpha) + 127) / 255;
    u8::try_from(blended).unwrap_or(u8::MAX)
}

/// The upright, opaque view of an image buffer; see the module documentation.
pub(super) struct Upright<'a, P: OnWhite> {
    source: &'a ImageBuffer<P, Vec<P::Subpixel>>,
    orientation: Orientation,
    /// The upright width (the source's height when the orientation turns it a quarter).
    width: u32,
    /// The upright height.
    height: u32,
}

impl<'a, P: OnWhite> Upright<'a, P> {
    /// Views `source` with `orientation` applied.
    pub(super) fn new(source: &'a ImageBuffer<P, Vec<P::Subpixel>>, orientation: Orientation) -> Self {
        let (width, height) = source.dimensions();
        let (width, height) = if turns_a_quarter(orientation) { (height, width) } else { (width, height) };
        Self { source, orientation, width, height }
    }

    /// The source coordinates of the upright pixel at `x`, `y`.
    ///
    /// Each arm inverts the image crate's transformation of the same name: for example
    /// `rotate90` moves the source pixel (x, y) to (h − 1 − y, x), so the upright (x, y) comes
    /// from (y, h − 1 − x), where w × h is the source size.
    fn source_xy(&self, x: u32, y: u32) -> (u32, u32) {
        let (last_x, last_y) = (self.source.width() - 1, self.source.height() - 1);
        match self.orientation {
            Orientation::NoTransforms => (x, y),
            Orientation::Rotate90 => (y, last_y - x),
            Orientation::Rotate180 => (last_x - x, last_y - y),
            Orientation::Rotate270 => (last_x - y, x),
            Orientation::FlipHorizontal => (last_x - x, y),
            Orientation::FlipVertical => (x, last_y - y),
            Orientation::Rotate90FlipH => (y, x),
            Orientation::Rotate270FlipH => (last_x - y, last_y - x),
        }
    }
}

impl<P: OnWhite> GenericImageView for Upright<'_, P> {
    type Pixel = Rgb<u8>;

    fn dimensions(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn get_pixel(&self, x: u32, y: u32) -> Rgb<u8> {
        let (source_x, source_y) = self.source_xy(x, y);
        self.source.get_pixel(source_x, source_y).on_white()
    }
}

/// Whether the orientation swaps width and height.
fn turns_a_quarter(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transparency_becomes_white_and_opacity_is_kept() {
        assert_eq!(Rgba([0u8, 0, 0, 0]).on_white(), Rgb([255, 255, 255]));
        assert_eq!(Rgba([10u8, 20, 30, 255]).on_white(), Rgb([10, 20, 30]));
        assert_eq!(Rgba([0u8, 0, 0, 128]).on_white(), Rgb([127, 127, 127]));
        assert_eq!(LumaA([0u8, 0]).on_white(), Rgb([255, 255, 255]));
        assert_eq!(Luma([9u8]).on_white(), Rgb([9, 9, 9]));
    }

    #[test]
    fn sixteen_bit_pixels_are_narrowed_and_flattened() {
        assert_eq!(Rgb([0u16, 0x8080, 0xFFFF]).on_white(), Rgb([0, 128, 255]));
        assert_eq!(Rgba([0u16, 0, 0, 0]).on_white(), Rgb([255, 255, 255]));
        assert_eq!(Rgba([0x0A0A_u16, 0x1414, 0x1E1E, 0xFFFF]).on_white(), Rgb([10, 20, 30]));
        assert_eq!(Rgba([0u16, 0, 0, 0x8080]).on_white(), Rgb([127, 127, 127]));
        assert_eq!(LumaA([0u16, 0]).on_white(), Rgb([255, 255, 255]));
        assert_eq!(Luma([0x0909_u16]).on_white(), Rgb([9, 9, 9]));
    }
}
