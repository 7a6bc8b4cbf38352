//! Step grids: exact decimals spaced evenly in log10, written with three significant digits.

use gradlab::exact::Decimal;

/// Steps 10^(-j/per_decade) for j = 0 ..= decades * per_decade, each rounded to three
/// significant digits and kept as an exact decimal (so every dtype rounds the same number once).
pub fn log_grid(decades: u32, per_decade: u32) -> Vec<Decimal> {
    log_grid_from(0, decades, per_decade)
}

/// Like [`log_grid`] but starting at 10^`top` instead of 1.
pub fn log_grid_from(top: i32, decades: u32, per_decade: u32) -> Vec<Decimal> {
    (0..=decades * per_decade)
        .map(|j| {
            let e = top as f64 - (j as f64) / per_decade as f64;
            let exp = e.floor() as i32;
            let mant = 10f64.powf(e - exp as f64);
            let text = format!("{mant:.2}e{exp}");
            // The text is a plain decimal literal, so parsing cannot fail.
            Decimal::parse("step", &text).unwrap_or_else(|_| unreachable!("bad grid literal {text}"))
        })
        .collect()
}

/// The seed's decades 1e0, 1e-1, ..., 1e-`last`.
pub fn decades(first: u32, last: u32) -> Vec<Decimal> {
    (first..=last)
        .map(|k| Decimal::parse("step", &format!("1e-{k}")).unwrap_or_else(|_| unreachable!("bad literal")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_is_log_spaced_and_exact() {
        let g = log_grid(2, 4);
        let texts: Vec<&str> = g.iter().map(|d| d.text()).collect();
        assert_eq!(
            texts,
            ["1.00e0", "5.62e-1", "3.16e-1", "1.78e-1", "1.00e-1", "5.62e-2", "3.16e-2", "1.78e-2", "1.00e-2"]
        );
        assert_eq!(*g[1].value(), rug::Rational::from((562, 1000)));
    }
}
