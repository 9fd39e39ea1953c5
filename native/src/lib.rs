//! The ingester's hot loop: an OTLP `ExportTraceServiceRequest` (protobuf bytes) to the rows of
//! the per-request table in COPY text format, without a Python object per span or attribute.
//!
//! It is an exact port of `observatory.ingest.rows` + `observatory.ingest.convert.copy_line` (the
//! reference, in Python): the same rows, byte for byte; `tests/processes/test_ingest_native.py` compares the
//! two on generated traffic and on odd inputs. The caller has already parsed the body with
//! protobuf (which decides what is malformed), so errors here are a second line of defence only.
//!
//! Protobuf wire format: each field is a varint key (field number << 3 | wire type) then a value:
//! 0 varint, 1 fixed 8 bytes, 2 length-delimited (strings, bytes, messages), 5 fixed 4 bytes, and
//! 3/4 the start/end of a deprecated group. A singular field seen twice: the last one wins.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::collections::BTreeSet;

type Result<T> = std::result::Result<T, String>;

#[derive(Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32,
    Bytes(&'a [u8]),
    Group,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            if shift < 64 {
                value |= u64::from(byte & 0x7f) << shift;
            }
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.buf.len());
        let end = end.ok_or("length past the end of the message")?;
        let slice = &self.buf[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    /// The next field, or None at the end of the message.
    fn field(&mut self) -> Result<Option<(u64, Wire<'a>)>> {
        if self.pos >= self.buf.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 {
            return Err("field number 0".into());
        }
        let wire = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().unwrap())),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length too large")?;
                Wire::Bytes(self.take(len)?)
            }
            3 => {
                self.skip_group(number, 0)?;
                Wire::Group
            }
            5 => {
                self.take(4)?;
                Wire::Fixed32
            }
            other => return Err(format!("wire type {other}")),
        };
        Ok(Some((number, wire)))
    }

    fn skip_group(&mut self, number: u64, depth: u32) -> Result<()> {
        if depth > 100 {
            return Err("groups nested too deeply".into());
        }
        loop {
            let key = self.varint()?;
            match key & 7 {
                4 if key >> 3 == number => return Ok(()),
                4 => return Err("mismatched end of group".into()),
                3 => self.skip_group(key >> 3, depth + 1)?,
                0 => drop(self.varint()?),
                1 => drop(self.take(8)?),
                2 => {
                    let len = usize::try_from(self.varint()?).map_err(|_| "length too large")?;
                    self.take(len)?;
                }
                5 => drop(self.take(4)?),
                other => return Err(format!("wire type {other}")),
            }
        }
    }
}

/// The AnyValue variants a row reads; the others (kvlist, bytes) count as "wrong type".
#[derive(Clone, Copy, Default)]
enum Any<'a> {
    #[default]
    Absent,
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Array(Option<&'a str>), // the first value, when it is a string
    Other,
}

fn utf8(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|_| "string is not UTF-8".to_string())
}

fn any_value(buf: &[u8]) -> Result<Any<'_>> {
    let mut value = Any::Other; // a message with no field set: HasField is false for every kind
    let mut reader = Reader::new(buf);
    while let Some((number, wire)) = reader.field()? {
        value = match (number, wire) {
            (1, Wire::Bytes(b)) => Any::Str(utf8(b)?),
            (2, Wire::Varint(v)) => Any::Bool(v != 0),
            (3, Wire::Varint(v)) => Any::Int(v as i64),
            (4, Wire::Fixed64(v)) => Any::Double(f64::from_bits(v)),
            (5, Wire::Bytes(b)) => Any::Array(first_string(b)?),
            (6 | 7, Wire::Bytes(_)) => Any::Other,
            _ => continue,
        };
    }
    Ok(value)
}

/// The first of an ArrayValue's values, when it is a string (`rows._first`).
fn first_string(buf: &[u8]) -> Result<Option<&str>> {
    let mut reader = Reader::new(buf);
    while let Some((number, wire)) = reader.field()? {
        if let (1, Wire::Bytes(b)) = (number, wire) {
            return Ok(match any_value(b)? {
                Any::Str(s) => Some(s),
                _ => None,
            });
        }
    }
    Ok(None)
}

/// The attributes a row reads, by slot; the rest are skipped without being looked at.
const OPERATION: usize = 0;
const REQUEST_MODEL: usize = 1;
const COST: usize = 2;
const UNPRICED: usize = 3;
const TTFT: usize = 4;
const TEAM: usize = 5;
const USER: usize = 6;
const PROVIDER: usize = 7;
const RESPONSE_MODEL: usize = 8;
const ERROR_TYPE: usize = 9;
const FINISH_REASONS: usize = 10;
const INPUT_TOKENS: usize = 11;
const OUTPUT_TOKENS: usize = 12;
const CACHE_READ_TOKENS: usize = 13;
const CACHE_WRITE_TOKENS: usize = 14;
const REASONING_TOKENS: usize = 15;
const PRICE_VERSION: usize = 16;
const ERROR_RAW_TYPE: usize = 17;
const SLOTS: usize = 18;

fn span_slot(key: &[u8]) -> Option<usize> {
    Some(match key {
        b"gen_ai.operation.name" => OPERATION,
        b"gen_ai.request.model" => REQUEST_MODEL,
        b"llm.cost.usd" => COST,
        b"llm.cost.unpriced" => UNPRICED,
        b"gen_ai.response.time_to_first_chunk" => TTFT,
        b"team" => TEAM,
        b"user.id" => USER,
        b"gen_ai.provider.name" => PROVIDER,
        b"gen_ai.response.model" => RESPONSE_MODEL,
        b"error.type" => ERROR_TYPE,
        b"gen_ai.response.finish_reasons" => FINISH_REASONS,
        b"gen_ai.usage.input_tokens" => INPUT_TOKENS,
        b"gen_ai.usage.output_tokens" => OUTPUT_TOKENS,
        b"gen_ai.usage.cache_read.input_tokens" => CACHE_READ_TOKENS,
        b"gen_ai.usage.cache_creation.input_tokens" => CACHE_WRITE_TOKENS,
        b"gen_ai.usage.reasoning.output_tokens" => REASONING_TOKENS,
        b"llm.cost.price_effective_from" => PRICE_VERSION,
        b"llm.error.raw_type" => ERROR_RAW_TYPE,
        _ => return None,
    })
}

fn resource_slot(key: &[u8]) -> Option<usize> {
    Some(match key {
        b"service.name" => 0,
        b"deployment.environment.name" => 1,
        b"team" => 2,
        _ => return None,
    })
}

/// Reads a repeated KeyValue into `slots` (last one wins, as a Python dict built from the list).
fn key_value<'a>(
    buf: &'a [u8],
    slot_of: fn(&[u8]) -> Option<usize>,
    slots: &mut [Any<'a>],
) -> Result<()> {
    let (mut key, mut value): (Option<&[u8]>, Option<&[u8]>) = (None, None);
    let mut reader = Reader::new(buf);
    while let Some((number, wire)) = reader.field()? {
        match (number, wire) {
            (1, Wire::Bytes(b)) => key = Some(b),
            (2, Wire::Bytes(b)) => value = Some(b),
            _ => {}
        }
    }
    // A KeyValue without a key has the key "" (proto3 default), which no slot has.
    if let Some(slot) = slot_of(key.unwrap_or(b"")) {
        utf8(key.unwrap_or(b""))?;
        // A KeyValue without a value reads as an AnyValue with nothing set.
        slots[slot] = match value {
            Some(v) => any_value(v)?,
            None => Any::Other,
        };
    }
    Ok(())
}

fn as_str<'a>(value: Any<'a>) -> Option<&'a str> {
    match value {
        Any::Str(s) => Some(s),
        _ => None,
    }
}

fn as_float(value: Any<'_>) -> Option<f64> {
    match value {
        Any::Double(d) => Some(d),
        Any::Int(i) => Some(i as f64),
        _ => None,
    }
}

/// `YYYY-MM-DD` and a real date, else None (`rows._day`).
fn as_day(value: Any<'_>) -> Option<&str> {
    let text = as_str(value)?;
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !digits(0..4)
        || !digits(5..7)
        || !digits(8..10)
    {
        return None;
    }
    let number = |r: std::ops::Range<usize>| text[r].parse::<u32>().ok();
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let valid = year >= 1
        && (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month[month as usize - 1];
    valid.then_some(text)
}

/// (year, month, day) of a count of days since 1970-01-01 (H. Hinnant's civil_from_days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// COPY text of a string: backslash, tab, newline and carriage return escaped; NUL, which
/// PostgreSQL text cannot hold, replaced by U+FFFD. Whether there was a NUL to replace.
fn push_text(out: &mut Vec<u8>, text: &str) -> bool {
    let mut repaired = false;
    for &byte in text.as_bytes() {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0 => {
                out.extend_from_slice("\u{fffd}".as_bytes());
                repaired = true;
            }
            _ => out.push(byte),
        }
    }
    repaired
}

fn push_opt_text(out: &mut Vec<u8>, text: Option<&str>) -> bool {
    match text {
        Some(t) => push_text(out, t),
        None => {
            out.extend_from_slice(b"\\N");
            false
        }
    }
}

/// A float as Python's repr() writes it: the shortest digits that read back to the same value,
/// in positional notation for exponents -4..15 and scientific otherwise ("1e-05", "1.5e+16").
fn push_float(out: &mut Vec<u8>, value: f64) {
    if value.is_nan() {
        return out.extend_from_slice(b"nan");
    }
    if value.is_infinite() {
        return out.extend_from_slice(if value > 0.0 { b"inf" } else { b"-inf" });
    }
    if value.is_sign_negative() {
        out.push(b'-');
    }
    if value == 0.0 {
        return out.extend_from_slice(b"0.0");
    }
    let sci = python_digits(value.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap();
    let exponent: i32 = exponent.parse().unwrap();
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    if (-4..16).contains(&exponent) {
        if exponent >= 0 {
            let whole = exponent as usize + 1;
            if digits.len() <= whole {
                out.extend_from_slice(&digits);
                out.resize(out.len() + whole - digits.len(), b'0');
                out.extend_from_slice(b".0");
            } else {
                out.extend_from_slice(&digits[..whole]);
                out.push(b'.');
                out.extend_from_slice(&digits[whole..]);
            }
        } else {
            out.extend_from_slice(b"0.");
            out.resize(out.len() + (-exponent - 1) as usize, b'0');
            out.extend_from_slice(&digits);
        }
    } else {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        out.extend_from_slice(format!("e{sign}{:02}", exponent.abs()).as_bytes());
    }
}

/// The digits of repr(value) in Rust's scientific form ("1.2345e-5"). Rust's shortest form has as
/// few digits as Python's, but when two strings of that length read back to the value it may pick
/// the other one; Python picks the one nearest the exact binary value, which is what formatting
/// to that many digits gives (correctly rounded, ties to even).
fn python_digits(value: f64) -> String {
    let shortest = format!("{value:e}");
    let digits = shortest
        .split_once('e')
        .unwrap()
        .0
        .bytes()
        .filter(u8::is_ascii_digit)
        .count();
    let nearest = format!("{value:.*e}", digits - 1);
    if nearest.parse::<f64>() == Ok(value) {
        nearest
    } else {
        shortest
    }
}

fn push_opt_float(out: &mut Vec<u8>, value: Option<f64>) {
    match value {
        Some(v) => push_float(out, v),
        None => out.extend_from_slice(b"\\N"),
    }
}

fn push_opt_int(out: &mut Vec<u8>, value: Any<'_>) {
    match value {
        Any::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        _ => out.extend_from_slice(b"\\N"),
    }
}

fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 15)]);
    }
}

/// A span start as Python's datetime.isoformat() writes it in UTC, to the microsecond (truncated).
fn push_time(out: &mut Vec<u8>, unix_nano: u64) -> i64 {
    let micros = unix_nano / 1000;
    let (seconds, fraction) = (micros / 1_000_000, micros % 1_000_000);
    let day = (seconds / 86_400) as i64;
    let second_of_day = seconds % 86_400;
    let (year, month, dom) = civil_from_days(day);
    let (h, m, s) = (
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    );
    let text = if fraction == 0 {
        format!("{year:04}-{month:02}-{dom:02}T{h:02}:{m:02}:{s:02}+00:00")
    } else {
        format!("{year:04}-{month:02}-{dom:02}T{h:02}:{m:02}:{s:02}.{fraction:06}+00:00")
    };
    out.extend_from_slice(text.as_bytes());
    day
}

struct Resource<'a> {
    application: &'a str,
    environment: &'a str,
    team: Option<&'a str>,
}

/// Reads a Resource's attributes into `slots`; a Resource seen twice merges, as protobuf does.
fn resource<'a>(buf: &'a [u8], slots: &mut [Any<'a>; 3]) -> Result<()> {
    let mut reader = Reader::new(buf);
    while let Some((number, wire)) = reader.field()? {
        if let (1, Wire::Bytes(b)) = (number, wire) {
            key_value(b, resource_slot, slots)?;
        }
    }
    Ok(())
}

/// service.name, deployment.environment.name ("unknown" when absent or empty) and team.
fn resolve<'a>(slots: &[Any<'a>; 3]) -> Resource<'a> {
    let non_empty = |value: Any<'a>| as_str(value).filter(|s| !s.is_empty());
    Resource {
        application: non_empty(slots[0]).unwrap_or("unknown"),
        environment: non_empty(slots[1]).unwrap_or("unknown"),
        team: as_str(slots[2]),
    }
}

/// Why a row is refused, in the order the checks run; `observatory.ingest.rows.REFUSALS`.
const BAD_ID: usize = 0;
const START_TOO_OLD: usize = 1;
const START_IN_FUTURE: usize = 2;
const NEGATIVE_DURATION: usize = 3;
const END_IN_FUTURE: usize = 4;
const BAD_TOKENS: usize = 5;
const BAD_COST: usize = 6;
const BAD_TTFT: usize = 7;
const REFUSALS: usize = 8;

/// Where a span is in its request: (resource spans, scope spans, span) indices.
type Position = (usize, usize, usize);

struct Output {
    data: Vec<u8>,
    rows: usize,
    spans: usize,
    days: BTreeSet<i64>,
    refused: [usize; REFUSALS],
    first_refused: [Option<Position>; REFUSALS], // where the first span refused for each reason is
    repaired: usize,
}

/// The start times a row may have (nanoseconds since 1970, inclusive).
#[derive(Clone, Copy)]
struct Window {
    earliest: u64,
    latest: u64,
}

/// Not a number (absent, or another type: NULL), or a finite number >= 0 (`rows._number_ok`).
fn number_ok(value: Any<'_>) -> bool {
    match as_float(value) {
        Some(n) => n.is_finite() && n >= 0.0,
        None => true,
    }
}

/// Why a span's row cannot be stored (`rows._refusal`), or None.
#[allow(clippy::too_many_arguments)]
fn refusal(
    trace_id: &[u8],
    span_id: &[u8],
    start: u64,
    end: u64,
    slots: &[Any<'_>; SLOTS],
    window: Window,
) -> Option<usize> {
    let zero = |id: &[u8]| id.iter().all(|&b| b == 0);
    if trace_id.len() != 16 || span_id.len() != 8 || zero(trace_id) || zero(span_id) {
        return Some(BAD_ID);
    }
    if start < window.earliest {
        return Some(START_TOO_OLD);
    }
    if start > window.latest {
        return Some(START_IN_FUTURE);
    }
    if end < start {
        return Some(NEGATIVE_DURATION);
    }
    // A span is exported after it ends: an end past the window's is a broken clock, and would be
    // stored as a duration of up to 584 years.
    if end > window.latest {
        return Some(END_IN_FUTURE);
    }
    let tokens = [
        INPUT_TOKENS,
        OUTPUT_TOKENS,
        CACHE_READ_TOKENS,
        CACHE_WRITE_TOKENS,
        REASONING_TOKENS,
    ];
    // A count is a whole number >= 0; another type (a string) reads as NULL, like any attribute.
    let count_ok = |slot: usize| match slots[slot] {
        Any::Int(i) => i >= 0,
        Any::Double(_) => false,
        _ => true,
    };
    if !tokens.iter().all(|&slot| count_ok(slot)) {
        return Some(BAD_TOKENS);
    }
    if !number_ok(slots[COST]) {
        return Some(BAD_COST);
    }
    // Stored in milliseconds: a finite number of seconds can still overflow to infinity there.
    if !number_ok(slots[TTFT]) || as_float(slots[TTFT]).is_some_and(|s| !(s * 1000.0).is_finite()) {
        return Some(BAD_TTFT);
    }
    None
}

fn span(
    buf: &[u8],
    res: &Resource<'_>,
    llm_operations: &[String],
    window: Window,
    position: Position,
    out: &mut Output,
) -> Result<()> {
    let (mut trace_id, mut span_id): (&[u8], &[u8]) = (b"", b"");
    let (mut start, mut end, mut status) = (0u64, 0u64, 0i32);
    let mut slots = [Any::Absent; SLOTS];
    let mut reader = Reader::new(buf);
    while let Some((number, wire)) = reader.field()? {
        match (number, wire) {
            (1, Wire::Bytes(b)) => trace_id = b,
            (2, Wire::Bytes(b)) => span_id = b,
            (7, Wire::Fixed64(v)) => start = v,
            (8, Wire::Fixed64(v)) => end = v,
            (9, Wire::Bytes(b)) => key_value(b, span_slot, &mut slots)?,
            (15, Wire::Bytes(b)) => status = status_code(b, status)?,
            _ => {}
        }
    }
    out.spans += 1;
    // The collector's filter/llm_only: an LLM operation, and a provider or a model.
    let Some(operation) = as_str(slots[OPERATION]) else {
        return Ok(());
    };
    if !llm_operations.iter().any(|op| op == operation) {
        return Ok(());
    }
    let model = as_str(slots[REQUEST_MODEL]).filter(|m| !m.is_empty());
    let named = |slot: usize| as_str(slots[slot]).is_some_and(|v| !v.is_empty());
    if model.is_none() && !named(PROVIDER) && !named(RESPONSE_MODEL) {
        return Ok(());
    }
    if let Some(reason) = refusal(trace_id, span_id, start, end, &slots, window) {
        out.refused[reason] += 1;
        out.first_refused[reason].get_or_insert(position);
        return Ok(());
    }
    let mut repaired = 0;
    let cost = as_float(slots[COST]);
    let unpriced = match slots[UNPRICED] {
        Any::Bool(b) => b,
        _ => cost.is_none(), // a span the collector did not price counts as unpriced
    };
    let team = res.team.filter(|t| !t.is_empty()).or(as_str(slots[TEAM]));
    let finish_reason = match slots[FINISH_REASONS] {
        Any::Array(first) => first,
        other => as_str(other),
    };
    let o = &mut out.data;
    out.days.insert(push_time(o, start));
    for field in [trace_id, span_id] {
        o.push(b'\t');
        push_hex(o, field);
    }
    for text in [
        Some(res.application),
        Some(res.environment),
        team,
        as_str(slots[USER]),
    ] {
        o.push(b'\t');
        repaired += usize::from(push_opt_text(o, text));
    }
    let status = match status {
        1 => "ok",
        2 => "error",
        _ => "unset",
    };
    let texts = [
        as_str(slots[PROVIDER]),
        model,
        as_str(slots[RESPONSE_MODEL]),
        Some(operation),
        Some(status),
        as_str(slots[ERROR_TYPE]),
        finish_reason,
    ];
    for text in texts {
        o.push(b'\t');
        repaired += usize::from(push_opt_text(o, text));
    }
    o.push(b'\t');
    push_float(o, (end - start) as f64 / 1e6);
    o.push(b'\t');
    push_opt_float(o, as_float(slots[TTFT]).map(|seconds| seconds * 1000.0));
    for slot in [
        INPUT_TOKENS,
        OUTPUT_TOKENS,
        CACHE_READ_TOKENS,
        CACHE_WRITE_TOKENS,
        REASONING_TOKENS,
    ] {
        o.push(b'\t');
        push_opt_int(o, slots[slot]);
    }
    o.push(b'\t');
    push_opt_float(o, cost);
    o.extend_from_slice(if unpriced { b"\tt\t" } else { b"\tf\t" });
    repaired += usize::from(push_opt_text(o, as_day(slots[PRICE_VERSION])));
    o.push(b'\t');
    repaired += usize::from(push_opt_text(o, as_str(slots[ERROR_RAW_TYPE])));
    o.push(b'\n');
    out.rows += 1;
    out.repaired += repaired;
    Ok(())
}

/// Span.status.code (field 3 of Status), merged into the code seen so far like protobuf does.
fn status_code(buf: &[u8], mut code: i32) -> Result<i32> {
    let mut reader = Reader::new(buf);
    while let Some((number, wire)) = reader.field()? {
        if let (3, Wire::Varint(v)) = (number, wire) {
            code = v as i64 as i32;
        }
    }
    Ok(code)
}

fn request(body: &[u8], llm_operations: &[String], window: Window) -> Result<Output> {
    let mut out = Output {
        data: Vec::with_capacity(body.len() / 2),
        rows: 0,
        spans: 0,
        days: BTreeSet::new(),
        refused: [0; REFUSALS],
        first_refused: [None; REFUSALS],
        repaired: 0,
    };
    let mut reader = Reader::new(body);
    let mut resource_index = 0;
    while let Some((number, wire)) = reader.field()? {
        let (1, Wire::Bytes(resource_spans)) = (number, wire) else {
            continue;
        };
        resource_index += 1;
        let (mut slots, mut scopes) = ([Any::Absent; 3], vec![]);
        let mut inner = Reader::new(resource_spans);
        while let Some((number, wire)) = inner.field()? {
            match (number, wire) {
                (1, Wire::Bytes(b)) => resource(b, &mut slots)?,
                (2, Wire::Bytes(b)) => scopes.push(b),
                _ => {}
            }
        }
        let res = resolve(&slots);
        for (scope_index, scope) in scopes.into_iter().enumerate() {
            let mut inner = Reader::new(scope);
            let mut span_index = 0;
            while let Some((number, wire)) = inner.field()? {
                if let (2, Wire::Bytes(b)) = (number, wire) {
                    let position = (resource_index - 1, scope_index, span_index);
                    span(b, &res, llm_operations, window, position, &mut out)?;
                    span_index += 1;
                }
            }
        }
    }
    Ok(out)
}

/// (COPY text, rows, spans, days, refused, first refused, repaired) of a protobuf
/// ExportTraceServiceRequest: a row per LLM span (an operation in `llm_operations` with a provider or
/// a model) that can be true and starts in [earliest, latest] (ns since 1970); days as days since
/// 1970-01-01 (UTC); refused spans counted by reason (`rows.REFUSALS` order), and the position
/// (resource, scope, span) of the first one for each reason; repaired: text values whose NUL became
/// U+FFFD.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn copy_rows<'py>(
    py: Python<'py>,
    body: &[u8],
    llm_operations: Vec<String>,
    earliest: u64,
    latest: u64,
) -> PyResult<(
    Bound<'py, PyBytes>,
    usize,
    usize,
    Vec<i64>,
    Vec<usize>,
    Vec<Option<Position>>,
    usize,
)> {
    let window = Window { earliest, latest };
    let out = py
        .detach(|| request(body, &llm_operations, window))
        .map_err(|reason| PyValueError::new_err(format!("malformed OTLP protobuf: {reason}")))?;
    Ok((
        PyBytes::new(py, &out.data),
        out.rows,
        out.spans,
        out.days.into_iter().collect(),
        out.refused.to_vec(),
        out.first_refused.to_vec(),
        out.repaired,
    ))
}

#[pymodule]
fn observatory_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(copy_rows, m)?)
}
