//! Sorted views of a table, the way Elasticsearch keeps doc values: built once per sort,
//! dropped on any write to the table. A range filter on the sort field (what incremental
//! sync sends on every page) becomes two binary searches instead of a scan, so a client
//! paging through 100,000 records measures itself, not the stand-in.

use std::cmp::Ordering;

use super::filter::{values_at, Bound};
use super::record::{Field, Record};

/// One table's records in the order of one sort: stable (ties keep creation order) with
/// missing values last, exactly as a full sort of the table would give.
pub(crate) struct SortedIndex {
    /// Positions in the table, in sort order.
    pub(crate) order: Vec<usize>,
    /// The sort value of each entry of `order`, when every record holds at most one value at
    /// the sort path and every value is a number; `None` otherwise (no fast range lookups).
    numbers: Option<Vec<Option<f64>>>,
    descending: bool,
}

impl SortedIndex {
    pub(crate) fn build(records: &[Record], path: &[String], descending: bool) -> Self {
        let mut keyed: Vec<(SortKey<'_>, usize)> = records
            .iter()
            .enumerate()
            .map(|(i, r)| (SortKey::of(r, path, descending), i))
            .collect();
        keyed.sort_by(|(a, _), (b, _)| a.compare(b, descending));
        let numbers = keyed
            .iter()
            .map(|(_, i)| {
                let mut values = Vec::new();
                values_at(&records[*i], path, &mut values);
                match values.as_slice() {
                    [] => Some(None),
                    [single @ (Field::Int(_) | Field::Float(_))] => single.as_f64().map(Some),
                    _ => None,
                }
            })
            .collect();
        Self {
            order: keyed.into_iter().map(|(_, i)| i).collect(),
            numbers,
            descending,
        }
    }

    /// The slice of `order` whose sort value satisfies every bound, or `None` when this index
    /// cannot answer range lookups (then the caller filters record by record).
    pub(crate) fn range(&self, bounds: &[(Bound, f64)]) -> Option<&[usize]> {
        let numbers = self.numbers.as_ref()?;
        // Missing values sort last in both directions; they never match a range.
        let present = numbers.partition_point(Option::is_some);
        let keys = &numbers[..present];
        let lower_ok = |n: f64| {
            bounds
                .iter()
                .filter(|(b, _)| b.is_lower())
                .all(|(b, l)| b.admits(n, *l))
        };
        let upper_ok = |n: f64| {
            bounds
                .iter()
                .filter(|(b, _)| !b.is_lower())
                .all(|(b, l)| b.admits(n, *l))
        };
        let value = |k: &Option<f64>| k.unwrap_or(f64::NAN);
        // Ascending, the matches are the keys past the lower bounds and before the upper
        // ones; descending, the other way round.
        let (start, end) = if self.descending {
            (
                keys.partition_point(|k| !upper_ok(value(k))),
                keys.partition_point(|k| lower_ok(value(k))),
            )
        } else {
            (
                keys.partition_point(|k| !lower_ok(value(k))),
                keys.partition_point(|k| upper_ok(value(k))),
            )
        };
        Some(&self.order[start..end.max(start)])
    }
}

/// A sort value. Arrays sort by their smallest element ascending and largest descending,
/// as ES does by default.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SortKey<'a> {
    Number(f64),
    Text(&'a str),
    Flag(bool),
    Missing,
}

impl<'a> SortKey<'a> {
    pub(crate) fn of(record: &'a Record, path: &[String], descending: bool) -> Self {
        let mut values = Vec::new();
        values_at(record, path, &mut values);
        let keys = values.into_iter().filter_map(|v| match v {
            Field::Int(_) | Field::Float(_) => v.as_f64().map(SortKey::Number),
            Field::Str(s) => Some(SortKey::Text(s)),
            Field::Bool(b) => Some(SortKey::Flag(*b)),
            _ => None,
        });
        let pick = if descending {
            keys.max_by(|a, b| a.order(b))
        } else {
            keys.min_by(|a, b| a.order(b))
        };
        pick.unwrap_or(SortKey::Missing)
    }

    fn rank(&self) -> u8 {
        match self {
            SortKey::Number(_) => 0,
            SortKey::Text(_) => 1,
            SortKey::Flag(_) => 2,
            SortKey::Missing => 3,
        }
    }

    fn order(&self, other: &Self) -> Ordering {
        match (self, other) {
            (SortKey::Number(a), SortKey::Number(b)) => a.total_cmp(b),
            (SortKey::Text(a), SortKey::Text(b)) => a.cmp(b),
            (SortKey::Flag(a), SortKey::Flag(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }

    /// Missing values go last in both directions.
    pub(crate) fn compare(&self, other: &Self, descending: bool) -> Ordering {
        match (self, other) {
            (SortKey::Missing, SortKey::Missing) => Ordering::Equal,
            (SortKey::Missing, _) => Ordering::Greater,
            (_, SortKey::Missing) => Ordering::Less,
            _ if descending => other.order(self),
            _ => self.order(other),
        }
    }
}
