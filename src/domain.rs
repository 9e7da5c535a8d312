//! Domain types that parse their input: once built, they are valid.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a user may do is decided by their one role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Reviewer,
    Analyst,
    Monitor,
    Partner,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Reviewer,
        Role::Analyst,
        Role::Monitor,
        Role::Partner,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Reviewer => "reviewer",
            Role::Analyst => "analyst",
            Role::Monitor => "monitor",
            Role::Partner => "partner",
        }
    }

    /// Roles that see every organisation's incidents or accounts exactly, and so
    /// belong only to oversight offices (`users::check_placement`).
    pub fn is_oversight_only(self) -> bool {
        matches!(self, Role::Admin | Role::Reviewer | Role::Analyst)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown role {s:?}: one of admin, reviewer, analyst, monitor, partner")
            })
    }
}

/// What kind of body an organisation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrganisationKind {
    /// A mission's oversight office (conduct and discipline, human rights, OIOS…).
    OversightOffice,
    /// A non-governmental partner organisation.
    Ngo,
    Other,
}

impl OrganisationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OversightOffice => "oversight_office",
            Self::Ngo => "ngo",
            Self::Other => "other",
        }
    }
}

impl FromStr for OrganisationKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::OversightOffice, Self::Ngo, Self::Other]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown organisation kind {s:?}"))
    }
}

/// An email address, trimmed and lower-cased: addresses are unique regardless of case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= 254
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            })
            && !email.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid {
            Ok(Self(email))
        } else {
            Err("must be a valid email address".into())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: long enough to resist guessing, short enough that hashing it
/// cannot be used to exhaust the server.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 12;
    pub const MAX_CHARS: usize = 1024;

    pub fn parse(raw: String) -> Result<Self, String> {
        // The API refuses a NUL in any JSON string, so a password holding one
        // (set with `basewatch user create`) could never be typed at sign-in.
        if raw.contains('\0') {
            return Err("must not contain a NUL character (U+0000)".into());
        }
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(format!("must be at least {} characters", Self::MIN_CHARS));
        }
        if chars > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        Ok(Self(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// zxcvbn's guess count must reach 10^8 (score 3 of 4): common passwords,
    /// keyboard walks, repeats, dates, and the account's own email or name refused
    /// (ASVS V2.1.7). The refusal carries zxcvbn's advice.
    pub const MIN_SCORE: u8 = 3;
    /// zxcvbn's time grows faster than the length: the first 100 characters are
    /// judged (a longer password whose start is weak is refused, not slow).
    const JUDGED_CHARS: usize = 100;

    /// Parses a password someone chose, refusing guessable ones; `user_inputs`
    /// are the account's own words (email, name) that a guesser would try first.
    pub fn parse_strong(raw: String, user_inputs: &[&str]) -> Result<Self, String> {
        let password = Self::parse(raw)?;
        password.check_strength(user_inputs)?;
        Ok(password)
    }

    pub fn check_strength(&self, user_inputs: &[&str]) -> Result<(), String> {
        let judged: String = self.0.chars().take(Self::JUDGED_CHARS).collect();
        let mut inputs: Vec<String> = vec!["basewatch".into()];
        for input in user_inputs {
            inputs.push(input.to_string());
            // What a guesser makes of an email or a name: its parts, and its
            // letters run together (`ana.field@x.org` → `ana`, `field`, `anafield`).
            let local = input.split('@').next().unwrap_or_default();
            inputs.push(local.chars().filter(|c| c.is_alphanumeric()).collect());
            inputs.extend(
                input
                    .split(['@', '.', '-', '_', '+', ' '])
                    .filter(|p| p.chars().count() >= 3)
                    .map(str::to_owned),
            );
        }
        // The demo accounts' passwords are published in the README, so anyone
        // guessing at a Basewatch server tries them. Last: zxcvbn ranks its user
        // inputs by position, and the account's own words come first.
        inputs.extend(Role::ALL.into_iter().map(crate::demo::password_for));
        // The same words with other separators or none (`demo password admin`,
        // `demopasswordadmin`): zxcvbn matches user inputs only as written, so
        // the password is also judged with everything but letters and digits
        // left out, against the inputs squashed alike; the weaker answer counts.
        let squash = |s: &str| -> String {
            s.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect()
        };
        let squashed_inputs: Vec<String> = inputs.iter().map(|i| squash(i)).collect();
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let mut estimate = zxcvbn::zxcvbn(&judged, &inputs);
        let squashed = squash(&judged);
        if !squashed.is_empty() {
            let squashed_inputs: Vec<&str> = squashed_inputs
                .iter()
                .map(String::as_str)
                .filter(|i| !i.is_empty())
                .collect();
            let other = zxcvbn::zxcvbn(&squashed, &squashed_inputs);
            if other.score() < estimate.score() {
                estimate = other;
            }
        }
        let score = u8::from(estimate.score());
        if score >= Self::MIN_SCORE {
            return Ok(());
        }
        let mut message = format!(
            "is too easy to guess (strength {score} of 4, at least {} needed)",
            Self::MIN_SCORE
        );
        if let Some(feedback) = estimate.feedback() {
            let mut advice: Vec<String> = Vec::new();
            if let Some(warning) = feedback.warning() {
                advice.push(warning.to_string());
            }
            advice.extend(feedback.suggestions().iter().map(|s| s.to_string()));
            if !advice.is_empty() {
                message.push_str(": ");
                message.push_str(&advice.join(" "));
            }
        }
        if !message.ends_with('.') {
            message.push('.');
        }
        Err(message)
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A person's or organisation's display name: trimmed, 1 to 200 characters, no control
/// characters and no bidirectional embeddings, overrides or isolates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        match name.chars().count() {
            0 => Err("must not be empty".into()),
            n if n > 200 => Err("must be at most 200 characters".into()),
            // Checked before trimming too: trimming would drop a trailing NEL
            // (U+0085, a control character), which the document's pattern refuses.
            _ if raw.chars().any(char::is_control) => {
                Err("must not contain control characters".into())
            }
            // The marks U+200E/U+200F stay allowed in display names.
            _ if raw.chars().any(reorders_text) => {
                Err("must not contain bidirectional embedding, override or isolate characters (U+202A to U+202E, U+2066 to U+2069)".into())
            }
            _ => Ok(Self(name.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// The characters names refuse, as regular-expression class ranges (the BMP
// escapes that ECMA-262, Python and regex-lite read alike), beside the
// functions that refuse them.

/// Control characters (`char::is_control`, Unicode category Cc).
macro_rules! control_ranges {
    () => {
        r"\u0000-\u001F\u007F-\u009F"
    };
}

/// Bidirectional embeddings, overrides and isolates ([`reorders_text`]).
macro_rules! reordering_ranges {
    () => {
        r"\u202A-\u202E\u2066-\u2069"
    };
}

/// Every character [`unseen`] refuses: control characters, the format
/// characters of the BMP (Cf: bidirectional controls and marks, zero-width
/// characters, the byte order mark, soft hyphen...), line and paragraph
/// separators (U+2028, U+2029).
macro_rules! unseen_ranges {
    () => {
        concat!(
            control_ranges!(),
            r"\u00AD\u0600-\u0605\u061C\u06DD\u070F\u0890\u0891\u08E2\u180E",
            r"\u200B-\u200F\u2028-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB"
        )
    };
}

/// Embeddings, overrides and isolates reorder the text shown after them
/// (`\u{202E}` makes a name read backwards in a list, an export or the audit log).
pub fn reorders_text(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that are not seen where they stand but change what is: control
/// and format characters (Unicode Cc, and Cf of the Basic Multilingual Plane:
/// bidirectional controls and marks, zero-width spaces and joiners, the byte
/// order mark, soft hyphen), line and paragraph separators. A file name
/// holding one shows as another (`invoice\u{202E}gnp.exe`). Format characters
/// beyond the BMP (tags, musical and hieroglyph controls) are left alone: no
/// pattern escape reads them alike in every regular-expression dialect.
pub fn unseen(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{0600}'..='\u{0605}'
                | '\u{061C}'
                | '\u{06DD}'
                | '\u{070F}'
                | '\u{0890}'..='\u{0891}'
                | '\u{08E2}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}

/// The document's grammar of a display name, as `DisplayName::parse` accepts it
/// (after trimming): at least one character that is not a space, no control
/// characters, no bidirectional embeddings, overrides or isolates.
pub const DISPLAY_NAME_PATTERN: &str = concat!(
    "^[^",
    control_ranges!(),
    reordering_ranges!(),
    r"]*[^\s",
    control_ranges!(),
    reordering_ranges!(),
    "][^",
    control_ranges!(),
    reordering_ranges!(),
    "]*$"
);

/// The document's grammar of a text holding no [`unseen`] character (an
/// attachment's file name).
pub const NO_UNSEEN_PATTERN: &str = concat!("^[^", unseen_ranges!(), "]*$");

/// One schema for every display name (people, organisations, missions, bases).
impl utoipa::PartialSchema for DisplayName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "A display name: 1 to 200 characters once trimmed, no control characters, no \
                 bidirectional embedding, override or isolate characters (U+202A to U+202E, \
                 U+2066 to U+2069).",
            ))
            .min_length(Some(1))
            .max_length(Some(200))
            .pattern(Some(DISPLAY_NAME_PATTERN))
            .examples(["Mission Oversight Office"])
            .into()
    }
}

impl utoipa::ToSchema for DisplayName {}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Parses an id from a URL or body; anything but a UUID names no record.
            pub fn parse(raw: &str) -> Result<Self, crate::domain_error::DomainError> {
                uuid::Uuid::parse_str(raw)
                    .map(|u| Self(u.to_string()))
                    .map_err(|_| crate::domain_error::DomainError::not_found($what))
            }

            pub fn from_db(raw: String) -> Self {
                Self(raw)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// Any other record's id from a URL: anything but a UUID names no record (404).
pub fn parse_id(raw: &str, what: &str) -> Result<String, crate::domain_error::DomainError> {
    uuid::Uuid::parse_str(raw)
        .map(|u| u.to_string())
        .map_err(|_| crate::domain_error::DomainError::not_found(what))
}

uuid_id!(
    /// The id of a user.
    UserId,
    "user"
);
uuid_id!(
    /// The id of an organisation.
    OrganisationId,
    "organisation"
);

/// The dates Basewatch records: from 1945 (the United Nations) to 2100. Outside
/// them a date is a typing error, and it would stretch every monthly series.
pub const EARLIEST_DATE: chrono::NaiveDate = chrono::NaiveDate::from_ymd_opt(1945, 1, 1).unwrap();
pub const LATEST_DATE: chrono::NaiveDate = chrono::NaiveDate::from_ymd_opt(2100, 12, 31).unwrap();

pub fn check_date(date: chrono::NaiveDate) -> Result<chrono::NaiveDate, String> {
    if (EARLIEST_DATE..=LATEST_DATE).contains(&date) {
        Ok(date)
    } else {
        Err(format!("must be between {EARLIEST_DATE} and {LATEST_DATE}"))
    }
}

/// A country, as an ISO 3166-1 alpha-2 code (upper case).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountryCode(String);

impl CountryCode {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let code = raw.trim().to_ascii_uppercase();
        if code.len() == 2 && COUNTRY_CODES.split(' ').any(|c| c == code) {
            Ok(Self(code))
        } else {
            Err(format!("{raw:?} is not an ISO 3166-1 alpha-2 country code"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl utoipa::PartialSchema for CountryCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "An ISO 3166-1 alpha-2 country code, or XK for Kosovo (lower case is accepted too).",
            ))
            .enum_values(Some(COUNTRY_CODES.split(' ')))
            .examples(["NP"])
            .into()
    }
}

impl utoipa::ToSchema for CountryCode {}

/// ISO 3166-1 alpha-2 codes, plus XK (Kosovo), the user-assigned code the UN system,
/// the EU and most data sets use.
const COUNTRY_CODES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ana@Example.ORG ").unwrap().as_str(),
            "ana@example.org"
        );
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.org",
            "ana@example",
            "a b@example.org",
            "ana@.org",
            "a@b@c.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn passwords_have_bounds_and_never_print() {
        assert!(Password::parse("short".into()).is_err());
        assert!(Password::parse("x".repeat(1025)).is_err());
        let p = Password::parse("long enough password".into()).unwrap();
        assert_eq!(format!("{p:?}"), "Password(***)");
    }

    #[test]
    fn guessable_passwords_are_refused_with_advice() {
        for weak in [
            "password1234",
            "qwertyuiop123",
            "aaaaaaaaaaaaaaaa",
            "123456789012",
            "ana.lopez@example.org",
            "Ana Lopez 2024",
            "analopez1234",
            "AnaLopez2024!",
        ] {
            let err = Password::parse_strong(weak.into(), &["ana.lopez@example.org", "Ana Lopez"])
                .err()
                .unwrap_or_else(|| panic!("{weak} was accepted"));
            assert!(
                err.starts_with("is too easy to guess (strength "),
                "{weak}: {err}"
            );
            assert!(err.ends_with('.'), "{err}");
        }
        for published in [
            "demo-password-admin",
            "demo-password-partner",
            "demo password admin",
            "demo_password_admin",
            "demopasswordadmin",
            "Demo.Password.Reviewer",
            "demo password monitor!",
        ] {
            assert!(
                Password::parse_strong(published.into(), &[]).is_err(),
                "{published} is printed in the README"
            );
        }
        let err = Password::parse_strong("password1234".into(), &[]).unwrap_err();
        assert!(err.contains("common password"), "{err}");
        for strong in [
            "correct horse battery staple",
            "a brand new passphrase",
            "Tq8#vL2!pZ9@",
            &format!("{}x", "Tq8#vL2!pZ9@ and a long tail ".repeat(30)),
        ] {
            assert!(
                Password::parse_strong(strong.into(), &["ana@example.org"]).is_ok(),
                "{strong}"
            );
        }
        // The length rule still comes first.
        assert!(
            Password::parse_strong("Tq8#vL2!".into(), &[])
                .unwrap_err()
                .contains("at least 12")
        );
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ana  ").unwrap().as_str(), "Ana");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"x".repeat(201)).is_err());
        assert!(DisplayName::parse("a\u{0}b").is_err());
    }

    /// The document's pattern says what `DisplayName::parse` accepts (lengths
    /// apart, which the schema states as minLength and maxLength). regex-lite's
    /// `\s` is ASCII only, so names of Unicode spaces alone are left out here.
    #[test]
    fn the_display_name_pattern_is_what_the_server_accepts() {
        let pattern = regex_lite::Regex::new(DISPLAY_NAME_PATTERN).unwrap();
        let names = [
            "Ana",
            "  Ana  ",
            "Ana\u{200E}",
            "O\u{2019}Brien",
            "\u{202E}evil",
            "a\u{2066}b",
            "a\u{2069}",
            "a\u{0}b",
            "a\tb",
            "a\nb",
            "a\u{7F}",
            "a\u{85}",
            "   ",
            "",
            "\u{3000}x",
            "\u{200F}",
            "ناصر",
            "李",
        ];
        for name in names {
            assert_eq!(
                pattern.is_match(name),
                DisplayName::parse(name).is_ok(),
                "{name:?}"
            );
        }
    }

    /// The pattern refuses exactly what `unseen` does, character by character
    /// over the BMP (where the pattern's escapes reach).
    #[test]
    fn the_unseen_pattern_is_the_unseen_rule() {
        let pattern = regex_lite::Regex::new(NO_UNSEEN_PATTERN).unwrap();
        for c in (0..=0xFFFF).filter_map(char::from_u32) {
            let text = format!("a{c}b");
            assert_eq!(pattern.is_match(&text), !unseen(c), "U+{:04X}", c as u32);
        }
        for c in ['\u{202A}', '\u{202E}', '\u{2066}', '\u{2069}'] {
            assert!(reorders_text(c) && unseen(c));
        }
        assert!(!reorders_text('\u{200E}') && unseen('\u{200E}'));
        assert!(pattern.is_match("") && pattern.is_match("تقرير.png"));
    }

    #[test]
    fn roles_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn country_codes_are_iso_alpha_2() {
        assert_eq!(CountryCode::parse("np").unwrap().as_str(), "NP");
        assert_eq!(CountryCode::parse("XK").unwrap().as_str(), "XK");
        for bad in ["", "N", "NPL", "ZZ", "12"] {
            assert!(CountryCode::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_must_be_uuids() {
        assert!(UserId::parse("3f1c6a9e-6a1b-4c55-9e43-1b2f1c0e9a11").is_ok());
        assert!(UserId::parse("1 OR 1=1").is_err());
    }
}
