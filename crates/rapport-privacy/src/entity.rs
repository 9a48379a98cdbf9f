//! What a detection is: a kind of personal data, a byte span and a confidence.

use rapport_text::Span;
use serde::Serialize;

/// Kinds of personal data Rapport detects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EntityKind {
    Email,
    Phone,
    CreditCard,
    Iban,
    UsSsn,
    UkNino,
    NhsNumber,
    IpAddress,
    Url,
    StreetAddress,
    Postcode,
    DateOfBirth,
    Person,
    DriverLicense,
    Secret,
}

impl EntityKind {
    /// The stable name used in JSON output and in placeholders (`[EMAIL]`, `<PERSON_1>`).
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Email => "EMAIL",
            EntityKind::Phone => "PHONE",
            EntityKind::CreditCard => "CREDIT_CARD",
            EntityKind::Iban => "IBAN",
            EntityKind::UsSsn => "US_SSN",
            EntityKind::UkNino => "UK_NINO",
            EntityKind::NhsNumber => "NHS_NUMBER",
            EntityKind::IpAddress => "IP_ADDRESS",
            EntityKind::Url => "URL",
            EntityKind::StreetAddress => "STREET_ADDRESS",
            EntityKind::Postcode => "POSTCODE",
            EntityKind::DateOfBirth => "DATE_OF_BIRTH",
            EntityKind::Person => "PERSON",
            EntityKind::DriverLicense => "DRIVER_LICENSE",
            EntityKind::Secret => "SECRET",
        }
    }

    /// Every kind, for parsing placeholders back.
    pub const ALL: [EntityKind; 15] = [
        EntityKind::Email,
        EntityKind::Phone,
        EntityKind::CreditCard,
        EntityKind::Iban,
        EntityKind::UsSsn,
        EntityKind::UkNino,
        EntityKind::NhsNumber,
        EntityKind::IpAddress,
        EntityKind::Url,
        EntityKind::StreetAddress,
        EntityKind::Postcode,
        EntityKind::DateOfBirth,
        EntityKind::Person,
        EntityKind::DriverLicense,
        EntityKind::Secret,
    ];

    /// Numbers whose last four digits may stay visible when masked.
    pub fn is_numeric_id(self) -> bool {
        matches!(
            self,
            EntityKind::CreditCard
                | EntityKind::Phone
                | EntityKind::Iban
                | EntityKind::UsSsn
                | EntityKind::NhsNumber
        )
    }
}

impl std::fmt::Display for EntityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One detected piece of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Entity {
    #[serde(rename = "type")]
    pub kind: EntityKind,
    pub start: usize,
    pub end: usize,
    #[serde(serialize_with = "rounded")]
    pub confidence: f32,
}

fn rounded<S: serde::Serializer>(x: &f32, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((f64::from(*x) * 1000.0).round() / 1000.0)
}

impl Entity {
    pub fn new(kind: EntityKind, span: Span, confidence: f32) -> Self {
        Self {
            kind,
            start: span.start,
            end: span.end,
            confidence: confidence.clamp(0.0, 1.0),
        }
    }

    pub fn span(&self) -> Span {
        Span::new(self.start, self.end)
    }
}
