//! One encoder per export format: what goes before the records, each record,
//! and what closes the document.

use super::ExportFormat;
use super::columns::{self, Cell, Object};

/// Writes an export in one format. `names` are the column names (Basewatch's or
/// HTCDS's), `tags` their HXL hashtags, in the same order as each record's cells.
pub trait Encoder: Send + Sync {
    fn content_type(&self) -> &'static str;
    fn extension(&self) -> &'static str;
    fn head(&self, names: &[&str], tags: &[&str]) -> Vec<u8>;
    /// Appends one record; `first` is true for the export's first record.
    fn record(
        &self,
        out: &mut Vec<u8>,
        names: &[&str],
        cells: &[Cell<'_>],
        first: bool,
    ) -> serde_json::Result<()>;
    fn tail(&self) -> &'static [u8] {
        b""
    }
}

impl ExportFormat {
    /// The encoder of this format; `hxl` adds the hashtag row under a CSV header.
    pub fn encoder(self, hxl: bool) -> Box<dyn Encoder> {
        match self {
            Self::Csv => Box::new(Csv { hxl }),
            Self::Ndjson => Box::new(Ndjson),
            Self::Geojson => Box::new(GeoJson),
        }
    }
}

/// RFC 4180 CSV, quoted by the csv crate's rules (cells neutralised against
/// spreadsheet formulas by `Cell::write_csv`), optionally with the HXL row.
struct Csv {
    hxl: bool,
}

impl Encoder for Csv {
    fn content_type(&self) -> &'static str {
        "text/csv; charset=utf-8"
    }

    fn extension(&self) -> &'static str {
        "csv"
    }

    fn head(&self, names: &[&str], tags: &[&str]) -> Vec<u8> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let _ = writer.write_record(names);
        if self.hxl {
            let _ = writer.write_record(tags);
        }
        writer.into_inner().unwrap_or_default()
    }

    fn record(
        &self,
        out: &mut Vec<u8>,
        _: &[&str],
        cells: &[Cell<'_>],
        _: bool,
    ) -> serde_json::Result<()> {
        for (n, cell) in cells.iter().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            cell.write_csv(out);
        }
        out.push(b'\n');
        Ok(())
    }
}

/// One JSON object per line.
struct Ndjson;

impl Encoder for Ndjson {
    fn content_type(&self) -> &'static str {
        "application/x-ndjson"
    }

    fn extension(&self) -> &'static str {
        "ndjson"
    }

    fn head(&self, _: &[&str], _: &[&str]) -> Vec<u8> {
        Vec::new()
    }

    fn record(
        &self,
        out: &mut Vec<u8>,
        names: &[&str],
        cells: &[Cell<'_>],
        _: bool,
    ) -> serde_json::Result<()> {
        let object = Object {
            names,
            cells,
            skip: &[],
        };
        serde_json::to_writer(&mut *out, &object)?;
        out.push(b'\n');
        Ok(())
    }
}

/// An RFC 7946 FeatureCollection of points; the other columns are properties.
struct GeoJson;

impl Encoder for GeoJson {
    fn content_type(&self) -> &'static str {
        "application/geo+json"
    }

    fn extension(&self) -> &'static str {
        "geojson"
    }

    fn head(&self, _: &[&str], _: &[&str]) -> Vec<u8> {
        b"{\"type\":\"FeatureCollection\",\"features\":[\n".to_vec()
    }

    fn record(
        &self,
        out: &mut Vec<u8>,
        names: &[&str],
        cells: &[Cell<'_>],
        first: bool,
    ) -> serde_json::Result<()> {
        if !first {
            out.extend_from_slice(b",\n");
        }
        out.extend_from_slice(
            b"{\"type\":\"Feature\",\"geometry\":{\"type\":\"Point\",\"coordinates\":",
        );
        let point = [&cells[columns::LONGITUDE], &cells[columns::LATITUDE]];
        serde_json::to_writer(&mut *out, &point)?;
        out.extend_from_slice(b"},\"properties\":");
        let object = Object {
            names,
            cells,
            skip: &[columns::LATITUDE, columns::LONGITUDE],
        };
        serde_json::to_writer(&mut *out, &object)?;
        out.push(b'}');
        Ok(())
    }

    fn tail(&self) -> &'static [u8] {
        b"\n]}\n"
    }
}
