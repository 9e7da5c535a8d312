//! The closed vocabularies of an incident, aligned with the Human Trafficking
//! Case Data Standard (HTCDS) and the CTDC; snake_case on the wire.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Declares a closed vocabulary: serde names, `as_str`, and its OpenAPI enum.
macro_rules! vocabulary {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        // The wire names are the variants in snake_case: `as_str` spells them out
        // (a test checks that the two agree), and utoipa reads `rename_all`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }
    };
}

vocabulary!(
    /// The form of exploitation reported.
    ExploitationType {
        SexualExploitation => "sexual_exploitation",
        ForcedLabour => "forced_labour",
        ForcedMarriage => "forced_marriage",
        DomesticServitude => "domestic_servitude",
        Other => "other",
    }
);

vocabulary!(
    /// How victims are controlled (HTCDS `vic_MethodsOfControl`).
    MeansOfControl {
        DebtBondage => "debt_bondage",
        TakesEarnings => "takes_earnings",
        RestrictsFinancialAccess => "restricts_financial_access",
        Threats => "threats",
        PsychologicalAbuse => "psychological_abuse",
        PhysicalAbuse => "physical_abuse",
        SexualAbuse => "sexual_abuse",
        FalsePromises => "false_promises",
        PsychoactiveSubstances => "psychoactive_substances",
        RestrictsMovement => "restricts_movement",
        RestrictsMedicalCare => "restricts_medical_care",
        ExcessiveWorkingHours => "excessive_working_hours",
        UsesChildren => "uses_children",
        ThreatOfLawEnforcement => "threat_of_law_enforcement",
        WithholdsNecessities => "withholds_necessities",
        WithholdsDocuments => "withholds_documents",
        Other => "other",
    }
);

vocabulary!(
    /// How victims were recruited (HTCDS `vic_MethodOfRecruitment`, trimmed).
    Recruitment {
        Abduction => "abduction",
        JobOffer => "job_offer",
        IntimatePartner => "intimate_partner",
        Family => "family",
        PosingAsBenefactor => "posing_as_benefactor",
        SmugglingRansom => "smuggling_ransom",
        Other => "other",
        Unknown => "unknown",
    }
);

vocabulary!(
    /// Where it happened.
    Venue {
        Brothel => "brothel",
        BarOrClub => "bar_or_club",
        Hotel => "hotel",
        PrivateResidence => "private_residence",
        Checkpoint => "checkpoint",
        Street => "street",
        BasePerimeter => "base_perimeter",
        Other => "other",
    }
);

vocabulary!(
    /// Who the suspected perpetrators are.
    Affiliation {
        UnMilitary => "un_military",
        UnPolice => "un_police",
        UnCivilian => "un_civilian",
        Contractor => "contractor",
        LocalCriminalNetwork => "local_criminal_network",
        LocalCivilian => "local_civilian",
        Unknown => "unknown",
    }
);

vocabulary!(
    /// How the information reached the monitor.
    SourceType {
        DirectObservation => "direct_observation",
        VictimAccount => "victim_account",
        ThirdParty => "third_party",
        Media => "media",
        NgoReferral => "ngo_referral",
    }
);

/// Admiralty code source reliability: A (completely reliable) to F (cannot be judged).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
pub enum Reliability {
    A,
    B,
    C,
    D,
    E,
    F,
}

impl Reliability {
    pub const ALL: &'static [Reliability] = &[Self::A, Self::B, Self::C, Self::D, Self::E, Self::F];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::A => "A",
            Self::B => "B",
            Self::C => "C",
            Self::D => "D",
            Self::E => "E",
            Self::F => "F",
        }
    }
}

vocabulary!(
    /// How precise the coordinates are.
    LocationPrecision {
        Exact => "exact",
        Approximate => "approximate",
        Area => "area",
    }
);

vocabulary!(
    /// Where an incident stands in review.
    Status {
        Draft => "draft",
        Submitted => "submitted",
        InReview => "in_review",
        Verified => "verified",
        Unsubstantiated => "unsubstantiated",
        NeedsInfo => "needs_info",
        Referred => "referred",
        Closed => "closed",
    }
);

vocabulary!(
    /// Where the incident falls on the consent spectrum.
    ConsentAssessment {
        TraffickingIndicated => "trafficking_indicated",
        SmugglingIndicated => "smuggling_indicated",
        Undetermined => "undetermined",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    fn wire<T: Serialize>(v: T) -> String {
        serde_json::to_value(v)
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `as_str`, serde and the OpenAPI document must name every value alike.
    #[test]
    fn every_vocabulary_speaks_one_language() {
        macro_rules! check {
            ($($t:ty),+) => {$(
                for v in <$t>::ALL {
                    assert_eq!(wire(v), v.as_str());
                }
                let names: Vec<&str> = <$t>::ALL.iter().map(|v| v.as_str()).collect();
                let schema = serde_json::to_value(<$t as utoipa::PartialSchema>::schema()).unwrap();
                assert_eq!(schema["enum"], serde_json::json!(names), "{}", stringify!($t));
            )+};
        }
        check!(
            ExploitationType,
            MeansOfControl,
            Recruitment,
            Venue,
            Affiliation,
            SourceType,
            Reliability,
            LocationPrecision,
            Status,
            ConsentAssessment
        );
    }
}
