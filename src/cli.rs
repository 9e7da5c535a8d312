//! The command line: `serve`, `migrate`, `user create`, `audit verify`, `release build`, `openapi`.

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Environment};
use crate::db::{self, DbConnection, migrations};
use crate::domain::{DisplayName, Email, OrganisationId, OrganisationKind, Password, Role};
use crate::startup::{self, Application};
use crate::{demo, organisations, releases, telemetry, users};

#[derive(Parser)]
#[command(
    name = "basewatch",
    version,
    about = "Reports of suspected human trafficking around military and peacekeeping bases"
)]
#[command(after_help = config_help())]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations and serve the API (SIGTERM or Ctrl-C stops it gracefully).
    Serve {
        /// Seed demo organisations and one account per role (idempotent).
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Run the webhook delivery worker alone (no HTTP server) until SIGTERM or
    /// Ctrl-C; beside `serve` with BASEWATCH_WORKER=false, or on more machines.
    Worker,
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Re-seal every narrative, override reason and history comment, and key every
    /// content hash, not yet under BASEWATCH_DATA_KEY, those from before sealing
    /// included (older keys must be listed in BASEWATCH_RETIRED_DATA_KEYS). Safe
    /// while the service runs.
    RotateDataKey {
        /// Rows read and re-sealed per transaction.
        #[arg(long, default_value_t = crate::incidents::rotation::BATCH, value_parser = clap::value_parser!(i64).range(1..))]
        batch: i64,
    },
    /// Check the audit log's hash chain.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Partner releases (differentially private monthly counts).
    Release {
        #[command(subcommand)]
        command: ReleaseCommand,
    },
    /// Bulk-load synthetic incidents (and the demo reference data when missing)
    /// into the database of DATABASE_URL, for load tests and benchmarks.
    SeedSynthetic {
        #[arg(long)]
        incidents: usize,
        /// Incidents per transaction.
        #[arg(long, default_value_t = 10_000)]
        batch: usize,
        /// Seed of the generator: the same seed gives the same data (but new ids).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Walk the chain: exit 0 with a summary when intact, 1 naming the first
    /// altered, inserted or missing row. Reads only; safe while the service runs.
    Verify {
        /// A `SEQ:HASH` printed by an earlier run and kept outside the database:
        /// also proves that nothing up to it was rewritten or cut off.
        #[arg(long, value_parser = parse_anchor)]
        anchor: Option<(i64, String)>,
    },
}

fn parse_anchor(s: &str) -> Result<(i64, String), String> {
    let (seq, hash) = s
        .split_once(':')
        .ok_or("expected SEQ:HASH, e.g. 1042:9f86d0…")?;
    let seq = seq
        .parse::<i64>()
        .ok()
        .filter(|seq| *seq >= 1)
        .ok_or_else(|| format!("{seq:?} is not a sequence number (1 or more)"))?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the hash is 64 hexadecimal characters".into());
    }
    Ok((seq, hash.to_ascii_lowercase()))
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account. The password is read from standard input, never from the command line.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// admin, reviewer, analyst, monitor or partner
        #[arg(long, value_parser = |s: &str| s.parse::<Role>())]
        role: Role,
        /// The organisation's name; created when missing.
        #[arg(long)]
        org: String,
        /// The kind of organisation, when it is created: oversight_office, ngo or other
        /// [default: oversight_office for an admin, reviewer or analyst, other
        /// otherwise]. Those three roles belong only to oversight offices.
        #[arg(long, value_parser = |s: &str| s.parse::<OrganisationKind>())]
        org_kind: Option<OrganisationKind>,
    },
}

#[derive(Subcommand)]
enum ReleaseCommand {
    /// Build every month that is due and not yet released (idempotent; safe while
    /// other instances build too: one builder wins each month).
    Build {
        /// Build only this month, `YYYY-MM` (it must be due).
        #[arg(long)]
        month: Option<String>,
    },
}

fn config_help() -> String {
    let mut help = String::from("Environment variables:\n");
    for (name, default, meaning) in config::VARIABLES {
        help.push_str(&format!("  {name:<28} {meaning} [default: {default}]\n"));
    }
    help
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { demo } => serve(demo),
        Command::Migrate => migrate(),
        Command::Worker => worker(),
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    name,
                    role,
                    org,
                    org_kind,
                },
        } => create_user(&email, &name, role, &org, org_kind),
        Command::SeedSynthetic {
            incidents,
            batch,
            seed,
        } => seed_synthetic(incidents, batch, seed),
        Command::RotateDataKey { batch } => rotate_data_key(batch),
        Command::Audit {
            command: AuditCommand::Verify { anchor },
        } => verify_audit(anchor),
        Command::Release {
            command: ReleaseCommand::Build { month },
        } => build_releases(month.as_deref()),
        // A reader that stops early (`| head`) is not an error.
        Command::Openapi => match std::io::stdout().write_all(startup::openapi_json().as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.to_string()),
            _ => Ok(()),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn connect_and_migrate(url: &db::DatabaseUrl) -> Result<DbConnection, String> {
    let mut conn = url
        .connect()
        .map_err(|e| format!("cannot connect to {}: {e}", url.display()))?;
    let applied =
        migrations::run_pending(&mut conn).map_err(|e| format!("migrations failed: {e}"))?;
    for version in &applied {
        tracing::info!(version, "applied migration");
    }
    Ok(conn)
}

fn serve(with_demo: bool) -> Result<(), String> {
    let environment = match std::env::var("BASEWATCH_ENV").as_deref() {
        Ok("production") => Environment::Production,
        _ => Environment::Development,
    };
    if with_demo && environment == Environment::Production {
        return Err(refuse_demo_in_production());
    }
    telemetry::init(environment);
    let settings = config::from_env()?;
    if with_demo && settings.environment == Environment::Production {
        return Err(refuse_demo_in_production());
    }
    let mut conn = connect_and_migrate(&settings.database_url)?;
    if with_demo {
        let created =
            demo::seed(&mut conn, &settings.data_keys).map_err(|e| format!("demo data: {e}"))?;
        tracing::info!(
            accounts = created.accounts,
            incidents = created.incidents,
            "demo data ready"
        );
        // The demo months are long closed: release them now, so the demo partner
        // sees released figures from the first request.
        let built = releases::build::build_due(&mut conn, release_schedule(&settings))
            .map_err(|e| format!("demo releases: {e}"))?;
        tracing::info!(months = built.len(), "demo partner releases ready");
    }
    drop(conn);
    let pool = db::connect_pool(&settings.database_url, settings.pool_size)?;
    actix_web::rt::System::new().block_on(async move {
        let (ip, database) = (settings.bind.ip(), settings.database_url.display());
        let app = Application::build(settings, pool)
            .map_err(|e| format!("cannot start the server: {e}"))?;
        println!(
            "{}",
            banner(SocketAddr::new(ip, app.port()), &database, with_demo)
        );
        app.run_until_stopped()
            .await
            .map_err(|e| format!("server error: {e}"))?;
        tracing::info!("stopped");
        Ok(())
    })
}

fn worker() -> Result<(), String> {
    let environment = match std::env::var("BASEWATCH_ENV").as_deref() {
        Ok("production") => Environment::Production,
        _ => Environment::Development,
    };
    telemetry::init(environment);
    let settings = config::from_env()?;
    drop(connect_and_migrate(&settings.database_url)?);
    let pool = db::connect_pool(&settings.database_url, settings.pool_size)?;
    let (handle, stopper) =
        crate::webhooks::worker::spawn(pool, settings.data_keys.clone(), settings.webhooks)
            .map_err(|e| format!("cannot start the worker: {e}"))?;
    actix_web::rt::System::new().block_on(async {
        let mut terminate = actix_web::rt::signal::unix::signal(
            actix_web::rt::signal::unix::SignalKind::terminate(),
        )
        .map_err(|e| format!("cannot listen for SIGTERM: {e}"))?;
        tokio::select! {
            _ = actix_web::rt::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        Ok::<_, String>(())
    })?;
    drop(stopper);
    handle.stop_and_wait();
    tracing::info!("worker stopped");
    Ok(())
}

/// The demo accounts' passwords are published (README, banner): seeding them
/// into a production database would open it to anyone who reads the README.
/// (`seed-synthetic`, which seeds them too, is refused the same way.)
fn refuse_demo_in_production() -> String {
    "serve --demo seeds accounts whose passwords are published; it is refused with \
     BASEWATCH_ENV=production (run `serve` without --demo, and create accounts with \
     `basewatch user create`)"
        .into()
}

fn banner(address: SocketAddr, database: &str, with_demo: bool) -> String {
    let base = format!("http://{address}");
    let mut text = format!(
        "Basewatch is listening on {base} ({database})\n  API:      {base}/api/v1\n  Docs:     {base}/docs/\n  OpenAPI:  {base}/api/v1/openapi.json\n  Health:   {base}/health, {base}/ready\n"
    );
    if with_demo {
        text.push_str("Demo accounts (password demo-password-<role>):\n");
        for (email, _, role, org) in demo::ACCOUNTS {
            text.push_str(&format!(
                "  {email:<30} {:<24} {org}\n",
                demo::password_for(role)
            ));
        }
        text.push_str(&format!(
            "Try: curl -s {base}/api/v1/auth/login -H 'content-type: application/json' \\\n       -d '{{\"email\":\"admin@demo.basewatch.org\",\"password\":\"demo-password-admin\"}}'\n"
        ));
    }
    text
}

fn seed_synthetic(n: usize, batch: usize, seed: u64) -> Result<(), String> {
    telemetry::init(Environment::Development);
    let settings = config::from_env()?;
    if settings.environment == Environment::Production {
        // It seeds the demo accounts when missing, whose passwords are published.
        return Err(
            "seed-synthetic loads synthetic incidents and the demo accounts, whose \
                    passwords are published; it is refused with BASEWATCH_ENV=production"
                .into(),
        );
    }
    let url = settings.database_url;
    let mut conn = connect_and_migrate(&url)?;
    let started = std::time::Instant::now();
    let stored = demo::seed_synthetic(&mut conn, &url, &settings.data_keys, n, batch, seed)
        .map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "stored {stored} synthetic incidents in {seconds:.1} s ({:.0} per second) into {}",
        stored as f64 / seconds.max(1e-9),
        url.display()
    );
    Ok(())
}

fn migrate() -> Result<(), String> {
    telemetry::init(Environment::Development);
    let url = config::database_url_from_env()?;
    let mut conn = url
        .connect()
        .map_err(|e| format!("cannot connect to {}: {e}", url.display()))?;
    let applied =
        migrations::run_pending(&mut conn).map_err(|e| format!("migrations failed: {e}"))?;
    if applied.is_empty() {
        println!("{}: up to date", url.display());
    } else {
        println!("{}: applied {}", url.display(), applied.join(", "));
    }
    Ok(())
}

fn create_user(
    email: &str,
    name: &str,
    role: Role,
    org: &str,
    org_kind: Option<OrganisationKind>,
) -> Result<(), String> {
    let email = Email::parse(email).map_err(|e| format!("--email {e}"))?;
    let name = DisplayName::parse(name).map_err(|e| format!("--name {e}"))?;
    let org_name = DisplayName::parse(org).map_err(|e| format!("--org {e}"))?;
    let org_kind = org_kind.unwrap_or(if role.is_oversight_only() {
        OrganisationKind::OversightOffice
    } else {
        OrganisationKind::Other
    });
    if let Some(why) = users::misplaced(role, org_kind) {
        return Err(format!("--role {role}: {why}"));
    }
    let password = Password::parse_strong(read_password(&email)?, &[email.as_str(), name.as_str()])
        .map_err(|e| format!("the password {e}"))?;

    let url = config::database_url_from_env()?;
    let mut conn = connect_and_migrate(&url)?;
    let organisation = organisations::queries::find_or_create(&mut conn, &org_name, org_kind)
        .map_err(|e| e.to_string())?;
    let user = users::NewUser {
        email,
        name,
        role,
        organisation_id: OrganisationId::from_db(organisation.id.clone()),
        password,
    };
    // Audited like an admin's creation through the API, with no actor: an
    // account made from the server's shell must leave a trace in the log too.
    let created = crate::db::in_transaction(&mut conn, |conn| {
        let id = users::create_account(conn, &user)?;
        crate::audit::Entry::new(crate::audit::Action::UserCreated)
            .on(crate::audit::Entity::User, id.as_str())
            .details(serde_json::json!({
                "email": user.email.as_str(),
                "role": user.role,
                "organisation_id": organisation.id,
                "via": "basewatch user create",
            }))
            .write(conn)?;
        Ok::<_, crate::domain_error::DomainError>(id)
    });
    let id = created.map_err(|e| match e {
        crate::domain_error::DomainError::Invalid(crate::error::Invalid(errors)) => errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    })?;
    println!(
        "created {role} {} ({id}) in {}",
        user.email.as_str(),
        organisation.name
    );
    Ok(())
}

/// One line from standard input, so the password never shows in `ps` or shell history.
fn read_password(email: &Email) -> Result<String, String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!(
            "Password for {} (input is visible; pipe it to hide it): ",
            email.as_str()
        );
        std::io::stderr().flush().ok();
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err(
            "no password on standard input (e.g. `echo \"$PASSWORD\" | basewatch user create …`)"
                .into(),
        );
    }
    Ok(password)
}

fn rotate_data_key(batch: i64) -> Result<(), String> {
    telemetry::init(Environment::Development);
    let settings = config::from_env()?;
    let mut conn = connect_and_migrate(&settings.database_url)?;
    let started = std::time::Instant::now();
    let report = crate::incidents::rotation::reseal_all(&mut conn, &settings.data_keys, batch)
        .map_err(|e| e.to_string())?;
    // The WAL file still holds page images from before the rotation (old sealed
    // text) until it is overwritten: copy it back and empty it. A reader of a
    // running server may keep it from emptying; the next checkpoints overwrite it.
    if let DbConnection::Sqlite(_) = conn {
        use diesel::connection::SimpleConnection;
        conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE)")
            .map_err(|e| e.to_string())?;
    }
    println!(
        "re-sealed {} narratives, {} override reasons and {} history comments, and keyed {} content hashes, \
         and re-sealed {} attachments, \
         under data key {} in {:.1} s ({} changed meanwhile and were re-read); \
         nothing is left under another key or in plaintext, so retired keys can be removed",
        report.narratives,
        report.override_reasons,
        report.comments,
        report.content_hashes,
        report.attachments,
        settings.data_keys.current_id(),
        started.elapsed().as_secs_f64(),
        report.retried,
    );
    Ok(())
}

fn verify_audit(anchor: Option<(i64, String)>) -> Result<(), String> {
    use diesel::connection::SimpleConnection;
    let url = config::database_url_from_env()?;
    // It reads only: a mistyped path must not leave an empty database behind.
    if let db::DatabaseUrl::Sqlite(path) = &url
        && !path.exists()
    {
        return Err(format!("no SQLite database at {}", path.display()));
    }
    let mut conn = url
        .connect()
        .map_err(|e| format!("cannot connect to {}: {e}", url.display()))?;
    // One snapshot: rows written meanwhile are not half seen.
    let begin = match conn {
        DbConnection::Postgres(_) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        DbConnection::Sqlite(_) => "BEGIN",
    };
    conn.batch_execute(begin).map_err(|e| e.to_string())?;
    let verified = crate::audit::verify::verify(
        &mut conn,
        anchor.as_ref().map(|(seq, hash)| (*seq, hash.as_str())),
    )
    .and_then(|v| Ok((v, crate::audit::refusals::pending(&mut conn)?)));
    let _ = conn.batch_execute("ROLLBACK");
    let (verdict, pending) = verified.map_err(|e| format!("cannot read the audit log: {e}"))?;
    let summary =
        verdict.map_err(|finding| format!("the audit log was tampered with: {finding}"))?;
    println!(
        "audit log intact: {} chained rows, {} unchained rows from before the chain, \
         {pending} refusal tallies not yet sealed",
        summary.chained, summary.unchained
    );
    if let Some((seq, hash)) = summary.head {
        println!(
            "head: {seq}:{hash}\nkeep it outside the database; `basewatch audit verify --anchor {seq}:{hash}` \
             later proves that nothing up to it was rewritten or cut off"
        );
    }
    if let Some((seq, _)) = anchor {
        println!("anchor {seq} matches");
    }
    Ok(())
}

fn release_schedule(settings: &config::Settings) -> releases::build::Schedule {
    releases::build::Schedule {
        epsilon: settings.partner_epsilon,
        lag_days: settings.release_lag_days,
        today: chrono::Utc::now().date_naive(),
    }
}

fn build_releases(month: Option<&str>) -> Result<(), String> {
    telemetry::init(Environment::Development);
    let settings = config::from_env()?;
    let mut conn = connect_and_migrate(&settings.database_url)?;
    let schedule = release_schedule(&settings);
    let started = std::time::Instant::now();
    let built = match month {
        Some(raw) => {
            let month = releases::Month::parse(raw)
                .ok_or_else(|| format!("--month {raw:?} is not a month like 2024-06"))?;
            releases::build::build_month(&mut conn, month, schedule)
                .map_err(|e| format!("--month {e}"))?
                .into_iter()
                .collect::<Vec<_>>()
        }
        None => releases::build::build_due(&mut conn, schedule).map_err(|e| e.to_string())?,
    };
    let cells: usize = built.iter().map(|b| b.cells).sum();
    match (built.first(), built.last()) {
        (Some(first), Some(last)) => println!(
            "built {} release(s), {} to {}, {cells} cells, epsilon {} per month, in {:.2} s",
            built.len(),
            first.month,
            last.month,
            last.epsilon,
            started.elapsed().as_secs_f64()
        ),
        _ => println!(
            "nothing to build: every due month is released (last due: {})",
            releases::last_due(schedule.today, schedule.lag_days)
        ),
    }
    Ok(())
}
