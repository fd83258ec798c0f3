//! S3's XML error bodies for preflight answers (spec §2 steps 1-6), byte for byte:
//! element order `Code, Message, Method, ResourceType, RequestId, HostId` (AWS snapshot,
//! [VG] #2083), the 400s without `Method`/`ResourceType`. Every interpolated value is
//! XML-escaped here, because `<Method>` echoes the client's ACRM.

/// Step 1: OPTIONS without `Origin`.
pub const NO_ORIGIN: &str = "Insufficient information. Origin request header needed.";
/// Step 3: the bucket has no CORS configuration.
pub const NOT_ENABLED: &str = "CORSResponse: CORS is not enabled for this bucket.";
/// Step 4 (inferred): ACRM missing.
pub const BAD_METHOD: &str = "Invalid Access-Control-Request-Method: null";
/// Step 6: no rule matched. "evalution" is S3's typo, kept on purpose.
pub const NOT_ALLOWED: &str = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";

const PROLOG: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// A 400 body: `Code, Message, RequestId, HostId`.
pub fn bad_request(message: &str, request_id: &str) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(PROLOG);
    out.push_str("<Error>");
    element(&mut out, "Code", "BadRequest");
    element(&mut out, "Message", message);
    element(&mut out, "RequestId", request_id);
    element(&mut out, "HostId", request_id);
    out.push_str("</Error>");
    out
}

/// A 403 `AccessForbidden` body with `Method` and `ResourceType`.
pub fn forbidden(message: &str, method: &str, resource_type: &str, request_id: &str) -> String {
    let mut out = String::with_capacity(512);
    out.push_str(PROLOG);
    out.push_str("<Error>");
    element(&mut out, "Code", "AccessForbidden");
    element(&mut out, "Message", message);
    element(&mut out, "Method", method);
    element(&mut out, "ResourceType", resource_type);
    element(&mut out, "RequestId", request_id);
    element(&mut out, "HostId", request_id);
    out.push_str("</Error>");
    out
}

fn element(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    escape_into(out, text);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// XML 1.0 element-text escaping: `&`, `<`, `>` only. Quotes need no escaping in text,
/// and S3 writes its own message with a bare `'` ("resource's CORS spec"), so escaping
/// them would break byte equality. Characters XML 1.0 cannot carry at all (C0
/// controls other than TAB/LF/CR) are dropped rather than escaped.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
}
