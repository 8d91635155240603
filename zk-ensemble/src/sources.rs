//! Where the figures come from: the four-letter words on the client port,
//! and the AdminServer's `/commands/...` over HTTP when a word is not
//! whitelisted.

use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What a server said to a four-letter word.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The word's output.
    Text(String),
    /// The word is not whitelisted (3.5+ answer with a sentence). Ask the
    /// AdminServer.
    NotWhitelisted,
    /// The connection closed without a word: an old server refusing a word,
    /// or any server refusing the connection itself (maxClientCnxns). Ask
    /// the AdminServer too.
    Silent,
    /// The server runs but does not serve: no quorum yet, or electing.
    NotServing,
}

const NOT_WHITELISTED: &str = "is not in the whitelist";
const NOT_SERVING: &str = "not currently serving requests";

/// Sends `word` to the client port at `address` and reads the answer to
/// the end (the server closes the connection after answering).
pub async fn four_letter(address: &str, word: &str) -> std::io::Result<Answer> {
    // On loopback even connect() can fail with a reset or a broken pipe
    // when the server accepts and drops the connection first (f62a550).
    let mut stream = match TcpStream::connect(address).await {
        Ok(stream) => stream,
        Err(err) if closed_at_once(&err) => return Ok(Answer::Silent),
        Err(err) => return Err(err),
    };
    let mut bytes = Vec::new();
    let exchange = async {
        stream.write_all(word.as_bytes()).await?;
        read_to_end_capped(&mut stream, &mut bytes, MAX_FOUR_LETTER_BYTES).await
    };
    match exchange.await {
        Ok(_) => {}
        // A server at its maxClientCnxns accepts and drops the connection
        // at once: our write or read then meets a reset or a broken pipe
        // instead of an end of file. Either way it said nothing.
        Err(err) if bytes.is_empty() && closed_at_once(&err) => return Ok(Answer::Silent),
        Err(err) => return Err(err),
    }
    Ok(classify(String::from_utf8_lossy(&bytes).into_owned()))
}

/// The most a four-letter word's answer may hold: `conf` of a large
/// ensemble is a few kilobytes, `mntr` less.
const MAX_FOUR_LETTER_BYTES: u64 = 1024 * 1024;

/// The most an AdminServer answer (head and body) may hold.
const MAX_ADMIN_BYTES: u64 = 8 * 1024 * 1024;

/// Reads to the end, but no more than `max` bytes: a server (or whatever
/// answers on its port) sending without end is an error, not our memory.
async fn read_to_end_capped(
    stream: &mut TcpStream,
    bytes: &mut Vec<u8>,
    max: u64,
) -> std::io::Result<usize> {
    let read = stream.take(max + 1).read_to_end(bytes).await?;
    if read as u64 > max {
        return Err(std::io::Error::other(format!(
            "the answer is larger than {max} bytes; not read further"
        )));
    }
    Ok(read)
}

fn closed_at_once(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::{BrokenPipe, ConnectionAborted, ConnectionReset};
    matches!(err.kind(), BrokenPipe | ConnectionReset | ConnectionAborted)
}

fn classify(text: String) -> Answer {
    if text.trim().is_empty() {
        Answer::Silent
    } else if text.contains(NOT_WHITELISTED) {
        Answer::NotWhitelisted
    } else if text.contains(NOT_SERVING) {
        Answer::NotServing
    } else {
        Answer::Text(text)
    }
}

/// Asks the AdminServer at `host:port` for `/commands/NAME` and returns its
/// JSON object without the `command` and `error` keys. An HTTP error, a
/// non-JSON body or a non-null `error` is an `Err` naming the cause.
pub async fn admin_command(
    host: &str,
    port: u16,
    name: &str,
) -> Result<Map<String, Value>, String> {
    let address = format!("{host}:{port}");
    let fail = |cause: String| format!("AdminServer {address}/commands/{name}: {cause}");
    let url =
        zk_common::http::parse_url(&format!("http://{address}/commands/{name}")).map_err(fail)?;
    let answer = zk_common::http::get(&url, MAX_ADMIN_BYTES as usize)
        .await
        .map_err(fail)?;
    if answer.status != 200 {
        return Err(fail(format!("HTTP {} {}", answer.status, answer.reason)));
    }
    let body = String::from_utf8_lossy(&answer.body);
    let mut object = match serde_json::from_str::<Value>(&body) {
        Ok(Value::Object(object)) => object,
        Ok(_) | Err(_) => return Err(fail("the body is not a JSON object".into())),
    };
    match object.remove("error") {
        None | Some(Value::Null) => {}
        Some(error) => {
            let error = error
                .as_str()
                .map_or_else(|| error.to_string(), str::to_string);
            return Err(fail(error));
        }
    }
    object.remove("command");
    Ok(object)
}

/// Parses `mntr` output (`zk_key<TAB>value` lines) into a map without the
/// `zk_` prefix, so it has the same keys as the AdminServer's `monitor`.
/// Numbers become JSON numbers.
pub fn parse_mntr(text: &str) -> Map<String, Value> {
    text.lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(key, value)| {
            let key = key.trim();
            let key = key.strip_prefix("zk_").unwrap_or(key);
            (key.to_string(), number_or_string(value.trim()))
        })
        .collect()
}

/// `42`, `0.5` and Java's `1.0E-4` as numbers; an integer too large for 64
/// bits stays the exact text (as a float it would silently change);
/// infinity and NaN, which JSON cannot hold, become null; anything else is
/// a string.
pub fn number_or_string(value: &str) -> Value {
    if let Ok(n) = value.parse::<i64>() {
        return n.into();
    }
    if let Ok(n) = value.parse::<u64>() {
        return n.into();
    }
    if is_decimal(value) {
        if let Ok(f) = value.parse::<f64>() {
            if f.is_finite() {
                return f.into();
            }
        }
    }
    let word = value.trim_start_matches(['-', '+']).to_ascii_lowercase();
    if matches!(word.as_str(), "inf" | "infinity" | "nan") {
        return Value::Null;
    }
    value.into()
}

/// A decimal fraction or exponent form: `-0.5`, `12.`, `1.0E-4`, `3e5`.
fn is_decimal(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['-', '+']).unwrap_or(e))),
        None => (unsigned, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    (mantissa.contains('.') || exponent.is_some())
        && !(whole.is_empty() && fraction.is_empty())
        && digits(whole)
        && digits(fraction)
        && exponent.map_or(true, |e| !e.is_empty() && digits(e))
}

/// `Key: value` lines of `srvr` into (key, value) pairs.
pub fn parse_srvr(text: &str) -> Map<String, Value> {
    text.lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(k, v)| (k.trim().to_string(), Value::from(v.trim())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever answers on the port may send without end: the answer is
    /// cut at the cap and reported, not read into memory.
    #[tokio::test]
    async fn an_endless_answer_is_an_error_not_our_memory() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for round in 0..2 {
                let (mut socket, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    // The AdminServer's answer is HTTP with an endless body.
                    if round == 1 {
                        let _ = socket.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await;
                    }
                    let chunk = vec![b'x'; 64 * 1024];
                    while socket.write_all(&chunk).await.is_ok() {}
                });
            }
        });
        let err = four_letter(&address.to_string(), "mntr").await.unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
        let err = admin_command("127.0.0.1", address.port(), "monitor")
            .await
            .unwrap_err();
        assert!(err.contains("larger than"), "{err}");
    }

    #[test]
    fn mntr_numbers_stay_exact_and_json_never_gets_infinity() {
        use serde_json::json;
        assert_eq!(number_or_string("42"), json!(42));
        assert_eq!(number_or_string("-7"), json!(-7));
        assert_eq!(number_or_string("18446744073709551615"), json!(u64::MAX));
        // Beyond 64 bits: the exact text, not 1e+23.
        assert_eq!(
            number_or_string("100000000000000000000000"),
            json!("100000000000000000000000")
        );
        assert_eq!(number_or_string("0.5"), json!(0.5));
        assert_eq!(number_or_string("1.0E-4"), json!(0.0001));
        for silly in ["inf", "-Infinity", "NaN", "+inf"] {
            assert_eq!(number_or_string(silly), Value::Null, "{silly}");
        }
        assert_eq!(number_or_string("1e999"), json!("1e999"));
        for text in ["leader", "3.8.4-abc", "1.2.3", ".", "e5", "1e", ""] {
            assert_eq!(number_or_string(text), json!(text), "{text}");
        }
    }

    #[tokio::test]
    async fn a_connection_reset_before_a_word_is_silent_not_an_error() {
        // As a server at its maxClientCnxns does: accept, then drop with a
        // reset. Several rounds, so the reset comes before our write in
        // some and after it in others.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let rounds = 5;
        let server = tokio::spawn(async move {
            for _ in 0..rounds {
                let (socket, _) = listener.accept().await.unwrap();
                socket.set_zero_linger().unwrap();
                drop(socket);
            }
        });
        for _ in 0..rounds {
            assert_eq!(four_letter(&address, "srvr").await.unwrap(), Answer::Silent);
        }
        server.await.unwrap();
        // A port nobody listens on is still an error: unreachable.
        assert!(four_letter(&address, "srvr").await.is_err());
    }

    #[test]
    fn whitelist_refusals_and_not_serving_are_recognised() {
        assert_eq!(
            classify("mntr is not executed because it is not in the whitelist.\n".into()),
            Answer::NotWhitelisted
        );
        assert_eq!(classify(String::new()), Answer::Silent);
        assert_eq!(
            classify("This ZooKeeper instance is not currently serving requests\n".into()),
            Answer::NotServing
        );
        assert_eq!(classify("imok".into()), Answer::Text("imok".into()));
    }

    #[test]
    fn mntr_keys_lose_their_prefix_and_numbers_parse() {
        let map = parse_mntr("zk_version\t3.8.0-x, built on 2024\nzk_avg_latency\t0.3784\nzk_znode_count\t5\nzk_tiny\t3.0E-4\n");
        assert_eq!(map["version"], "3.8.0-x, built on 2024");
        assert_eq!(map["avg_latency"], 0.3784);
        assert_eq!(map["znode_count"], 5);
        assert_eq!(map["tiny"], 0.0003);
    }

    #[test]
    fn srvr_lines_split_at_the_first_colon() {
        let map = parse_srvr("Zookeeper version: 3.8.0, built on x\nLatency min/avg/max: 0/0.5/39\nZxid: 0x100000002\nMode: follower\n");
        assert_eq!(map["Zookeeper version"], "3.8.0, built on x");
        assert_eq!(map["Latency min/avg/max"], "0/0.5/39");
        assert_eq!(map["Mode"], "follower");
    }
}
