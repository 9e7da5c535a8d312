//! Small-cell suppression: counts about a handful of people in a small place
//! can identify them.
//!
//! Primary: a cell with fewer than `k` incidents is withheld. Secondary: when
//! exactly one cell is withheld, the total minus the published cells would give
//! it back, so the next smallest published cell is withheld too (or, when there
//! is none, the total). A total below `k` is withheld as well.

use super::{Cell, Total};

pub fn suppress(cells: &mut [Cell], total: &mut Total, k: u32) {
    let k = i64::from(k);
    let mut withheld = 0;
    for cell in cells.iter_mut() {
        if cell.incidents.is_some_and(|n| n < k) {
            withhold(cell);
            withheld += 1;
        }
    }
    if total.incidents.is_some_and(|n| n < k) {
        withhold_total(total);
    }
    if withheld == 1 && !total.suppressed {
        let next = cells
            .iter_mut()
            .filter(|c| !c.suppressed)
            .min_by_key(|c| (c.incidents, c.victims));
        match next {
            Some(cell) => withhold(cell),
            None => withhold_total(total),
        }
    }
}

fn withhold(cell: &mut Cell) {
    cell.incidents = None;
    cell.victims = None;
    cell.suppressed = true;
    if cell.incidents_per_1000_troops.is_some() {
        cell.incidents_per_1000_troops = Some(None);
    }
}

fn withhold_total(total: &mut Total) {
    total.incidents = None;
    total.victims = None;
    total.suppressed = true;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(counts: &[i64]) -> Vec<Cell> {
        counts
            .iter()
            .map(|n| Cell {
                incidents: Some(*n),
                victims: Some(n * 2),
                ..Default::default()
            })
            .collect()
    }

    fn total(n: i64) -> Total {
        Total {
            incidents: Some(n),
            victims: Some(n * 2),
            suppressed: false,
        }
    }

    fn shown(cells: &[Cell]) -> Vec<Option<i64>> {
        cells.iter().map(|c| c.incidents).collect()
    }

    #[test]
    fn nothing_below_k_nothing_withheld() {
        let (mut c, mut t) = (cells(&[5, 9, 12]), total(26));
        suppress(&mut c, &mut t, 5);
        assert_eq!(shown(&c), [Some(5), Some(9), Some(12)]);
        assert!(!t.suppressed);
    }

    #[test]
    fn a_lone_small_cell_takes_the_next_smallest_with_it() {
        let (mut c, mut t) = (cells(&[12, 3, 7, 9]), total(31));
        suppress(&mut c, &mut t, 5);
        assert_eq!(shown(&c), [Some(12), None, None, Some(9)]);
        assert_eq!(c[1].victims, None);
        assert_eq!(t.incidents, Some(31));
    }

    #[test]
    fn two_small_cells_need_no_secondary() {
        let (mut c, mut t) = (cells(&[12, 3, 4, 9]), total(28));
        suppress(&mut c, &mut t, 5);
        assert_eq!(shown(&c), [Some(12), None, None, Some(9)]);
    }

    #[test]
    fn a_single_small_cell_alone_withholds_the_total() {
        let (mut c, mut t) = (cells(&[3]), total(3));
        suppress(&mut c, &mut t, 5);
        assert_eq!(shown(&c), [None]);
        assert!(t.suppressed && t.incidents.is_none());
        let (mut c, mut t) = (cells(&[3, 40]), total(43));
        suppress(&mut c, &mut t, 5);
        assert_eq!(shown(&c), [None, None], "the only other cell goes too");
    }
}
