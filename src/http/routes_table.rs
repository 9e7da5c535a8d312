use actix_web::dev::ResourceDef;
use actix_web::http::Method;
use actix_web::{HttpRequest, web};
use utoipa::openapi::OpenApi;

use crate::error::ApiError;

/// Every documented route and its methods, taken from the OpenAPI document so
/// the fallback can tell "no such route" (404) from "wrong method" (405).
pub struct RouteTable {
    routes: Vec<(ResourceDef, Vec<Method>)>,
}

impl RouteTable {
    pub fn from_openapi(doc: &OpenApi) -> Self {
        let routes = doc
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    (Method::GET, item.get.is_some()),
                    (Method::PUT, item.put.is_some()),
                    (Method::POST, item.post.is_some()),
                    (Method::DELETE, item.delete.is_some()),
                    (Method::PATCH, item.patch.is_some()),
                ]
                .into_iter()
                .filter_map(|(method, present)| present.then_some(method))
                .collect();
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        Self { routes }
    }

    pub fn allowed_methods(&self, path: &str) -> Option<&[Method]> {
        self.routes
            .iter()
            .find(|(def, _)| def.is_match(path))
            .map(|(_, methods)| methods.as_slice())
    }
}

/// Answers every request no route took.
pub async fn fallback(
    req: HttpRequest,
    table: web::Data<RouteTable>,
) -> Result<actix_web::HttpResponse, ApiError> {
    Err(match table.allowed_methods(req.path()) {
        Some(allow) => ApiError::MethodNotAllowed {
            method: req.method().clone(),
            allow: allow.to_vec(),
        },
        None => ApiError::NotFound(format!("no route for {}", req.path())),
    })
}
