//! One Parquet cell as the text a CSV writer writes for it: numbers in their shortest exact form,
//! whole floats without a fraction, NaN as `NaN`, dates and times in ISO form, text quoted where
//! a CSV field must be. [`Batch`] gives a decoded batch's cells to the CSV reader's typed entry
//! point (`read::read_typed`), floats as numbers, everything else as that text; [`render`] writes
//! a batch as CSV lines, the text diagnostics show. It knows nothing of files or columns' roles.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    ArrowTemporalType, Date32Type, Date64Type, Float16Type, Float32Type, Float64Type, Int16Type,
    Int32Type, Int64Type, Int8Type, Time32MillisecondType, Time32SecondType, Time64MicrosecondType,
    Time64NanosecondType, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, PrimitiveArray, RecordBatch, StringArray};
use arrow_schema::{DataType, TimeUnit};

use crate::data::read::TypedRows;

/// A decoded batch with every column of the table in place: the columns left out (not decoded)
/// are empty.
pub(super) struct Batch<'a> {
    rows: usize,
    columns: Vec<Column<'a>>,
}

impl<'a> Batch<'a> {
    /// `batch` holds the decoded columns only, in order; `decoded` says which of the table's
    /// columns they are.
    pub fn new(batch: &'a RecordBatch, decoded: &[bool]) -> Self {
        let mut arrays = batch.columns().iter();
        let columns = (decoded.iter())
            .map(|&d| match d {
                true => arrays
                    .next()
                    .map_or(Column::Empty, |a| Column::of(a.as_ref())),
                false => Column::Empty,
            })
            .collect();
        Batch {
            rows: batch.num_rows(),
            columns,
        }
    }

    /// The rows as CSV lines appended to `out`.
    pub fn render(&self, out: &mut Vec<u8>) {
        let mut scratch = Vec::new();
        for row in 0..self.rows {
            for (i, column) in self.columns.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                match column.bytes(row, &mut scratch) {
                    // A line of one empty cell would be a blank line, which CSV readers skip.
                    b"" if self.columns.len() == 1 => out.extend_from_slice(b"\"\""),
                    bytes => write_text(out, bytes),
                }
            }
            out.push(b'\n');
        }
    }
}

impl TypedRows for Batch<'_> {
    fn rows(&self) -> usize {
        self.rows
    }

    #[inline]
    fn number(&self, row: usize, col: usize) -> Option<f64> {
        match &self.columns[col] {
            Column::F64(a) if a.is_valid(row) => Some(a.value(row)),
            _ => None,
        }
    }

    fn text<'s>(&'s self, row: usize, col: usize, scratch: &'s mut Vec<u8>) -> Result<&'s str, ()> {
        match &self.columns[col] {
            // Text arrays hold UTF-8 already.
            Column::Text(a) if a.is_valid(row) => Ok(a.value(row)),
            column => std::str::from_utf8(column.bytes(row, scratch)).map_err(|_| ()),
        }
    }
}

/// A column of a batch, resolved once per batch: the common types reach their values without
/// dispatching on the type per cell.
enum Column<'a> {
    Empty,
    F64(&'a PrimitiveArray<Float64Type>),
    Text(&'a StringArray),
    Other(&'a dyn Array),
}

impl<'a> Column<'a> {
    fn of(array: &'a dyn Array) -> Self {
        match array.data_type() {
            DataType::Null => Column::Empty,
            DataType::Float64 => Column::F64(array.as_primitive()),
            DataType::Utf8 => Column::Text(array.as_string()),
            _ => Column::Other(array),
        }
    }

    /// The cell's text before quoting (empty for a null): from the array where it holds it as
    /// bytes, else written into `scratch`.
    fn bytes<'s>(&'s self, row: usize, scratch: &'s mut Vec<u8>) -> &'s [u8] {
        let array: &dyn Array = match self {
            Column::Empty => return b"",
            Column::F64(a) => *a,
            Column::Text(a) => *a,
            Column::Other(a) => *a,
        };
        if array.is_null(row) {
            return b"";
        }
        match self {
            Column::Text(a) => return a.value(row).as_bytes(),
            Column::Other(a) => match a.data_type() {
                DataType::Binary => return a.as_binary::<i32>().value(row),
                DataType::LargeBinary => return a.as_binary::<i64>().value(row),
                DataType::BinaryView => return a.as_binary_view().value(row),
                DataType::LargeUtf8 => return a.as_string::<i64>().value(row).as_bytes(),
                DataType::Utf8View => return a.as_string_view().value(row).as_bytes(),
                _ => {}
            },
            _ => {}
        }
        scratch.clear();
        write_value(scratch, array, row);
        scratch
    }
}

/// One non-null value, unquoted, as a CSV writer writes it: numbers in their shortest round-trip
/// form (so an f32 column reads as the decimals it was written from, as its CSV would) and whole
/// floats without a fraction, NaN as `NaN` (a missing value to nnc), dates and times in ISO form.
fn write_value(out: &mut Vec<u8>, array: &dyn Array, row: usize) {
    use std::io::Write;
    use DataType::*;
    let mut text = |s: &dyn std::fmt::Display| {
        write!(out, "{s}").expect("invariant: writing to a Vec cannot fail");
    };
    match array.data_type() {
        Null => {}
        Boolean => text(&array.as_boolean().value(row)),
        Int8 => text(&array.as_primitive::<Int8Type>().value(row)),
        Int16 => text(&array.as_primitive::<Int16Type>().value(row)),
        Int32 => text(&array.as_primitive::<Int32Type>().value(row)),
        Int64 => text(&array.as_primitive::<Int64Type>().value(row)),
        UInt8 => text(&array.as_primitive::<UInt8Type>().value(row)),
        UInt16 => text(&array.as_primitive::<UInt16Type>().value(row)),
        UInt32 => text(&array.as_primitive::<UInt32Type>().value(row)),
        UInt64 => text(&array.as_primitive::<UInt64Type>().value(row)),
        Float16 => write_f32(out, array.as_primitive::<Float16Type>().value(row).to_f32()),
        Float32 => write_f32(out, array.as_primitive::<Float32Type>().value(row)),
        Float64 => write_f64(out, array.as_primitive::<Float64Type>().value(row)),
        Utf8 => out.extend_from_slice(array.as_string::<i32>().value(row).as_bytes()),
        LargeUtf8 => out.extend_from_slice(array.as_string::<i64>().value(row).as_bytes()),
        Utf8View => out.extend_from_slice(array.as_string_view().value(row).as_bytes()),
        Binary => out.extend_from_slice(array.as_binary::<i32>().value(row)),
        LargeBinary => out.extend_from_slice(array.as_binary::<i64>().value(row)),
        BinaryView => out.extend_from_slice(array.as_binary_view().value(row)),
        Date32 => text(&temporal::<Date32Type>(array, row)),
        Date64 => text(&temporal::<Date64Type>(array, row)),
        Timestamp(TimeUnit::Second, _) => text(&temporal::<TimestampSecondType>(array, row)),
        Timestamp(TimeUnit::Millisecond, _) => {
            text(&temporal::<TimestampMillisecondType>(array, row))
        }
        Timestamp(TimeUnit::Microsecond, _) => {
            text(&temporal::<TimestampMicrosecondType>(array, row))
        }
        Timestamp(TimeUnit::Nanosecond, _) => {
            text(&temporal::<TimestampNanosecondType>(array, row))
        }
        Time32(TimeUnit::Second) => text(&temporal::<Time32SecondType>(array, row)),
        Time32(TimeUnit::Millisecond) => text(&temporal::<Time32MillisecondType>(array, row)),
        Time64(TimeUnit::Microsecond) => text(&temporal::<Time64MicrosecondType>(array, row)),
        Time64(TimeUnit::Nanosecond) => text(&temporal::<Time64NanosecondType>(array, row)),
        Decimal32(_, _) => text(
            &array
                .as_primitive::<arrow_array::types::Decimal32Type>()
                .value_as_string(row),
        ),
        Decimal64(_, _) => text(
            &array
                .as_primitive::<arrow_array::types::Decimal64Type>()
                .value_as_string(row),
        ),
        Decimal128(_, _) => text(
            &array
                .as_primitive::<arrow_array::types::Decimal128Type>()
                .value_as_string(row),
        ),
        Decimal256(_, _) => text(
            &array
                .as_primitive::<arrow_array::types::Decimal256Type>()
                .value_as_string(row),
        ),
        other => unreachable!("invariant: `readable` admitted only rendered types, not {other}"),
    }
}

fn write_integer(out: &mut Vec<u8>, v: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// A float as CSV writers write one: the shortest text that reads back as the same value, `NaN`,
/// `inf` and `-inf`; a whole number without a fraction (`3`, not `3.0`), so that a class label
/// stored as a float reads as the label it was written from.
fn write_f64(out: &mut Vec<u8>, v: f64) {
    if !write_special(out, v) && !write_short_decimal(out, v) {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    }
}

/// Powers of ten that are exact f64s.
const POW10: [f64; 8] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7];

/// `v` as `m / 10^k` written out (`-0.0123`), for the fewest fraction digits k ≤ 7 at which that
/// quotient, correctly rounded, is `v` itself, with |m| < 2^53; false when there is none. Most
/// data was written as short decimals, and this finds them several times faster than a general
/// shortest-form search. The text reads back as exactly `v` (the division of two exact f64s is
/// what parsing it computes), so it reads as the value a CSV writer's shortest form reads as.
fn write_short_decimal(out: &mut Vec<u8>, v: f64) -> bool {
    for (k, &scale) in POW10.iter().enumerate().skip(1) {
        let scaled = v * scale;
        if scaled.abs() >= 9.0e15 {
            return false;
        }
        // Rounded by a cast rather than `f64::round` (a library call on baseline x86-64); an
        // off-by-one candidate only fails the exact check below.
        let m = (scaled + 0.5f64.copysign(scaled)) as i64 as f64;
        if m / scale == v {
            let mut buffer = itoa::Buffer::new();
            let digits = buffer.format(m.abs() as u64).as_bytes();
            if v < 0.0 {
                out.push(b'-');
            }
            let whole = digits.len().saturating_sub(k);
            match whole {
                0 => out.push(b'0'),
                _ => out.extend_from_slice(&digits[..whole]),
            }
            out.push(b'.');
            out.extend(std::iter::repeat_n(b'0', k.saturating_sub(digits.len())));
            out.extend_from_slice(&digits[whole..]);
            return true;
        }
    }
    false
}

/// [`write_f64`] for an f32, in the shortest form of its own width: `5.1` for the f32 nearest
/// 5.1, not its 17 f64 digits, as a CSV writer writes it.
fn write_f32(out: &mut Vec<u8>, v: f32) {
    if !write_special(out, f64::from(v)) {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    }
}

/// NaN, the infinities and whole numbers (below 2^53 in magnitude, where every whole float is
/// exact in an i64); false for anything else.
fn write_special(out: &mut Vec<u8>, v: f64) -> bool {
    match v {
        v if v.is_nan() => out.extend_from_slice(b"NaN"),
        f64::INFINITY => out.extend_from_slice(b"inf"),
        f64::NEG_INFINITY => out.extend_from_slice(b"-inf"),
        v if v.fract() == 0.0 && v.abs() < 9.0e15 => {
            if v == 0.0 && v.is_sign_negative() {
                out.push(b'-');
            }
            write_integer(out, v as i64);
        }
        _ => return false,
    }
    true
}

/// A date, time or timestamp in ISO 8601 form (`2024-03-01`, `2024-03-01 12:30:00`, in UTC for
/// a timestamp with a time zone); the raw count where it is out of the calendar's range.
fn temporal<T: ArrowTemporalType>(array: &dyn Array, row: usize) -> String
where
    i64: From<T::Native>,
    T::Native: std::fmt::Display,
{
    let array: &PrimitiveArray<T> = array.as_primitive::<T>();
    let shown = match T::DATA_TYPE {
        DataType::Time32(_) | DataType::Time64(_) => {
            array.value_as_time(row).map(|t| t.to_string())
        }
        DataType::Date32 | DataType::Date64 => array.value_as_date(row).map(|d| d.to_string()),
        _ => array.value_as_datetime(row).map(|d| d.to_string()),
    };
    shown.unwrap_or_else(|| array.value(row).to_string())
}

/// Text or bytes as one CSV field: quoted, with quotes doubled, when it holds the delimiter, a
/// quote or a line break; as it is otherwise.
pub(super) fn write_text(out: &mut Vec<u8>, bytes: &[u8]) {
    let quote = bytes
        .iter()
        .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
    if !quote {
        out.extend_from_slice(bytes);
        return;
    }
    out.push(b'"');
    for &b in bytes {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{
        ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
        Float64Array, Int64Array, StringArray, Time64MicrosecondArray, TimestampMillisecondArray,
        UInt8Array,
    };
    use std::sync::Arc;

    fn rendered(columns: Vec<(&str, ArrayRef)>, decoded: &[bool]) -> String {
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let mut out = Vec::new();
        Batch::new(&batch, decoded).render(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn values_are_written_as_a_csv_writer_writes_them() {
        let columns: Vec<(&str, ArrayRef)> = vec![
            (
                "f32",
                Arc::new(Float32Array::from(vec![Some(5.1), None, Some(1e-7)])),
            ),
            (
                "f64",
                Arc::new(Float64Array::from(vec![3.0, f64::NAN, 0.1 + 0.2])),
            ),
            (
                "inf",
                Arc::new(Float64Array::from(vec![
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    1e300,
                ])),
            ),
            ("int", Arc::new(Int64Array::from(vec![-7, i64::MAX, 0]))),
            ("u8", Arc::new(UInt8Array::from(vec![255, 0, 1]))),
            (
                "ok",
                Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
            ),
            (
                "text",
                Arc::new(StringArray::from(vec![
                    Some("a, b"),
                    Some("say \"hi\""),
                    Some("two\nlines"),
                ])),
            ),
            ("day", Arc::new(Date32Array::from(vec![0, 19_783, -1]))),
            (
                "at",
                Arc::new(TimestampMillisecondArray::from(vec![
                    0,
                    1_709_296_200_500,
                    -1000,
                ])),
            ),
            (
                "time",
                Arc::new(Time64MicrosecondArray::from(vec![0, 45_000_000_000, 1])),
            ),
            (
                "price",
                Arc::new(
                    Decimal128Array::from(vec![12345, -5, 0])
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
            ),
            (
                "raw",
                Arc::new(BinaryArray::from(vec![&b"x"[..], &b"\xff"[..], &b""[..]])),
            ),
        ];
        let all = [true; 12];
        let text = rendered(columns, &all);
        let expected = "\
5.1,3,inf,-7,255,true,\"a, b\",1970-01-01,1970-01-01 00:00:00,00:00:00,123.45,x
,NaN,-inf,9223372036854775807,0,false,\"say \"\"hi\"\"\",2024-03-01,2024-03-01 12:30:00.500,12:30:00,-0.05,\u{fffd}
1e-7,0.30000000000000004,1e300,0,1,,\"two
lines\",1969-12-31,1969-12-31 23:59:59,00:00:00.000001,0.00,
";
        // The binary cell's byte 0xFF is written as it is (shown here as U+FFFD): the CSV
        // reader reports it as not UTF-8, at its cell.
        assert_eq!(text, expected);
    }

    #[test]
    fn every_float_reads_back_as_itself() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let check = |v: f64| {
            let mut out = Vec::new();
            write_f64(&mut out, v);
            let text = String::from_utf8(out).unwrap();
            let back: f64 = crate::data::number::parse_f64(&text).unwrap();
            assert_eq!(back.to_bits(), v.to_bits(), "{v:?} written as {text}");
            let ryu_back: f64 = ryu::Buffer::new().format(v).parse().unwrap();
            assert_eq!(back.to_bits(), ryu_back.to_bits(), "{v:?}");
        };
        for v in [
            0.1,
            -0.1,
            0.5,
            1.0 / 3.0,
            1e-7,
            123.456,
            -0.000123,
            0.30000000000000004,
        ] {
            check(v);
        }
        for _ in 0..200_000 {
            // Short decimals, as data files hold them, and arbitrary bit patterns.
            let digits = rng.random_range(1..=7);
            let short: f64 = format!("{:.*}", digits, rng.random_range(-1e4..1e4))
                .parse()
                .unwrap();
            check(short);
            let any = f64::from_bits(rng.random::<u64>());
            if any.is_finite() {
                check(any);
            }
        }
    }

    #[test]
    fn columns_left_out_are_empty_cells() {
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("a", Arc::new(Int64Array::from(vec![1, 2]))),
            ("c", Arc::new(Int64Array::from(vec![3, 4]))),
        ];
        assert_eq!(
            rendered(columns, &[true, false, true, false]),
            "1,,3,\n2,,4,\n"
        );
    }

    /// Short decimals are found and written positionally, with a zero before the point; a
    /// value with no short decimal is left to the shortest-form search.
    #[test]
    fn short_decimals_are_written_positionally() {
        let short = |v: f64| {
            let mut out = Vec::new();
            write_short_decimal(&mut out, v).then(|| String::from_utf8(out).unwrap())
        };
        assert_eq!(short(0.25).as_deref(), Some("0.25"));
        assert_eq!(short(-0.0123).as_deref(), Some("-0.0123"));
        assert_eq!(short(1234.5).as_deref(), Some("1234.5"));
        assert_eq!(short(1e-7).as_deref(), Some("0.0000001"));
        assert_eq!(short(0.1 + 0.2), None);
        assert_eq!(short(1e-8), None, "more than seven fraction digits");
        assert_eq!(short(1e20 + 0.5), None, "too large for a whole mantissa");
    }

    /// A row of one null cell is a quoted empty field, not a blank line a CSV reader would skip:
    /// the rendered rows stay the rows read.
    #[test]
    fn a_lone_empty_cell_is_not_a_blank_line() {
        let columns: Vec<(&str, ArrayRef)> = vec![(
            "a",
            Arc::new(Int64Array::from(vec![Some(1), None, Some(3)])),
        )];
        assert_eq!(rendered(columns, &[true]), "1\n\"\"\n3\n");
    }

    /// What the CSV reader is handed per cell: present floats as numbers (NaN too, which the
    /// reader sends back to the text), everything else as unquoted text, nulls empty.
    #[test]
    fn typed_cells_are_numbers_or_unquoted_text() {
        let columns: Vec<(&str, ArrayRef)> = vec![
            (
                "f",
                Arc::new(Float64Array::from(vec![Some(2.5), None, Some(f64::NAN)])),
            ),
            (
                "t",
                Arc::new(StringArray::from(vec![Some("a, b"), None, Some("")])),
            ),
            (
                "i",
                Arc::new(Int64Array::from(vec![Some(7), Some(-1), None])),
            ),
            (
                "raw",
                Arc::new(BinaryArray::from(vec![&b"ok"[..], &b"\xff"[..], &b"x"[..]])),
            ),
        ];
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let typed = Batch::new(&batch, &[true, true, true, true]);
        assert_eq!(typed.rows(), 3);
        assert_eq!(typed.number(0, 0), Some(2.5));
        assert_eq!(typed.number(1, 0), None);
        assert!(typed.number(2, 0).is_some_and(f64::is_nan));
        assert_eq!(typed.number(0, 2), None, "only floats are numbers");
        let mut scratch = Vec::new();
        let mut text = |row, col| typed.text(row, col, &mut scratch).map(str::to_string);
        assert_eq!(text(0, 0), Ok("2.5".into()));
        assert_eq!(text(1, 0), Ok(String::new()));
        assert_eq!(text(2, 0), Ok("NaN".into()));
        assert_eq!(text(0, 1), Ok("a, b".into()));
        assert_eq!(text(1, 1), Ok(String::new()));
        assert_eq!(text(0, 2), Ok("7".into()));
        assert_eq!(text(1, 2), Ok("-1".into()));
        assert_eq!(text(2, 2), Ok(String::new()));
        assert_eq!(text(0, 3), Ok("ok".into()));
        assert_eq!(text(1, 3), Err(()));
    }
}
