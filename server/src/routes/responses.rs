//! Answers many operations share, for their `#[utoipa::path]` `responses(...)` lists: the
//! refusals of the admin extractor and the rate limiters, server faults and request timeouts.
//! An operation lists its own answers as tuples beside these.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, ToSchema};

use airlock_core::api::ErrorBody;

use crate::auth::RequiredScope;

type Responses = BTreeMap<String, RefOr<Response>>;

/// A response with a JSON [`ErrorBody`], as `(status = .., description = .., body = ErrorBody)`.
fn error(status: u16, description: &str) -> (String, RefOr<Response>) {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(ErrorBody::name())))
        .build();
    let response = ResponseBuilder::new()
        .description(description)
        .content("application/json", content)
        .build();
    (status.to_string(), RefOr::T(response))
}

/// 429 from a rate limiter (admin and device routes).
pub struct RateLimited;

impl IntoResponses for RateLimited {
    fn responses() -> Responses {
        Responses::from([error(
            429,
            "Rate limited (`Retry-After` says when to retry)",
        )])
    }
}

/// 500: a fault of ours (signing, invalid stored data); 503 `storage_unavailable`: a store is
/// unavailable for now (database unreachable or locked, disk full or read-only, S3 failing),
/// retry after `Retry-After` seconds.
pub struct ServerFault;

impl IntoResponses for ServerFault {
    fn responses() -> Responses {
        let (status, unavailable) = error(
            503,
            "A store is unavailable for now (`storage_unavailable`); retry after `Retry-After` seconds",
        );
        let unavailable = match unavailable {
            RefOr::T(mut response) => {
                response.headers.insert(
                    "Retry-After".to_string(),
                    utoipa::openapi::HeaderBuilder::new()
                        .schema(
                            utoipa::openapi::ObjectBuilder::new()
                                .schema_type(utoipa::openapi::schema::Type::Integer),
                        )
                        .description(Some("Seconds after which the request may succeed"))
                        .build(),
                );
                RefOr::T(response)
            }
            other => other,
        };
        Responses::from([error(500, "Server fault"), (status, unavailable)])
    }
}

/// 404 for a product id that is not published (or malformed).
pub struct UnknownProduct;

impl IntoResponses for UnknownProduct {
    fn responses() -> Responses {
        Responses::from([error(404, "Unknown product (`unknown_product`)")])
    }
}

/// 413 `too_large`: the body is over the endpoint's limit.
pub struct TooLarge;

impl IntoResponses for TooLarge {
    fn responses() -> Responses {
        Responses::from([error(
            413,
            "Body larger than this endpoint accepts (`too_large`)",
        )])
    }
}

/// 408 from the request timeout of check-ins, reports, TUF metadata and admin requests (no
/// body).
pub struct Timeout;

impl IntoResponses for Timeout {
    fn responses() -> Responses {
        let response = ResponseBuilder::new()
            .description("The request took longer than the request timeout")
            .build();
        Responses::from([("408".to_string(), RefOr::T(response))])
    }
}

/// The refusals of [`crate::auth::Admin<S>`] and the admin rate limit: 401 without a valid
/// token, 403 without scope `S`, 429.
pub struct AdminRefusals<S>(PhantomData<S>);

impl<S: RequiredScope> IntoResponses for AdminRefusals<S> {
    fn responses() -> Responses {
        let lacks_scope = format!("The token lacks the `{}` scope", S::SCOPE.as_str());
        let mut responses = Responses::from([
            error(401, "No or invalid admin token"),
            error(403, &lacks_scope),
        ]);
        responses.extend(RateLimited::responses());
        responses
    }
}
