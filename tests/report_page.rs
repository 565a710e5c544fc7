//! `--out DIR`'s `report.html` and `training_statistics.svg`: what the page holds, that it
//! loads nothing from anywhere, and (when a Chromium is installed) what a browser draws of it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn example(name: &str) -> String {
    format!("{}/examples/{name}.nn", env!("CARGO_MANIFEST_DIR"))
}

/// Train `model` with `flags` and the output folder; the folder.
fn run_out(name: &str, model: &str, flags: &[&str]) -> PathBuf {
    let dir = common::scratch(name).join("out");
    let mut args = vec!["run", model, "--quiet", "--out", dir.to_str().unwrap()];
    args.extend(flags);
    let out = common::nnc(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Nothing the page refers to lies outside it: no script, no linked file, and the only
/// addresses are the SVG and MathML namespaces' names.
fn assert_self_contained(page: &str) {
    for tag in ["<script", "<link", "<img", "<iframe", "src=", "url("] {
        assert!(!page.contains(tag), "the page has `{tag}`");
    }
    let mut rest = page;
    while let Some(i) = rest.find("http") {
        let before = &rest[..i];
        assert!(
            before.ends_with("xmlns=\""),
            "an address that is not a namespace: {}",
            &rest[i..(i + 60).min(rest.len())]
        );
        rest = &rest[i + 4..];
    }
}

#[test]
fn the_page_has_every_part_and_loads_nothing() {
    let dir = run_out("iris", &example("iris"), &["--monitor"]);
    let page = read(&dir, "report.html");
    assert_self_contained(&page);
    for part in [
        "<h1>iris.nn: training report</h1>",
        "id=\"warnings\"",
        "None: nnc found nothing wrong in the data, the learning curves or the training statistics",
        "Layer (activation)",
        "dense_1 (relu)",
        "iris.nn: loss per epoch",
        "iris.nn: training statistics per epoch",
        "gradient norm ÷ weight norm",
        "<td>versicolor</td>",
        "iris.nn: test confusion matrix",
        "dense(16, activation: relu)</code>, line 11",
    ] {
        assert!(page.contains(part), "the page lacks {part:?}");
    }
    assert_eq!(
        page.matches("<svg").count(),
        3,
        "curves, statistics, confusion"
    );
    // One formula per line of `nnc explain`: 2 + 4 for layer 1, 3 + 4 for layer 2, the loss.
    assert_eq!(page.matches("<math").count(), 14);
    // The statistics plot is the one written beside it.
    let svg = read(&dir, "training_statistics.svg");
    assert!(page.contains(svg.trim_end()));
    for panel in [
        "activation standard deviation",
        "share of units dead (relu) or saturated",
        "update norm ÷ weight norm",
        "layer 1 (w1)",
    ] {
        assert!(svg.contains(panel), "the statistics plot lacks {panel:?}");
    }
}

#[test]
fn without_statistics_the_page_says_so_and_draws_none() {
    let dir = run_out("quiet", &example("iris"), &["--no-monitor"]);
    assert!(!dir.join("training_statistics.svg").exists());
    let page = read(&dir, "report.html");
    assert!(page.contains("Not measured in this run"));
    assert!(page.contains("the training statistics were not measured"));
    assert_eq!(page.matches("<svg").count(), 2);
}

#[test]
fn a_warning_shows_its_code_line_and_fix() {
    let dir = common::scratch("warned");
    let rows: String = (0..12)
        .map(|i| {
            format!(
                "{},{},{}\n",
                1000 + 37 * i,
                0.001 * (1 + i % 4) as f64,
                i % 3
            )
        })
        .collect();
    std::fs::write(dir.join("data.csv"), format!("area,ratio,y\n{rows}")).unwrap();
    let model = "data {\n  path: \"data.csv\"\n  target: \"y\"\n  scaling: none\n}\n\
                 model {\n  input\n  output(1)\n}\nloss: mse\ntrain { epochs: 2 }\n";
    std::fs::write(dir.join("model.nn"), model).unwrap();
    let out = run_out("warned_out", dir.join("model.nn").to_str().unwrap(), &[]);
    let page = read(&out, "report.html");
    assert!(page.contains("nnc::data::unscaled_inputs"), "{page}");
    assert!(
        page.contains("<pre>  scaling: none</pre>"),
        "the line it points at"
    );
    assert!(page.contains("help: "));
    assert!(!page.contains("None: nnc found nothing wrong"));
}

/// The browser to draw the page with: `NNC_CHROMIUM`, else `chromium` on the path.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NNC_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
}

/// Pixels of an RGB or RGBA PNG, as (width, height, rgb per pixel).
fn pixels(png_file: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::fs::File::open(png_file).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("a screenshot in {other:?}"),
    };
    let rgb = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, rgb)
}

#[test]
fn chromium_draws_every_picture_of_the_page() {
    let Some(browser) = chromium() else {
        eprintln!("skipped: no Chromium (install Debian's `chromium` or set NNC_CHROMIUM)");
        return;
    };
    let dir = run_out("drawn", &example("iris"), &["--monitor"]);
    let shot = dir.join("page.png");
    let page = std::fs::canonicalize(dir.join("report.html")).unwrap();
    let out = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1100,6000",
        ])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("the browser runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (width, height, rgb) = pixels(&shot);
    assert_eq!((width, height), (1100, 6000));
    let count = |c: [u8; 3]| rgb.iter().filter(|p| **p == c).count();
    let ink = rgb.iter().filter(|p| p.iter().any(|&v| v < 200)).count();
    assert!(
        ink > 50_000,
        "a page with next to nothing drawn ({ink} dark pixels)"
    );
    // Colours each of which one part of the page alone has: the learning curves' train and
    // validation lines, the first line of each statistics panel (layer 1), the confusion
    // matrix's full cell (setosa's 10 of 10), and the background of "no warnings".
    for (what, colour, least) in [
        ("train line", [0x1f, 0x77, 0xb4], 400),
        ("validation line", [0xd6, 0x5f, 0x00], 400),
        ("statistics' first line", [0x00, 0x9e, 0x73], 800),
        ("full heat-map cell", [0x08, 0x30, 0x6b], 4000),
        ("no-warnings box", [0xf1, 0xf9, 0xf1], 10000),
    ] {
        let n = count(colour);
        eprintln!("{what}: {n} pixels");
        assert!(
            n >= least,
            "{what}: {n} pixels of {colour:?}, fewer than {least}"
        );
    }
}
