//! Basewatch: reports of suspected human trafficking around military and
//! peacekeeping bases, reviewed under four eyes, exported without exposing victims.
//!
//! Where things are: `startup` lists every route; each resource has a folder
//! (`users/`, `organisations/`, `auth/`) with `routes.rs` (handlers), `queries.rs`
//! (SQL) and its rules in `mod.rs`. `http/` holds what all routes share.

pub mod analysis;
pub mod attachments;
pub mod audit;
pub mod auth;
pub mod changes;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod csv_safe;
pub mod db;
pub mod demo;
pub mod domain;
pub mod domain_error;
pub mod error;
pub mod exports;
pub mod health;
pub mod http;
pub mod incidents;
pub mod metrics;
pub mod missions;
pub mod openapi;
pub mod organisations;
pub mod releases;
pub mod service_accounts;
pub mod startup;
pub mod state;
pub mod stats;
pub mod telemetry;
pub mod users;
mod validation;
pub mod webhooks;
