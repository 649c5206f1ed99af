//! Sorting the short or nearly sorted lists this component keeps (metadata, a multipart
//! upload's parts as they complete, a listing page's files and folders): an insertion sort,
//! stable, a few hundred bytes per element type where the standard library's stable sort
//! costs ~2.5 KB per use. Nearly sorted input takes linear time.

use std::cmp::Ordering;

pub fn sort_by<T>(items: &mut [T], compare: fn(&T, &T) -> Ordering) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && compare(&items[j - 1], &items[j]) == Ordering::Greater {
            items.swap(j - 1, j);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_stably() {
        let mut items = vec![(3, 'a'), (1, 'b'), (3, 'c'), (2, 'd'), (1, 'e')];
        sort_by(&mut items, |a, b| a.0.cmp(&b.0));
        assert_eq!(items, [(1, 'b'), (1, 'e'), (2, 'd'), (3, 'a'), (3, 'c')]);
        let mut empty: Vec<u8> = Vec::new();
        sort_by(&mut empty, Ord::cmp);
    }
}
