//! A hostile NGO partner, replayed: what the red team of issue 10 tried
//! beyond section 1, each through the HTTP API.

use basewatch::domain::Role;
use serde_json::Value;

use crate::helpers::Backend;
use crate::releases::build_on;
use crate::stats::fixture;

crate::scenarios![the_list_of_releases_does_not_time_their_builds];

/// Months built one after another in one run: the time each was built would
/// show how long the one before took, and that grows with its exact number of
/// incidents. The list says the day only.
async fn the_list_of_releases_does_not_time_their_builds(backend: Backend) {
    let (w, analyst) = fixture(backend).await;
    let day = || {
        format!(
            "{}T00:00:00",
            chrono::Utc::now().date_naive().format("%Y-%m-%d")
        )
    };
    let before = day();
    let built = build_on(&w.app, "2024-03-15");
    let after = day();
    assert_eq!(built.len(), 321);
    let partner = w.app.seed_user(Role::Partner);
    for user in [&partner, &analyst, &w.admin] {
        let list: Value = w
            .app
            .get("/api/v1/releases", Some(&user.token))
            .await
            .expect(200);
        let items = list["items"].as_array().unwrap();
        assert_eq!(items.len(), 321);
        for item in items {
            let built_at = item["built_at"].as_str().unwrap();
            // Built just now: the day, midnight UTC (a run across midnight gives two days).
            assert!(built_at == before || built_at == after, "{built_at}");
        }
    }
}
