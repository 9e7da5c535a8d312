//! The authorization matrix: every operation of the OpenAPI document, for every
//! kind of caller, on the caller's own object, a colleague's and another
//! organisation's, answers the status `TABLE` gives. A refused cell leaves the
//! database as it was; an operation the table does not list fails the walk.

use std::collections::BTreeSet;

use awc::http::Method;
use basewatch::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, Response, TestApp, TestUser};
use crate::incidents::{report, world};

crate::scenarios![every_route_for_every_caller_and_owner];

/// Whose object a cell is called on.
#[derive(Clone, Copy, Debug)]
enum Owner {
    /// The caller's own (for an anonymous caller, a monitor's).
    Own,
    /// A monitor's, in the caller's organisation.
    Colleague,
    /// A monitor's, in another organisation.
    OtherOrg,
}

/// What `{id}` in the path names.
#[derive(Clone, Copy, Debug)]
enum Object {
    /// The route names no object.
    NoId,
    /// A fresh incident in a state (`draft` or `submitted`); `{attachment_id}` a fresh id.
    Incident(Owner, &'static str),
    /// A fresh incident in a state, with an attachment its reporter uploaded (`{attachment_id}`).
    Attachment(Owner, &'static str),
    /// A user account.
    Account(Owner),
    /// A monitor's account, and a change that makes it an admin.
    Promote(Owner),
    /// An admin of the caller's oversight office, and a move to an NGO.
    MoveAdminToNgo,
    /// A new account: an admin of an NGO organisation.
    NgoAdmin,
    /// Reference data belongs to nobody.
    Mission,
    Base,
    /// A fresh deployment at the base, made for the cell.
    Deployment,
    /// A fresh NGO organisation, made for the cell.
    Organisation,
    /// A fresh service account.
    ServiceAccount,
    /// A new service account: an admin one, which no organisation may have.
    ServiceAdmin,
    /// A fresh service account and its secret (`{secret_id}`).
    Secret,
    /// A fresh webhook subscription: the caller's own (a service account
    /// creates it with its token), or (`Colleague`) an admin's.
    Webhook(Owner),
}

use Object::*;
use Owner::*;

/// Not applicable: an analyst cannot own an incident (analysts may not report).
const NA: u16 = 0;

/// The table's columns, in order.
const CALLERS: [Option<Role>; 6] = [
    None,
    Some(Role::Monitor),
    Some(Role::Partner),
    Some(Role::Reviewer),
    Some(Role::Analyst),
    Some(Role::Admin),
];

#[rustfmt::skip]
const TABLE: &[(&str, Object, [u16; 6])] = &[
    // route                                           object                            anon mon  partn rev  anal admin
    ("GET /health",                                    NoId,                            [200, 200, 200, 200, 200, 200]),
    ("GET /ready",                                     NoId,                            [200, 200, 200, 200, 200, 200]),
    ("GET /metrics",                                   NoId,                            [200, 200, 200, 200, 200, 200]),
    ("GET /api/v1/openapi.json",                       NoId,                            [200, 200, 200, 200, 200, 200]),
    ("GET /",                                          NoId,                            [200, 200, 200, 200, 200, 200]),
    ("GET /api/v1",                                    NoId,                            [200, 200, 200, 200, 200, 200]),
    ("POST /api/v1/auth/login",                        NoId,                            [200, 200, 200, 200, 200, 200]),
    ("POST /api/v1/auth/refresh",                      NoId,                            [200, 200, 200, 200, 200, 200]),
    ("POST /api/v1/auth/logout",                       NoId,                            [204, 204, 204, 204, 204, 204]),
    ("GET /api/v1/me",                                 NoId,                            [401, 200, 200, 200, 200, 200]),
    // Each cell changes the password of a fresh account of the caller's role.
    ("POST /api/v1/me/password",                       NoId,                            [401, 200, 200, 200, 200, 200]),

    ("GET /api/v1/organisations",                      NoId,                            [401, 403, 403, 403, 403, 200]),
    ("POST /api/v1/organisations",                     NoId,                            [401, 403, 403, 403, 403, 201]),
    ("GET /api/v1/organisations/{id}",                 Organisation,                    [401, 403, 403, 403, 403, 200]),
    ("PATCH /api/v1/organisations/{id}",               Organisation,                    [401, 403, 403, 403, 403, 200]),
    ("GET /api/v1/users",                              NoId,                            [401, 403, 403, 403, 403, 200]),
    ("POST /api/v1/users",                             NoId,                            [401, 403, 403, 403, 403, 201]),
    // Admin accounts belong only to oversight offices.
    ("POST /api/v1/users",                             NgoAdmin,                        [401, 403, 403, 403, 403, 422]),
    ("GET /api/v1/users/{id}",                         Account(Own),                    [401, 403, 403, 403, 403, 200]),
    ("GET /api/v1/users/{id}",                         Account(Colleague),              [401, 403, 403, 403, 403, 200]),
    ("GET /api/v1/users/{id}",                         Account(OtherOrg),               [401, 403, 403, 403, 403, 200]),
    ("PATCH /api/v1/users/{id}",                       Account(Own),                    [401, 403, 403, 403, 403, 200]),
    ("PATCH /api/v1/users/{id}",                       Account(Colleague),              [401, 403, 403, 403, 403, 200]),
    ("PATCH /api/v1/users/{id}",                       Account(OtherOrg),               [401, 403, 403, 403, 403, 200]),
    ("PATCH /api/v1/users/{id}",                       Promote(Colleague),              [401, 403, 403, 403, 403, 200]),
    ("PATCH /api/v1/users/{id}",                       Promote(OtherOrg),               [401, 403, 403, 403, 403, 422]),
    ("PATCH /api/v1/users/{id}",                       MoveAdminToNgo,                  [401, 403, 403, 403, 403, 422]),
    ("GET /api/v1/audit",                              NoId,                            [401, 403, 403, 403, 403, 200]),

    ("GET /api/v1/missions",                           NoId,                            [401, 200, 200, 200, 200, 200]),
    ("POST /api/v1/missions",                          NoId,                            [401, 403, 403, 403, 403, 201]),
    ("GET /api/v1/missions/{id}",                      Mission,                         [401, 200, 200, 200, 200, 200]),
    ("PATCH /api/v1/missions/{id}",                    Mission,                         [401, 403, 403, 403, 403, 200]),
    ("GET /api/v1/missions/{id}/bases",                Mission,                         [401, 200, 200, 200, 200, 200]),
    ("POST /api/v1/missions/{id}/bases",               Mission,                         [401, 403, 403, 403, 403, 201]),
    ("GET /api/v1/bases/{id}",                         Base,                            [401, 200, 200, 200, 200, 200]),
    ("PATCH /api/v1/bases/{id}",                       Base,                            [401, 403, 403, 403, 403, 200]),
    ("GET /api/v1/bases/{id}/deployments",             Base,                            [401, 200, 200, 200, 200, 200]),
    ("POST /api/v1/bases/{id}/deployments",            Base,                            [401, 403, 403, 403, 403, 201]),
    ("GET /api/v1/deployments/{id}",                   Deployment,                      [401, 200, 200, 200, 200, 200]),
    ("PATCH /api/v1/deployments/{id}",                 Deployment,                      [401, 403, 403, 403, 403, 200]),
    ("DELETE /api/v1/deployments/{id}",                Deployment,                      [401, 403, 403, 403, 403, 204]),

    ("GET /api/v1/incidents",                          NoId,                            [401, 200, 200, 200, 200, 200]),
    ("POST /api/v1/incidents",                         NoId,                            [401, 201, 201, 201, 403, 201]),
    ("POST /api/v1/incidents/batch",                   NoId,                            [401, 200, 200, 200, 403, 200]),
    ("GET /api/v1/incidents/{id}",                     Incident(Own, "submitted"),      [401, 200, 200, 200, NA,  200]),
    ("GET /api/v1/incidents/{id}",                     Incident(Colleague, "submitted"),[401, 404, 200, 200, 200, 200]),
    ("GET /api/v1/incidents/{id}",                     Incident(OtherOrg, "submitted"), [401, 404, 404, 200, 200, 200]),
    ("GET /api/v1/incidents/{id}",                     Incident(Colleague, "draft"),    [401, 404, 404, 404, 404, 404]),
    ("GET /api/v1/incidents/{id}/history",             Incident(Own, "submitted"),      [401, 200, 200, 200, NA,  200]),
    ("GET /api/v1/incidents/{id}/history",             Incident(Colleague, "submitted"),[401, 404, 200, 200, 200, 200]),
    ("GET /api/v1/incidents/{id}/history",             Incident(OtherOrg, "submitted"), [401, 404, 404, 200, 200, 200]),
    ("GET /api/v1/incidents/{id}/history",             Incident(Colleague, "draft"),    [401, 404, 404, 404, 404, 404]),
    ("PATCH /api/v1/incidents/{id}",                   Incident(Own, "draft"),          [401, 200, 200, 200, NA,  200]),
    ("PATCH /api/v1/incidents/{id}",                   Incident(Colleague, "draft"),    [401, 404, 404, 404, 404, 404]),
    ("PATCH /api/v1/incidents/{id}",                   Incident(Colleague, "submitted"),[401, 404, 403, 403, 403, 403]),
    ("PATCH /api/v1/incidents/{id}",                   Incident(OtherOrg, "submitted"), [401, 404, 404, 403, 403, 403]),
    // From a draft the move is `submitted` (the reporter's), from `submitted` it is `in_review` (a reviewer's).
    ("POST /api/v1/incidents/{id}/transitions",        Incident(Own, "draft"),          [401, 200, 200, 200, NA,  200]),
    ("POST /api/v1/incidents/{id}/transitions",        Incident(Own, "submitted"),      [401, 403, 403, 403, NA,  403]),
    ("POST /api/v1/incidents/{id}/transitions",        Incident(Colleague, "draft"),    [401, 404, 404, 404, 404, 404]),
    ("POST /api/v1/incidents/{id}/transitions",        Incident(Colleague, "submitted"),[401, 404, 403, 200, 403, 200]),
    ("POST /api/v1/incidents/{id}/transitions",        Incident(OtherOrg, "submitted"), [401, 404, 404, 200, 403, 200]),
    ("PUT /api/v1/incidents/{id}/assessment",          Incident(Own, "submitted"),      [401, 403, 403, 403, NA,  403]),
    ("PUT /api/v1/incidents/{id}/assessment",          Incident(Colleague, "submitted"),[401, 404, 403, 200, 403, 200]),
    ("PUT /api/v1/incidents/{id}/assessment",          Incident(OtherOrg, "submitted"), [401, 404, 404, 200, 403, 200]),

    ("GET /api/v1/changes",                            NoId,                            [401, 200, 200, 200, 200, 200]),

    // Attachments: listed by whoever sees the incident, downloaded by whoever reads its narrative.
    ("GET /api/v1/incidents/{id}/attachments",         Incident(Own, "submitted"),      [401, 200, 200, 200, NA,  200]),
    ("GET /api/v1/incidents/{id}/attachments",         Incident(Colleague, "submitted"),[401, 404, 200, 200, 200, 200]),
    ("GET /api/v1/incidents/{id}/attachments",         Incident(OtherOrg, "submitted"), [401, 404, 404, 200, 200, 200]),
    ("GET /api/v1/incidents/{id}/attachments",         Incident(Colleague, "draft"),    [401, 404, 404, 404, 404, 404]),
    ("PUT /api/v1/incidents/{id}/attachments/{attachment_id}", Incident(Own, "draft"),          [401, 201, 201, 201, NA,  201]),
    ("PUT /api/v1/incidents/{id}/attachments/{attachment_id}", Incident(Own, "submitted"),      [401, 403, 403, 403, NA,  403]),
    ("PUT /api/v1/incidents/{id}/attachments/{attachment_id}", Incident(Colleague, "draft"),    [401, 404, 404, 404, 404, 404]),
    ("PUT /api/v1/incidents/{id}/attachments/{attachment_id}", Incident(Colleague, "submitted"),[401, 404, 403, 201, 403, 201]),
    ("PUT /api/v1/incidents/{id}/attachments/{attachment_id}", Incident(OtherOrg, "submitted"), [401, 404, 404, 201, 403, 201]),
    ("POST /api/v1/incidents/{id}/attachments",               Incident(Own, "draft"),          [401, 201, 201, 201, NA,  201]),
    ("POST /api/v1/incidents/{id}/attachments",               Incident(Own, "submitted"),      [401, 403, 403, 403, NA,  403]),
    ("POST /api/v1/incidents/{id}/attachments",               Incident(Colleague, "draft"),    [401, 404, 404, 404, 404, 404]),
    ("POST /api/v1/incidents/{id}/attachments",               Incident(Colleague, "submitted"),[401, 404, 403, 201, 403, 201]),
    ("POST /api/v1/incidents/{id}/attachments",               Incident(OtherOrg, "submitted"), [401, 404, 404, 201, 403, 201]),
    ("GET /api/v1/incidents/{id}/attachments/{attachment_id}", Attachment(Own, "submitted"),      [401, 200, 200, 200, NA,  200]),
    ("GET /api/v1/incidents/{id}/attachments/{attachment_id}", Attachment(Colleague, "submitted"),[401, 404, 200, 200, 200, 200]),
    ("GET /api/v1/incidents/{id}/attachments/{attachment_id}", Attachment(OtherOrg, "submitted"), [401, 404, 404, 200, 200, 200]),
    ("GET /api/v1/incidents/{id}/attachments/{attachment_id}", Attachment(Colleague, "draft"),    [401, 404, 404, 404, 404, 404]),
    ("GET /api/v1/incidents/{id}/attachments/{attachment_id}/content", Attachment(Own, "submitted"),      [401, 200, 200, 200, NA,  200]),
    ("GET /api/v1/incidents/{id}/attachments/{attachment_id}/content", Attachment(Colleague, "submitted"),[401, 404, 403, 200, 200, 200]),
    ("GET /api/v1/incidents/{id}/attachments/{attachment_id}/content", Attachment(OtherOrg, "submitted"), [401, 404, 404, 200, 200, 200]),
    ("GET /api/v1/incidents/{id}/attachments/{attachment_id}/content", Attachment(Colleague, "draft"),    [401, 404, 404, 404, 404, 404]),
    ("DELETE /api/v1/incidents/{id}/attachments/{attachment_id}", Attachment(Own, "draft"),          [401, 204, 204, 204, NA,  204]),
    ("DELETE /api/v1/incidents/{id}/attachments/{attachment_id}", Attachment(Own, "submitted"),      [401, 403, 403, 403, NA,  403]),
    ("DELETE /api/v1/incidents/{id}/attachments/{attachment_id}", Attachment(Colleague, "draft"),    [401, 404, 404, 404, 404, 404]),
    ("DELETE /api/v1/incidents/{id}/attachments/{attachment_id}", Attachment(Colleague, "submitted"),[401, 404, 403, 204, 403, 204]),
    ("DELETE /api/v1/incidents/{id}/attachments/{attachment_id}", Attachment(OtherOrg, "submitted"), [401, 404, 404, 204, 403, 204]),

    ("GET /api/v1/stats/incidents",                    NoId,                            [401, 403, 200, 403, 200, 200]),
    ("GET /api/v1/exports/incidents",                  NoId,                            [401, 403, 200, 403, 200, 200]),
    ("GET /api/v1/analysis/deployment-effect",         Mission,                         [401, 403, 200, 403, 200, 200]),
    ("GET /api/v1/releases",                           NoId,                            [401, 403, 200, 403, 200, 200]),

    // The token endpoint answers the fixture's service account, whoever else asks.
    ("POST /api/v1/oauth/token",                       NoId,                            [200, 200, 200, 200, 200, 200]),
    ("GET /api/v1/service-accounts",                   NoId,                            [401, 403, 403, 403, 403, 200]),
    ("POST /api/v1/service-accounts",                  NoId,                            [401, 403, 403, 403, 403, 201]),
    ("POST /api/v1/service-accounts",                  ServiceAdmin,                    [401, 403, 403, 403, 403, 422]),
    ("GET /api/v1/service-accounts/{id}",              ServiceAccount,                  [401, 403, 403, 403, 403, 200]),
    ("PATCH /api/v1/service-accounts/{id}",            ServiceAccount,                  [401, 403, 403, 403, 403, 200]),
    ("DELETE /api/v1/service-accounts/{id}",           ServiceAccount,                  [401, 403, 403, 403, 403, 204]),
    ("POST /api/v1/service-accounts/{id}/secrets",     ServiceAccount,                  [401, 403, 403, 403, 403, 201]),
    ("DELETE /api/v1/service-accounts/{id}/secrets/{secret_id}", Secret,                [401, 403, 403, 403, 403, 204]),

    // Webhooks: admins manage every subscription; other people never.
    ("POST /api/v1/webhooks",                          NoId,                            [401, 403, 403, 403, 403, 201]),
    ("GET /api/v1/webhooks",                           NoId,                            [401, 403, 403, 403, 403, 200]),
    ("GET /api/v1/webhooks/{id}",                      Webhook(Colleague),              [401, 403, 403, 403, 403, 200]),
    ("PATCH /api/v1/webhooks/{id}",                    Webhook(Colleague),              [401, 403, 403, 403, 403, 200]),
    ("DELETE /api/v1/webhooks/{id}",                   Webhook(Colleague),              [401, 403, 403, 403, 403, 204]),
    ("POST /api/v1/webhooks/{id}/rotate-secret",       Webhook(Colleague),              [401, 403, 403, 403, 403, 200]),
    ("POST /api/v1/webhooks/{id}/ping",                Webhook(Colleague),              [401, 403, 403, 403, 403, 202]),
    ("GET /api/v1/webhooks/{id}/deliveries",           Webhook(Colleague),              [401, 403, 403, 403, 403, 200]),
    ("POST /api/v1/webhooks/{id}/redeliver",           Webhook(Colleague),              [401, 403, 403, 403, 403, 202]),
];

/// Service accounts of each role they may have, in the caller's oversight
/// office: the first of each pair of columns calls with a token holding every
/// scope, the second with one lacking the scope the row names (or, where the
/// row names none, holding only `webhooks:manage`).
const SERVICE_CALLERS: [Role; 3] = [Role::Partner, Role::Monitor, Role::Analyst];

#[rustfmt::skip]
const SERVICE_TABLE: &[(&str, Object, Option<&str>, [u16; 6])] = &[
    // route                                            object                            scope needed              partner   monitor   analyst
    //                                                                                                              with w/o  with w/o  with w/o
    ("GET /health",                                     NoId,                             None,                    [200, 200, 200, 200, 200, 200]),
    ("GET /ready",                                      NoId,                             None,                    [200, 200, 200, 200, 200, 200]),
    ("GET /metrics",                                    NoId,                             None,                    [200, 200, 200, 200, 200, 200]),
    ("GET /api/v1/openapi.json",                        NoId,                             None,                    [200, 200, 200, 200, 200, 200]),
    ("POST /api/v1/auth/login",                         NoId,                             None,                    [200, 200, 200, 200, 200, 200]),
    ("POST /api/v1/auth/refresh",                       NoId,                             None,                    [200, 200, 200, 200, 200, 200]),
    ("POST /api/v1/auth/logout",                        NoId,                             None,                    [204, 204, 204, 204, 204, 204]),
    ("GET /api/v1/me",                                  NoId,                             None,                    [403, 403, 403, 403, 403, 403]),
    ("POST /api/v1/me/password",                        NoId,                             None,                    [403, 403, 403, 403, 403, 403]),
    ("GET /api/v1/organisations",                       NoId,                             None,                    [403, 403, 403, 403, 403, 403]),
    ("POST /api/v1/organisations",                      NoId,                             None,                    [403, 403, 403, 403, 403, 403]),
    ("GET /api/v1/users",                               NoId,                             None,                    [403, 403, 403, 403, 403, 403]),
    ("POST /api/v1/users",                              NoId,                             None,                    [403, 403, 403, 403, 403, 403]),
    ("POST /api/v1/users",                              NgoAdmin,                         None,                    [403, 403, 403, 403, 403, 403]),
    ("GET /api/v1/users/{id}",                          Account(Own),                     None,                    [403, 403, 403, 403, 403, 403]),
    ("GET /api/v1/users/{id}",                          Account(Colleague),               None,                    [403, 403, 403, 403, 403, 403]),
    ("GET /api/v1/users/{id}",                          Account(OtherOrg),                None,                    [403, 403, 403, 403, 403, 403]),
    ("PATCH /api/v1/users/{id}",                        Account(Own),                     None,                    [403, 403, 403, 403, 403, 403]),
    ("PATCH /api/v1/users/{id}",                        Account(Colleague),               None,                    [403, 403, 403, 403, 403, 403]),
    ("PATCH /api/v1/users/{id}",                        Account(OtherOrg),                None,                    [403, 403, 403, 403, 403, 403]),
    ("PATCH /api/v1/users/{id}",                        Promote(Colleague),               None,                    [403, 403, 403, 403, 403, 403]),
    ("PATCH /api/v1/users/{id}",                        Promote(OtherOrg),                None,                    [403, 403, 403, 403, 403, 403]),
    ("PATCH /api/v1/users/{id}",                        MoveAdminToNgo,                   None,                    [403, 403, 403, 403, 403, 403]),
    ("GET /api/v1/audit",                               NoId,                             None,                    [403, 403, 403, 403, 403, 403]),
    ("GET /api/v1/missions",                            NoId,                             None,                    [200, 200, 200, 200, 200, 200]),
    ("POST /api/v1/missions",                           NoId,                             None,                    [403, 403, 403, 403, 403, 403]),
    ("GET /api/v1/missions/{id}",                       Mission,                          None,                    [200, 200, 200, 200, 200, 200]),
    ("PATCH /api/v1/missions/{id}",                     Mission,                          None,                    [403, 403, 403, 403, 403, 403]),
    ("GET /api/v1/missions/{id}/bases",                 Mission,                          None,                    [200, 200, 200, 200, 200, 200]),
    ("POST /api/v1/missions/{id}/bases",                Mission,                          None,                    [403, 403, 403, 403, 403, 403]),
    ("GET /api/v1/bases/{id}",                          Base,                             None,                    [200, 200, 200, 200, 200, 200]),
    ("PATCH /api/v1/bases/{id}",                        Base,                             None,                    [403, 403, 403, 403, 403, 403]),
    ("GET /api/v1/bases/{id}/deployments",              Base,                             None,                    [200, 200, 200, 200, 200, 200]),
    ("POST /api/v1/bases/{id}/deployments",             Base,                             None,                    [403, 403, 403, 403, 403, 403]),
    ("GET /api/v1/incidents",                           NoId,                             Some("incidents:read"),  [200, 403, 200, 403, 200, 403]),
    ("GET /api/v1/changes",                             NoId,                             Some("incidents:read"),  [200, 403, 200, 403, 200, 403]),
    ("POST /api/v1/incidents",                          NoId,                             Some("incidents:write"), [201, 403, 201, 403, 403, 403]),
    ("POST /api/v1/incidents/batch",                    NoId,                             Some("incidents:write"), [200, 403, 200, 403, 403, 403]),
    ("GET /api/v1/incidents/{id}",                      Incident(Own, "submitted"),       Some("incidents:read"),  [200, 403, 200, 403, NA , NA ]),
    ("GET /api/v1/incidents/{id}",                      Incident(Colleague, "submitted"), Some("incidents:read"),  [200, 403, 404, 403, 200, 403]),
    ("GET /api/v1/incidents/{id}",                      Incident(OtherOrg, "submitted"),  Some("incidents:read"),  [404, 403, 404, 403, 200, 403]),
    ("GET /api/v1/incidents/{id}",                      Incident(Colleague, "draft"),     Some("incidents:read"),  [404, 403, 404, 403, 404, 403]),
    ("GET /api/v1/incidents/{id}/history",              Incident(Own, "submitted"),       Some("incidents:read"),  [200, 403, 200, 403, NA , NA ]),
    ("GET /api/v1/incidents/{id}/history",              Incident(Colleague, "submitted"), Some("incidents:read"),  [200, 403, 404, 403, 200, 403]),
    ("GET /api/v1/incidents/{id}/history",              Incident(OtherOrg, "submitted"),  Some("incidents:read"),  [404, 403, 404, 403, 200, 403]),
    ("GET /api/v1/incidents/{id}/history",              Incident(Colleague, "draft"),     Some("incidents:read"),  [404, 403, 404, 403, 404, 403]),
    ("PATCH /api/v1/incidents/{id}",                    Incident(Own, "draft"),           Some("incidents:write"), [200, 403, 200, 403, NA , NA ]),
    ("PATCH /api/v1/incidents/{id}",                    Incident(Colleague, "draft"),     Some("incidents:write"), [404, 403, 404, 403, 404, 403]),
    ("PATCH /api/v1/incidents/{id}",                    Incident(Colleague, "submitted"), Some("incidents:write"), [403, 403, 404, 403, 403, 403]),
    ("PATCH /api/v1/incidents/{id}",                    Incident(OtherOrg, "submitted"),  Some("incidents:write"), [404, 403, 404, 403, 403, 403]),
    ("POST /api/v1/incidents/{id}/transitions",         Incident(Own, "draft"),           Some("incidents:write"), [200, 403, 200, 403, NA , NA ]),
    ("POST /api/v1/incidents/{id}/transitions",         Incident(Own, "submitted"),       Some("incidents:write"), [403, 403, 403, 403, NA , NA ]),
    ("POST /api/v1/incidents/{id}/transitions",         Incident(Colleague, "draft"),     Some("incidents:write"), [404, 403, 404, 403, 404, 403]),
    ("POST /api/v1/incidents/{id}/transitions",         Incident(Colleague, "submitted"), Some("incidents:write"), [403, 403, 404, 403, 403, 403]),
    ("POST /api/v1/incidents/{id}/transitions",         Incident(OtherOrg, "submitted"),  Some("incidents:write"), [404, 403, 404, 403, 403, 403]),
    ("PUT /api/v1/incidents/{id}/assessment",           Incident(Own, "submitted"),       Some("incidents:write"), [403, 403, 403, 403, NA , NA ]),
    ("PUT /api/v1/incidents/{id}/assessment",           Incident(Colleague, "submitted"), Some("incidents:write"), [403, 403, 404, 403, 403, 403]),
    ("PUT /api/v1/incidents/{id}/assessment",           Incident(OtherOrg, "submitted"),  Some("incidents:write"), [404, 403, 404, 403, 403, 403]),
    ("GET /api/v1/incidents/{id}/attachments",          Incident(Own, "submitted"),       Some("incidents:read"),  [200, 403, 200, 403, NA , NA ]),
    ("GET /api/v1/incidents/{id}/attachments",          Incident(Colleague, "submitted"), Some("incidents:read"),  [200, 403, 404, 403, 200, 403]),
    ("GET /api/v1/incidents/{id}/attachments",          Incident(OtherOrg, "submitted"),  Some("incidents:read"),  [404, 403, 404, 403, 200, 403]),
    ("GET /api/v1/incidents/{id}/attachments",          Incident(Colleague, "draft"),     Some("incidents:read"),  [404, 403, 404, 403, 404, 403]),
    ("PUT /api/v1/incidents/{id}/attachments/{attachment_id}", Incident(Own, "draft"),           Some("incidents:write"), [201, 403, 201, 403, NA , NA ]),
    ("PUT /api/v1/incidents/{id}/attachments/{attachment_id}", Incident(Own, "submitted"),       Some("incidents:write"), [403, 403, 403, 403, NA , NA ]),
    ("PUT /api/v1/incidents/{id}/attachments/{attachment_id}", Incident(Colleague, "draft"),     Some("incidents:write"), [404, 403, 404, 403, 404, 403]),
    ("PUT /api/v1/incidents/{id}/attachments/{attachment_id}", Incident(Colleague, "submitted"), Some("incidents:write"), [403, 403, 404, 403, 403, 403]),
    ("PUT /api/v1/incidents/{id}/attachments/{attachment_id}", Incident(OtherOrg, "submitted"),  Some("incidents:write"), [404, 403, 404, 403, 403, 403]),
    ("POST /api/v1/incidents/{id}/attachments",               Incident(Own, "draft"),           Some("incidents:write"), [201, 403, 201, 403, NA , NA ]),
    ("POST /api/v1/incidents/{id}/attachments",               Incident(Own, "submitted"),       Some("incidents:write"), [403, 403, 403, 403, NA , NA ]),
    ("POST /api/v1/incidents/{id}/attachments",               Incident(Colleague, "draft"),     Some("incidents:write"), [404, 403, 404, 403, 404, 403]),
    ("POST /api/v1/incidents/{id}/attachments",               Incident(Colleague, "submitted"), Some("incidents:write"), [403, 403, 404, 403, 403, 403]),
    ("POST /api/v1/incidents/{id}/attachments",               Incident(OtherOrg, "submitted"),  Some("incidents:write"), [404, 403, 404, 403, 403, 403]),
    ("GET /api/v1/incidents/{id}/attachments/{attachment_id}", Attachment(Own, "submitted"),       Some("incidents:read"),  [200, 403, 200, 403, NA , NA ]),
    ("GET /api/v1/incidents/{id}/attachments/{attachment_id}", Attachment(Colleague, "submitted"), Some("incidents:read"),  [200, 403, 404, 403, 200, 403]),
    ("GET /api/v1/incidents/{id}/attachments/{attachment_id}", Attachment(OtherOrg, "submitted"),  Some("incidents:read"),  [404, 403, 404, 403, 200, 403]),
    ("GET /api/v1/incidents/{id}/attachments/{attachment_id}", Attachment(Colleague, "draft"),     Some("incidents:read"),  [404, 403, 404, 403, 404, 403]),
    ("GET /api/v1/incidents/{id}/attachments/{attachment_id}/content", Attachment(Own, "submitted"),       Some("incidents:read"),  [200, 403, 200, 403, NA , NA ]),
    ("GET /api/v1/incidents/{id}/attachments/{attachment_id}/content", Attachment(Colleague, "submitted"), Some("incidents:read"),  [403, 403, 404, 403, 200, 403]),
    ("GET /api/v1/incidents/{id}/attachments/{attachment_id}/content", Attachment(OtherOrg, "submitted"),  Some("incidents:read"),  [404, 403, 404, 403, 200, 403]),
    ("GET /api/v1/incidents/{id}/attachments/{attachment_id}/content", Attachment(Colleague, "draft"),     Some("incidents:read"),  [404, 403, 404, 403, 404, 403]),
    ("DELETE /api/v1/incidents/{id}/attachments/{attachment_id}", Attachment(Own, "draft"),           Some("incidents:write"), [204, 403, 204, 403, NA , NA ]),
    ("DELETE /api/v1/incidents/{id}/attachments/{attachment_id}", Attachment(Own, "submitted"),       Some("incidents:write"), [403, 403, 403, 403, NA , NA ]),
    ("DELETE /api/v1/incidents/{id}/attachments/{attachment_id}", Attachment(Colleague, "draft"),     Some("incidents:write"), [404, 403, 404, 403, 404, 403]),
    ("DELETE /api/v1/incidents/{id}/attachments/{attachment_id}", Attachment(Colleague, "submitted"), Some("incidents:write"), [403, 403, 404, 403, 403, 403]),
    ("DELETE /api/v1/incidents/{id}/attachments/{attachment_id}", Attachment(OtherOrg, "submitted"),  Some("incidents:write"), [404, 403, 404, 403, 403, 403]),
    ("GET /api/v1/stats/incidents",                     NoId,                             Some("stats:read"),      [200, 403, 403, 403, 200, 403]),
    ("GET /api/v1/exports/incidents",                   NoId,                             Some("exports:read"),    [200, 403, 403, 403, 200, 403]),
    ("GET /api/v1/analysis/deployment-effect",          Mission,                          Some("stats:read"),      [200, 403, 403, 403, 200, 403]),
    ("GET /api/v1/releases",                            NoId,                             Some("stats:read"),      [200, 403, 403, 403, 200, 403]),

    ("GET /",                                           NoId,                             None,                    [200, 200, 200, 200, 200, 200]),
    ("GET /api/v1",                                     NoId,                             None,                    [200, 200, 200, 200, 200, 200]),
    ("GET /api/v1/organisations/{id}",                  Organisation,                     None,                    [403, 403, 403, 403, 403, 403]),
    ("PATCH /api/v1/organisations/{id}",                Organisation,                     None,                    [403, 403, 403, 403, 403, 403]),
    ("GET /api/v1/deployments/{id}",                    Deployment,                       None,                    [200, 200, 200, 200, 200, 200]),
    ("PATCH /api/v1/deployments/{id}",                  Deployment,                       None,                    [403, 403, 403, 403, 403, 403]),
    ("DELETE /api/v1/deployments/{id}",                 Deployment,                       None,                    [403, 403, 403, 403, 403, 403]),
    ("POST /api/v1/oauth/token",                        NoId,                             None,                    [200, 200, 200, 200, 200, 200]),
    ("GET /api/v1/service-accounts",                    NoId,                             None,                    [403, 403, 403, 403, 403, 403]),
    ("POST /api/v1/service-accounts",                   NoId,                             None,                    [403, 403, 403, 403, 403, 403]),
    ("POST /api/v1/service-accounts",                   ServiceAdmin,                     None,                    [403, 403, 403, 403, 403, 403]),
    ("GET /api/v1/service-accounts/{id}",               ServiceAccount,                   None,                    [403, 403, 403, 403, 403, 403]),
    ("PATCH /api/v1/service-accounts/{id}",             ServiceAccount,                   None,                    [403, 403, 403, 403, 403, 403]),
    ("DELETE /api/v1/service-accounts/{id}",            ServiceAccount,                   None,                    [403, 403, 403, 403, 403, 403]),
    ("POST /api/v1/service-accounts/{id}/secrets",      ServiceAccount,                   None,                    [403, 403, 403, 403, 403, 403]),
    ("DELETE /api/v1/service-accounts/{id}/secrets/{secret_id}", Secret,                  None,                    [403, 403, 403, 403, 403, 403]),
    // A service account manages the subscriptions it created; an admin's answers 404.
    ("POST /api/v1/webhooks",                           NoId,                             Some("webhooks:manage"), [201, 403, 201, 403, 201, 403]),
    ("GET /api/v1/webhooks",                            NoId,                             Some("webhooks:manage"), [200, 403, 200, 403, 200, 403]),
    ("GET /api/v1/webhooks/{id}",                       Webhook(Own),                     Some("webhooks:manage"), [200, 403, 200, 403, 200, 403]),
    ("GET /api/v1/webhooks/{id}",                       Webhook(Colleague),               Some("webhooks:manage"), [404, 403, 404, 403, 404, 403]),
    ("PATCH /api/v1/webhooks/{id}",                     Webhook(Own),                     Some("webhooks:manage"), [200, 403, 200, 403, 200, 403]),
    ("PATCH /api/v1/webhooks/{id}",                     Webhook(Colleague),               Some("webhooks:manage"), [404, 403, 404, 403, 404, 403]),
    ("DELETE /api/v1/webhooks/{id}",                    Webhook(Own),                     Some("webhooks:manage"), [204, 403, 204, 403, 204, 403]),
    ("DELETE /api/v1/webhooks/{id}",                    Webhook(Colleague),               Some("webhooks:manage"), [404, 403, 404, 403, 404, 403]),
    ("POST /api/v1/webhooks/{id}/rotate-secret",        Webhook(Own),                     Some("webhooks:manage"), [200, 403, 200, 403, 200, 403]),
    ("POST /api/v1/webhooks/{id}/rotate-secret",        Webhook(Colleague),               Some("webhooks:manage"), [404, 403, 404, 403, 404, 403]),
    ("POST /api/v1/webhooks/{id}/ping",                 Webhook(Own),                     Some("webhooks:manage"), [202, 403, 202, 403, 202, 403]),
    ("POST /api/v1/webhooks/{id}/ping",                 Webhook(Colleague),               Some("webhooks:manage"), [404, 403, 404, 403, 404, 403]),
    ("GET /api/v1/webhooks/{id}/deliveries",            Webhook(Own),                     Some("webhooks:manage"), [200, 403, 200, 403, 200, 403]),
    ("GET /api/v1/webhooks/{id}/deliveries",            Webhook(Colleague),               Some("webhooks:manage"), [404, 403, 404, 403, 404, 403]),
    ("POST /api/v1/webhooks/{id}/redeliver",            Webhook(Own),                     Some("webhooks:manage"), [202, 403, 202, 403, 202, 403]),
    ("POST /api/v1/webhooks/{id}/redeliver",            Webhook(Colleague),               Some("webhooks:manage"), [404, 403, 404, 403, 404, 403]),
];

const ALL_SCOPES: [&str; 5] = [
    "incidents:write",
    "incidents:read",
    "stats:read",
    "exports:read",
    "webhooks:manage",
];

/// A service account as a caller: its token with every scope (as `user.token`),
/// and for each scope a token with all the others (`""`: `webhooks:manage` alone).
struct ServiceCaller {
    role: Role,
    user: TestUser,
    without: std::collections::BTreeMap<&'static str, String>,
}

/// What every cell shares: a mission with a base, callers of every role in one
/// organisation, and a second organisation.
struct Fixture {
    app: TestApp,
    admin: TestUser,
    callers: Vec<Option<TestUser>>,
    services: Vec<ServiceCaller>,
    /// The client id and secret the token endpoint's cells present.
    client: (String, String),
    other_org: String,
    mission: String,
    base: String,
}

async fn every_route_for_every_caller_and_owner(backend: Backend) {
    let listed: BTreeSet<&str> = TABLE.iter().map(|(route, ..)| *route).collect();
    let documented = documented_operations();
    let missing: Vec<_> = documented.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "operations missing from the authorization matrix: {missing:?}"
    );
    let unknown: Vec<_> = listed.difference(&documented).collect();
    assert!(
        unknown.is_empty(),
        "the matrix lists operations the API does not have: {unknown:?}"
    );

    let w = world(backend).await;
    let other_org = w
        .app
        .post(
            "/api/v1/organisations",
            Some(&w.admin.token),
            &json!({"name": "Another NGO", "kind": "ngo"}),
        )
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let callers = CALLERS
        .iter()
        .map(|role| role.map(|role| w.app.seed_user(role)))
        .collect();
    let client = crate::service_accounts::client(
        &w.app,
        &w.admin,
        &w.app.org_id,
        "monitor",
        &["incidents:read"],
    )
    .await;
    let mut services = Vec::new();
    for role in SERVICE_CALLERS {
        let account = crate::service_accounts::client(
            &w.app,
            &w.admin,
            &w.app.org_id,
            role.as_str(),
            &ALL_SCOPES,
        )
        .await;
        let mut without = std::collections::BTreeMap::new();
        for scope in ALL_SCOPES {
            let rest: Vec<&str> = ALL_SCOPES.into_iter().filter(|s| *s != scope).collect();
            let token =
                crate::service_accounts::access_token(&w.app, &account, &rest.join(" ")).await;
            without.insert(scope, token);
        }
        let only_webhooks =
            crate::service_accounts::access_token(&w.app, &account, "webhooks:manage").await;
        without.insert("", only_webhooks);
        let token = crate::service_accounts::access_token(&w.app, &account, "").await;
        services.push(ServiceCaller {
            role,
            user: TestUser {
                id: account.id.clone(),
                email: String::new(),
                token,
            },
            without,
        });
    }
    let fx = Fixture {
        admin: w.admin,
        callers,
        services,
        client: (client.id, client.secret),
        other_org,
        mission: w.mission,
        base: w.bondsteel,
        app: w.app,
    };

    let mut failures = Vec::new();
    let mut walked = 0;
    for (route, object, statuses) in TABLE {
        for (column, &expected) in statuses.iter().enumerate() {
            let role = CALLERS[column];
            if expected == NA {
                assert!(
                    role == Some(Role::Analyst)
                        && matches!(object, Incident(Own, _) | Attachment(Own, _)),
                    "{route} {object:?}: only an analyst's own incident is not applicable"
                );
                continue;
            }
            walked += 1;
            if let Err(why) = cell(&fx, route, *object, column, expected).await {
                failures.push(format!(
                    "{route} on {object:?} as {}: {why}",
                    caller_name(role)
                ));
            }
        }
    }

    let service_listed: BTreeSet<&str> = SERVICE_TABLE.iter().map(|(route, ..)| *route).collect();
    assert_eq!(
        service_listed
            .symmetric_difference(&documented)
            .collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "the service-account rows must list every operation"
    );
    for (route, object, scope, statuses) in SERVICE_TABLE {
        for (column, &expected) in statuses.iter().enumerate() {
            let caller = &fx.services[column / 2];
            if expected == NA {
                assert!(
                    caller.role == Role::Analyst
                        && matches!(object, Incident(Own, _) | Attachment(Own, _)),
                    "{route} {object:?}: only an analyst's own incident is not applicable"
                );
                continue;
            }
            let token = if column % 2 == 0 {
                &caller.user.token
            } else {
                &caller.without[scope.unwrap_or("")]
            };
            walked += 1;
            if let Err(why) = call(
                &fx,
                route,
                *object,
                Some(&caller.user),
                Some(token),
                expected,
            )
            .await
            {
                failures.push(format!(
                    "{route} on {object:?} as a {} service account {} {}: {why}",
                    caller.role,
                    if column % 2 == 0 { "with" } else { "without" },
                    scope.unwrap_or("webhooks:manage only"),
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {walked} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn caller_name(role: Option<Role>) -> String {
    role.map_or("anonymous".into(), |r| r.to_string())
}

/// `METHOD /path` of every operation in the committed OpenAPI document.
fn documented_operations() -> BTreeSet<&'static str> {
    static DOC: std::sync::OnceLock<BTreeSet<String>> = std::sync::OnceLock::new();
    DOC.get_or_init(|| {
        let doc: Value = serde_json::from_str(include_str!("../../openapi/openapi.json")).unwrap();
        let mut ops = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    ops.insert(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
        ops
    })
    .iter()
    .map(String::as_str)
    .collect()
}

/// Sets up a cell's object, calls the route, checks the status and, when the
/// call was refused, that nothing changed.
async fn cell(
    fx: &Fixture,
    route: &str,
    object: Object,
    column: usize,
    expected: u16,
) -> Result<(), String> {
    let app = &fx.app;
    // Changing a password ends the caller's sign-ins: those cells get an account of their own.
    let own_account;
    let caller = if route == "POST /api/v1/me/password" {
        own_account = CALLERS[column].map(|role| app.seed_user(role));
        own_account.as_ref()
    } else {
        fx.callers[column].as_ref()
    };
    call(
        fx,
        route,
        object,
        caller,
        caller.map(|u| u.token.as_str()),
        expected,
    )
    .await
}

/// Calls `route` on a fresh `object` as `caller`, with `token`.
async fn call(
    fx: &Fixture,
    route: &str,
    object: Object,
    caller: Option<&TestUser>,
    token: Option<&str>,
    expected: u16,
) -> Result<(), String> {
    let app = &fx.app;
    let (method, template) = route.split_once(' ').unwrap();
    let target = prepare(fx, object, caller).await;
    let path = template
        .replace("{id}", target.id.as_deref().unwrap_or(""))
        .replace("{secret_id}", target.secret_id.as_deref().unwrap_or(""))
        .replace(
            "{attachment_id}",
            target.attachment_id.as_deref().unwrap_or(""),
        );
    let unique = uuid::Uuid::new_v4().simple().to_string();

    let mut headers: Vec<(String, String)> = vec![];
    if let Some(token) = token {
        headers.push(("authorization".into(), format!("Bearer {token}")));
    }
    if let Some(version) = target.version {
        headers.push(("if-match".into(), format!("\"{version}\"")));
    }
    let (query, body) = match (route, object) {
        ("POST /api/v1/users", NgoAdmin) => (
            String::new(),
            Some(json!({
                "email": format!("{unique}@example.org"), "name": "NGO Admin", "role": "admin",
                "organisation_id": fx.other_org, "password": PASSWORD,
            })),
        ),
        ("PATCH /api/v1/users/{id}", Promote(_)) => (String::new(), Some(json!({"role": "admin"}))),
        ("POST /api/v1/service-accounts", ServiceAdmin) => (
            String::new(),
            Some(json!({
                "name": "Admin system", "role": "admin", "organisation_id": app.org_id,
                "scopes": ["incidents:read"],
            })),
        ),
        ("PATCH /api/v1/users/{id}", MoveAdminToNgo) => (
            String::new(),
            Some(json!({"organisation_id": fx.other_org})),
        ),
        _ => match route {
            "POST /api/v1/me/password" => (
                String::new(),
                Some(
                    json!({"current_password": PASSWORD, "new_password": "a fresh matrix passphrase"}),
                ),
            ),
            "POST /api/v1/auth/login" => (
                String::new(),
                Some(json!({"email": fx.admin.email, "password": PASSWORD})),
            ),
            "POST /api/v1/auth/refresh" | "POST /api/v1/auth/logout" => {
                let session = app.login(&fx.admin.email, PASSWORD).await.expect(200);
                (
                    String::new(),
                    Some(json!({"refresh_token": session["refresh_token"]})),
                )
            }
            "POST /api/v1/organisations" => {
                (String::new(), Some(json!({"name": unique, "kind": "ngo"})))
            }
            "POST /api/v1/users" => (
                String::new(),
                Some(json!({
                    "email": format!("{unique}@example.org"), "name": "New Monitor", "role": "monitor",
                    "organisation_id": app.org_id, "password": PASSWORD,
                })),
            ),
            "POST /api/v1/missions" => (
                String::new(),
                Some(json!({"name": unique, "country": "XK", "mandate_start": "1999-06-12"})),
            ),
            "POST /api/v1/missions/{id}/bases" => (
                String::new(),
                Some(json!({"name": unique, "latitude": 42.5, "longitude": 21.2})),
            ),
            "POST /api/v1/bases/{id}/deployments" => (
                String::new(),
                Some(
                    json!({"start_date": "2000-01-01", "troop_count": 100, "contributing_country": "US"}),
                ),
            ),
            "PATCH /api/v1/users/{id}"
            | "PATCH /api/v1/missions/{id}"
            | "PATCH /api/v1/bases/{id}"
            | "PATCH /api/v1/organisations/{id}" => (String::new(), Some(json!({"name": unique}))),
            "PATCH /api/v1/deployments/{id}" => (
                String::new(),
                Some(json!({"troop_count": 4321, "end_date": "2001-01-01"})),
            ),
            "DELETE /api/v1/deployments/{id}" => (String::new(), None),
            "POST /api/v1/incidents" => (String::new(), Some(report(&fx.mission))),
            "POST /api/v1/incidents/batch" => {
                let mut item = report(&fx.mission);
                item["id"] = json!(uuid::Uuid::new_v4().to_string());
                (String::new(), Some(json!([item])))
            }
            "PATCH /api/v1/incidents/{id}" => {
                headers.push(("content-type".into(), "application/merge-patch+json".into()));
                (
                    String::new(),
                    Some(json!({"narrative": "Edited in the authorization matrix."})),
                )
            }
            "POST /api/v1/incidents/{id}/transitions" => {
                let to = if target.status == Some("draft") {
                    "submitted"
                } else {
                    "in_review"
                };
                (String::new(), Some(json!({"to": to})))
            }
            "PUT /api/v1/incidents/{id}/assessment" => (
                String::new(),
                Some(json!({"assessment": "undetermined", "reason": "Matrix override."})),
            ),
            "GET /api/v1/exports/incidents" => ("?format=csv".into(), None),
            "PUT /api/v1/incidents/{id}/attachments/{attachment_id}" => (String::new(), None),
            "POST /api/v1/incidents/{id}/attachments" => (String::new(), None),
            "DELETE /api/v1/incidents/{id}/attachments/{attachment_id}" => (
                String::new(),
                Some(json!({"reason": "Removed in the authorization matrix."})),
            ),
            "POST /api/v1/service-accounts" => (
                String::new(),
                Some(json!({
                    "name": "Matrix system", "role": "partner", "organisation_id": fx.other_org,
                    "scopes": ["incidents:write"],
                })),
            ),
            "PATCH /api/v1/service-accounts/{id}" => (
                String::new(),
                Some(json!({"name": unique, "scopes": ["stats:read"]})),
            ),
            "POST /api/v1/service-accounts/{id}/secrets" => (String::new(), Some(json!({}))),
            "DELETE /api/v1/service-accounts/{id}"
            | "DELETE /api/v1/service-accounts/{id}/secrets/{secret_id}" => (String::new(), None),
            "POST /api/v1/webhooks" => (
                String::new(),
                Some(json!({"url": "http://127.0.0.1:9/matrix", "events": ["incident.reported"]})),
            ),
            "PATCH /api/v1/webhooks/{id}" => (String::new(), Some(json!({"description": unique}))),
            "POST /api/v1/webhooks/{id}/rotate-secret" => (String::new(), Some(json!({}))),
            "POST /api/v1/webhooks/{id}/redeliver" => (
                String::new(),
                Some(json!({"since": "2020-01-01T00:00:00Z"})),
            ),
            "DELETE /api/v1/webhooks/{id}" | "POST /api/v1/webhooks/{id}/ping" => {
                (String::new(), None)
            }
            "GET /api/v1/analysis/deployment-effect" => {
                (format!("?mission_id={}", fx.mission), None)
            }
            "POST /api/v1/oauth/token" => (String::new(), None),
            _ if method == "GET" => (String::new(), None),
            _ => panic!("{route}: the matrix has no request body for it"),
        },
    };
    if body.is_some() && !headers.iter().any(|(name, _)| name == "content-type") {
        headers.push(("content-type".into(), "application/json".into()));
    }

    let before = snapshot(fx, &target).await;
    let res = if route == "POST /api/v1/oauth/token" {
        headers.push((
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
        let (id, secret) = &fx.client;
        let form = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        app.raw(Method::POST, &path, &headers, form.into_bytes())
            .await
    } else if route == "POST /api/v1/incidents/{id}/attachments" {
        let content_type = "multipart/form-data; boundary=basewatch-test-boundary-7c1d";
        headers.push(("content-type".into(), content_type.into()));
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let file = crate::attachments::png(8, 8, 0);
        let form = crate::attachment_forms::form_body(&[("file", None, Some("image/png"), &file)]);
        app.raw(Method::POST, &path, &headers, form).await
    } else if route == "PUT /api/v1/incidents/{id}/attachments/{attachment_id}" {
        headers.push(("content-type".into(), "image/png".into()));
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        app.raw(
            Method::PUT,
            &path,
            &headers,
            crate::attachments::png(8, 8, 0),
        )
        .await
    } else {
        send(app, method, &format!("{path}{query}"), &headers, body).await
    };
    if res.status != expected {
        return Err(format!(
            "expected {expected}, got {}: {}",
            res.status,
            String::from_utf8_lossy(&res.body)
        ));
    }
    if expected >= 400 {
        res.expect(expected);
        let after = snapshot(fx, &target).await;
        if after != before {
            return Err(format!(
                "refused, yet the database changed: {before:?} → {after:?}"
            ));
        }
    }
    Ok(())
}

/// The object a cell is called on, made for it.
struct Target {
    id: Option<String>,
    secret_id: Option<String>,
    attachment_id: Option<String>,
    kind: &'static str,
    version: Option<i64>,
    status: Option<&'static str>,
}

async fn prepare(fx: &Fixture, object: Object, caller: Option<&TestUser>) -> Target {
    let app = &fx.app;
    let owner = |owner: Owner| -> TestUser {
        match (owner, caller) {
            (Own, Some(user)) => user.clone(),
            (Own, None) | (Colleague, _) => app.seed_user(Role::Monitor),
            (OtherOrg, _) => app.seed_user_in(Role::Monitor, &fx.other_org),
        }
    };
    let plain = |kind, id: &str| Target {
        id: Some(id.to_owned()),
        secret_id: None,
        attachment_id: None,
        kind,
        version: None,
        status: None,
    };
    match object {
        NoId | NgoAdmin | ServiceAdmin => Target {
            id: None,
            secret_id: None,
            attachment_id: None,
            kind: "",
            version: None,
            status: None,
        },
        Mission => plain("mission", &fx.mission),
        Base => plain("base", &fx.base),
        Deployment => {
            let deployment = app
                .post(
                    &format!("/api/v1/bases/{}/deployments", fx.base),
                    Some(&fx.admin.token),
                    &json!({"start_date": "2000-01-01", "troop_count": 100, "contributing_country": "US"}),
                )
                .await
                .expect(201);
            plain("deployment", deployment["id"].as_str().unwrap())
        }
        Organisation => {
            let unique = uuid::Uuid::new_v4().simple().to_string();
            let organisation = app
                .post(
                    "/api/v1/organisations",
                    Some(&fx.admin.token),
                    &json!({"name": unique, "kind": "ngo"}),
                )
                .await
                .expect(201);
            plain("organisation", organisation["id"].as_str().unwrap())
        }
        Account(who) | Promote(who) => {
            let id = owner(who).id;
            // A service account's own account is read back as one.
            if fx.services.iter().any(|s| s.user.id == id) {
                plain("service_account", &id)
            } else {
                plain("user", &id)
            }
        }
        MoveAdminToNgo => plain("user", &app.seed_user(Role::Admin).id),
        ServiceAccount | Secret => {
            let account = crate::service_accounts::client(
                app,
                &fx.admin,
                &fx.other_org,
                "partner",
                &["incidents:write"],
            )
            .await;
            Target {
                secret_id: account.body["credentials"]["secret"]["id"]
                    .as_str()
                    .map(str::to_owned),
                ..plain("service_account", &account.id)
            }
        }
        Webhook(who) => {
            let token = match (who, caller) {
                (Own, Some(user)) => &user.token,
                _ => &fx.admin.token,
            };
            let created = app
                .post(
                    "/api/v1/webhooks",
                    Some(token),
                    &json!({"url": "http://127.0.0.1:9/matrix", "events": ["ping"]}),
                )
                .await
                .expect(201);
            plain("webhook", created["id"].as_str().unwrap())
        }
        Incident(who, status) | Attachment(who, status) => {
            let reporter = owner(who);
            let incident = app
                .post(
                    "/api/v1/incidents",
                    Some(&reporter.token),
                    &report(&fx.mission),
                )
                .await
                .expect(201);
            let id = incident["id"].as_str().unwrap().to_owned();
            let attachment_id = uuid::Uuid::new_v4().to_string();
            if matches!(object, Attachment(..)) {
                let res = app
                    .raw(
                        Method::PUT,
                        &format!("/api/v1/incidents/{id}/attachments/{attachment_id}"),
                        &[
                            ("authorization", &format!("Bearer {}", reporter.token)),
                            ("content-type", "image/png"),
                        ],
                        crate::attachments::png(8, 8, 1),
                    )
                    .await;
                res.expect(201);
            }
            let mut version = 1;
            if status == "submitted" {
                let res = send(
                    app,
                    "POST",
                    &format!("/api/v1/incidents/{id}/transitions"),
                    &[
                        ("authorization".into(), format!("Bearer {}", reporter.token)),
                        ("if-match".into(), "\"1\"".into()),
                        ("content-type".into(), "application/json".into()),
                    ],
                    Some(json!({"to": "submitted"})),
                )
                .await;
                version = res.expect(200)["version"].as_i64().unwrap();
            }
            Target {
                id: Some(id),
                secret_id: None,
                attachment_id: Some(attachment_id),
                kind: "incident",
                version: Some(version),
                status: Some(status),
            }
        }
    }
}

/// Row counts of every table a request could write, and the object as stored.
async fn snapshot(fx: &Fixture, target: &Target) -> (Vec<i64>, Value) {
    let app = &fx.app;
    let counts = [
        "organisations",
        "users",
        "missions",
        "bases",
        "deployments",
        "incidents",
        "incident_events",
        "service_accounts",
        "service_account_secrets",
        "attachments",
        "attachment_chunks",
        "removed_attachments",
        "webhook_subscriptions",
        "webhook_deliveries",
    ]
    .iter()
    .map(|table| app.count(table))
    .collect();
    let object = match (target.kind, &target.id) {
        ("incident", Some(id)) => json!(app.count(&format!(
            "incidents WHERE id = '{id}' AND version = {} AND status = '{}' AND consent_assessment = computed_assessment",
            target.version.unwrap(),
            target.status.unwrap()
        ))),
        (kind, Some(id)) => {
            let path = match kind {
                "user" => format!("/api/v1/users/{id}"),
                "mission" => format!("/api/v1/missions/{id}"),
                "deployment" => format!("/api/v1/deployments/{id}"),
                "organisation" => format!("/api/v1/organisations/{id}"),
                "service_account" => format!("/api/v1/service-accounts/{id}"),
                "webhook" => format!("/api/v1/webhooks/{id}"),
                _ => format!("/api/v1/bases/{id}"),
            };
            app.get(&path, Some(&fx.admin.token)).await.expect(200)
        }
        _ => Value::Null,
    };
    (counts, object)
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Option<Value>,
) -> Response {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let body = body.map_or_else(Vec::new, |b| b.to_string().into_bytes());
    app.raw(
        Method::from_bytes(method.as_bytes()).unwrap(),
        path,
        &headers,
        body,
    )
    .await
}
