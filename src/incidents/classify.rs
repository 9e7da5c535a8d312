//! Where an incident falls on the consent spectrum, and why.
//!
//! Trafficking always contains coercion; smuggling is movement without it.
//! - `trafficking_indicated`: at least one coercion indicator: any means of
//!   control other than `other` (deception through false promises, confinement
//!   through restricted movement, debt bondage, threats, abuse, withheld
//!   documents…), recruitment by abduction or ransom, or any victim under 18 in
//!   sexual exploitation, whatever their "consent".
//! - `smuggling_indicated`: movement was facilitated and no coercion indicator is present.
//! - `undetermined`: neither.

use super::content::IncidentContent;
use super::vocabulary::{ConsentAssessment, ExploitationType, MeansOfControl, Recruitment};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub value: ConsentAssessment,
    /// The indicators that decided it, e.g. `means_of_control:debt_bondage`.
    pub indicators: Vec<String>,
}

pub const MINOR_IN_SEXUAL_EXPLOITATION: &str = "minor_in_sexual_exploitation";

pub fn assess(content: &IncidentContent) -> Assessment {
    let mut coercion: Vec<String> = content
        .means_of_control
        .iter()
        .filter(|m| **m != MeansOfControl::Other)
        .map(|m| format!("means_of_control:{}", m.as_str()))
        .collect();
    coercion.extend(
        content
            .recruitment
            .iter()
            .filter(|r| matches!(r, Recruitment::Abduction | Recruitment::SmugglingRansom))
            .map(|r| format!("recruitment:{}", r.as_str())),
    );
    if content.victims.age_bands.minors() > 0
        && content
            .exploitation_types
            .contains(&ExploitationType::SexualExploitation)
    {
        coercion.push(MINOR_IN_SEXUAL_EXPLOITATION.into());
    }
    if !coercion.is_empty() {
        return Assessment {
            value: ConsentAssessment::TraffickingIndicated,
            indicators: coercion,
        };
    }
    if content.movement_facilitated == Some(true) {
        return Assessment {
            value: ConsentAssessment::SmugglingIndicated,
            indicators: vec!["movement_facilitated".into()],
        };
    }
    Assessment {
        value: ConsentAssessment::Undetermined,
        indicators: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incidents::content::tests::sample;

    #[test]
    fn coercion_means_trafficking_and_names_its_indicators() {
        let mut c = sample();
        c.means_of_control = vec![MeansOfControl::DebtBondage, MeansOfControl::Other];
        c.recruitment = vec![Recruitment::Abduction, Recruitment::JobOffer];
        c.movement_facilitated = Some(true);
        let a = assess(&c);
        assert_eq!(a.value, ConsentAssessment::TraffickingIndicated);
        assert_eq!(
            a.indicators,
            ["means_of_control:debt_bondage", "recruitment:abduction"]
        );
    }

    #[test]
    fn a_minor_in_sexual_exploitation_is_trafficking_regardless_of_consent() {
        let mut c = sample();
        c.victims.age_bands.age_9_17 = 1;
        c.exploitation_types = vec![ExploitationType::SexualExploitation];
        c.movement_facilitated = Some(true);
        assert_eq!(assess(&c).indicators, [MINOR_IN_SEXUAL_EXPLOITATION]);
        // A minor in forced labour without other indicators is not decided by this rule.
        c.exploitation_types = vec![ExploitationType::ForcedLabour];
        assert_eq!(assess(&c).value, ConsentAssessment::SmugglingIndicated);
    }

    #[test]
    fn movement_without_coercion_is_smuggling() {
        let mut c = sample();
        c.movement_facilitated = Some(true);
        c.means_of_control = vec![MeansOfControl::Other];
        assert_eq!(assess(&c).value, ConsentAssessment::SmugglingIndicated);
    }

    #[test]
    fn too_little_information_is_undetermined() {
        let mut c = sample();
        assert_eq!(assess(&c).value, ConsentAssessment::Undetermined);
        c.movement_facilitated = Some(false);
        c.recruitment = vec![Recruitment::JobOffer];
        assert_eq!(assess(&c).value, ConsentAssessment::Undetermined);
        assert!(assess(&c).indicators.is_empty());
    }
}
