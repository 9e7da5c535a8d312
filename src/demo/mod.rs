//! `serve --demo`: two organisations, one account per role, the four cases of
//! the research as reference data, and synthetic incidents; created once.
//! Every name here is fictitious; the passwords are public by design.

pub mod incidents;
pub mod reference;

use diesel::connection::SimpleConnection;
use diesel::{QueryableByName, RunQueryDsl};

use crate::auth::Actor;
use crate::crypto::DataKeys;
use crate::db::{DatabaseUrl, DbConnection};
use crate::domain::{DisplayName, Email, OrganisationId, OrganisationKind, Password, Role, UserId};
use crate::domain_error::DomainError;
use crate::incidents::IncidentError;
use crate::missions::{Base, Mission};
use crate::organisations::queries as organisations;
use crate::users::{self, NewUser, queries as user_queries};

pub const OVERSIGHT_OFFICE: &str = "Demo Mission Oversight Office";
pub const NGO: &str = "Demo NGO Partner";

/// (email, name, role, organisation)
pub const ACCOUNTS: [(&str, &str, Role, &str); 7] = [
    (
        "admin@demo.basewatch.org",
        "Demo Admin",
        Role::Admin,
        OVERSIGHT_OFFICE,
    ),
    (
        "reviewer@demo.basewatch.org",
        "Demo Reviewer",
        Role::Reviewer,
        OVERSIGHT_OFFICE,
    ),
    (
        "reviewer2@demo.basewatch.org",
        "Demo Second Reviewer",
        Role::Reviewer,
        OVERSIGHT_OFFICE,
    ),
    (
        "analyst@demo.basewatch.org",
        "Demo Analyst",
        Role::Analyst,
        OVERSIGHT_OFFICE,
    ),
    (
        "monitor@demo.basewatch.org",
        "Demo Field Monitor",
        Role::Monitor,
        OVERSIGHT_OFFICE,
    ),
    (
        "monitor2@demo.basewatch.org",
        "Demo Second Field Monitor",
        Role::Monitor,
        OVERSIGHT_OFFICE,
    ),
    (
        "partner@demo.basewatch.org",
        "Demo NGO Partner",
        Role::Partner,
        NGO,
    ),
];

pub fn password_for(role: Role) -> String {
    format!("demo-password-{role}")
}

/// What a run of `seed` created.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Seeded {
    pub accounts: usize,
    pub incidents: usize,
}

/// Why the demo data could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Incident(#[from] IncidentError),
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("generated content is invalid: {0:?}")]
    Invalid(#[from] crate::validation::Invalid),
    #[error(transparent)]
    Store(crate::db::StoreError),
    #[error("{0}")]
    Failed(String),
}

crate::store_failure!(DemoError);

impl DemoError {
    fn failed(e: impl std::fmt::Display) -> Self {
        Self::Failed(e.to_string())
    }
}

/// Creates whatever of the demo data is missing, all of it or none.
pub fn seed(conn: &mut DbConnection, keys: &DataKeys) -> Result<Seeded, DemoError> {
    crate::db::in_transaction(conn, |conn| {
        let prepared = prepare(conn)?;
        let incidents = incidents::seed(conn, &prepared.missions, &prepared.reporters, keys)?;
        Ok(Seeded {
            accounts: prepared.accounts,
            incidents,
        })
    })
}

/// The accounts and reference data (created when missing), and who reports
/// synthetic incidents: the demo monitors and the partner.
pub fn prepare(conn: &mut DbConnection) -> Result<Prepared, DemoError> {
    let accounts = seed_accounts(conn)?;
    let missions = reference::seed(conn)?;
    let mut reporters = Vec::new();
    for (email, _, role, _) in ACCOUNTS {
        if matches!(role, Role::Monitor | Role::Partner) {
            let email = Email::parse(email).map_err(DemoError::failed)?;
            let user = user_queries::find_by_email(conn, &email)?
                .ok_or_else(|| DemoError::failed("demo user vanished"))?;
            reporters.push(Actor::person(
                UserId::from_db(user.id),
                role,
                OrganisationId::from_db(user.organisation_id),
            ));
        }
    }
    Ok(Prepared {
        accounts,
        missions,
        reporters,
    })
}

/// What synthetic incidents need: the reference data and the reporters.
pub struct Prepared {
    pub accounts: usize,
    pub missions: Vec<(Mission, Vec<Base>)>,
    pub reporters: Vec<Actor>,
}

/// `basewatch seed-synthetic`: `n` more synthetic incidents in transactions of
/// `batch`, for load tests and benchmarks. Returns how many were stored.
///
/// One thread generates while writers store: on PostgreSQL two writers, each on
/// its own connection (`url`), so that the database works on both cores; on
/// SQLite one, as it has a single writer anyway.
pub fn seed_synthetic(
    conn: &mut DbConnection,
    url: &DatabaseUrl,
    keys: &DataKeys,
    n: usize,
    batch: usize,
    seed: u64,
) -> Result<usize, DemoError> {
    let Prepared {
        missions,
        reporters,
        ..
    } = crate::db::in_transaction(conn, prepare)?;
    let plan = incidents::plan(n);
    let stored = plan.len();
    let mut others = Vec::new();
    if matches!(conn, DbConnection::Postgres(_)) {
        others.push(url.connect().map_err(DemoError::failed)?);
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(2 + others.len());
    let batch = batch.max(1);
    let keys = keys.clone();
    let generator = std::thread::spawn(move || {
        let mut generator = incidents::Generator::new(&missions, &reporters, keys, seed);
        for chunk in plan.chunks(batch) {
            let rows = chunk
                .iter()
                .map(|(m, month)| generator.incident(*m, *month))
                .collect();
            if tx.send(rows).is_err() {
                return;
            }
        }
    });
    let skip_fk_checks = may_skip_fk_checks(conn)?;
    let batches = std::sync::Mutex::new(rx);
    let written = std::thread::scope(|scope| {
        let writers: Vec<_> = std::iter::once(conn)
            .chain(others.iter_mut())
            .map(|conn| scope.spawn(|| write_batches(conn, &batches, skip_fk_checks)))
            .collect();
        writers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(DemoError::failed("a writer panicked")))
            })
            .collect::<Result<Vec<()>, DemoError>>()
    });
    // Dropping the receiver first ends a generator still waiting to send.
    drop(batches);
    generator
        .join()
        .map_err(|_| DemoError::failed("the generator thread panicked"))?;
    written?;
    Ok(stored)
}

type Batch = Result<Vec<incidents::Synthetic>, DemoError>;

/// Stores batches, each in a transaction of its own, until there are no more.
fn write_batches(
    conn: &mut DbConnection,
    batches: &std::sync::Mutex<std::sync::mpsc::Receiver<Batch>>,
    skip_fk_checks: bool,
) -> Result<(), DemoError> {
    loop {
        let next = batches
            .lock()
            .map_err(|_| DemoError::failed("a writer panicked"))?
            .recv();
        let Ok(rows) = next else { return Ok(()) };
        let rows = rows?;
        crate::db::in_transaction(conn, |conn| {
            if skip_fk_checks {
                conn.batch_execute("SET LOCAL session_replication_role = replica")?;
            }
            crate::incidents::queries::insert_many(conn, &rows)?;
            Ok::<_, DemoError>(audit_seeded(conn, rows.len())?)
        })?;
    }
}

/// One audit row per stored batch, in its transaction and in the chain like
/// every other (the bulk path writes incidents around the service layer, not
/// around the audit log).
pub(crate) fn audit_seeded(conn: &mut DbConnection, incidents: usize) -> diesel::QueryResult<()> {
    crate::audit::Entry::new(crate::audit::Action::SyntheticIncidentsSeeded)
        .details(serde_json::json!({ "incidents": incidents, "synthetic": true }))
        .write(conn)
}

/// Every reference a synthetic incident holds (mission, base, reporter,
/// organisation) was read from the database just before, so PostgreSQL's
/// per-row foreign-key triggers, half the cost of the load, can be skipped for
/// these transactions, as `pg_restore --disable-triggers` does. Only a superuser
/// may (`session_replication_role`); anyone else gets the checks.
fn may_skip_fk_checks(conn: &mut DbConnection) -> Result<bool, DemoError> {
    #[derive(QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    if !matches!(conn, DbConnection::Postgres(_)) {
        return Ok(false);
    }
    let superuser = diesel::sql_query("SELECT current_setting('is_superuser') AS value")
        .get_result::<Setting>(conn)?;
    Ok(superuser.value == "on")
}

fn seed_accounts(conn: &mut DbConnection) -> Result<usize, DemoError> {
    let office = organisations::find_or_create(
        conn,
        &name(OVERSIGHT_OFFICE),
        OrganisationKind::OversightOffice,
    )?;
    let ngo = organisations::find_or_create(conn, &name(NGO), OrganisationKind::Ngo)?;
    let mut created = 0;
    for (email, display_name, role, org) in ACCOUNTS {
        let email = Email::parse(email).map_err(DemoError::failed)?;
        if user_queries::find_by_email(conn, &email)?.is_some() {
            continue;
        }
        let organisation_id = if org == NGO { &ngo.id } else { &office.id };
        let user = NewUser {
            email,
            name: name(display_name),
            role,
            organisation_id: OrganisationId::from_db(organisation_id.clone()),
            password: Password::parse(password_for(role)).map_err(DemoError::failed)?,
        };
        users::create_account(conn, &user)?;
        created += 1;
    }
    Ok(created)
}

fn name(raw: &str) -> DisplayName {
    DisplayName::parse(raw).expect("demo names are valid")
}
