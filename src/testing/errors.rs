//! Error answers as S3 (`<Error>`) and STS/IAM (`<ErrorResponse>`) send them.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// An S3 error response (XML `<Error>` with `code`).
pub fn s3_error(status: u16, code: &str) -> HttpResponse {
    s3_error_saying(status, code, &format!("{code} from the fake"))
}

/// An S3 error response with `code` and `message`.
pub fn s3_error_saying(status: u16, code: &str, message: &str) -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message><RequestId>r</RequestId></Error>"
        )),
    )
}

/// An STS or IAM error response (XML `<ErrorResponse>` with `code`).
pub fn query_error(status: u16, code: &str) -> HttpResponse {
    HttpResponse::new(
        StatusCode::try_from(status).unwrap(),
        SdkBody::from(format!(
            "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{code} from the fake</Message></Error><RequestId>r</RequestId></ErrorResponse>"
        )),
    )
}
