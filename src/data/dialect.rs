//! Detecting a CSV file's delimiter from its first block, as DuckDB's and Python's sniffers do:
//! each candidate (comma, semicolon, tab, pipe) splits the first records with the quote-aware
//! reader, and the one that gives the header more than one field and the most records with the
//! header's field count wins, then the one with more fields; a tie keeps the earlier candidate,
//! so a one-column file is comma-separated. It only reads bytes: it must not build diagnostics.

/// The candidates, in order of preference on a tie.
pub(crate) const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];

/// How many bytes and records of the sample are looked at.
const SAMPLE_BYTES: usize = 1 << 16;
const SAMPLE_RECORDS: usize = 50;

/// The most likely delimiter of a file starting with `sample`.
pub(crate) fn sniff(sample: &[u8]) -> u8 {
    let sample = &sample[..sample.len().min(SAMPLE_BYTES)];
    let mut best = (CANDIDATES[0], (0usize, 0usize));
    for &d in &CANDIDATES {
        let counts = field_counts(sample, d);
        let Some(&header) = counts.first() else {
            continue;
        };
        if header < 2 {
            continue;
        }
        let consistent = counts.iter().filter(|&&c| c == header).count();
        let score = (consistent, header);
        if score > best.1 {
            best = (d, score);
        }
    }
    best.0
}

/// Fields per complete record of the sample (a record cut off by the sample's end is left out).
fn field_counts(sample: &[u8], delimiter: u8) -> Vec<usize> {
    let mut reader = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
    let mut output = vec![0u8; sample.len() + 1];
    let mut ends = vec![0usize; sample.len() + 2];
    let mut counts = Vec::new();
    let mut at = 0;
    while counts.len() < SAMPLE_RECORDS {
        let (result, read, _, n) = reader.read_record(&sample[at..], &mut output, &mut ends);
        at += read;
        match result {
            csv_core::ReadRecordResult::Record => counts.push(n),
            _ => break,
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_candidate_is_found() {
        for d in CANDIDATES {
            let d = d as char;
            let text = format!("a{d}b{d}c\n1{d}2{d}3\n4{d}5{d}6\n");
            assert_eq!(sniff(text.as_bytes()) as char, d, "{text:?}");
        }
    }

    #[test]
    fn decimal_commas_do_not_fool_it() {
        // A European file: semicolons between fields, commas inside numbers.
        let text = "sepal_length;species\n5,1;setosa\n4,9;setosa\n";
        assert_eq!(sniff(text.as_bytes()), b';');
    }

    #[test]
    fn quoted_delimiters_do_not_count() {
        let text = "name;comment\n\"a\";\"x, y, z\"\n\"b\";\"u, v\"\n";
        assert_eq!(sniff(text.as_bytes()), b';');
    }

    #[test]
    fn one_column_files_are_comma_separated() {
        assert_eq!(sniff(b"y\n1\n2\n"), b',');
        assert_eq!(sniff(b""), b',');
    }
}
