//! The integration suite: every scenario runs through HTTP against a real server,
//! once on SQLite and once on PostgreSQL when `TEST_DATABASE_URL` is set.
//!
//! Without `TEST_DATABASE_URL` the PostgreSQL runs are listed as ignored, never
//! passed in silence; under CI (`CI=true`) a missing URL fails the run.

mod helpers;

mod admin_reference;
mod analysis;
mod attachment_arrivals;
mod attachment_forms;
mod attachments;
mod audit;
mod auth;
mod batch;
mod batch_groups;
mod changes;
mod errors;
mod exports;
mod hostile_input;
mod incidents;
mod integrator;
mod matrix;
#[allow(dead_code)] // builders for the attachment scenarios
mod media;
mod metrics;
mod operations;
mod organisations;
mod red_team_attachments;
mod red_team_clients;
mod red_team_feed;
mod red_team_input;
mod red_team_partner;
mod red_team_pdf;
mod red_team_storage;
mod reference;
mod releases;
mod review;
mod sealing;
mod security;
mod service_accounts;
mod shutdown;
mod stats;
mod tokens;
mod users;
mod webhooks;

use std::future::Future;
use std::pin::Pin;

use helpers::Backend;
use libtest_mimic::{Arguments, Trial};

pub type ScenarioFuture = Pin<Box<dyn Future<Output = ()>>>;

/// A test that runs on each backend.
pub struct Scenario {
    pub name: &'static str,
    pub run: fn(Backend) -> ScenarioFuture,
}

/// A test that does not depend on the backend.
pub struct Check {
    pub name: &'static str,
    pub run: fn(),
}

/// Lists a module's scenarios: `scenarios![login_works, ...]`.
#[macro_export]
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        pub fn scenarios() -> Vec<$crate::Scenario> {
            vec![$($crate::Scenario {
                name: concat!(module_path!(), "::", stringify!($name)),
                run: |backend| Box::pin($name(backend)),
            }),*]
        }
    };
}

fn main() {
    let args = Arguments::from_args();
    let postgres = helpers::postgres_admin_url().is_some();
    if !postgres {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            eprintln!(
                "error: CI=true but TEST_DATABASE_URL is not set; the PostgreSQL suite must run in CI"
            );
            std::process::exit(1);
        }
        eprintln!("note: TEST_DATABASE_URL is not set: the PostgreSQL runs are listed as ignored");
    }

    let scenarios: Vec<Scenario> = [
        auth::scenarios(),
        tokens::scenarios(),
        users::scenarios(),
        organisations::scenarios(),
        errors::scenarios(),
        operations::scenarios(),
        metrics::scenarios(),
        reference::scenarios(),
        incidents::scenarios(),
        batch::scenarios(),
        batch_groups::scenarios(),
        review::scenarios(),
        security::scenarios(),
        sealing::scenarios(),
        matrix::scenarios(),
        audit::scenarios(),
        stats::scenarios(),
        exports::scenarios(),
        hostile_input::scenarios(),
        red_team_input::scenarios(),
        analysis::scenarios(),
        releases::scenarios(),
        red_team_clients::scenarios(),
        red_team_feed::scenarios(),
        red_team_partner::scenarios(),
        red_team_storage::scenarios(),
        shutdown::scenarios(),
        integrator::scenarios(),
        admin_reference::scenarios(),
        service_accounts::scenarios(),
        changes::scenarios(),
        attachments::scenarios(),
        attachment_arrivals::scenarios(),
        attachment_forms::scenarios(),
        red_team_attachments::scenarios(),
        red_team_pdf::scenarios(),
        webhooks::scenarios(),
    ]
    .into_iter()
    .flatten()
    .collect();

    let mut trials = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        for scenario in &scenarios {
            let run = scenario.run;
            let name = format!(
                "{}::{}",
                backend.name(),
                scenario.name.trim_start_matches("api::")
            );
            trials.push(
                Trial::test(name, move || {
                    actix_web::rt::System::new().block_on(run(backend));
                    Ok(())
                })
                .with_ignored_flag(backend == Backend::Postgres && !postgres),
            );
        }
    }
    for check in operations::checks().into_iter().chain(integrator::checks()) {
        let run = check.run;
        trials.push(Trial::test(
            check.name.trim_start_matches("api::"),
            move || {
                run();
                Ok(())
            },
        ));
    }
    libtest_mimic::run(&args, trials).exit();
}
