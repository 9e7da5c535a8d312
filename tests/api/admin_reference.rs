//! What admins asked for: correcting and deleting deployments, reading and
//! editing organisations. Who may call each is in the authorization matrix.

use awc::http::Method;
use basewatch::domain::Role;
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::incidents::{report, world};

crate::scenarios![
    admins_correct_and_delete_deployments,
    deployment_edits_are_checked_like_new_ones,
    admins_read_and_rename_organisations,
    an_organisation_kind_must_fit_every_account_inside,
];

async fn stats_troops(app: &TestApp, token: &str, base_name: &str) -> Value {
    let stats = app
        .get("/api/v1/stats/incidents?group_by=base,month", Some(token))
        .await
        .expect(200);
    stats["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["base_name"] == base_name)
        .unwrap_or_else(|| panic!("no cell for {base_name}: {stats}"))["troop_strength"]
        .clone()
}

fn audit_details(app: &TestApp, action: &str, entity: &str) -> Vec<Value> {
    use basewatch::db::schema::audit_log;
    let (action, entity) = (action.to_owned(), entity.to_owned());
    app.db(move |conn| {
        audit_log::table
            .filter(audit_log::action.eq(action))
            .filter(audit_log::entity_id.eq(entity))
            .select(audit_log::details)
            .load::<String>(conn)
    })
    .iter()
    .map(|d| serde_json::from_str(d).unwrap())
    .collect()
}

async fn admins_correct_and_delete_deployments(backend: Backend) {
    let w = world(backend).await;
    let (app, admin) = (&w.app, &w.admin);
    let monitor = app.seed_user(Role::Monitor);
    let mut incident = report(&w.mission);
    incident["submit"] = json!(true);
    app.post("/api/v1/incidents", Some(&monitor.token), &incident)
        .await
        .expect(201);
    let created = app
        .post(
            &format!("/api/v1/bases/{}/deployments", w.bondsteel),
            Some(&admin.token),
            &json!({"start_date": "2024-01-01", "troop_count": 2000, "contributing_country": "US"}),
        )
        .await
        .expect(201);
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/deployments/{id}");
    assert_eq!(
        stats_troops(app, &admin.token, "Camp Bondsteel").await,
        2000.0
    );

    // Everyone signed in reads it, as they read the base's list.
    assert_eq!(
        app.get(&path, Some(&monitor.token)).await.expect(200),
        created
    );

    let res = app
        .patch(
            &path,
            Some(&admin.token),
            &json!({"troop_count": 3000, "contributing_country": "gb"}),
        )
        .await;
    let updated = res.expect(200);
    assert_eq!(updated["troop_count"], 3000);
    assert_eq!(updated["contributing_country"], "GB");
    for unchanged in ["id", "base_id", "start_date", "end_date", "created_at"] {
        assert_eq!(updated[unchanged], created[unchanged], "{unchanged}");
    }
    let stored: (i32, String) = {
        use basewatch::db::schema::deployments;
        let id = id.clone();
        app.db(move |conn| {
            deployments::table
                .find(id)
                .select((deployments::troop_count, deployments::contributing_country))
                .first(conn)
        })
    };
    assert_eq!(stored, (3000, "GB".to_owned()));
    assert_eq!(
        app.get(&path, Some(&monitor.token)).await.expect(200),
        updated
    );
    // Troop strength is computed when asked: the correction shows at once.
    assert_eq!(
        stats_troops(app, &admin.token, "Camp Bondsteel").await,
        3000.0
    );
    let audited = audit_details(app, "deployment.updated", &id);
    assert_eq!(audited, [json!({"before": created, "after": updated})]);

    // An end date, then `null` makes it last again.
    let ended = app
        .patch(
            &path,
            Some(&admin.token),
            &json!({"end_date": "2024-01-31"}),
        )
        .await
        .expect(200);
    assert_eq!(ended["end_date"], "2024-01-31");
    assert_eq!(stats_troops(app, &admin.token, "Camp Bondsteel").await, 0.0);
    let reopened = app
        .patch(&path, Some(&admin.token), &json!({"end_date": null}))
        .await
        .expect(200);
    assert!(reopened["end_date"].is_null(), "{reopened}");
    assert_eq!(reopened["troop_count"], 3000);

    let deployments = app.count("deployments");
    app.request(Method::DELETE, &path, Some(&admin.token), None)
        .await
        .expect(204);
    assert_eq!(app.count("deployments"), deployments - 1);
    app.get(&path, Some(&monitor.token)).await.expect(404);
    app.request(Method::DELETE, &path, Some(&admin.token), None)
        .await
        .expect(404);
    app.patch(&path, Some(&admin.token), &json!({"troop_count": 1}))
        .await
        .expect(404);
    assert_eq!(stats_troops(app, &admin.token, "Camp Bondsteel").await, 0.0);
    assert_eq!(audit_details(app, "deployment.deleted", &id), [reopened]);
    let list = app
        .get(
            &format!("/api/v1/bases/{}/deployments", w.bondsteel),
            Some(&monitor.token),
        )
        .await
        .expect(200);
    assert_eq!(list["items"], json!([]));
}

async fn deployment_edits_are_checked_like_new_ones(backend: Backend) {
    let w = world(backend).await;
    let (app, admin) = (&w.app, &w.admin);
    let created = app
        .post(
            &format!("/api/v1/bases/{}/deployments", w.pristina),
            Some(&admin.token),
            &json!({"start_date": "2000-01-01", "end_date": "2001-01-01", "troop_count": 500, "contributing_country": "DE"}),
        )
        .await
        .expect(201);
    let path = format!("/api/v1/deployments/{}", created["id"].as_str().unwrap());
    let audit_rows = app.count("audit_log");

    for (body, field) in [
        // Checked against the stored start date.
        (json!({"end_date": "1999-12-31"}), "end_date"),
        (json!({"start_date": "2001-01-02"}), "end_date"),
        (json!({"start_date": "1900-01-01"}), "start_date"),
        (json!({"troop_count": -1}), "troop_count"),
        (json!({"troop_count": 1_000_001}), "troop_count"),
        (
            json!({"contributing_country": "Narnia"}),
            "contributing_country",
        ),
    ] {
        let problem = app
            .patch(&path, Some(&admin.token), &body)
            .await
            .expect(422);
        let fields: Vec<_> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, [field], "{body}: {problem}");
    }
    for body in [
        json!({"base_id": w.bondsteel}),
        json!({"troop_count": "many"}),
    ] {
        let res = app.patch(&path, Some(&admin.token), &body).await;
        assert!(matches!(res.status, 400 | 422), "{body}: {}", res.status);
        res.expect(res.status);
    }
    // A deployment is named by a UUID; anything else is no deployment.
    app.patch(
        "/api/v1/deployments/not-a-uuid",
        Some(&admin.token),
        &json!({"troop_count": 1}),
    )
    .await
    .expect(404);
    let unknown = format!("/api/v1/deployments/{}", uuid::Uuid::new_v4());
    app.patch(&unknown, Some(&admin.token), &json!({"troop_count": 1}))
        .await
        .expect(404);
    app.request(Method::DELETE, &unknown, Some(&admin.token), None)
        .await
        .expect(404);

    assert_eq!(
        app.get(&path, Some(&admin.token)).await.expect(200),
        created
    );
    assert_eq!(app.count("audit_log"), audit_rows);
}

async fn admins_read_and_rename_organisations(backend: Backend) {
    let w = world(backend).await;
    let (app, admin) = (&w.app, &w.admin);
    let created = app
        .post(
            "/api/v1/organisations",
            Some(&admin.token),
            &json!({"name": "Harbour Watch", "kind": "ngo"}),
        )
        .await
        .expect(201);
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/organisations/{id}");
    assert_eq!(
        app.get(&path, Some(&admin.token)).await.expect(200),
        created
    );
    app.get(
        &format!("/api/v1/organisations/{}", uuid::Uuid::new_v4()),
        Some(&admin.token),
    )
    .await
    .expect(404);
    app.get("/api/v1/organisations/nope", Some(&admin.token))
        .await
        .expect(404);

    let renamed = app
        .patch(
            &path,
            Some(&admin.token),
            &json!({"name": "Harbour Watch Kosovo"}),
        )
        .await
        .expect(200);
    assert_eq!(renamed["name"], "Harbour Watch Kosovo");
    assert_eq!(renamed["kind"], "ngo");
    assert_eq!(renamed["created_at"], created["created_at"]);
    let stored: (String, String) = {
        use basewatch::db::schema::organisations;
        let id = id.clone();
        app.db(move |conn| {
            organisations::table
                .find(id)
                .select((organisations::name, organisations::kind))
                .first(conn)
        })
    };
    assert_eq!(stored, ("Harbour Watch Kosovo".into(), "ngo".into()));
    assert_eq!(
        audit_details(app, "organisation.updated", &id),
        [json!({
            "before": {"name": "Harbour Watch", "kind": "ngo"},
            "after": {"name": "Harbour Watch Kosovo", "kind": "ngo"},
        })]
    );

    // Names stay unique regardless of case; the refusal changes nothing.
    let audit_rows = app.count("audit_log");
    let taken = app
        .get(
            &format!("/api/v1/organisations/{}", app.org_id),
            Some(&admin.token),
        )
        .await
        .expect(200)["name"]
        .as_str()
        .unwrap()
        .to_uppercase();
    app.patch(&path, Some(&admin.token), &json!({"name": taken}))
        .await
        .expect(409);
    for (body, field) in [
        (json!({"name": "  "}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
    ] {
        let problem = app
            .patch(&path, Some(&admin.token), &body)
            .await
            .expect(422);
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    for body in [
        json!({"kind": "militia"}),
        json!({"id": uuid::Uuid::new_v4()}),
    ] {
        let res = app.patch(&path, Some(&admin.token), &body).await;
        assert!(matches!(res.status, 400 | 422), "{body}: {}", res.status);
        res.expect(res.status);
    }
    assert_eq!(
        app.get(&path, Some(&admin.token)).await.expect(200),
        renamed
    );
    assert_eq!(app.count("audit_log"), audit_rows);
}

async fn an_organisation_kind_must_fit_every_account_inside(backend: Backend) {
    let w = world(backend).await;
    let (app, admin) = (&w.app, &w.admin);
    let office = |name: &'static str| {
        let token = admin.token.clone();
        async move {
            app.post(
                "/api/v1/organisations",
                Some(&token),
                &json!({"name": name, "kind": "oversight_office"}),
            )
            .await
            .expect(201)["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let kind_of = |id: String| {
        use basewatch::db::schema::organisations;
        app.db(move |conn| {
            organisations::table
                .find(id)
                .select(organisations::kind)
                .first::<String>(conn)
        })
    };

    // Monitors and partners may sit in any kind of organisation.
    let field_office = office("Field Office").await;
    app.seed_user_in(Role::Monitor, &field_office);
    app.seed_user_in(Role::Partner, &field_office);
    let moved = app
        .patch(
            &format!("/api/v1/organisations/{field_office}"),
            Some(&admin.token),
            &json!({"kind": "ngo"}),
        )
        .await
        .expect(200);
    assert_eq!(moved["kind"], "ngo");
    assert_eq!(kind_of(field_office.clone()), "ngo");

    // Admins, reviewers and analysts only in oversight offices, deactivated
    // accounts included (they may be reactivated).
    let audit_rows = app.count("audit_log");
    for (role, name, deactivated) in [
        (Role::Admin, "Office A", false),
        (Role::Reviewer, "Office R", false),
        (Role::Analyst, "Office N", true),
    ] {
        let org = office(name).await;
        let user = app.seed_user_in(role, &org);
        if deactivated {
            app.patch(
                &format!("/api/v1/users/{}", user.id),
                Some(&admin.token),
                &json!({"active": false}),
            )
            .await
            .expect(200);
        }
        let audit_rows = app.count("audit_log");
        for kind in ["ngo", "other"] {
            let problem = app
                .patch(
                    &format!("/api/v1/organisations/{org}"),
                    Some(&admin.token),
                    &json!({"kind": kind, "name": format!("{name} renamed")}),
                )
                .await
                .expect(422);
            assert_eq!(problem["errors"][0]["field"], "kind", "{problem}");
            let message = problem["errors"][0]["message"].as_str().unwrap();
            assert!(
                message.contains(&format!("{role} accounts belong only to oversight offices")),
                "{message}"
            );
        }
        assert_eq!(kind_of(org.clone()), "oversight_office");
        let stored = app
            .get(&format!("/api/v1/organisations/{org}"), Some(&admin.token))
            .await
            .expect(200);
        assert_eq!(stored["name"], name, "a refused change renames nothing");
        assert_eq!(app.count("audit_log"), audit_rows);
        // A rename alone is fine.
        app.patch(
            &format!("/api/v1/organisations/{org}"),
            Some(&admin.token),
            &json!({"name": format!("{name} renamed"), "kind": "oversight_office"}),
        )
        .await
        .expect(200);
    }
    assert!(app.count("audit_log") > audit_rows);

    // The admin's own office too.
    app.patch(
        &format!("/api/v1/organisations/{}", app.org_id),
        Some(&admin.token),
        &json!({"kind": "other"}),
    )
    .await
    .expect(422);
    assert_eq!(kind_of(app.org_id.clone()), "oversight_office");
}
