use super::{InvalidValue, StatusId, StatusState, Timestamp};

/// The position after the last item of a page: lists are ordered newest first by
/// (`created_at`, `id`), and the next page starts strictly after this pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: Timestamp,
    pub id: StatusId,
}

/// How many items a page holds: 1 to 100, 20 when not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u16);

impl PageLimit {
    pub const MAX: u16 = 100;

    pub fn new(limit: u64) -> Result<Self, InvalidValue> {
        match u16::try_from(limit) {
            Ok(l) if (1..=Self::MAX).contains(&l) => Ok(Self(l)),
            _ => Err(InvalidValue::new("limit", "invalid_limit", "limit must be between 1 and 100")),
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

impl Default for PageLimit {
    fn default() -> Self {
        Self(20)
    }
}

/// Which statuses of a session to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusQuery {
    pub limit: PageLimit,
    pub after: Option<Cursor>,
    pub state: Option<StatusState>,
}

/// One page of a list, and where the next one starts if there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}
