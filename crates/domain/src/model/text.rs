//! Validated values of a status's content.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::InvalidValue;

/// The text of a text status: 1 to [`StatusText::MAX_CHARS`] characters, not only whitespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct StatusText(String);

impl StatusText {
    /// WhatsApp clients refuse longer text statuses.
    pub const MAX_CHARS: usize = 700;

    pub fn new(raw: impl Into<String>) -> Result<Self, InvalidValue> {
        let raw = raw.into();
        if raw.trim().is_empty() {
            return Err(InvalidValue::new("text", "empty_text", "the text of a status must not be empty"));
        }
        let chars = raw.chars().count();
        if chars > Self::MAX_CHARS {
            return Err(InvalidValue::new(
                "text",
                "text_too_long",
                format!("the text has {chars} characters; a status allows at most {}", Self::MAX_CHARS),
            ));
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A background colour as WhatsApp stores it: 32-bit ARGB.
///
/// Written `#RRGGBB` (opaque) or `#AARRGGBB`; displayed as `#AARRGGBB` in upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BackgroundColor(u32);

impl BackgroundColor {
    /// The dark grey that WhatsApp and the Walytic API use when none is given (`#101010`).
    pub const DEFAULT: Self = Self(0xFF10_1010);

    pub const fn from_argb(argb: u32) -> Self {
        Self(argb)
    }

    pub const fn argb(self) -> u32 {
        self.0
    }
}

impl Default for BackgroundColor {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl FromStr for BackgroundColor {
    type Err = InvalidValue;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let invalid = || {
            InvalidValue::new(
                "background_color",
                "invalid_color",
                format!("{raw:?} is not a colour; use #RRGGBB or #AARRGGBB"),
            )
        };
        let hex = raw.strip_prefix('#').ok_or_else(invalid)?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        let value = u32::from_str_radix(hex, 16).map_err(|_| invalid())?;
        match hex.len() {
            6 => Ok(Self(0xFF00_0000 | value)),
            8 => Ok(Self(value)),
            _ => Err(invalid()),
        }
    }
}

impl fmt::Display for BackgroundColor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:08X}", self.0)
    }
}

impl Serialize for BackgroundColor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BackgroundColor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// The typeface of a text status, as numbered by the WhatsApp protocol
/// (`ExtendedTextMessage.FontType`).
///
/// Both the protocol's current names and the older names that many client libraries still use
/// (`SANS_SERIF`, `SERIF`, `NORICAN_REGULAR`, …) are accepted, case-insensitively, as is the
/// number itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Font {
    #[default]
    SansSerif,
    Serif,
    NoricanRegular,
    BryndanWrite,
    BebasneueRegular,
    OswaldHeavy,
    SystemBold,
    MorningbreezeRegular,
    CalistogaRegular,
    Exo2Extrabold,
    CourierprimeBold,
}

impl Font {
    pub const ALL: [Font; 11] = [
        Font::SansSerif,
        Font::Serif,
        Font::NoricanRegular,
        Font::BryndanWrite,
        Font::BebasneueRegular,
        Font::OswaldHeavy,
        Font::SystemBold,
        Font::MorningbreezeRegular,
        Font::CalistogaRegular,
        Font::Exo2Extrabold,
        Font::CourierprimeBold,
    ];

    /// The protocol number.
    pub const fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u64) -> Option<Self> {
        Self::ALL.get(usize::try_from(code).ok()?).copied()
    }

    /// [`Font::from_code`], failing with the error a user sees.
    pub fn try_from_code(code: u64) -> Result<Self, InvalidValue> {
        Self::from_code(code).ok_or_else(|| Self::invalid(code))
    }

    /// The canonical name, as wastatus writes it.
    pub const fn name(self) -> &'static str {
        match self {
            Font::SansSerif => "SANS_SERIF",
            Font::Serif => "SERIF",
            Font::NoricanRegular => "NORICAN_REGULAR",
            Font::BryndanWrite => "BRYNDAN_WRITE",
            Font::BebasneueRegular => "BEBASNEUE_REGULAR",
            Font::OswaldHeavy => "OSWALD_HEAVY",
            Font::SystemBold => "SYSTEM_BOLD",
            Font::MorningbreezeRegular => "MORNINGBREEZE_REGULAR",
            Font::CalistogaRegular => "CALISTOGA_REGULAR",
            Font::Exo2Extrabold => "EXO2_EXTRABOLD",
            Font::CourierprimeBold => "COURIERPRIME_BOLD",
        }
    }

    /// The protocol's current name for the same number, where it differs from [`Font::name`].
    const fn alias(self) -> Option<&'static str> {
        match self {
            Font::SansSerif => Some("SYSTEM"),
            Font::Serif => Some("SYSTEM_TEXT"),
            Font::NoricanRegular => Some("FB_SCRIPT"),
            _ => None,
        }
    }

    fn invalid(raw: impl fmt::Display) -> InvalidValue {
        InvalidValue::new(
            "font",
            "unknown_font",
            format!("{raw} is not a font; use a name such as SANS_SERIF or SERIF, or a number from 0 to 10"),
        )
    }
}

impl FromStr for Font {
    type Err = InvalidValue;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let wanted = raw.trim();
        if let Ok(code) = wanted.parse::<u64>() {
            return Self::try_from_code(code);
        }
        let wanted = wanted.to_ascii_uppercase().replace(['-', ' '], "_");
        Self::ALL
            .into_iter()
            .find(|font| font.name() == wanted || font.alias() == Some(wanted.as_str()))
            .ok_or_else(|| Self::invalid(format!("{raw:?}")))
    }
}

impl fmt::Display for Font {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Font {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Accepts a name or a number, as JSON string or number.
impl<'de> Deserialize<'de> for Font {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Code(u64),
            Name(String),
        }
        match Raw::deserialize(d)? {
            Raw::Code(code) => Self::try_from_code(code),
            Raw::Name(name) => name.parse(),
        }
        .map_err(serde::de::Error::custom)
    }
}

/// A human-readable name: 1 to 100 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Name(String);

impl Name {
    pub const MAX_CHARS: usize = 100;

    pub fn new(raw: impl Into<String>) -> Result<Self, InvalidValue> {
        let raw = raw.into();
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.chars().count() > Self::MAX_CHARS || trimmed.chars().any(char::is_control) {
            return Err(InvalidValue::new(
                "name",
                "invalid_name",
                "a name has 1 to 100 characters and no control characters",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Name {
    type Error = InvalidValue;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::new(raw)
    }
}

impl From<Name> for String {
    fn from(name: Name) -> Self {
        name.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_must_have_visible_content_within_the_limit() {
        assert_eq!(StatusText::new("Flash sale ends tonight!").unwrap().as_str(), "Flash sale ends tonight!");
        assert_eq!(StatusText::new("  \n").unwrap_err().code, "empty_text");
        assert_eq!(StatusText::new("").unwrap_err().code, "empty_text");
        // The limit counts characters, not bytes: 700 emoji are fine, 701 are not.
        assert!(StatusText::new("🌴".repeat(700)).is_ok());
        assert_eq!(StatusText::new("🌴".repeat(701)).unwrap_err().code, "text_too_long");
    }

    #[test]
    fn colours_parse_both_notations() {
        assert_eq!("#101010".parse::<BackgroundColor>().unwrap().argb(), 0xFF10_1010);
        assert_eq!("#80ff0000".parse::<BackgroundColor>().unwrap().argb(), 0x80FF_0000);
        assert_eq!("#AbCdEf".parse::<BackgroundColor>().unwrap().to_string(), "#FFABCDEF");
        for bad in ["101010", "#10101", "#1010101", "#GGGGGG", "#+10101", "", "#", "red", "#1010101010"] {
            assert_eq!(bad.parse::<BackgroundColor>().unwrap_err().code, "invalid_color", "{bad:?}");
        }
    }

    #[test]
    fn colours_round_trip_through_json() {
        let c: BackgroundColor = serde_json::from_str("\"#123456\"").unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"#FF123456\"");
        assert!(serde_json::from_str::<BackgroundColor>("\"#12\"").is_err());
    }

    #[test]
    fn fonts_by_name_alias_or_number() {
        assert_eq!("SANS_SERIF".parse::<Font>().unwrap(), Font::SansSerif);
        assert_eq!("system".parse::<Font>().unwrap(), Font::SansSerif);
        assert_eq!("fb-script".parse::<Font>().unwrap(), Font::NoricanRegular);
        assert_eq!("courierprime_bold".parse::<Font>().unwrap(), Font::CourierprimeBold);
        assert_eq!("10".parse::<Font>().unwrap(), Font::CourierprimeBold);
        assert_eq!(serde_json::from_str::<Font>("6").unwrap(), Font::SystemBold);
        assert_eq!(serde_json::from_str::<Font>("\"SERIF\"").unwrap(), Font::Serif);
        assert_eq!("COMIC_SANS".parse::<Font>().unwrap_err().code, "unknown_font");
        assert_eq!("11".parse::<Font>().unwrap_err().code, "unknown_font");
        assert!(serde_json::from_str::<Font>("-1").is_err());
        for font in Font::ALL {
            assert_eq!(Font::from_code(font.code().into()), Some(font));
            assert_eq!(font.name().parse::<Font>().unwrap(), font);
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(Name::new("  Acme  ").unwrap().as_str(), "Acme");
        assert!(Name::new(" ").is_err());
        assert!(Name::new("a\u{0}b").is_err());
        assert!(Name::new("x".repeat(101)).is_err());
    }
}
