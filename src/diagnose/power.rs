//! The statistics of a verdict: does a gradient fit the truth within rounding, and could the
//! data have shown each named mistake?
//!
//! Every element e has a standard deviation sigma_e of the rounding error a correct computation
//! makes ([`super::tolerance`] times [`crate::policy::TOLERANCE_SIGMA`]). With d_e = given_e -
//! truth_e:
//!
//! - **Elements**: each |d_e| / sigma_e must be at most z_N = sqrt(2 ln(N / alpha)), the level
//!   the largest of N independent normal errors stays below with probability 1 - alpha
//!   ([`crate::policy::FALSE_ALARM`]).
//! - **Together**: Q = sum_e (d_e / sigma_e)^2 must be at most N + z sqrt(2 N) (a chi-square
//!   with N degrees of freedom and z = [`crate::policy::Z_TEST`]): many elements each within
//!   their tolerance but all off the same way are not rounding.
//! - **Scale**: c = sum g t / sigma^2 / sum t^2 / sigma^2 estimates a factor with standard error
//!   se = 1 / sqrt(sum t^2 / sigma^2); |c - 1| above max(z se, F u) is a scaled gradient
//!   (F = [`crate::policy::SCALE_FLOOR_ULPS`]: a scale of a few u is what a rounded 1/n or a
//!   rounded loss scale does to a correct computation). tau = max(2 z se, 2 F u) is the
//!   resolution: any factor outside [1 - tau, 1 + tau] would have shown.
//! - **Alternatives**: a named mistake predicts a gradient a. Its distance from the truth in
//!   units of the errors is D = ||(a - t) / sigma||; the data can tell a from t when D >= 2 z
//!   (the two hypotheses' errors then overlap with probability below Phi(-z)), and it chose a
//!   when the projection of d on a - t, T = <d, a - t>_sigma / D, is at least D / 2 (the given
//!   gradient is at least as close to a as to t: a likelihood-ratio test between the two).

use crate::policy::{SCALE_FLOOR_ULPS, Z_TEST};

/// The level the largest of `n` independent standard normal errors stays below with probability
/// 1 - alpha ([`crate::policy::FALSE_ALARM`]): sqrt(2 ln(n / alpha)).
pub fn z_elements(n: usize) -> f64 {
    (2.0 * (n.max(1) as f64 / crate::policy::FALSE_ALARM).ln()).sqrt()
}

/// The largest Q = sum (d / sigma)^2 a correct gradient of `n` elements passes.
pub fn q_max(n: usize) -> f64 {
    let n = n as f64;
    n + Z_TEST * (2.0 * n).sqrt()
}

/// The sums one pass over the elements gathers for the fit and the scale test, element by
/// element ([`Tally::add`]), for N elements known in advance (their level z_N).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tally {
    /// z_N for the elements tallied.
    pub z: f64,
    /// Elements added.
    pub elements: usize,
    /// How many lie beyond z sigma.
    pub outside: usize,
    /// sum (d / sigma)^2.
    pub q: f64,
    /// The largest |d| / sigma.
    pub largest: f64,
    /// sum g t / sigma^2 (g = d + t).
    pub gt: f64,
    /// sum t^2 / sigma^2.
    pub tt: f64,
}

impl Tally {
    /// An empty tally for `n` elements.
    pub fn new(n: usize) -> Self {
        Tally { z: z_elements(n), elements: 0, outside: 0, q: 0.0, largest: 0.0, gt: 0.0, tt: 0.0 }
    }

    /// One element: deviation d = given - model, the model's value t and its standard deviation
    /// sigma. An element with sigma = 0 (every term of it exactly 0) must have d = 0; it carries
    /// no weight in the pooled sums.
    #[inline]
    pub fn add(&mut self, d: f64, t: f64, sigma: f64) {
        self.elements += 1;
        if d == 0.0 && sigma == 0.0 {
            return;
        }
        let r = d.abs() / sigma;
        self.q += r * r;
        self.largest = self.largest.max(r);
        self.outside += usize::from(r > self.z);
        if sigma > 0.0 {
            let w = 1.0 / (sigma * sigma);
            self.gt += (d + t) * t * w;
            self.tt += t * t * w;
        }
    }

    /// The fit.
    pub fn fit(&self) -> Fit {
        Fit { elements: self.elements, outside: self.outside, largest: self.largest / self.z, q: self.q }
    }

    /// The scale test in a dtype of unit roundoff `u`.
    pub fn scale(&self, u: f64) -> Scale {
        let (factor, se) =
            if self.tt > 0.0 { (self.gt / self.tt, 1.0 / self.tt.sqrt()) } else { (f64::NAN, f64::INFINITY) };
        let floor = SCALE_FLOOR_ULPS * u;
        Scale { factor, se, threshold: (Z_TEST * se).max(floor), tau: (2.0 * Z_TEST * se).max(2.0 * floor) }
    }

    /// How the data stands against c times the truth: a - t = (c - 1) t, so D = |c - 1| sqrt(tt)
    /// and T = sign(c - 1) sum d t / sigma^2 / sqrt(tt).
    pub(crate) fn scale_alternative(&self, c: f64) -> Alternative {
        let root = self.tt.sqrt();
        let dt = self.gt - self.tt;
        let distance = (c - 1.0).abs() * root;
        Alternative { distance, projection: if root > 0.0 { (c - 1.0).signum() * dt / root } else { 0.0 } }
    }
}

/// The fit of a gradient to a model of it: every element's |d| / sigma, and their sum of squares.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fit {
    /// How many elements.
    pub elements: usize,
    /// How many lie beyond z_N sigma.
    pub outside: usize,
    /// The largest |d| / (z_N sigma).
    pub largest: f64,
    /// sum (d / sigma)^2.
    pub q: f64,
}

impl Fit {
    /// The fit of the deviations `d` (given minus model) with standard deviations `sigma`.
    pub fn of<'a>(d: impl ExactSizeIterator<Item = f64>, sigma: impl Iterator<Item = &'a f64>) -> Self {
        let mut t = Tally::new(d.len());
        d.zip(sigma).for_each(|(d, s)| t.add(d, 0.0, *s));
        t.fit()
    }

    /// Whether the gradient fits: every element within z_N sigma and Q within [`q_max`].
    pub fn holds(&self) -> bool {
        self.outside == 0 && self.q <= q_max(self.elements)
    }
}

/// The scale test: the weighted least-squares factor of the given gradient on the truth, its
/// standard error and the resolution tau.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    /// c = sum g t / sigma^2 / sum t^2 / sigma^2.
    pub factor: f64,
    /// Its standard error, 1 / sqrt(sum t^2 / sigma^2).
    pub se: f64,
    /// The smallest departure from 1 that is called a scale: max(z se, F u).
    pub threshold: f64,
    /// The resolution: every factor outside [1 - tau, 1 + tau] would have shown.
    pub tau: f64,
}

impl Scale {
    /// The scale test of `given` against `truth` with standard deviations `sigma`, in a dtype of
    /// unit roundoff `u`.
    pub fn of<'a>(
        given: impl ExactSizeIterator<Item = f64>,
        truth: impl Iterator<Item = f64>,
        sigma: impl Iterator<Item = &'a f64>,
        u: f64,
    ) -> Self {
        let mut t = Tally::new(given.len());
        given.zip(truth).zip(sigma).for_each(|((g, tv), s)| t.add(g - tv, tv, *s));
        t.scale(u)
    }

    /// Whether the factor departs from 1 by more than rounding explains.
    pub fn departs(&self) -> bool {
        (self.factor - 1.0).abs() > self.threshold
    }
}

/// How the data stands against one alternative a: D = ||(a - t) / sigma|| and the projection T
/// of the deviation d = g - t on a - t.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Alternative {
    /// The alternative's distance from the truth in units of the errors.
    pub distance: f64,
    /// The projection of the given gradient's deviation on it.
    pub projection: f64,
}

impl Alternative {
    /// From the alternative's departure from the truth `a - t`, the given gradient's `d = g - t`
    /// and the standard deviations.
    pub fn of<'a>(
        a_minus_t: impl Iterator<Item = f64>,
        d: impl Iterator<Item = f64>,
        sigma: impl Iterator<Item = &'a f64>,
    ) -> Self {
        let (mut aa, mut da) = (0.0, 0.0);
        for ((a, d), s) in a_minus_t.zip(d).zip(sigma) {
            if *s == 0.0 {
                continue; // the fit checks elements without rounding error on their own
            }
            let w = 1.0 / (s * s);
            aa += a * a * w;
            da += d * a * w;
        }
        let distance = aa.sqrt();
        Alternative { distance, projection: if distance > 0.0 { da / distance } else { 0.0 } }
    }

    /// Whether the data can tell the alternative from the truth: D >= 2 z.
    pub fn visible(&self) -> bool {
        self.distance >= 2.0 * Z_TEST
    }

    /// Whether the given gradient is at least as close to the alternative as to the truth.
    pub fn chosen(&self) -> bool {
        self.visible() && self.projection >= self.distance / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_element_level_grows_like_the_largest_normal() {
        // sqrt(2 ln(N / alpha)): the largest of N normals exceeds it with probability < alpha.
        assert!(z_elements(48) < z_elements(7840) && z_elements(7840) < z_elements(3_211_264));
        assert!((z_elements(1) - (2.0 * (1.0 / crate::policy::FALSE_ALARM).ln()).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn a_fit_fails_on_one_far_element_or_on_many_near_ones() {
        let sigma = vec![1.0; 1000];
        let near = Fit::of((0..1000).map(|i| if i % 2 == 0 { 0.5 } else { -0.5 }), sigma.iter());
        assert!(near.holds(), "{near:?}");
        let one = Fit::of((0..1000).map(|i| if i == 7 { 10.0 } else { 0.0 }), sigma.iter());
        assert_eq!((one.holds(), one.outside), (false, 1));
        // Every element at 1.5 sigma: none beyond z_N, but Q = 2250 > 1000 + z sqrt(2000).
        let many = Fit::of((0..1000).map(|_| 1.5), sigma.iter());
        assert_eq!((many.outside, many.holds()), (0, false), "{many:?}");
    }

    #[test]
    fn a_scale_alternative_from_the_tally_is_the_alternative_of_its_departure() {
        let t: Vec<f64> = (0..300).map(|i| ((i * 13 % 47) as f64 - 23.0) / 7.0).collect();
        let sigma: Vec<f64> = (0..300).map(|i| 0.01 + (i % 5) as f64 * 0.003).collect();
        let g: Vec<f64> = t.iter().enumerate().map(|(i, v)| v * 1.002 + ((i % 3) as f64 - 1.0) * 0.004).collect();
        let mut tally = Tally::new(300);
        for ((g, t), s) in g.iter().zip(&t).zip(&sigma) {
            tally.add(g - t, *t, *s);
        }
        for c in [-1.0, 0.5, 2.0, 300.0] {
            let direct =
                Alternative::of(t.iter().map(|v| (c - 1.0) * v), g.iter().zip(&t).map(|(g, t)| g - t), sigma.iter());
            let quick = tally.scale_alternative(c);
            assert!((direct.distance - quick.distance).abs() <= 1e-9 * direct.distance, "{c}: {direct:?} {quick:?}");
            assert!(
                (direct.projection - quick.projection).abs() <= 1e-9 * direct.distance,
                "{c}: {direct:?} {quick:?}"
            );
        }
    }

    #[test]
    fn a_scale_is_found_when_it_exceeds_its_resolution() {
        let t: Vec<f64> = (0..400).map(|i| ((i * 37 % 101) as f64 - 50.0) / 50.0).collect();
        let sigma = vec![1e-3; 400];
        let s = Scale::of(t.iter().map(|v| v * 1.01), t.iter().copied(), sigma.iter(), 1e-8);
        assert!((s.factor - 1.01).abs() < 1e-12 && s.departs(), "{s:?}");
        assert!(s.tau < 0.01, "{s:?}");
        let s = Scale::of(t.iter().map(|v| v * (1.0 + 1e-6)), t.iter().copied(), sigma.iter(), 1e-8);
        assert!(!s.departs(), "a factor below its standard error: {s:?}");
        // The floor: a scale of a few u is rounding, however many elements.
        let s = Scale::of(t.iter().map(|v| v * (1.0 + 2e-8)), t.iter().copied(), vec![1e-12; 400].iter(), 1e-8);
        assert!(!s.departs() && s.tau == 2.0 * SCALE_FLOOR_ULPS * 1e-8, "{s:?}");
    }

    #[test]
    fn an_alternative_is_visible_and_chosen_by_distance() {
        let sigma = vec![1.0; 100];
        let a: Vec<f64> = vec![1.0; 100]; // D = 10 >= 2 z
        let alt = Alternative::of(a.iter().copied(), std::iter::repeat_n(0.0, 100), sigma.iter());
        assert!(alt.visible() && !alt.chosen(), "{alt:?}");
        let alt = Alternative::of(a.iter().copied(), std::iter::repeat_n(0.9, 100), sigma.iter());
        assert!(alt.chosen(), "{alt:?}");
        let small = Alternative::of(a.iter().map(|v| v * 0.1), std::iter::repeat_n(0.1, 100), sigma.iter());
        assert!(!small.visible() && !small.chosen(), "D = 1 cannot be told from the truth: {small:?}");
    }
}
