//! Authentication: passwords, access tokens, refresh tokens, and the extractors
//! that make a handler unreachable without the right identity.

pub mod actor;
mod client;
mod extract;
pub mod jwt;
pub mod oauth;
pub mod password;
pub mod policy;
pub mod refresh;
pub mod routes;
pub mod throttle;

pub use actor::Actor;
pub use extract::{Admin, AuthenticatedActor};
pub use policy::Permission;
