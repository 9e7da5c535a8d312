//! Authentication: passwords, access tokens, refresh tokens, and the extractors
//! that make a handler unreachable without the right identity.

mod client;
mod extract;
pub mod jwt;
pub mod oauth;
pub mod password;
pub mod policy;
pub mod refresh;
pub mod routes;
pub mod throttle;

pub use extract::{Admin, AuthenticatedActor, CurrentUser};
