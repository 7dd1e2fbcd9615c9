//! A tiny HTTP/1.1 server for the OAuth2 token and introspection endpoints the tests serve on
//! loopback (Dovecot's `passdb oauth2` calls the introspection URL), shared by the IMAP and SMTP
//! suites.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A tiny HTTP/1.1 server on `listener`: `answer(path, body)` gives (status, JSON).
pub fn serve_http(
    listener: TcpListener,
    answer: impl Fn(&str, &str) -> (u16, String) + Send + Sync + 'static,
) {
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let _ = http_connection(socket, answer.as_ref()).await;
            });
        }
    });
}

async fn http_connection(
    mut socket: TcpStream,
    answer: &(dyn Fn(&str, &str) -> (u16, String) + Send + Sync),
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        // One request: head, then Content-Length bytes of body.
        let (head, body_start) = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break (String::from_utf8_lossy(&buf[..at]).to_string(), at + 4);
            }
            let mut chunk = [0u8; 4096];
            let n = socket.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let length = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim().eq_ignore_ascii_case("content-length").then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0usize);
        while buf.len() < body_start + length {
            let mut chunk = [0u8; 4096];
            let n = socket.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = String::from_utf8_lossy(&buf[body_start..body_start + length]).to_string();
        buf.drain(..body_start + length);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let (status, json) = answer(&path, &body);
        let response = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
            json.len()
        );
        socket.write_all(response.as_bytes()).await?;
    }
}

pub fn form_value(body: &str, key: &str) -> Option<String> {
    url_decode_pairs(body).into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn url_decode_pairs(body: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let bytes = s.replace('+', " ").into_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                if let Ok(b) = u8::from_str_radix(hex, 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).to_string()
    };
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// Binds the introspection address Dovecot was configured with; waits if another suite holds it.
pub async fn bind_introspection(url: &str) -> TcpListener {
    let address = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("URL de introspección inesperada: {url}"))
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match TcpListener::bind(&address).await {
            Ok(listener) => return listener,
            Err(e) if Instant::now() < deadline => {
                eprintln!("introspección {address} ocupada ({e}); reintento");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("no se pudo escuchar en {address}: {e}"),
        }
    }
}
