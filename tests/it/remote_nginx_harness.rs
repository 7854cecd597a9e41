//! The nginx harness of the remote cache tests (`support::nginx`) checked on its own: a real
//! nginx answers like a Bazel HTTP remote cache (PUT/GET/HEAD of `ac/` and `cas/` objects,
//! optional bearer token), and `broken_url` and `kill` fail the way the tests rely on.
//! Requests are raw HTTP/1.1 over a `TcpStream`, so nothing here depends on flavor's client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use support::nginx::{Nginx, NginxOptions};
use support::wait_until;

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// One response: status code and body.
struct Response {
    status: u16,
    body: Vec<u8>,
}

/// `METHOD <url>` with `body` (sent with a Content-Length when `Some`) and extra `headers`,
/// over a fresh connection closed by the server after the response.
fn request(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Response {
    let rest = url.strip_prefix("http://").expect("http:// URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send head");
    stream
        .write_all(body.unwrap_or_default())
        .expect("send body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    Response {
        status,
        body: raw[split + 4..].to_vec(),
    }
}

fn get(url: &str) -> Response {
    request("GET", url, &[], None)
}

fn put(url: &str, body: &[u8]) -> Response {
    request("PUT", url, &[], Some(body))
}

#[test]
fn put_then_get_round_trips_and_stores_the_object() {
    let nginx = Nginx::start();
    let url = format!("{}/cas/{HEX}", nginx.url());
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();

    assert_eq!(put(&url, &bytes).status, 201, "first PUT creates");
    let got = get(&url);
    assert_eq!(got.status, 200);
    assert!(got.body == bytes, "GET returns the bytes PUT stored");
    let head = request("HEAD", &url, &[], None);
    assert_eq!((head.status, head.body.len()), (200, 0));

    let stored = nginx.data_dir().join("cas").join(HEX);
    assert_eq!(nginx.objects("cas"), vec![stored.clone()]);
    assert_eq!(std::fs::read(&stored).expect("stored object"), bytes);
    assert!(nginx.objects("ac").is_empty());

    assert_eq!(put(&url, b"replaced").status, 204, "second PUT replaces");
    assert_eq!(get(&url).body, b"replaced");
    wait_until("the access log", Duration::from_secs(10), || {
        nginx
            .access_log()
            .contains(&format!("PUT /cache/cas/{HEX} 201\n"))
    });
}

#[test]
fn missing_object_is_404() {
    let nginx = Nginx::start();
    let url = format!("{}/ac/{HEX}", nginx.url());
    assert_eq!(get(&url).status, 404);
    assert_eq!(request("HEAD", &url, &[], None).status, 404);
    assert!(nginx.objects("ac").is_empty());
}

#[test]
fn token_is_required_when_set() {
    let nginx = Nginx::start_with(NginxOptions {
        token: Some("s3cret-token".into()),
    });
    let url = format!("{}/ac/{HEX}", nginx.url());
    let good = [("Authorization", "Bearer s3cret-token")];
    let bad = [("Authorization", "Bearer wrong")];

    assert_eq!(put(&url, b"x").status, 401, "no Authorization");
    assert_eq!(request("PUT", &url, &bad, Some(b"x")).status, 401);
    assert!(
        nginx.objects("ac").is_empty(),
        "a refused PUT stores nothing"
    );

    let stored = request("PUT", &url, &good, Some(b"value")).status;
    assert!(stored == 201 || stored == 204, "authorized PUT: {stored}");
    assert_eq!(get(&url).status, 401, "GET needs the token too");
    let got = request("GET", &url, &good, None);
    assert_eq!((got.status, got.body.as_slice()), (200, &b"value"[..]));
    assert_eq!(nginx.objects("ac").len(), 1);
}

#[test]
fn broken_url_answers_500() {
    let nginx = Nginx::start();
    let url = format!("{}/cas/{HEX}", nginx.broken_url());
    assert_eq!(get(&url).status, 500);
    assert_eq!(put(&url, b"x").status, 500);
    assert_eq!(request("HEAD", &url, &[], None).status, 500);
    assert!(nginx.objects("cas").is_empty());
}

#[test]
fn killed_server_refuses_connections() {
    let mut nginx = Nginx::start();
    let addr = ("127.0.0.1", nginx.port());
    assert!(TcpStream::connect(addr).is_ok(), "running server accepts");
    nginx.kill();
    assert!(
        TcpStream::connect(addr).is_err(),
        "killed server must refuse"
    );
    nginx.kill(); // idempotent
}
