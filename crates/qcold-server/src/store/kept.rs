//! Rows a connection keeps between reads of the same table, so that a read asks SQLite only for
//! the rows written since (migrations 16 and 17 give every written row the next revision, and a
//! deletion a fresh epoch to what it belonged to).

use std::cmp::Ordering;

/// Kept rows, in their order, with the epoch they were read under and the highest revision seen.
#[derive(Debug)]
pub(super) struct Kept<T> {
    pub(super) epoch: i64,
    rev: i64,
    pub(super) rows: Vec<T>,
}

impl<T> Kept<T> {
    /// Nothing kept yet: the first read takes every row.
    pub(super) fn new(epoch: i64) -> Self {
        Self { epoch, rev: -1, rows: Vec::new() }
    }

    /// Rows with a higher revision than this are the ones to read.
    pub(super) fn since(&self) -> i64 {
        self.rev
    }

    /// Takes in rows read with their revisions: each replaces the kept row it equals under
    /// `order` or goes in its place. `order` must compare fields a row never changes (an item's
    /// position, an agent's start and id), so a row keeps its place when it is written again.
    pub(super) fn merge(&mut self, changed: Vec<(T, i64)>, order: impl Fn(&T, &T) -> Ordering) {
        self.rev = changed.iter().map(|(_, rev)| *rev).fold(self.rev, i64::max);
        if self.rows.is_empty() {
            self.rows = changed.into_iter().map(|(row, _)| row).collect();
            self.rows.sort_by(&order);
            return;
        }
        for (row, _) in changed {
            match self.rows.binary_search_by(|kept| order(kept, &row)) {
                Ok(at) => self.rows[at] = row,
                Err(at) => self.rows.insert(at, row),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_rows_replace_their_twins_and_new_ones_take_their_place() {
        let mut kept = Kept::new(1);
        kept.merge(vec![((3, "c"), 5), ((1, "a"), 2)], |a: &(u32, &str), b| a.0.cmp(&b.0));
        assert_eq!((kept.rows.clone(), kept.since()), (vec![(1, "a"), (3, "c")], 5));
        kept.merge(vec![((3, "C"), 7), ((2, "b"), 6)], |a, b| a.0.cmp(&b.0));
        assert_eq!((kept.rows.clone(), kept.since()), (vec![(1, "a"), (2, "b"), (3, "C")], 7));
        kept.merge(Vec::new(), |a, b| a.0.cmp(&b.0));
        assert_eq!(kept.since(), 7, "nothing read leaves the revision");
    }
}
