//! The route's path segments and query string, refused as problems like everything else (axum's
//! own extractors answer a plain-text 400 the OpenAPI document does not list).

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::problem::{ApiError, Kind};

/// The path's parameters. A segment that does not decode (percent-encoded bytes that are not
/// UTF-8) names no queue, job or endpoint: 404 `no-route`.
pub struct Segments<T>(pub T);

impl<T, S> FromRequestParts<S> for Segments<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(t)) => Ok(Self(t)),
            Err(_) => Err(ApiError::new(
                Kind::NoRoute,
                "the path names no queue, job or endpoint (a segment is not UTF-8)",
            )),
        }
    }
}

/// The query string's parameters. One that does not parse (a name given twice, a value that
/// is not UTF-8): 422 `invalid-request`, naming no value.
pub struct Params<T>(pub T);

impl<T, S> FromRequestParts<S> for Params<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(t)) => Ok(Self(t)),
            Err(_) => Err(ApiError::new(
                Kind::InvalidRequest,
                "the query string is not valid: each parameter at most once, as UTF-8",
            )),
        }
    }
}
