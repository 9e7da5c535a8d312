//! Great-circle distances, for finding an incident's nearest base.

use crate::missions::Base;

/// The IUGG mean Earth radius.
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// Haversine distance in kilometres between two points in degrees.
pub fn distance_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let d_phi = (lat2 - lat1).to_radians();
    let d_lambda = (lon2 - lon1).to_radians();
    let a = (d_phi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (d_lambda / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
}

/// The nearest base and its distance, rounded to metres; `None` for a mission without bases.
pub fn nearest(bases: &[Base], lat: f64, lon: f64) -> Option<(&Base, f64)> {
    bases
        .iter()
        .map(|b| (b, distance_km(lat, lon, b.latitude, b.longitude)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(b, d)| (b, (d * 1000.0).round() / 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_distances() {
        // One degree of latitude along a meridian: 2πR/360.
        let one_degree = 2.0 * std::f64::consts::PI * EARTH_RADIUS_KM / 360.0;
        assert!((distance_km(0.0, 0.0, 1.0, 0.0) - one_degree).abs() < 1e-9);
        // Pristina to Camp Bondsteel (42.66, 21.16) → (42.36, 21.25): about 34 km.
        let d = distance_km(42.66, 21.16, 42.36, 21.25);
        assert!((d - 34.2).abs() < 0.2, "{d}");
        // Antipodes: half the circumference.
        let half = std::f64::consts::PI * EARTH_RADIUS_KM;
        assert!((distance_km(0.0, 0.0, 0.0, 180.0) - half).abs() < 1e-6);
        assert_eq!(distance_km(8.48, -13.23, 8.48, -13.23), 0.0);
    }
}
